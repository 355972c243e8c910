//! Staging a file into the PostgreSQL journal, once: what is new is added `pending` with its
//! payload sealed; what an earlier staging or run knows is counted as the SQLite journal would
//! (settled, changed since sent, ambiguous), and not staged again.

use std::{collections::HashMap, time::Instant};

use preventor::bulk::{Prior, Record, Shard};
use serde_json::{json, Value};

use super::{
    connection::Db,
    seal::{Keyring, Sealed},
    BUCKETS,
};
use crate::{
    input::{self, Parsed},
    journal::{self, JournalError, Known},
    listed::Listed,
};

/// Records per staging statement.
pub const BATCH: usize = 1000;

/// How a staging went. Lists hold the first 100 of each kind (ids and lines, never values).
#[derive(Debug, Default)]
pub struct Staged {
    /// This staging's number: the rows it read carry it (`stage_run`).
    pub staging: i64,
    pub read: u64,
    pub staged: u64,
    pub already_staged: u64,
    pub already_settled: u64,
    pub ambiguous_kept: u64,
    pub requeued: u64,
    pub invalid: Listed,
    pub duplicates: Listed,
    pub changed: Listed,
}

impl Staged {
    pub fn json(&self) -> Value {
        json!({
            "read": self.read,
            "staged": self.staged,
            "already_staged": self.already_staged,
            "already_settled": self.already_settled,
            "ambiguous_kept": self.ambiguous_kept,
            "requeued_ambiguous": self.requeued,
            "invalid": self.invalid.count,
            "duplicate_ids": self.duplicates.count,
            "changed_since_sent": self.changed.count,
            "invalid_lines": self.invalid.first,
            "duplicate_lines": self.duplicates.first,
            "changed": self.changed.first,
        })
    }
}

/// One record ready to stage.
struct Row {
    row: String,
    kind: &'static str,
    operation: &'static str,
    key: String,
    id: String,
    bucket: i32,
    hash: String,
    line: i64,
    /// The record's JSON, sealed ([`seal`](super::seal)).
    sealed: Sealed,
}

/// When a batch of records is staged: at `records` records, and with `within`, that long after
/// its first record at the latest (a stream's records are staged as they come).
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    pub records: usize,
    pub within: Option<std::time::Duration>,
}

impl Batching {
    /// A file: [`BATCH`] records at a time, the last batch at its end.
    pub const FILE: Batching = Batching {
        records: BATCH,
        within: None,
    };
}

/// Stages the lines received into the journal, each payload sealed with `keys`, in batches by
/// `batching`; `after_batch` sees the counts after each batch is staged.
/// `resend_ambiguous`: ambiguous records with the same content are queued again (sent once
/// more, "already exists" settling them).
pub async fn stage(
    db: &Db,
    keys: &Keyring,
    kind: input::Kind,
    mut lines: tokio::sync::mpsc::Receiver<input::Line>,
    resend_ambiguous: bool,
    batching: Batching,
    mut after_batch: impl FnMut(&Staged),
) -> Result<Staged, JournalError> {
    let mut staged = Staged::default();
    // This staging's number: rows it reads carry it with their line, so that a repeat of a
    // line in an earlier batch is found in the journal; the batch's own rows are kept here.
    let until = Instant::now() + std::time::Duration::from_secs(60);
    let staging: i64 = db
        .retry(until, |c| async move {
            c.query_one("SELECT nextval('preventor_stagings')", &[])
                .await
        })
        .await?
        .get(0);
    staged.staging = staging;
    let mut in_batch: HashMap<String, u64> = HashMap::new();
    let mut batch: Vec<Row> = Vec::with_capacity(batching.records);
    // When the batch's first record came (staged `batching.within` after it at the latest).
    let mut opened: Option<Instant> = None;
    loop {
        let due = batching.within.zip(opened).map(|(w, t)| t + w);
        let next = match due {
            Some(due) => tokio::time::timeout_at(due.into(), lines.recv()).await.ok(),
            None => Some(lines.recv().await),
        };
        let line = match next {
            Some(Some(line)) => line,
            Some(None) => break,
            // The batch is due: staged now, however small.
            None => {
                let batch = std::mem::take(&mut batch);
                stage_batch(db, staging, batch, resend_ambiguous, &mut staged).await?;
                in_batch.clear();
                opened = None;
                after_batch(&staged);
                continue;
            }
        };
        staged.read += 1;
        let Parsed {
            line,
            record,
            canonical,
        } = match line {
            Ok(p) => p,
            Err(bad) => {
                staged
                    .invalid
                    .push(json!({"line": bad.line, "problem": bad.problem}));
                continue;
            }
        };
        let (row, hash) = journal::identity(kind.name(), &record, &canonical);
        if let Some(first) = in_batch.get(&row) {
            repeated(&mut staged, line, *first, record.id());
            continue;
        }
        in_batch.insert(row.clone(), line);
        let sealed = keys
            .seal(kind.name(), &row, &hash, &canonical)
            .map_err(JournalError::Storage)?;
        batch.push(row_of(kind, &record, row, hash, line, sealed));
        opened.get_or_insert_with(Instant::now);
        if batch.len() >= batching.records {
            stage_batch(
                db,
                staging,
                std::mem::take(&mut batch),
                resend_ambiguous,
                &mut staged,
            )
            .await?;
            in_batch.clear();
            opened = None;
            after_batch(&staged);
        }
    }
    stage_batch(db, staging, batch, resend_ambiguous, &mut staged).await?;
    after_batch(&staged);
    // Repeats within a batch are found as they are read, others when their batch is staged.
    staged
        .duplicates
        .first
        .sort_by_key(|d| d["line"].as_u64().unwrap_or_default());
    Ok(staged)
}

