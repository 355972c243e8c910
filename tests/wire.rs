//! Every operation on the wire, with the page's example values (read from the documents):
//! method, path, the exact set of headers, and the body.

mod support;

use base64::Engine;
use preventor::{
    biometrics::types as bio, compliance::types as cmp, BioPhotos, EndUserContext, Photo,
    TransactionType, SDK_USER_AGENT,
};
use serde_json::{json, Value};
use support::*;

const TENANT_HEADERS: [(&str, &str); 4] = [
    ("x-api-key", API_KEY),
    ("x-tenant", "tenant-1"),
    ("x-env", "env-1"),
    ("x-banknu", "banknu-1"),
];

/// The request carries exactly `expected` plus the transport's own `host`/`content-length`.
fn assert_headers(r: &Recorded, expected: &[(&str, &str)]) {
    let mut want: Vec<(String, String)> = expected
        .iter()
        .chain(TENANT_HEADERS.iter())
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    want.sort();
    let mut got: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| n != "host" && n != "content-length")
        .cloned()
        .collect();
    got.sort();
    assert_eq!(got, want, "headers of {} {}", r.method, r.path);
}

fn basic(user: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
    )
}

fn request_example(document: &str, path: &str) -> Value {
    let pointer = format!(
        "/paths/{}/post/requestBody/content/application~1json/example",
        path.replace('/', "~1")
    );
    spec_example(document, &pointer)
}

const COMPLIANCE_CONTEXT: [(&str, &str); 7] = [
    ("accept", "application/json"),
    ("authorization", "Bearer tok-0"),
    ("x-lang", "es"),
    ("x-tzone", "America/Lima"),
    ("user-agent", "Mozilla/5.0 (test)"),
    ("x-user-agent", "Mozilla/5.0 (test)"),
    ("x-real-ip", "198.51.100.9"),
];

fn with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    COMPLIANCE_CONTEXT.iter().chain(extra).copied().collect()
}

