//! Reading records: JSON Lines or CSV (the documents' field names), one numbered line at a time,
//! with every field name checked against the compliance document (the generated types ignore
//! unknown fields, so a typo such as `trans_ammount` would otherwise drop data silently).

use std::{
    collections::{HashMap, HashSet},
    io::BufRead,
};

use preventor::bulk::Record;
use serde_json::Value;

/// Which records a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// `Customer` records (customerOnboarding / customerMaintenance).
    Customers,
    /// `Account` records (accountOnboarding).
    Accounts,
    /// `MonetaryTransaction` records (registerMonetaryTransaction).
    Transactions,
}

impl Kind {
    /// The document's schema of this kind of record.
    pub fn schema(self) -> &'static str {
        match self {
            Kind::Customers => "Customer",
            Kind::Accounts => "Account",
            Kind::Transactions => "MonetaryTransaction",
        }
    }

    /// The journal's name of the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Accounts => "accounts",
            Kind::Transactions => "transactions",
        }
    }
}

/// A line that is not a valid record: where, and what is wrong (never the values).
#[derive(Clone, Debug)]
pub struct BadLine {
    pub line: u64,
    pub problem: String,
}

/// A record read from the input.
pub struct Parsed {
    /// Its line in the input (1-based; a CSV's header is line 1).
    pub line: u64,
    pub record: Record,
    /// Its canonical JSON, for the content hash.
    pub canonical: String,
}

/// Line and id only: the content is a customer's personal data.
impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("line", &self.line)
            .field("id", &self.record.id())
            .finish_non_exhaustive()
    }
}

/// One line read: a record, or why not.
pub type Line = Result<Parsed, BadLine>;

/// The property names of every schema of the compliance document, and which properties hold
/// arrays of which schema.
pub struct Fields {
    properties: HashMap<String, HashSet<String>>,
    arrays: HashMap<(String, String), String>,
    integers: HashSet<(String, String)>,
}

impl Fields {
    pub fn from_document() -> Fields {
        let doc: Value = serde_yaml::from_str(include_str!("../../openapi/compliance.yaml"))
            .expect("the document parses");
        let mut properties = HashMap::new();
        let mut arrays = HashMap::new();
        let mut integers = HashSet::new();
        for (name, schema) in doc["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let Some(props) = schema["properties"].as_object() else {
                continue;
            };
            properties.insert(name.clone(), props.keys().cloned().collect());
            for (prop, def) in props {
                if def["type"] == "integer" {
                    integers.insert((name.clone(), prop.clone()));
                }
                if let Some(r) = def["items"]["$ref"].as_str() {
                    let item = r.rsplit('/').next().unwrap_or_default().to_string();
                    arrays.insert((name.clone(), prop.clone()), item);
                }
            }
        }
        Fields {
            properties,
            arrays,
            integers,
        }
    }

    /// The first unknown field of `value` (as schema `schema`), with its path.
    fn unknown(&self, schema: &str, value: &Value, path: &str) -> Option<String> {
        let object = value.as_object()?;
        let known = self.properties.get(schema)?;
        for (key, member) in object {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if !known.contains(key) {
                return Some(format!("unknown field `{here}` (not in {schema})"));
            }
            if let (Some(item), Some(items)) = (
                self.arrays.get(&(schema.to_string(), key.clone())),
                member.as_array(),
            ) {
                for (i, element) in items.iter().enumerate() {
                    if let Some(problem) = self.unknown(item, element, &format!("{here}[{i}]")) {
                        return Some(problem);
                    }
                }
            }
        }
        None
    }

    /// A record of `kind` from one JSON object, checked field by field.
    pub fn record(&self, kind: Kind, line: u64, value: Value) -> Line {
        let bad = |problem: String| BadLine { line, problem };
        if !value.is_object() {
            return Err(bad("not a JSON object".into()));
        }
        if let Some(problem) = self.unknown(kind.schema(), &value, "") {
            return Err(bad(problem));
        }
        let canonical = serde_json::to_string(&value).unwrap_or_default();
        let decode = |e: serde_path_to_error::Error<serde_json::Error>| bad(field_problem(&e));
        let record = match kind {
            Kind::Customers => {
                Record::Customer(serde_path_to_error::deserialize(value).map_err(decode)?)
            }
            Kind::Accounts => {
                Record::Account(serde_path_to_error::deserialize(value).map_err(decode)?)
            }
            Kind::Transactions => Record::from(
                serde_path_to_error::deserialize::<
                    _,
                    preventor::compliance::types::MonetaryTransaction,
                >(value)
                .map_err(decode)?,
            ),
        };
        Ok(Parsed {
            line,
            record,
            canonical,
        })
    }
}

