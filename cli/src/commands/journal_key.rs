//! `preventor journal-key`: the keys that seal a PostgreSQL journal's personal data. `new`
//! prints a fresh key; `reseal` moves every payload the journal holds under the newest key
//! (after a rotation: the new key first, the old one after it), so that the old key can go.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    feed::{FeedJournal, WorkOptions},
    journal::postgres::{connection::Location, rekey, schema, PgJournal},
    output::Exit,
};

/// `preventor journal-key` commands.
#[derive(clap::Subcommand, Debug)]
pub enum JournalKeyCommand {
    /// Print a new key (32 random bytes as 64 hex digits) for PREVENTOR_JOURNAL_KEY_FILE.
    New,
    /// Reseal every payload the journal holds under the newest key given (the first), opening
    /// them with the others; rows staged before payloads were sealed are sealed too.
    Reseal(ResealArgs),
}

/// `preventor journal-key reseal` options.
#[derive(clap::Args, Debug)]
pub struct ResealArgs {
    #[command(flatten)]
    pub feed: FeedJournal,
    #[command(flatten)]
    pub work: WorkOptions,
}

/// Runs a `journal-key` command.
pub async fn run(command: JournalKeyCommand, json_output: bool) -> Exit {
    match command {
        JournalKeyCommand::New => match crate::journal::postgres::seal::Keyring::new_key() {
            Ok(key) => {
                out!("{key}");
                Exit::Ok
            }
            Err(e) => Exit::fatal(e),
        },
        JournalKeyCommand::Reseal(args) => reseal(args, json_output).await,
    }
}

async fn reseal(args: ResealArgs, json_output: bool) -> Exit {
    let keys = match args.work.keys() {
        Ok(k) => k,
        Err(e) => return e,
    };
    let location = match Location::parse(&args.feed.journal, args.work.journal_plaintext) {
        Ok(l) => l,
        Err(e) => return Exit::fatal(format!("journal: {e}")),
    };
    let shown = location.to_string();
    let fail = |e: crate::journal::JournalError| Exit::fatal(format!("journal {shown}: {e}"));
    if let Err(e) = schema::migrate(&location, Instant::now() + Duration::from_secs(30)).await {
        return fail(e);
    }
    let journal = match PgJournal::open(location, None).await {
        Ok(j) => j,
        Err(e) => return fail(e),
    };
    let resealed = match rekey::reseal(&journal.db, &keys).await {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let held = match rekey::held(&journal.db).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let by_key: serde_json::Map<String, serde_json::Value> = held
        .iter()
        .map(|(id, n)| (id.clone().unwrap_or_else(|| "plain text".into()), json!(n)))
        .collect();
    if json_output {
        out!(
            "{}",
            json!({"journal": shown, "resealed": resealed, "key": keys.sealing_id(),
                   "held_by_key": by_key})
        );
    } else {
        out!(
            "resealed {resealed} records of {shown} under key {}",
            keys.sealing_id()
        );
        for (id, n) in &by_key {
            out!("  {n} records hold a payload under {id}");
        }
        if by_key.keys().all(|id| id == keys.sealing_id()) {
            out!(
                "Every payload is under {}: older keys can be dropped from this feed's key \
                 file (VACUUM the table to drop the old ciphertexts' row versions too).",
                keys.sealing_id()
            );
        }
    }
    Exit::Ok
}
