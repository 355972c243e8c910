//! The records a worker fetched and has not yet handed to its sender: oldest first, and at most
//! [`PER_KEY`] of a key handed over and not yet finished.
//!
//! The sender sends one record of a key at a time and keeps the rest of the key's records
//! waiting, within a bound. Handing it records in staging order alone let the keys held back
//! (a 429's `Retry-After`, a slow answer) fill that bound with their waiting records: the
//! sender then read nothing more, and every other key stood idle until they moved (after each
//! burst of 429s, and a bucket taken over waited behind the records queued before it). With a few records of each key in the sender,
//! a key held back holds back only itself, and a bucket just taken is sent at once.

use std::collections::{BTreeMap, HashMap, VecDeque};

use preventor::bulk::Record;

/// Records of one key in the sender and not yet finished: the one it sends, and the next,
/// ready the moment the first is answered.
pub const PER_KEY: usize = 2;

/// A record waiting to go to the sender.
struct Queued {
    seq: u64,
    bucket: u32,
    record: Record,
}

/// One key's records waiting, and how many of its records the sender has.
#[derive(Default)]
struct Key {
    waiting: VecDeque<Queued>,
    with_sender: usize,
}

/// The records fetched and waiting, by key.
#[derive(Default)]
pub struct Queue {
    keys: HashMap<String, Key>,
    /// The first waiting record of each key that may go now, by sequence number.
    eligible: BTreeMap<u64, String>,
    /// The key of each record with the sender, until it is finished.
    with_sender: HashMap<u64, String>,
    waiting: usize,
    /// Records waiting, by bucket (buckets with none are absent).
    by_bucket: HashMap<u32, usize>,
}

impl Queue {
    /// Records waiting, whether or not they may go now.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Records of `bucket` waiting.
    pub fn waiting_in(&self, bucket: u32) -> usize {
        self.by_bucket.get(&bucket).copied().unwrap_or(0)
    }

    /// The bucket with the most records waiting, and how many.
    pub fn fullest_bucket(&self) -> Option<(u32, usize)> {
        self.by_bucket
            .iter()
            .max_by_key(|(bucket, n)| (**n, std::cmp::Reverse(**bucket)))
            .map(|(bucket, n)| (*bucket, *n))
    }

    fn count(&mut self, bucket: u32, added: isize) {
        let n = self.by_bucket.entry(bucket).or_default();
        *n = n.saturating_add_signed(added);
        if *n == 0 {
            self.by_bucket.remove(&bucket);
        }
    }

    /// Adds a record (a key's records come in sequence order).
    pub fn push(&mut self, seq: u64, bucket: u32, record: Record) {
        let name = record.key().to_string();
        let key = self.keys.entry(name.clone()).or_default();
        let first = key.waiting.is_empty();
        key.waiting.push_back(Queued {
            seq,
            bucket,
            record,
        });
        let eligible = first && key.with_sender < PER_KEY;
        self.waiting += 1;
        self.count(bucket, 1);
        if eligible {
            self.eligible.insert(seq, name);
        }
    }

    /// The oldest record that may go to the sender now, with its bucket.
    pub fn pop(&mut self) -> Option<(u64, u32, Record)> {
        let (_, name) = self.eligible.pop_first()?;
        let key = self.keys.get_mut(&name)?;
        let next = key.waiting.pop_front()?;
        self.waiting -= 1;
        let bucket = next.bucket;
        key.with_sender += 1;
        if key.with_sender < PER_KEY {
            if let Some(after) = key.waiting.front() {
                self.eligible.insert(after.seq, name.clone());
            }
        }
        self.with_sender.insert(next.seq, name);
        self.count(bucket, -1);
        Some((next.seq, bucket, next.record))
    }

