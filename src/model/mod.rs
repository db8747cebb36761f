//! The normalized transaction: one schema for every balance change, documented in
//! `schemas/transaction.schema.json` and `schemas/README.md`.
//!
//! Sign rules: amounts are always positive; direction is given by the column. For every
//! (account, asset), Σ received − Σ sent − Σ fee over all rows equals the net balance change
//! OKX recorded in its ledgers. Ids are derived from OKX ids, so re-exports are diffable.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use std::fmt;

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

    /// The [`plain`] text of `d`: no exponent, no trailing zeros, `0` for any zero.
    /// Same text as `d.normalize().to_string()` (the `plain_matches_normalize` test).
    pub fn format(&mut self, d: Decimal) -> &str {
        let m = d.mantissa();
        if m == 0 {
            return "0";
        }
        let mut scale = d.scale() as usize;
        let buf = &mut self.0;
        let mut pos = buf.len();
        match u64::try_from(m.unsigned_abs()) {
            Ok(mut v) => {
                while scale > 0 && v % 10 == 0 {
                    v /= 10;
                    scale -= 1;
                }
                for _ in 0..scale {
                    pos -= 1;
                    buf[pos] = b'0' + (v % 10) as u8;
                    v /= 10;
                }
                if scale > 0 {
                    pos -= 1;
                    buf[pos] = b'.';
                }
                loop {
                    pos -= 1;
                    buf[pos] = b'0' + (v % 10) as u8;
                    v /= 10;
                    if v == 0 {
                        break;
                    }
                }
            }
            Err(_) => {
                // More than 19 digits: rare, let rust_decimal do it.
                let text = d.normalize().to_string();
                let text = text.trim_start_matches('-');
                pos -= text.len();
                buf[pos..].copy_from_slice(text.as_bytes());
            }
        }
        if m < 0 {
            pos -= 1;
            buf[pos] = b'-';
        }
        std::str::from_utf8(&buf[pos..]).expect("ASCII digits")
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
        assert_eq!(
            plain(Decimal::from_str("1e3").unwrap_or(Decimal::from(1000))),
            "1000"
        );
    }

    /// The hand-written formatter gives rust_decimal's text for every mantissa and scale.
    #[test]
    fn plain_matches_normalize() {
        fn reference(d: Decimal) -> String {
            let n = d.normalize();
            if n.is_zero() {
                "0".to_string()
            } else {
                n.to_string()
            }
        }
        let mut buf = PlainBuf::new();
        let mut check = |d: Decimal| assert_eq!(buf.format(d), reference(d), "{d:?}");
        for scale in 0..=28 {
            for m in [
                0i128,
                1,
                -1,
                7,
                10,
                -100,
                123_456_789,
                1_000_000_000_000,
                u64::MAX as i128,
                u64::MAX as i128 + 1,
                -(u64::MAX as i128) - 7,
                79_228_162_514_264_337_593_543_950_335,
                -79_228_162_514_264_337_593_543_950_335,
                12_345_678_901_234_567_890_000,
            ] {
                check(Decimal::from_i128_with_scale(m, scale));
            }
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let m = (x >> (x % 64)) as i128 * if x & 1 == 0 { 1 } else { -1 };
            check(Decimal::from_i128_with_scale(m, (x % 29) as u32));
        }
        check(Decimal::from_str("-0.000").unwrap());
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
