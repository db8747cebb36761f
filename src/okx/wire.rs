//! OKX wire types: the JSON shapes OKX sends, decoded by field name.
//!
//! Rules from ../shared/okx-samples/README.md §4: every number arrives as a string and is
//! parsed to `Decimal`; `""` means absent (`None`), `"0"` does not; ids stay strings (19
//! digits exceed f64); unknown fields are ignored (OKX adds fields over time); a few fields
//! are real JSON booleans or arrays. Times are Unix milliseconds as strings.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

/// `{code, msg, data}`; `code` is a string such as `"0"`, `"50011"` or `"51008_1000"`.
#[derive(Debug, Deserialize)]
pub struct Envelope<T> {
    pub code: String,
    #[serde(default)]
    pub msg: String,
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
}

/// Deserialize helpers for OKX's string-encoded values.
pub mod de {
    use super::*;

    /// Calls `f` with a field's text: a string (`""` becomes `None`) or a JSON scalar written
    /// as text, so a field that OKX one day sends unquoted still decodes. No allocation for
    /// the common case of a string.
    fn with_text<'de, D, T, F>(d: D, f: F) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        F: FnOnce(Option<&str>) -> Result<T, String>,
    {
        struct Text<F>(F);
        impl<'de, T, F: FnOnce(Option<&str>) -> Result<T, String>> serde::de::Visitor<'de> for Text<F> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
                (self.0)((!v.is_empty()).then_some(v)).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<T, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
                (self.0)(None).map_err(E::custom)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<T, E> {
                (self.0)(None).map_err(E::custom)
            }
        }
        d.deserialize_any(Text(f))
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        with_text(d, |s| Ok(s.map(str::to_owned)))
    }

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        with_text(d, |s| {
            s.map(str::to_owned)
                .ok_or_else(|| "expected a non-empty string".to_string())
        })
    }

    pub fn parse_decimal(s: &str) -> Option<Decimal> {
        simple_decimal(s).or_else(|| {
            Decimal::from_str_exact(s)
                .or_else(|_| Decimal::from_scientific(s))
                .ok()
        })
    }

    /// The common shape `-?digits(.digits)?` with at most 19 digits and a non-zero value,
    /// without rust_decimal's general parser. Gives the same mantissa and scale as
    /// `Decimal::from_str_exact` (the `simple_decimals_parse_exactly` test); anything else
    /// (zero, which may carry a sign, exponents, long numbers) returns `None`.
    fn simple_decimal(s: &str) -> Option<Decimal> {
        let (negative, digits) = match s.as_bytes() {
            [b'-', rest @ ..] => (true, rest),
            rest => (false, rest),
        };
        let (int, frac) = match digits.iter().position(|&c| c == b'.') {
            Some(i) => (&digits[..i], &digits[i + 1..]),
            None => (digits, &[][..]),
        };
        if int.is_empty() || int.len() + frac.len() > 19 || (frac.is_empty() && int.len() < digits.len()) {
            return None;
        }
        let mut m: u64 = 0;
        for &c in int.iter().chain(frac) {
            if !c.is_ascii_digit() {
                return None;
            }
            m = m * 10 + u64::from(c - b'0');
        }
        if m == 0 {
            return None;
        }
        Some(Decimal::from_parts(
            m as u32,
            (m >> 32) as u32,
            0,
            negative,
            frac.len() as u32,
        ))
    }

    pub fn opt_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        with_text(d, |s| match s {
            None => Ok(None),
            Some(s) => parse_decimal(s)
                .map(Some)
                .ok_or_else(|| format!("`{s}` is not a decimal number")),
        })
    }

    pub fn decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        opt_decimal(d)?.ok_or_else(|| serde::de::Error::custom("expected a decimal number, found \"\""))
    }

    pub fn parse_ms(s: &str) -> Option<DateTime<Utc>> {
        s.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis)
    }

    pub fn opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        with_text(d, |s| match s {
            None => Ok(None),
            Some(s) => parse_ms(s)
                .map(Some)
                .ok_or_else(|| format!("`{s}` is not a millisecond timestamp")),
        })
    }

    pub fn ms<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        opt_ms(d)?.ok_or_else(|| serde::de::Error::custom("expected a millisecond timestamp, found \"\""))
    }
}

