//! The crate version and `info.version` of both documents move together.

#[test]
fn crate_and_documents_share_one_version() {
    for document in ["compliance", "biometrics"] {
        let path = format!("{}/openapi/{document}.yaml", env!("CARGO_MANIFEST_DIR"));
        let yaml: serde_json::Value =
            serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            yaml["info"]["version"].as_str(),
            Some(env!("CARGO_PKG_VERSION")),
            "{document}.yaml info.version must equal the crate version"
        );
    }
}
