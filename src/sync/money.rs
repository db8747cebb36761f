//! Money fields are checked when a page is fetched, before it is stored: a record whose
//! money field is missing, empty, `NaN`, not a number, in exponent form (`1e5`, which a
//! lenient parser books as 100000) or longer than the report's decimal type holds (29
//! significant digits: a 39-digit `balChg` would fail every later report) never enters
//! the store. The page is fetched again; if it
//! stays bad, the stream fails naming the endpoint, the record and the field.

use crate::store::RecordKind;
use serde_json::Value;

/// Fields every record of a kind must carry as a plain decimal.
fn required(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Bill | RecordKind::FundingBill => &["balChg", "bal"],
        RecordKind::Fill => &["fillSz", "fillPx", "fee"],
        RecordKind::Deposit | RecordKind::Withdrawal | RecordKind::SubTransfer => &["amt"],
        RecordKind::Convert | RecordKind::Instrument => &[],
        RecordKind::DualInvestment => &["notionalSz"],
    }
}

/// Fields that may be absent or `""` (OKX leaves inapplicable fields empty) but, when
/// present, must be a plain decimal.
fn optional(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Bill => &[
            "sz",
            "px",
            "pnl",
            "fee",
            "posBalChg",
            "posBal",
            "interest",
            "earnAmt",
        ],
        RecordKind::Fill => &["fillPnl"],
        RecordKind::Withdrawal => &["fee"],
        RecordKind::Convert => &["fillPx", "fillBaseSz", "fillQuoteSz"],
        RecordKind::DualInvestment => &["strike", "settlePx", "settleSz", "yieldSz", "annualizedYield"],
        RecordKind::FundingBill | RecordKind::Deposit | RecordKind::Instrument | RecordKind::SubTransfer => {
            &[]
        }
    }
}

/// `-?digits(.digits)?`: what OKX sends for money.
pub fn is_plain_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    digits(int) && frac.is_none_or(digits)
}

/// Digits a money value may have before the point: 10^20 is far beyond any coin's
/// supply, and leaves room for sums over a hundred million rows within the decimal type's
/// 7.9 × 10^28 (a sum past it would fail the report).
pub const MAX_INTEGER_DIGITS: usize = 20;

/// A plain decimal that the report's decimal type (the one every later step parses with)
/// holds exactly, with at most [`MAX_INTEGER_DIGITS`] before the point.
pub fn fits_decimal(s: &str) -> bool {
    let int = s.trim_start_matches('-').split('.').next().unwrap_or("");
    int.trim_start_matches('0').len() <= MAX_INTEGER_DIGITS
        && crate::okx::wire::de::parse_decimal(s).is_some()
}

/// A money field that is not a plain decimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    pub field: &'static str,
    /// What was sent (`None`: the field is missing).
    pub value: Option<String>,
}

impl std::fmt::Display for BadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.value {
            Some(v) if is_plain_decimal(v) => write!(
                f,
                "field `{}` is `{v}`, more digits than a decimal holds (at most {MAX_INTEGER_DIGITS} before the point and 28 after)",
                self.field
            ),
            Some(v) => write!(f, "field `{}` is `{v}`, not a plain decimal", self.field),
            None => write!(f, "field `{}` is missing", self.field),
        }
    }
}

/// The field as text; a JSON number (OKX sends money as strings; a number may already have
/// lost precision as a float) comes back with a marker no decimal has.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(format!("{other} (a JSON number, not a string)")),
    }
}

/// The first bad money field of a record of `kind`, if any.
pub fn check(kind: RecordKind, v: &Value) -> Result<(), BadField> {
    for &field in required(kind) {
        match v.get(field).and_then(text) {
            Some(s) if is_plain_decimal(&s) && fits_decimal(&s) => {}
            value => return Err(BadField { field, value }),
        }
    }
    for &field in optional(kind) {
        match v.get(field).and_then(text) {
            Some(s) if !(s.is_empty() || is_plain_decimal(&s) && fits_decimal(&s)) => {
                return Err(BadField {
                    field,
                    value: Some(s),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_plain_decimals_pass() {
        for ok in ["0", "1.5", "-0.001", "100000", "12.000"] {
            assert!(is_plain_decimal(ok), "{ok}");
        }
        for bad in [
            "", "NaN", "abc", "1e5", "1E5", "1.5e-3", ".5", "5.", "+1", "-", "1,5", " 1", "inf",
        ] {
            assert!(!is_plain_decimal(bad), "{bad}");
        }
    }

    #[test]
    fn required_and_optional_fields() {
        let bill = json!({"billId": "1", "balChg": "1.5", "bal": "2", "fee": "", "pnl": "0"});
        assert_eq!(check(RecordKind::Bill, &bill), Ok(()));
        let missing = json!({"billId": "1", "balChg": "1.5"});
        assert_eq!(
            check(RecordKind::Bill, &missing),
            Err(BadField {
                field: "bal",
                value: None
            })
        );
        for bad in ["", "NaN", "abc", "1e5"] {
            let d = json!({"depId": "9", "amt": bad});
            let err = check(RecordKind::Deposit, &d).unwrap_err();
            assert_eq!((err.field, err.value.as_deref()), ("amt", Some(bad)));
        }
        let fee = json!({"billId": "1", "balChg": "1", "bal": "1", "fee": "-1e-4"});
        assert_eq!(check(RecordKind::Bill, &fee).unwrap_err().field, "fee");
        // More digits than the report's decimal holds: refused like `abc`.
        let huge = "123456789012345678901234567890123456789";
        let bill = json!({"billId": "1", "balChg": huge, "bal": "2"});
        let err = check(RecordKind::Bill, &bill).unwrap_err();
        assert_eq!((err.field, err.value.as_deref()), ("balChg", Some(huge)));
        assert!(
            err.to_string().contains("more digits than a decimal holds"),
            "{err}"
        );
        let tiny =
            json!({"billId": "1", "balChg": "1", "bal": "2", "fee": "0.00000000000000000000000000001"});
        assert_eq!(check(RecordKind::Bill, &tiny).unwrap_err().field, "fee");
        assert_eq!(
            check(
                RecordKind::Bill,
                &json!({"billId": "1", "balChg": "-79228162514264.337593543950335", "bal": "0"})
            ),
            Ok(())
        );
        let big = json!({"billId": "1", "balChg": "123456789012345678901", "bal": "0"});
        assert_eq!(check(RecordKind::Bill, &big).unwrap_err().field, "balChg");
        // Money must be a string: a JSON number may already be a rounded float.
        let num = json!({"depId": "9", "amt": 1e5});
        assert_eq!(check(RecordKind::Deposit, &num).unwrap_err().field, "amt");
    }
}
