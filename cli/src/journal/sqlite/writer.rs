//! The journal's writer: one thread owns the write connection and commits whatever arrived
//! while its last commit ran (group commit), so that the sender never waits on SQLite.
//!
//! Marks (`in_flight`) wake the writer: they are committed at once, with an fsync, and their
//! [`Durable`] resolves after the commit. Admitted records and outcomes only join a buffer (no
//! wake-up per record): the writer takes it with the next mark, or after [`OUTCOME_DELAY`].
//! An admitted record is buffered before its mark is sent, and the writer takes the buffer
//! after the marks, so a record's row is always written with or before its mark.

use std::{
    collections::HashMap,
    path::Path,
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use preventor::bulk::{Durable, Ledger, Prior, Sent};
use rusqlite::{params, Connection};
use tokio::sync::oneshot;

use super::{connect, now};
use crate::journal::outcome_row;
use crate::journal::{IN_FLIGHT, PENDING};

/// How long outcomes wait for a mark to be committed with.
const OUTCOME_DELAY: Duration = Duration::from_millis(100);

/// A record admitted for sending: its row, written as `pending`. An ambiguous row, and one an
/// operator decided to resend, keeps its state until it is marked: a crash in between must not
/// make it look never sent.
pub struct Admitted {
    /// Its line in the input.
    pub seq: u64,
    /// The run reading it (`runs.id`): written with the row, so that a repeat is found.
    pub run: i64,
    pub row: String,
    /// 64 bits of the row id's SHA-256: its key among the rows not yet written.
    pub row_hash: u64,
    pub kind: &'static str,
    pub operation: &'static str,
    pub key: String,
    pub id: String,
    pub hash: String,
    pub prior: Prior,
}

/// A write that waits in the buffer for the next commit.
enum Buffered {
    /// A record to send: its row, written `pending`.
    Admit(Admitted),
    /// A record an earlier run settled: only the run and line are written (a repeat is found).
    Seen(Admitted),
    /// A sample of the run `run` (see [`super::runs`]).
    Sample(i64, crate::journal::runs::RunSample),
    Outcome {
        row: String,
        state: &'static str,
        status: Option<u16>,
        details: Option<String>,
    },
}

/// Rows to mark in flight (none: a flush), and who waits for the commit.
struct Mark(Vec<String>, oneshot::Sender<Result<(), String>>);

/// The journal as the sender's [`Ledger`], and the admission's way in: cheap to clone.
#[derive(Clone)]
pub struct JournalLedger {
    marks: mpsc::Sender<Mark>,
    buffer: Arc<Mutex<Vec<Buffered>>>,
    /// Records admitted and not finished: their rows and what earlier runs did.
    open: Arc<Mutex<HashMap<u64, (String, Prior)>>>,
    /// Rows this run admitted that the writer has not committed yet (row hash -> line): with
    /// the committed `run` and `run_line`, how a repeat is found without keeping every id.
    unwritten: Arc<Mutex<HashMap<u64, u64>>>,
}

impl JournalLedger {
    /// Starts the writer thread on its own connection to `path`.
    pub fn start(path: &Path) -> rusqlite::Result<(JournalLedger, std::thread::JoinHandle<()>)> {
        let db = connect(path)?;
        let (marks, receiver) = mpsc::channel();
        let buffer: Arc<Mutex<Vec<Buffered>>> = Arc::default();
        let unwritten: Arc<Mutex<HashMap<u64, u64>>> = Arc::default();
        let (taken, written) = (buffer.clone(), unwritten.clone());
        let thread = std::thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || write_loop(db, receiver, &taken, &written))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok((
            JournalLedger {
                marks,
                buffer,
                open: Arc::default(),
                unwritten,
            },
            thread,
        ))
    }

    /// The line of this run that already had the row hashing to `row_hash`, if that row is
    /// not written yet. Ask before reading the journal: the writer commits a row before it
    /// forgets it here.
    pub fn unwritten_line(&self, row_hash: u64) -> Option<u64> {
        self.unwritten
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&row_hash)
            .copied()
    }

    /// Hands a record to the writer: one to send is written (`pending`) with the next commit,
    /// before its mark; one an earlier run settled keeps its row as it is but for the run and
    /// line that read it.
    pub fn admit(&self, record: Admitted) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.seq, (record.row.clone(), record.prior));
        self.unwritten
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.row_hash, record.seq);
        if matches!(
            record.prior,
            Prior::Unsent | Prior::MaybeSent | Prior::Resend
        ) {
            self.buffer(Buffered::Admit(record));
        } else {
            self.buffer(Buffered::Seen(record));
        }
    }

    /// A sample of run `run`, written with the next commit.
    pub fn sample(&self, run: i64, sample: crate::journal::runs::RunSample) {
        self.buffer(Buffered::Sample(run, sample));
    }

    fn buffer(&self, write: Buffered) {
        self.buffer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(write);
    }

    /// Sends `rows` to be marked (none: only a commit) and waits for the commit.
    fn commit_with(&self, rows: Vec<String>) -> Durable {
        let (done, durable) = oneshot::channel();
        let sent = self.marks.send(Mark(rows, done));
        Box::pin(async move {
            sent.map_err(|_| stopped())?;
            match durable.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(preventor::Error::Config(format!("journal: {e}"))),
                Err(_) => Err(stopped()),
            }
        })
    }
}

