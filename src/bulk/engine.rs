//! The loop behind [`send`]: per-key queues, calls in flight, 429 pauses, reconciliation,
//! stopping.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    pin::Pin,
    time::{Duration, Instant},
};

use futures::{stream::FuturesUnordered, Stream, StreamExt};

use tokio_util::sync::CancellationToken;

use super::{
    limiter::Limiter, pacer::Pacer, ready::Ready, BulkOptions, Ending, Ledger, Outcome, Prior,
    Record, Sent, Summary,
};
use crate::{meaning::Meaning, ComplianceClient, Error, Result};

/// A `Retry-After` longer than this is a server asking every caller to wait: all sends pause.
/// Shorter ones (a rate limiter's whole second) delay the refused record, and the others go on
/// at the [`Pacer`]'s pace.
const LONG_PAUSE: Duration = Duration::from_secs(2);

/// Once the input has ended, what is left taking the pace less than this many seconds is the
/// feed's end: the pace stops probing (see [`Ending`]).
const ENDING_WITHIN: f64 = 3.0;

/// Most sends of one record in one run: a customer create answered 5xx and read back as absent
/// is sent once more; after that it is given up on ([`Outcome::Failed`], known not stored).
const MAX_SENDS: u32 = 2;

/// One record on its way.
struct Job {
    seq: u64,
    record: Record,
    /// When its last call began (for the latency gauge).
    sent_at: Option<Instant>,
    /// 429s waited out so far.
    rate_limited: u32,
    /// Sends in this run that reached the server or may have.
    sends: u32,
    /// An earlier send (in this run or an earlier one) may have been processed: "already
    /// exists" then means it arrived, and a customer create is read back before it is sent.
    maybe_landed: bool,
    /// Read back since the last send whose fate is unknown: the next step is a send.
    read_back: bool,
}

impl Job {
    /// Whether the job's next step is reading the customer back rather than sending.
    fn reads_back_first(&self) -> bool {
        self.maybe_landed && !self.read_back && self.record.reconcilable()
    }
}

/// What a future in flight came back with. (`Answered` is the common, large one: boxing it
/// would cost an allocation per call.)
#[allow(clippy::large_enum_variant)]
enum Done {
    /// The ledger recorded a batch durably (or could not): its jobs may go.
    Marked(Vec<Job>, Result<()>),
    /// A call or a read-back ended.
    Answered(Answer),
}

/// What a call or a read-back came back with.
enum Answer {
    Sent(Job, Result<()>),
    Reconciled(Job, Result<()>),
}

type InFlight = Pin<Box<dyn Future<Output = Done> + Send>>;

/// What to do next with a job.
enum Next {
    /// Send it (again), before anything else of its key.
    Send(Job),
    /// Read the customer back.
    Reconcile(Job),
    /// Send it again once its `Retry-After` has passed, before anything else of its key.
    Delay(Job, Instant),
    /// It is done.
    Finish(Job, Outcome),
}

/// Resolves at `at`; never without it.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Resolves when `stop` is cancelled; never without one.
async fn stopped(stop: Option<&CancellationToken>) {
    match stop {
        Some(token) => token.cancelled().await,
        None => std::future::pending().await,
    }
}

/// Sends every record of `records` (each with a sequence number, e.g. its line) and tells
/// `on_outcome` what became of it; see the [module documentation](super). Returns the counts.
///
/// # Errors
/// Only what `ledger` returns (a journal that cannot be written stops the run: sending on
/// without recording would lose track of what was sent; the calls in flight end first and
/// their outcomes are handed to the ledger). Every per-record failure is an [`Outcome`].
pub async fn send<S>(
    client: &ComplianceClient,
    records: S,
    options: &BulkOptions,
    ledger: &mut impl Ledger,
    on_outcome: impl FnMut(Sent),
) -> Result<Summary>
where
    S: Stream<Item = (u64, Record)>,
{
    let mut records = std::pin::pin!(records.fuse());
    let mut run = Run::new(client, options, ledger, on_outcome);
    loop {
        run.stop_if_asked();
        run.report_finished()?;
        let next_delayed = run.release_delayed();
        run.read_input(records.as_mut(), next_delayed).await?;
        if run.stop_asked() && !run.stopping {
            continue;
        }
        run.set_ending();
        let paused = run.dispatch();
        if run.is_over() {
            return run.close().await;
        }
        if let Some(done) = run.wait(paused, next_delayed).await {
            run.take_answers(done);
        }
    }
}

