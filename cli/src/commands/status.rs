//! `preventor status JOURNAL`: counts per state, the workers of a shared feed, the records an
//! operator must look at, and the commands that decide them.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::{
    journal::opened::{Access, Opened},
    output::{self, Exit, Fates},
};

/// `preventor status` options.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The journal of `preventor import --journal`: a SQLite file or a PostgreSQL DSN (read
    /// only: works while an import runs).
    pub journal: PathBuf,
    /// Allow a PostgreSQL journal on another host without TLS (`sslmode=disable`).
    #[arg(long, env = "PREVENTOR_JOURNAL_PLAINTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub journal_plaintext: bool,
}

/// Most problem records listed.
const LISTED: usize = 1000;

/// Runs `status`; exits by [`Fates::exit`] over the whole journal.
pub async fn run(args: StatusArgs, json_output: bool) -> Exit {
    let journal = match Opened::open(&args.journal, args.journal_plaintext, Access::Read).await {
        Ok(j) => j,
        Err(e) => return Exit::fatal(format!("journal {e}")),
    };
    let gathered = async {
        Ok::<_, crate::journal::JournalError>((
            journal.target().await?,
            journal.counts().await?,
            journal.workers().await?,
            journal.problems(&crate::journal::TO_DECIDE, LISTED).await?,
            journal.replication().await?,
            journal.sealed().await?,
        ))
    }
    .await;
    let (target, counts, workers, problems, replication, sealed) = match gathered {
        Ok(g) => g,
        Err(e) => return Exit::fatal(format!("journal {}: {e}", journal.shown())),
    };
    let fates = Fates::of_states(&counts);
    let mut report = json!({"journal": journal.shown(), "verdict": fates.verdict()});
    if let Some(security) = journal.security() {
        report["journal_connection"] = security.into();
    }
    if let Some(replication) = replication {
        report["journal_replication"] = replication;
    }
    if let Some(sealed) = sealed {
        report["payloads_by_key"] = sealed;
    }
    report["target"] = json!(target);
    for (state, n) in fates.states_json().as_object().into_iter().flatten() {
        report[state] = n.clone();
    }
    if let Some(workers) = workers {
        report["workers"] = workers.into();
    }
    report["problems"] = serde_json::to_value(&problems).unwrap_or_default();
    let next_steps = Value::from(super::resolve::suggestions(&journal.shown(), &problems));
    if json_output {
        report["next_steps"] = next_steps;
        output::print_report(&report, true);
    } else {
        output::print_report(&report, false);
        output::print_next_steps(&next_steps);
    }
    fates.exit()
}
