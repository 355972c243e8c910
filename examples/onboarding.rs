//! The page's "Onboarding based on Biometrics", end to end.
//!
//! `cargo run --example onboarding` starts the local sandbox in-process and onboards the sample
//! photos in `examples/photos/`. With `PREVENTOR_API_KEY` (and the other `PREVENTOR_*`
//! variables, see README.md) set, the same flow talks to Preventor's API instead; then
//! `PREVENTOR_PORTRAIT`, `PREVENTOR_DOCUMENT_FRONT` and `PREVENTOR_DOCUMENT_BACK` may name
//! real photos, and `PREVENTOR_CUSTOMER_ID` the customer to create.
//!
//! What was read is KYC data: names, addresses, document numbers, nationality, birth date and
//! sex are masked in the output unless `--show-personal-data` is given
//! (`cargo run --example onboarding -- --show-personal-data`).

use std::path::PathBuf;

use preventor::{
    onboarding::{onboard, OnboardingRequest},
    BioPhotos, BiometricsClient, ComplianceClient, DocumentType, EndUserContext, Photo,
};

fn photo(variable: &str, sample: &str) -> preventor::Result<Photo> {
    let path = std::env::var(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("examples/photos")
                .join(sample)
        });
    Photo::from_file(path)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let show_personal = std::env::args().any(|a| a == "--show-personal-data");
    let live = std::env::var("PREVENTOR_API_KEY").is_ok();
    let mut _sandbox = None;
    let (biometrics, compliance) = if live {
        println!("using Preventor's API (PREVENTOR_* variables are set)");
        (BiometricsClient::from_env()?, ComplianceClient::from_env()?)
    } else {
        let sandbox = preventor_sandbox::Sandbox::start(Default::default()).await?;
        println!("started the local sandbox at {}", sandbox.url());
        let c = sandbox.credentials();
        let biometrics = BiometricsClient::builder()
            .base_url(sandbox.url())
            .tenant(c.tenant())
            .api_secret(&c.api_secret)
            .build()?;
        let compliance = ComplianceClient::builder()
            .base_url(sandbox.url())
            .tenant(c.tenant())
            .credentials(c.oauth())
            .build()?;
        _sandbox = Some(sandbox);
        (biometrics, compliance)
    };

    let request = OnboardingRequest {
        customer_id: std::env::var("PREVENTOR_CUSTOMER_ID")
            .unwrap_or_else(|_| "cu-example-0001".to_string()),
        document_type: DocumentType::IdCard,
        doc_type_code: 6,
        photos: BioPhotos {
            portrait: photo("PREVENTOR_PORTRAIT", "portrait.jpg")?,
            second_portrait: None,
            document_front: photo("PREVENTOR_DOCUMENT_FRONT", "document-front.jpg")?,
            document_back: Some(photo("PREVENTOR_DOCUMENT_BACK", "document-back.jpg")?),
        },
        context: EndUserContext::default()
            .lang("es")
            .tzone("America/Lima")
            .ip("203.0.113.7"),
        require_valid_mrz: false,
    };

    let mut n = 0;
    let done = onboard(&biometrics, &compliance, request, |step| {
        n += 1;
        println!("[{n}/7] {step}");
    })
    .await?;

    println!("bio user {} / upload ticket {}", done.user_id, done.ticket);
    println!(
        "biometric checks: photoVerify={:?} liveness={:?} enroll={:?}",
        done.enroll.photo_verify, done.enroll.liveness, done.enroll.enroll
    );
    match &done.mrz {
        Some(report) if report.is_valid() => {
            println!("MRZ: {} check digits hold", report.layout.unwrap_or("?"))
        }
        Some(report) => println!("MRZ: check digits do NOT hold: {report:?}"),
        None => println!("MRZ: none read"),
    }
    if show_personal {
        println!("read but not in the customer record: {:?}", done.identity);
    } else {
        println!("read but not in the customer record: nationality, birth date, sex (<masked>)");
    }
    println!("acknowledgement: {:?}", done.acknowledgement);
    let stored = serde_json::to_value(compliance.get_customer(&done.customer.id).await?)?;
    let mut shown = stored;
    if !show_personal {
        preventor::redacted::mask_personal(&mut shown);
    }
    println!(
        "customer as stored (getCustomer{}):\n{}",
        if show_personal {
            ""
        } else {
            "; personal data masked, --show-personal-data to show it"
        },
        serde_json::to_string_pretty(&shown)?
    );
    Ok(())
}