/// Jobs by key: a key is busy from its first job in `ready` or in flight until that job is
/// finished; later jobs of the key wait in `waiting`.
#[derive(Default)]
struct Keys {
    /// Jobs whose key is free, oldest first.
    ready: Ready<Job>,
    waiting: HashMap<String, VecDeque<Job>>,
    busy: std::collections::HashSet<String>,
    /// Jobs in `waiting`.
    waiting_count: usize,
}

impl Keys {
    /// A job read from the input: ready if its key is free, else waiting behind it.
    fn admit(&mut self, job: Job) {
        let key = job.record.key().to_string();
        if self.busy.insert(key.clone()) {
            self.ready.push(job.seq, job);
        } else {
            self.waiting.entry(key).or_default().push_back(job);
            self.waiting_count += 1;
        }
    }

    /// A job of `key` finished: the key's next job, if any, is ready.
    fn finished(&mut self, key: &str) {
        match self.waiting.get_mut(key).and_then(VecDeque::pop_front) {
            Some(next) => {
                self.waiting_count -= 1;
                self.ready.push(next.seq, next);
            }
            None => {
                self.waiting.remove(key);
                self.busy.remove(key);
            }
        }
    }

    /// Every job waiting behind a busy key, taken out.
    fn drain_waiting(&mut self) -> Vec<Job> {
        self.waiting_count = 0;
        self.waiting.drain().flat_map(|(_, jobs)| jobs).collect()
    }
}

/// One [`send`]: its queues, its calls in flight and its pace, and what it reports to.
struct Run<'a, L, F> {
    client: &'a ComplianceClient,
    options: &'a BulkOptions,
    ledger: &'a mut L,
    on_outcome: F,
    summary: Summary,
    limiter: Limiter,
    pacer: Pacer,
    keys: Keys,
    in_flight: FuturesUnordered<InFlight>,
    /// Jobs handed to the ledger or the server and not back: what the limiter counts.
    calls: usize,
    /// Jobs refused with a 429, each with the time its `Retry-After` ends (their keys stay
    /// busy).
    delayed: Vec<(Instant, Job)>,
    /// Jobs done, to report (kept apart so that stopping can finish many at once).
    finished: Vec<(Job, Outcome)>,
    paused_until: Option<Instant>,
    /// A ledger that could not record a batch: the run stops and returns it.
    failure: Option<Error>,
    input_done: bool,
    stopping: bool,
}

impl<'a, L: Ledger, F: FnMut(Sent)> Run<'a, L, F> {
    fn new(
        client: &'a ComplianceClient,
        options: &'a BulkOptions,
        ledger: &'a mut L,
        on_outcome: F,
    ) -> Self {
        Run {
            client,
            options,
            ledger,
            on_outcome,
            summary: Summary::default(),
            limiter: Limiter::new(options.concurrency, options.max_concurrency),
            pacer: Pacer::new(Instant::now()),
            keys: Keys::default(),
            in_flight: FuturesUnordered::new(),
            calls: 0,
            delayed: Vec::new(),
            finished: Vec::new(),
            paused_until: None,
            failure: None,
            input_done: false,
            stopping: false,
        }
    }

    fn stop_asked(&self) -> bool {
        self.options
            .stop
            .as_ref()
            .is_some_and(CancellationToken::is_cancelled)
    }

    /// On a stop (or a ledger's failure): read nothing more; what was read and not sent is
    /// reported, not sent.
    fn stop_if_asked(&mut self) {
        if self.stopping || (self.failure.is_none() && !self.stop_asked()) {
            return;
        }
        self.stopping = true;
        self.input_done = true;
        self.paused_until = None;
        let ready: Vec<Job> = self.keys.ready.drain().collect();
        let delayed = self.delayed.drain(..).map(|(_, job)| job);
        let waiting = self.keys.drain_waiting();
        let stopped = ready.into_iter().chain(delayed).chain(waiting);
        self.finished
            .extend(stopped.map(|job| (job, Outcome::Stopped)));
    }

    /// Reports the jobs done; each frees its key for the key's next job.
    fn report_finished(&mut self) -> Result<()> {
        for (job, outcome) in std::mem::take(&mut self.finished) {
            let key = job.record.key().to_string();
            self.report(job, outcome)?;
            self.keys.finished(&key);
        }
        Ok(())
    }

