//! A process that has run out of file descriptors gets an error that says so, not a misleading
//! "no CA certificates" (its own binary: it exhausts this process's descriptors).

#[cfg(unix)]
#[test]
fn building_a_client_without_descriptors_left_says_so() {
    use preventor::{ComplianceClient, OAuthCredentials, Tenant};
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, 64, hard).unwrap();
    let mut held = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        held.push(f);
    }
    let result = ComplianceClient::builder()
        .tenant(Tenant {
            api_key: "k".into(),
            tenant: "t".into(),
            env: "e".into(),
            banknu: "b".into(),
        })
        .credentials(OAuthCredentials {
            client_id: "c".into(),
            client_secret: "s".into(),
            username: "u".into(),
            password: "p".into(),
            scope: "read".into(),
        })
        .build();
    drop(held);
    let e = result.unwrap_err().to_string();
    assert!(e.contains("out of file descriptors"), "{e}");
}