/// What is wrong with a record, for a person: the field (`trans_amount`,
/// `addresses[0].address_city`) and the rule it breaks, never the value.
fn field_problem(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    // serde's message, without the position it appends.
    let inner = inner.split(" at line ").next().unwrap_or(&inner);
    let rule = if let Some(field) = inner
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}.")
        };
        return format!("{at}{field}: missing (the document requires it)");
    } else if inner.starts_with("doesn't match pattern") && inner.contains("[0-9]{1,24}") {
        "not a decimal amount (digits, optionally a point and decimals, e.g. 125.50; at most 24 \
         of each)"
            .to_string()
    } else if let Some(pattern) = inner.strip_prefix("doesn't match pattern ") {
        format!("does not match the document's pattern {pattern}")
    } else {
        preventor::redacted::without_values(inner)
    };
    if path == "." {
        rule
    } else {
        format!("{path}: {rule}")
    }
}

/// The lines of `reader` as records, read and parsed on a thread of their own (parsing is CPU
/// work: never on the async runtime's threads), at most `capacity` waiting.
pub fn read_on_thread(
    kind: Kind,
    reader: Box<dyn BufRead + Send>,
    csv: bool,
    capacity: usize,
) -> tokio::sync::mpsc::Receiver<Line> {
    on_thread(capacity, move || (lines(kind, reader, csv), None))
}

/// [`read_on_thread`] for a stream that a producer writes as it goes: only whole lines are
/// read, and what follows the last end of line when the input ends (a producer that died
/// mid-line) is reported as a line cut short, never read as a record.
pub fn read_stream_on_thread(
    kind: Kind,
    reader: Box<dyn BufRead + Send>,
    csv: bool,
    capacity: usize,
) -> tokio::sync::mpsc::Receiver<Line> {
    on_thread(capacity, move || {
        let cut = std::sync::Arc::new(std::sync::Mutex::new(None));
        let whole = CompleteLines {
            inner: reader,
            line: Vec::new(),
            at: 0,
            ends: 0,
            cut: cut.clone(),
        };
        let lines = lines(kind, Box::new(std::io::BufReader::new(whole)), csv);
        let last = move || {
            let (line, bytes) = (*cut.lock().unwrap_or_else(|p| p.into_inner()))?;
            Some(BadLine {
                line,
                problem: format!(
                    "cut short: the input ended {bytes} bytes into this line, before its end \
                     of line (the producer stopped mid-line); not staged"
                ),
            })
        };
        (
            lines,
            Some(Box::new(last) as Box<dyn FnOnce() -> Option<BadLine>>),
        )
    })
}

/// The lines `open` gives, sent from a thread of its own, then what its second part says of
/// the input's end, if anything.
fn on_thread(
    capacity: usize,
    open: impl FnOnce() -> (
            Box<dyn Iterator<Item = Line> + Send>,
            Option<Box<dyn FnOnce() -> Option<BadLine>>>,
        ) + Send
        + 'static,
) -> tokio::sync::mpsc::Receiver<Line> {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity);
    std::thread::spawn(move || {
        let (lines, end) = open();
        for line in lines {
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
        if let Some(bad) = end.and_then(|end| end()) {
            let _ = tx.blocking_send(Err(bad));
        }
    });
    rx
}

/// The whole lines of `inner`, one at a time; the bytes after the last end of line at the
/// input's end are held back, their line number and length kept in `cut`.
struct CompleteLines {
    inner: Box<dyn BufRead + Send>,
    line: Vec<u8>,
    /// How much of `line` was read.
    at: usize,
    /// Ends of line read so far.
    ends: u64,
    cut: std::sync::Arc<std::sync::Mutex<Option<(u64, usize)>>>,
}

