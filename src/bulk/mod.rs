//! Sending a whole customer base or transaction feed: one outcome per record, safely.
//!
//! Preventor takes one record per call. [`send`] runs that loop for you:
//!
//! * **Adaptive concurrency, then pace**: starts at [`BulkOptions::concurrency`], doubles every
//!   round trip until the first sign of overload, then grows by about one call in flight per
//!   round, halves on a burst of 5xx (a lone 503 among successes is a hiccup, not overload),
//!   never above [`BulkOptions::max_concurrency`]. A 429 shows the server's rate limit: sends
//!   are then paced just below the rate it acknowledged over the last second (probing above it
//!   after a few quiet seconds, except in a feed's last seconds: [`Ending`]), and the refused
//!   record waits its `Retry-After`. A `Retry-After` over
//!   two seconds (a server asking everyone to wait) pauses every send and halves the calls in
//!   flight.
//! * **Order per key**: records with the same key (a customer's `id`; an account's or a
//!   transaction's `account_number`) go one at a time, in input order; other keys in parallel.
//! * **Nothing sent twice that may have landed**: a 429 is the server refusing for rate (RFC
//!   6585), so the record waits `Retry-After` and is sent again; a timeout after sending, a lost
//!   connection or a 5xx is [`Outcome::Ambiguous`] and is not resent. A customer create that
//!   ends ambiguous is **reconciled** with `getCustomer`: found, it is acknowledged; absent
//!   (404), it is sent once more (at most twice in all: a create answered 5xx and read back as
//!   absent both times ends [`Outcome::Failed`], known not stored). Accounts and transactions
//!   have no read call: they stay ambiguous, for an operator to decide.
//! * **What earlier runs did**: a [`Ledger`] says what it knows of each record ([`Prior`]):
//!   settled records and records whose content changed are reported, not sent; a customer
//!   create an earlier run may have sent is read back before anything is sent; other such
//!   records wait for [`BulkOptions::resend_ambiguous`]; any of them answered "already exists"
//!   ([`Error::is_already_exists`](crate::Error::is_already_exists)) is acknowledged
//!   (reconciled): it arrived the first time.
//! * **Stopping cleanly**: cancel [`BulkOptions::stop`] and `send` reads no more input, lets the
//!   calls in flight end (each within the client's timeouts), and reports every record it had
//!   read but not sent as [`Outcome::Stopped`].
//! * **Sharding**: [`Shard`] splits one feed between processes or machines by a stable hash of
//!   the key, so that they never overlap and per-key order holds.
//! * **A ledger** ([`Ledger`]) hears of each record before it is sent and of each outcome: the
//!   `preventor` CLI keeps a durable journal with it, so that a rerun skips what was done.
//!
//! ```no_run
//! # async fn run(client: preventor::ComplianceClient, feed: Vec<preventor::compliance::types::MonetaryTransaction>) -> preventor::Result<()> {
//! use preventor::bulk::{send, BulkOptions, NoLedger, Outcome, Record};
//! let records = futures::stream::iter(
//!     feed.into_iter().enumerate().map(|(i, t)| (i as u64, Record::from(t))),
//! );
//! let summary = send(&client, records, &BulkOptions::default(), &mut NoLedger, |done| {
//!     if let Outcome::Rejected { status, message, .. } = &done.outcome {
//!         eprintln!("record {} ({}) rejected: {status:?} {message:?}", done.seq, done.id);
//!     }
//! })
//! .await?;
//! println!("{} acknowledged, {} ambiguous", summary.acknowledged, summary.ambiguous);
//! # Ok(())
//! # }
//! ```

mod ending;
mod engine;
mod gauges;
mod limiter;
mod pacer;
mod ready;

use crate::compliance::types::{Account, Customer, MonetaryTransaction, RequestType};

pub use ending::Ending;
pub use engine::send;
pub use gauges::{Gauges, Sample};

/// One record of a feed.
#[derive(Clone, Debug)]
pub enum Record {
    /// `customerOnboarding` (request type A) or `customerMaintenance` (U, D).
    Customer(Customer),
    /// `accountOnboarding`.
    Account(Account),
    /// `registerMonetaryTransaction` (boxed: a transaction is much larger than the others).
    Transaction(Box<MonetaryTransaction>),
}