macro_rules! wire {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty = $json:literal $(via $with:literal)? $(opt $owith:literal)?,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        pub struct $name {
            $($(#[$fm])* #[serde(rename = $json $(, deserialize_with = $with)? $(, default, deserialize_with = $owith)?)] pub $field: $ty,)*
        }
    };
}

wire! {
    /// `GET /api/v5/public/time`.
    pub struct ServerTime { ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms", }
}

wire! {
    /// `GET /api/v5/account/config` (one element). `perm` is a comma list of
    /// `read_only`, `trade`, `withdraw`.
    pub struct AccountConfig {
        uid: Option<String> = "uid" opt "de::opt_string",
        main_uid: Option<String> = "mainUid" opt "de::opt_string",
        acct_lv: Option<String> = "acctLv" opt "de::opt_string",
        perm: Option<String> = "perm" opt "de::opt_string",
        ip: Option<String> = "ip" opt "de::opt_string",
        label: Option<String> = "label" opt "de::opt_string",
        account_type: Option<String> = "type" opt "de::opt_string",
        pos_mode: Option<String> = "posMode" opt "de::opt_string",
        level: Option<String> = "level" opt "de::opt_string",
    }
}

wire! {
    /// A fill from `trade/fills` or `trade/fills-history`. `fee` < 0 is charged, > 0 a rebate.
    /// `tradeId` is negative for liquidation and ADL fills.
    pub struct Fill {
        inst_type: String = "instType" via "de::string",
        inst_id: String = "instId" via "de::string",
        trade_id: String = "tradeId" via "de::string",
        ord_id: Option<String> = "ordId" opt "de::opt_string",
        cl_ord_id: Option<String> = "clOrdId" opt "de::opt_string",
        bill_id: String = "billId" via "de::string",
        sub_type: Option<String> = "subType" opt "de::opt_string",
        tag: Option<String> = "tag" opt "de::opt_string",
        fill_px: Option<Decimal> = "fillPx" opt "de::opt_decimal",
        fill_sz: Option<Decimal> = "fillSz" opt "de::opt_decimal",
        fill_pnl: Option<Decimal> = "fillPnl" opt "de::opt_decimal",
        side: Option<String> = "side" opt "de::opt_string",
        pos_side: Option<String> = "posSide" opt "de::opt_string",
        exec_type: Option<String> = "execType" opt "de::opt_string",
        fee_ccy: Option<String> = "feeCcy" opt "de::opt_string",
        fee: Option<Decimal> = "fee" opt "de::opt_decimal",
        fee_rate: Option<Decimal> = "feeRate" opt "de::opt_decimal",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
        fill_time: Option<DateTime<Utc>> = "fillTime" opt "de::opt_ms",
        trade_quote_ccy: Option<String> = "tradeQuoteCcy" opt "de::opt_string",
    }
}

wire! {
    /// A trading-account bill (`account/bills`, `bills-archive`, archive CSV rows).
    /// `balChg` is signed; `bal` is the balance after it; `sz` is unsigned.
    pub struct Bill {
        bill_id: String = "billId" via "de::string",
        bill_type: Option<String> = "type" opt "de::opt_string",
        sub_type: Option<String> = "subType" opt "de::opt_string",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
        ccy: String = "ccy" via "de::string",
        bal_chg: Decimal = "balChg" via "de::decimal",
        bal: Option<Decimal> = "bal" opt "de::opt_decimal",
        pos_bal_chg: Option<Decimal> = "posBalChg" opt "de::opt_decimal",
        pos_bal: Option<Decimal> = "posBal" opt "de::opt_decimal",
        sz: Option<Decimal> = "sz" opt "de::opt_decimal",
        px: Option<Decimal> = "px" opt "de::opt_decimal",
        pnl: Option<Decimal> = "pnl" opt "de::opt_decimal",
        fee: Option<Decimal> = "fee" opt "de::opt_decimal",
        interest: Option<Decimal> = "interest" opt "de::opt_decimal",
        mgn_mode: Option<String> = "mgnMode" opt "de::opt_string",
        inst_type: Option<String> = "instType" opt "de::opt_string",
        inst_id: Option<String> = "instId" opt "de::opt_string",
        ord_id: Option<String> = "ordId" opt "de::opt_string",
        exec_type: Option<String> = "execType" opt "de::opt_string",
        from: Option<String> = "from" opt "de::opt_string",
        to: Option<String> = "to" opt "de::opt_string",
        notes: Option<String> = "notes" opt "de::opt_string",
        fill_time: Option<DateTime<Utc>> = "fillTime" opt "de::opt_ms",
        trade_id: Option<String> = "tradeId" opt "de::opt_string",
        cl_ord_id: Option<String> = "clOrdId" opt "de::opt_string",
        tag: Option<String> = "tag" opt "de::opt_string",
        earn_amt: Option<Decimal> = "earnAmt" opt "de::opt_decimal",
    }
}

wire! {
    /// A funding-account bill (`asset/bills`, `asset/bills-history`).
    pub struct FundingBill {
        bill_id: String = "billId" via "de::string",
        ccy: String = "ccy" via "de::string",
        client_id: Option<String> = "clientId" opt "de::opt_string",
        bal_chg: Decimal = "balChg" via "de::decimal",
        bal: Option<Decimal> = "bal" opt "de::opt_decimal",
        bill_type: Option<String> = "type" opt "de::opt_string",
        notes: Option<String> = "notes" opt "de::opt_string",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
    }
}

wire! {
    /// `asset/deposit-history`. `state` `2` is final; everything else is not booked.
    pub struct Deposit {
        dep_id: String = "depId" via "de::string",
        ccy: String = "ccy" via "de::string",
        chain: Option<String> = "chain" opt "de::opt_string",
        amt: Decimal = "amt" via "de::decimal",
        from: Option<String> = "from" opt "de::opt_string",
        to: Option<String> = "to" opt "de::opt_string",
        tx_id: Option<String> = "txId" opt "de::opt_string",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
        state: Option<String> = "state" opt "de::opt_string",
        from_wd_id: Option<String> = "fromWdId" opt "de::opt_string",
        deposit_type: Option<String> = "type" opt "de::opt_string",
    }
}

wire! {
    /// `asset/withdrawal-history`. `state` `2` is final success; `-1` failed, `-2` canceled.
    pub struct Withdrawal {
        wd_id: String = "wdId" via "de::string",
        ccy: String = "ccy" via "de::string",
        chain: Option<String> = "chain" opt "de::opt_string",
        amt: Decimal = "amt" via "de::decimal",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
        from: Option<String> = "from" opt "de::opt_string",
        to: Option<String> = "to" opt "de::opt_string",
        tx_id: Option<String> = "txId" opt "de::opt_string",
        fee: Option<Decimal> = "fee" opt "de::opt_decimal",
        fee_ccy: Option<String> = "feeCcy" opt "de::opt_string",
        state: Option<String> = "state" opt "de::opt_string",
        client_id: Option<String> = "clientId" opt "de::opt_string",
        withdrawal_type: Option<String> = "type" opt "de::opt_string",
    }
}

wire! {
    /// `asset/convert/history`. `side` is relative to `baseCcy`; no fee (spread is embedded).
    pub struct Convert {
        trade_id: String = "tradeId" via "de::string",
        cl_t_req_id: Option<String> = "clTReqId" opt "de::opt_string",
        state: Option<String> = "state" opt "de::opt_string",
        inst_id: Option<String> = "instId" opt "de::opt_string",
        base_ccy: Option<String> = "baseCcy" opt "de::opt_string",
        quote_ccy: Option<String> = "quoteCcy" opt "de::opt_string",
        side: Option<String> = "side" opt "de::opt_string",
        fill_px: Option<Decimal> = "fillPx" opt "de::opt_decimal",
        fill_base_sz: Option<Decimal> = "fillBaseSz" opt "de::opt_decimal",
        fill_quote_sz: Option<Decimal> = "fillQuoteSz" opt "de::opt_decimal",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
    }
}

wire! {
    /// One currency of `account/balance` `details[]`.
    pub struct TradingBalanceDetail {
        ccy: String = "ccy" via "de::string",
        eq: Option<Decimal> = "eq" opt "de::opt_decimal",
        cash_bal: Option<Decimal> = "cashBal" opt "de::opt_decimal",
        avail_bal: Option<Decimal> = "availBal" opt "de::opt_decimal",
        frozen_bal: Option<Decimal> = "frozenBal" opt "de::opt_decimal",
        u_time: Option<DateTime<Utc>> = "uTime" opt "de::opt_ms",
    }
}

wire! {
    /// `account/balance` (one element).
    pub struct TradingBalance {
        total_eq: Option<Decimal> = "totalEq" opt "de::opt_decimal",
        u_time: Option<DateTime<Utc>> = "uTime" opt "de::opt_ms",
        #[serde(default)]
        details: Vec<TradingBalanceDetail> = "details",
    }
}

wire! {
    /// `asset/balances` (funding account), one element per currency.
    pub struct FundingBalance {
        ccy: String = "ccy" via "de::string",
        bal: Option<Decimal> = "bal" opt "de::opt_decimal",
        frozen_bal: Option<Decimal> = "frozenBal" opt "de::opt_decimal",
        avail_bal: Option<Decimal> = "availBal" opt "de::opt_decimal",
    }
}

wire! {
    /// `finance/savings/balance` (simple earn), one element per currency.
    pub struct SavingsBalance {
        ccy: String = "ccy" via "de::string",
        amt: Option<Decimal> = "amt" opt "de::opt_decimal",
        earnings: Option<Decimal> = "earnings" opt "de::opt_decimal",
        loan_amt: Option<Decimal> = "loanAmt" opt "de::opt_decimal",
        pending_amt: Option<Decimal> = "pendingAmt" opt "de::opt_decimal",
    }
}

wire! {
    /// `public/instruments`.
    pub struct Instrument {
        inst_type: String = "instType" via "de::string",
        inst_id: String = "instId" via "de::string",
        base_ccy: Option<String> = "baseCcy" opt "de::opt_string",
        quote_ccy: Option<String> = "quoteCcy" opt "de::opt_string",
        settle_ccy: Option<String> = "settleCcy" opt "de::opt_string",
        ct_val: Option<Decimal> = "ctVal" opt "de::opt_decimal",
        ct_mult: Option<Decimal> = "ctMult" opt "de::opt_decimal",
        ct_val_ccy: Option<String> = "ctValCcy" opt "de::opt_string",
        ct_type: Option<String> = "ctType" opt "de::opt_string",
        state: Option<String> = "state" opt "de::opt_string",
        exp_time: Option<DateTime<Utc>> = "expTime" opt "de::opt_ms",
    }
}

wire! {
    /// POST `account/bills-history-archive`: `result` `"true"` = file exists, go poll.
    pub struct ArchiveApply {
        result: Option<String> = "result" opt "de::opt_string",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
    }
}

wire! {
    /// GET `account/bills-history-archive`: `state` `finished` / `ongoing` / `failed`.
    pub struct ArchivePoll {
        file_href: Option<String> = "fileHref" opt "de::opt_string",
        state: Option<String> = "state" opt "de::opt_string",
        ts: Option<DateTime<Utc>> = "ts" opt "de::opt_ms",
    }
}

impl AccountConfig {
    /// The permission tokens of the key, e.g. `{read_only}`.
    pub fn permissions(&self) -> Vec<String> {
        self.perm
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// Read-only iff the permission set is exactly `{read_only}` (unknown tokens are not).
    pub fn is_read_only(&self) -> bool {
        let perms = self.permissions();
        !perms.is_empty() && perms.iter().all(|p| p == "read_only")
    }
}

/// A fast decoder for the flat shape OKX uses for ledger rows: one JSON object whose keys
/// and values are all strings without escapes. It either gives exactly what [`decode`] would
/// give, or `None` (then [`decode`] decides), so it can never change a result, only its cost
/// (the `flat_decoding_equals_serde` test).
pub trait FlatDecode: Sized {
    fn decode_flat(json: &str) -> Option<Self>;
}

/// [`decode`] through [`FlatDecode`] when the JSON has the flat shape.
pub fn decode_fast<T: FlatDecode + serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    match T::decode_flat(json) {
        Some(v) => Ok(v),
        None => decode(json),
    }
}

/// Helpers of [`FlatDecode`]; each returns `None` where serde would fail (or might).
mod flat {
    use super::*;

    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            i += 1;
        }
        i
    }

    /// The string starting at `b[i]` (a `"`) without escapes or control characters:
    /// (content start, content end).
    #[inline]
    fn string(b: &[u8], i: usize) -> Option<(usize, usize)> {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let start = i + 1;
        let end = start + special(&b[start..])?;
        (b[end] == b'"').then_some((start, end))
    }

    /// Index of the first `"`, `\\` or control character of `b`, eight bytes at a time.
    #[inline]
    fn special(b: &[u8]) -> Option<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // High bit of the lowest flagged byte is exact; higher flags may be spurious.
        fn eq(x: u64, c: u8) -> u64 {
            let y = x ^ (ONES * u64::from(c));
            y.wrapping_sub(ONES) & !y & HIGH
        }
        let mut at = 0;
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
            let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
            let hits = eq(x, b'"') | eq(x, b'\\') | below_space;
            if hits != 0 {
                return Some(at + hits.trailing_zeros() as usize / 8);
            }
            at += 8;
        }
        let rest = chunks.remainder();
        rest.iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .map(|p| at + p)
    }

    /// Fills `slots[index(key)]` with the value of each member of the flat object `json`.
    /// `None` for anything else: other JSON shapes, a known key twice (serde rejects
    /// duplicate fields), trailing text.
    pub fn members<const N: usize>(
        json: &str,
        index: impl Fn(&str) -> Option<usize>,
    ) -> Option<[Option<&str>; N]> {
        let b = json.as_bytes();
        let mut slots = [None; N];
        let mut i = skip_ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if b.get(i) != Some(&b'}') {
            loop {
                let (ks, ke) = string(b, i)?;
                i = skip_ws(b, ke + 1);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                let (vs, ve) = string(b, skip_ws(b, i + 1))?;
                if let Some(slot) = index(&json[ks..ke]) {
                    if slots[slot].is_some() {
                        return None;
                    }
                    slots[slot] = Some(&json[vs..ve]);
                }
                i = skip_ws(b, ve + 1);
                match b.get(i) {
                    Some(b',') => i = skip_ws(b, i + 1),
                    Some(b'}') => break,
                    _ => return None,
                }
            }
        }
        (skip_ws(b, i + 1) == b.len()).then_some(slots)
    }

    fn text(v: Option<&str>) -> Option<&str> {
        v.filter(|v| !v.is_empty())
    }

    /// [`de::opt_string`].
    pub fn opt_string(v: Option<&str>) -> Option<String> {
        text(v).map(str::to_owned)
    }

    /// [`de::string`] (`None`: missing or empty, an error).
    pub fn string_req(v: Option<&str>) -> Option<String> {
        text(v).map(str::to_owned)
    }

    /// [`de::opt_decimal`] (outer `None`: not a number, an error).
    pub fn opt_decimal(v: Option<&str>) -> Option<Option<Decimal>> {
        match text(v) {
            None => Some(None),
            Some(s) => de::parse_decimal(s).map(Some),
        }
    }

    /// [`de::decimal`].
    pub fn decimal(v: Option<&str>) -> Option<Decimal> {
        de::parse_decimal(text(v)?)
    }

    /// [`de::opt_ms`] (outer `None`: not a timestamp, an error).
    pub fn opt_ms(v: Option<&str>) -> Option<Option<DateTime<Utc>>> {
        match text(v) {
            None => Some(None),
            Some(s) => de::parse_ms(s).map(Some),
        }
    }
}

