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
    /// Checks the data URI as [`Photo`] checks bytes: the JPEG data URI prefix, valid padded
    /// base64, and decoded bytes that are a JPEG of at most [`crate::MAX_PHOTO_BYTES`].
    fn try_from(value: String) -> Result<Self> {
        use base64::Engine;
        const FIELD: &str = "PhotoDataUri";
        let payload = value
            .strip_prefix("data:image/jpeg;base64,")
            .or_else(|| value.strip_prefix("data:image/jpg;base64,"))
            .ok_or_else(|| Error::invalid_input(FIELD, "is not a JPEG data URI"))?;
        if value.len() > MAX_DATA_URI {
            return Err(Error::invalid_input(
                FIELD,
                format!(
                    "is {} characters; a photo of at most 1 MB is at most {MAX_DATA_URI}",
                    value.len()
                ),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|e| Error::invalid_input(FIELD, format!("is not valid base64: {e}")))?;
        crate::photo::check_jpeg(FIELD, &bytes)?;
        Ok(PhotoDataUri(value))
    }
}

impl TryFrom<&str> for PhotoDataUri {
    type Error = Error;
    fn try_from(value: &str) -> Result<Self> {
        Self::try_from(value.to_owned())
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

/// A credential or token in a generated type (a property the documents mark
/// `x-preventor-redact: secret`: passwords, access, refresh and process tokens). Serialized as
/// the plain string; `Debug` is redacted; the value is zeroed when dropped.
#[derive(Clone)]
pub struct SecretText(secrecy::SecretString);

impl SecretText {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl From<String> for SecretText {
    fn from(value: String) -> Self {
        SecretText(value.into())
    }
}

impl From<&str> for SecretText {
    fn from(value: &str) -> Self {
        SecretText(value.into())
    }
}

impl From<SecretText> for secrecy::SecretString {
    fn from(value: SecretText) -> Self {
        value.0
    }
}

impl Serialize for SecretText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(<redacted>)")
    }
}

/// Personal data in a generated type (a property the documents mark
/// `x-preventor-redact: personal`: names, addresses, phones, emails). Serialized as the plain
/// string; `Debug` shows only its length, so a customer can be logged without its KYC data.
#[derive(Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonalText(String);

impl PersonalText {
    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for PersonalText {
    fn from(value: String) -> Self {
        PersonalText(value)
    }
}

impl From<&str> for PersonalText {
    fn from(value: &str) -> Self {
        PersonalText(value.to_owned())
    }
}

impl fmt::Debug for PersonalText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonalText(<{} characters>)", self.0.chars().count())
    }
}

/// `message` (a serde error, say) without the values it quotes: text between `"` or between
/// backticks (serde's ``invalid type: integer `1` ``) becomes `…`. A value may be a secret, a
/// document number or personal data.
pub fn without_values(message: &str) -> String {
    let mut out = String::new();
    let mut open: Option<char> = None;
    for c in message.chars() {
        match open {
            Some(q) if c == q => {
                out.push(c);
                open = None;
            }
            Some(_) => {}
            None if c == '"' || c == '`' => {
                out.push(c);
                out.push('…');
                open = Some(c);
            }
            None => out.push(c),
        }
    }
    out
}

// `PERSONAL_MEMBERS`: the members of a serialized record that hold personal data or document
// numbers, written by build.rs from the documents (`x-preventor-redact: personal`, and every
// property that holds a `DocumentNumber`).
include!(concat!(env!("OUT_DIR"), "/personal_members.rs"));

/// The personal values of a serialized record (the members [`mask_personal`] masks), at any
/// depth: what must not appear in text kept about the record.
pub fn personal_values(value: &serde_json::Value) -> Vec<String> {
    fn walk(value: &serde_json::Value, personal: bool, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, member) in map {
                    walk(member, PERSONAL_MEMBERS.contains(&key.as_str()), out);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, personal, out)),
            serde_json::Value::String(s) if personal && s.trim().chars().count() >= 3 => {
                out.push(s.trim().to_string())
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, false, &mut out);
    // Longest first: a value inside another is replaced with it.
    out.sort_by_key(|v| std::cmp::Reverse(v.len()));
    out
}

