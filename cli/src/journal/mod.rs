//! The journal's contract, kept by both stores: the states of a record, what an earlier run
//! did with it ([`prior`]), how a record is known ([`identity`]), the rows operators see
//! ([`Problem`]), and the errors. [`sqlite`] (one host, one import at a time) and [`postgres`]
//! (one feed across hosts) keep it; [`opened`] is a journal whichever store holds it, for the
//! operator's commands; [`runs`] records runs and decisions in either; [`schema`] migrates both.
//! `cli/tests/journal_contract.rs` holds both stores to the same scenarios.

pub mod opened;
pub mod postgres;
pub mod runs;
pub mod schema;
pub mod sqlite;

pub use sqlite::Journal;

use preventor::{
    bulk::{Outcome, Prior, Record},
    compliance::types::RequestType,
};

/// This host's name (in runs, owners and workers).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "this host".into())
}

/// Seconds since the epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// States of a record.
pub const PENDING: &str = "pending";
pub const IN_FLIGHT: &str = "in_flight";
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const REJECTED: &str = "rejected";
pub const AMBIGUOUS: &str = "ambiguous";
pub const FAILED: &str = "failed";
/// An operator decided it is sent again by the next run (`preventor resolve --resend`).
pub const RESEND: &str = "resend";
/// An operator gave up on it (`preventor resolve --abandon`): never sent again.
pub const ABANDONED: &str = "abandoned";

/// The states of the records an operator may have to act on (`status` lists them).
pub const TO_DECIDE: [&str; 3] = [REJECTED, AMBIGUOUS, FAILED];
/// Those, and the records decided (the report lists them too).
pub const REPORTED: [&str; 5] = [REJECTED, AMBIGUOUS, FAILED, RESEND, ABANDONED];

/// A record an operator may have to look at (ids, lines, statuses, reasons: never a payload).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub kind: String,
    pub id: String,
    pub state: String,
    /// Its line in the input that last sent it.
    pub line: Option<i64>,
    /// The server's HTTP status, for a rejected record.
    pub status: Option<i64>,
    /// The server's answer, or what happened.
    pub details: Option<String>,
}

/// What the journal knows of a record: its state and content hash, and the run that last read
/// it with its line there.
#[derive(Debug)]
pub struct Known {
    pub state: String,
    pub hash: String,
    /// The run (`runs.id`) that last read this record, and the record's line in that run's input.
    pub seen: Option<(i64, u64)>,
}

impl Known {
    /// The line of this record in run `run`'s input, if that run has already read it (a
    /// repeat).
    pub fn line_in_run(&self, run: i64) -> Option<u64> {
        self.seen.filter(|(r, _)| *r == run).map(|(_, line)| line)
    }
}

/// Why a journal cannot be used.
#[derive(Debug)]
pub enum JournalError {
    /// Another import holds it.
    Held(String),
    /// It records another target.
    OtherTarget(Vec<String>),
    /// It has records but no target (written before targets were recorded).
    Unbound,
    /// SQLite or the file system failed.
    Storage(String),
}

impl std::fmt::Display for JournalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalError::Held(owner) => write!(
                f,
                "held by another import ({owner}); wait for it to end, or stop it, then run again"
            ),
            JournalError::OtherTarget(differences) => write!(
                f,
                "written for another target ({}); its records say nothing about this one. Use a \
                 new journal file for this target",
                differences.join("; ")
            ),
            JournalError::Unbound => write!(
                f,
                "holds records but no target (written by an earlier version); if it was written \
                 against this run's target, pass --adopt-journal to record it, otherwise use a \
                 new journal file"
            ),
            JournalError::Storage(e) => f.write_str(e),
        }
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        JournalError::Storage(e.to_string())
    }
}

impl From<std::io::Error> for JournalError {
    fn from(e: std::io::Error) -> Self {
        JournalError::Storage(e.to_string())
    }
}

