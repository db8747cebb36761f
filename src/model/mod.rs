//! The normalized transaction: one schema for every balance change, documented in
//! `schemas/transaction.schema.json` and `schemas/README.md`.
//!
//! Sign rules: amounts are always positive; direction is given by the column. For every
//! (account, asset), Σ received − Σ sent − Σ fee over all rows equals the net balance change
//! OKX recorded in its ledgers. Ids are derived from OKX ids, so re-exports are diffable.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use std::fmt;

/// The first instant of day `d` in `tz`: its midnight, the earlier one when midnight
/// happens twice, or, when the clocks skip midnight (a daylight-saving change at 00:00, as
/// in Santiago or Havana), the first local minute after the gap, which is the instant of
/// the change.
pub fn day_start(tz: chrono_tz::Tz, d: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    let midnight = d.and_hms_opt(0, 0, 0)?;
    (0..=24 * 60).find_map(|m| {
        chrono::TimeZone::from_local_datetime(&tz, &(midnight + chrono::Duration::minutes(m)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// How far apart the two sides of one transfer (between ledgers or between accounts) may
/// be booked and still be paired: OKX writes both at the same millisecond as far as seen,
/// so this only tolerates clock jitter.
pub const TOLERANCE_MS: i64 = 5_000;

/// Which OKX account a row's balance change happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Account {
    Trading,
    Funding,
    Earn,
}

impl Account {
    pub const ALL: [Account; 3] = [Account::Trading, Account::Funding, Account::Earn];

    pub fn as_str(self) -> &'static str {
        match self {
            Account::Trading => "trading",
            Account::Funding => "funding",
            Account::Earn => "earn",
        }
    }

    pub fn parse(s: &str) -> Option<Account> {
        Account::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! kinds {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// What a row is, for tax purposes. See `schemas/README.md` for each kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Kind { $($variant),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Kind::$variant => $name),* }
            }

            pub fn parse(s: &str) -> Option<Kind> {
                match s { $($name => Some(Kind::$variant),)* _ => None }
            }
        }
    };
}

kinds! {
    Trade = "trade",
    Deposit = "deposit",
    Withdrawal = "withdrawal",
    Transfer = "transfer",
    Fee = "fee",
    Rebate = "rebate",
    FundingFee = "funding_fee",
    InterestPaid = "interest_paid",
    RealizedPnl = "realized_pnl",
    StakingReward = "staking_reward",
    EarnInterest = "earn_interest",
    Airdrop = "airdrop",
    ReferralReward = "referral_reward",
    OtherIncome = "other_income",
    Liquidation = "liquidation",
    Unclassified = "unclassified",
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A positive quantity of one asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Amount {
    pub amount: Decimal,
    pub asset: String,
}

impl Amount {
    pub fn new(amount: Decimal, asset: impl Into<String>) -> Amount {
        Amount {
            amount,
            asset: asset.into(),
        }
    }
}

/// One normalized row. Column order of `transactions.csv` is [`Transaction::COLUMNS`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Stable id derived from OKX ids, e.g. `tb-<billId>`.
    pub id: String,
    pub time: DateTime<Utc>,
    pub account: Account,
    pub kind: Kind,
    pub sent: Option<Amount>,
    pub received: Option<Amount>,
    pub fee: Option<Amount>,
    pub instrument: Option<String>,
    pub side: Option<String>,
    pub price: Option<Decimal>,
    pub order_id: Option<String>,
    pub trade_id: Option<String>,
    pub tx_hash: Option<String>,
    pub address: Option<String>,
    pub chain: Option<String>,
    /// The OKX endpoint family the row comes from, e.g. `account/bills`.
    pub source: String,
    /// The OKX id(s) of the source record(s), `;`-separated when several bills make one row.
    pub source_id: String,
    pub note: Option<String>,
    /// For a move between the user's own OKX accounts (a master and its sub-account): the
    /// other account, e.g. `to sub-account bot`. Not a column of `transactions.csv` (its
    /// `note` says the same); every tax format names it in its description.
    pub counterparty: Option<String>,
}

impl Transaction {
    pub const COLUMNS: [&'static str; 21] = [
        "id",
        "time",
        "account",
        "kind",
        "sent_amount",
        "sent_asset",
        "received_amount",
        "received_asset",
        "fee_amount",
        "fee_asset",
        "instrument",
        "side",
        "price",
        "order_id",
        "trade_id",
        "tx_hash",
        "address",
        "chain",
        "source",
        "source_id",
        "note",
    ];

    /// A row with only the identifying fields set.
    pub fn new(
        id: impl Into<String>,
        time: DateTime<Utc>,
        account: Account,
        kind: Kind,
        source: impl Into<String>,
        source_id: impl Into<String>,
    ) -> Transaction {
        Transaction {
            id: id.into(),
            time,
            account,
            kind,
            sent: None,
            received: None,
            fee: None,
            instrument: None,
            side: None,
            price: None,
            order_id: None,
            trade_id: None,
            tx_hash: None,
            address: None,
            chain: None,
            source: source.into(),
            source_id: source_id.into(),
            note: None,
            counterparty: None,
        }
    }

    /// Net change this row makes to `asset` (received − sent − fee).
    pub fn net_change(&self, asset: &str) -> Decimal {
        let of = |a: &Option<Amount>| {
            a.as_ref()
                .filter(|a| a.asset == asset)
                .map_or(Decimal::ZERO, |a| a.amount)
        };
        of(&self.received) - of(&self.sent) - of(&self.fee)
    }
}

/// Formats a decimal in plain notation without trailing zeros (`1.50000` → `1.5`).
pub fn plain(d: Decimal) -> String {
    let mut buf = PlainBuf::new();
    buf.format(d).to_string()
}

/// A stack buffer for [`plain`] text, for callers that write the text somewhere else
/// (CSV cells) and should not allocate per number.
pub struct PlainBuf([u8; PlainBuf::LEN]);

impl Default for PlainBuf {
    fn default() -> PlainBuf {
        PlainBuf::new()
    }
}

impl PlainBuf {
    /// Sign, 29 digits, `0.` and the point fit with room to spare.
    const LEN: usize = 48;

    pub fn new() -> PlainBuf {
        PlainBuf([0; PlainBuf::LEN])
    }

    /// The [`plain`] text of `d`: rust_decimal's `normalize` and `Display` (no exponent, no
    /// trailing zeros), and `0` for any zero (a normalized `-0` would keep its sign).
    ///
    /// The digits are written straight from the mantissa and scale (what `Display` writes
    /// for a normalized decimal, without the formatting machinery: amounts and prices are
    /// written several times per row).
    pub fn format(&mut self, d: Decimal) -> &str {
        if d.is_zero() {
            return "0";
        }
        let d = d.normalize();
        let scale = d.scale() as usize;
        // The mantissa's digits, right-aligned in `digits[start..]`.
        let mut digits = [0u8; 30];
        let mut start = digits.len();
        let mut m = d.mantissa().unsigned_abs();
        while m > u128::from(u64::MAX) {
            start -= 1;
            digits[start] = b'0' + (m % 10) as u8;
            m /= 10;
        }
        let mut m = m as u64;
        while m > 0 {
            start -= 1;
            digits[start] = b'0' + (m % 10) as u8;
            m /= 10;
        }
        let digits = &digits[start..];
        let mut len = 0;
        let mut put = |bytes: &[u8]| {
            self.0[len..len + bytes.len()].copy_from_slice(bytes);
            len += bytes.len();
        };
        if d.is_sign_negative() {
            put(b"-");
        }
        if scale >= digits.len() {
            // 0.000ddd
            put(b"0.");
            for _ in digits.len()..scale {
                put(b"0");
            }
            put(digits);
        } else {
            let point = digits.len() - scale;
            put(&digits[..point]);
            if scale > 0 {
                put(b".");
                put(&digits[point..]);
            }
        }
        std::str::from_utf8(&self.0[..len]).expect("ASCII digits")
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2025-03-01T12:34:56.789Z`.
pub fn rfc3339_ms(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn plain_decimals() {
        assert_eq!(plain(Decimal::from_str("1.0000000000000000").unwrap()), "1");
        assert_eq!(
            plain(Decimal::from_str("-10.1580000000000000").unwrap()),
            "-10.158"
        );
        assert_eq!(
            plain(Decimal::from_str("0.00000192834").unwrap()),
            "0.00000192834"
        );
        assert_eq!(plain(Decimal::from_str("0.000").unwrap()), "0");
        assert_eq!(plain(Decimal::from_str("-0.000").unwrap()), "0");
        assert_eq!(plain(Decimal::MAX), "79228162514264337593543950335");
        assert_eq!(plain(Decimal::MIN), "-79228162514264337593543950335");
        assert_eq!(
            plain(Decimal::from_str("1e3").unwrap_or(Decimal::from(1000))),
            "1000"
        );
    }

    proptest::proptest! {
        /// The digits written from the mantissa are rust_decimal's own `Display` text of
        /// the normalized value, for any mantissa and scale.
        #[test]
        fn plain_is_displays_text(lo: u32, mid: u32, hi: u32, negative: bool, scale in 0u32..=28) {
            let d = Decimal::from_parts(lo, mid, hi, negative, scale);
            let expected = if d.is_zero() { "0".to_string() } else { d.normalize().to_string() };
            proptest::prop_assert_eq!(plain(d), expected);
        }

        #[test]
        fn plain_is_displays_text_small(m in -10_000_000_000i64..10_000_000_000, scale in 0u32..=28) {
            let d = Decimal::new(m, scale);
            let expected = if d.is_zero() { "0".to_string() } else { d.normalize().to_string() };
            proptest::prop_assert_eq!(plain(d), expected);
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(Kind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(Kind::ALL.len(), 16);
    }

    #[test]
    fn time_format() {
        let t = DateTime::from_timestamp_millis(1_740_832_496_789).unwrap();
        assert_eq!(rfc3339_ms(t), "2025-03-01T12:34:56.789Z");
    }
}