#[tokio::test]
async fn compliance_operations_on_the_wire() {
    let server = MockServer::preventor().await;
    let client = compliance(&server)
        .with_context(
            &EndUserContext::default()
                .user_agent("Mozilla/5.0 (test)")
                .ip("198.51.100.9"),
        )
        .unwrap();

    let account = request_example("compliance", "/onboarding/accountOnboarding");
    let ack = client
        .account_onboarding(serde_json::from_value(account.clone()).unwrap())
        .await
        .unwrap();
    assert_eq!(ack.message.as_deref(), Some("OK"));

    let customer = customer_example();
    client
        .customer_onboarding(serde_json::from_value(customer.clone()).unwrap())
        .await
        .unwrap();

    let update = request_example("compliance", "/onboarding/customerMaintenance");
    client
        .customer_maintenance(serde_json::from_value(update.clone()).unwrap())
        .await
        .unwrap();

    let stored = client
        .get_customer("8adc1652-ad36-4234-846b-61d52cd1e2052")
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&stored).unwrap(), customer);

    let transaction = request_example("compliance", "/onboarding/registerMonetaryTransaction");
    client
        .register_monetary_transaction(serde_json::from_value(transaction.clone()).unwrap())
        .await
        .unwrap();

    let requests = server.requests();
    let paths: Vec<_> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("POST", "/security/oauth/token"),
            ("POST", "/onboarding/accountOnboarding"),
            ("POST", "/onboarding/customerOnboarding"),
            ("POST", "/onboarding/customerMaintenance"),
            ("POST", "/onboarding/getCustomer"),
            ("POST", "/onboarding/registerMonetaryTransaction"),
        ]
    );

    // oauthToken: Basic client credentials, form body, no end-user headers.
    let token = &requests[0];
    assert_headers(
        token,
        &[
            ("accept", "application/json"),
            ("authorization", &basic("client-1", CLIENT_SECRET)),
            ("content-type", "application/x-www-form-urlencoded"),
            ("user-agent", SDK_USER_AGENT),
        ],
    );
    let mut form: Vec<(String, String)> = url::form_urlencoded::parse(&token.body)
        .into_owned()
        .collect();
    form.sort();
    assert_eq!(
        form,
        [
            ("client_id", "client-1"),
            ("grant_type", "password"),
            ("password", PASSWORD),
            ("scope", "read"),
            ("username", "user@example.com"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );

    // JSON onboarding calls: the page's example values, unchanged.
    for (r, body) in [
        (&requests[1], &account),
        (&requests[2], &customer),
        (&requests[3], &update),
    ] {
        assert_headers(r, &with(&[("content-type", "application/json")]));
        assert_eq!(&r.json(), body, "{}", r.path);
    }

    // getCustomer: multipart/form-data with one cifCod part, as the page's curl sends it.
    let get = &requests[4];
    let content_type = get.header("content-type").unwrap().to_string();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart content type");
    assert_headers(get, &with(&[("content-type", &content_type)]));
    let body = String::from_utf8(get.body.to_vec()).unwrap();
    assert_eq!(
        body,
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"cifCod\"\r\n\r\n8adc1652-ad36-4234-846b-61d52cd1e2052\r\n--{boundary}--\r\n"
        )
    );

    // registerMonetaryTransaction: decimal strings byte for byte; RFC 3339 instants unchanged
    // (chrono writes `.000Z` as `Z`, the same instant).
    let tx = &requests[5];
    assert_headers(tx, &with(&[("content-type", "application/json")]));
    let raw = String::from_utf8(tx.body.to_vec()).unwrap();
    for decimal in [
        "\"150803.247745453\"",
        "\"0.000166885\"",
        "\"50.3336\"",
        "\"40000.00\"",
        "\"0.00\"",
    ] {
        assert!(raw.contains(decimal), "{decimal} altered in {raw}");
    }
    let mut sent = tx.json();
    let mut expected = transaction.clone();
    for field in ["trans_posting_date", "trans_effective_date"] {
        assert_eq!(sent[field], json!("2020-05-15T12:00:00Z"));
        sent[field] = Value::Null;
        expected[field] = Value::Null;
    }
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn biometrics_operations_on_the_wire() {
    let server = MockServer::preventor().await;
    let client = biometrics(&server);
    let session = client
        .start_session(TransactionType::Onboarding, None)
        .await
        .unwrap();
    let user = session.create_user().await.unwrap();
    assert_eq!(user.user_id, "4fc897ce-7879-47e4-9e5c-5de91ded4dea");
    let photo = Photo::from_bytes(jpeg()).unwrap();
    let photos = BioPhotos {
        portrait: photo.clone(),
        second_portrait: Some(photo.clone()),
        document_front: photo.clone(),
        document_back: Some(photo.clone()),
    };
    let ticket = session.upload(&user.user_id, &photos).await.unwrap();
    assert_eq!(ticket.ticket, "bf47fb71-81ac-4625-887d-ef37e078038a");
    let result: bio::EnrollResult = session.enroll(&user.user_id, &ticket.ticket).await.unwrap();
    // The whole page example decodes and re-encodes without losing a value.
    assert_eq!(serde_json::to_value(&result).unwrap(), enroll_example());

    let requests = server.requests();
    let bearer = [
        ("accept", "application/json"),
        ("authorization", "Bearer bio-token"),
        ("x-ip", "203.0.113.7"),
        ("user-agent", SDK_USER_AGENT),
    ];
    let token = &requests[0];
    assert_eq!(
        (token.method.as_str(), token.path.as_str()),
        ("POST", "/v1/auth/token")
    );
    assert_headers(
        token,
        &[
            ("accept", "application/json"),
            ("authorization", &basic(API_KEY, API_SECRET)),
            ("content-type", "application/json"),
            ("x-ip", "203.0.113.7"),
            ("user-agent", SDK_USER_AGENT),
        ],
    );
    assert_eq!(token.json(), json!({"transactionType": "ONBOARDING"}));

    let create = &requests[1];
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/v1/workflow/enroll/user")
    );
    assert_headers(create, &bearer);
    assert!(create.body.is_empty());

    let upload = &requests[2];
    assert_eq!(
        upload.path,
        "/v1/workflow/enroll/user/4fc897ce-7879-47e4-9e5c-5de91ded4dea/upload"
    );
    let mut with_type = bearer.to_vec();
    with_type.push(("content-type", "application/json"));
    assert_headers(upload, &with_type);
    let uri = photo.to_data_uri();
    assert_eq!(
        upload.json(),
        json!({"portraits": {"picture1": uri, "picture2": uri}, "documents": {"picture1": uri, "picture2": uri}})
    );

    let enroll = &requests[3];
    assert_eq!(enroll.method, "GET");
    assert_eq!(
        enroll.path,
        "/v1/workflow/enroll/user/4fc897ce-7879-47e4-9e5c-5de91ded4dea/ticket/bf47fb71-81ac-4625-887d-ef37e078038a"
    );
    assert_headers(enroll, &bearer);
    assert!(enroll.body.is_empty(), "Bio Enroll sends no body");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() {
    let server = MockServer::preventor().await;
    let client = compliance(&server);
    let err = client.get_customer("").await.unwrap_err();
    assert!(
        matches!(err, preventor::Error::InvalidInput { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("getCustomer.cifCod"), "{err}");

    let mut tx = request_example("compliance", "/onboarding/registerMonetaryTransaction");
    tx["trans_amount"] = json!("1.5e3");
    let decoded: Result<cmp::MonetaryTransaction, _> = serde_json::from_value(tx);
    assert!(decoded.is_err(), "a non-decimal amount is not a Decimal");
    let bad = cmp::Decimal::try_from("12,50").unwrap_err().to_string();
    assert!(bad.contains("doesn't match pattern"), "{bad}");

    let err = client
        .with_context(&EndUserContext::default().lang("es\nx-evil: 1"))
        .unwrap_err();
    assert!(err.to_string().contains("context.lang"), "{err}");
    assert!(server.requests().is_empty());
}
