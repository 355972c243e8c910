//! Pacing at the server's rate, once a 429 has shown where it is.
//!
//! Before the first 429 nothing is paced (the concurrency limit alone grows). A 429 says the
//! server's limit was crossed. While 429s keep coming (an overload episode), the rate the
//! server acknowledged since the episode began is its limit, near enough (a server's burst
//! allowance is spent by then); at the episode's first 429 the last second's rate stands in.
//! A first 429 less than a second after the first send follows the server's burst allowance
//! (commonly a second of its rate, a token bucket that starts full) and its rate since: what
//! went through counts over a second plus that time, and the burst it shows is the depth of the
//! pace's own bucket (90% of it) for three seconds after a 429, so that after a spell without
//! sends (keys waiting out their `Retry-After`) the pace spends what the server refilled
//! meanwhile, as the server would. Later, a spell without sends is input running dry, and
//! other senders on the limit may have used what it left: 50 ms of the pace at most at once.
//! Sends are paced a little below that estimate, re-measured at most every 200 ms; never above
//! the pace in force (a second after a slower spell, the server's burst allowance lets through
//! more than its limit, and that second's rate is not the limit). Each second without a 429 in
//! which the sends used at least 90% of the pace, the pace rises: for the first five seconds
//! after a 429 only up to just below the rate that 429 measured (a 429 holds its record's key
//! back a whole `Retry-After`, and one in a feed's last second ended the feed a second late:
//! measured, most keys done and a few waiting), then beyond it, by 1% after the first such
//! second, then twice as much each further one (2%, 4%, at most 8% a second): a limit that
//! grows, or a share of it that other senders left (workers of one feed ending at different
//! times), is found again within seconds. A pace the sends did not use (the keys, not the pace,
//! bounded them) does not rise: it
//! would climb far above the limit unseen, and the next 429 would find it there. A refused
//! record itself waits its `Retry-After` (the engine's part); the others go on at the pace
//! instead of all stopping for a whole second. In a feed's last seconds
//! ([`Ending`](super::Ending), or the input ended with little left) the pace does not probe at
//! all: a 429 there would delay the feed's end by its `Retry-After`.

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// How far back acknowledged answers are counted.
const WINDOW: Duration = Duration::from_secs(1);
/// The pace below the measured rate.
const BELOW: f64 = 0.99;
/// The rise after the first second without a 429 (it doubles each further quiet second).
const PROBE: f64 = 0.01;
/// Before [`PROBE_AFTER`] without a 429, the pace rises no further than this share of the rate
/// the last 429 measured.
const HOLD: f64 = 0.995;
/// How long without a 429 before the pace rises beyond the rate measured (probing for a limit
/// that grew, or a share other senders left).
const PROBE_AFTER: Duration = Duration::from_secs(5);
/// The share of the pace the sends must have used for it to rise.
const USED: f64 = 0.9;
/// Most doublings of the rise.
const PROBE_DOUBLINGS: u32 = 3;
/// 429s closer together than this are measured once.
const SPACING: Duration = Duration::from_millis(200);
/// A 429 after this long without one begins a new overload episode.
const QUIET: Duration = Duration::from_secs(1);
/// An episode this long measures the server's rate on its own.
const EPISODE: Duration = Duration::from_millis(100);
/// How many sends may go at once, in seconds of the pace (and at least one).
const DEPTH: f64 = 0.05;
/// The share of the server's burst allowance the pace may spend at once after a spell without
/// sends that follows a 429 (a server refills its allowance while no call comes).
const BURST_USE: f64 = 0.9;
/// How long after a 429 the pace's bucket is that deep (the refused keys' `Retry-After` and a
/// second more); later, a spell without sends is input running dry, and other senders on the
/// same limit may have used what it left.
const BURST_SPELL: Duration = Duration::from_secs(3);
/// With the server's rate limit fields: below this share of its quota left, the pace falls
/// (or, unpaced, begins); above [`HIGH`], it rises; between, it holds.
const LOW: f64 = 0.1;
const HIGH: f64 = 0.2;
/// With the server's fields, the pace changes at most this often.
const ADJUST: Duration = Duration::from_millis(50);
/// The fall and the rise of the pace with the server's fields, per [`ADJUST`].
const FALL: f64 = 0.95;
const RISE: f64 = 0.1;
/// Paced sends go in batches of this many seconds of the pace (and at least one): each batch is
/// one ledger commit, so the pace must not cost a commit per record.
const BATCH: f64 = 0.02;

