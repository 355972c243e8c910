//! The operations of both documents, as written by `build.rs` from them (`openapi/*.yaml`):
//! operationId, method, path template, retry class (`x-preventor-retry`), and whether the answer
//! is a tolerant acknowledgement. The one list of operations: the transport, the sandbox, the
//! xtask and the tests read it instead of lists of their own.
//!
//! ```
//! let transaction = preventor::operations::by_id("registerMonetaryTransaction").unwrap();
//! assert_eq!(transaction.method(), "POST");
//! assert_eq!(transaction.class(), preventor::operations::Idempotency::Write);
//! assert!(preventor::operations::all().len() >= 10);
//! ```

use reqwest::Method;

/// How an operation may be repeated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Idempotency {
    /// A token call: repeating it only mints another token.
    TokenCall,
    /// A read: repeating it changes nothing.
    Read,
    /// A write: never repeated once bytes may have reached the server.
    Write,
}

/// One operation of the documents.
#[derive(Debug)]
pub struct Operation {
    /// operationId as the generated code reports it (snake_case).
    pub(crate) generated_id: &'static str,
    /// operationId as the document spells it.
    pub(crate) id: &'static str,
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) idempotency: Idempotency,
    /// The document describes a tolerant acknowledgement: accept any 2xx, and an empty body.
    pub(crate) acknowledgement: bool,
}

macro_rules! op {
    ($gen:literal, $id:literal, $method:ident, $path:literal, $kind:ident, $ack:literal) => {
        Operation {
            generated_id: $gen,
            id: $id,
            method: Method::$method,
            path: $path,
            idempotency: Idempotency::$kind,
            acknowledgement: $ack,
        }
    };
}

include!(concat!(env!("OUT_DIR"), "/operations.rs"));

/// An end-user context header of the documents: a header parameter marked
/// `x-preventor-context` (set from [`EndUserContext`](crate::EndUserContext) on every call).
#[derive(Debug)]
pub struct ContextHeader {
    /// The header's name, lower case.
    pub name: &'static str,
    /// The `EndUserContext` member it carries (`lang`, `tzone`, `user_agent`, `ip`).
    pub member: &'static str,
    /// The document's `maxLength` for it.
    pub max_length: usize,
    /// The document that describes it (`compliance`, `biometrics`).
    pub document: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/context_headers.rs"));

/// Every end-user context header of both documents.
pub fn context_headers() -> &'static [ContextHeader] {
    CONTEXT_HEADERS
}

/// Every operation of both documents, compliance first, each in its document's order.
pub fn all() -> &'static [Operation] {
    OPERATIONS
}

/// The operation with this operationId (`registerMonetaryTransaction`).
pub fn by_id(id: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.id == id)
}

/// The operation a request with this method and path targets (`POST`,
/// `/v1/workflow/enroll/user/u-1/upload`).
pub fn of_request(method: &str, path: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|o| o.matches(method, path))
}

/// The operation the generated code names `generated_id`; an unknown one (a new operation in a
/// document the table has not caught up with) gets the safest treatment: a write.
pub(crate) fn find(generated_id: &str) -> &'static Operation {
    OPERATIONS
        .iter()
        .find(|o| o.generated_id == generated_id)
        .unwrap_or(&UNKNOWN)
}

static UNKNOWN: Operation = op!("unknown", "unknown", POST, "unknown", Write, false);

impl Operation {
    /// operationId as the document spells it.
    pub fn id(&self) -> &'static str {
        self.id
    }

    /// The HTTP method, upper case.
    pub fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The path template (`/v1/workflow/enroll/user/{userId}/upload`).
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// Whether a call may be repeated.
    pub fn class(&self) -> Idempotency {
        self.idempotency
    }

    /// The answer is a tolerant acknowledgement (any 2xx, an empty body allowed).
    pub fn is_acknowledgement(&self) -> bool {
        self.acknowledgement
    }

    /// A request with this method and path targets this operation (a `{parameter}` segment
    /// matches any one non-empty segment).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if !self.method.as_str().eq_ignore_ascii_case(method) {
            return false;
        }
        let mut template = self.path.trim_start_matches('/').split('/');
        let mut actual = path.trim_start_matches('/').split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(t), Some(a)) if t.starts_with('{') && t.ends_with('}') && !a.is_empty() => {}
                (Some(t), Some(a)) if t == a => {}
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation id the generated clients report is in the table, with the name the
    /// generator gives it.
    #[test]
    fn every_generated_operation_is_in_the_table() {
        let generated = [
            include_str!(concat!(env!("OUT_DIR"), "/compliance.rs")),
            include_str!(concat!(env!("OUT_DIR"), "/biometrics.rs")),
        ];
        let mut seen = 0;
        for code in generated {
            for part in code.split("operation_id: \"").skip(1) {
                let id = &part[..part.find('"').expect("closing quote")];
                assert!(
                    OPERATIONS.iter().any(|o| o.generated_id == id),
                    "{id} is not in the table"
                );
                seen += 1;
            }
        }
        // Every operation is generated but getCustomer (multipart), which is written by hand.
        assert_eq!(seen, OPERATIONS.len() - 1);
        assert!(!generated
            .iter()
            .any(|c| c.contains("operation_id: \"get_customer\"")));
        assert_eq!(find("get_customer").idempotency, Idempotency::Read);
        assert!(find("register_monetary_transaction").acknowledgement);
        assert_eq!(find("bio_token").idempotency, Idempotency::TokenCall);
    }

    #[test]
    fn a_request_finds_its_operation_by_method_and_path() {
        let upload = of_request("POST", "/v1/workflow/enroll/user/u-1/upload").unwrap();
        assert_eq!(upload.id(), "uploadBioFiles");
        assert_eq!(upload.class(), Idempotency::Write);
        assert_eq!(
            of_request("get", "/v1/workflow/enroll/user/u-1/ticket/t-9").map(Operation::id),
            Some("bioEnroll")
        );
        assert!(of_request("GET", "/v1/workflow/enroll/user/u-1/upload").is_none());
        assert!(of_request("POST", "/v1/workflow/enroll/user//upload").is_none());
        assert!(of_request("POST", "/onboarding/getCustomer/extra").is_none());
        for op in all() {
            let concrete = op.path().replace('{', "x").replace('}', "");
            assert_eq!(
                of_request(op.method(), &concrete).map(Operation::id),
                Some(op.id())
            );
            assert_eq!(by_id(op.id()).map(Operation::path), Some(op.path()));
        }
    }

    #[test]
    fn the_context_headers_come_from_the_documents_with_their_bounds() {
        let of = |name: &str| {
            context_headers()
                .iter()
                .find(|h| h.name == name)
                .map(|h| (h.member, h.max_length, h.document))
        };
        assert_eq!(of("x-lang"), Some(("lang", 35, "compliance")));
        assert_eq!(of("x-tzone"), Some(("tzone", 64, "compliance")));
        assert_eq!(of("user-agent"), Some(("user_agent", 512, "compliance")));
        assert_eq!(of("x-real-ip"), Some(("ip", 45, "compliance")));
        assert_eq!(of("x-ip"), Some(("ip", 45, "biometrics")));
        assert!(context_headers()
            .iter()
            .all(|h| h.name == h.name.to_ascii_lowercase()));
    }
}