impl From<Customer> for Record {
    fn from(c: Customer) -> Self {
        Record::Customer(c)
    }
}

impl From<Account> for Record {
    fn from(a: Account) -> Self {
        Record::Account(a)
    }
}

impl From<MonetaryTransaction> for Record {
    fn from(t: MonetaryTransaction) -> Self {
        Record::Transaction(Box::new(t))
    }
}

impl Record {
    /// The key that orders records: a customer's `id`, else the `account_number`.
    pub fn key(&self) -> &str {
        match self {
            Record::Customer(c) => c.id.as_str(),
            Record::Account(a) => a.account_number.as_str(),
            Record::Transaction(t) => t.account_number.as_str(),
        }
    }

    /// The record's own id.
    pub fn id(&self) -> &str {
        match self {
            Record::Customer(c) => c.id.as_str(),
            Record::Account(a) => a.id.as_str(),
            Record::Transaction(t) => t.id.as_str(),
        }
    }

    /// The operationId the record is sent with.
    pub fn operation(&self) -> &'static str {
        match self {
            Record::Customer(c) if c.request_type == RequestType::A => "customerOnboarding",
            Record::Customer(_) => "customerMaintenance",
            Record::Account(_) => "accountOnboarding",
            Record::Transaction(_) => "registerMonetaryTransaction",
        }
    }

    /// Whether a lost answer can be settled by reading the record back (a customer create).
    fn reconcilable(&self) -> bool {
        matches!(self, Record::Customer(c) if c.request_type == RequestType::A)
    }
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The server took it. `reconciled`: an earlier send's answer was lost, and the record's
    /// fate was settled another way (`getCustomer` found it, or found nothing and a send was
    /// then acknowledged, or a resend was answered "already exists").
    Acknowledged {
        /// Settled after a lost answer, by reading back or by "already exists".
        reconciled: bool,
    },
    /// The record is wrong (a 4xx other than 401/429, or refused before sending): never resent.
    Rejected {
        /// The HTTP status; `None` when refused before sending.
        status: Option<u16>,
        /// The server's code.
        code: Option<String>,
        /// The server's message (scrubbed, one line), or what was wrong.
        message: Option<String>,
    },
    /// The request may have reached the server, and no answer says what became of it (a
    /// timeout after sending, a lost connection, a 5xx). Not resent automatically.
    Ambiguous {
        /// What happened.
        reason: String,
    },
    /// Not sent, or sent and refused without being processed, and given up on (credentials
    /// refused, connection impossible, rate-limited too many times, a create read back as
    /// absent after its sends failed). Safe to send again.
    Failed {
        /// What happened.
        reason: String,
    },
    /// Not sent because the run was stopped ([`BulkOptions::stop`]), or answered 429 after the
    /// stop: nothing of it was processed. Send it in a later run.
    Stopped,
    /// Not sent: an earlier run settled it ([`Prior::Acknowledged`] or [`Prior::Rejected`]).
    AlreadySettled {
        /// Acknowledged (else rejected) by that run.
        acknowledged: bool,
    },
    /// Not sent: its content changed since an earlier run sent it ([`Prior::Changed`]).
    Changed,
}

/// One record's outcome.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The sequence number the record came with (a line number, say).
    pub seq: u64,
    /// The operationId used.
    pub operation: &'static str,
    /// The record's key.
    pub key: String,
    /// The record's id.
    pub id: String,
    /// What became of it.
    pub outcome: Outcome,
}

/// Counts of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Records acknowledged (reconciled ones included).
    pub acknowledged: u64,
    /// Of those, settled after a lost answer (read back, or "already exists").
    pub reconciled: u64,
    /// Records rejected.
    pub rejected: u64,
    /// Records whose fate is unknown.
    pub ambiguous: u64,
    /// Records given up on without being processed.
    pub failed: u64,
    /// Records left to other shards.
    pub other_shards: u64,
    /// Records not sent because the run was stopped.
    pub stopped: u64,
    /// Records not sent because an earlier run settled them.
    pub already_settled: u64,
    /// Records not sent because their content changed since an earlier run sent them.
    pub changed: u64,
    /// 429 answers waited out and sent again.
    pub rate_limited: u64,
}