    /// Refused records whose `Retry-After` has passed are ready (before their keys' later
    /// records); returns when the next one will be.
    fn release_delayed(&mut self) -> Option<Instant> {
        let now = Instant::now();
        if self.delayed.iter().any(|(at, _)| *at <= now) {
            let (due, later): (Vec<_>, Vec<_>) =
                self.delayed.drain(..).partition(|(at, _)| *at <= now);
            self.delayed = later;
            for (_, job) in due {
                self.keys.ready.push(job.seq, job);
            }
        }
        self.delayed.iter().map(|(at, _)| *at).min()
    }

    /// Reads input while there is room: some ready work, and a bounded number waiting. Waits
    /// for input only when nothing else is going on.
    async fn read_input<S>(
        &mut self,
        mut records: Pin<&mut futures::stream::Fuse<S>>,
        next_delayed: Option<Instant>,
    ) -> Result<()>
    where
        S: Stream<Item = (u64, Record)>,
    {
        let stop = self.options.stop.as_ref();
        while !self.input_done
            && self.keys.ready.len() < self.limiter.limit()
            && self.keys.waiting_count < self.options.lookahead
        {
            let next = if self.calls == 0 && self.keys.ready.is_empty() {
                tokio::select! {
                    next = records.next() => next,
                    _ = stopped(stop) => break,
                    _ = sleep_until(next_delayed), if next_delayed.is_some() => break,
                }
            } else {
                match futures::FutureExt::now_or_never(records.next()) {
                    Some(next) => next,
                    None => break,
                }
            };
            let Some((seq, record)) = next else {
                self.input_done = true;
                break;
            };
            self.take_in(seq, record)?;
        }
        Ok(())
    }

    /// A record read: reported at once when an earlier run settled it (in input order, not
    /// sent), else queued behind its key.
    fn take_in(&mut self, seq: u64, record: Record) -> Result<()> {
        if self.options.shard.is_some_and(|s| !s.owns(record.key())) {
            self.summary.other_shards += 1;
            return Ok(());
        }
        let prior = self.ledger.prior(seq);
        let job = Job {
            seq,
            record,
            sent_at: None,
            rate_limited: 0,
            sends: 0,
            maybe_landed: matches!(prior, Prior::MaybeSent | Prior::Resend),
            read_back: false,
        };
        let settled = match prior {
            Prior::Acknowledged => Some(Outcome::AlreadySettled { acknowledged: true }),
            Prior::Rejected => Some(Outcome::AlreadySettled {
                acknowledged: false,
            }),
            Prior::Changed => Some(Outcome::Changed),
            Prior::MaybeSent if !job.record.reconcilable() && !self.options.resend_ambiguous => {
                Some(Outcome::Ambiguous {
                    reason: "sent by an earlier run without an answer; not sent again \
                             unless resending ambiguous records is asked for"
                        .into(),
                })
            }
            _ => None,
        };
        match settled {
            Some(outcome) => self.report(job, outcome),
            None => {
                self.keys.admit(job);
                Ok(())
            }
        }
    }

    /// Near the end (the caller says so, or the input ended and what is left takes the pace a
    /// few seconds), the pace stops probing: a 429 there delays the end.
    fn set_ending(&mut self) {
        let left =
            self.keys.ready.len() + self.keys.waiting_count + self.delayed.len() + self.calls;
        let soon = self.options.ending.as_ref().is_some_and(Ending::is_soon)
            || (self.input_done
                && self
                    .pacer
                    .seconds_for(left)
                    .is_some_and(|s| s < ENDING_WITHIN));
        self.pacer.set_ending(soon);
    }

