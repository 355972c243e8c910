//! Feeds a worker's sender from the buckets it leases: records in staging order across every
//! held bucket (so that all their keys are busy at once), a few of each key at a time
//! ([`Queue`]), until the feed has nothing pending or in flight.
//!
//! A lease covers one chunk of a bucket: its pending records within a span of the feed (about
//! [`CHUNK`] records of an average bucket) from its oldest. Once the chunk's records are all
//! finished, the bucket is given back, and the next chunk goes to whichever worker takes it
//! (buckets furthest behind first). So every worker draws from the whole feed in staging order
//! and they all end together, instead of one worker finishing its own keys alone at the end;
//! and memory stays bounded whatever the feed's size. A span of the feed, not a number of
//! records, so that every key changes hands as often whatever its bucket's size (by count, a
//! bucket of six accounts changed hands six times as often as a bucket of one, and its keys,
//! idle at each change, ended the feed late). A worker above its share (buckets ran dry, a
//! worker joined, it is paced slower than the others) hands over, one a round, the bucket with
//! the most records waiting in it: those stay pending for a worker below its share, and the
//! bucket is given back once its records in flight finish.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use preventor::{
    bulk::{Ending, Prior, Record},
    compliance::types::{Account, Customer, MonetaryTransaction},
};
use tokio::{sync::mpsc, time::sleep_until};
use tokio_util::sync::CancellationToken;

use super::queue::Queue;
use crate::{
    journal::postgres::{
        connection::Db,
        lease::Leases,
        ledger::{Open, PgLedger},
        notify::Follow,
        seal::Keyring,
        workers::{self, Fetched, Progress},
        BUCKETS,
    },
    metrics::Metrics,
};

/// Most buckets taken in one round (a round every 25 ms while there are buckets to take), so
/// that workers that start together share the buckets out.
const TAKE_AT_ONCE: usize = 16;
/// Fewer records than this waiting in a bucket are sent here rather than handed over: another
/// worker would take longer to start on them (at a feed's end, from the last record sent here
/// to the first sent there) than this one takes to send them.
const HAND_OVER_AT_LEAST: usize = (CHUNK / 2) as usize;
/// Records of a bucket sent under one lease, on average (a span of `CHUNK` times
/// [`BUCKETS`] records of the feed).
const CHUNK: i64 = 256;
/// Most records of a chunk, whatever the span holds (one key with most of the feed).
const MOST_IN_CHUNK: i64 = CHUNK * 4;
/// A worker's share of the buckets, whatever its rate and position, is at least this share of
/// an equal one, and at most this many equal ones (below: paces stay apart, so shares must
/// too).
const LEAST_SHARE: f64 = 0.2;
/// See [`LEAST_SHARE`].
const MOST_SHARE: f64 = 3.0;
/// The feed's records left taking the workers less than this many seconds at their rates is
/// its end: their paces stop probing above the server's limit ([`Ending`]).
const ENDING_WITHIN: f64 = 3.0;

/// The span of the feed fetched from `bucket` under the lease of `epoch`, in records of its
/// bucket on average: from half to one and a half [`CHUNK`], spread by bucket and epoch.
/// Buckets taken together and sent at one pace would otherwise all reach the end of their
/// chunks together, and every key would wait at once for its bucket to be given back and taken
/// again: the feed's rate dropped with each such wave.
fn chunk(bucket: u32, epoch: i64) -> i64 {
    let spread = (u64::from(bucket) * 0x9E37_79B9 + epoch as u64 * 0x85EB_CA6B) % CHUNK as u64;
    CHUNK / 2 + spread as i64
}

/// Where a held bucket's fetching stands (its records fetched and waiting are in the
/// [`Queue`]).
struct Cursor {
    epoch: i64,
    /// Its chunk was fetched.
    fetched: bool,
}

/// A record's payload as the record it was staged from.
fn decode(kind: &str, payload: &str) -> Result<Record, String> {
    let e = |e: serde_json::Error| preventor::redacted::without_values(&e.to_string());
    Ok(match kind {
        "customers" => Record::Customer(serde_json::from_str::<Customer>(payload).map_err(e)?),
        "accounts" => Record::Account(serde_json::from_str::<Account>(payload).map_err(e)?),
        _ => Record::from(serde_json::from_str::<MonetaryTransaction>(payload).map_err(e)?),
    })
}