/// How [`send`] behaves. Built from [`BulkOptions::default`] and its setters, so that a new
/// option is never a breaking change:
///
/// ```
/// let options = preventor::bulk::BulkOptions::default()
///     .concurrency(32)
///     .max_concurrency(512)
///     .resend_ambiguous(true);
/// assert_eq!(options.concurrency, 32);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BulkOptions {
    /// Calls in flight at the start (default 16).
    pub concurrency: usize,
    /// Most calls in flight (default 256).
    pub max_concurrency: usize,
    /// Only the records of this shard are sent.
    pub shard: Option<Shard>,
    /// How many 429s one record may wait out before it is given up on ([`Outcome::Failed`]).
    pub max_rate_limited: u32,
    /// How many records may wait for a busy key (bounds memory: input is read no further).
    pub lookahead: usize,
    /// Cancel it to stop the run cleanly: no more input is read, the calls in flight end and
    /// are recorded, and records read but not sent end [`Outcome::Stopped`].
    pub stop: Option<tokio_util::sync::CancellationToken>,
    /// Send again the accounts and transactions an earlier run may have sent
    /// ([`Prior::MaybeSent`]): an operator's decision, since they may have been processed.
    /// Customer creates are always read back first instead.
    pub resend_ambiguous: bool,
    /// Kept up to date while the run goes: calls in flight, the limit, outcomes, 429s and
    /// latencies, for sampling from another task.
    pub gauges: Option<std::sync::Arc<Gauges>>,
    /// Set by the caller when the feed is about to end: the pace then stops probing above the
    /// server's limit (see [`Ending`]). `send` also holds it on its own once its input ended
    /// and what is left would take only a few seconds.
    pub ending: Option<Ending>,
}

impl Default for BulkOptions {
    fn default() -> Self {
        BulkOptions {
            concurrency: 16,
            max_concurrency: 256,
            shard: None,
            max_rate_limited: 50,
            lookahead: 4096,
            stop: None,
            resend_ambiguous: false,
            gauges: None,
            ending: None,
        }
    }
}

impl BulkOptions {
    /// Sets [`BulkOptions::concurrency`].
    pub fn concurrency(mut self, calls: usize) -> Self {
        self.concurrency = calls;
        self
    }
    /// Sets [`BulkOptions::max_concurrency`].
    pub fn max_concurrency(mut self, calls: usize) -> Self {
        self.max_concurrency = calls;
        self
    }
    /// Sets [`BulkOptions::shard`].
    pub fn shard(mut self, shard: Option<Shard>) -> Self {
        self.shard = shard;
        self
    }
    /// Sets [`BulkOptions::max_rate_limited`].
    pub fn max_rate_limited(mut self, times: u32) -> Self {
        self.max_rate_limited = times;
        self
    }
    /// Sets [`BulkOptions::lookahead`].
    pub fn lookahead(mut self, records: usize) -> Self {
        self.lookahead = records;
        self
    }
    /// Sets [`BulkOptions::stop`].
    pub fn stop(mut self, stop: tokio_util::sync::CancellationToken) -> Self {
        self.stop = Some(stop);
        self
    }
    /// Sets [`BulkOptions::resend_ambiguous`].
    pub fn resend_ambiguous(mut self, resend: bool) -> Self {
        self.resend_ambiguous = resend;
        self
    }
    /// Sets [`BulkOptions::gauges`].
    pub fn gauges(mut self, gauges: std::sync::Arc<Gauges>) -> Self {
        self.gauges = Some(gauges);
        self
    }
    /// Sets [`BulkOptions::ending`].
    pub fn ending(mut self, ending: Ending) -> Self {
        self.ending = Some(ending);
        self
    }
}

/// Shard `index` of `count` (`index` from 0): a record belongs to it when the stable hash of its
/// key (FNV-1a, 64 bits) modulo `count` is `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// This shard, from 0.
    pub index: u32,
    /// How many shards.
    pub count: u32,
}

