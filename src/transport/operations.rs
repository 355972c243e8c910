//! The operations of both documents, as the transport needs to know them: id, method, path
//! template (for tracing), and whether a call may be repeated.

use reqwest::Method;

use crate::retry::Idempotency;

/// Which of the two APIs a client talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Compliance,
    Biometrics,
}

/// What the transport knows of an operation.
#[derive(Debug)]
pub(crate) struct Operation {
    /// operationId as the generated code reports it (snake_case).
    generated_id: &'static str,
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

/// Every operation of both documents.
pub(crate) static OPERATIONS: &[Operation] = &[
    op!(
        "oauth_token",
        "oauthToken",
        POST,
        "/security/oauth/token",
        TokenCall,
        false
    ),
    op!(
        "account_onboarding",
        "accountOnboarding",
        POST,
        "/onboarding/accountOnboarding",
        Write,
        true
    ),
    op!(
        "customer_onboarding",
        "customerOnboarding",
        POST,
        "/onboarding/customerOnboarding",
        Write,
        true
    ),
    op!(
        "customer_maintenance",
        "customerMaintenance",
        POST,
        "/onboarding/customerMaintenance",
        Write,
        true
    ),
    op!(
        "get_customer",
        "getCustomer",
        POST,
        "/onboarding/getCustomer",
        Read,
        false
    ),
    op!(
        "register_monetary_transaction",
        "registerMonetaryTransaction",
        POST,
        "/onboarding/registerMonetaryTransaction",
        Write,
        true
    ),
    op!(
        "bio_token",
        "bioToken",
        POST,
        "/v1/auth/token",
        TokenCall,
        false
    ),
    op!(
        "create_bio_user",
        "createBioUser",
        POST,
        "/v1/workflow/enroll/user",
        Write,
        false
    ),
    op!(
        "upload_bio_files",
        "uploadBioFiles",
        POST,
        "/v1/workflow/enroll/user/{userId}/upload",
        Write,
        false
    ),
    op!(
        "bio_enroll",
        "bioEnroll",
        GET,
        "/v1/workflow/enroll/user/{userId}/ticket/{ticket}",
        Read,
        false
    ),
];

impl Operation {
    /// The operation the generated code names `generated_id`.
    pub(crate) fn find(generated_id: &str) -> &'static Operation {
        OPERATIONS
            .iter()
            .find(|o| o.generated_id == generated_id)
            // Unknown ids (a new operation in a document) get the safest treatment.
            .unwrap_or(&UNKNOWN)
    }
}

static UNKNOWN: Operation = op!("unknown", "unknown", POST, "unknown", Write, false);
