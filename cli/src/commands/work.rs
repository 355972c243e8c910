//! `preventor work --journal postgres://...`: joins the shared feed from this host.

use preventor::bulk::BulkOptions;
use serde_json::json;

use crate::{
    feed::{open, refuse_embedded, work_feed, FeedJournal, Following, WorkOptions},
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
    /// Do not end when nothing is pending: wait for records staged (told by `import --follow`
    /// and any staging, with a look every 5 s besides), until SIGTERM or SIGINT, which ends it
    /// cleanly (exit by what became of the records it sent: 0, 1 rejected, 3 ambiguous).
    #[arg(long)]
    pub follow: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics and a health check at /healthz while
    /// this runs, e.g. `0.0.0.0:9464`.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
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
    let metrics =
        match crate::metrics::serve_for(args.metrics.as_deref(), Some(&journal.0.db)).await {
            Ok(m) => m,
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
                        "lease_s": args.work.lease, "follow": args.follow}),
    };
    let feed = Following {
        follow: args.follow,
        metrics,
    };
    let (exit, report) = work_feed(
        &plan,
        journal,
        args.work,
        options,
        feed,
        Progress::new(None),
        run,
    )
    .await;
    crate::output::print_report(&report, json_output);
    exit
}
