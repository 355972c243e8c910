//! End to end against the in-process sandbox: the flow, every operation, token expiry mid-flow,
//! 401 replay, the fault knobs, bad photos.
//!
//! With `PREVENTOR_E2E_PRISM` naming a Prism binary, every test runs through
//! `prism proxy --errors` (one per document) in front of the sandbox: a request the crate sends
//! or a response the sandbox gives that violates a document fails the test (422 / 500).

use base64::Engine;
use preventor::{
    compliance::types as cmp,
    onboarding::{onboard, OnboardingRequest, Step},
    redacted::PhotoDataUri,
    BioPhotos, BiometricsClient, ComplianceClient, DocumentType, EndUserContext, Error, Photo,
    TransactionType,
};
use preventor_sandbox::{Identity, Sandbox, SandboxConfig};
use serde_json::json;

fn sample(name: &str) -> Photo {
    Photo::from_file(format!(
        "{}/examples/photos/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn photos() -> BioPhotos {
    BioPhotos {
        portrait: sample("portrait.jpg"),
        second_portrait: None,
        document_front: sample("document-front.jpg"),
        document_back: Some(sample("document-back.jpg")),
    }
}

/// The sandbox, and the URLs the clients use (Prism proxies when `PREVENTOR_E2E_PRISM` is set).
struct Env {
    sandbox: Sandbox,
    compliance_url: String,
    biometrics_url: String,
    _proxies: Vec<Proxy>,
}

struct Proxy(std::process::Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Env {
    async fn start() -> Env {
        Env::start_with(SandboxConfig::default()).await
    }

    async fn start_with(config: SandboxConfig) -> Env {
        let sandbox = Sandbox::start(config).await.unwrap();
        let Ok(prism) = std::env::var("PREVENTOR_E2E_PRISM") else {
            return Env {
                compliance_url: sandbox.url(),
                biometrics_url: sandbox.url(),
                sandbox,
                _proxies: vec![],
            };
        };
        let mut proxies = Vec::new();
        let mut urls = Vec::new();
        for document in ["compliance", "biometrics"] {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let spec = format!("{}/openapi/{document}.yaml", env!("CARGO_MANIFEST_DIR"));
            let child = std::process::Command::new(&prism)
                .args([
                    "proxy",
                    "--errors",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    &spec,
                    &sandbox.url(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("PREVENTOR_E2E_PRISM runs");
            proxies.push(Proxy(child));
            urls.push(format!("http://127.0.0.1:{port}"));
        }
        for url in &urls {
            let addr = url.trim_start_matches("http://").to_string();
            let started = std::time::Instant::now();
            while tokio::net::TcpStream::connect(&addr).await.is_err() {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(60),
                    "prism did not start"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
        Env {
            sandbox,
            biometrics_url: urls.pop().unwrap(),
            compliance_url: urls.pop().unwrap(),
            _proxies: proxies,
        }
    }

    fn proxied(&self) -> bool {
        !self._proxies.is_empty()
    }
}

fn clients(env: &Env) -> (BiometricsClient, ComplianceClient) {
    let c = env.sandbox.credentials();
    let options = preventor::HttpOptions {
        retry: preventor::RetryPolicy {
            base_delay: std::time::Duration::from_millis(10),
            ..Default::default()
        },
        ..Default::default()
    };
    let biometrics = BiometricsClient::builder()
        .base_url(&env.biometrics_url)
        .tenant(c.tenant())
        .api_secret(&c.api_secret)
        .http_options(options.clone())
        .build()
        .unwrap();
    let compliance = ComplianceClient::builder()
        .base_url(&env.compliance_url)
        .tenant(c.tenant())
        .credentials(c.oauth())
        .http_options(options)
        .build()
        .unwrap();
    (biometrics, compliance)
}

fn request(customer_id: &str) -> OnboardingRequest {
    OnboardingRequest {
        customer_id: customer_id.into(),
        document_type: DocumentType::IdCard,
        doc_type_code: 6,
        photos: photos(),
        context: EndUserContext::default().ip("203.0.113.7").lang("es"),
        require_valid_mrz: true,
    }
}

#[tokio::test]
async fn the_flow_creates_the_customer_the_document_reader_read() {
    let env = Env::start().await;
    let (biometrics, compliance) = clients(&env);
    let mut steps = Vec::new();
    let done = onboard(&biometrics, &compliance, request("cu-1"), |s| steps.push(s))
        .await
        .unwrap();
    assert_eq!(
        steps,
        [
            Step::BiometricsToken,
            Step::CreateBioUser,
            Step::Upload,
            Step::Enroll,
            Step::MapCustomer,
            Step::ComplianceToken,
            Step::CreateCustomer
        ]
    );

    // The sandbox's reader is deterministic per upload: predict what it read.
    let p = photos();
    let uris = [
        p.portrait.to_data_uri(),
        p.document_front.to_data_uri(),
        p.document_back.unwrap().to_data_uri(),
    ];
    let id = Identity::from_pictures(uris.iter().map(String::as_str));
    let (first, middle) = id.given_names.split_once(' ').unwrap();
    let c = &done.customer;
    assert_eq!(c.first_name.as_ref().unwrap().expose().to_string(), first);
    assert_eq!(c.middle_name.as_ref().unwrap().expose().to_string(), middle);
    assert_eq!(
        c.last_name.as_ref().unwrap().expose().to_string(),
        format!("{} {}", id.surname, id.second_surname)
    );
    assert_eq!(c.cust_api_ref_id.as_ref().unwrap().to_string(), done.ticket);
    let doc = &c.iddocuments[0];
    assert_eq!(
        doc.doc_number.as_ref().unwrap().expose(),
        id.personal_number,
        "code 7 wins over code 2"
    );
    assert_eq!(doc.doc_type, Some(6));
    assert_eq!(doc.doc_issued_country.as_ref().unwrap().to_string(), "PER");
    assert_eq!(doc.doc_issued_date, Some(id.issue));
    assert_eq!(doc.doc_expiration_date, Some(id.expiry));
    assert_eq!(
        c.addresses[0]
            .address_line1
            .as_ref()
            .unwrap()
            .expose()
            .to_string(),
        id.address
    );
    assert_eq!(done.identity.birth_date, Some(id.birth));
    assert_eq!(done.identity.nationality.as_deref(), Some("PER"));
    assert!(done.mrz.as_ref().unwrap().is_valid());

    let stored = compliance.get_customer("cu-1").await.unwrap();
    assert_eq!(
        serde_json::to_value(&stored).unwrap(),
        serde_json::to_value(c).unwrap()
    );
}

#[tokio::test]
async fn every_compliance_operation_keeps_state_with_a_u_d_semantics() {
    let env = Env::start().await;
    let (_, compliance) = clients(&env);
    let account: cmp::Account = serde_json::from_value(json!({
        "request_type": "A", "id": "acc-1", "account_number": "PVTACC1", "account_balance": "20.00"
    }))
    .unwrap();
    compliance
        .account_onboarding(account.clone())
        .await
        .unwrap();
    let again = compliance.account_onboarding(account).await.unwrap_err();
    assert_eq!(again.status().map(u16::from), Some(400));
    let Error::Api(api) = &again else {
        panic!("{again:?}")
    };
    assert_eq!(
        api.details.as_ref().unwrap().message.as_deref(),
        Some("account acc-1 already exists; use request_type U to update it")
    );

    let tx = |id: &str, account: &str| -> cmp::MonetaryTransaction {
        serde_json::from_value(json!({"id": id, "account_number": account, "trans_amount": "150803.247745453", "trans_currency": "USD"})).unwrap()
    };
    compliance
        .register_monetary_transaction(tx("t-1", "PVTACC1"))
        .await
        .unwrap();
    let unknown = compliance
        .register_monetary_transaction(tx("t-2", "NOPE"))
        .await
        .unwrap_err();
    assert_eq!(unknown.status().map(u16::from), Some(404));

    let customer: cmp::Customer = serde_json::from_value(json!({
        "request_type": "A", "id": "cu-2", "first_name": "JOHN",
        "phones": [{"id": 1, "request_type": "A", "phone_number": "903923421"}]
    }))
    .unwrap();
    compliance.customer_onboarding(customer).await.unwrap();
    let update: cmp::Customer = serde_json::from_value(json!({
        "request_type": "U", "id": "cu-2", "first_name": "JONATHAN",
        "phones": [{"id": 1, "request_type": "D"}, {"id": 2, "request_type": "A", "phone_number": "5550100"}]
    }))
    .unwrap();
    compliance.customer_maintenance(update).await.unwrap();
    let stored = compliance.get_customer("cu-2").await.unwrap();
    assert_eq!(stored.first_name.unwrap().expose().to_string(), "JONATHAN");
    assert_eq!(stored.phones.len(), 1);
    assert_eq!(
        stored.phones[0]
            .phone_number
            .as_ref()
            .unwrap()
            .expose()
            .to_string(),
        "5550100"
    );

    let missing: cmp::Customer =
        serde_json::from_value(json!({"request_type": "U", "id": "cu-404"})).unwrap();
    let err = compliance.customer_maintenance(missing).await.unwrap_err();
    assert_eq!(err.status().map(u16::from), Some(404));
    let delete: cmp::Customer =
        serde_json::from_value(json!({"request_type": "D", "id": "cu-2"})).unwrap();
    compliance.customer_maintenance(delete).await.unwrap();
    assert_eq!(
        compliance
            .get_customer("cu-2")
            .await
            .unwrap_err()
            .status()
            .map(u16::from),
        Some(404)
    );
}

#[tokio::test]
async fn token_expiry_mid_flow_is_survived_by_one_refresh_and_replay() {
    let env = Env::start().await;
    let sandbox = &env.sandbox;
    let (biometrics, compliance) = clients(&env);
    compliance.authenticate().await.unwrap(); // a cached token the sandbox will expire
    let done = onboard(&biometrics, &compliance, request("cu-3"), |step| {
        if step == Step::MapCustomer {
            sandbox.expire_tokens();
        }
    })
    .await
    .unwrap();
    assert_eq!(done.customer.id.to_string(), "cu-3");
    assert_eq!(sandbox.calls("oauthToken"), 2, "one refresh");
    assert_eq!(
        sandbox.calls("customerOnboarding"),
        2,
        "one replay after the 401"
    );
}

#[tokio::test]
async fn a_failed_step_names_itself_and_creates_no_customer() {
    let env = Env::start().await;
    let sandbox = &env.sandbox;
    let (biometrics, compliance) = clients(&env);
    // The process token expires between create user and upload.
    let err = onboard(&biometrics, &compliance, request("cu-4"), |step| {
        if step == Step::Upload {
            sandbox.expire_tokens();
        }
    })
    .await
    .unwrap_err();
    assert_eq!(err.step, Step::Upload);
    assert!(matches!(err.source, Error::Auth { .. }), "{err:?}");
    assert_eq!(err.to_string(), "onboarding step 'upload' failed: uploadBioFiles: authentication failed: credentials or token refused (UNAUTHORIZED)");
    assert_eq!(sandbox.calls("customerOnboarding"), 0);
    assert_eq!(
        compliance
            .get_customer("cu-4")
            .await
            .unwrap_err()
            .status()
            .map(u16::from),
        Some(404)
    );
}

#[tokio::test]
async fn fault_knobs_429_503_and_dropped_connections() {
    let env = Env::start().await;
    let sandbox = &env.sandbox;
    let (biometrics, compliance) = clients(&env);
    sandbox.faults().fail_next("oauthToken", 1, 429, Some(1));
    sandbox.faults().drop_next("bioEnroll", 1);
    onboard(&biometrics, &compliance, request("cu-5"), |_| {})
        .await
        .unwrap();
    assert_eq!(
        sandbox.calls("oauthToken"),
        2,
        "429 on the token call is retried"
    );
    assert_eq!(
        sandbox.calls("bioEnroll"),
        2,
        "a read whose connection dropped is retried"
    );

    sandbox
        .faults()
        .fail_next("customerOnboarding", 1, 503, Some(0));
    let err = onboard(&biometrics, &compliance, request("cu-6"), |_| {})
        .await
        .unwrap_err();
    assert_eq!(err.step, Step::CreateCustomer, "{err:?}");
    assert!(err.is_ambiguous(), "a 503 to a create may have created it");
    assert_eq!(err.source.status().map(u16::from), Some(503));
    assert_eq!(
        sandbox.calls("customerOnboarding"),
        2,
        "cu-5 once, cu-6 once: no retry of a write"
    );
    assert!(compliance.get_customer("cu-6").await.is_err());

    sandbox.faults().drop_next("createBioUser", 1);
    let session = biometrics
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap();
    let before = sandbox.calls("createBioUser");
    let err = session.create_user().await.unwrap_err();
    if env.proxied() {
        // Prism answers a dropped upstream connection with a 500.
        assert_eq!(err.status().map(u16::from), Some(500), "{err:?}");
    } else {
        assert!(
            matches!(
                err,
                Error::Transport {
                    not_sent: false,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(
        sandbox.calls("createBioUser"),
        before + 1,
        "a write is not resent after a drop"
    );
}

#[test]
fn bad_photos_are_refused() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    assert!(Photo::from_bytes(png.clone())
        .unwrap_err()
        .to_string()
        .contains("not a JPEG"));
    let mut big = sample("portrait.jpg").as_bytes().to_vec();
    big.resize(preventor::MAX_PHOTO_BYTES + 1, 0);
    assert!(Photo::from_bytes(big).is_err());

    // A PNG disguised as a JPEG data URI is refused by the client as `Photo` refuses PNG bytes
    // (the same rule), before anything is sent; the sandbox would refuse it too.
    let disguised = format!(
        "data:image/jpeg;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let err = PhotoDataUri::try_from(disguised).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(err.to_string().contains("not a JPEG"), "{err}");
}

#[tokio::test]
async fn wrong_credentials_and_tenant_headers_get_the_pages_statuses_without_echoing_secrets() {
    let env = Env::start().await;
    let c = env.sandbox.credentials();
    let update = || -> cmp::Customer {
        serde_json::from_value(json!({"request_type": "U", "id": "x"})).unwrap()
    };
    let with = |tenant: preventor::Tenant, oauth: preventor::OAuthCredentials| {
        ComplianceClient::builder()
            .base_url(&env.compliance_url)
            .tenant(tenant)
            .credentials(oauth)
            .build()
            .unwrap()
    };
    let wrong_tenant = preventor::Tenant {
        api_key: c.api_key.clone().into(),
        tenant: "someone-else".into(),
        env: c.env.clone(),
        banknu: c.banknu.clone(),
    };
    let err = with(wrong_tenant, c.oauth())
        .customer_maintenance(update())
        .await
        .unwrap_err();
    // The token call is refused first; the SDK reports any 4xx there as an auth failure.
    let Error::Auth {
        operation: "oauthToken",
        response: Some(api),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        api.status.as_u16(),
        403,
        "the page's status for wrong headers"
    );
    assert_eq!(
        api.details.as_ref().unwrap().message.as_deref(),
        Some("unknown x-tenant")
    );

    let wrong_key = preventor::Tenant {
        api_key: "not-the-key".into(),
        tenant: c.tenant.clone(),
        env: c.env.clone(),
        banknu: c.banknu.clone(),
    };
    let err = with(wrong_key, c.oauth())
        .customer_maintenance(update())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth {
                operation: "oauthToken",
                ..
            }
        ),
        "{err:?}"
    );

    let mut oauth = c.oauth();
    oauth.client_secret = "WRONG-SECRET-SENTINEL".to_string().into();
    let err = with(c.tenant(), oauth)
        .customer_maintenance(update())
        .await
        .unwrap_err();
    let Error::Auth {
        response: Some(api),
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(api.status.as_u16(), 401);
    assert_eq!(api.code(), Some("invalid_client"));
    assert!(!String::from_utf8_lossy(&api.body).contains("WRONG-SECRET-SENTINEL"));
    assert_eq!(
        env.sandbox.calls("customerMaintenance"),
        0,
        "nothing is sent without a token"
    );
}

#[tokio::test]
async fn each_refused_check_ends_the_flow_at_enroll_as_rejected() {
    use preventor_sandbox::Refusals;
    for (refusals, check) in [
        (
            Refusals {
                liveness: true,
                ..Refusals::default()
            },
            "liveness",
        ),
        (
            Refusals {
                photo_match: true,
                ..Refusals::default()
            },
            "photoVerify",
        ),
        (
            Refusals {
                document_read: true,
                ..Refusals::default()
            },
            "enroll",
        ),
    ] {
        let env = Env::start_with(SandboxConfig {
            refusals,
            ..SandboxConfig::default()
        })
        .await;
        let (biometrics, compliance) = clients(&env);
        let err = onboard(&biometrics, &compliance, request("cu-refused"), |_| {})
            .await
            .unwrap_err();
        assert_eq!(err.step, Step::Enroll, "{check}");
        assert!(err.is_rejected(), "{check}: {err:?}");
        match &err.source {
            Error::Rejected { reason } => assert!(reason.contains(check), "{reason}"),
            other => panic!("{check}: {other:?}"),
        }
        assert_eq!(env.sandbox.calls("customerOnboarding"), 0, "{check}");
    }
}
