//! The SQLite journal's migrations (`cli/migrations/sqlite`, embedded at build time by
//! refinery), applied when a journal is opened to write; see [`crate::journal::schema`].

use rusqlite::Connection;

use crate::journal::{schema::failed, JournalError};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

/// The history table of a SQLite journal.
const HISTORY: &str = "schema_history";

/// Brings a SQLite journal's schema up to date.
pub fn migrate(db: &mut Connection) -> Result<(), JournalError> {
    adopt_unversioned(db)?;
    embedded::migrations::runner()
        .set_migration_table_name(HISTORY)
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
