//! The statements a shared feed's worker runs besides marks, outcomes and leases: joining and
//! leaving, the round that shares the buckets out, fetching a chunk of each bucket taken, and
//! whether the feed is drained.

use std::time::{Duration, Instant};

use super::{connection::Db, seal::Sealed, BUCKETS};
use crate::journal::JournalError;

/// Records the worker `id` as alive (its heartbeat is renewed with its leases).
pub async fn join(db: &Db, id: &str, host: &str) -> Result<(), JournalError> {
    db.retry(Instant::now() + Duration::from_secs(30), |c| async move {
        c.execute(
            "INSERT INTO preventor_workers (id, host, pid) VALUES ($1, $2, $3)",
            &[&id, &host, &(std::process::id() as i32)],
        )
        .await
    })
    .await?;
    Ok(())
}

/// Records that the worker `id` has ended.
pub async fn leave(db: &Db, id: &str) -> Result<(), JournalError> {
    db.retry(Instant::now() + Duration::from_secs(10), |c| async move {
        c.execute(
            "UPDATE preventor_workers SET ended = now(), heartbeat = now() WHERE id = $1",
            &[&id],
        )
        .await
    })
    .await?;
    Ok(())
}

/// A worker's progress: records finished a second lately, and their mean sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    pub rate: f64,
    pub position: Option<f64>,
}

/// What a round of sharing sees of the feed.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    /// Workers alive (this one included).
    pub alive: i64,
    /// Buckets with records pending or in flight.
    pub with_work: i64,
    /// The other workers' rates summed, and their mean position weighted by rate.
    pub others: Progress,
    /// Other workers alive with no rate yet.
    pub unrated: i64,
    /// The feed's last sequence number.
    pub last: Option<f64>,
}

/// Publishes this worker's `mine` and reads the others' (alive: a heartbeat within `lease`).
pub async fn round(db: &Db, worker: &str, lease: Duration, mine: Progress) -> Option<Round> {
    let c = db.client().await.ok()?;
    let r = c
        .query_one(
            "WITH me AS (UPDATE preventor_workers SET rate = $3, position = $4
                         WHERE id = $2),
             alive AS (SELECT id, rate, position FROM preventor_workers
                       WHERE ended IS NULL
                         AND heartbeat > now() - make_interval(secs => $1))
             SELECT (SELECT count(*) FROM alive),
                    (SELECT count(*) FROM preventor_buckets b
                     WHERE EXISTS (SELECT 1 FROM preventor_records r
                                   WHERE r.bucket = b.bucket
                                     AND r.state IN ('pending', 'in_flight'))),
                    (SELECT sum(rate) FROM alive WHERE id <> $2)::float8,
                    (SELECT count(*) FROM alive WHERE id <> $2 AND NOT rate > 0),
                    (SELECT sum(rate * position) / sum(rate) FROM alive
                     WHERE id <> $2 AND rate > 0 AND position IS NOT NULL)::float8,
                    (SELECT max(seq) FROM preventor_records)::float8",
            &[&lease.as_secs_f64(), &worker, &mine.rate, &mine.position],
        )
        .await
        .ok()?;
    Some(Round {
        alive: r.get(0),
        with_work: r.get(1),
        others: Progress {
            rate: r.get::<_, Option<f64>>(2).unwrap_or(0.0),
            position: r.get(4),
        },
        unrated: r.get(3),
        last: r.get(5),
    })
}

/// One pending record fetched to send.
pub struct Fetched {
    pub bucket: u32,
    pub seq: u64,
    pub row: String,
    pub kind: String,
    /// The record's JSON, sealed (`None`: cleared, or staged before payloads were sealed).
    pub sealed: Option<Sealed>,
    /// The record's JSON in plain text, staged before payloads were sealed.
    pub legacy: Option<String>,
    /// It may have been sent already (read back, or "already exists" settles it).
    pub maybe_sent: bool,
    /// The content hash of the payload.
    pub hash: String,
    /// How long ago it was staged (by the database's clock).
    pub age: std::time::Duration,
}

/// The chunk of each bucket in `buckets`: its pending records, in staging order, within a span
/// of `sizes[i]` times [`BUCKETS`] sequence numbers from its oldest (the last chunk takes what
/// is left when that is less than half a chunk more), at most `most` records.
pub async fn fetch_chunks(
    db: &Db,
    buckets: &[i32],
    sizes: &[i64],
    most: i64,
    until: Instant,
) -> Result<Vec<Fetched>, JournalError> {
    let rows = db
        .retry(until, |c| async move {
            c.query(
                "SELECT r.bucket, r.seq, r.row_id, r.kind, r.payload, r.maybe_sent, r.hash,
                        r.sealed, r.key_id,
                        greatest(extract(epoch FROM now() - r.created), 0)::float8
                 FROM unnest($1::int[], $2::bigint[]) AS w(bucket, n),
                 LATERAL (SELECT min(seq) AS first FROM preventor_records
                          WHERE bucket = w.bucket AND state = 'pending') f,
                 LATERAL (SELECT bucket, seq, row_id, kind, payload, maybe_sent, hash, sealed,
                                 key_id, created
                          FROM preventor_records
                          WHERE bucket = w.bucket AND state = 'pending'
                            AND (seq < f.first + w.n * $3
                                 OR f.first + w.n * $3 * 3 / 2 > (
                                     SELECT max(seq) FROM preventor_records))
                          ORDER BY seq LIMIT $4) r",
                &[&buckets, &sizes, &i64::from(BUCKETS), &most],
            )
            .await
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Fetched {
            bucket: r.get::<_, i32>(0) as u32,
            seq: r.get::<_, i64>(1) as u64,
            row: r.get(2),
            kind: r.get(3),
            legacy: r.get(4),
            sealed: r
                .get::<_, Option<Vec<u8>>>(7)
                .zip(r.get::<_, Option<String>>(8))
                .map(|(bytes, key_id)| Sealed { key_id, bytes }),
            maybe_sent: r.get(5),
            hash: r.get(6),
            age: std::time::Duration::from_secs_f64(r.get::<_, f64>(9)),
        })
        .collect())
}

/// Whether the feed has nothing pending or in flight (`false` when the database cannot say).
pub async fn drained(db: &Db) -> bool {
    let Ok(client) = db.client().await else {
        return false;
    };
    client
        .query_one(
            "SELECT NOT EXISTS (SELECT 1 FROM preventor_records
                                WHERE state IN ('pending', 'in_flight'))",
            &[],
        )
        .await
        .is_ok_and(|r| r.get::<_, bool>(0))
}
