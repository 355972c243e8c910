//! The steps of the onboarding flow, and its error: the step that failed and why.

use std::fmt;

use crate::Error;

/// A step of the biometric onboarding flow, as named in an [`OnboardingError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Biometrics token for the process.
    BiometricsToken,
    /// Create the bio user.
    CreateBioUser,
    /// Upload portraits and document pictures.
    Upload,
    /// Fetch the enroll result.
    Enroll,
    /// Build the customer from what the document reader read.
    MapCustomer,
    /// Compliance token.
    ComplianceToken,
    /// Create the customer.
    CreateCustomer,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::BiometricsToken => "biometrics token",
            Step::CreateBioUser => "create bio user",
            Step::Upload => "upload",
            Step::Enroll => "enroll",
            Step::MapCustomer => "map customer",
            Step::ComplianceToken => "compliance token",
            Step::CreateCustomer => "create customer",
        })
    }
}

/// A failed [`onboard`](super::onboard): the step that failed, and the SDK's error for it
/// (whose [`Error::is_ambiguous`], [`Error::status`] and [`Error::api`] say the rest).
#[derive(Debug, thiserror::Error)]
#[error("onboarding step '{step}' failed: {source}")]
pub struct OnboardingError {
    /// The step that failed.
    pub step: Step,
    /// Why it failed.
    #[source]
    pub source: Error,
}

impl OnboardingError {
    /// True when the step's call may have been processed although it failed: only the last
    /// step creates anything (look the customer up with
    /// [`get_customer`](crate::ComplianceClient::get_customer)).
    pub fn is_ambiguous(&self) -> bool {
        self.source.is_ambiguous()
    }

    /// True when the server refused the subject (liveness, photo match, MRZ).
    pub fn is_rejected(&self) -> bool {
        matches!(self.source, Error::Rejected { .. })
    }
}
