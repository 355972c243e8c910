//! Which server a journal's connections reach. Each new connection asks the server who it is
//! (its postmaster's start and its WAL timeline): another answer than the last means a
//! failover or a restart, and commits the old server acknowledged may be missing (an
//! asynchronous standby promoted). Workers then write again what they recently wrote
//! ([`recent`](super::recent)), and no worker marks a record for [`SETTLE`] meanwhile, so that
//! every worker alive has reconnected and written its part back before anything is sent again.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use tokio::sync::watch;
use tokio_postgres::Client;

/// How long marks wait after a new server is seen: longer than a worker alive takes to
/// reconnect (its waits between tries grow to one second) and write back what it holds.
pub const SETTLE: Duration = Duration::from_secs(5);

/// The server the connections of one journal reach, shared by all of them.
pub struct Server {
    identity: Mutex<Option<String>>,
    changes: watch::Sender<u64>,
    settling_until: Mutex<Option<Instant>>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            identity: Mutex::new(None),
            changes: watch::channel(0).0,
            settling_until: Mutex::new(None),
        }
    }
}

impl Server {
    /// Asks the server behind a new connection who it is; another server than before is
    /// counted as a change. A server that does not say is taken for the same.
    pub async fn learn(&self, client: &Client) {
        let asked = client.query_one(
            "SELECT pg_postmaster_start_time()::text || ' timeline ' ||
                    CASE WHEN pg_is_in_recovery() THEN 'standby'
                         ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END",
            &[],
        );
        let Ok(Ok(row)) = tokio::time::timeout(Duration::from_secs(10), asked).await else {
            return;
        };
        let now: String = row.get(0);
        let before = self
            .identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(now.clone());
        if before.is_some_and(|b| b != now) {
            *self
                .settling_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + SETTLE);
            self.changes.send_modify(|n| *n += 1);
        }
    }

    /// Changes seen so far, and each one as it is seen.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Waits until [`SETTLE`] has passed since the last change.
    pub async fn settled(&self) {
        let until = *self
            .settling_until
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(until) = until {
            tokio::time::sleep_until(until.into()).await;
        }
    }
}