/// What a producer talks through.
pub struct Channels {
    /// Records to the sender.
    pub tx: mpsc::Sender<(u64, Record)>,
    /// The sequence numbers of the records the sender finished.
    pub finished: mpsc::UnboundedReceiver<u64>,
    /// `work --follow`: the feed drained, wait for records staged instead of ending.
    pub follow: Option<Follow>,
    /// `--metrics`: told when each record fetched was staged.
    pub metrics: Option<Arc<Metrics>>,
}

/// Feeds `tx` until the feed is drained (then sets `drained`; following, it waits for records
/// staged instead) or `stop`; `ending` is set while the feed's end is seconds away. Ends with
/// an error, sending nothing more, when a payload does not open with `keys`.
#[allow(clippy::too_many_arguments)]
pub async fn produce(
    db: Arc<Db>,
    keys: Arc<Keyring>,
    leases: Arc<Leases>,
    ledger: PgLedger,
    most: Option<usize>,
    channels: Channels,
    stop: CancellationToken,
    drained: Arc<AtomicBool>,
    ending: Ending,
) -> Result<(), String> {
    let Channels {
        tx,
        mut finished,
        follow,
        metrics,
    } = channels;
    let mut cursors: HashMap<u32, Cursor> = HashMap::new();
    let mut queue = Queue::default();
    let mut rate = Rate::default();
    let mut next_round = Instant::now();
    // Buckets handed over and not yet given back (their records in flight finishing).
    let mut handing: HashMap<u32, i64> = HashMap::new();
    while !stop.is_cancelled() {
        if Instant::now() >= next_round {
            let outlook = outlook(&db, &leases, rate.per_second(Instant::now())).await;
            ending.set_soon(outlook.ending);
            let most = most.unwrap_or(outlook.share);
            // Above its share by more than one (buckets ran dry, a worker joined): the held
            // bucket with the most records still waiting here goes to a worker below its
            // share, one a round. By one only, it stays: shares move with the workers' rates,
            // and a bucket that changes hands idles its keys for a few tenths of a second.
            hand_over_above_share(
                &leases,
                &ledger,
                most,
                &mut handing,
                &mut cursors,
                &mut queue,
                metrics.as_deref(),
            );
            let free = most.saturating_sub(leases.count()).min(TAKE_AT_ONCE);
            let taken = leases.acquire(&db, free).await.unwrap_or_default();
            let idle = taken.is_empty();
            for t in taken {
                cursors.insert(
                    t.bucket,
                    Cursor {
                        epoch: t.epoch,
                        fetched: false,
                    },
                );
            }
            next_round = Instant::now()
                + if idle {
                    Duration::from_millis(100)
                } else {
                    Duration::from_millis(25)
                };
            if idle
                && cursors.is_empty()
                && queue.waiting() == 0
                && leases.count() == 0
                && workers::drained(&db).await
            {
                let Some(follow) = &follow else {
                    drained.store(true, Ordering::Release);
                    return Ok(());
                };
                tokio::select! {
                    _ = follow.next(super::FOLLOW_POLL) => next_round = Instant::now(),
                    _ = stop.cancelled() => return Ok(()),
                }
                continue;
            }
        }
        refill(
            &db,
            &keys,
            &leases,
            &ledger,
            &mut cursors,
            &mut queue,
            metrics.as_deref(),
        )
        .await?;
        cursors.retain(|bucket, c| !(c.fetched && queue.waiting_in(*bucket) == 0));
        while let Ok(seq) = finished.try_recv() {
            queue.finished(seq);
            rate.finished(Instant::now(), seq);
        }
        let Some(full) = hand_to_sender(&tx, &mut queue) else {
            return Ok(());
        };
        // Then wait for room in the sender, for records finished (their keys may send more),
        // for the next round, or for buckets given back (others may be taken).
        tokio::select! {
            permit = tx.reserve(), if full => {
                let Ok(permit) = permit else { return Ok(()) };
                if let Some((seq, _, record)) = queue.pop() {
                    permit.send((seq, record));
                }
            }
            seq = finished.recv() => {
                if let Some(seq) = seq {
                    queue.finished(seq);
                    rate.finished(Instant::now(), seq);
                }
            }
            _ = sleep_until(next_round.into()) => {}
            _ = ledger.given_back() => next_round = Instant::now(),
            _ = stop.cancelled() => return Ok(()),
        }
    }
    Ok(())
}

