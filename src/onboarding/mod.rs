//! The page's "Onboarding based on Biometrics" flow, in one call: [`onboard`].
//!
//! The page's flow is six calls; [`onboard`] runs them as seven [`Step`]s (one is local), and
//! tells `progress` when each starts:
//!
//! | # | [`Step`] | call | what happens |
//! |---|---|---|---|
//! | 1 | `BiometricsToken` | `bioToken` | a token for this one process |
//! | 2 | `CreateBioUser` | `createBioUser` | a bio user |
//! | 3 | `Upload` | `uploadBioFiles` | portraits and document pictures; returns a ticket |
//! | 4 | `Enroll` | `bioEnroll` | photo match, liveness, the document reader's fields; a failed check is [`Error::Rejected`] |
//! | 5 | `MapCustomer` | none | the customer built from the fields read (see [Mapping](self#mapping)); MRZ check digits verified |
//! | 6 | `ComplianceToken` | `oauthToken` | the compliance access token (cached: often no call) |
//! | 7 | `CreateCustomer` | `customerOnboarding` | the customer is created |
//!
//! Each failure is an [`OnboardingError`] naming its [`Step`]. The customer is created by the
//! last step only, in one call: a failure before it creates nothing. A failure of that last call
//! that [`Error::is_ambiguous`] may have created the customer (it is never retried): look it up
//! with [`ComplianceClient::get_customer`].
//!
//! # `doc_type_code`
//! [`OnboardingRequest::doc_type_code`] goes to the customer's `iddocuments[].doc_type`. The page
//! publishes no list of codes; the values below are the ones it uses. Ask Preventor for the codes
//! of your tenant before sending others.
//!
//! | code | document | source |
//! |---|---|---|
//! | `6` | national identity card (the document of the page's biometric flow and customer examples) | the page's customer examples |
//!
//! # Mapping
#![doc = include_str!("mapping.md")]

mod mapping;
pub mod mrz;
mod step;

use crate::{
    biometrics::types::EnrollResult,
    compliance::types::{Acknowledgement, Customer},
    BioPhotos, BiometricsClient, ComplianceClient, DocumentType, EndUserContext, Error,
    TransactionType,
};
pub use mrz::MrzReport;
pub use step::{OnboardingError, Step};

/// What to onboard.
#[derive(Clone, Debug)]
pub struct OnboardingRequest {
    /// Id of the customer to create.
    pub customer_id: String,
    /// The document photographed (sent with the biometrics token request).
    pub document_type: DocumentType,
    /// Preventor's code for that document in the customer's `iddocuments[].doc_type`.
    pub doc_type_code: i32,
    /// The pictures to upload.
    pub photos: BioPhotos,
    /// The end user (IP, language, ...), for both APIs.
    pub context: EndUserContext,
    /// Refuse to create the customer when the MRZ check digits do not hold.
    pub require_valid_mrz: bool,
}

/// What the document reader read that the page's customer has no field for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadIdentity {
    /// Nationality code (field code 26).
    pub nationality: Option<String>,
    /// Date of birth (field code 5).
    pub birth_date: Option<chrono::NaiveDate>,
    /// Sex (field code 12).
    pub sex: Option<String>,
}

/// The outcome of a successful onboarding.
#[derive(Clone, Debug)]
pub struct Onboarded {
    /// The bio user created.
    pub user_id: String,
    /// The upload ticket.
    pub ticket: String,
    /// The enroll result, as returned.
    pub enroll: EnrollResult,
    /// What the MRZ check digits say, when the reader returned MRZ lines.
    pub mrz: Option<MrzReport>,
    /// Read values the customer has no field for.
    pub identity: ReadIdentity,
    /// The customer created.
    pub customer: Customer,
    /// The compliance API's acknowledgement.
    pub acknowledgement: Acknowledgement,
}

/// Runs the flow. `progress` is told when each step starts.
///
/// # Errors
/// An [`OnboardingError`]: the step that failed and the SDK's [`Error`] for it.
pub async fn onboard(
    biometrics: &BiometricsClient,
    compliance: &ComplianceClient,
    request: OnboardingRequest,
    mut progress: impl FnMut(Step),
) -> Result<Onboarded, OnboardingError> {
    let at = |step: Step| move |source: Error| OnboardingError { step, source };
    // The context goes with the first call; a bad one fails that step before anything is sent.
    request
        .context
        .validate()
        .map_err(at(Step::BiometricsToken))?;

    progress(Step::BiometricsToken);
    let session = biometrics
        .start_session_with(
            TransactionType::Onboarding,
            Some(request.document_type),
            &request.context,
        )
        .await
        .map_err(at(Step::BiometricsToken))?;

    progress(Step::CreateBioUser);
    let user = session
        .create_user()
        .await
        .map_err(at(Step::CreateBioUser))?;

    progress(Step::Upload);
    let ticket = session
        .upload(&user.user_id, &request.photos)
        .await
        .map_err(at(Step::Upload))?
        .ticket;

    progress(Step::Enroll);
    let enroll = session
        .enroll(&user.user_id, &ticket)
        .await
        .map_err(at(Step::Enroll))?;
    let failed: Vec<&str> = [
        ("photoVerify", enroll.photo_verify),
        ("liveness", enroll.liveness),
        ("enroll", enroll.enroll),
    ]
    .into_iter()
    .filter(|(_, passed)| *passed != Some(true))
    .map(|(name, _)| name)
    .collect();
    if !failed.is_empty() {
        return Err(at(Step::Enroll)(Error::Rejected {
            reason: format!("biometric checks not passed: {}", failed.join(", ")),
        }));
    }

    progress(Step::MapCustomer);
    let mrz = mapping::Fields::of(&enroll)
        .mrz()
        .map(|m| MrzReport::check(&m));
    if request.require_valid_mrz && !mrz.as_ref().is_some_and(MrzReport::is_valid) {
        return Err(at(Step::MapCustomer)(Error::Rejected {
            reason: format!("MRZ check digits do not hold: {mrz:?}"),
        }));
    }
    let (customer, identity) = mapping::customer(
        &enroll,
        &request.customer_id,
        &ticket,
        request.doc_type_code,
    )
    .map_err(at(Step::MapCustomer))?;

    progress(Step::ComplianceToken);
    let compliance = compliance
        .with_context(&request.context)
        .map_err(at(Step::ComplianceToken))?;
    compliance
        .authenticate()
        .await
        .map_err(at(Step::ComplianceToken))?;

    progress(Step::CreateCustomer);
    let acknowledgement = compliance
        .customer_onboarding(customer.clone())
        .await
        .map_err(at(Step::CreateCustomer))?;

    Ok(Onboarded {
        user_id: user.user_id,
        ticket,
        enroll,
        mrz,
        identity,
        customer,
        acknowledgement,
    })
}