/// Line `line` repeats line `first` (the same record id): reported, not staged.
fn repeated(staged: &mut Staged, line: u64, first: u64, id: &str) {
    staged
        .duplicates
        .push(json!({"line": line, "first_line": first, "id": id,
               "problem": format!("id {id} repeats line {first}; not staged")}));
}

fn row_of(
    kind: input::Kind,
    record: &Record,
    row: String,
    hash: String,
    line: u64,
    sealed: Sealed,
) -> Row {
    Row {
        row,
        kind: kind.name(),
        operation: record.operation(),
        key: record.key().to_string(),
        id: record.id().to_string(),
        bucket: Shard::of(record.key(), BUCKETS).index as i32,
        hash,
        line: line as i64,
        sealed,
    }
}

async fn stage_batch(
    db: &Db,
    staging: i64,
    batch: Vec<Row>,
    resend_ambiguous: bool,
    staged: &mut Staged,
) -> Result<(), JournalError> {
    if batch.is_empty() {
        return Ok(());
    }
    let until = Instant::now() + std::time::Duration::from_secs(60);
    let known = known(db, &batch, until).await?;
    let sorted = sort(&batch, &known, staging, resend_ambiguous, staged);
    if !sorted.fresh.is_empty() {
        insert_fresh(db, &sorted.fresh, until, staged).await?;
    }
    if !sorted.requeue.is_empty() {
        requeue(db, &sorted.requeue, until, staged).await?;
    }
    mark_read(db, staging, &sorted.read, until).await?;
    if !(sorted.fresh.is_empty() && sorted.requeue.is_empty()) {
        super::notify::staged(db).await;
    }
    Ok(())
}

/// What the journal knows of the batch's rows.
async fn known(
    db: &Db,
    batch: &[Row],
    until: Instant,
) -> Result<HashMap<String, Known>, JournalError> {
    let ids: Vec<&str> = batch.iter().map(|r| r.row.as_str()).collect();
    Ok(db
        .retry(until, |c| {
            let ids = ids.clone();
            async move {
                c.query(
                    "SELECT row_id, state, hash, stage_run, stage_line, maybe_sent
                     FROM preventor_records WHERE row_id = ANY($1)",
                    &[&ids],
                )
                .await
            }
        })
        .await?
        .into_iter()
        .map(|r| {
            // A pending record that may have been sent (left in flight by a worker that died:
            // read back before it is sent again) is, for staging, one that may have been sent.
            let state: String = r.get(1);
            let state = if state == journal::PENDING && r.get::<_, bool>(5) {
                journal::IN_FLIGHT.to_string()
            } else {
                state
            };
            (
                r.get::<_, String>(0),
                Known {
                    state,
                    hash: r.get(2),
                    seen: r
                        .get::<_, Option<i64>>(3)
                        .zip(r.get::<_, Option<i64>>(4))
                        .map(|(run, line)| (run, line as u64)),
                },
            )
        })
        .collect())
}

