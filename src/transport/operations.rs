//! The operations of both documents, as the transport needs to know them: id, method, path
//! template (for tracing), and whether a call may be repeated. The table itself is written by
//! `build.rs` from the documents (`x-preventor-retry` on each operation).

use reqwest::Method;

use crate::meaning::Idempotency;

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

include!(concat!(env!("OUT_DIR"), "/operations.rs"));

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
        // Nine generated operations; getCustomer (multipart) is written by hand.
        assert_eq!(seen, 9);
        assert_eq!(OPERATIONS.len(), 10);
        assert_eq!(
            Operation::find("get_customer").idempotency,
            Idempotency::Read
        );
        assert!(Operation::find("register_monetary_transaction").acknowledgement);
        assert_eq!(
            Operation::find("bio_token").idempotency,
            Idempotency::TokenCall
        );
    }
}
