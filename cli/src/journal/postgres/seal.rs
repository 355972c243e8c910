//! The shared journal's payloads, sealed before they leave the process: AES-256-GCM (aws-lc-rs,
//! the crypto the TLS stack builds) under a key only the workers hold, so that neither the
//! database's files, its WAL, its backups nor its replicas hold a customer's identity in plain
//! text.
//!
//! A sealed payload is `1 || nonce (12 bytes, random) || ciphertext || tag`; the record's
//! identity (its kind, row id and content hash) is the associated data, so a ciphertext moved to
//! another row does not open. Each row names the id of the key that sealed it
//! ([`Keyring::sealing_id`]): keys rotate by listing a new key first (it seals) and older ones
//! after it (they still open); `preventor journal-key reseal` moves what is still held to the
//! first.
//!
//! Keys come from `PREVENTOR_JOURNAL_KEY` or the file `PREVENTOR_JOURNAL_KEY_FILE` names: 32
//! bytes each, as 64 hex digits or base64, separated by commas, spaces or lines (`#` starts a
//! comment in a file). A key is never shown: only its id, a digest of it.

use std::{fmt, path::Path};

use aws_lc_rs::aead::{Aad, Nonce, RandomizedNonceKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use sha2::Digest;

/// The variable holding the keys themselves.
pub const KEY_VAR: &str = "PREVENTOR_JOURNAL_KEY";
/// The first byte of a sealed payload: this format.
const FORMAT: u8 = 1;

/// What a PostgreSQL journal needs a key for, and how to make one (said when none is given).
pub const NO_KEY: &str = "no key to seal the records' personal data.
  A PostgreSQL journal seals each record's data before storing it, with a key only the workers
  hold, so that the database's files, WAL, backups and replicas never hold it in plain text.
  Make a key (and keep it as you keep the database's password):
    preventor journal-key new > journal.key
  Then give every `import` and `work` of this feed the same key:
    PREVENTOR_JOURNAL_KEY_FILE=journal.key (or the key itself in PREVENTOR_JOURNAL_KEY)";

/// One key: its id and the AEAD key.
struct JournalKey {
    id: String,
    key: RandomizedNonceKey,
}

/// The keys a worker holds: the first seals, every one opens what it sealed.
pub struct Keyring {
    keys: Vec<JournalKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

/// A payload sealed: the key's id and the bytes stored.
#[derive(Clone, Debug)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

/// Why a sealed payload did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under a key this keyring does not hold.
    #[error(
        "it is sealed under journal key {0}, which this process does not hold (its keys: {1}); \
         give it that key too (PREVENTOR_JOURNAL_KEY_FILE, one key per line, the newest first)"
    )]
    UnknownKey(String, String),
    /// The key is held, but the bytes do not open with it for this record.
    #[error(
        "it does not open with journal key {0}: the row was altered, moved from another \
         record, or sealed by another key with the same id"
    )]
    Corrupt(String),
}

impl Keyring {
    /// The keys in `PREVENTOR_JOURNAL_KEY_FILE` (the file `file` names, when given) or
    /// `PREVENTOR_JOURNAL_KEY`; `Ok(None)` when neither is set. Errors say which and why, never
    /// a key.
    pub fn from_env(file: Option<&Path>) -> Result<Option<Keyring>, String> {
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "the journal key file {} cannot be read: {}",
                    path.display(),
                    e.kind()
                )
            })?;
            let text: String = text
                .lines()
                .map(|l| l.split('#').next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            return Keyring::parse(&text)
                .map(Some)
                .map_err(|e| format!("the journal key file {}: {e}", path.display()));
        }
        match std::env::var(KEY_VAR) {
            Ok(text) if !text.trim().is_empty() => Keyring::parse(&text)
                .map(Some)
                .map_err(|e| format!("{KEY_VAR}: {e}")),
            _ => Ok(None),
        }
    }

    /// Keys as text: 64 hex digits or base64 of 32 bytes each, separated by commas or white
    /// space; the first seals.
    pub fn parse(text: &str) -> Result<Keyring, String> {
        let mut keys = Vec::new();
        for (i, word) in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .enumerate()
        {
            let bytes = decode_key(word).ok_or_else(|| {
                format!(
                    "key {} of the list is not 32 bytes as 64 hex digits or base64 ({} \
                     characters)",
                    i + 1,
                    word.len()
                )
            })?;
            keys.push(JournalKey {
                id: key_id(&bytes),
                key: RandomizedNonceKey::new(&AES_256_GCM, &bytes)
                    .map_err(|_| "the key cannot be used for AES-256-GCM".to_string())?,
            });
        }
        if keys.is_empty() {
            return Err("no key in it".into());
        }
        Ok(Keyring { keys })
    }

    /// A new key: 32 random bytes as 64 hex digits.
    pub fn new_key() -> Result<String, String> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "no randomness available".to_string())?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id of the key that seals.
    pub fn sealing_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every key's id, the sealing one first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Whether this keyring opens what the key `id` sealed.
    pub fn holds(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    /// Seals the payload of the record `row` of `kind` whose content hashes to `hash`. Fails
    /// only for a payload AES-GCM cannot take (64 GiB and more) or without randomness.
    pub fn seal(&self, kind: &str, row: &str, hash: &str, payload: &str) -> Result<Sealed, String> {
        let key = &self.keys[0];
        let mut data = payload.as_bytes().to_vec();
        let nonce = key
            .key
            .seal_in_place_append_tag(Aad::from(identity(kind, row, hash)), &mut data)
            .map_err(|_| format!("record {row} could not be sealed ({} bytes)", payload.len()))?;
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + data.len());
        bytes.push(FORMAT);
        bytes.extend_from_slice(nonce.as_ref());
        bytes.extend_from_slice(&data);
        Ok(Sealed {
            key_id: key.id.clone(),
            bytes,
        })
    }

    /// Opens what [`seal`](Self::seal) sealed for the same record.
    pub fn open(
        &self,
        kind: &str,
        row: &str,
        hash: &str,
        sealed: &Sealed,
    ) -> Result<String, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone(), self.ids().join(", ")))?;
        let corrupt = || OpenError::Corrupt(sealed.key_id.clone());
        let (format, rest) = sealed.bytes.split_first().ok_or_else(corrupt)?;
        if *format != FORMAT || rest.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, data) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut data = data.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(identity(kind, row, hash)), &mut data)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain.to_vec()).map_err(|_| corrupt())
    }
}

