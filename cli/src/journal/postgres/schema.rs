//! The PostgreSQL journal's migrations (`cli/migrations/postgres`, embedded at build time by
//! refinery), applied when a journal is opened to write; see [`crate::journal::schema`].

use std::time::{Duration, Instant};

use super::connection::{storage, Location};
use crate::journal::{schema::failed, JournalError};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

/// The history table of a PostgreSQL journal.
const HISTORY: &str = "preventor_schema_history";
/// The advisory lock that makes one worker at a time migrate a PostgreSQL journal (workers
/// start together).
const MIGRATING: i64 = 7_207_011;

/// Brings a PostgreSQL journal's schema up to date, one migrating worker at a time, on a
/// connection of its own; waits for the database until `until`.
pub async fn migrate(location: &Location, until: Instant) -> Result<(), JournalError> {
    let mut wait = Duration::from_millis(50);
    let mut client = loop {
        match location.connect().await {
            Ok(c) => break c,
            Err(e) if Instant::now() + wait < until => {
                let _ = e;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(storage(&e)),
        }
    };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATING])
        .await
        .map_err(|e| storage(&e))?;
    let migrated = embedded::migrations::runner()
        .set_migration_table_name(HISTORY)
        .run_async(&mut client)
        .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATING])
        .await;
    migrated.map_err(failed)?;
    Ok(())
}
