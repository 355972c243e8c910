//! `Display` for the generated string newtypes a program prints or logs (ids, account numbers,
//! amounts, currencies): the value itself, as serialized. Personal data and secrets have their
//! own redacting types (`redacted.rs`) and no `Display`.

use std::fmt;

use crate::generated::{biometrics::types as bio, compliance::types as cmp};

macro_rules! display_as_str {
    ($($ty:ty),* $(,)?) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(
    cmp::Id,
    cmp::Decimal,
    cmp::AccountAccountNumber,
    cmp::MonetaryTransactionAccountNumber,
    cmp::MonetaryTransactionTransCurrency,
    cmp::PrimaryFlag,
    cmp::GetCustomerFormCifCod,
    bio::BioEnrollTicket,
    bio::BioEnrollUserId,
    bio::UploadBioFilesUserId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_amounts_display_as_their_value() {
        let id = cmp::Id::try_from("cu-1").unwrap();
        let amount = cmp::Decimal::try_from("1234.50").unwrap();
        assert_eq!(format!("{id} {amount}"), "cu-1 1234.50");
    }
}
