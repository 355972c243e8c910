//! The page's "Onboarding based on Biometrics" flow.

use std::fmt;

/// A step of the biometric onboarding flow, as named in [`crate::Error::Onboarding`].
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
