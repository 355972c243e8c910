//! What a server's answer means, decided in one place: the transport's retries and 401 replay,
//! [`Error`](crate::Error)'s `is_*` methods, and the bulk engine all ask here.
//!
//! | status | [`Meaning`] | processed? | sent again by the transport |
//! |---|---|---|---|
//! | 2xx | `Success` | yes | no |
//! | 401 | `Unauthorized` | no | once, with a new compliance token |
//! | 404 | `NotFound` | no | no |
//! | 429 | `RateLimited` | no (RFC 6585) | token calls and reads, after `Retry-After` |
//! | other 4xx | `Refused` | no | no |
//! | 500, 502, 503, 504 | `Transient` | perhaps | token calls and reads |
//! | other 5xx | `ServerError` | perhaps | no |
//! | 1xx, 3xx | `Unexpected` | unknown | no |

use reqwest::StatusCode;

use crate::operations::Idempotency;

/// What an answer's status means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Meaning {
    /// 2xx: done.
    Success,
    /// 401: the credentials or the token were refused.
    Unauthorized,
    /// 404: what was asked for does not exist.
    NotFound,
    /// 429: refused for rate and not processed (RFC 6585): may be sent again after its
    /// `Retry-After`, even a write.
    RateLimited,
    /// Any other 4xx: refused as it is; sending it again changes nothing.
    Refused,
    /// 500, 502, 503, 504: failed, perhaps after processing; passing trouble, worth repeating
    /// for a call that may be repeated.
    Transient,
    /// Any other 5xx: failed, perhaps after processing.
    ServerError,
    /// A status the API never answers (1xx, 3xx: redirects are not followed).
    Unexpected,
}

impl Meaning {
    /// The meaning of `status`.
    pub(crate) fn of(status: StatusCode) -> Meaning {
        match status.as_u16() {
            200..=299 => Meaning::Success,
            401 => Meaning::Unauthorized,
            404 => Meaning::NotFound,
            429 => Meaning::RateLimited,
            400..=499 => Meaning::Refused,
            500 | 502 | 503 | 504 => Meaning::Transient,
            500..=599 => Meaning::ServerError,
            _ => Meaning::Unexpected,
        }
    }

    /// The server may have processed the request although it answered an error (a 5xx): a
    /// write must be found out before it is sent again.
    pub(crate) fn may_have_been_processed(self) -> bool {
        matches!(self, Meaning::Transient | Meaning::ServerError)
    }

    /// The request was refused as it is (a 4xx other than 429): the record is wrong.
    pub(crate) fn refused(self) -> bool {
        matches!(
            self,
            Meaning::Unauthorized | Meaning::NotFound | Meaning::Refused
        )
    }

    /// The transport sends a call of class `kind` again after this answer (a write never: a
    /// 429 to a write goes back to the caller, who may wait and send it again).
    pub(crate) fn repeated_for(self, kind: Idempotency) -> bool {
        kind != Idempotency::Write && matches!(self, Meaning::RateLimited | Meaning::Transient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_one_meaning() {
        let of = |s: u16| Meaning::of(StatusCode::from_u16(s).unwrap());
        assert_eq!(of(200), Meaning::Success);
        assert_eq!(of(204), Meaning::Success);
        assert_eq!(of(401), Meaning::Unauthorized);
        assert_eq!(of(404), Meaning::NotFound);
        assert_eq!(of(429), Meaning::RateLimited);
        assert_eq!(of(400), Meaning::Refused);
        assert_eq!(of(409), Meaning::Refused);
        for s in [500, 502, 503, 504] {
            assert_eq!(of(s), Meaning::Transient, "{s}");
            assert!(of(s).may_have_been_processed());
        }
        assert_eq!(of(501), Meaning::ServerError);
        assert!(of(501).may_have_been_processed());
        assert_eq!(of(302), Meaning::Unexpected);
        assert!(!of(429).may_have_been_processed());
        assert!(of(400).refused() && of(404).refused() && !of(429).refused());
        for kind in [Idempotency::Read, Idempotency::TokenCall] {
            assert!(of(429).repeated_for(kind) && of(503).repeated_for(kind));
            assert!(!of(501).repeated_for(kind) && !of(400).repeated_for(kind));
        }
        assert!(!of(429).repeated_for(Idempotency::Write));
        assert!(!of(503).repeated_for(Idempotency::Write));
    }
}