    /// Hands a batch of ready jobs to the ledger, unless the server asked us to wait; they are
    /// sent once it has them on record, and the loop goes on meanwhile. Returns whether sends
    /// are paused.
    fn dispatch(&mut self) -> bool {
        let paused = self.paused_until.is_some_and(|t| Instant::now() < t);
        // In batches of at least an eighth of the limit while calls are in flight: the ledger
        // records each batch at once (one journal commit, not one per record).
        let limit = self.limiter.limit();
        let room = limit.saturating_sub(self.calls);
        let worth_it = room >= (limit / 8).max(1)
            || self.calls < limit / 2
            || (self.input_done && self.keys.waiting_count == 0);
        if !paused && worth_it && !self.keys.ready.is_empty() {
            let allowed = self
                .pacer
                .allowance(Instant::now(), room.min(self.keys.ready.len()));
            self.pacer.take(allowed);
            let batch: Vec<Job> = (0..allowed).filter_map(|_| self.keys.ready.pop()).collect();
            if !batch.is_empty() {
                let seqs: Vec<u64> = batch.iter().map(|j| j.seq).collect();
                let durable = self.ledger.sending(&seqs);
                self.calls += batch.len();
                self.in_flight
                    .push(Box::pin(async move { Done::Marked(batch, durable.await) }));
            }
        }
        paused
    }

    /// Nothing left anywhere: the input ended and every job is done.
    fn is_over(&self) -> bool {
        self.in_flight.is_empty()
            && self.keys.ready.is_empty()
            && self.delayed.is_empty()
            && self.keys.waiting_count == 0
            && self.input_done
    }

    /// Closes the ledger; the summary, or the ledger's failure that stopped the run.
    async fn close(self) -> Result<Summary> {
        self.ledger.close().await?;
        match self.failure {
            Some(e) => Err(e),
            None => Ok(self.summary),
        }
    }

    /// Waits for a call to end, or a stop, or the next time something may go: the end of a
    /// pause, a refused record's `Retry-After`, the pace's next send. `None`: woken for one of
    /// those.
    async fn wait(&mut self, paused: bool, next_delayed: Option<Instant>) -> Option<Done> {
        if let Some(g) = &self.options.gauges {
            g.calls(self.calls, self.limiter.limit());
            g.set_pace(self.pacer.pace());
        }
        let wake_on_stop = if self.stopping {
            None
        } else {
            self.options.stop.as_ref()
        };
        let now = Instant::now();
        let room = self.limiter.limit().saturating_sub(self.calls);
        let next_send = (!paused && !self.keys.ready.is_empty())
            .then(|| self.pacer.next_at(now, room.min(self.keys.ready.len())))
            .flatten();
        let wake = [
            self.paused_until.filter(|_| paused),
            next_delayed,
            next_send,
        ]
        .into_iter()
        .flatten()
        .min();
        if self.in_flight.is_empty() {
            if wake.is_some() {
                tokio::select! {
                    _ = sleep_until(wake) => {}
                    _ = stopped(wake_on_stop) => {}
                }
            }
            return None;
        }
        tokio::select! {
            done = self.in_flight.next() => done,
            _ = sleep_until(wake), if wake.is_some() => None,
            _ = stopped(wake_on_stop) => None,
        }
    }

    /// This answer and every other one already in: their records' successors are marked in
    /// one batch (group commit: the slower the ledger, the more each batch holds).
    fn take_answers(&mut self, first: Done) {
        let mut done = Some(first);
        while let Some(answer) = done {
            self.take_answer(answer);
            done = futures::FutureExt::now_or_never(self.in_flight.next()).flatten();
        }
    }

    /// One future in flight came back: a batch on record goes to the server, an answer says
    /// what is next for its job.
    fn take_answer(&mut self, answer: Done) {
        let step = match answer {
            Done::Marked(jobs, Ok(())) => {
                for job in jobs {
                    self.in_flight.push(if job.reads_back_first() {
                        reconcile(self.client.clone(), job)
                    } else {
                        call(self.client.clone(), job)
                    });
                }
                return;
            }
            Done::Marked(jobs, Err(e)) => {
                // Not on record: not sent.
                self.calls -= jobs.len();
                self.failure.get_or_insert(e);
                self.finished
                    .extend(jobs.into_iter().map(|job| (job, Outcome::Stopped)));
                return;
            }
            Done::Answered(answer) => {
                if let Some(status) = self.client.rate_limit_status() {
                    self.pacer.server_fields(&status, Instant::now());
                }
                next_step(
                    observed(self.options.gauges.as_deref(), answer),
                    &mut self.limiter,
                    &mut self.pacer,
                    &mut self.summary,
                    &mut self.paused_until,
                    self.options,
                )
            }
        };
        match step {
            Next::Reconcile(job) => {
                self.in_flight.push(reconcile(self.client.clone(), job));
                return;
            }
            Next::Send(job) | Next::Delay(job, _) if self.stopping => {
                self.finished.push((job, Outcome::Stopped))
            }
            Next::Delay(job, until) => self.delayed.push((until, job)),
            Next::Send(job) => self.keys.ready.push(job.seq, job),
            Next::Finish(job, outcome) => self.finished.push((job, outcome)),
        }
        self.calls -= 1;
        // Read by whoever watches the run between two waits (a run idle for its input).
        if let Some(g) = &self.options.gauges {
            g.calls(self.calls, self.limiter.limit());
        }
    }