/// The pace of sends, once known.
#[derive(Debug)]
pub(crate) struct Pacer {
    /// When each answer of the last [`WINDOW`] was acknowledged.
    acknowledged: VecDeque<Instant>,
    /// Sends a second, once a 429 was seen.
    rate: Option<f64>,
    /// What the last 429 measured the server let through (before [`BELOW`]).
    measured_rate: f64,
    tokens: f64,
    refilled: Instant,
    /// The last 429 measured, the last 429, and the last rise.
    measured: Option<Instant>,
    last_429: Option<Instant>,
    raised: Instant,
    /// Rises since the last 429.
    rises: u32,
    /// Sends since the last rise (or 429): a pace they did not nearly use up does not rise.
    sent: f64,
    /// Acknowledged answers in all.
    total: u64,
    /// When the first acknowledged call was sent.
    first_sent: Option<Instant>,
    /// The server's burst allowance, as the first 429 showed it (records; 0 when unknown).
    burst: f64,
    /// The current overload episode: when it began, and `total` then.
    episode: (Instant, u64),
    /// The feed ends within seconds: the pace does not probe.
    ending: bool,
    /// The server sends its rate limit fields: they steer the pace.
    informed: Option<Informed>,
}

/// What the server's rate limit fields told the pacer so far.
#[derive(Debug)]
struct Informed {
    /// The answer last read (its arrival), so that one answer is read once.
    seen: Instant,
    /// The last change of the pace.
    adjusted: Instant,
    /// The most requests left the server stated (its quota, when it states no policy).
    most_left: u64,
    /// Requests left at the last change of the pace: with the time since, how fast the
    /// quota is being used beyond its renewal.
    left_then: f64,
}

impl Pacer {
    pub(crate) fn new(now: Instant) -> Self {
        Pacer {
            acknowledged: VecDeque::new(),
            rate: None,
            measured_rate: 0.0,
            tokens: 0.0,
            refilled: now,
            measured: None,
            last_429: None,
            raised: now,
            rises: 0,
            sent: 0.0,
            total: 0,
            first_sent: None,
            burst: 0.0,
            episode: (now, 0),
            ending: false,
            informed: None,
        }
    }

    /// The server's rate limit fields from its latest answer: how much of its quota is left
    /// steers the pace, before any 429. Below a tenth left, sends are paced (at the rate
    /// acknowledged over the last second, no higher than the stated policy) and, every 50 ms
    /// while it stays that low, the pace falls by the share the senders together overuse
    /// (the policy's rate against that rate plus how fast the quota fell; 5% at least, 5% when
    /// no policy is stated); above a fifth left, it rises 10% every 50 ms (no higher than the
    /// policy); between, it holds. Senders that share the limit (shards, workers) all see the
    /// same quota fall and slow together, so it rests between the two marks: the limit is
    /// used without being crossed.
    pub(crate) fn server_fields(&mut self, status: &crate::RateLimitStatus, now: Instant) {
        if self
            .informed
            .as_ref()
            .is_some_and(|i| status.observed_at <= i.seen)
        {
            return;
        }
        let informed = self.informed.get_or_insert(Informed {
            seen: status.observed_at,
            adjusted: now.checked_sub(ADJUST).unwrap_or(now),
            most_left: 0,
            left_then: status.remaining as f64,
        });
        informed.seen = status.observed_at;
        informed.most_left = informed.most_left.max(status.remaining);
        let quota = status.policy.map_or(informed.most_left, |p| p.quota.max(1)) as f64;
        let ceiling = status.policy.map_or(f64::INFINITY, |p| p.per_second());
        let left = status.remaining as f64;
        let since = now.duration_since(informed.adjusted);
        if since < ADJUST {
            return;
        }
        // All senders together use the quota at its renewal rate plus how fast it falls: the
        // share to keep of this sender's pace, where the server states its policy.
        let falling = (informed.left_then - left) / since.as_secs_f64();
        let keep = status.policy.map_or(FALL, |p| {
            let used = p.per_second() + falling;
            (p.per_second() / used.max(1.0)).clamp(0.1, FALL)
        });
        informed.left_then = left;
        match self.rate {
            None if left < quota * LOW => {
                let pace = self.last_second_rate(now).min(ceiling).max(1.0);
                self.rate = Some(pace);
                self.measured_rate = pace;
                self.refilled = now;
                self.tokens = 0.0;
            }
            None => return,
            Some(rate) if left < quota * LOW => self.rate = Some((rate * keep).max(1.0)),
            Some(rate) if left > quota * HIGH => {
                self.rate = Some((rate * (1.0 + RISE)).min(ceiling).max(rate.min(ceiling)))
            }
            Some(_) => return,
        }
        if let Some(i) = &mut self.informed {
            i.adjusted = now;
        }
        self.raised = now;
        self.sent = 0.0;
    }