    /// The sender finished record `seq`: its key may send another.
    pub fn finished(&mut self, seq: u64) {
        let Some(name) = self.with_sender.remove(&seq) else {
            return;
        };
        let Some(key) = self.keys.get_mut(&name) else {
            return;
        };
        key.with_sender -= 1;
        match key.waiting.front() {
            Some(next) if key.with_sender + 1 == PER_KEY => {
                self.eligible.insert(next.seq, name);
            }
            Some(_) => {}
            None if key.with_sender == 0 => {
                self.keys.remove(&name);
            }
            None => {}
        }
    }

    /// Drops every waiting record of `bucket` (handed over to another worker: they stay
    /// pending); returns their sequence numbers.
    pub fn remove_bucket(&mut self, bucket: u32) -> Vec<u64> {
        let mut seqs = Vec::new();
        for key in self.keys.values_mut() {
            if key.waiting.front().is_some_and(|q| q.bucket == bucket) {
                // A key's records all share its bucket.
                self.eligible.remove(&key.waiting[0].seq);
                seqs.extend(key.waiting.drain(..).map(|q| q.seq));
            }
        }
        self.waiting -= seqs.len();
        self.by_bucket.remove(&bucket);
        self.keys
            .retain(|_, k| !k.waiting.is_empty() || k.with_sender > 0);
        seqs
    }
}

#[cfg(test)]
mod tests {
    use preventor::compliance::types::MonetaryTransaction;

    use super::*;

    fn record(account: &str, id: u64) -> Record {
        Record::from(
            serde_json::from_value::<MonetaryTransaction>(serde_json::json!({
                "id": format!("tx-{id}"), "account_number": account,
                "trans_amount": "1.00", "trans_currency": "PEN"
            }))
            .unwrap(),
        )
    }

    fn pop_seqs(q: &mut Queue) -> Vec<u64> {
        std::iter::from_fn(|| q.pop().map(|(seq, _, _)| seq)).collect()
    }

    #[test]
    fn oldest_first_and_a_key_held_back_holds_back_only_itself() {
        let mut q = Queue::default();
        // Key a: seqs 1..=5; key b: 6..=8.
        for seq in 1..=5 {
            q.push(seq, 0, record("a", seq));
        }
        for seq in 6..=8 {
            q.push(seq, 1, record("b", seq));
        }
        assert_eq!(
            pop_seqs(&mut q),
            [1, 2, 6, 7],
            "two of each key, oldest first"
        );
        assert_eq!(q.waiting(), 4);
        assert_eq!((q.waiting_in(0), q.waiting_in(1)), (3, 1));
        assert_eq!(q.fullest_bucket(), Some((0, 3)));
        // Key a's first answer came back: its next may go; key b is still held back.
        q.finished(1);
        assert_eq!(pop_seqs(&mut q), [3]);
        q.finished(6);
        q.finished(2);
        assert_eq!(pop_seqs(&mut q), [4, 8]);
        q.finished(999); // never handed over: ignored
        assert_eq!(pop_seqs(&mut q), Vec::<u64>::new());
    }

    #[test]
    fn a_bucket_handed_over_leaves_with_its_waiting_records_only() {
        let mut q = Queue::default();
        for seq in 1..=4 {
            q.push(seq, 7, record("a", seq));
        }
        q.push(5, 8, record("b", 5));
        assert_eq!(pop_seqs(&mut q), [1, 2, 5]);
        assert_eq!(q.fullest_bucket(), Some((7, 2)));
        assert_eq!(q.remove_bucket(7), [3, 4]);
        assert_eq!(q.waiting(), 0);
        assert_eq!((q.waiting_in(7), q.fullest_bucket()), (0, None));
        q.finished(1);
        q.finished(2);
        assert_eq!(
            pop_seqs(&mut q),
            Vec::<u64>::new(),
            "nothing of bucket 7 left"
        );
        // The key comes back with the bucket's next lease.
        q.push(9, 7, record("a", 9));
        assert_eq!(pop_seqs(&mut q), [9]);
    }
}