    /// Counts a finished job, records it in the ledger and tells the caller.
    fn report(&mut self, job: Job, outcome: Outcome) -> Result<()> {
        report(
            &mut self.summary,
            self.ledger,
            &mut self.on_outcome,
            self.options.gauges.as_deref(),
            job,
            outcome,
        )
    }
}

/// Tells the gauges of a call's latency and of a 429.
fn observed(gauges: Option<&super::Gauges>, answer: Answer) -> Answer {
    if let (Some(g), Answer::Sent(job, result)) = (gauges, &answer) {
        if let Some(at) = job.sent_at {
            g.latency(at.elapsed());
        }
        if result.as_ref().err().is_some_and(Error::is_rate_limited) {
            g.rate_limited();
        }
    }
    answer
}

/// What to do with a record after its call (or read-back) came back.
fn next_step(
    answer: Answer,
    limiter: &mut Limiter,
    pacer: &mut Pacer,
    summary: &mut Summary,
    paused_until: &mut Option<Instant>,
    options: &BulkOptions,
) -> Next {
    match answer {
        Answer::Sent(job, Ok(())) => {
            limiter.success();
            pacer.acknowledged(Instant::now(), job.sent_at);
            // Sent after a read-back found nothing: settled by reconciliation.
            let reconciled = job.read_back;
            Next::Finish(job, Outcome::Acknowledged { reconciled })
        }
        Answer::Sent(mut job, Err(e)) => {
            if e.is_rate_limited() {
                summary.rate_limited += 1;
                let now = Instant::now();
                let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                let until = now + wait;
                // Paced below what the server took, unless it asks everyone to wait (or took
                // nothing yet to measure): then everything pauses and fewer go at once.
                limiter.end_slow_start();
                if wait > LONG_PAUSE || !pacer.rate_limited(now, job.sent_at) {
                    limiter.rate_limited();
                    *paused_until = Some(paused_until.map_or(until, |p| p.max(until)));
                }
                job.rate_limited += 1;
                // Refused, not processed: this send does not count.
                job.sends -= 1;
                if job.rate_limited > options.max_rate_limited {
                    let reason = format!("rate-limited {} times", job.rate_limited);
                    Next::Finish(job, Outcome::Failed { reason })
                } else {
                    Next::Delay(job, until)
                }
            } else if job.maybe_landed && e.is_already_exists() {
                // An earlier send whose answer was lost did arrive.
                Next::Finish(job, Outcome::Acknowledged { reconciled: true })
            } else if e.is_ambiguous() {
                if e.meaning().is_some_and(Meaning::may_have_been_processed) {
                    limiter.server_error();
                }
                job.maybe_landed = true;
                job.read_back = false;
                if job.record.reconcilable() {
                    Next::Reconcile(job)
                } else {
                    Next::Finish(
                        job,
                        Outcome::Ambiguous {
                            reason: e.to_string(),
                        },
                    )
                }
            } else {
                Next::Finish(job, settled(&e))
            }
        }
        Answer::Reconciled(mut job, result) => match result {
            Ok(()) => Next::Finish(job, Outcome::Acknowledged { reconciled: true }),
            Err(e) if e.is_not_found() && job.sends < MAX_SENDS => {
                // Not stored: sending it (once more) cannot duplicate it.
                job.read_back = true;
                Next::Send(job)
            }
            Err(e) if e.is_not_found() => Next::Finish(
                job,
                Outcome::Failed {
                    reason: format!(
                        "sent {MAX_SENDS} times without an answer and read back as not \
                         stored each time: safe to send again"
                    ),
                },
            ),
            Err(e) => Next::Finish(
                job,
                Outcome::Ambiguous {
                    reason: format!("the answer was lost and reading it back failed: {e}"),
                },
            ),
        },
    }
}

