//! What a command tells its caller: the exit code (one rule for every command that reports on
//! records), the report on stdout, and how an outcome reads.

use std::collections::HashMap;

use preventor::bulk::Outcome;
use serde_json::Value;

use crate::journal;

/// Exit codes: 0 every record acknowledged (or the command succeeded); 1 records rejected,
/// invalid, repeated or changed since sent; 2 usage; 3 records left ambiguous, failed, pending
/// or in flight (an operator must decide, or a rerun goes on); 4 configuration, credentials,
/// input or journal error; 5 stopped by a signal before the end (a rerun goes on); 130 aborted
/// by a second signal.
#[derive(Debug)]
pub enum Exit {
    Ok,
    Rejected,
    Usage(String),
    Unsettled,
    Fatal(String),
    Stopped,
}

impl Exit {
    pub fn fatal(message: String) -> Exit {
        Exit::Fatal(message)
    }
    pub fn usage(message: String) -> Exit {
        Exit::Usage(message)
    }

    /// The process's exit code; a usage or fatal message goes to stderr (and, with `json`, a
    /// fatal one to stdout as `{"error": ...}`).
    pub fn code(self, json: bool) -> std::process::ExitCode {
        use std::process::ExitCode;
        match self {
            Exit::Ok => ExitCode::SUCCESS,
            Exit::Rejected => ExitCode::from(1),
            Exit::Usage(m) => {
                eprintln!("error: {m}");
                ExitCode::from(2)
            }
            Exit::Unsettled => ExitCode::from(3),
            Exit::Stopped => ExitCode::from(5),
            Exit::Fatal(m) => {
                if json {
                    out!("{}", serde_json::json!({"error": m}));
                }
                eprintln!("error: {m}");
                ExitCode::from(4)
            }
        }
    }
}

impl From<crate::target::ConfigError> for Exit {
    fn from(e: crate::target::ConfigError) -> Exit {
        Exit::Fatal(e.0)
    }
}

/// What became of the records a command reports on (a run's input, or a whole journal): the
/// journal's states, what the input itself held that was never sent, and whether the command
/// was stopped. [`Fates::exit`] is the one exit rule of `import`, `work`, `status` and `report`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fates {
    pub acknowledged: u64,
    pub rejected: u64,
    pub ambiguous: u64,
    pub failed: u64,
    pub pending: u64,
    pub in_flight: u64,
    /// An operator decided to send them again; the next run (or staging) sends them.
    pub resend: u64,
    /// An operator gave up on them: settled by that decision.
    pub abandoned: u64,
    /// Lines that are not a valid record.
    pub invalid: u64,
    /// Lines repeating an earlier line's id (or the same change).
    pub repeated: u64,
    /// Records whose content changed since an earlier run sent them.
    pub changed: u64,
    /// Stopped by a signal before the end.
    pub stopped: bool,
}

impl Fates {
    /// Fates from a journal's count of each state.
    pub fn of_states(counts: &HashMap<String, u64>) -> Fates {
        let n = |state: &str| counts.get(state).copied().unwrap_or(0);
        Fates {
            acknowledged: n(journal::ACKNOWLEDGED),
            rejected: n(journal::REJECTED),
            ambiguous: n(journal::AMBIGUOUS),
            failed: n(journal::FAILED),
            pending: n(journal::PENDING),
            in_flight: n(journal::IN_FLIGHT),
            resend: n(journal::RESEND),
            abandoned: n(journal::ABANDONED),
            ..Fates::default()
        }
    }

    /// These fates with the journal's states `counts` (what the input held stays).
    pub fn with_states(self, counts: &HashMap<String, u64>) -> Fates {
        Fates {
            invalid: self.invalid,
            repeated: self.repeated,
            changed: self.changed,
            stopped: self.stopped,
            ..Fates::of_states(counts)
        }
    }

    /// Records whose fate is not settled: ambiguous, failed, pending, in flight, or waiting
    /// for a decided resend.
    pub fn unsettled(&self) -> u64 {
        self.ambiguous + self.failed + self.pending + self.in_flight + self.resend
    }

    /// Records or lines that were refused: rejected, invalid, repeated, changed since sent.
    pub fn refused(&self) -> u64 {
        self.rejected + self.invalid + self.repeated + self.changed
    }

    /// The exit rule: stopped (5) before anything else, since a rerun goes on; then unsettled
    /// records (3); then refused ones (1); else success (0).
    pub fn exit(&self) -> Exit {
        if self.stopped {
            Exit::Stopped
        } else if self.unsettled() > 0 {
            Exit::Unsettled
        } else if self.refused() > 0 {
            Exit::Rejected
        } else {
            Exit::Ok
        }
    }

