//! Turning transport failures and error responses into [`crate::Error`].

use crate::{error::ApiError, meaning::Meaning, Error};

/// A 401 is an auth error; every other status an API error.
pub(crate) fn from_api_error(api: ApiError) -> Error {
    if Meaning::of(api.status) == Meaning::Unauthorized {
        Error::Auth {
            operation: api.operation,
            reason: match api.code() {
                Some(code) => format!("credentials or token refused ({code})"),
                None => "credentials or token refused".into(),
            },
            response: Some(Box::new(api)),
        }
    } else {
        Error::Api(Box::new(api))
    }
}

/// A transport error as the crate's error.
pub(crate) fn from_reqwest(operation: &'static str, e: &reqwest::Error) -> Error {
    if e.is_timeout() {
        Error::Timeout { operation }
    } else {
        Error::Transport {
            operation,
            message: describe(e),
            not_sent: e.is_connect(),
        }
    }
}

/// A transport error and its causes on one line.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// serde's message without the values it quotes (see [`crate::redacted::without_values`]).
pub(crate) fn redact_serde(e: &serde_json::Error) -> String {
    crate::redacted::without_values(&e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_values_are_not_echoed() {
        let e = serde_json::from_str::<String>("987654321012").unwrap_err();
        assert_eq!(
            redact_serde(&e),
            "invalid type: integer `…`, expected a string at line 1 column 12"
        );
        let e = serde_json::from_str::<bool>("\"secret\"").unwrap_err();
        assert!(!redact_serde(&e).contains("secret"), "{}", redact_serde(&e));
    }
}