/// `text` (a server's message about a record) with each of the record's personal `values`
/// replaced by `[personal data]`, case-insensitively: a server may echo a document number or
/// a name back.
pub fn without_personal(text: &str, values: &[String]) -> String {
    let mut out = text.to_string();
    for value in values {
        let lower = out.to_lowercase();
        let needle = value.to_lowercase();
        if needle.is_empty() || !lower.contains(&needle) || lower.len() != out.len() {
            if lower.len() != out.len() {
                out = out.replace(value.as_str(), "[personal data]");
            }
            continue;
        }
        let mut result = String::with_capacity(out.len());
        let mut at = 0;
        while let Some(found) = lower[at..].find(&needle) {
            result.push_str(&out[at..at + found]);
            result.push_str("[personal data]");
            at += found + needle.len();
        }
        result.push_str(&out[at..]);
        out = result;
    }
    out
}

/// Replaces, at any depth of a serialized record, every member holding personal data or a
/// document number by `"<masked>"`: for printing a customer without its KYC data.
pub fn mask_personal(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                if PERSONAL_MEMBERS.contains(&key.as_str()) && !member.is_null() {
                    *member = "<masked>".into();
                } else {
                    mask_personal(member);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_personal),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_values_echoed_by_a_server_are_replaced() {
        let record = serde_json::json!({
            "id": "c-1",
            "first_name": "Zebulon",
            "iddocuments": [{"doc_number": "B207680293231", "doc_type": "DNI"}],
            "emails": [{"email": "zeb@example.com"}],
        });
        let values = personal_values(&record);
        assert_eq!(values.len(), 3, "{values:?}");
        let text = without_personal(
            "document b207680293231 of ZEBULON (zeb@example.com) already registered to c-1",
            &values,
        );
        assert_eq!(
            text,
            "document [personal data] of [personal data] ([personal data]) already registered to c-1"
        );
    }

    #[test]
    fn debug_is_redacted_and_constraints_hold() {
        let n = DocumentNumber::new("B207680293231").unwrap();
        assert_eq!(format!("{n:?}"), "DocumentNumber(<redacted>)");
        assert!(DocumentNumber::new("").is_err());
        assert!(DocumentNumber::new("x".repeat(65)).is_err());
        let uri = PhotoDataUri::try_from("data:image/jpeg;base64,/9j/4A==".to_string()).unwrap();
        assert_eq!(format!("{uri:?}"), "PhotoDataUri(<31 characters>)");
        assert_eq!(
            PhotoDataUri::try_from("data:image/jpeg;base64,/9j/4A==").unwrap(),
            uri
        );
        assert!(PhotoDataUri::try_from("data:image/png;base64,AAAA".to_string()).is_err());
        assert!(PhotoDataUri::try_from("data:image/jpeg;base64,a b".to_string()).is_err());
    }

    /// The members come from the documents: the marked ones and the document numbers, and
    /// nothing unmarked (an id, an amount).
    #[test]
    fn personal_members_are_the_documents_marked_properties() {
        for member in [
            "first_name",
            "email",
            "phone_number",
            "account_name",
            "doc_number",
        ] {
            assert!(PERSONAL_MEMBERS.contains(&member), "{member}");
        }
        for member in ["id", "trans_amount", "account_number", "doc_type"] {
            assert!(!PERSONAL_MEMBERS.contains(&member), "{member}");
        }
    }

    #[test]
    fn personal_members_are_masked_at_any_depth() {
        let mut v = serde_json::json!({"id": "c", "first_name": "ANA", "iddocuments": [{"doc_number": "X1", "doc_type": 6}]});
        mask_personal(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"id": "c", "first_name": "<masked>", "iddocuments": [{"doc_number": "<masked>", "doc_type": 6}]})
        );
    }
}

/// With the `schemars` feature, each redacting type is described as the JSON string it is.
#[cfg(feature = "schemars")]
mod json_schema {
    use schemars::{gen::SchemaGenerator, schema::Schema, JsonSchema};

    macro_rules! string_schema {
        ($($ty:ident),*) => {$(
            impl JsonSchema for super::$ty {
                fn schema_name() -> String {
                    stringify!($ty).to_string()
                }
                fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                    String::json_schema(generator)
                }
            }
        )*};
    }

    string_schema!(
        DocumentNumber,
        PhotoDataUri,
        DocumentValue,
        DocumentImage,
        SecretText,
        PersonalText
    );
}