    /// One line a person reads first: what the exit says, then the totals that are not zero
    /// ("1,000 records: 976 acknowledged, 13 unconfirmed (a decision is needed), 11 invalid
    /// (not sent)").
    pub fn verdict(&self) -> String {
        let head = match self.exit() {
            Exit::Stopped => "stopped before the end (a rerun goes on)",
            Exit::Unsettled => "not finished: records need a decision or a rerun",
            Exit::Rejected => "finished, with records refused",
            _ => "finished: every record acknowledged",
        };
        let parts = [
            (self.acknowledged, "acknowledged"),
            (self.rejected, "rejected by Preventor"),
            (self.ambiguous, "unconfirmed (a decision is needed)"),
            (self.failed, "failed (sent again by a rerun)"),
            (self.pending + self.resend, "waiting to be sent"),
            (self.in_flight, "in flight"),
            (self.abandoned, "abandoned"),
            (self.invalid, "invalid (not sent)"),
            (self.repeated, "repeated (not sent)"),
            (self.changed, "changed since sent (not sent)"),
        ];
        let total: u64 = parts.iter().map(|(n, _)| n).sum();
        if total == 0 && !self.stopped {
            return "nothing recorded: 0 records".into();
        }
        let listed: Vec<String> = parts
            .iter()
            .filter(|(n, what)| *n > 0 || *what == "acknowledged")
            .map(|(n, what)| format!("{} {what}", thousands(*n)))
            .collect();
        format!(
            "{head}. {} records: {}",
            thousands(total),
            listed.join(", ")
        )
    }

    /// Every count: the journal's states, then what the input held that was never sent.
    pub fn json(&self) -> Value {
        let mut all = self.states_json();
        all["invalid"] = self.invalid.into();
        all["repeated"] = self.repeated.into();
        all["changed_since_sent"] = self.changed.into();
        all
    }

    /// The journal's states as a JSON object, in the order `status` shows them.
    pub fn states_json(&self) -> Value {
        serde_json::json!({
            "acknowledged": self.acknowledged,
            "rejected": self.rejected,
            "ambiguous": self.ambiguous,
            "failed": self.failed,
            "pending": self.pending,
            "in_flight": self.in_flight,
            "resend": self.resend,
            "abandoned": self.abandoned,
        })
    }
}

/// `n` with a comma every three digits.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An object as `key value` pairs a person reads ("concurrency 16, kind transactions"), left
/// out: nulls, `false`, zeros and empty lists (`none` when nothing is left).
pub fn pairs(v: &Value) -> String {
    let Some(object) = v.as_object() else {
        return v.to_string();
    };
    let shown: Vec<String> = object
        .iter()
        .filter(|(_, v)| {
            !(v.is_null()
                || *v == &Value::Bool(false)
                || v.as_f64() == Some(0.0)
                || v.as_array().is_some_and(Vec::is_empty))
        })
        .map(|(k, v)| match v {
            Value::Bool(true) => k.replace('_', " "),
            Value::String(text) => format!("{} {text}", k.replace('_', " ")),
            other => format!("{} {other}", k.replace('_', " ")),
        })
        .collect::<Vec<_>>();
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

/// A list of problems (`{"id" or "line", "problem"}`) as one line per distinct problem with
/// its count and first ids or lines; any other list one item a line.
fn grouped(items: &[Value]) -> Vec<String> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for item in items {
        let Some(problem) = item["problem"].as_str() else {
            return items.iter().map(Value::to_string).collect();
        };
        let which = match (&item["id"], &item["line"]) {
            (Value::String(id), Value::Number(line)) => format!("{id} (line {line})"),
            (Value::String(id), _) => id.clone(),
            (_, Value::Number(line)) => format!("line {line}"),
            _ => String::new(),
        };
        match groups.iter_mut().find(|(p, _)| p == problem) {
            Some((_, all)) => all.push(which),
            None => groups.push((problem.to_string(), vec![which])),
        }
    }
    groups
        .into_iter()
        .map(|(problem, all)| {
            let more = all.len().saturating_sub(5);
            let first = all.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            format!("{} x {problem} ({first}{more})", all.len())
        })
        .collect()
}

/// One line of an outcome that is not a success, for a person.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Rejected {
            status,
            code,
            message,
        } => format!(
            "rejected ({}{}) {}",
            status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "before sending".into()),
            code.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
            message.as_deref().unwrap_or("")
        ),
        Outcome::Ambiguous { reason } => format!("ambiguous: {reason}"),
        Outcome::Failed { reason } => format!("failed: {reason}"),
        Outcome::Changed => "content changed since an earlier run sent it; not sent".into(),
        other => format!("{other:?}"),
    }
}