impl FlatDecode for Bill {
    fn decode_flat(json: &str) -> Option<Bill> {
        let f: [Option<&str>; 27] = flat::members(json, |k| {
            Some(match k {
                "billId" => 0,
                "type" => 1,
                "subType" => 2,
                "ts" => 3,
                "ccy" => 4,
                "balChg" => 5,
                "bal" => 6,
                "posBalChg" => 7,
                "posBal" => 8,
                "sz" => 9,
                "px" => 10,
                "pnl" => 11,
                "fee" => 12,
                "interest" => 13,
                "mgnMode" => 14,
                "instType" => 15,
                "instId" => 16,
                "ordId" => 17,
                "execType" => 18,
                "from" => 19,
                "to" => 20,
                "notes" => 21,
                "fillTime" => 22,
                "tradeId" => 23,
                "clOrdId" => 24,
                "tag" => 25,
                "earnAmt" => 26,
                _ => return None,
            })
        })?;
        Some(Bill {
            bill_id: flat::string_req(f[0])?,
            bill_type: flat::opt_string(f[1]),
            sub_type: flat::opt_string(f[2]),
            ts: flat::opt_ms(f[3])?,
            ccy: flat::string_req(f[4])?,
            bal_chg: flat::decimal(f[5])?,
            bal: flat::opt_decimal(f[6])?,
            pos_bal_chg: flat::opt_decimal(f[7])?,
            pos_bal: flat::opt_decimal(f[8])?,
            sz: flat::opt_decimal(f[9])?,
            px: flat::opt_decimal(f[10])?,
            pnl: flat::opt_decimal(f[11])?,
            fee: flat::opt_decimal(f[12])?,
            interest: flat::opt_decimal(f[13])?,
            mgn_mode: flat::opt_string(f[14]),
            inst_type: flat::opt_string(f[15]),
            inst_id: flat::opt_string(f[16]),
            ord_id: flat::opt_string(f[17]),
            exec_type: flat::opt_string(f[18]),
            from: flat::opt_string(f[19]),
            to: flat::opt_string(f[20]),
            notes: flat::opt_string(f[21]),
            fill_time: flat::opt_ms(f[22])?,
            trade_id: flat::opt_string(f[23]),
            cl_ord_id: flat::opt_string(f[24]),
            tag: flat::opt_string(f[25]),
            earn_amt: flat::opt_decimal(f[26])?,
        })
    }
}

