//! The generated code of both documents, as snapshots: a spec or generator change shows up
//! here as a reviewable diff (`cargo insta review`, or `cargo xtask generate`).

#[test]
fn compliance_generated_code() {
    insta::assert_snapshot!(
        "compliance",
        include_str!(concat!(env!("OUT_DIR"), "/compliance.rs"))
    );
}

#[test]
fn biometrics_generated_code() {
    insta::assert_snapshot!(
        "biometrics",
        include_str!(concat!(env!("OUT_DIR"), "/biometrics.rs"))
    );
}