/// Counts a finished job, records it in the ledger and tells the caller.
fn report(
    summary: &mut Summary,
    ledger: &mut impl Ledger,
    on_outcome: &mut impl FnMut(Sent),
    gauges: Option<&super::Gauges>,
    job: Job,
    outcome: Outcome,
) -> Result<()> {
    // The gauges chart what this run did: a record an earlier run left ambiguous, and this
    // one did not send, is not drawn as an outcome of this run.
    if let Some(g) = gauges.filter(|_| job.sends > 0 || job.read_back) {
        g.outcome(&outcome);
    }
    match &outcome {
        Outcome::Acknowledged { reconciled } => {
            summary.acknowledged += 1;
            summary.reconciled += u64::from(*reconciled);
        }
        Outcome::Rejected { .. } => summary.rejected += 1,
        Outcome::Ambiguous { .. } => summary.ambiguous += 1,
        Outcome::Failed { .. } => summary.failed += 1,
        Outcome::Stopped => summary.stopped += 1,
        Outcome::AlreadySettled { .. } => summary.already_settled += 1,
        Outcome::Changed => summary.changed += 1,
    }
    let outcome = without_personal_data(outcome, &job.record);
    let sent = Sent {
        seq: job.seq,
        operation: job.record.operation(),
        key: job.record.key().to_string(),
        id: job.record.id().to_string(),
        outcome,
    };
    ledger.finished(&sent)?;
    on_outcome(sent);
    Ok(())
}

/// An outcome's text (a server's message, a reason) without the record's personal values: a
/// server may echo a document number or a name, and outcomes are kept (journals, reports).
fn without_personal_data(outcome: Outcome, record: &Record) -> Outcome {
    let has_text = match &outcome {
        Outcome::Rejected { code, message, .. } => code.is_some() || message.is_some(),
        Outcome::Ambiguous { .. } | Outcome::Failed { .. } => true,
        _ => false,
    };
    if !has_text {
        return outcome;
    }
    let value = match record {
        Record::Customer(c) => serde_json::to_value(c),
        Record::Account(a) => serde_json::to_value(a),
        Record::Transaction(t) => serde_json::to_value(t),
    };
    let values = value
        .map(|v| crate::redacted::personal_values(&v))
        .unwrap_or_default();
    if values.is_empty() {
        return outcome;
    }
    let clean = |t: String| crate::redacted::without_personal(&t, &values);
    match outcome {
        Outcome::Rejected {
            status,
            code,
            message,
        } => Outcome::Rejected {
            status,
            code: code.map(clean),
            message: message.map(clean),
        },
        Outcome::Ambiguous { reason } => Outcome::Ambiguous {
            reason: clean(reason),
        },
        Outcome::Failed { reason } => Outcome::Failed {
            reason: clean(reason),
        },
        other => other,
    }
}

/// The outcome of an error that is neither a 429 nor ambiguous.
fn settled(e: &Error) -> Outcome {
    match e {
        Error::InvalidInput { field, problem } => Outcome::Rejected {
            status: None,
            code: None,
            message: Some(format!("{field}: {problem}")),
        },
        Error::Api(api) if Meaning::of(api.status).refused() => Outcome::Rejected {
            status: Some(api.status.as_u16()),
            code: api.code().map(str::to_owned),
            message: api.message().map(str::to_owned),
        },
        other => Outcome::Failed {
            reason: other.to_string(),
        },
    }
}

/// Sends one record.
fn call(client: ComplianceClient, mut job: Job) -> InFlight {
    job.sends += 1;
    Box::pin(async move {
        job.sent_at = Some(Instant::now());
        let result = match job.record.clone() {
            Record::Customer(c) if job.record.reconcilable() => {
                client.customer_onboarding(c).await.map(drop)
            }
            Record::Customer(c) => client.customer_maintenance(c).await.map(drop),
            Record::Account(a) => client.account_onboarding(a).await.map(drop),
            Record::Transaction(t) => client.register_monetary_transaction(*t).await.map(drop),
        };
        Done::Answered(Answer::Sent(job, result))
    })
}

/// Reads a customer back after a lost answer.
fn reconcile(client: ComplianceClient, job: Job) -> InFlight {
    Box::pin(async move {
        let result = client.get_customer(job.record.id()).await.map(drop);
        Done::Answered(Answer::Reconciled(job, result))
    })
}
