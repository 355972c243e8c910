//! `preventor resolve JOURNAL --decision D IDS...`: an operator's recorded decision on
//! ambiguous, rejected or failed records; and the commands `status` and `report` suggest.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::{
    journal::{
        opened::{Access, Opened},
        runs::Decision,
        Problem,
    },
    output::Exit,
};

/// `preventor resolve` options.
#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    /// The journal: a SQLite file or a PostgreSQL DSN.
    pub journal: PathBuf,
    /// What was decided.
    #[arg(long, value_enum)]
    pub decision: Decision,
    /// Record ids (as in the input).
    pub ids: Vec<String>,
    /// A file of record ids, one a line.
    #[arg(long, value_name = "FILE")]
    pub ids_file: Option<PathBuf>,
    /// Why (recorded with the decision, shown in reports).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Who decided (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Allow a PostgreSQL journal on another host without TLS (`sslmode=disable`).
    #[arg(long, env = "PREVENTOR_JOURNAL_PLAINTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub journal_plaintext: bool,
}

/// `preventor resolve JOURNAL --decision D IDS... --reason TEXT`.
pub async fn run(args: ResolveArgs, json: bool) -> Exit {
    let mut ids = args.ids.clone();
    if let Some(file) = &args.ids_file {
        match std::fs::read_to_string(file) {
            Ok(text) => ids.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            ),
            Err(e) => return Exit::fatal(format!("{}: {e}", file.display())),
        }
    }
    if ids.is_empty() {
        return Exit::usage("name the records to resolve: ids, or --ids-file FILE".into());
    }
    let by = args
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    let reason = args.reason.as_deref();
    let journal = match Opened::open(&args.journal, args.journal_plaintext, Access::Decide).await {
        Ok(j) => j,
        Err(e) => return Exit::fatal(format!("journal {e}")),
    };
    let result = journal.decide(&ids, args.decision, reason, &by).await;
    match result {
        Ok((decided, unmatched)) => {
            let report = serde_json::json!({
                "decision": args.decision.name(), "by": by, "reason": reason,
                "records_decided": decided, "not_ambiguous_rejected_or_failed": unmatched,
            });
            if json {
                out!("{report}");
            } else {
                out!(
                    "{} record(s) decided {} by {by}",
                    decided,
                    args.decision.name()
                );
                for id in &unmatched {
                    eprintln!("{id}: no ambiguous, rejected or failed record with this id; nothing decided");
                }
            }
            if unmatched.is_empty() {
                Exit::Ok
            } else {
                Exit::Rejected
            }
        }
        Err(e) => Exit::fatal(format!("journal: {e}")),
    }
}

/// Most ids named in one suggested command.
const IDS_IN_COMMAND: usize = 20;

/// What an operator can do about the problem records `problems` of the journal shown as
/// `journal`: one entry per state, with commands that run as
/// printed (for the first ids; `--ids-file FILE` takes any number).
pub fn suggestions(journal: &str, problems: &[Problem]) -> Vec<Value> {
    let mut by_state: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for p in problems {
        let ids = by_state.entry(p.state.as_str()).or_default();
        if !ids.contains(&p.id.as_str()) {
            ids.push(&p.id);
        }
    }
    let command = |decision: &str, reason: &str, ids: &[&str]| {
        let ids: Vec<String> = ids.iter().take(IDS_IN_COMMAND).map(|i| quoted(i)).collect();
        format!(
            "preventor resolve {} --decision {decision} --reason {} {}",
            quoted(journal),
            quoted(reason),
            ids.join(" ")
        )
    };
    by_state
        .into_iter()
        .filter_map(|(state, ids)| {
            let (what, commands) = match state {
                "ambiguous" => (
                    "sent without an answer: ask Preventor whether each arrived, then record \
                     it as acknowledged (it did) or resend (it did not: the next run sends it \
                     once, and \"already exists\" settles it)",
                    vec![
                        command("acknowledged", "found at Preventor", &ids),
                        command("resend", "not found at Preventor", &ids),
                    ],
                ),
                "rejected" => (
                    "refused by Preventor: correct the record in the input and run again (new \
                     content is sent), or once the cause is fixed (say, its account now \
                     exists) resend it with the next run, or abandon it",
                    vec![
                        command("resend", "cause fixed", &ids),
                        command("abandon", "not to be sent", &ids),
                    ],
                ),
                "failed" => (
                    "not processed: the next run sends them again, or abandon them",
                    vec![command("abandon", "not to be sent", &ids)],
                ),
                _ => return None,
            };
            Some(json!({"state": state, "records": ids.len(), "what": what,
                        "commands": commands}))
        })
        .collect()
}

/// `text` as one shell word: as it is when it is plain, else in single quotes.
fn quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=+,%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
