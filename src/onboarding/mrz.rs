//! ICAO Doc 9303 MRZ check digits, to report on the document reader's MRZ rather than trust its
//! `lexicalValidity` blindly.

/// The ICAO 9303 check digit of `s`: `0-9` as is, `A-Z` as 10-35, `<` as 0; weights 7, 3, 1.
pub fn check_digit(s: &str) -> u8 {
    let sum: u32 = s
        .bytes()
        .zip([7u32, 3, 1].into_iter().cycle())
        .map(|(c, weight)| {
            let value = match c {
                b'0'..=b'9' => u32::from(c - b'0'),
                b'A'..=b'Z' => u32::from(c - b'A') + 10,
                _ => 0,
            };
            value * weight
        })
        .sum();
    (sum % 10) as u8
}

/// What the MRZ's check digits say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MrzReport {
    /// `TD1` (ID card, 3 x 30) or `TD3` (passport, 2 x 44); `None` when the lines fit neither.
    pub layout: Option<&'static str>,
    /// Document number check digit holds.
    pub document_number: bool,
    /// Date of birth check digit holds.
    pub birth_date: bool,
    /// Date of expiry check digit holds.
    pub expiry_date: bool,
    /// Composite check digit holds.
    pub composite: bool,
}

impl MrzReport {
    /// Every check digit holds on a recognised layout.
    pub fn is_valid(&self) -> bool {
        self.layout.is_some()
            && self.document_number
            && self.birth_date
            && self.expiry_date
            && self.composite
    }

    /// Checks MRZ lines as the document reader returns them (field code 51, `^` between lines).
    pub fn check(mrz: &str) -> MrzReport {
        let lines: Vec<&str> = mrz.split('^').collect();
        let ok = |field: &str, digit: &str| digit.bytes().next() == Some(b'0' + check_digit(field));
        let invalid = MrzReport {
            layout: None,
            document_number: false,
            birth_date: false,
            expiry_date: false,
            composite: false,
        };
        if !lines.iter().all(|l| l.is_ascii()) {
            return invalid;
        }
        match lines.as_slice() {
            [l1, l2, l3] if [l1, l2, l3].iter().all(|l| l.len() == 30) => MrzReport {
                layout: Some("TD1"),
                document_number: ok(&l1[5..14], &l1[14..15]),
                birth_date: ok(&l2[0..6], &l2[6..7]),
                expiry_date: ok(&l2[8..14], &l2[14..15]),
                composite: ok(
                    &format!("{}{}{}{}", &l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]),
                    &l2[29..30],
                ),
            },
            [l1, l2] if l1.len() == 44 && l2.len() == 44 => MrzReport {
                layout: Some("TD3"),
                document_number: ok(&l2[0..9], &l2[9..10]),
                birth_date: ok(&l2[13..19], &l2[19..20]),
                expiry_date: ok(&l2[21..27], &l2[27..28]),
                composite: ok(
                    &format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]),
                    &l2[43..44],
                ),
            },
            _ => invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icao_specimen_passport_is_valid() {
        // ICAO Doc 9303 part 4 specimen.
        let mrz = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<^L898902C36UTO7408122F1204159ZE184226B<<<<<10";
        let report = MrzReport::check(mrz);
        assert_eq!(report.layout, Some("TD3"));
        assert!(report.is_valid(), "{report:?}");
    }

    #[test]
    fn the_pages_sample_mrz_is_reported_not_trusted() {
        // The page's third line has 20 characters, not 30: no recognised layout.
        let page =
            "I<PER21585549<5<<<<<<<<<<<<<<<^9303276M2303244PER<<<<<<<<<<<4^TEST<<TEST<TEST<<<<<";
        assert!(!MrzReport::check(page).is_valid());
        // Padded to 30, its birth and expiry digits hold and the document number's does not
        // (it carries the Peruvian DNI check digit).
        let padded = format!("{}^{:<<30}", &page[..61], "TEST<<TEST<TEST<<<<<");
        let r = MrzReport::check(&padded);
        assert_eq!(r.layout, Some("TD1"));
        assert!(r.birth_date && r.expiry_date);
        assert!(!r.document_number && !r.composite);
    }
}
