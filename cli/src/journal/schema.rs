//! Both journals' schemas as versioned migrations (`cli/migrations/sqlite`, `cli/migrations/
//! postgres`, embedded at build time by refinery), applied when a journal is opened to write:
//! each migration once, in order, recorded in the journal's history table. A new version of
//! the schema is a new file there, never an edit of one applied.

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{postgres::connection::Location, JournalError};

mod sqlite {
    refinery::embed_migrations!("migrations/sqlite");
}

mod postgres {
    refinery::embed_migrations!("migrations/postgres");
}

/// The history table of a SQLite journal.
const SQLITE_HISTORY: &str = "schema_history";
/// The history table of a PostgreSQL journal.
const POSTGRES_HISTORY: &str = "preventor_schema_history";
/// The advisory lock that makes one worker at a time migrate a PostgreSQL journal (workers
/// start together).
const MIGRATING: i64 = 7_207_011;

fn failed(e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage(format!("its schema could not be brought up to date: {e}"))
}

/// Brings a SQLite journal's schema up to date.
pub fn migrate_sqlite(db: &mut Connection) -> Result<(), JournalError> {
    adopt_unversioned(db)?;
    sqlite::migrations::runner()
        .set_migration_table_name(SQLITE_HISTORY)
        .run(db)
        .map_err(failed)?;
    Ok(())
}

/// A SQLite journal written before the repeat check moved into it has no `run` or `run_line`
/// on its records: added here, once, so that the first migration (which creates what is
/// missing) finds the shape it describes. Journals written since have them.
fn adopt_unversioned(db: &Connection) -> Result<(), JournalError> {
    let columns: i64 = db.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('records') WHERE name IN ('row', 'run')",
        [],
        |r| r.get(0),
    )?;
    if columns == 1 {
        db.execute_batch(
            "ALTER TABLE records ADD COLUMN run INTEGER;
             ALTER TABLE records ADD COLUMN run_line INTEGER;",
        )?;
    }
    Ok(())
}

/// Brings a PostgreSQL journal's schema up to date, one migrating worker at a time, on a
/// connection of its own; waits for the database until `until`.
pub async fn migrate_postgres(location: &Location, until: Instant) -> Result<(), JournalError> {
    let mut wait = Duration::from_millis(50);
    let mut client = loop {
        match location.connect().await {
            Ok(c) => break c,
            Err(e) if Instant::now() + wait < until => {
                let _ = e;
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(super::postgres::connection::storage(&e)),
        }
    };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATING])
        .await
        .map_err(|e| super::postgres::connection::storage(&e))?;
    let migrated = postgres::migrations::runner()
        .set_migration_table_name(POSTGRES_HISTORY)
        .run_async(&mut client)
        .await;
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATING])
        .await;
    migrated.map_err(failed)?;
    Ok(())
}