impl FlatDecode for FundingBill {
    fn decode_flat(json: &str) -> Option<FundingBill> {
        let f: [Option<&str>; 8] = flat::members(json, |k| {
            Some(match k {
                "billId" => 0,
                "ccy" => 1,
                "clientId" => 2,
                "balChg" => 3,
                "bal" => 4,
                "type" => 5,
                "notes" => 6,
                "ts" => 7,
                _ => return None,
            })
        })?;
        Some(FundingBill {
            bill_id: flat::string_req(f[0])?,
            ccy: flat::string_req(f[1])?,
            client_id: flat::opt_string(f[2]),
            bal_chg: flat::decimal(f[3])?,
            bal: flat::opt_decimal(f[4])?,
            bill_type: flat::opt_string(f[5]),
            notes: flat::opt_string(f[6]),
            ts: flat::opt_ms(f[7])?,
        })
    }
}

/// Decodes one JSON value into `T`, reporting the JSON path on failure.
pub fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, String> {
    // Fast path first; only a failure pays for path tracking, to name where it failed.
    serde_json::from_str(json).or_else(|_| {
        let de = &mut serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(de).map_err(|e| format!("at `{}`: {}", e.path(), e.inner()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// Every captured response in ../shared/okx-samples must decode with our types. The
    /// files are copied into fixtures/okx-samples so the test does not depend on a sibling
    /// directory.
    fn sample(name: &str) -> Vec<serde_json::Value> {
        let path = format!("{}/fixtures/okx-samples/{name}.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        list.into_iter().map(|s| s["response"].clone()).collect()
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn fills_sample() {
        for r in sample("fetchMyTrades") {
            let env: Envelope<Fill> = decode(&r.to_string()).unwrap();
            let f = &env.data[0];
            assert_eq!(env.code, "0");
            assert_eq!(f.fee, Some(d("-0.0001")));
            assert_eq!(f.fee_ccy.as_deref(), Some("LTC"));
            assert_eq!(f.fee_rate, Some(d("-0.001")));
            assert_eq!(f.fill_sz.unwrap() * f.fill_px.unwrap(), d("6.784"));
            assert_eq!(f.sub_type, None);
            assert_eq!(f.trade_id, "56181695");
        }
    }

    #[test]
    fn bill_samples() {
        let env: Envelope<Bill> = decode(&sample("fetchLedger")[0].to_string()).unwrap();
        let b = &env.data[0];
        assert_eq!(b.bal_chg, d("-10.158"));
        assert_eq!(b.sz, Some(d("10.158")));
        assert_eq!(b.fee, Some(Decimal::ZERO));
        assert_eq!(
            (b.bill_type.as_deref(), b.sub_type.as_deref()),
            (Some("2"), Some("2"))
        );
        assert_eq!(b.bal, Some(d("67533.7456994514348308")));

        let env: Envelope<Bill> = decode(&sample("fetchTransfers")[0].to_string()).unwrap();
        let t = &env.data[0];
        assert_eq!(
            (t.bill_type.as_deref(), t.sub_type.as_deref()),
            (Some("1"), Some("11"))
        );
        assert_eq!((t.from.as_deref(), t.to.as_deref()), (Some("6"), Some("18")));
        assert_eq!(t.bal_chg, d("1"));
        assert_eq!(t.fee, None, "\"\" is absent");
        assert_eq!(t.trade_id.as_deref(), Some("0"), "\"0\" is not absent");
        assert_eq!(t.interest, Some(Decimal::ZERO));
    }

    #[test]
    fn config_sample_is_not_read_only() {
        let env: Envelope<AccountConfig> = decode(&sample("fetchAccounts")[0].to_string()).unwrap();
        let c = &env.data[0];
        assert_eq!(c.permissions(), ["read_only", "withdraw", "trade"]);
        assert!(!c.is_read_only());
        assert_eq!(c.uid, c.main_uid);
        let ro: AccountConfig = decode(r#"{"perm":"read_only","uid":"1"}"#).unwrap();
        assert!(ro.is_read_only());
        let odd: AccountConfig = decode(r#"{"perm":"read_only,superpower"}"#).unwrap();
        assert!(!odd.is_read_only());
    }

    #[test]
    fn balance_and_time_samples() {
        for r in sample("fetchBalance") {
            let text = r.to_string();
            if text.contains("details") {
                let env: Envelope<TradingBalance> = decode(&text).unwrap();
                let btc = env.data[0].details.iter().find(|x| x.ccy == "BTC").unwrap();
                assert_eq!(btc.cash_bal, Some(d("1.06126645222")));
                assert_eq!(btc.frozen_bal, Some(d("0.4")));
            } else {
                let env: Envelope<FundingBalance> = decode(&text).unwrap();
                assert!(env.data.iter().all(|b| b.bal.is_some()));
            }
        }
        let env: Envelope<ServerTime> = decode(&sample("fetchTime")[0].to_string()).unwrap();
        assert_eq!(env.data[0].ts.unwrap().timestamp_millis(), 1_712_250_348_676);
    }

    #[test]
    fn other_samples_decode_as_envelopes() {
        for name in ["fetchClosedOrders", "fetchOrder", "fetchPositionsHistory"] {
            for r in sample(name) {
                let env: Envelope<serde_json::Value> = decode(&r.to_string()).unwrap();
                assert_eq!(env.code, "0", "{name}");
            }
        }
    }

    /// The fast path of `parse_decimal` gives exactly rust_decimal's value, mantissa and
    /// scale, and declines what it does not handle.
    #[test]
    fn simple_decimals_parse_exactly() {
        let slow = |s: &str| {
            Decimal::from_str_exact(s)
                .or_else(|_| Decimal::from_scientific(s))
                .ok()
        };
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "0.000",
            "-0.0",
            "1",
            "-1",
            "1.50",
            "-10.1580000000000000",
            "00012",
            "0.0001",
            "60000",
            "1.",
            ".5",
            "-.5",
            "1.2.3",
            "1e3",
            "1E-2",
            "+1",
            "-",
            "",
            ".",
            "1_000",
            " 1",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "0.0000000000000000001",
            "123456789012345678.9",
            "1234567890123456789.0",
            "67533.7456994514348308",
            "-0.0000001",
            "٣",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x >> (x % 64)).to_string();
            let point = (x % 23) as usize;
            let mut s = if point < digits.len() {
                format!(
                    "{}.{}",
                    &digits[..digits.len() - point],
                    &digits[digits.len() - point..]
                )
            } else {
                digits
            };
            if x & 1 == 1 {
                s.insert(0, '-');
            }
            cases.push(s);
        }
        for s in &cases {
            let (fast, want) = (de::parse_decimal(s), slow(s));
            assert_eq!(fast.map(|d| d.serialize()), want.map(|d| d.serialize()), "`{s}`");
        }
    }

    /// Variants of a flat JSON object: every member dropped, emptied, given odd text or a
    /// non-string value, duplicated; escapes, whitespace, broken syntax.
    fn variants(members: &[(String, String)]) -> Vec<String> {
        let obj = |m: &[(String, String)]| {
            let body: Vec<String> = m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        };
        let q = |v: &str| format!("\"{v}\"");
        let mut out = vec![obj(members)];
        let values = [
            q(""),
            q("abc"),
            q("1.5"),
            q("-0"),
            q("1e3"),
            q("12345678901234567890123"),
            q("1712410901851"),
            q("-1"),
            q("99999999999999999999"),
            q("a\\\"b"),
            q("\\u0041"),
            q("tab\there"),
            "5".into(),
            "-2.5".into(),
            "null".into(),
            "true".into(),
            "{\"x\":\"y\"}".into(),
            "[\"a\"]".into(),
        ];
        for i in 0..members.len() {
            let mut m = members.to_vec();
            m.remove(i);
            out.push(obj(&m));
            for v in &values {
                let mut m = members.to_vec();
                m[i].1 = v.clone();
                out.push(obj(&m));
            }
            let mut m = members.to_vec();
            m.push(members[i].clone());
            out.push(obj(&m));
            let mut m = members.to_vec();
            m.push((members[i].0.clone(), q("7")));
            out.push(obj(&m));
            let mut m = members.to_vec();
            m[i].0 = format!("{}x", m[i].0);
            out.push(obj(&m));
        }
        let base = obj(members);
        let mut extra = members.to_vec();
        extra.push(("unknownField".into(), "{\"a\":[1,2]}".into()));
        extra.insert(0, ("alsoUnknown".into(), q("x")));
        out.push(obj(&extra));
        out.push(format!(
            " \n{}\t ",
            base.replace(":", " : ").replace(",", " ,\r\n ")
        ));
        out.push(base.replacen("\"billId\"", "\"bill\\u0049d\"", 1));
        out.push(format!("{base}x"));
        out.push(format!("{base}}}"));
        out.push(base.replacen("}", ",}", 1));
        out.push(base.replacen(":", "", 1));
        out.push(base.replacen(",", "", 1));
        out.push(format!("[{base}]"));
        out.push("{}".into());
        out.push(String::new());
        out.push("[\"1\",\"BTC\"]".into());
        out
    }

    fn members_of(v: &serde_json::Value) -> Vec<(String, String)> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect()
    }

    fn check_flat<T>(json: &str) -> bool
    where
        T: FlatDecode + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let slow = decode::<T>(json);
        match T::decode_flat(json) {
            Some(fast) => {
                assert_eq!(Ok(&fast), slow.as_ref(), "{json}");
                true
            }
            None => false,
        }
    }

    /// [`FlatDecode`] gives serde's result whenever it gives one, and declines whenever serde
    /// fails.
    #[test]
    fn flat_decoding_equals_serde() {
        let mut bills: Vec<serde_json::Value> = Vec::new();
        for name in ["fetchLedger", "fetchTransfers"] {
            for r in sample(name) {
                bills.extend(r["data"].as_array().unwrap().iter().cloned());
            }
        }
        bills.push(serde_json::from_str(r#"{"billId":"1000000000000000002","type":"2","subType":"1","ts":"1735689600000","ccy":"USDT","balChg":"-6","bal":"999999994","sz":"6","fee":"0","pnl":"","instType":"SPOT","instId":"BTC-USDT","ordId":"500000000000000001","tradeId":"500000000000000001","px":"60000","from":"","to":"","notes":"","mgnMode":"cash","interest":"0","posBal":"","posBalChg":"","earnAmt":"0.5","execType":"M","clOrdId":"c","tag":"t","fillTime":"1735689600001"}"#).unwrap());
        let funding: serde_json::Value = serde_json::from_str(
            r#"{"billId":"12344","ccy":"USDT","clientId":"","balChg":"1.50","bal":"100","type":"83","notes":"n","ts":"1735689600000"}"#,
        )
        .unwrap();
        let (mut fast, mut total) = (0, 0);
        for bill in &bills {
            assert!(
                check_flat::<Bill>(&bill.to_string()),
                "the plain shape takes the fast path"
            );
            for json in variants(&members_of(bill)) {
                fast += usize::from(check_flat::<Bill>(&json));
                total += 1;
                check_flat::<FundingBill>(&json);
            }
        }
        assert!(check_flat::<FundingBill>(&funding.to_string()));
        for json in variants(&members_of(&funding)) {
            check_flat::<FundingBill>(&json);
            check_flat::<Bill>(&json);
        }
        assert!(fast > total / 4, "{fast} of {total} variants took the fast path");
    }

    #[test]
    fn decode_errors_name_the_path() {
        let err =
            decode::<Envelope<Bill>>(r#"{"code":"0","data":[{"billId":"1","ccy":"BTC","balChg":"abc"}]}"#)
                .unwrap_err();
        assert!(err.contains("data[0].balChg"), "{err}");
        let env: Envelope<Bill> =
            decode(r#"{"code":"51008_1000","msg":"x","data":[],"inTime":"1","outTime":"2"}"#).unwrap();
        assert_eq!(env.code, "51008_1000");
    }
}