/// Gives up the held bucket with the most records fetched and not yet handed to the sender
/// (returned with its epoch): they are dropped here and stay pending; the bucket is given back
/// once its records in flight are finished. A worker paced below the others would otherwise
/// finish its chunks alone.
fn hand_over_one(
    ledger: &PgLedger,
    cursors: &mut HashMap<u32, Cursor>,
    queue: &mut Queue,
    metrics: Option<&Metrics>,
) -> Option<(u32, i64)> {
    let (bucket, waiting) = queue.fullest_bucket()?;
    if waiting < HAND_OVER_AT_LEAST {
        return None;
    }
    let epoch = cursors.remove(&bucket)?.epoch;
    let seqs = queue.remove_bucket(bucket);
    if let Some(m) = metrics {
        m.forget(seqs.iter().copied());
    }
    ledger.hand_over(bucket, &seqs);
    Some((bucket, epoch))
}

/// Every record that may go now, as far as the sender has room. Returns whether the sender
/// is full; `None` when it has gone.
fn hand_to_sender(tx: &mpsc::Sender<(u64, Record)>, queue: &mut Queue) -> Option<bool> {
    loop {
        let permit = match tx.try_reserve() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(())) => return Some(true),
            Err(mpsc::error::TrySendError::Closed(())) => return None,
        };
        let Some((seq, _, record)) = queue.pop() else {
            return Some(false);
        };
        permit.send((seq, record));
    }
}

/// Above its share `most` by more than one, hands over one bucket (see [`hand_over_one`]);
/// `handing` holds the buckets handed over and not yet given back.
fn hand_over_above_share(
    leases: &Leases,
    ledger: &PgLedger,
    most: usize,
    handing: &mut HashMap<u32, i64>,
    cursors: &mut HashMap<u32, Cursor>,
    queue: &mut Queue,
    metrics: Option<&Metrics>,
) {
    handing.retain(|bucket, epoch| leases.valid(*bucket, *epoch));
    if leases.count().saturating_sub(handing.len()) > most + 1 {
        if let Some((bucket, epoch)) = hand_over_one(ledger, cursors, queue, metrics) {
            handing.insert(bucket, epoch);
        }
    }
}

/// Fetches the chunk of every bucket just taken, all in one statement. A payload that does
/// not open with `keys` ends the worker (nothing is sent for that fetch).
async fn refill(
    db: &Db,
    keys: &Keyring,
    leases: &Leases,
    ledger: &PgLedger,
    cursors: &mut HashMap<u32, Cursor>,
    queue: &mut Queue,
    metrics: Option<&Metrics>,
) -> Result<(), String> {
    let (wanted, sizes): (Vec<i32>, Vec<i64>) = cursors
        .iter()
        .filter(|(bucket, c)| !c.fetched && leases.valid(**bucket, c.epoch))
        .map(|(bucket, c)| (*bucket as i32, chunk(*bucket, c.epoch)))
        .unzip();
    if wanted.is_empty() {
        return Ok(());
    }
    let until = Instant::now() + leases.lease / 2;
    let rows = workers::fetch_chunks(db, &wanted, &sizes, MOST_IN_CHUNK, until).await;
    // The database is away: tried again on the next pass.
    let Ok(rows) = rows else { return Ok(()) };
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let payload = payload_of(keys, &row)?;
        records.push((row, payload));
    }
    let mut opens: HashMap<u32, Vec<(u64, Open)>> =
        wanted.iter().map(|b| (*b as u32, Vec::new())).collect();
    for (row, payload) in records {
        let Some(cursor) = cursors.get_mut(&row.bucket) else {
            continue;
        };
        // A payload that cannot be read (cleared, or written by another version) is left
        // pending for `status` to show; nothing is sent for it.
        let Some(record) = payload.and_then(|p| decode(&row.kind, &p).ok()) else {
            continue;
        };
        if let Some(m) = metrics {
            m.fetched(row.seq, row.age);
        }
        let prior = if row.maybe_sent {
            Prior::MaybeSent
        } else {
            Prior::Unsent
        };
        opens.entry(row.bucket).or_default().push((
            row.seq,
            Open {
                row: row.row,
                hash: row.hash,
                bucket: row.bucket,
                epoch: cursor.epoch,
                prior,
            },
        ));
        queue.push(row.seq, row.bucket, record);
    }
    for (bucket, opens) in opens {
        if let Some(cursor) = cursors.get_mut(&bucket) {
            cursor.fetched = true;
        }
        ledger.fetched(bucket, opens, true);
    }
    Ok(())
}