    /// Sends a second it allows now (`None`: unpaced, no 429 and no server fields yet).
    pub(crate) fn pace(&self) -> Option<f64> {
        self.rate
    }

    /// Whether the feed ends within seconds: while it does, the pace rises no further than
    /// just below the rate the last 429 measured, whenever that was.
    pub(crate) fn set_ending(&mut self, ending: bool) {
        self.ending = ending;
    }

    /// Seconds the pace takes to send `records`; `None` before it is known.
    pub(crate) fn seconds_for(&self, records: usize) -> Option<f64> {
        self.rate.map(|rate| records as f64 / rate.max(1.0))
    }

    fn trim(&mut self, now: Instant) {
        while self
            .acknowledged
            .front()
            .is_some_and(|at| now.duration_since(*at) > WINDOW)
        {
            self.acknowledged.pop_front();
        }
    }

    /// The rate acknowledged over the last [`WINDOW`], or over the time since the first answer
    /// in it (a tenth of the window at least).
    fn last_second_rate(&mut self, now: Instant) -> f64 {
        self.trim(now);
        let span = self
            .acknowledged
            .front()
            .map_or(WINDOW, |first| now.duration_since(*first))
            .clamp(WINDOW / 10, WINDOW);
        self.acknowledged.len() as f64 / span.as_secs_f64()
    }

    /// An answer the server acknowledged, to a call sent at `sent_at`.
    pub(crate) fn acknowledged(&mut self, now: Instant, sent_at: Option<Instant>) {
        self.total += 1;
        self.first_sent = match (self.first_sent, sent_at) {
            (Some(first), Some(at)) => Some(first.min(at)),
            (first, at) => first.or(at),
        };
        self.acknowledged.push_back(now);
        self.trim(now);
        let quiet = self
            .last_429
            .is_none_or(|at| now.duration_since(at) >= QUIET);
        if let (Some(rate), None) = (&mut self.rate, &self.informed) {
            if quiet && now.duration_since(self.raised) >= WINDOW {
                let allowed = *rate * now.duration_since(self.raised).as_secs_f64();
                if self.sent >= allowed * USED {
                    let probing = !self.ending
                        && self
                            .last_429
                            .is_none_or(|at| now.duration_since(at) >= PROBE_AFTER);
                    if probing {
                        *rate *= 1.0 + PROBE * f64::from(1u32 << self.rises.min(PROBE_DOUBLINGS));
                        self.rises += 1;
                    } else {
                        // Up to the rate measured, not beyond: a 429 in the last seconds of
                        // a feed holds its key back a whole `Retry-After`.
                        *rate = (*rate * (1.0 + PROBE))
                            .min(self.measured_rate * HOLD)
                            .max(*rate);
                    }
                }
                self.raised = now;
                self.sent = 0.0;
            }
        }
    }

    /// A 429 to a call sent at `sent_at`: pace just below what the server acknowledged over
    /// the last second. False when it acknowledged nothing in that second: nothing to measure,
    /// no pace.
    pub(crate) fn rate_limited(&mut self, now: Instant, sent_at: Option<Instant>) -> bool {
        if self
            .last_429
            .is_none_or(|at| now.duration_since(at) >= QUIET)
        {
            self.episode = (now, self.total);
        }
        self.last_429 = Some(now);
        self.rises = 0;
        if self
            .measured
            .is_some_and(|at| now.duration_since(at) < SPACING)
        {
            return self.rate.is_some();
        }
        self.trim(now);
        let (began, total_then) = self.episode;
        let episode = now.duration_since(began);
        let measured = if episode >= EPISODE {
            (self.total - total_then) as f64 / episode.as_secs_f64()
        } else {
            match self.rate {
                // Crossing the limit at this pace says the limit is below it, whatever the
                // server's burst allowance let through in the last second.
                Some(rate) => self.last_second_rate(now).min(rate),
                // Unpaced until now. Refused less than a second after the first send: what
                // the server let through is its burst allowance (commonly a second of its
                // rate) and its rate since, so over a second plus that time it is the rate.
                // Later: what the last second let through, over the whole second. If this is
                // too high, the episode's next 429 measures the limit alone; too low, the
                // probing finds it.
                None => match (self.first_sent, sent_at) {
                    (Some(first), Some(refused)) if refused.duration_since(first) < WINDOW => {
                        let since = refused.duration_since(first).as_secs_f64();
                        let rate = self.total as f64 / (WINDOW.as_secs_f64() + since);
                        self.burst = self.total as f64 - rate * since;
                        rate
                    }
                    _ => self.acknowledged.len() as f64 / WINDOW.as_secs_f64(),
                },
            }
        };
        if measured < 1.0 {
            // Nothing acknowledged to measure by.
            return self.rate.is_some();
        }
        self.rate = Some(measured * BELOW);
        self.measured_rate = measured;
        self.measured = Some(now);
        self.raised = now;
        self.sent = 0.0;
        self.refilled = now;
        self.tokens = 0.0;
        true
    }

