//! Auth: the compliance OAuth token lifecycle, provided to the transport as its
//! `TokenProvider` (see `transport/credentials.rs`).
//!
//! * Compliance: one access token per client, fetched lazily, cached, refreshed before expiry
//!   and shared by every call ([`oauth::TokenSource`]); a 401 invalidates it and the call is
//!   replayed once with a new one (see `transport`).
//! * Biometrics: one token per process, owned by a [`crate::BioSession`]; nothing shared.

pub(crate) mod cache;
pub(crate) mod oauth;
