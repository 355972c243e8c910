//! `preventor work --journal postgres://...`: joins the shared feed from this host.

use preventor::bulk::BulkOptions;
use serde_json::json;

use crate::{
    feed::{open, refuse_embedded, work_feed, FeedJournal, WorkOptions},
    journal::runs::RunStart,
    output::Exit,
    progress::Progress,
    target::Plan,
};

/// `preventor work` options.
#[derive(clap::Args, Debug)]
pub struct WorkArgs {
    #[command(flatten)]
    pub feed: FeedJournal,
    #[command(flatten)]
    pub work: WorkOptions,
    /// Calls in flight at the start.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
    /// Most calls in flight.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_concurrency: usize,
}

/// `preventor work`: joins the feed of a PostgreSQL journal.
pub async fn run(plan: Plan, args: WorkArgs, json_output: bool) -> Exit {
    if let Err(e) = refuse_embedded(&plan) {
        return e;
    }
    let target = plan.target();
    let journal = match open(&args.feed.journal, &args.work, &target).await {
        Ok(j) => j,
        Err(e) => return e,
    };
    let options = BulkOptions::default()
        .concurrency(args.concurrency)
        .max_concurrency(args.max_concurrency.max(args.concurrency));
    let run = RunStart {
        input: "(a worker: the feed staged in the journal)".into(),
        input_bytes: None,
        input_sha256: None,
        target: target.to_string(),
        options: json!({"concurrency": args.concurrency, "max_concurrency": args.max_concurrency,
                        "lease_s": args.work.lease}),
    };
    let (exit, report) =
        work_feed(&plan, journal, args.work, options, Progress::new(None), run).await;
    crate::output::print_report(&report, json_output);
    exit
}
