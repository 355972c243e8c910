//! `preventor onboard`: the page's "Onboarding based on Biometrics" flow with your photos.

use std::path::PathBuf;

use preventor::{onboarding, BioPhotos, Photo};

use crate::{
    output::Exit,
    target::{self, Needs},
};

/// `preventor onboard` options.
#[derive(clap::Args, Debug)]
pub struct OnboardArgs {
    /// Portrait (selfie), JPEG.
    #[arg(long)]
    pub portrait: PathBuf,
    /// Front of the identity document, JPEG.
    #[arg(long)]
    pub document_front: PathBuf,
    /// Back of the identity document, JPEG.
    #[arg(long)]
    pub document_back: Option<PathBuf>,
    /// Id of the customer to create.
    #[arg(long)]
    pub customer_id: String,
}

/// Runs `onboard`: the photos are read before anything is sent.
pub async fn run(sandbox: bool, args: OnboardArgs, json: bool) -> Exit {
    let photos = (|| -> preventor::Result<BioPhotos> {
        Ok(BioPhotos {
            portrait: Photo::from_file(&args.portrait)?,
            second_portrait: None,
            document_front: Photo::from_file(&args.document_front)?,
            document_back: args
                .document_back
                .as_ref()
                .map(Photo::from_file)
                .transpose()?,
        })
    })();
    let photos = match photos {
        Ok(p) => p,
        Err(e) => return Exit::Fatal(e.to_string()),
    };
    let clients = match target::clients(sandbox, Needs::Both).await {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let (compliance, Some(biometrics)) = (&clients.compliance, &clients.biometrics) else {
        return Exit::fatal("no biometrics client".into());
    };
    let request = onboarding::OnboardingRequest {
        customer_id: args.customer_id,
        document_type: preventor::DocumentType::IdCard,
        doc_type_code: 6,
        photos,
        context: Default::default(),
        require_valid_mrz: false,
    };
    match onboarding::onboard(biometrics, compliance, request, |step| {
        if !json {
            eprintln!("{step}");
        }
    })
    .await
    {
        Ok(done) => {
            let report = serde_json::json!({"customer_id": done.customer.id.to_string(), "user_id": done.user_id, "ticket": done.ticket, "mrz_valid": done.mrz.as_ref().map(|m| m.is_valid())});
            out!(
                "{}",
                if json {
                    report.to_string()
                } else {
                    format!("customer {} created", done.customer.id)
                }
            );
            Exit::Ok
        }
        Err(e) if e.is_rejected() => {
            eprintln!("{e}");
            Exit::Rejected
        }
        Err(e) => Exit::fatal(e.to_string()),
    }
}
