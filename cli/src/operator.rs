//! The operator's commands on a journal, SQLite or PostgreSQL alike: `report` (the receipt) and
//! `resolve` (a recorded decision on ambiguous, rejected or failed records).

use std::path::{Path, PathBuf};

use crate::{
    journal::{
        postgres::{connection::Location, PgJournal},
        runs::{Decision, Store},
        Journal,
    },
    Exit,
};

/// `preventor resolve` options.
#[derive(clap::Args, Debug)]
pub struct ResolveArgs {
    /// The journal: a SQLite file or a PostgreSQL DSN.
    pub journal: PathBuf,
    /// What was decided.
    #[arg(long, value_enum)]
    pub decision: Decision,
    /// Record ids (as in the input).
    pub ids: Vec<String>,
    /// A file of record ids, one a line.
    #[arg(long, value_name = "FILE")]
    pub ids_file: Option<PathBuf>,
    /// Why (recorded with the decision, shown in reports).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Who decided (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Allow a PostgreSQL journal on another host without TLS (`sslmode=disable`).
    #[arg(long, env = "PREVENTOR_JOURNAL_PLAINTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub journal_plaintext: bool,
}

fn dsn(path: &Path) -> Option<&str> {
    path.to_str()
        .filter(|p| crate::journal::postgres::connection::is_dsn(p))
}

async fn pg(dsn: &str, plaintext: bool) -> Result<PgJournal, Exit> {
    let location =
        Location::parse(dsn, plaintext).map_err(|e| Exit::fatal(format!("journal: {e}")))?;
    let shown = location.to_string();
    PgJournal::open(location, None)
        .await
        .map_err(|e| Exit::fatal(format!("journal {shown}: {e}")))
}

/// `preventor report JOURNAL [--html FILE]`.
pub async fn report(journal: &Path, html: Option<&Path>, plaintext: bool, json: bool) -> Exit {
    let (report, shown) = match dsn(journal) {
        Some(dsn) => {
            let j = match pg(dsn, plaintext).await {
                Ok(j) => j,
                Err(e) => return e,
            };
            (
                Store::Postgres(j.db.clone()).report().await,
                j.db.location().to_string(),
            )
        }
        None => {
            let j = match Journal::open_to_read(journal) {
                Ok(j) => j,
                Err(e) => return Exit::fatal(format!("journal {}: {e}", journal.display())),
            };
            (
                Store::Sqlite(j.db()).report().await,
                journal.display().to_string(),
            )
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => return Exit::fatal(format!("journal {shown}: {e}")),
    };
    if let Some(path) = html {
        if let Err(e) = crate::report::write_html(&report, &shown, path) {
            return Exit::fatal(format!("{}: {e}", path.display()));
        }
        eprintln!("report written to {}", path.display());
    }
    if json {
        out!("{report}");
    } else if html.is_none() {
        crate::report::print_text(&report);
    }
    Exit::Ok
}

/// `preventor resolve JOURNAL --decision D IDS... --reason TEXT`.
pub async fn resolve(args: ResolveArgs, json: bool) -> Exit {
    let mut ids = args.ids.clone();
    if let Some(file) = &args.ids_file {
        match std::fs::read_to_string(file) {
            Ok(text) => ids.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            ),
            Err(e) => return Exit::fatal(format!("{}: {e}", file.display())),
        }
    }
    if ids.is_empty() {
        return Exit::usage("name the records to resolve: ids, or --ids-file FILE".into());
    }
    let by = args
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    let reason = args.reason.as_deref();
    let result = match dsn(&args.journal) {
        Some(dsn) => match pg(dsn, args.journal_plaintext).await {
            Ok(j) => {
                Store::Postgres(j.db.clone())
                    .decide(&ids, args.decision, reason, &by)
                    .await
            }
            Err(e) => return e,
        },
        None => match Journal::open_to_change(&args.journal) {
            Ok(j) => {
                Store::Sqlite(j.db())
                    .decide(&ids, args.decision, reason, &by)
                    .await
            }
            Err(e) => return Exit::fatal(format!("journal {}: {e}", args.journal.display())),
        },
    };
    match result {
        Ok((decided, unmatched)) => {
            let report = serde_json::json!({
                "decision": args.decision.name(), "by": by, "reason": reason,
                "records_decided": decided, "not_ambiguous_rejected_or_failed": unmatched,
            });
            if json {
                out!("{report}");
            } else {
                out!(
                    "{} record(s) decided {} by {by}",
                    decided,
                    args.decision.name()
                );
                for id in &unmatched {
                    eprintln!("{id}: no ambiguous, rejected or failed record with this id; nothing decided");
                }
            }
            if unmatched.is_empty() {
                Exit::Ok
            } else {
                Exit::Rejected
            }
        }
        Err(e) => Exit::fatal(format!("journal: {e}")),
    }
}
