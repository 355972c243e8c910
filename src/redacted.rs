//! Sensitive values of the generated types, whose `Debug` never shows them. The generator
//! uses these in place of the documents' `DocumentNumber`, `PhotoDataUri`, `DocumentValue` and
//! `DocumentImage` schemas (`build.rs`); they enforce the same constraints as the schemas.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::{photo::Photo, Error, Result};

/// A document number (schema `DocumentNumber`: 1 to 64 characters). `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// Checks the schema's length bounds.
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        let chars = value.chars().count();
        if !(1..=64).contains(&chars) {
            return Err(Error::invalid_input(
                "DocumentNumber",
                format!("must be 1 to 64 characters, is {chars}"),
            ));
        }
        Ok(DocumentNumber(value))
    }

    /// The document number itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for DocumentNumber {
    type Error = Error;
    fn try_from(value: &str) -> Result<Self> {
        Self::new(value)
    }
}

impl TryFrom<String> for DocumentNumber {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for DocumentNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocumentNumber(<redacted>)")
    }
}

/// A JPEG photo as a base64 data URI (schema `PhotoDataUri`). `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PhotoDataUri(String);

/// Longest data URI the schema allows: 23-character prefix and 1 MiB of base64.
const MAX_DATA_URI: usize = 1_398_127;

impl PhotoDataUri {
    /// The data URI itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&Photo> for PhotoDataUri {
    fn from(photo: &Photo) -> Self {
        PhotoDataUri(photo.to_data_uri())
    }
}

impl TryFrom<String> for PhotoDataUri {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        let payload = value
            .strip_prefix("data:image/jpeg;base64,")
            .or_else(|| value.strip_prefix("data:image/jpg;base64,"))
            .ok_or_else(|| Error::invalid_input("PhotoDataUri", "is not a JPEG data URI"))?;
        let base64 = payload.trim_end_matches('=');
        if value.len() > MAX_DATA_URI
            || base64.is_empty()
            || payload.len() - base64.len() > 2
            || !base64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        {
            return Err(Error::invalid_input(
                "PhotoDataUri",
                "is not a JPEG data URI of at most 1 MB",
            ));
        }
        Ok(PhotoDataUri(value))
    }
}

impl<'de> Deserialize<'de> for PhotoDataUri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Debug for PhotoDataUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhotoDataUri(<{} characters>)", self.0.len())
    }
}

/// A value the document reader read (schema `DocumentValue`). `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentValue(String);

impl DocumentValue {
    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DocumentValue {
    fn from(value: String) -> Self {
        DocumentValue(value)
    }
}

impl fmt::Debug for DocumentValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocumentValue(<redacted>)")
    }
}

/// An image cut from the document (schema `DocumentImage`). `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentImage(String);

impl DocumentImage {
    /// The image data URI itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DocumentImage {
    fn from(value: String) -> Self {
        DocumentImage(value)
    }
}

impl fmt::Debug for DocumentImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentImage(<{} characters>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_constraints_hold() {
        let n = DocumentNumber::new("B207680293231").unwrap();
        assert_eq!(format!("{n:?}"), "DocumentNumber(<redacted>)");
        assert!(DocumentNumber::new("").is_err());
        assert!(DocumentNumber::new("x".repeat(65)).is_err());
        let uri = PhotoDataUri::try_from("data:image/jpeg;base64,/9j/4A==".to_string()).unwrap();
        assert_eq!(format!("{uri:?}"), "PhotoDataUri(<31 characters>)");
        assert!(PhotoDataUri::try_from("data:image/png;base64,AAAA".to_string()).is_err());
        assert!(PhotoDataUri::try_from("data:image/jpeg;base64,a b".to_string()).is_err());
    }
}
