//! A journal as the operator's commands see it, whichever store holds it: `status`, `report` and
//! `resolve` call these and never branch on the store.

use std::{collections::HashMap, path::Path};

use serde_json::Value;

use super::{
    postgres::{
        connection::{is_dsn, Location},
        PgJournal,
    },
    runs::{Decision, Store},
    Journal, JournalError, Problem,
};
use crate::target::Target;

/// An existing journal, opened to read or to record decisions.
pub enum Opened {
    Sqlite(Journal),
    Postgres(PgJournal),
}

/// Why an operator opens a journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `status`, `report`: nothing written, works while an import runs.
    Read,
    /// `resolve`: decisions written (a SQLite journal is refused while an import holds it).
    Decide,
}

/// Whether a `--journal` argument names a PostgreSQL journal (a URL DSN) rather than a file.
pub fn names_postgres(journal: &Path) -> Option<&str> {
    journal.to_str().filter(|j| is_dsn(j))
}

impl Opened {
    /// Opens the journal `journal` (a SQLite file or a PostgreSQL DSN). The error names the
    /// journal as shown (a DSN without its password).
    pub async fn open(journal: &Path, plaintext: bool, access: Access) -> Result<Opened, String> {
        match names_postgres(journal) {
            Some(dsn) => {
                let location = Location::parse(dsn, plaintext).map_err(|e| e.to_string())?;
                let shown = location.to_string();
                PgJournal::open(location, None)
                    .await
                    .map(Opened::Postgres)
                    .map_err(|e| format!("{shown}: {e}"))
            }
            None => match access {
                Access::Read => Journal::open_to_read(journal),
                Access::Decide => Journal::open_to_change(journal),
            }
            .map(Opened::Sqlite)
            .map_err(|e| format!("{}: {e}", journal.display())),
        }
    }

    /// The journal as shown to a person: a path, or a DSN without its password.
    pub fn shown(&self) -> String {
        match self {
            Opened::Sqlite(j) => j.path().display().to_string(),
            Opened::Postgres(j) => j.db.location().to_string(),
        }
    }

    /// The journal's store of runs and decisions.
    fn store(&self) -> Store<'_> {
        match self {
            Opened::Sqlite(j) => Store::Sqlite(j.db()),
            Opened::Postgres(j) => Store::Postgres(j.db.clone()),
        }
    }

    /// The target the journal is bound to, if any.
    pub async fn target(&self) -> Result<Option<Target>, JournalError> {
        match self {
            Opened::Sqlite(j) => j.target(),
            Opened::Postgres(j) => j.target().await,
        }
    }

    /// Records per state.
    pub async fn counts(&self) -> Result<HashMap<String, u64>, JournalError> {
        match self {
            Opened::Sqlite(j) => Ok(j.counts()?),
            Opened::Postgres(j) => j.counts().await,
        }
    }

    /// Records in `states` with their reasons (never a payload), at most `limit`.
    pub async fn problems(
        &self,
        states: &[&str],
        limit: usize,
    ) -> Result<Vec<Problem>, JournalError> {
        match self {
            Opened::Sqlite(j) => Ok(j.problems(states, limit)?),
            Opened::Postgres(j) => j.problems(states, limit).await,
        }
    }

    /// The workers of a shared feed (none for a SQLite journal: one import at a time).
    pub async fn workers(&self) -> Result<Option<Vec<Value>>, JournalError> {
        match self {
            Opened::Sqlite(_) => Ok(None),
            Opened::Postgres(j) => j.workers().await.map(Some),
        }
    }

    /// How the connection to the journal is secured (a PostgreSQL journal only).
    pub fn security(&self) -> Option<String> {
        match self {
            Opened::Sqlite(_) => None,
            Opened::Postgres(j) => Some(format!("{:?}", j.db.location().security())),
        }
    }

    /// How the journal's database replicates (a PostgreSQL journal only).
    pub async fn replication(&self) -> Result<Option<Value>, JournalError> {
        match self {
            Opened::Sqlite(_) => Ok(None),
            Opened::Postgres(j) => crate::journal::postgres::replication::replication(&j.db)
                .await
                .map(Some),
        }
    }

    /// Records holding a payload, by the id of the key that sealed it (a PostgreSQL journal
    /// only; `plain text`: staged before payloads were sealed).
    pub async fn sealed(&self) -> Result<Option<Value>, JournalError> {
        match self {
            Opened::Sqlite(_) => Ok(None),
            Opened::Postgres(j) => {
                let held = crate::journal::postgres::rekey::held(&j.db).await?;
                Ok(Some(Value::Object(
                    held.into_iter()
                        .map(|(id, n)| (id.unwrap_or_else(|| "plain text".into()), n.into()))
                        .collect(),
                )))
            }
        }
    }

    /// Everything a report shows.
    pub async fn report(&self) -> Result<Value, JournalError> {
        self.store().report(&self.counts().await?).await
    }

    /// Records an operator's decision on the records with these ids.
    pub async fn decide(
        &self,
        ids: &[String],
        decision: Decision,
        reason: Option<&str>,
        by: &str,
    ) -> Result<(u64, Vec<String>), JournalError> {
        self.store().decide(ids, decision, reason, by).await
    }
}
