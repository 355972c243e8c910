//! What a long command shows while it runs: a progress bar on a terminal, plain log lines on
//! stderr otherwise (cron, systemd, CI), so that no message depends on there being a terminal.

use std::{
    io::IsTerminal,
    sync::Mutex,
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressStyle};

/// The progress of a run and its log lines.
pub struct Progress {
    bar: ProgressBar,
    /// stderr is a terminal: the bar is drawn once [`Progress::show`] is called.
    terminal: bool,
    /// When the last "N records done" line was written (no terminal only).
    last_line: Mutex<Instant>,
}

/// How often a plain "N records done" line is written without a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

/// `{rate}`: records a second, whole (indicatif's `{per_sec}` shows four decimals).
fn with_rate(style: ProgressStyle) -> ProgressStyle {
    style.with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        },
    )
}

impl Progress {
    /// A bar of `total` records (a spinner when unknown) on a terminal, drawn from
    /// [`Progress::show`] on (notices said before sending stay above it); hidden otherwise.
    pub fn new(total: Option<u64>) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = if !terminal {
            ProgressBar::hidden()
        } else if let Some(total) = total {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} records  {rate}  ETA {eta}  {elapsed_precise}",
                )
                .map(with_rate)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos} records  {rate}  {elapsed_precise}")
                    .map(with_rate)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        };
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        Progress {
            bar,
            terminal,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// Starts drawing the bar (on a terminal): sending begins.
    pub fn show(&self) {
        if self.terminal {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    /// A log line: above the bar on a terminal, a plain stderr line otherwise.
    pub fn line(&self, text: impl AsRef<str>) {
        if self.bar.is_hidden() {
            eprintln!("{}", text.as_ref());
        } else {
            self.bar.println(text.as_ref());
        }
    }

    /// One more record done; without a terminal, a count line every two seconds.
    pub fn inc(&self) {
        self.bar.inc(1);
        if !self.terminal {
            let mut last = self.last_line.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                eprintln!("{} records done", self.bar.position());
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
