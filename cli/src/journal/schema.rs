//! Both journals' schemas are versioned migrations (`cli/migrations/sqlite`, `cli/migrations/
//! postgres`, embedded at build time by refinery), applied when a journal is opened to write:
//! each migration once, in order, recorded in the journal's history table
//! ([`sqlite::schema`](super::sqlite::schema), [`postgres::schema`](super::postgres::schema)).
//! A new version of the schema is a new file there, never an edit of one applied (refinery
//! refuses a journal whose applied migrations differ from the files).

use super::JournalError;

/// A migration that failed.
pub fn failed(e: impl std::fmt::Display) -> JournalError {
    JournalError::Storage(format!("its schema could not be brought up to date: {e}"))
}
