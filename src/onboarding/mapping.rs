//! The customer created from what the document reader read (the table is in `mapping.md`).
use chrono::NaiveDate;

use crate::{
    biometrics::types::{DocumentField, EnrollResult},
    compliance::types as cmp,
    Error, Result,
};

use super::ReadIdentity;

/// Regula text field type codes used here.
mod code {
    pub const ISSUING_STATE: i32 = 1;
    pub const DOCUMENT_NUMBER: i32 = 2;
    pub const EXPIRY: i32 = 3;
    pub const ISSUE: i32 = 4;
    pub const BIRTH: i32 = 5;
    pub const PERSONAL_NUMBER: i32 = 7;
    pub const SURNAME: i32 = 8;
    pub const GIVEN_NAMES: i32 = 9;
    pub const SEX: i32 = 12;
    pub const ADDRESS: i32 = 17;
    pub const FULL_NAME: i32 = 25;
    pub const NATIONALITY_CODE: i32 = 26;
    pub const MRZ_LINES: i32 = 51;
    pub const SECOND_SURNAME: i32 = 145;
    pub const ADDRESS_COUNTRY: i32 = 256;
}

/// Which source to read first.
#[derive(Clone, Copy)]
enum Prefer {
    Visual,
    Mrz,
}

/// The fields the document reader returned, by code.
pub(crate) struct Fields<'a>(&'a [DocumentField]);

impl<'a> Fields<'a> {
    /// The fields of `result`; entries without a `fieldTypeCode` cannot be used and are
    /// reported (as a warning with their count), not fatal.
    pub(crate) fn of(result: &'a EnrollResult) -> Self {
        let fields = result
            .document_reader
            .as_ref()
            .map(|d| d.fields.as_slice())
            .unwrap_or_default();
        let unusable = fields
            .iter()
            .filter(|f| f.field_type_code.is_none())
            .count();
        if unusable > 0 {
            tracing::warn!(
                unusable,
                "document reader fields without fieldTypeCode were ignored"
            );
        }
        Fields(fields)
    }

    fn get(&self, code: i32, prefer: Prefer) -> Option<String> {
        let mut candidates: Vec<&DocumentField> = self
            .0
            .iter()
            .filter(|f| f.field_type_code == Some(code))
            .collect();
        candidates.sort_by_key(|f| f.field_type.as_deref().unwrap_or_default().contains('('));
        candidates.into_iter().find_map(|f| {
            let ordered = match prefer {
                Prefer::Visual => [&f.visual_value, &f.mrz_value, &f.barcode_value],
                Prefer::Mrz => [&f.mrz_value, &f.visual_value, &f.barcode_value],
            };
            ordered
                .into_iter()
                .flatten()
                .map(|v| v.expose().trim())
                .find(|v| !v.is_empty())
                .map(str::to_owned)
        })
    }

    fn required(&self, code: i32, prefer: Prefer, what: &str) -> Result<String> {
        self.get(code, prefer)
            .ok_or_else(|| Error::InvalidResponse {
                operation: "bioEnroll",
                reason: format!("the document reader returned no {what} (field code {code})"),
            })
    }

    fn date(&self, code: i32, what: &str) -> Result<Option<NaiveDate>> {
        self.get(code, Prefer::Mrz)
            .map(|v| {
                NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| Error::InvalidResponse {
                    operation: "bioEnroll",
                    reason: format!("{what} (field code {code}) is not a YYYY-MM-DD date"),
                })
            })
            .transpose()
    }

    pub(crate) fn mrz(&self) -> Option<String> {
        self.get(code::MRZ_LINES, Prefer::Mrz)
    }
}