impl Shard {
    /// Parses `i/n` (`0/4` .. `3/4`).
    pub fn parse(text: &str) -> crate::Result<Shard> {
        let bad =
            || crate::Error::invalid_input("shard", format!("{text:?} is not i/n with 0 <= i < n"));
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// The shard of `count` that records with `key` belong to (`count` > 0).
    pub fn of(key: &str, count: u32) -> Shard {
        let count = count.max(1);
        Shard {
            index: (fnv1a(key.as_bytes()) % u64::from(count)) as u32,
            count,
        }
    }

    /// Whether records with `key` belong to this shard.
    pub fn owns(&self, key: &str) -> bool {
        (fnv1a(key.as_bytes()) % u64::from(self.count)) as u32 == self.index
    }
}

/// FNV-1a, 64 bits: stable across versions, platforms and processes (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// What a [`Ledger`] knows of a record from earlier runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Prior {
    /// Never sent, or known not to have been processed: sent as any record.
    #[default]
    Unsent,
    /// Sent by an earlier run with no answer saying what became of it (ambiguous, or in flight
    /// when that run stopped). A customer create is read back before it is sent again; other
    /// records are sent again only with [`BulkOptions::resend_ambiguous`] (else they end
    /// [`Outcome::Ambiguous`] once more); an "already exists" answer settles it as acknowledged.
    MaybeSent,
    /// An operator decided to send it again although an earlier run may have sent it: sent
    /// whatever [`BulkOptions::resend_ambiguous`] says (a customer create is read back first);
    /// an "already exists" answer settles it as acknowledged.
    Resend,
    /// Acknowledged by an earlier run, with the same content: not sent
    /// ([`Outcome::AlreadySettled`]).
    Acknowledged,
    /// Rejected by an earlier run, with the same content: not sent (a corrected record has
    /// other content, and is [`Prior::Unsent`]).
    Rejected,
    /// Its content changed since an earlier run sent it (acknowledged, or without an answer):
    /// not sent ([`Outcome::Changed`]); an operator decides.
    Changed,
}

/// A ledger's answer to [`Ledger::sending`]: resolves once the marks are durable, or with the
/// error that stops the run.
pub type Durable = futures::future::BoxFuture<'static, crate::Result<()>>;

/// Told of each record before it is sent and of each outcome (a durable journal, say).
///
/// [`send`] never waits on the ledger's storage to keep calls in flight: [`sending`] returns at
/// once with a [`Durable`] future, and the batch's records are sent when it resolves; outcomes
/// are handed over with [`finished`], which must only buffer them. A journal on a thread of its
/// own fits: it commits whatever marks and outcomes arrived while its last commit ran (group
/// commit), so a slower disk makes bigger batches, not a slower feed.
///
/// [`sending`]: Ledger::sending
/// [`finished`]: Ledger::finished
pub trait Ledger {
    /// What earlier runs did with the record `seq`, asked once when [`send`] reads it. The
    /// default knows of no earlier run.
    fn prior(&mut self, seq: u64) -> Prior {
        let _ = seq;
        Prior::Unsent
    }
    /// These records (by `seq`) are about to be sent: record that durably. Return at once; none
    /// of them is sent before the returned future resolves `Ok`, so a crash (of the process or
    /// the machine) after it resolves leaves them marked as possibly sent. An error stops the
    /// run: nothing of the batch is sent, the calls in flight end, and [`send`] returns it.
    fn sending(&mut self, seqs: &[u64]) -> Durable;
    /// What became of one record. Buffer it: it need not be durable before [`send`] goes on
    /// (a crash may lose it; the record is then still marked as possibly sent).
    fn finished(&mut self, sent: &Sent) -> crate::Result<()>;
    /// The run is over: resolves once every outcome handed over is durable. The default has
    /// nothing to wait for.
    fn close(&mut self) -> Durable {
        Box::pin(async { Ok(()) })
    }
}

/// A [`Ledger`] that records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLedger;

impl Ledger for NoLedger {
    fn sending(&mut self, _: &[u64]) -> Durable {
        Box::pin(async { Ok(()) })
    }
    fn finished(&mut self, _: &Sent) -> crate::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_keys_stably_and_completely() {
        let shards: Vec<_> = (0..4)
            .map(|i| Shard::parse(&format!("{i}/4")).unwrap())
            .collect();
        for n in 0..1000 {
            let key = format!("acc-{n}");
            assert_eq!(shards.iter().filter(|s| s.owns(&key)).count(), 1, "{key}");
            assert!(shards[Shard::of(&key, 4).index as usize].owns(&key));
        }
        // FNV-1a test vectors: the split never changes between versions.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        for bad in ["4/4", "1", "a/b", "0/0"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