/// Prints next steps ([`suggestions`](crate::commands::resolve::suggestions)) for a person: per
/// state, its count and meaning, then each command on a line of its own.
pub fn print_next_steps(steps: &Value) {
    for step in steps.as_array().into_iter().flatten() {
        out!(
            "{} {}: {}",
            step["records"],
            step["state"].as_str().unwrap_or_default(),
            step["what"].as_str().unwrap_or_default()
        );
        for command in step["commands"].as_array().into_iter().flatten() {
            out!("  {}", command.as_str().unwrap_or_default());
        }
    }
}

/// Prints a command's report: one JSON object with `json`, else one `key: value` line each
/// (lists one item a line, empty lists left out).
pub fn print_report(report: &Value, json_output: bool) {
    if json_output {
        out!("{report}");
        return;
    }
    if let Some(verdict) = report["verdict"].as_str() {
        out!("{verdict}");
    }
    // Counts first, then the other facts, then nested objects, then lists.
    let rank = |v: &Value| match v {
        Value::Number(_) => 0,
        Value::String(_) | Value::Bool(_) | Value::Null => 1,
        Value::Object(_) => 2,
        Value::Array(_) => 3,
    };
    let mut entries: Vec<(&String, &Value)> = report.as_object().into_iter().flatten().collect();
    entries.sort_by_key(|(_, v)| rank(v));
    for (key, value) in entries {
        match value {
            _ if key == "verdict" => {}
            Value::Array(items) if items.is_empty() => {}
            Value::Array(items) => {
                out!("{key}:");
                for line in grouped(items) {
                    out!("  {line}");
                }
            }
            Value::Object(_) => out!("{key}: {}", pairs(value)),
            Value::Number(n) if n.is_f64() => {
                out!("{key}: {:.1}", n.as_f64().unwrap_or_default())
            }
            other => out!("{key}: {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(f: Fates) -> &'static str {
        match f.exit() {
            Exit::Ok => "0",
            Exit::Rejected => "1",
            Exit::Unsettled => "3",
            Exit::Stopped => "5",
            _ => "?",
        }
    }

    #[test]
    fn the_verdict_says_the_exit_then_the_totals_not_zero() {
        let f = Fates {
            acknowledged: 9_776,
            ambiguous: 213,
            invalid: 11,
            ..Fates::default()
        };
        assert_eq!(
            f.verdict(),
            "not finished: records need a decision or a rerun. 10,000 records: 9,776 \
             acknowledged, 213 unconfirmed (a decision is needed), 11 invalid (not sent)"
        );
        let done = Fates {
            acknowledged: 5,
            ..Fates::default()
        };
        assert_eq!(
            done.verdict(),
            "finished: every record acknowledged. 5 records: 5 acknowledged"
        );
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(0), "0");
    }

    #[test]
    fn problems_are_listed_once_each_with_their_count_and_first_ids() {
        let lost = |id: &str| serde_json::json!({"id": id, "problem": "ambiguous: answer lost"});
        let items: Vec<Value> = (1..=7)
            .map(|i| lost(&format!("t-{i}")))
            .chain([
                serde_json::json!({"line": 9, "problem": "trans_amount: not a decimal amount"}),
            ])
            .collect();
        assert_eq!(
            grouped(&items),
            [
                "7 x ambiguous: answer lost (t-1, t-2, t-3, t-4, t-5 and 2 more)",
                "1 x trans_amount: not a decimal amount (line 9)"
            ]
        );
        let plain = [serde_json::json!({"worker": "w"})];
        assert_eq!(grouped(&plain), [r#"{"worker":"w"}"#]);
    }

    #[test]
    fn one_rule_orders_stopped_then_unsettled_then_refused() {
        let none = Fates::default();
        assert_eq!(code(none), "0");
        assert_eq!(
            code(Fates {
                acknowledged: 5,
                abandoned: 1,
                ..none
            }),
            "0",
            "an abandoned record is settled by the operator's decision"
        );
        for unsettled in [
            Fates { pending: 1, ..none },
            Fates {
                in_flight: 1,
                ..none
            },
            Fates {
                ambiguous: 1,
                ..none
            },
            Fates { failed: 1, ..none },
            Fates { resend: 1, ..none },
        ] {
            assert_eq!(
                code(Fates {
                    rejected: 1,
                    ..unsettled
                }),
                "3",
                "{unsettled:?}"
            );
        }
        for refused in [
            Fates {
                rejected: 1,
                ..none
            },
            Fates { invalid: 1, ..none },
            Fates {
                repeated: 1,
                ..none
            },
            Fates { changed: 1, ..none },
        ] {
            assert_eq!(code(refused), "1", "{refused:?}");
        }
        assert_eq!(
            code(Fates {
                stopped: true,
                ambiguous: 1,
                ..none
            }),
            "5"
        );
    }
}