/// The customer to create, and what was read that the customer has no field for.
pub(crate) fn customer(
    result: &EnrollResult,
    customer_id: &str,
    ticket: &str,
    doc_type_code: i32,
) -> Result<(cmp::Customer, ReadIdentity)> {
    let f = Fields::of(result);
    let surname = f.required(code::SURNAME, Prefer::Visual, "surname")?;
    let given = f.required(code::GIVEN_NAMES, Prefer::Visual, "given names")?;
    let number = match f.get(code::PERSONAL_NUMBER, Prefer::Mrz) {
        Some(n) => n,
        None => f.required(code::DOCUMENT_NUMBER, Prefer::Mrz, "document number")?,
    };
    let mut words = given.split_whitespace();
    let first = words.next().unwrap_or_default().to_string();
    let middle = words.collect::<Vec<_>>().join(" ");
    let last = match f.get(code::SECOND_SURNAME, Prefer::Visual) {
        Some(second) => format!("{surname} {second}"),
        None => surname,
    };
    let full = f.get(code::FULL_NAME, Prefer::Visual).unwrap_or_else(|| {
        [first.as_str(), middle.as_str(), last.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")
    });
    let issuing_state = f.get(code::ISSUING_STATE, Prefer::Mrz);
    let issued = f.date(code::ISSUE, "date of issue")?;
    let expiry = f.date(code::EXPIRY, "date of expiry")?;
    let birth = f.date(code::BIRTH, "date of birth")?;

    let document = cmp::IdDocument::builder()
        .id(1)
        .request_type(cmp::RequestType::A)
        .doc_type(Some(doc_type_code))
        .doc_number(Some(crate::redacted::DocumentNumber::new(number).map_err(
            |e| match e {
                Error::InvalidInput { problem, .. } => unreadable("document number", problem),
                other => other,
            },
        )?))
        .doc_issued_country(issuing_state.as_deref().map(text).transpose()?)
        .doc_issued_date(issued)
        .doc_expiration_date(expiry)
        .doc_primary_flag(Some(text("P")?))
        .transaction_id(Some(text(ticket)?));
    let mut customer = cmp::Customer::builder()
        .request_type(cmp::RequestType::A)
        .id(customer_id)
        .type_of_person(Some(text("P")?))
        .cust_api_ref_id(Some(text(ticket)?))
        .first_name(Some(text(&first)?))
        .middle_name((!middle.is_empty()).then(|| text(&middle)).transpose()?)
        .last_name(Some(text(&last)?))
        .full_name(Some(text(&full)?))
        .iddocuments(vec![built(document)?]);
    if let Some(line) = f.get(code::ADDRESS, Prefer::Visual) {
        let country = f
            .get(code::ADDRESS_COUNTRY, Prefer::Visual)
            .or(issuing_state);
        let address = cmp::Address::builder()
            .id(1)
            .request_type(cmp::RequestType::A)
            .address_line1(Some(text(&line)?))
            .address_country(country.as_deref().map(text).transpose()?)
            .address_primary_flag(Some(text("P")?))
            .transaction_id(Some(text(ticket)?));
        customer = customer.addresses(vec![built(address)?]);
    }
    let customer: cmp::Customer = built(customer)?;
    let identity = ReadIdentity {
        nationality: f.get(code::NATIONALITY_CODE, Prefer::Mrz),
        birth_date: birth,
        sex: f.get(code::SEX, Prefer::Mrz),
    };
    Ok((customer, identity))
}

/// A generated string type from a value the server returned; the schema's bounds apply, and a
/// value outside them is the server's fault ([`Error::InvalidResponse`]), not the caller's.
fn text<'a, T>(value: &'a str) -> Result<T>
where
    T: TryFrom<&'a str>,
    T::Error: std::fmt::Display,
{
    T::try_from(value).map_err(|e| unreadable("a value read from the document", e.to_string()))
}

/// A value of the enroll result that does not fit the customer (the value itself not shown).
fn unreadable(what: &str, problem: impl std::fmt::Display) -> Error {
    Error::InvalidResponse {
        operation: "bioEnroll",
        reason: format!("{what} does not fit the customer: {problem}"),
    }
}