/// A batch's rows sorted by what staging does with them.
#[derive(Default)]
struct Sorted<'a> {
    /// New, or never processed: inserted `pending` with their payload.
    fresh: Vec<&'a Row>,
    /// Ambiguous with `--resend-ambiguous`, or decided resend: pending again with their payload.
    requeue: Vec<&'a Row>,
    /// Every row read (not a repeat): marked with this staging and its line.
    read: Vec<&'a Row>,
}

/// Sorts the batch by what the journal knows of each row, counting what is not staged.
fn sort<'a>(
    batch: &'a [Row],
    known: &HashMap<String, Known>,
    staging: i64,
    resend_ambiguous: bool,
    staged: &mut Staged,
) -> Sorted<'a> {
    let mut sorted = Sorted::default();
    let (fresh, requeue, read) = (&mut sorted.fresh, &mut sorted.requeue, &mut sorted.read);
    for row in batch {
        let k = known.get(&row.row);
        if let Some(first) = k.and_then(|k| k.line_in_run(staging)) {
            repeated(staged, row.line as u64, first, &row.id);
            continue;
        }
        read.push(row);
        match journal::prior(k, &row.hash) {
            Prior::Unsent => match k {
                Some(k) if k.state == journal::PENDING && k.hash == row.hash => {
                    staged.already_staged += 1
                }
                _ => fresh.push(row),
            },
            // Left in flight by a worker that died, and pending again to be read back.
            Prior::MaybeSent if k.is_some_and(|k| k.state == journal::IN_FLIGHT) => {
                staged.already_staged += 1
            }
            Prior::MaybeSent if resend_ambiguous => requeue.push(row),
            Prior::MaybeSent => staged.ambiguous_kept += 1,
            // An operator's resend of a settled record (its content was not kept): staged.
            Prior::Resend => requeue.push(row),
            Prior::Acknowledged | Prior::Rejected => staged.already_settled += 1,
            _ => staged.changed.push(json!({"line": row.line, "id": row.id,
                       "problem": "content changed since an earlier run sent it; not staged"})),
        }
    }
    sorted
}

/// Inserts (or overwrites, where never processed) the fresh rows `pending` with their payload;
/// a row a worker marked meanwhile is reported as changed since sent.
async fn insert_fresh(
    db: &Db,
    fresh: &[&Row],
    until: Instant,
    staged: &mut Staged,
) -> Result<(), JournalError> {
    let cols = Columns::of(fresh);
    let written: std::collections::HashSet<String> = db
        .retry(until, |c| {
            let cols = cols.clone();
            async move {
                // A record a worker marked meanwhile keeps its state (the WHERE).
                c.query(
                    "INSERT INTO preventor_records
                        (row_id, kind, operation, key, id, bucket, hash, state, line, sealed,
                         key_id)
                     SELECT row_id, kind, operation, key, id, bucket, hash, 'pending', line,
                            sealed, key_id
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::int[], $7::text[], $8::bigint[], $9::bytea[], $10::text[])
                          AS s(row_id, kind, operation, key, id, bucket, hash, line, sealed,
                               key_id)
                     ORDER BY line
                     ON CONFLICT (row_id) DO UPDATE SET
                        hash = EXCLUDED.hash, payload = NULL, sealed = EXCLUDED.sealed,
                        key_id = EXCLUDED.key_id, state = 'pending',
                        line = EXCLUDED.line, status = NULL, details = NULL,
                        maybe_sent = false, updated = now()
                     WHERE (preventor_records.state = 'pending'
                            AND NOT preventor_records.maybe_sent)
                        OR preventor_records.state IN ('failed', 'resend')
                        OR (preventor_records.state = 'rejected'
                            AND preventor_records.hash <> EXCLUDED.hash)
                     RETURNING row_id",
                    &[
                        &cols.row,
                        &cols.kind,
                        &cols.operation,
                        &cols.key,
                        &cols.id,
                        &cols.bucket,
                        &cols.hash,
                        &cols.line,
                        &cols.sealed,
                        &cols.key_id,
                    ],
                )
                .await
            }
        })
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    staged.staged += written.len() as u64;
    // A record a worker marked between the read above and this write was not overwritten:
    // its earlier content is being sent. Reported, as any change since sent.
    for row in fresh.iter().filter(|r| !written.contains(&r.row)) {
        staged.changed.push(json!({"line": row.line, "id": row.id,
                   "problem": "being sent with its earlier content while this was staged; \
                               not staged"}));
    }
    Ok(())
}

