//! The identity the sandbox's document reader "reads" from an upload: derived from a SHA-256
//! of the uploaded pictures, so the same upload always gives the same fields (tests can
//! predict them with [`Identity::from_pictures`]), with a TD1 MRZ whose ICAO 9303 check digits
//! are valid (computed with the SDK's own `check_digit`, checked by its `MrzReport`).

use chrono::NaiveDate;
use preventor::onboarding::mrz::check_digit;
use sha2::{Digest, Sha256};

const SURNAMES: [&str; 8] = [
    "GARCIA", "QUISPE", "FLORES", "ROJAS", "TORRES", "SMITH", "BROWN", "MENDOZA",
];
const SECOND_SURNAMES: [&str; 4] = ["LOPEZ", "CASTRO", "VARGAS", "RAMOS"];
const GIVEN: [&str; 8] = [
    "MARIA", "JOSE", "ANA", "LUIS", "ROSA", "JUAN", "CARMEN", "PEDRO",
];
const MIDDLE: [&str; 4] = ["ELENA", "ANTONIO", "ISABEL", "MIGUEL"];
const STREETS: [&str; 4] = [
    "AV. AREQUIPA",
    "JR. DE LA UNION",
    "CALLE LOS PINOS",
    "AV. JAVIER PRADO",
];

/// What the sandbox reads from one upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Surname (field code 8).
    pub surname: String,
    /// Second surname (code 145).
    pub second_surname: String,
    /// Given names, first and middle (code 9).
    pub given_names: String,
    /// Document number, 9 digits (code 2).
    pub document_number: String,
    /// Personal number (code 7): the document number without its last digit (a DNI).
    pub personal_number: String,
    /// Date of birth (code 5).
    pub birth: NaiveDate,
    /// Date of issue (code 4).
    pub issue: NaiveDate,
    /// Date of expiry (code 3).
    pub expiry: NaiveDate,
    /// Sex, `M` or `F` (code 12).
    pub sex: char,
    /// Issuing state and nationality code (codes 1 and 26).
    pub state: &'static str,
    /// Address (code 17).
    pub address: String,
}

impl Identity {
    /// The identity of an upload made of these pictures (data URIs, in upload order:
    /// portraits then documents).
    pub fn from_pictures<'a>(pictures: impl IntoIterator<Item = &'a str>) -> Identity {
        let mut hash = Sha256::new();
        for p in pictures {
            hash.update(p.as_bytes());
            hash.update([0]);
        }
        let h: [u8; 32] = hash.finalize().into();
        let n = |i: usize| h[i] as usize;
        let number: u64 =
            u64::from_be_bytes(h[8..16].try_into().expect("8 bytes")) % 900_000_000 + 100_000_000;
        let birth = NaiveDate::from_ymd_opt(
            1960 + (n(16) % 45) as i32,
            1 + (n(17) % 12) as u32,
            1 + (n(18) % 28) as u32,
        )
        .expect("valid date");
        let issue = NaiveDate::from_ymd_opt(
            2020 + (n(19) % 5) as i32,
            1 + (n(20) % 12) as u32,
            1 + (n(21) % 28) as u32,
        )
        .expect("valid date");
        let expiry = NaiveDate::from_ymd_opt(
            issue.year_ce().1 as i32 + 8,
            issue.month0() + 1,
            issue.day0() + 1,
        )
        .expect("valid date");
        let document_number = number.to_string();
        Identity {
            surname: SURNAMES[n(0) % 8].into(),
            second_surname: SECOND_SURNAMES[n(1) % 4].into(),
            given_names: format!("{} {}", GIVEN[n(2) % 8], MIDDLE[n(3) % 4]),
            personal_number: document_number[..8].to_string(),
            document_number,
            birth,
            issue,
            expiry,
            sex: if n(4) % 2 == 0 { 'M' } else { 'F' },
            state: "PER",
            address: format!("{} {}", STREETS[n(5) % 4], 100 + n(6)),
        }
    }

    /// The three 30-character lines of a TD1 (ID card) MRZ, with valid check digits.
    pub fn mrz_lines(&self) -> [String; 3] {
        let doc = pad(&self.document_number, 9);
        let yymmdd = |d: NaiveDate| d.format("%y%m%d").to_string();
        let line1 = format!(
            "I<{}{}{}{}",
            self.state,
            doc,
            check_digit(&doc),
            pad("", 15)
        );
        let birth = yymmdd(self.birth);
        let expiry = yymmdd(self.expiry);
        let mut line2 = format!(
            "{birth}{}{}{expiry}{}{}{}",
            check_digit(&birth),
            self.sex,
            check_digit(&expiry),
            self.state,
            pad("", 11)
        );
        let composite =
            format!("{}{}{}", &line1[5..30], &line2[0..7], &line2[8..15]) + &line2[18..29];
        line2.push(char::from(b'0' + check_digit(&composite)));
        let names = format!(
            "{}<{}<<{}",
            self.surname,
            self.second_surname,
            self.given_names.replace(' ', "<")
        );
        [line1, line2, pad(&names, 30)]
    }
}

fn pad(s: &str, len: usize) -> String {
    let mut out: String = s.chars().take(len).collect();
    while out.len() < len {
        out.push('<');
    }
    out
}

use chrono::Datelike;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_icao_valid() {
        let a = Identity::from_pictures(["data:image/jpeg;base64,AAAA"]);
        assert_eq!(a, Identity::from_pictures(["data:image/jpeg;base64,AAAA"]));
        assert_ne!(a, Identity::from_pictures(["data:image/jpeg;base64,AAAB"]));
        let [l1, l2, l3] = a.mrz_lines();
        assert_eq!((l1.len(), l2.len(), l3.len()), (30, 30, 30));
        assert_eq!(check_digit(&l1[5..14]), l1.as_bytes()[14] - b'0');
        assert_eq!(check_digit(&l2[0..6]), l2.as_bytes()[6] - b'0');
        let report = preventor::onboarding::MrzReport::check(
            &[l1.clone(), l2.clone(), l3.clone()].join("^"),
        );
        assert!(report.is_valid(), "{report:?}");
    }
}