    /// How many of `wanted` sends may go now: all before the first 429; then none until a
    /// batch's worth of the pace (or `wanted`, if fewer) has accrued.
    pub(crate) fn allowance(&mut self, now: Instant, wanted: usize) -> usize {
        let Some(rate) = self.rate else {
            return wanted;
        };
        // Right after a 429, a spell without sends is the refused keys waiting: the server
        // refilled meanwhile. Later it is input running dry, and others may have used it.
        let refill_spell = self
            .last_429
            .is_some_and(|at| now.duration_since(at) < BURST_SPELL);
        let burst = if refill_spell { self.burst } else { 0.0 };
        let depth = (rate * DEPTH).max(burst * BURST_USE).max(1.0);
        self.tokens =
            (self.tokens + now.duration_since(self.refilled).as_secs_f64() * rate).min(depth);
        self.refilled = now;
        if self.tokens < self.batch(rate, wanted) {
            return 0;
        }
        (self.tokens as usize).min(wanted)
    }

    /// The sends a paced batch waits for.
    fn batch(&self, rate: f64, wanted: usize) -> f64 {
        (rate * BATCH).max(1.0).min(wanted.max(1) as f64).floor()
    }

    /// `n` sends went.
    pub(crate) fn take(&mut self, n: usize) {
        if self.rate.is_some() {
            self.tokens -= n as f64;
            self.sent += n as f64;
        }
    }

