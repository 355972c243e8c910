//! The rate limit fields a server may send with its answers, read into [`RateLimitStatus`].
//!
//! Three spellings are read, first found wins: the IETF structured fields
//! (draft-ietf-httpapi-ratelimit-headers: `RateLimit: "default";r=50;t=30` with
//! `RateLimit-Policy: "default";q=100;w=60`), the earlier drafts' `RateLimit-Remaining`,
//! `RateLimit-Reset` and `RateLimit-Limit`, and the common `X-RateLimit-Remaining`,
//! `X-RateLimit-Reset` (seconds, or a Unix time) and `X-RateLimit-Limit`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;

/// What a server's answer said of its rate limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitStatus {
    /// Requests the server will still take before its quota is renewed.
    pub remaining: u64,
    /// How long until the quota is renewed (the server's own rounding: whole seconds).
    pub reset: Duration,
    /// The quota and its window, when the server states its policy.
    pub policy: Option<RateLimitPolicy>,
    /// When the answer carrying these fields arrived.
    pub observed_at: Instant,
}

/// A server's stated quota: `quota` requests per `window`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitPolicy {
    /// Requests allowed per window.
    pub quota: u64,
    /// The window.
    pub window: Duration,
}

impl RateLimitPolicy {
    /// Requests a second the policy allows.
    pub fn per_second(&self) -> f64 {
        self.quota as f64 / self.window.as_secs_f64().max(0.001)
    }
}

/// The rate limit fields of `headers`, if it has any that parse.
pub(crate) fn read(headers: &HeaderMap, now: Instant) -> Option<RateLimitStatus> {
    let text = |name: &str| headers.get(name)?.to_str().ok();
    let (remaining, reset) = if let Some(value) = text("ratelimit") {
        // The item with the fewest requests left, where several policies are listed.
        items(value)
            .filter_map(|params| Some((param(params, "r")?, param(params, "t")?)))
            .min_by_key(|(r, _)| *r)?
    } else if let Some(r) = text("ratelimit-remaining") {
        (number(r)?, text("ratelimit-reset").and_then(number)?)
    } else {
        let r = number(text("x-ratelimit-remaining")?)?;
        let t = text("x-ratelimit-reset").and_then(number)?;
        (r, seconds_or_unix_time(t))
    };
    let policy = if let Some(value) = text("ratelimit-policy") {
        items(value)
            .filter_map(|params| {
                Some(RateLimitPolicy {
                    quota: param(params, "q")?,
                    window: Duration::from_secs(param(params, "w").unwrap_or(1)),
                })
            })
            .min_by(|a, b| a.per_second().total_cmp(&b.per_second()))
    } else {
        text("ratelimit-limit")
            .or_else(|| text("x-ratelimit-limit"))
            .and_then(|v| {
                // "100" or "100, 100;w=60": the first number, per the window the list
                // gives (a second when none).
                let quota = number(v.split([',', ';']).next()?)?;
                let window = v
                    .split([',', ';'])
                    .find_map(|p| p.trim().strip_prefix("w=").and_then(number))
                    .unwrap_or(1);
                Some(RateLimitPolicy {
                    quota,
                    window: Duration::from_secs(window.max(1)),
                })
            })
    };
    Some(RateLimitStatus {
        remaining,
        reset: Duration::from_secs(reset),
        policy,
        observed_at: now,
    })
}

/// The parameter lists of a structured field's items (`"a";r=1;t=2, "b";r=3;t=4`).
fn items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim)
}

/// The integer parameter `name` of an item.
fn param(item: &str, name: &str) -> Option<u64> {
    item.split(';').skip(1).find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        (key.trim() == name).then(|| number(value))?
    })
}

fn number(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// `X-RateLimit-Reset` is seconds from now for some servers and a Unix time for others.
fn seconds_or_unix_time(value: u64) -> u64 {
    const A_YEAR: u64 = 365 * 24 * 3600;
    if value < A_YEAR {
        return value;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    value.saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    HeaderName::from_static(n),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_the_ietf_structured_fields_and_the_tightest_policy() {
        let now = Instant::now();
        let status = read(
            &headers(&[
                ("ratelimit", "\"burst\";r=40;t=1, \"day\";r=9000;t=3600"),
                (
                    "ratelimit-policy",
                    "\"burst\";q=100;w=1, \"day\";q=10000;w=86400",
                ),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(status.remaining, 40);
        assert_eq!(status.reset, Duration::from_secs(1));
        let policy = status.policy.unwrap();
        assert_eq!(
            (policy.quota, policy.window),
            (10000, Duration::from_secs(86400))
        );
        assert!((policy.per_second() - 0.1157).abs() < 0.001);
    }

    #[test]
    fn reads_the_earlier_drafts_and_the_x_fields() {
        let now = Instant::now();
        let draft = read(
            &headers(&[
                ("ratelimit-limit", "100, 100;w=60"),
                ("ratelimit-remaining", "7"),
                ("ratelimit-reset", "30"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!((draft.remaining, draft.reset), (7, Duration::from_secs(30)));
        assert_eq!(draft.policy.unwrap().window, Duration::from_secs(60));
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 20;
        let x = read(
            &headers(&[
                ("x-ratelimit-limit", "1000"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &unix.to_string()),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(x.remaining, 0);
        assert!(x.reset <= Duration::from_secs(20) && x.reset >= Duration::from_secs(18));
        assert_eq!(x.policy.unwrap().per_second(), 1000.0);
    }

    #[test]
    fn no_fields_or_fields_that_do_not_parse_are_none() {
        let now = Instant::now();
        assert_eq!(read(&HeaderMap::new(), now), None);
        assert_eq!(read(&headers(&[("ratelimit", "\"x\";q=1")]), now), None);
        assert_eq!(
            read(&headers(&[("x-ratelimit-remaining", "many")]), now),
            None
        );
    }
}
