//! `preventor import KIND FILE`: a file of customers, accounts or transactions, one call per
//! record. Into a SQLite journal (or none) on this host ([`local`]), or staged into a PostgreSQL
//! journal and worked as a shared feed ([`shared`]). The input is opened only by the path
//! taken: stdin is read once.

mod follow;
mod local;
mod shared;

use std::path::PathBuf;

use crate::{
    input::Kind,
    journal::opened::names_postgres,
    output::Exit,
    target::{self, Needs},
};

/// `preventor import` options.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// customers, accounts or transactions.
    #[arg(value_enum)]
    pub kind: Kind,
    /// JSON Lines (or CSV with `--csv`, or a `.csv` name) with the documents' field names; `-`
    /// for stdin.
    pub file: PathBuf,
    /// The input is CSV with a header row of field names (default: by the file's extension).
    #[arg(long)]
    pub csv: bool,
    /// Durable journal: a SQLite file (one host, one import at a time), or a PostgreSQL DSN
    /// (`postgres://user@host/db`, or libpq's `host=... dbname=...`: the file is staged, then
    /// worked by this and any `preventor work` on other hosts). A rerun skips what was acknowledged or rejected. Bound to the
    /// target of its first run.
    #[arg(
        long,
        env = "PREVENTOR_JOURNAL",
        hide_env_values = true,
        value_name = "PATH|DSN"
    )]
    pub journal: Option<PathBuf>,
    /// With a PostgreSQL journal: stage the file and end (workers send it).
    #[arg(long, requires = "journal")]
    pub stage_only: bool,
    #[command(flatten)]
    pub work: crate::feed::WorkOptions,
    /// Bind a journal written before journals recorded their target to this run's target.
    #[arg(long, requires = "journal")]
    pub adopt_journal: bool,
    /// Calls in flight at the start.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Most calls in flight.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_concurrency: usize,
    /// Send only shard i of n (a stable hash of each record's key), e.g. `0/4`.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<String>,
    /// Send records the journal holds as ambiguous once more (an operator's decision: they
    /// may have been processed). Customer creates are read back first; an "already exists"
    /// answer settles a record as acknowledged.
    #[arg(long)]
    pub resend_ambiguous: bool,
    /// Validate every record against the documents and the generated types; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A stream (`-`: a pipe from a source): stage each batch into the PostgreSQL journal as
    /// its lines arrive and tell the workers (`preventor work --follow` sends them); end at
    /// the end of input, or on SIGTERM/SIGINT with every whole line read staged (exit 0 when
    /// nothing was refused). A last line without its end of line is reported, not staged.
    #[arg(long, requires = "journal", conflicts_with_all = ["dry_run", "shard"])]
    pub follow: bool,
    /// With --follow: a batch is staged at this many records...
    #[arg(long, default_value_t = 1000, value_name = "N", requires = "follow",
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch_records: u64,
    /// ...or this many milliseconds after its first record, whichever comes first.
    #[arg(long, default_value_t = 100, value_name = "MS", requires = "follow",
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub batch_ms: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics and a health check at /healthz while
    /// this runs, e.g. `127.0.0.1:9464` (the feed's backlog and latency: a PostgreSQL journal).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
}

impl ImportArgs {
    /// Whether the input is CSV (`--csv`, or a `.csv` name).
    pub fn is_csv(&self) -> bool {
        self.csv
            || self
                .file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    }
}

/// An opened input, its line count, and its size and SHA-256 (for the run's record).
pub(super) type Input = (
    Box<dyn std::io::BufRead + Send>,
    Option<u64>,
    Option<(u64, String)>,
);

/// The input, its line count, and its size and SHA-256 (for the run's record).
pub(super) fn open_input(args: &ImportArgs) -> std::io::Result<Input> {
    if args.file.as_os_str() == "-" {
        return Ok((
            Box::new(std::io::BufReader::new(std::io::stdin())),
            None,
            None,
        ));
    }
    let (bytes, sha256, lines) = crate::journal::runs::input_facts(&args.file)?;
    let file = std::fs::File::open(&args.file)?;
    Ok((
        Box::new(std::io::BufReader::with_capacity(1 << 16, file)),
        Some(lines),
        Some((bytes, sha256)),
    ))
}

/// What a staging into a PostgreSQL journal starts from.
pub(super) struct Feed {
    pub reader: Box<dyn std::io::BufRead + Send>,
    /// The input's size and SHA-256 (a file).
    pub facts: Option<(u64, String)>,
    pub target: crate::target::Target,
    pub journal: crate::journal::postgres::PgJournal,
    pub keys: std::sync::Arc<crate::journal::postgres::seal::Keyring>,
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

/// The input, the journal at `dsn` with its keys, and `--metrics` served: the start of
/// `import --journal postgres://...` (a file, or a stream with `--follow`). `--shard` is
/// refused first: the feed is shared between workers by itself.
pub(super) async fn open_feed(
    plan: &target::Plan,
    args: &ImportArgs,
    dsn: &str,
) -> Result<Feed, Exit> {
    if args.shard.is_some() {
        return Err(Exit::usage(
            "--shard splits a file between journals; a PostgreSQL journal shares one feed \
             between workers by itself: leave --shard out"
                .into(),
        ));
    }
    crate::feed::refuse_embedded(plan)?;
    let (reader, _, facts) =
        open_input(args).map_err(|e| Exit::fatal(format!("{}: {e}", args.file.display())))?;
    let target = plan.target();
    let (journal, keys) = crate::feed::open(dsn, &args.work, &target).await?;
    let metrics = crate::metrics::serve_for(args.metrics.as_deref(), Some(&journal.db)).await?;
    Ok(Feed {
        reader,
        facts,
        target,
        journal,
        keys,
        metrics,
    })
}

/// Runs `import`: a dry run, a shared feed, or a local import, by the arguments.
pub async fn run(sandbox: bool, args: ImportArgs, json_output: bool) -> Exit {
    if args.dry_run {
        return local::run(None, args, json_output).await;
    }
    let plan = match target::plan(sandbox, Needs::Compliance) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    match args.journal.as_deref().and_then(names_postgres) {
        Some(dsn) => {
            let feed = match open_feed(&plan, &args, dsn).await {
                Ok(f) => f,
                Err(e) => return e,
            };
            if args.follow {
                follow::run(args, feed, json_output).await
            } else {
                shared::run(plan, args, feed, json_output).await
            }
        }
        None if args.follow => Exit::usage(
            "--follow stages a stream into a feed shared through a PostgreSQL journal \
             (--journal postgres://...) for `preventor work --follow`: a SQLite journal is \
             worked by one process, which ends with its input"
                .into(),
        ),
        None => local::run(Some(plan), args, json_output).await,
    }
}