    /// When the next batch of `wanted` sends may go, if it must wait.
    pub(crate) fn next_at(&self, now: Instant, wanted: usize) -> Option<Instant> {
        let rate = self.rate?;
        let batch = self.batch(rate, wanted);
        (self.tokens < batch).then(|| now + Duration::from_secs_f64((batch - self.tokens) / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pacer that saw 1,000 acknowledged in its first second, then a 429: its start, itself,
    /// and its pace.
    fn paced_after_a_second_of_1000() -> (Instant, Pacer, f64) {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        for i in 0..1000 {
            p.acknowledged(start + Duration::from_millis(i), None);
        }
        assert!(p.rate_limited(start + WINDOW, None));
        let paced = p.rate.unwrap();
        (start, p, paced)
    }

    #[test]
    fn unpaced_until_a_429_then_just_below_the_acknowledged_rate() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        assert_eq!(p.allowance(start, 7), 7, "unpaced");
        // 1,000 acknowledged over the last second, then a 429.
        for i in 0..1000 {
            p.acknowledged(start + Duration::from_micros(i * 1000), None);
        }
        let now = start + WINDOW;
        assert!(p.rate_limited(now, None));
        let rate = p.rate.unwrap();
        assert!((985.0..=995.0).contains(&rate), "{rate}");
        // Paced: batches of 20 ms of the pace, 50 ms of it at most at once.
        assert_eq!(p.allowance(now, 100), 0);
        assert_eq!(
            p.allowance(now + Duration::from_millis(10), 100),
            0,
            "not a batch yet"
        );
        let later = now + Duration::from_millis(100);
        let n = p.allowance(later, 100);
        assert_eq!(n, 49, "depth 50 ms: {n}");
        p.take(n);
        assert!(p.next_at(later, 100).is_some());
        assert_eq!(
            p.allowance(later + Duration::from_millis(2), 1),
            1,
            "one wanted, one goes"
        );
        // A second 429 at once is the same overload.
        assert!(p.rate_limited(later, None));
        assert_eq!(p.rate, Some(rate));
        // Later in the episode, the rate acknowledged since it began: 500 in 500 ms.
        for i in 0..500 {
            p.acknowledged(now + Duration::from_millis(i), None);
        }
        assert!(p.rate_limited(now + Duration::from_millis(500), None));
        let episode = p.rate.unwrap();
        assert!((985.0..=995.0).contains(&episode), "{episode}");
        // Nothing acknowledged: nothing to measure.
        assert!(!Pacer::new(start).rate_limited(start, None));
    }

    #[test]
    fn a_first_429_within_a_second_counts_the_burst_once_and_the_pace_spends_it_after_a_pause() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        // A server one second deep at 1,000/s: its burst of 1,000 and 300 ms of its rate went
        // through, then a call sent at 300 ms was refused.
        for i in 0..1300u64 {
            let sent = start + Duration::from_micros(i * 230);
            p.acknowledged(sent + Duration::from_millis(1), Some(sent));
        }
        let refused = start + Duration::from_millis(300);
        assert!(p.rate_limited(refused + Duration::from_millis(1), Some(refused)));
        let rate = p.rate.unwrap();
        assert!(
            (rate - 1000.0 * BELOW).abs() < 1.0,
            "the rate, not 1,300: {rate}"
        );
        // A second with nothing sent (the refused keys wait their Retry-After): the server's
        // allowance refilled, and the pace may spend most of it at once, not 50 ms' worth.
        let after = refused + Duration::from_secs(1);
        let n = p.allowance(after, 5000);
        assert!((850..=900).contains(&n), "{n}");
        p.take(n);
        assert_eq!(p.allowance(after, 5000), 0, "spent");
        // Idle long after the last 429 (input ran dry; others may have used the allowance):
        // 50 ms of the pace at once.
        let idle = after + BURST_SPELL;
        assert_eq!(p.allowance(idle, 5000), (rate * DEPTH) as usize);
        // Without the calls' send times: the last second over a whole second, no burst.
        let mut blind = Pacer::new(start);
        for i in 0..1300u64 {
            blind.acknowledged(start + Duration::from_micros(i * 230), None);
        }
        assert!(blind.rate_limited(refused, None));
        assert!((blind.rate.unwrap() - 1300.0 * BELOW).abs() < 1.0);
        let depth = (blind.rate.unwrap() * DEPTH) as usize;
        assert_eq!(blind.allowance(after, 5000), depth, "50 ms of the pace");
    }

    #[test]
    fn a_new_overload_never_paces_above_the_pace_it_crossed_the_limit_at() {
        let (start, mut p, paced) = paced_after_a_second_of_1000();
        // Two quiet seconds later, a second in which the server's burst allowance let 3,000
        // through: the next 429 paces below the pace in force, not at 3,000.
        let later = start + Duration::from_secs(3);
        for i in 0..3000 {
            p.acknowledged(later + Duration::from_micros(i * 333), None);
        }
        assert!(p.rate_limited(later + WINDOW, None));
        let rate = p.rate.unwrap();
        assert!(rate <= paced * 1.01 * BELOW + 1e-9, "{rate} {paced}");
    }

    #[test]
    fn a_pace_the_sends_did_not_use_does_not_rise() {
        let (start, mut p, paced) = paced_after_a_second_of_1000();
        // Quiet seconds, past the hold, in which half the pace went: fewer were ready than it
        // allowed.
        let send = |p: &mut Pacer, second: u64, share: f64| {
            let at = start + Duration::from_secs(second);
            p.take((paced * share) as usize);
            p.acknowledged(at + Duration::from_millis(1), None);
        };
        for second in 7..=9 {
            send(&mut p, second, 0.5);
        }
        assert_eq!(
            p.rate,
            Some(paced),
            "the keys bounded the sends, not the pace"
        );
        // A second in which the sends used the pace: it rises.
        send(&mut p, 10, 1.0);
        assert!((p.rate.unwrap() / paced - 1.01).abs() < 1e-9);
    }

    #[test]
    fn the_pace_holds_below_the_rate_measured_then_rises_faster_the_longer_no_429_comes() {
        let (start, mut p, paced) = paced_after_a_second_of_1000();
        let measured = paced / BELOW;
        let quiet_second = |p: &mut Pacer, second: u64| {
            p.take(p.rate.unwrap() as usize);
            p.acknowledged(
                start + Duration::from_secs(second) + Duration::from_millis(1),
                None,
            );
        };
        // The 429 came at one second: until six, no higher than just below what it measured.
        for second in 2..=5 {
            quiet_second(&mut p, second);
            let rate = p.rate.unwrap();
            assert!((rate - measured * HOLD).abs() < 1e-9, "{second}: {rate}");
        }
        // Then +1%, +2%, +4%, +8%, +8%, ...
        for second in 6..=13 {
            quiet_second(&mut p, second);
        }
        let risen = p.rate.unwrap() / (measured * HOLD);
        let expected = [1.01, 1.02, 1.04, 1.08, 1.08, 1.08, 1.08, 1.08]
            .iter()
            .product::<f64>();
        assert!((risen - expected).abs() < 1e-9, "{risen} {expected}");
        // A 429 starts over.
        assert!(p.rate_limited(start + Duration::from_secs(14), None));
        assert_eq!(p.rises, 0);
    }

    #[test]
    fn near_the_end_the_pace_never_probes_above_the_rate_measured() {
        let (start, mut p, paced) = paced_after_a_second_of_1000();
        let measured = paced / BELOW;
        p.set_ending(true);
        for second in 2..=12 {
            p.take(p.rate.unwrap() as usize);
            p.acknowledged(
                start + Duration::from_secs(second) + Duration::from_millis(1),
                None,
            );
            let rate = p.rate.unwrap();
            assert!((rate - measured * HOLD).abs() < 1e-9, "{second}: {rate}");
        }
        // More work came: it probes again.
        p.set_ending(false);
        p.take(p.rate.unwrap() as usize);
        p.acknowledged(
            start + Duration::from_secs(13) + Duration::from_millis(1),
            None,
        );
        assert!((p.rate.unwrap() / (measured * HOLD) - 1.01).abs() < 1e-9);
        assert_eq!(
            p.seconds_for(p.rate.unwrap() as usize * 2).map(f64::round),
            Some(2.0)
        );
    }

    fn fields(remaining: u64, at: Instant) -> crate::RateLimitStatus {
        crate::RateLimitStatus {
            remaining,
            reset: Duration::from_secs(1),
            policy: Some(crate::RateLimitPolicy {
                quota: 1000,
                window: Duration::from_secs(1),
            }),
            observed_at: at,
        }
    }

    #[test]
    fn the_servers_fields_pace_before_any_429_and_keep_the_quota_between_the_marks() {
        let start = Instant::now();
        let mut p = Pacer::new(start);
        // A burst: 950 acknowledged in 100 ms, the quota falling; unpaced while above a tenth.
        for i in 0..950u64 {
            let at = start + Duration::from_micros(i * 111);
            p.acknowledged(at, None);
            p.server_fields(&fields(1000 - i, at), at);
        }
        assert!(p.rate.is_some(), "paced before any 429");
        let first = p.rate.unwrap();
        assert!(first <= 1000.0 + 1e-9, "no higher than the policy: {first}");
        // The same answer read twice changes nothing.
        let mut at = start + Duration::from_millis(200);
        p.server_fields(&fields(10, at), at);
        let once = p.rate.unwrap();
        p.server_fields(&fields(10, at), at + ADJUST);
        assert_eq!(p.rate.unwrap(), once);
        // Low and falling: 99 left when pacing began (at 100 ms), 10 at 200 ms: 890 a second
        // fewer on top of the 1,000 renewed, so the senders use 1,890 a second and the pace
        // keeps 1,000 / 1,890 of itself.
        assert!(
            (once / first - 1000.0 / 1890.0).abs() < 0.01,
            "{once} {first}"
        );
        // Between the marks it holds; above a fifth it rises, never past the policy.
        at += ADJUST * 2;
        p.server_fields(&fields(150, at), at);
        assert_eq!(p.rate.unwrap(), once);
        for _ in 0..200 {
            at += ADJUST;
            p.server_fields(&fields(900, at), at);
        }
        assert!((p.rate.unwrap() - 1000.0).abs() < 1e-9);
        // No probing by the quiet seconds' rule while the fields steer.
        let rate = p.rate.unwrap();
        for second in 1..20 {
            p.take(rate as usize);
            p.acknowledged(at + Duration::from_secs(second), None);
        }
        assert_eq!(p.rate.unwrap(), rate);
    }
}
