//! Every secret is a sentinel; after successes and failures, with every crate tracing at
//! TRACE, no sentinel appears in any Debug, Display, error or log output.

mod support;

use preventor::{
    compliance::types as cmp, BioPhotos, BiometricsClient, ComplianceClient, EndUserContext,
    OAuthCredentials, Photo, Tenant, TransactionType,
};
use serde_json::json;
use support::*;

const API_KEY: &str = "SENTINEL-API-KEY";
const CLIENT_SECRET: &str = "SENTINEL-CLIENT-SECRET";
const PASSWORD: &str = "SENTINEL-PASSWORD";
const API_SECRET: &str = "SENTINEL-API-SECRET";
const ACCESS_TOKEN: &str = "SENTINEL-ACCESS-TOKEN";
const REFRESH_TOKEN: &str = "SENTINEL-REFRESH-TOKEN";
const BIO_TOKEN: &str = "SENTINEL-BIO-TOKEN";
const DOC_NUMBER: &str = "SENTINEL-DOC-NUMBER";
/// Personal data (KYC): not secret on the wire, but never in Debug or logs.
const PERSONAL: &[&str] = &[
    "SENTINEL-FULL-NAME",
    "SENTINEL-FIRST-NAME",
    "SENTINEL-LAST-NAME",
    "SENTINEL-ADDRESS",
    "SENTINEL-CITY",
    "SENTINEL-PHONE",
    "SENTINEL-EMAIL",
];