/// A generated type from its builder.
fn built<B, T>(builder: B) -> Result<T>
where
    B: TryInto<T>,
    B::Error: std::fmt::Display,
{
    builder
        .try_into()
        .map_err(|e| Error::invalid_input("onboarding customer", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_example() -> EnrollResult {
        let yaml: serde_json::Value =
            serde_yaml::from_str(include_str!("../../openapi/biometrics.yaml")).unwrap();
        serde_json::from_value(yaml["components"]["examples"]["EnrollResult"]["value"].clone())
            .unwrap()
    }

    #[test]
    fn the_pages_enroll_result_maps_to_a_customer() {
        let (c, identity) = customer(&page_example(), "cu-1", "ticket-1", 6).unwrap();
        let text = |v: Option<String>| v.unwrap_or_default();
        assert_eq!(text(c.first_name.map(|v| v.expose().to_string())), "TEST");
        assert_eq!(c.middle_name, None);
        assert_eq!(
            text(c.last_name.map(|v| v.expose().to_string())),
            "TEST TEST",
            "surname and second surname"
        );
        assert_eq!(
            text(c.full_name.map(|v| v.expose().to_string())),
            "TEST",
            "code 25 as read"
        );
        let doc = &c.iddocuments[0];
        assert_eq!(
            doc.doc_number.as_ref().unwrap().expose(),
            "70585549",
            "code 2, MRZ first (no code 7)"
        );
        assert_eq!(
            text(doc.doc_issued_country.as_ref().map(|v| v.to_string())),
            "PER"
        );
        assert_eq!(
            doc.doc_expiration_date,
            NaiveDate::from_ymd_opt(2023, 3, 24)
        );
        assert_eq!(doc.doc_issued_date, None, "no code 4 in the page's result");
        assert_eq!(text(c.cust_api_ref_id.map(|v| v.to_string())), "ticket-1");
        let address = &c.addresses[0];
        assert_eq!(
            text(
                address
                    .address_line1
                    .as_ref()
                    .map(|v| v.expose().to_string())
            ),
            "J.A. RIBEYRO 184 DPTO. 503"
        );
        assert_eq!(
            text(address.address_country.as_ref().map(|v| v.to_string())),
            "PER"
        );
        assert_eq!(identity.birth_date, NaiveDate::from_ymd_opt(1993, 3, 27));
        assert_eq!(identity.nationality.as_deref(), Some("PER"));
        assert_eq!(identity.sex.as_deref(), Some("M"));
    }

    #[test]
    fn a_malformed_field_entry_is_ignored_not_fatal() {
        let mut yaml: serde_json::Value =
            serde_yaml::from_str(include_str!("../../openapi/biometrics.yaml")).unwrap();
        let value = &mut yaml["components"]["examples"]["EnrollResult"]["value"];
        let fields = value["documentReader"]["fields"].as_array_mut().unwrap();
        fields.push(serde_json::json!({"visualValue": "???"}));
        fields.push(serde_json::json!({"fieldType": "Label only"}));
        let result: EnrollResult = serde_json::from_value(value.clone()).unwrap();
        let (customer, _) = customer(&result, "cu-1", "t", 6).unwrap();
        assert!(customer.last_name.is_some());
    }

    #[test]
    fn an_overlong_document_number_from_the_server_is_an_invalid_response() {
        let mut result = page_example();
        let reader = result.document_reader.as_mut().unwrap();
        for f in reader
            .fields
            .iter_mut()
            .filter(|f| f.field_type_code == Some(2))
        {
            let long = "9".repeat(65);
            f.visual_value = Some(long.clone().into());
            f.mrz_value = Some(long.clone().into());
            f.barcode_value = Some(long.into());
        }
        reader.fields.retain(|f| f.field_type_code != Some(7));
        let err = customer(&result, "cu-1", "t", 6).unwrap_err();
        assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
        assert!(!err.to_string().contains("9999"), "{err}");
    }

    #[test]
    fn a_missing_surname_or_a_bad_date_is_an_error_not_a_half_customer() {
        let mut result = page_example();
        let reader = result.document_reader.as_mut().unwrap();
        reader
            .fields
            .retain(|f| f.field_type_code != Some(code::SURNAME));
        let err = customer(&result, "cu-1", "t", 6).unwrap_err().to_string();
        assert_eq!(
            err,
            "bioEnroll: invalid response: the document reader returned no surname (field code 8)"
        );

        let mut result = page_example();
        let reader = result.document_reader.as_mut().unwrap();
        for f in reader
            .fields
            .iter_mut()
            .filter(|f| f.field_type_code == Some(code::EXPIRY))
        {
            f.mrz_value = Some("24/03/2023".to_string().into());
        }
        let err = customer(&result, "cu-1", "t", 6).unwrap_err().to_string();
        assert!(
            err.contains("date of expiry (field code 3) is not a YYYY-MM-DD date"),
            "{err}"
        );
    }
}