/// The associated data: what the ciphertext belongs to.
fn identity(kind: &str, row: &str, hash: &str) -> Vec<u8> {
    format!("preventor journal payload v1\n{kind}\n{row}\n{hash}").into_bytes()
}

/// A key's id: `k` and 8 hex digits of a digest of it (says which key, reveals nothing of it).
fn key_id(key: &[u8]) -> String {
    let digest = sha2::Sha256::new()
        .chain_update(b"preventor journal key id\n")
        .chain_update(key)
        .finalize();
    let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("k{hex}")
}

/// 32 bytes from 64 hex digits or base64 (standard or URL-safe, padded or not).
fn decode_key(word: &str) -> Option<Vec<u8>> {
    let bytes = if word.len() == 64 && word.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&word[2 * i..2 * i + 2], 16).ok())
            .collect::<Option<Vec<u8>>>()?
    } else {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        let word = word.trim_end_matches('=');
        let padded = format!("{word}{}", "=".repeat((4 - word.len() % 4) % 4));
        STANDARD
            .decode(&padded)
            .or_else(|_| URL_SAFE.decode(&padded))
            .ok()?
    };
    (bytes.len() == 32).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn a_payload_opens_only_for_its_own_record_and_key() {
        let keys = Keyring::parse(A).unwrap();
        let sealed = keys
            .seal("customers", "customers:c-1:A", "h1", "{\"name\":\"Ana\"}")
            .unwrap();
        assert_eq!(sealed.key_id, keys.sealing_id());
        assert!(!String::from_utf8_lossy(&sealed.bytes).contains("Ana"));
        assert_eq!(
            keys.open("customers", "customers:c-1:A", "h1", &sealed)
                .unwrap(),
            "{\"name\":\"Ana\"}"
        );
        // Moved to another row, or another content hash: does not open.
        for (row, hash) in [("customers:c-2:A", "h1"), ("customers:c-1:A", "h2")] {
            assert_eq!(
                keys.open("customers", row, hash, &sealed),
                Err(OpenError::Corrupt(sealed.key_id.clone()))
            );
        }
        // Another key: named, never a silent skip.
        let other = Keyring::parse(&Keyring::new_key().unwrap()).unwrap();
        let error = other
            .open("customers", "customers:c-1:A", "h1", &sealed)
            .unwrap_err();
        assert!(error.to_string().contains(&sealed.key_id), "{error}");
    }

    #[test]
    fn keys_rotate_the_first_seals_and_every_one_opens() {
        let old = Keyring::parse(A).unwrap();
        let sealed_old = old
            .seal("transactions", "transactions:t-1", "h", "{}")
            .unwrap();
        let new_key = Keyring::new_key().unwrap();
        let both = Keyring::parse(&format!("{new_key}, {A}")).unwrap();
        assert_ne!(both.sealing_id(), old.sealing_id());
        assert!(both.holds(old.sealing_id()));
        assert_eq!(
            both.open("transactions", "transactions:t-1", "h", &sealed_old)
                .unwrap(),
            "{}"
        );
        assert_eq!(
            both.seal("transactions", "transactions:t-1", "h", "{}")
                .unwrap()
                .key_id,
            both.sealing_id()
        );
    }

    #[test]
    fn keys_are_read_as_hex_or_base64_and_never_shown() {
        use base64::engine::general_purpose::STANDARD;
        let bytes: Vec<u8> = (0u8..32).collect();
        let from_hex = Keyring::parse(A).unwrap();
        let from_b64 = Keyring::parse(&STANDARD.encode(&bytes)).unwrap();
        assert_eq!(from_hex.sealing_id(), from_b64.sealing_id());
        assert!(!format!("{from_hex:?}").contains(&A[..16]));
        let short = Keyring::parse("abcd").unwrap_err();
        assert!(
            short.contains("32 bytes") && !short.contains("abcd"),
            "{short}"
        );
        let one_wrong = Keyring::parse(&format!("{A},{}", &A[..63])).unwrap_err();
        assert!(
            one_wrong.contains("key 2") && !one_wrong.contains(&A[..20]),
            "{one_wrong}"
        );
    }
}
