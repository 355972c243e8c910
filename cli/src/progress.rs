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
    /// When the last "N records done" line was written (no terminal only).
    last_line: Mutex<Instant>,
}

/// How often a plain "N records done" line is written without a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

impl Progress {
    /// A bar of `total` records (a spinner when unknown) on a terminal; hidden otherwise.
    pub fn new(total: Option<u64>) -> Progress {
        let bar = if !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else if let Some(total) = total {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} records  {per_sec}  ETA {eta}  {elapsed_precise}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        } else {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {pos} records  {per_sec}  {elapsed_precise}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        };
        Progress {
            bar,
            last_line: Mutex::new(Instant::now()),
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
        if self.bar.is_hidden() {
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
