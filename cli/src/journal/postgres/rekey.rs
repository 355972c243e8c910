//! The journal's sealed payloads by key: which keys the records still holding a payload need,
//! and resealing them under the newest key (after a rotation, or for rows staged before payloads
//! were sealed).

use std::time::{Duration, Instant};

use super::{
    connection::Db,
    seal::{Keyring, Sealed},
};
use crate::journal::JournalError;

/// Rows resealed per statement.
const BATCH: i64 = 1000;

/// Records holding a payload, by the id of the key that sealed it (`None`: plain text, staged
/// before payloads were sealed). Only unsettled records keep one (an outcome or a decision that
/// settles a record clears it), so only their states are read, through the state index: every
/// worker asks this as it starts, and a feed's settled rows are most of it.
pub async fn held(db: &Db) -> Result<Vec<(Option<String>, i64)>, JournalError> {
    let rows = db
        .retry(Instant::now() + Duration::from_secs(30), |c| async move {
            c.query(
                "SELECT CASE WHEN sealed IS NOT NULL THEN key_id END, count(*)
                 FROM preventor_records
                 WHERE state = ANY('{pending,in_flight,ambiguous,failed,resend}')
                   AND (sealed IS NOT NULL OR payload IS NOT NULL)
                 GROUP BY 1 ORDER BY 1",
                &[],
            )
            .await
        })
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// What the keys in `keys` cannot open of what the journal holds: a message naming each key
/// id missing and how many records it sealed, or `None` when every payload opens.
pub fn missing(keys: &Keyring, held: &[(Option<String>, i64)]) -> Option<String> {
    let missing: Vec<String> = held
        .iter()
        .filter_map(|(id, n)| {
            id.as_deref()
                .filter(|id| !keys.holds(id))
                .map(|id| format!("{n} under key {id}"))
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "records of this journal are sealed under keys this process does not hold ({}); \
             its keys: {}. Give it every key the feed's records were staged with \
             (PREVENTOR_JOURNAL_KEY_FILE, one key per line, the newest first); nothing was sent",
            missing.join(", "),
            keys.ids().join(", ")
        )
    })
}

/// Reseals, under the first key of `keys`, every payload sealed under another key or held in
/// plain text; returns how many. A row settled or restaged meanwhile is left as it is now.
pub async fn reseal(db: &Db, keys: &Keyring) -> Result<u64, JournalError> {
    let until = Instant::now() + Duration::from_secs(60);
    let newest = keys.sealing_id().to_string();
    let mut resealed = 0;
    let mut after = String::new();
    loop {
        let rows = db
            .retry(until, |c| {
                let (newest, after) = (newest.clone(), after.clone());
                async move {
                    c.query(
                        "SELECT row_id, kind, hash, sealed, key_id, payload
                         FROM preventor_records
                         WHERE row_id > $1
                           AND ((sealed IS NOT NULL AND key_id <> $2)
                                OR (sealed IS NULL AND payload IS NOT NULL))
                         ORDER BY row_id LIMIT $3",
                        &[&after, &newest, &BATCH],
                    )
                    .await
                }
            })
            .await?;
        let Some(last) = rows.last() else {
            return Ok(resealed);
        };
        after = last.get(0);
        let mut cols: (Vec<String>, Vec<Vec<u8>>, Vec<Vec<u8>>) = Default::default();
        let mut plain: (Vec<String>, Vec<String>, Vec<Vec<u8>>) = Default::default();
        for r in &rows {
            let (row, kind, hash): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            let sealed = r
                .get::<_, Option<Vec<u8>>>(3)
                .zip(r.get::<_, Option<String>>(4))
                .map(|(bytes, key_id)| Sealed { key_id, bytes });
            match sealed {
                Some(old) => {
                    let text = keys
                        .open(&kind, &row, &hash, &old)
                        .map_err(|e| JournalError::Storage(format!("record {row}: {e}")))?;
                    let new = keys
                        .seal(&kind, &row, &hash, &text)
                        .map_err(JournalError::Storage)?;
                    cols.0.push(row);
                    cols.1.push(old.bytes);
                    cols.2.push(new.bytes);
                }
                None => {
                    let text: String = r.get(5);
                    let new = keys
                        .seal(&kind, &row, &hash, &text)
                        .map_err(JournalError::Storage)?;
                    plain.0.push(row);
                    plain.1.push(text);
                    plain.2.push(new.bytes);
                }
            }
        }
        // Compare and set: only a row still holding what was read is rewritten.
        let n = db
            .retry(until, |c| {
                let (cols, plain, newest) = (cols.clone(), plain.clone(), newest.clone());
                async move {
                    let a = c
                        .execute(
                            "UPDATE preventor_records r SET sealed = s.new, key_id = $4,
                                    updated = now()
                             FROM unnest($1::text[], $2::bytea[], $3::bytea[])
                                  AS s(row_id, old, new)
                             WHERE r.row_id = s.row_id AND r.sealed = s.old",
                            &[&cols.0, &cols.1, &cols.2, &newest],
                        )
                        .await?;
                    let b = c
                        .execute(
                            "UPDATE preventor_records r SET sealed = s.new, key_id = $4,
                                    payload = NULL, updated = now()
                             FROM unnest($1::text[], $2::text[], $3::bytea[])
                                  AS s(row_id, old, new)
                             WHERE r.row_id = s.row_id AND r.sealed IS NULL
                               AND r.payload = s.old",
                            &[&plain.0, &plain.1, &plain.2, &newest],
                        )
                        .await?;
                    Ok(a + b)
                }
            })
            .await?;
        resealed += n;
    }
}
