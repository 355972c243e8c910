//! With `--features schemars`, the generated types' JSON Schemas are held to the documents: for
//! every request body schema, the schemars schema accepts each example the documents give for
//! it, and requires the same fields as the document does.
#![cfg(feature = "schemars")]

use std::collections::BTreeSet;

use preventor::{biometrics::types as bio, compliance::types as cmp};
use schemars::schema_for;
use serde_json::Value;

fn document(name: &str) -> Value {
    let path = format!("{}/openapi/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The schemars schema of each request body type, by the document's schema name.
fn rust_schema(schema: &str) -> Option<Value> {
    let root = match schema {
        "TokenRequest" => schema_for!(cmp::TokenRequest),
        "Account" => schema_for!(cmp::Account),
        "Customer" => schema_for!(cmp::Customer),
        "MonetaryTransaction" => schema_for!(cmp::MonetaryTransaction),
        "GetCustomerForm" => schema_for!(cmp::GetCustomerForm),
        "BioTokenRequest" => schema_for!(bio::BioTokenRequest),
        "BioUpload" => schema_for!(bio::BioUpload),
        _ => return None,
    };
    Some(serde_json::to_value(root).unwrap())
}

/// (document, operationId, schema name, examples) for every request body.
fn request_bodies() -> Vec<(&'static str, String, String, Vec<Value>)> {
    let mut out = Vec::new();
    for name in ["compliance", "biometrics"] {
        let doc = document(name);
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                let Some(content) = op["requestBody"]["content"].as_object() else {
                    continue;
                };
                for (_, media) in content {
                    let reference = media["schema"]["$ref"].as_str().unwrap();
                    let schema = reference.rsplit('/').next().unwrap().to_string();
                    let mut examples: Vec<Value> =
                        media.get("example").cloned().into_iter().collect();
                    if let Some(named) = media["examples"].as_object() {
                        for example in named.values() {
                            let example = match example["$ref"].as_str() {
                                Some(r) => {
                                    let name = r.trim_start_matches("#/components/examples/");
                                    &doc["components"]["examples"][name]
                                }
                                None => example,
                            };
                            assert!(!example["value"].is_null(), "{r:?}", r = example);
                            examples.push(example["value"].clone());
                        }
                    }
                    let id = op["operationId"].as_str().unwrap().to_string();
                    out.push((name, id, schema, examples));
                }
            }
        }
    }
    out
}

#[test]
fn every_request_schema_accepts_the_documents_examples() {
    let bodies = request_bodies();
    // One per `requestBody:` of the documents' text (a second reading of the same fact, so
    // that a parse that finds nothing cannot pass).
    let in_text: usize = ["compliance", "biometrics"]
        .iter()
        .map(|name| {
            let path = format!("{}/openapi/{name}.yaml", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(path)
                .unwrap()
                .matches("requestBody:")
                .count()
        })
        .sum();
    assert!(in_text > 0);
    assert_eq!(bodies.len(), in_text, "request bodies in the documents");
    let mut checked = 0;
    for (document, id, schema, examples) in bodies {
        let rust = rust_schema(&schema)
            .unwrap_or_else(|| panic!("{document} {id}: no Rust type listed for {schema}"));
        let validator = jsonschema::validator_for(&rust).unwrap();
        assert!(!examples.is_empty(), "{document} {id}: no example");
        for example in examples {
            let errors: Vec<String> = validator
                .iter_errors(&example)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{document} {id} ({schema}): {errors:?}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
}

#[test]
fn every_request_schema_requires_what_the_document_requires() {
    for (document, id, schema, _) in request_bodies() {
        let doc = self::document(document);
        let required = |v: &Value| -> BTreeSet<String> {
            v["required"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let in_document = required(&doc["components"]["schemas"][&schema]);
        let in_rust = required(&rust_schema(&schema).unwrap());
        assert_eq!(in_rust, in_document, "{document} {id} ({schema})");
    }
}

#[test]
fn a_record_missing_a_required_field_is_refused_by_the_schema() {
    // What an import's dry run does: check each record before sending anything.
    let schema = rust_schema("MonetaryTransaction").unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let record =
        serde_json::json!({"id": "tx-1", "account_number": "PVTACC1", "trans_currency": "USD"});
    let errors: Vec<String> = validator
        .iter_errors(&record)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("trans_amount")),
        "{errors:?}"
    );
}
