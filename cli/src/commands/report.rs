//! `preventor report JOURNAL [--html FILE]`: the receipt of a journal (see [`crate::report`]).

use std::path::PathBuf;

use crate::{
    journal::opened::{Access, Opened},
    output::{Exit, Fates},
};

/// `preventor report` options.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A SQLite journal file or a PostgreSQL DSN.
    pub journal: PathBuf,
    /// Also write one self-contained HTML page (charts, tables; no script, no network).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Allow a PostgreSQL journal on another host without TLS (`sslmode=disable`).
    #[arg(long, env = "PREVENTOR_JOURNAL_PLAINTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub journal_plaintext: bool,
}

/// Most problem records read for the suggested commands.
const LISTED: usize = 1000;

/// Runs `report`; exits by [`Fates::exit`] over the whole journal, as `status` does.
pub async fn run(args: ReportArgs, json: bool) -> Exit {
    let journal = match Opened::open(&args.journal, args.journal_plaintext, Access::Read).await {
        Ok(j) => j,
        Err(e) => return Exit::fatal(format!("journal {e}")),
    };
    let shown = journal.shown();
    let gathered = async {
        Ok::<_, crate::journal::JournalError>((
            journal.report().await?,
            journal.counts().await?,
            journal.problems(&crate::journal::TO_DECIDE, LISTED).await?,
        ))
    }
    .await;
    let (mut report, counts, problems) = match gathered {
        Ok(r) => r,
        Err(e) => return Exit::fatal(format!("journal {shown}: {e}")),
    };
    report["next_steps"] = super::resolve::suggestions(&shown, &problems).into();
    report["verdict"] = Fates::of_states(&counts).verdict().into();
    if let Some(path) = &args.html {
        if let Err(e) = crate::report::write_html(&report, &shown, path) {
            return Exit::fatal(format!("{}: {e}", path.display()));
        }
        eprintln!("report written to {}", path.display());
    }
    if json {
        out!("{report}");
    } else if args.html.is_none() {
        crate::report::print_text(&report);
    }
    Fates::of_states(&counts).exit()
}
