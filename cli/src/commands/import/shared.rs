//! `preventor import FILE --journal postgres://...`: stages the file into the shared feed, then
//! works the feed as `preventor work` does (or ends, with `--stage-only`).

use preventor::bulk::BulkOptions;
use serde_json::json;

use crate::{
    feed::work_feed,
    journal::{
        postgres::{stage, PgJournal},
        runs::{RunStart, Store},
    },
    output::{Exit, Fates},
    progress::Progress,
    target::Plan,
};

/// `import FILE --journal postgres://...`: stages the file, then works the feed.
pub async fn run(
    plan: Plan,
    args: super::ImportArgs,
    feed: super::Feed,
    json_output: bool,
) -> Exit {
    let super::Feed {
        reader,
        facts,
        target,
        journal,
        keys,
        metrics,
    } = feed;
    let progress = Progress::new(None);
    let lines = crate::input::read_on_thread(args.kind, reader, args.is_csv(), 4096);
    let staged = stage::stage(
        &journal.db,
        &keys,
        args.kind,
        lines,
        args.resend_ambiguous,
        stage::Batching::FILE,
        |s| {
            if let Some(m) = &metrics {
                m.staged(s)
            }
        },
    )
    .await;
    let staged = match staged {
        Ok(s) => s,
        Err(e) => return Exit::fatal(format!("journal {}: {e}", journal.db.location())),
    };
    progress.line(format!(
        "staged {} of {} records into {} ({} already staged, {} already settled)",
        staged.staged,
        staged.read,
        journal.db.location(),
        staged.already_staged,
        staged.already_settled
    ));
    if args.stage_only {
        return stage_only(
            &args,
            &journal,
            &target,
            facts,
            &staged,
            &progress,
            None,
            json_output,
        )
        .await;
    }
    let options = BulkOptions::default()
        .concurrency(args.concurrency)
        .max_concurrency(args.max_concurrency.max(args.concurrency));
    let run = RunStart {
        input: args.file.display().to_string(),
        input_bytes: facts.as_ref().map(|f| f.0),
        input_sha256: facts.as_ref().map(|f| f.1.clone()),
        target: target.to_string(),
        options: json!({"kind": args.kind.name(), "concurrency": args.concurrency,
                        "max_concurrency": args.max_concurrency, "lease_s": args.work.lease,
                        "staged": staged.staged, "resend_ambiguous": args.resend_ambiguous}),
    };
    let db = journal.db.clone();
    let feed = crate::feed::Following {
        follow: false,
        metrics,
    };
    let (exit, mut report) = work_feed(
        &plan,
        (journal, keys),
        args.work,
        options,
        feed,
        progress,
        run,
    )
    .await;
    report["staged"] = staged.json();
    // Unless the work ended early, the exit says what became of this file's records.
    let exit = match exit {
        Exit::Fatal(_) | Exit::Stopped | Exit::Usage(_) => exit,
        _ => match (PgJournal { db }).counts_of_staging(staged.staging).await {
            Ok(states) => {
                let fates = problems_of(&staged).with_states(&states);
                report["records_of_this_input"] = fates.json();
                report["verdict"] = fates.verdict().into();
                fates.exit()
            }
            Err(e) => Exit::fatal(format!("journal: {e}")),
        },
    };
    crate::output::print_report(&report, json_output);
    exit
}

/// `--stage-only` (and `--follow`): the staging recorded as a run, reported; the exit says
/// what staging refused. `stopped`: a stream's staging, and whether a signal ended it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn stage_only(
    args: &super::ImportArgs,
    journal: &PgJournal,
    target: &crate::target::Target,
    facts: Option<(u64, String)>,
    staged: &stage::Staged,
    progress: &Progress,
    stopped: Option<bool>,
    json_output: bool,
) -> Exit {
    let run = RunStart {
        input: args.file.display().to_string(),
        input_bytes: facts.as_ref().map(|f| f.0),
        input_sha256: facts.as_ref().map(|f| f.1.clone()),
        target: target.to_string(),
        options: json!({"kind": args.kind.name(), "stage_only": true,
                        "follow": stopped.is_some(),
                        "resend_ambiguous": args.resend_ambiguous}),
    };
    let store = Store::Postgres(journal.db.clone());
    let recorded = match store.start(&run).await {
        Ok(id) => store.end(id, &json!({"staged": staged.json()})).await,
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        progress.line(format!("journal: the run could not be recorded: {e}"));
    }
    let mut report = json!({"staged": staged.json()});
    if let Some(stopped) = stopped {
        report["stopped"] = stopped.into();
    }
    crate::output::print_report(&report, json_output);
    problems_of(staged).exit()
}

/// What staging refused: invalid lines, repeated ids, content changed since sent.
fn problems_of(staged: &stage::Staged) -> Fates {
    Fates {
        invalid: staged.invalid.count,
        repeated: staged.duplicates.count,
        changed: staged.changed.count,
        ..Fates::default()
    }
}
