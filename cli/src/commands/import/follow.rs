//! `preventor import KIND - --journal postgres://... --follow`: a stream staged as it comes,
//! in batches (so many records or milliseconds, whichever comes first), each batch told to the
//! workers that follow the feed (`preventor work --follow`). Staging's guarantees hold batch
//! by batch: repeated ids named, content changed since sent reported, payloads sealed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;

use crate::{
    input::Line,
    journal::postgres::stage::{self, Batching, Staged},
    output::Exit,
    progress::Progress,
};

/// After a stop, the lines already read are passed on until none comes for this long (the
/// reader has then read all it holds and waits on the input).
const DRAIN_IDLE: Duration = Duration::from_millis(200);
/// How often a line says how far staging got.
const SAY_EVERY: Duration = Duration::from_secs(10);

/// Stages the stream until its end or a stop, then records and reports the staging.
pub async fn run(args: super::ImportArgs, feed: super::Feed, json_output: bool) -> Exit {
    let super::Feed {
        reader,
        facts,
        target,
        journal,
        keys,
        metrics,
    } = feed;
    let progress = Arc::new(Progress::new(None));
    let stop = CancellationToken::new();
    tokio::spawn(crate::signals::stop_on_signals(
        stop.clone(),
        progress.clone(),
    ));
    progress.line(format!(
        "following {}: staging into {} every {} records or {} ms",
        args.file.display(),
        journal.db.location(),
        args.batch_records,
        args.batch_ms
    ));
    let lines = crate::input::read_stream_on_thread(args.kind, reader, args.is_csv(), 4096);
    let lines = until_stopped(lines, stop.clone());
    let batching = Batching {
        records: args.batch_records as usize,
        within: Some(Duration::from_millis(args.batch_ms)),
    };
    let mut told = Told::default();
    let staged = stage::stage(
        &journal.db,
        &keys,
        args.kind,
        lines,
        args.resend_ambiguous,
        batching,
        |s| {
            if let Some(m) = &metrics {
                m.staged(s);
            }
            told.tell(&progress, s);
        },
    )
    .await;
    let staged = match staged {
        Ok(s) => s,
        Err(e) => return Exit::fatal(format!("journal {}: {e}", journal.db.location())),
    };
    let stopped = stop.is_cancelled();
    progress.line(format!(
        "{}: staged {} of {} lines read ({} already staged, {} already settled)",
        if stopped { "stopped" } else { "end of input" },
        staged.staged,
        staged.read,
        staged.already_staged,
        staged.already_settled
    ));
    super::shared::stage_only(
        &args,
        &journal,
        &target,
        facts,
        &staged,
        &progress,
        Some(stopped),
        json_output,
    )
    .await
}

/// The lines of `lines` until `stop`; then those already read, until the reader has none
/// (it waits on the input, which is left unread).
fn until_stopped(mut lines: Receiver<Line>, stop: CancellationToken) -> Receiver<Line> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                line = lines.recv() => match line {
                    Some(line) => if tx.send(line).await.is_err() { return },
                    None => return,
                },
                _ = stop.cancelled() => break,
            }
        }
        while let Ok(Some(line)) = tokio::time::timeout(DRAIN_IDLE, lines.recv()).await {
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// What the progress lines have said of a stream's staging so far.
#[derive(Default)]
struct Told {
    /// Problems listed so far, per kind.
    listed: [usize; 3],
    said: Option<Instant>,
}

impl Told {
    /// Says each problem listed since the last batch (lines and ids, never values), and every
    /// [`SAY_EVERY`] how far staging got.
    fn tell(&mut self, progress: &Progress, s: &Staged) {
        for (i, list) in [&s.invalid, &s.duplicates, &s.changed]
            .into_iter()
            .enumerate()
        {
            for problem in list.first.iter().skip(self.listed[i]) {
                progress.line(format!(
                    "line {}: {}",
                    problem["line"],
                    problem["problem"].as_str().unwrap_or_default()
                ));
            }
            self.listed[i] = list.first.len();
        }
        if self.said.is_none_or(|t| t.elapsed() >= SAY_EVERY) {
            self.said = Some(Instant::now());
            progress.line(format!(
                "{} lines read, {} staged, {} refused",
                s.read,
                s.staged,
                s.invalid.count + s.duplicates.count + s.changed.count
            ));
        }
    }
}