fn stopped() -> preventor::Error {
    preventor::Error::Config("journal: its writer stopped".into())
}

impl Ledger for JournalLedger {
    fn prior(&mut self, seq: u64) -> Prior {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&seq).map_or(Prior::Unsent, |(_, prior)| *prior)
    }

    fn sending(&mut self, seqs: &[u64]) -> Durable {
        let rows = {
            let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            seqs.iter()
                .filter_map(|seq| open.get(seq).map(|(row, _)| row.clone()))
                .collect()
        };
        self.commit_with(rows)
    }

    fn finished(&mut self, sent: &Sent) -> preventor::Result<()> {
        let Some((row, prior)) = self
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&sent.seq)
        else {
            return Ok(());
        };
        let Some((state, status, details)) = outcome_row(&sent.outcome, prior) else {
            return Ok(());
        };
        self.buffer(Buffered::Outcome {
            row,
            state,
            status,
            details,
        });
        Ok(())
    }

    fn close(&mut self) -> Durable {
        self.commit_with(Vec::new())
    }
}

/// The writer thread: waits for marks (or [`OUTCOME_DELAY`]), takes every mark that is there
/// and then the buffer, commits them in one transaction and answers the marks. Ends when every
/// sender is gone, after a last commit.
fn write_loop(
    mut db: Connection,
    marks: mpsc::Receiver<Mark>,
    buffer: &Mutex<Vec<Buffered>>,
    unwritten: &Mutex<HashMap<u64, u64>>,
) {
    let mut waiting: Vec<Mark> = Vec::new();
    loop {
        let open = match marks.recv_timeout(OUTCOME_DELAY) {
            Ok(mark) => {
                waiting.push(mark);
                true
            }
            Err(mpsc::RecvTimeoutError::Timeout) => true,
            Err(mpsc::RecvTimeoutError::Disconnected) => false,
        };
        waiting.extend(marks.try_iter());
        let buffered = std::mem::take(&mut *buffer.lock().unwrap_or_else(|p| p.into_inner()));
        if !buffered.is_empty() || !waiting.is_empty() {
            let result = apply(&mut db, &buffered, &waiting).map_err(|e| e.to_string());
            if result.is_ok() {
                // Committed: a repeat of these rows is found in the journal from now on.
                let mut unwritten = unwritten.lock().unwrap_or_else(|p| p.into_inner());
                for write in &buffered {
                    if let Buffered::Admit(r) | Buffered::Seen(r) = write {
                        unwritten.remove(&r.row_hash);
                    }
                }
            }
            for Mark(_, done) in waiting.drain(..) {
                let _ = done.send(result.clone());
            }
        }
        if !open {
            return;
        }
    }
}