/// A fetched record's JSON: opened with `keys`, or as staged before payloads were sealed.
fn payload_of(keys: &Keyring, row: &Fetched) -> Result<Option<String>, String> {
    match &row.sealed {
        Some(sealed) => keys
            .open(&row.kind, &row.row, &row.hash, sealed)
            .map(Some)
            .map_err(|e| format!("record {} of the journal cannot be sent: {e}", row.row)),
        None => Ok(row.legacy.clone()),
    }
}

/// The records this worker finished over the last second, and the sum of their sequence
/// numbers.
#[derive(Default)]
struct Rate {
    at: std::collections::VecDeque<(Instant, u64)>,
    seqs: f64,
}

impl Rate {
    fn finished(&mut self, now: Instant, seq: u64) {
        self.at.push_back((now, seq));
        self.seqs += seq as f64;
    }

    fn per_second(&mut self, now: Instant) -> Progress {
        while let Some(&(t, seq)) = self.at.front() {
            if now.duration_since(t) <= Duration::from_secs(1) {
                break;
            }
            self.at.pop_front();
            self.seqs -= seq as f64;
        }
        let n = self.at.len() as f64;
        Progress {
            rate: n,
            position: (n > 0.0).then(|| self.seqs / n),
        }
    }
}

/// What a worker learns each round of the feed as a whole.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Outlook {
    /// The buckets it may hold.
    share: usize,
    /// The feed's end is seconds away.
    ending: bool,
}

/// The buckets a worker may hold: the buckets that still have work, shared between the workers
/// alive (a heartbeat within the lease, not ended) in proportion to the records each finished
/// over the last second, that weight divided by e for each second of the feed its keys are
/// behind the others' (multiplied ahead; by two at most either way), and the share within
/// [`LEAST_SHARE`] and [`MOST_SHARE`] times an equal share; an equal share while any of them
/// has no rate yet. And whether the feed ends within [`ENDING_WITHIN`] seconds at the workers'
/// rates (from their positions to its last record). Each worker publishes its own
/// [`Progress`] with the round.
///
/// Each worker paces itself at the share of the server's limit it found, and those shares
/// differ: with equal numbers of buckets, the slower worker's keys fell behind the others' all through
/// the feed. By rate alone, the keys of every worker moved at one speed, but those that fell
/// behind at the start (a burst of 429s) never caught up, and the feed ended seconds after most
/// of its keys; a worker behind now holds fewer keys, each of them sent faster, and hands the
/// rest to workers ahead, which send the keys behind first (oldest first). The paces stay
/// apart: a 429 reaches every worker, and each measures its own rate again, so their ratio
/// holds all run; held to half an equal share, the slowest worker's keys fell behind all
/// through the feed and ended it alone, after the others (the feed benchmark shows it). Counting only buckets with work keeps the workers even to the end:
/// as buckets run dry, each worker's share shrinks with them, and a bucket given back goes to
/// a worker below its share.
async fn outlook(db: &Db, leases: &Leases, mine: Progress) -> Outlook {
    let round = workers::round(db, &leases.worker, leases.lease, mine).await;
    let (alive, with_work, others, unrated, last) = match round {
        Some(r) => (r.alive, r.with_work, r.others, r.unrated, r.last),
        None => (1, BUCKETS as i64, Progress::default(), 0, None),
    };
    Outlook {
        share: share(
            with_work.max(1) as f64,
            alive.max(1) as f64,
            mine,
            others,
            unrated > 0,
        ),
        ending: last.is_some_and(|last| seconds_left(last, mine, others) < ENDING_WITHIN),
    }
}

/// Seconds from the workers' mean position (weighted by rate) to the feed's `last` record at
/// their rates; infinite while none has a rate. A worker's position is the mean of the last
/// second's records, so the feed's end is about half a second nearer than this says.
fn seconds_left(last: f64, mine: Progress, others: Progress) -> f64 {
    let rated = [mine, others]
        .into_iter()
        .filter_map(|p| Some((p.rate, p.position?)))
        .filter(|(rate, _)| *rate > 0.0);
    let (rate, weighted) = rated.fold((0.0, 0.0), |(r, w), (rate, at)| (r + rate, w + rate * at));
    if rate <= 0.0 {
        return f64::INFINITY;
    }
    (last - weighted / rate).max(0.0) / rate
}

