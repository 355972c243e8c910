//! How the journal's database replicates, and so what a failover can lose: with synchronous
//! replication, nothing committed; with asynchronous replication (PostgreSQL's default for a
//! standby), the last commits the primary had not yet shipped. Workers that survive the
//! failover write those back ([`recent`](super::recent)); what a worker that died with the
//! primary alone knew is lost (its records are then ambiguous, or sent again and settled by
//! "already exists").

use serde_json::{json, Value};

use super::connection::{storage, Db};
use crate::journal::JournalError;

/// The replication of the journal's database, as `status` and `work` show it.
pub async fn replication(db: &Db) -> Result<Value, JournalError> {
    let client = db.client().await.map_err(|e| storage(&e))?;
    let row = client
        .query_one(
            "SELECT current_setting('synchronous_standby_names'),
                    current_setting('synchronous_commit'),
                    (SELECT count(*) FROM pg_stat_replication),
                    (SELECT count(*) FROM pg_stat_replication
                     WHERE sync_state IN ('sync', 'quorum')),
                    pg_is_in_recovery()",
            &[],
        )
        .await
        .map_err(|e| storage(&e))?;
    let names: String = row.get(0);
    let commit: String = row.get(1);
    let (standbys, synchronous): (i64, i64) = (row.get(2), row.get(3));
    let mode = if synchronous > 0 && !matches!(commit.as_str(), "off" | "local") {
        "synchronous"
    } else if standbys > 0 {
        "asynchronous"
    } else {
        "none"
    };
    let meaning = match mode {
        "synchronous" => {
            "a commit waits for a standby: a failover to it loses nothing the workers wrote"
        }
        "asynchronous" => {
            "a failover can lose the last commits: workers alive write theirs back; what a \
             worker that died with the primary alone knew is lost (set \
             synchronous_standby_names and synchronous_commit = on to lose nothing)"
        }
        _ => "no standby is streaming from this server: a failover has nowhere to go",
    };
    Ok(json!({
        "mode": mode,
        "standbys": standbys,
        "synchronous_standbys": synchronous,
        "synchronous_standby_names": names,
        "synchronous_commit": commit,
        "in_recovery": row.get::<_, bool>(4),
        "meaning": meaning,
    }))
}
