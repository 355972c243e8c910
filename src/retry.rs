//! When a call may be sent again automatically, and how long to wait.
//!
//! | operation | connection failed before sending | timeout / reset before the response starts | 429, 500, 502, 503, 504 |
//! |---|---|---|---|
//! | token calls (`oauthToken`, `bioToken`) | retried | retried | retried |
//! | reads (`getCustomer`, `bioEnroll`) | retried | retried | retried |
//! | writes (onboarding, maintenance, transactions, bio user, uploads) | retried | **never** | **never** |
//!
//! A write is sent again only when the connection failed before any byte of the request was
//! written (`reqwest::Error::is_connect`). Preventor documents no response that proves a write
//! was not processed, so a 429 or 503 to a write is returned to the caller as an error, with its
//! `Retry-After` in [`crate::ApiError::retry_after`].
//!
//! A response whose headers arrived but whose body stalls or breaks is not retried (for any
//! operation): the body is read after the retry loop has returned the response.
//!
//! Retries are bounded by [`RetryPolicy::max_attempts`]; waits grow exponentially from
//! [`RetryPolicy::base_delay`] up to [`RetryPolicy::max_delay`], and a `Retry-After` is honoured
//! when it is within `max_delay` (a longer one ends the retries).

use std::time::Duration;

use reqwest::header::RETRY_AFTER;

use crate::{meaning::Meaning, operations::Idempotency};

/// Bounded retry with exponential backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most attempts of one call, the first included (1 disables retries).
    pub max_attempts: u32,
    /// Wait before the first retry.
    pub base_delay: Duration,
    /// Longest wait between attempts, and the longest `Retry-After` honoured.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before attempt `attempt + 1` after a transport error, or `None` to stop.
    pub(crate) fn after_error(
        &self,
        kind: Idempotency,
        attempt: u32,
        err: &reqwest::Error,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let not_sent = err.is_connect();
        (not_sent || kind != Idempotency::Write).then(|| self.backoff(attempt))
    }

    /// The wait before attempt `attempt + 1` after a response, or `None` to stop.
    pub(crate) fn after_response(
        &self,
        kind: Idempotency,
        attempt: u32,
        response: &reqwest::Response,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts || !Meaning::of(response.status()).repeated_for(kind) {
            return None;
        }
        match retry_after(response.headers()) {
            Some(wait) if wait > self.max_delay => None,
            Some(wait) => Some(wait),
            None => Some(self.backoff(attempt)),
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let delta = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> reqwest::Response {
        let mut b = http::Response::builder().status(status);
        if let Some(v) = retry_after {
            b = b.header("retry-after", v);
        }
        reqwest::Response::from(b.body("").unwrap())
    }

    #[test]
    fn writes_are_never_retried_after_a_response() {
        let p = RetryPolicy::default();
        for s in [429, 500, 503] {
            assert_eq!(
                p.after_response(Idempotency::Write, 1, &response(s, Some("1"))),
                None
            );
        }
    }

    #[test]
    fn token_calls_honour_retry_after_within_bounds() {
        let p = RetryPolicy::default();
        let r = response(429, Some("2"));
        assert_eq!(
            p.after_response(Idempotency::TokenCall, 1, &r),
            Some(Duration::from_secs(2))
        );
        let too_long = response(429, Some("3600"));
        assert_eq!(p.after_response(Idempotency::TokenCall, 1, &too_long), None);
        assert_eq!(
            p.after_response(Idempotency::TokenCall, 3, &r),
            None,
            "bounded by max_attempts"
        );
        assert_eq!(
            p.after_response(Idempotency::Read, 1, &response(400, None)),
            None
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(2), Duration::from_millis(400));
        assert_eq!(p.backoff(30), Duration::from_secs(10));
    }
}