/// See [`outlook`]: `others` is the sum of the other workers' rates and their mean position
/// (weighted by rate).
fn share(with_work: f64, alive: f64, mine: Progress, others: Progress, unrated: bool) -> usize {
    let equal = with_work / alive;
    if mine.rate <= 0.0 || unrated {
        return equal.ceil() as usize;
    }
    // Seconds of the feed this worker's keys are behind the others' (ahead: below zero).
    let behind = match (mine.position, others.position) {
        (Some(me), Some(them)) => (them - me) / (mine.rate + others.rate),
        _ => 0.0,
    };
    let weight = mine.rate * (-behind).exp().clamp(0.5, 2.0);
    (with_work * weight / (weight + others.rate))
        .clamp(equal * LEAST_SHARE, equal * MOST_SHARE)
        .ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rate: f64, position: f64) -> Progress {
        Progress {
            rate,
            position: Some(position),
        }
    }

    #[test]
    fn progress_is_the_last_second_of_records_finished() {
        let start = Instant::now();
        let mut rate = Rate::default();
        assert_eq!(rate.per_second(start), Progress::default());
        rate.finished(start, 10);
        rate.finished(start + Duration::from_millis(600), 20);
        rate.finished(start + Duration::from_millis(900), 30);
        assert_eq!(
            rate.per_second(start + Duration::from_millis(1200)),
            at(2.0, 25.0),
            "the first is over a second old"
        );
        assert_eq!(
            rate.per_second(start + Duration::from_secs(3)),
            Progress::default()
        );
    }

    #[test]
    fn buckets_are_shared_by_rate_and_by_how_far_behind_within_bounds() {
        let none = Progress::default();
        assert_eq!(share(64.0, 1.0, at(900.0, 1.0), none, false), 64, "alone");
        assert_eq!(
            share(64.0, 2.0, none, at(1000.0, 1.0), false),
            32,
            "no rate yet"
        );
        assert_eq!(
            share(64.0, 2.0, at(900.0, 1.0), none, true),
            32,
            "the other has none"
        );
        // Level with the others: by rate.
        assert_eq!(
            share(60.0, 3.0, at(1250.0, 5e4), at(1750.0, 5e4), false),
            25
        );
        assert_eq!(share(60.0, 3.0, at(750.0, 5e4), at(2250.0, 5e4), false), 15);
        // A second of the feed (3,000 records) behind: a third of the weight, held at half;
        // ahead, twice.
        assert_eq!(
            share(60.0, 3.0, at(1000.0, 47e3), at(2000.0, 5e4), false),
            12
        );
        assert_eq!(
            share(60.0, 3.0, at(1000.0, 53e3), at(2000.0, 5e4), false),
            30
        );
        assert_eq!(
            share(60.0, 3.0, at(300.0, 5e4), at(2700.0, 5e4), false),
            6,
            "a tenth of the rate, a tenth of the buckets"
        );
        assert_eq!(
            share(60.0, 3.0, at(100.0, 5e4), at(2900.0, 5e4), false),
            4,
            "at least a fifth of an equal share"
        );
        assert_eq!(
            share(60.0, 4.0, at(2900.0, 5e4), at(100.0, 5e4), false),
            45,
            "at most three equal shares"
        );
    }

    #[test]
    fn chunks_of_buckets_taken_together_differ_and_average_the_chunk() {
        let sizes: Vec<i64> = (0..64).map(|b| chunk(b, 1)).collect();
        assert!(sizes.iter().all(|n| (CHUNK / 2..CHUNK * 3 / 2).contains(n)));
        let distinct: std::collections::HashSet<_> = sizes.iter().collect();
        assert!(distinct.len() > 48, "{sizes:?}");
        let mean = sizes.iter().sum::<i64>() as f64 / 64.0;
        assert!((mean - CHUNK as f64).abs() < CHUNK as f64 / 8.0, "{mean}");
        assert_ne!(
            chunk(5, 1),
            chunk(5, 2),
            "the next lease of a bucket differs too"
        );
    }

    #[test]
    fn the_end_is_the_records_left_past_the_workers_positions_at_their_rates() {
        let none = Progress::default();
        assert_eq!(seconds_left(6e4, none, none), f64::INFINITY, "no rate yet");
        // One worker at 1,000 a second, 3,000 records from the last: three seconds.
        assert_eq!(seconds_left(6e4, at(1000.0, 57e3), none), 3.0);
        // Two at 1,000 and 2,000 (positions 54,000 and 57,000: 56,000 weighted): 4,000 left
        // at 3,000 a second.
        let left = seconds_left(6e4, at(1000.0, 54e3), at(2000.0, 57e3));
        assert!((left - 4.0 / 3.0).abs() < 1e-9, "{left}");
        assert_eq!(
            seconds_left(6e4, at(1000.0, 61e3), none),
            0.0,
            "past the end"
        );
    }
}