/// Queues again, with their payload, ambiguous rows (`--resend-ambiguous`) and rows an
/// operator decided to resend.
async fn requeue(
    db: &Db,
    requeue: &[&Row],
    until: Instant,
    staged: &mut Staged,
) -> Result<(), JournalError> {
    let cols = Columns::of(requeue);
    let n = db
        .retry(until, |c| {
            let cols = cols.clone();
            async move {
                c.execute(
                    "UPDATE preventor_records r SET state = 'pending',
                        maybe_sent = r.maybe_sent OR r.state = 'ambiguous',
                        payload = NULL, sealed = s.sealed, key_id = s.key_id,
                        details = CASE WHEN r.state = 'ambiguous'
                            THEN 'queued again (--resend-ambiguous)'
                            ELSE 'queued again (an operator''s resend)' END,
                        updated = now()
                     FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[])
                          AS s(row_id, hash, sealed, key_id)
                     WHERE r.row_id = s.row_id AND r.hash = s.hash
                       AND r.state IN ('ambiguous', 'resend')",
                    &[&cols.row, &cols.hash, &cols.sealed, &cols.key_id],
                )
                .await
            }
        })
        .await?;
    staged.requeued += n;
    Ok(())
}

/// Every row this staging read carries it, with its line.
async fn mark_read(
    db: &Db,
    staging: i64,
    read: &[&Row],
    until: Instant,
) -> Result<(), JournalError> {
    let rows: Vec<&str> = read.iter().map(|r| r.row.as_str()).collect();
    let lines: Vec<i64> = read.iter().map(|r| r.line).collect();
    db.retry(until, |c| {
        let (rows, lines) = (rows.clone(), lines.clone());
        async move {
            c.execute(
                "UPDATE preventor_records r SET stage_run = $1, stage_line = s.line
                 FROM unnest($2::text[], $3::bigint[]) AS s(row_id, line)
                 WHERE r.row_id = s.row_id",
                &[&staging, &rows, &lines],
            )
            .await
        }
    })
    .await?;
    Ok(())
}

/// A batch as column arrays (what `unnest` takes).
#[derive(Clone)]
struct Columns {
    row: Vec<String>,
    kind: Vec<&'static str>,
    operation: Vec<&'static str>,
    key: Vec<String>,
    id: Vec<String>,
    bucket: Vec<i32>,
    hash: Vec<String>,
    line: Vec<i64>,
    sealed: Vec<Vec<u8>>,
    key_id: Vec<String>,
}

impl Columns {
    fn of(rows: &[&Row]) -> Columns {
        Columns {
            row: rows.iter().map(|r| r.row.clone()).collect(),
            kind: rows.iter().map(|r| r.kind).collect(),
            operation: rows.iter().map(|r| r.operation).collect(),
            key: rows.iter().map(|r| r.key.clone()).collect(),
            id: rows.iter().map(|r| r.id.clone()).collect(),
            bucket: rows.iter().map(|r| r.bucket).collect(),
            hash: rows.iter().map(|r| r.hash.clone()).collect(),
            line: rows.iter().map(|r| r.line).collect(),
            sealed: rows.iter().map(|r| r.sealed.bytes.clone()).collect(),
            key_id: rows.iter().map(|r| r.sealed.key_id.clone()).collect(),
        }
    }
}