impl std::io::Read for CompleteLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.line.len() {
            self.line.clear();
            self.at = 0;
            self.inner.read_until(b'\n', &mut self.line)?;
            if self.line.is_empty() {
                return Ok(0);
            }
            if self.line.last() != Some(&b'\n') {
                *self.cut.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((self.ends + 1, self.line.len()));
                self.line.clear();
                return Ok(0);
            }
            self.ends += 1;
        }
        let n = out.len().min(self.line.len() - self.at);
        out[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The lines of `reader` as records: JSON Lines, or CSV with a header row when `csv`.
pub fn lines(
    kind: Kind,
    reader: Box<dyn BufRead + Send>,
    csv: bool,
) -> Box<dyn Iterator<Item = Line> + Send> {
    let fields = Fields::from_document();
    if csv {
        let mut rows = csv::ReaderBuilder::new().from_reader(reader);
        let headers = rows.headers().cloned().unwrap_or_default();
        Box::new(rows.into_records().enumerate().map(move |(i, row)| {
            // The header is line 1; a quoted field may span lines, so ask the reader.
            let line = match &row {
                Ok(row) => row.position().map_or(i as u64 + 2, |p| p.line()),
                Err(e) => e.position().map_or(i as u64 + 2, |p| p.line()),
            };
            let row = row.map_err(|e| BadLine {
                line,
                problem: format!("not CSV: {e}"),
            })?;
            let object: serde_json::Map<String, Value> = headers
                .iter()
                .zip(row.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| {
                    let integer = fields
                        .integers
                        .contains(&(kind.schema().to_string(), k.to_string()));
                    let value = match v.parse::<i64>() {
                        Ok(n) if integer => Value::from(n),
                        _ => Value::from(v),
                    };
                    (k.to_string(), value)
                })
                .collect();
            fields.record(kind, line, Value::Object(object))
        }))
    } else {
        Box::new(
            reader
                .lines()
                .enumerate()
                .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
                .map(move |(i, text)| {
                    let line = i as u64 + 1;
                    let text = text.map_err(|e| BadLine {
                        line,
                        problem: format!("cannot read: {e}"),
                    })?;
                    let value: Value = serde_json::from_str(&text).map_err(|e| BadLine {
                        line,
                        problem: format!(
                            "not JSON: {}",
                            preventor::redacted::without_values(&e.to_string())
                        ),
                    })?;
                    fields.record(kind, line, value)
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_gives_its_whole_lines_and_reports_the_line_a_dying_producer_cut_short() {
        let whole = r#"{"id": "t1", "account_number": "a", "trans_amount": "1.00", "trans_currency": "PEN"}"#;
        // Cut where the rest would still parse as CSV or JSON would not matter: never read.
        for (csv, input) in [
            (false, format!("{whole}\n\n{whole}\n{}", &whole[..40])),
            (
                true,
                "id,account_number,trans_amount,trans_currency\nt1,a,1.00,PEN\nt2,a,12.50,PE"
                    .to_string(),
            ),
        ] {
            let mut rx = read_stream_on_thread(
                Kind::Transactions,
                Box::new(std::io::Cursor::new(input.into_bytes())),
                csv,
                8,
            );
            let mut got = Vec::new();
            while let Some(line) = rx.blocking_recv() {
                got.push(line);
            }
            let lines: Vec<u64> = got
                .iter()
                .map(|l| l.as_ref().map_or_else(|b| b.line, |p| p.line))
                .collect();
            let bad: Vec<&BadLine> = got.iter().filter_map(|l| l.as_ref().err()).collect();
            assert_eq!(bad.len(), 1, "csv {csv}: {lines:?}");
            assert_eq!(bad[0].line, if csv { 3 } else { 4 }, "csv {csv}");
            assert!(
                bad[0].problem.starts_with("cut short"),
                "{}",
                bad[0].problem
            );
            assert!(!bad[0].problem.contains("PE") && !bad[0].problem.contains("trans"));
            assert_eq!(
                got.len() - 1,
                if csv { 1 } else { 2 },
                "csv {csv}: {lines:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_errors_with_their_line_and_path() {
        let f = Fields::from_document();
        let e = f
            .record(Kind::Transactions, 7, serde_json::json!({"id": "t", "account_number": "a", "trans_ammount": "1", "trans_currency": "PEN"}))
            .unwrap_err();
        assert_eq!(
            (e.line, e.problem.as_str()),
            (
                7,
                "unknown field `trans_ammount` (not in MonetaryTransaction)"
            )
        );
        let e = f
            .record(Kind::Customers, 3, serde_json::json!({"request_type": "A", "id": "c", "addresses": [{"id": 1, "request_type": "A", "cty": "x"}]}))
            .unwrap_err();
        assert!(e.problem.contains("`addresses[0].cty`"), "{}", e.problem);
        let e = f
            .record(Kind::Transactions, 4, serde_json::json!({"id": "t", "account_number": "a", "trans_amount": 12.5, "trans_currency": "PEN"}))
            .unwrap_err();
        assert!(
            e.problem.contains("trans_amount") || e.problem.contains("string"),
            "{}",
            e.problem
        );
        assert!(!e.problem.contains("12.5"), "{}", e.problem);
    }

    #[test]
    fn a_value_that_breaks_a_rule_is_named_by_its_field_and_the_rule_never_by_its_value() {
        let f = Fields::from_document();
        let problem = |kind, value| f.record(kind, 6, value).unwrap_err().problem;
        let amount = problem(
            Kind::Transactions,
            serde_json::json!({"id": "t", "account_number": "a", "trans_amount": "12,50 PEN", "trans_currency": "PEN"}),
        );
        assert!(
            amount.starts_with("trans_amount: not a decimal amount"),
            "{amount}"
        );
        assert!(!amount.contains("12,50"), "{amount}");
        let missing = problem(
            Kind::Transactions,
            serde_json::json!({"id": "t", "account_number": "a", "trans_amount": "1.00"}),
        );
        assert_eq!(
            missing,
            "trans_currency: missing (the document requires it)"
        );
        let nested = problem(
            Kind::Customers,
            serde_json::json!({"request_type": "A", "id": "c", "emails": [{"id": 1, "request_type": "A", "email": 7}]}),
        );
        assert!(nested.starts_with("emails[0].email: "), "{nested}");
        assert!(!nested.contains('7'), "{nested}");
    }
}
