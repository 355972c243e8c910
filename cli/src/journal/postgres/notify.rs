//! New records staged, told to the workers that follow a feed (`work --follow`): staging sends
//! `NOTIFY preventor_staged` after each batch it commits ([`staged`]), and [`Wakeups`] keeps a
//! connection of its own that listens (made again when it breaks). A notification can be
//! missed (while that connection is made again), so a follower also looks on its own every few
//! seconds.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use super::connection::Db;

/// The channel staging notifies and followers listen on.
const CHANNEL: &str = "preventor_staged";

/// Tells the followers that records were staged (a missed notification costs them one slow
/// poll: an error here is not staging's failure).
pub async fn staged(db: &Db) {
    let until = Instant::now() + Duration::from_secs(5);
    let _ = db
        .retry(until, |c| async move {
            c.batch_execute(&format!("NOTIFY {CHANNEL}")).await
        })
        .await;
}

/// Why a follower woke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// Records were staged (or the listening connection was made again: some may have been).
    Staged,
    /// Its slow poll came round.
    Poll,
}

/// Notifications of records staged, on a connection of their own.
pub struct Wakeups {
    staged: Arc<Notify>,
    listener: tokio::task::JoinHandle<()>,
}

impl Wakeups {
    /// Starts listening on a new connection to `db`'s journal.
    pub fn listen(db: &Db) -> Wakeups {
        let staged = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(db.another(), staged.clone()));
        Wakeups { staged, listener }
    }

    /// What the follower waits on (listening goes on while `self` lives).
    pub fn handle(&self) -> Follow {
        Follow {
            staged: self.staged.clone(),
        }
    }
}

/// A follower's side of [`Wakeups`].
#[derive(Clone)]
pub struct Follow {
    staged: Arc<Notify>,
}

impl Follow {
    /// Waits for records staged since the last wait, or `poll`, whichever comes first.
    pub async fn next(&self, poll: Duration) -> Woken {
        tokio::select! {
            _ = self.staged.notified() => Woken::Staged,
            _ = tokio::time::sleep(poll) => Woken::Poll,
        }
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Listens on `CHANNEL` for as long as it runs: each notification (and each new connection,
/// as anything may have been staged while there was none) wakes the follower.
async fn listen(db: Db, staged: Arc<Notify>) {
    let mut wait = Duration::from_millis(100);
    loop {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        if let Ok((client, driver)) = db.location().listening(tx).await {
            if client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .await
                .is_ok()
            {
                wait = Duration::from_millis(100);
                staged.notify_one();
                while rx.recv().await.is_some() {
                    staged.notify_one();
                }
            }
            driver.abort();
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}
