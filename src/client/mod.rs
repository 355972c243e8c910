//! The clients users hold: one per API, on top of the generated calls.

pub(crate) mod biometrics;
pub(crate) mod builder;
pub(crate) mod compliance;
