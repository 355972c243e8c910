//! Text from a server, made safe to show: one line, bounded, and without credentials.
//!
//! A server or a proxy may echo a request back (its `Authorization` header, a form body) into an
//! error body or a header. Whatever the crate shows of such text (in `Display`, `Debug` or logs)
//! goes through [`scrub`] first: the exact secrets of the call and their `Basic`/`Bearer` forms
//! are removed, and so is anything shaped like a credential. A server that echoes a request
//! body back would also show its photos: data URIs and long base64 runs are replaced by their
//! length.

use std::sync::OnceLock;

/// Replacement of a removed credential.
pub(crate) const REDACTED: &str = "[redacted]";

/// Most characters of one piece of server text that the crate shows.
pub(crate) const MAX_SHOWN: usize = 200;

/// Secrets shorter than this are not searched for as plain text (they would match ordinary
/// words); their `Basic`/`Bearer` forms are still caught by shape.
const MIN_SECRET_LEN: usize = 4;

/// Base64 runs at least this long are shown by their length only: photo bytes, never ids (a
/// SHA-256 in hex is 64 characters).
const MIN_BASE64_RUN: usize = 80;

/// Data URIs (`data:image/jpeg;base64,...`) and long base64 runs: an echoed photo.
fn binary() -> &'static regress::Regex {
    static BINARY: OnceLock<regress::Regex> = OnceLock::new();
    BINARY.get_or_init(|| {
        regress::Regex::with_flags(
            &format!(
                r"data:[A-Za-z0-9.+/-]*(?:;[A-Za-z0-9=.+-]+)*,[A-Za-z0-9+/_%=-]*|[A-Za-z0-9+/_-]{{{MIN_BASE64_RUN},}}={{0,2}}"
            ),
            "i",
        )
        .expect("a valid pattern")
    })
}

/// `text` with each data URI or long base64 run replaced by its length.
fn without_binary(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(1024));
    let mut last = 0;
    for m in binary().find_iter(text) {
        let range = m.range();
        out.push_str(&text[last..range.start]);
        let run = &text[range.clone()];
        match run.split_once(',') {
            Some((head, data)) if run.starts_with("data:") || run.starts_with("DATA:") => {
                out.push_str(&format!("{head},[{} characters not shown]", data.len()))
            }
            _ => out.push_str(&format!("[{} base64 characters not shown]", run.len())),
        }
        last = range.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Patterns of credential-shaped text, and what each becomes.
fn patterns() -> &'static [(regress::Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(regress::Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // An Authorization scheme and its credentials.
            (
                r"\b(Bearer|Basic|Token|Digest|Negotiate)(\s+|%20|\+)[^\s,;]+",
                "$1 [redacted]",
            ),
            // JWTs, wherever they appear.
            (
                r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*",
                REDACTED,
            ),
            // key=value and "key": "value" for credential names.
            (
                r#"((?:password|passwd|secret|token|api[_-]?key|authorization)[A-Za-z_-]*"?\s*[=:]\s*"?)[^\s"&,;]+"#,
                "$1[redacted]",
            ),
        ]
        .into_iter()
        .map(|(p, r)| {
            (
                regress::Regex::with_flags(p, "i").expect("a valid pattern"),
                r,
            )
        })
        .collect()
    })
}

/// `text` on one line, at most `max` characters, with every secret in `secrets` (and its
/// base64 form, as in a `Basic` header) and every credential-shaped value replaced.
pub(crate) fn scrub<'a>(
    text: &str,
    secrets: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_control() || is_line_break(c) {
                ' '
            } else {
                c
            }
        })
        .collect();
    for secret in secrets {
        if secret.len() >= MIN_SECRET_LEN {
            out = out.replace(secret, REDACTED);
        }
    }
    out = without_binary(&out);
    for (pattern, replacement) in patterns() {
        out = pattern.replace_all(&out, replacement);
    }
    bound(out.split_whitespace().collect::<Vec<_>>().join(" "), max)
}

/// The base64 forms of `user:secret` that a `Basic` header carries, to search for too.
pub(crate) fn basic_forms(user: &str, secret: &str) -> [String; 2] {
    use base64::Engine;
    let raw = format!("{user}:{secret}");
    [
        base64::engine::general_purpose::STANDARD.encode(&raw),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw),
    ]
}

fn is_line_break(c: char) -> bool {
    matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub(crate) fn bound(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((cut, _)) => {
            let mut text = text;
            text.truncate(cut);
            text.push('…');
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_secrets_their_forms_and_credential_shapes() {
        let [b64, _] = basic_forms("client-1", "s3cret-value");
        let shown = scrub(
            &format!("invalid_client Basic {b64} for s3cret-value"),
            ["s3cret-value"],
            MAX_SHOWN,
        );
        assert_eq!(shown, "invalid_client Basic [redacted] for [redacted]");
        assert_eq!(
            scrub("Bearer abc.def-123 expired", [], MAX_SHOWN),
            "Bearer [redacted] expired"
        );
        assert_eq!(
            scrub("tok eyJhbGciOiJIUzI1NiJ9.e30.sig", [], MAX_SHOWN),
            "tok [redacted]"
        );
        assert_eq!(
            scrub(
                r#"{"password": "hunter22", "client_secret=xyz"}"#,
                [],
                MAX_SHOWN
            ),
            r#"{"password": "[redacted]", "client_secret=[redacted]"}"#
        );
    }

    #[test]
    fn echoed_photos_are_shown_by_length() {
        let photo = "/9j/4AAQSkZJRgABAQ".repeat(20);
        let shown = scrub(
            &format!(r#"bad file "data:image/jpeg;base64,{photo}" and {photo}=="#),
            [],
            MAX_SHOWN,
        );
        assert_eq!(
            shown,
            r#"bad file "data:image/jpeg;base64,[360 characters not shown]" and [362 base64 characters not shown]"#
        );
        let sha = "0123456789abcdef".repeat(4);
        assert_eq!(scrub(&sha, [], MAX_SHOWN), sha, "a hex digest is kept");
    }

    #[test]
    fn one_line_and_bounded() {
        assert_eq!(
            scrub("E1\nFAKE-LOG-LINE\r\n level=ERROR\u{2028}x", [], MAX_SHOWN),
            "E1 FAKE-LOG-LINE level=ERROR x"
        );
        let long = scrub(&"é".repeat(500), [], 10);
        assert_eq!(long.chars().count(), 11);
        assert!(long.ends_with('…'));
    }
}
