//! The generated code of both documents (the public builder-style module and the `direct` calls
//! the hand-written layer uses), as snapshots: a spec or generator change shows up
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

#[test]
fn compliance_direct_calls_code() {
    insta::assert_snapshot!(
        "compliance_direct",
        include_str!(concat!(env!("OUT_DIR"), "/compliance_direct.rs"))
    );
}

#[test]
fn biometrics_direct_calls_code() {
    insta::assert_snapshot!(
        "biometrics_direct",
        include_str!(concat!(env!("OUT_DIR"), "/biometrics_direct.rs"))
    );
}