/// The buffered writes, then the marks, in one transaction, committed (fsynced:
/// `synchronous=FULL`).
fn apply(db: &mut Connection, buffered: &[Buffered], marks: &[Mark]) -> rusqlite::Result<()> {
    let t = now();
    let tx = db.transaction()?;
    {
        let mut admit = tx.prepare_cached(
            "INSERT INTO records (row, kind, operation, key, id, hash, state, line, created, updated,
               run, run_line)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?8)
             ON CONFLICT(row) DO UPDATE SET hash = ?6, line = ?8, updated = ?9, run = ?10,
               run_line = ?8,
               state = CASE WHEN state IN ('ambiguous', 'resend') THEN state ELSE ?7 END,
               status = CASE WHEN state IN ('ambiguous', 'resend') THEN status ELSE NULL END,
               details = CASE WHEN state IN ('ambiguous', 'resend') THEN details ELSE NULL END",
        )?;
        let mut mark =
            tx.prepare_cached("UPDATE records SET state = ?2, updated = ?3 WHERE row = ?1")?;
        let mut outcome = tx.prepare_cached(
            "UPDATE records SET state = ?2, status = ?3, details = ?4, updated = ?5 WHERE row = ?1",
        )?;
        let mut seen =
            tx.prepare_cached("UPDATE records SET run = ?2, run_line = ?3 WHERE row = ?1")?;
        let mut sample = tx.prepare_cached(super::runs::SAMPLE)?;
        for write in buffered {
            match write {
                Buffered::Admit(r) => {
                    admit.execute(params![
                        r.row,
                        r.kind,
                        r.operation,
                        r.key,
                        r.id,
                        r.hash,
                        PENDING,
                        r.seq as i64,
                        t,
                        r.run
                    ])?;
                }
                Buffered::Seen(r) => {
                    seen.execute(params![r.row, r.run, r.seq as i64])?;
                }
                Buffered::Outcome {
                    row,
                    state,
                    status,
                    details,
                } => {
                    outcome.execute(params![row, state, status, details, t])?;
                }
                Buffered::Sample(run, s) => super::runs::insert_sample(&mut sample, *run, s)?,
            }
        }
        for Mark(rows, _) in marks {
            for row in rows {
                mark.execute(params![row, IN_FLIGHT, t])?;
            }
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        journal::{Journal, ACKNOWLEDGED},
        target::Target,
    };
    use preventor::bulk::Outcome;

    fn target() -> Target {
        Target {
            compliance_url: "embedded-sandbox".into(),
            tenant: "t".into(),
            env: "e".into(),
            banknu: "1".into(),
        }
    }

    #[tokio::test]
    async fn a_mark_resolves_once_another_connection_sees_it_and_outcomes_follow() {
        let dir = tempfile::Builder::new()
            .prefix("preventor-writer-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("j.sqlite");
        let journal = Journal::open_for_import(&path, &target(), false).unwrap();
        let (mut ledger, thread) = journal.writer().unwrap();
        for seq in 1..=3 {
            ledger.admit(Admitted {
                seq,
                run: 1,
                row_hash: seq,
                row: format!("transactions:t-{seq}"),
                kind: "transactions",
                operation: "registerMonetaryTransaction",
                key: "a-1".into(),
                id: format!("t-{seq}"),
                hash: "h".into(),
                prior: Prior::Unsent,
            });
        }
        let state = |row: &str| journal.known(row).unwrap().map(|k| k.state);
        // Admitted, not yet committed: a repeat is found among the unwritten rows.
        assert_eq!(ledger.unwritten_line(3), Some(3));
        ledger.sending(&[1, 2]).await.unwrap();
        // Committed: the row carries the run and line that read it, and is no longer held in
        // memory.
        assert_eq!(ledger.unwritten_line(3), None);
        let known = journal.known("transactions:t-3").unwrap().unwrap();
        assert_eq!(known.line_in_run(1), Some(3));
        assert_eq!(known.line_in_run(2), None, "another run did not read it");
        // Durable means committed: a reader on another connection sees the marks at once.
        assert_eq!(state("transactions:t-1").as_deref(), Some(IN_FLIGHT));
        assert_eq!(state("transactions:t-2").as_deref(), Some(IN_FLIGHT));
        assert_eq!(state("transactions:t-3").as_deref(), Some(PENDING));
        ledger
            .finished(&Sent {
                seq: 1,
                operation: "registerMonetaryTransaction",
                key: "a-1".into(),
                id: "t-1".into(),
                outcome: Outcome::Acknowledged { reconciled: false },
            })
            .unwrap();
        ledger.close().await.unwrap();
        assert_eq!(state("transactions:t-1").as_deref(), Some(ACKNOWLEDGED));
        drop(ledger);
        thread.join().unwrap();
    }

    /// A record an operator decided to resend is admitted (its row written with the next
    /// commit) and the process dies before its mark: the row still says resend, so the next run
    /// sends it as a resend (a customer create read back first), not as never sent.
    #[tokio::test]
    async fn a_resend_decision_survives_a_commit_of_its_admission_without_its_mark() {
        let dir = tempfile::Builder::new()
            .prefix("preventor-writer-resend-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("j.sqlite");
        let journal = Journal::open_for_import(&path, &target(), false).unwrap();
        journal
            .db()
            .execute(
                "INSERT INTO records (row, kind, operation, key, id, hash, state, created, updated)
                 VALUES ('customers:c-1:A', 'customers', 'customerOnboarding', 'c-1', 'c-1', 'h',
                         'resend', 0, 0)",
                [],
            )
            .unwrap();
        let known = journal.known("customers:c-1:A").unwrap();
        let prior = crate::journal::prior(known.as_ref(), "h");
        assert_eq!(prior, Prior::Resend);
        let (mut ledger, thread) = journal.writer().unwrap();
        ledger.admit(Admitted {
            seq: 1,
            run: 1,
            row_hash: 1,
            row: "customers:c-1:A".into(),
            kind: "customers",
            operation: "customerOnboarding",
            key: "c-1".into(),
            id: "c-1".into(),
            hash: "h".into(),
            prior,
        });
        // The admission is committed (a commit with no mark: what the writer does when outcomes
        // wait), then the process dies.
        ledger.close().await.unwrap();
        drop(ledger);
        thread.join().unwrap();
        let known = journal.known("customers:c-1:A").unwrap();
        assert_eq!(
            crate::journal::prior(known.as_ref(), "h"),
            Prior::Resend,
            "{known:?}"
        );
    }
}
