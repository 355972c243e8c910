//! `preventor`: the Preventor SDK from a shell.
//!
//! Commands talk to Preventor's API, configured by the same variables as the crate
//! (`PREVENTOR_API_KEY`, `PREVENTOR_TENANT`, ..., base URLs overridable with
//! `PREVENTOR_COMPLIANCE_URL` and `PREVENTOR_BIOMETRICS_URL`), or to an embedded sandbox when
//! asked (`--sandbox` or `PREVENTOR_SANDBOX=1`, said on stderr). Missing or partial
//! configuration is an error naming every missing variable: never a silent sandbox.

/// `println!` that ignores a closed stdout (`preventor status j | head`): the work is done and
/// recorded by then, and a panic would only hide the exit code.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod commands;
mod feed;
mod input;
mod journal;
mod listed;
mod metrics;
mod output;
mod progress;
mod report;
mod signals;
mod target;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use output::Exit;
use target::Needs;

#[derive(Parser)]
#[command(
    name = "preventor",
    version,
    about = "Preventor's compliance and biometrics APIs from a shell: bulk import with a durable journal, and single calls.",
    after_help = "Exit codes: 0 all acknowledged / success; 1 records rejected, invalid, repeated \
                  or changed since sent; 2 usage; 3 records ambiguous, failed, pending, in \
                  flight or waiting for a decided resend (see `preventor status`); 4 configuration, credentials, input or journal \
                  error (nothing sent); 5 stopped by SIGINT/SIGTERM before the end (a rerun goes \
                  on; with --follow a stop is the normal end, and the exit says what became of \
                  the records read or sent); 130 aborted by a second signal.\n\
                  Commands use Preventor's API from the PREVENTOR_* variables (all of them: a \
                  missing one is an error), or an embedded sandbox with --sandbox."
)]
struct Cli {
    /// Print results as one JSON object on stdout (for scripts).
    #[arg(long, global = true)]
    json: bool,
    /// Run against an embedded sandbox instead of Preventor's API (nothing is sent to
    /// Preventor; said on stderr).
    #[arg(long, global = true, env = "PREVENTOR_SANDBOX", value_parser = clap::builder::BoolishValueParser::new())]
    sandbox: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send a file of customers, accounts or transactions, one call per record, safely.
    Import(commands::import::ImportArgs),
    /// Counts per state of a journal, and the rejected, ambiguous and failed records.
    Status(commands::status::StatusArgs),
    /// The receipt of a journal: each run (input hash, target, options, counts, charts over
    /// time), rejected records grouped by answer, records without a final answer, decisions.
    Report(commands::report::ReportArgs),
    /// Record an operator's decision on ambiguous, rejected or failed records: acknowledged
    /// (checked with Preventor), resend (the next run sends them once) or abandon.
    Resolve(commands::resolve::ResolveArgs),
    /// Join the feed of a PostgreSQL journal from this host: lease buckets of keys, send their
    /// records, take over those of a worker that died; end when nothing is pending (with
    /// --follow, wait for more until SIGTERM).
    Work(commands::work::WorkArgs),
    /// The keys that seal a PostgreSQL journal's personal data: make one, reseal under the
    /// newest.
    JournalKey {
        #[command(subcommand)]
        command: commands::journal_key::JournalKeyCommand,
    },
    /// Check the compliance credentials: obtain a token (prints nothing secret).
    Token,
    /// Customer calls.
    Customer {
        #[command(subcommand)]
        command: commands::customer::CustomerCommand,
    },
    /// The page's "Onboarding based on Biometrics" flow with your photos.
    Onboard(commands::onboard::OnboardArgs),
    /// Run the sandbox server (both APIs) until interrupted.
    Sandbox(commands::sandbox::SandboxArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    run(cli).await.code(json)
}

/// Dispatches to the command's file in [`commands`].
async fn run(cli: Cli) -> Exit {
    let json = cli.json;
    match cli.command {
        Command::Status(args) => commands::status::run(args, json).await,
        Command::Report(args) => commands::report::run(args, json).await,
        Command::Resolve(args) => commands::resolve::run(args, json).await,
        Command::Work(args) => {
            let plan = match target::plan(cli.sandbox, Needs::Compliance) {
                Ok(p) => p,
                Err(e) => return e.into(),
            };
            commands::work::run(plan, args, json).await
        }
        Command::Import(args) => commands::import::run(cli.sandbox, args, json).await,
        Command::JournalKey { command } => commands::journal_key::run(command, json).await,
        Command::Token => commands::token::run(cli.sandbox, json).await,
        Command::Customer { command } => commands::customer::run(cli.sandbox, command, json).await,
        Command::Onboard(args) => commands::onboard::run(cli.sandbox, args, json).await,
        Command::Sandbox(args) => commands::sandbox::run(args).await,
    }
}