/// What the journal's row of a record (`known`) says of it, for content hashed `hash`: the
/// [`Prior`] the sender decides on.
pub fn prior(known: Option<&Known>, hash: &str) -> Prior {
    let Some(known) = known else {
        return Prior::Unsent;
    };
    let same = known.hash == hash;
    match known.state.as_str() {
        ACKNOWLEDGED if same => Prior::Acknowledged,
        REJECTED if same => Prior::Rejected,
        ACKNOWLEDGED => Prior::Changed,
        AMBIGUOUS | IN_FLIGHT if same => Prior::MaybeSent,
        AMBIGUOUS | IN_FLIGHT => Prior::Changed,
        RESEND if same => Prior::Resend,
        // An operator gave up on it: never sent again.
        ABANDONED => Prior::Rejected,
        // Pending, failed, stopped, or rejected and corrected: never processed.
        _ => Prior::Unsent,
    }
}

/// What a record's row becomes for `outcome`: its state, status and details; `None` when
/// the row stays as an earlier run left it.
pub fn outcome_row(
    outcome: &Outcome,
    prior: Prior,
) -> Option<(&'static str, Option<u16>, Option<String>)> {
    Some(match outcome {
        Outcome::Acknowledged { reconciled: false } => (ACKNOWLEDGED, None, None),
        Outcome::Acknowledged { .. } => (
            ACKNOWLEDGED,
            None,
            Some("reconciled after a lost answer".into()),
        ),
        Outcome::Rejected {
            status,
            code,
            message,
        } => (
            REJECTED,
            *status,
            Some(
                format!(
                    "{} {}",
                    code.as_deref().unwrap_or(""),
                    message.as_deref().unwrap_or("")
                )
                .trim()
                .to_string(),
            ),
        ),
        Outcome::Ambiguous { reason } => (AMBIGUOUS, None, Some(reason.clone())),
        Outcome::Failed { reason } => (FAILED, None, Some(reason.clone())),
        Outcome::Stopped if prior == Prior::MaybeSent => (
            AMBIGUOUS,
            None,
            Some(
                "sent by an earlier run without an answer; not sent again: the run was stopped"
                    .into(),
            ),
        ),
        Outcome::Stopped if prior == Prior::Resend => (
            RESEND,
            None,
            Some("not sent yet: the run was stopped; an operator's resend stands".into()),
        ),
        Outcome::Stopped => (PENDING, None, Some("not sent: the run was stopped".into())),
        Outcome::AlreadySettled { .. } | Outcome::Changed => return None,
        _ => (FAILED, None, Some("unknown outcome".into())),
    })
}

/// A record's content hash (hex SHA-256 of its canonical line) and its journal row id
/// ([`row_id`]): how both journals know a record.
pub fn identity(kind: &str, record: &Record, canonical: &str) -> (String, String) {
    use sha2::Digest;
    let hash = format!("{:x}", sha2::Sha256::digest(canonical.as_bytes()));
    let row = row_id(kind, record, &hash);
    (row, hash)
}

/// The journal's row id of a record whose content hashes to `hash` (hex SHA-256). A create, and
/// a transaction, is known by its id (`customers:ID:A`, `accounts:ID`, `transactions:ID`): sent
/// once, and a changed one is reported. An update or a delete is known by its id and content
/// (`customers:ID:U:HASH16`): each change of a customer or an account is a record of its own,
/// in input order, and the same change twice is one.
pub fn row_id(kind: &str, record: &Record, hash: &str) -> String {
    let change = match record {
        Record::Customer(c) => Some(&c.request_type),
        Record::Account(a) => Some(&a.request_type),
        Record::Transaction(_) => None,
    }
    .filter(|t| **t != RequestType::A);
    let id = record.id();
    match (change, record) {
        (Some(t), _) => format!("{kind}:{id}:{t}:{}", &hash[..16.min(hash.len())]),
        (None, Record::Customer(_)) => format!("{kind}:{id}:A"),
        (None, _) => format!("{kind}:{id}"),
    }
}