#[test]
fn no_secret_in_debug_display_errors_or_logs() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // reqwest and hyper-util log through `log`: route it into the same capture.
    tracing_log::LogTracer::init().unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut outputs: Vec<String> = Vec::new();
    let photo_bytes = jpeg();
    let photo_b64 = Photo::from_bytes(photo_bytes.clone())
        .unwrap()
        .to_data_uri()[23..]
        .to_string();

    runtime.block_on(async {
        let server = MockServer::start(|r, i| match (r.path.as_str(), i) {
            ("/security/oauth/token", _) => Reply::json(
                200,
                json!({"access_token": ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600, "refresh_token": REFRESH_TOKEN}),
            ),
            ("/onboarding/customerMaintenance", 0) => Reply::json(401, json!({"error": "invalid_token"})),
            ("/onboarding/registerMonetaryTransaction", _) => {
                // A server that echoes secrets into its error body.
                Reply::json(400, json!({"message": format!("bad token {ACCESS_TOKEN}")}))
            }
            ("/onboarding/customerOnboarding", _) => {
                // A server that echoes the document number the request carried.
                Reply::json(400, json!({"message": format!("a customer with document {DOC_NUMBER} already exists")}))
            }
            ("/v1/auth/token", _) => Reply::json(200, json!({"token": BIO_TOKEN})),
            ("/v1/workflow/enroll/user", _) => Reply::json(401, json!({"message": BIO_TOKEN})),
            _ => default_reply(r),
        })
        .await;
        let tenant = Tenant { api_key: API_KEY.into(), tenant: "tenant-1".into(), env: "env-1".into(), banknu: "banknu-1".into() };
        let credentials = OAuthCredentials { client_id: "client-1".into(), client_secret: CLIENT_SECRET.into(), username: "user".into(), password: PASSWORD.into(), scope: "read".into() };
        outputs.push(format!("{tenant:?} {credentials:?}"));
        let compliance = ComplianceClient::builder()
            .base_url(&server.url)
            .tenant(tenant.clone())
            .credentials(credentials)
            .http_options(fast_retries())
            .build()
            .unwrap();
        outputs.push(format!("{compliance:?} {:?}", compliance.generated()));

        let mut customer = customer_example();
        customer["iddocuments"][0]["doc_number"] = json!(DOC_NUMBER);
        customer["full_name"] = json!(PERSONAL[0]);
        customer["first_name"] = json!(PERSONAL[1]);
        customer["last_name"] = json!(PERSONAL[2]);
        customer["addresses"][0]["address_line1"] = json!(PERSONAL[3]);
        customer["addresses"][0]["address_city"] = json!(PERSONAL[4]);
        customer["phones"][0]["phone_number"] = json!(PERSONAL[5]);
        customer["emails"][0]["email"] = json!(PERSONAL[6]);
        let customer: cmp::Customer = serde_json::from_value(customer).unwrap();
        let wire = serde_json::to_string(&customer).unwrap();
        assert!(PERSONAL.iter().all(|p| wire.contains(p)), "Serialize keeps personal data");
        outputs.push(format!("{customer:?}"));
        let err = compliance.customer_onboarding(customer).await.unwrap_err();
        assert!(err.is_already_exists(), "{err:?}");
        assert!(err.to_string().contains("already exists"), "the server's reason is shown");
        outputs.push(format!("{err} {err:?} {:?}", err.api().unwrap().details));
        let update = serde_json::from_value(json!({"request_type": "U", "id": "c-1"})).unwrap();
        outputs.push(format!("{:?}", compliance.customer_maintenance(update).await)); // 401, replay
        let tx = serde_json::from_value(json!({"id": "t", "account_number": "a", "trans_amount": "1", "trans_currency": "USD"})).unwrap();
        let err = compliance.register_monetary_transaction(tx).await.unwrap_err();
        outputs.push(format!("{err} {err:?}"));
        let api = match &err {
            preventor::Error::Api(api) => api,
            other => panic!("{other:?}"),
        };
        assert!(String::from_utf8_lossy(&api.body).contains(ACCESS_TOKEN), "the raw body stays available on purpose");

        let bio = BiometricsClient::builder()
            .base_url(&server.url)
            .tenant(tenant)
            .api_secret(API_SECRET)
            .build()
            .unwrap();
        outputs.push(format!("{bio:?}"));
        let session = bio.start_session(TransactionType::Onboarding, None).await.unwrap();
        outputs.push(format!("{session:?}"));
        let err = session.create_user().await.unwrap_err();
        outputs.push(format!("{err} {err:?}"));
        // An enroll result carrying the document number and an image: Debug shows neither.
        let mut enroll = enroll_example();
        enroll["documentReader"]["fields"][2]["mrzValue"] = json!(DOC_NUMBER);
        enroll["documentReader"]["graphics"]["image"] = json!(format!("data:image/jpeg;base64,{photo_b64}"));
        let enroll: preventor::biometrics::types::EnrollResult = serde_json::from_value(enroll).unwrap();
        outputs.push(format!("{enroll:?}"));
        let photo = Photo::from_bytes(photo_bytes.clone()).unwrap();
        let photos = BioPhotos { portrait: photo.clone(), second_portrait: None, document_front: photo, document_back: None };
        outputs.push(format!("{photos:?}"));
        outputs.push(format!("{:?}", session.upload("u-1", &photos).await));
        let bad = compliance
            .with_context(&EndUserContext::default().ip(format!("{PASSWORD}\n")))
            .unwrap_err();
        outputs.push(format!("{bad} {bad:?}"));
    });

    let logs = logs.text();
    assert!(logs.contains("preventor.call"), "tracing was captured");
    assert!(logs.contains("TRACE"), "TRACE level was captured");
    assert!(
        logs.contains("reqwest::"),
        "reqwest's log records were captured"
    );
    outputs.push(logs);
    let all = outputs.join("\n");
    for secret in [
        API_KEY,
        CLIENT_SECRET,
        PASSWORD,
        API_SECRET,
        ACCESS_TOKEN,
        REFRESH_TOKEN,
        BIO_TOKEN,
        DOC_NUMBER,
        &photo_b64,
    ]
    .into_iter()
    .chain(PERSONAL.iter().copied())
    {
        assert!(
            !all.contains(secret),
            "{secret} leaked:\n{}",
            excerpt(&all, secret)
        );
    }
}

fn excerpt(all: &str, needle: &str) -> String {
    let at = all.find(needle).unwrap_or(0);
    all[at.saturating_sub(300)..(at + 100).min(all.len())].to_string()
}
