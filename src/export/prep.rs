//! [`Prep`]: what every format needs about one row (legs, dates in each format's style,
//! descriptions, amount texts), worked out once per row instead of once per format.

use super::dialect::Texts;
use super::legs::{Leg, Skip, legs};
use crate::model::Transaction;
#[cfg(test)]
use crate::model::plain;
use crate::prices::RowValue;
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Utc};
#[cfg(test)]
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::sync::LazyLock;

/// An amount cell: plain decimal, no exponent, no trailing zeros, never negative.
#[cfg(test)]
pub(crate) fn amount(d: Decimal) -> String {
    debug_assert!(!d.is_sign_negative() || d.is_zero(), "negative amount {d}");
    plain(d.abs())
}

/// `<kind> [<instrument>] <id> [<counterparty>]`: the free-text description most formats
/// carry (the counterparty names the user's other OKX account of a transfer between them).
#[cfg(test)]
pub(crate) fn describe(tx: &Transaction) -> String {
    let mut s = String::new();
    describe_into(tx, &mut s);
    s
}

fn describe_into(tx: &Transaction, out: &mut String) {
    out.push_str(tx.kind.as_str());
    out.push(' ');
    if let Some(inst) = &tx.instrument {
        out.push_str(inst);
        out.push(' ');
    }
    out.push_str(&tx.id);
    if let Some(c) = &tx.counterparty {
        out.push(' ');
        out.push_str(c);
    }
}

/// What every format needs about one transaction, computed once per row instead of once
/// per format: the legs, the dates in each format's style, the descriptions.
pub(crate) struct Prep<'a> {
    pub tx: &'a Transaction,
    /// The row's fiat value and unit prices (read through the helpers in `values.rs`).
    pub value: &'a RowValue,
    legs: Result<Vec<Leg<'a>>, Skip>,
    pub date: &'a Dates,
    /// `<kind> [<instrument>] <id> [<counterparty>]`: the free-text description most
    /// formats carry.
    pub describe: &'a str,
    /// `describe` followed by ` tx <hash>` when the row has an on-chain hash, for formats
    /// without a hash column.
    pub describe_with_hash: &'a str,
    /// The text of the row's amounts (as written: absolute) and price, for [`Records::texts`].
    pub texts: Texts,
    /// The profile the row comes from (a group report's `profile` column; else empty).
    pub profile: &'a str,
}

impl Prep<'_> {
    /// The row's legs ([`legs`]), or why tax formats skip it.
    pub fn legs(&self) -> Result<&[Leg<'_>], Skip> {
        match &self.legs {
            Ok(l) => Ok(l),
            Err(s) => Err(*s),
        }
    }
}

/// Reused buffers behind [`Prep`].
#[derive(Default)]
pub(crate) struct Shared {
    date: Dates,
    describe: String,
    describe_with_hash: String,
    texts: Texts,
}

impl Shared {
    /// Takes over what `other` prepared (its row's dates, descriptions and amount texts),
    /// reusing this one's buffers, for [`Shared::prepared`] of the same row later.
    pub fn copy_from(&mut self, other: &Shared) {
        self.date.copy_from(&other.date);
        self.describe.clone_from(&other.describe);
        self.describe_with_hash.clone_from(&other.describe_with_hash);
        self.texts = other.texts;
    }

    /// The [`Prep`] of `tx`, which must be the row these buffers were last prepared for
    /// (by [`Shared::prepare`], or copied with [`Shared::copy_from`]): only its legs are
    /// worked out again (a row held back to be merged is written one row later).
    pub fn prepared<'a>(&'a self, tx: &'a Transaction, value: &'a RowValue, profile: &'a str) -> Prep<'a> {
        debug_assert_eq!(self.date.time, Some(tx.time), "buffers of another row");
        Prep {
            tx,
            value,
            legs: legs(tx),
            date: &self.date,
            describe: &self.describe,
            describe_with_hash: &self.describe_with_hash,
            texts: self.texts,
            profile,
        }
    }

    pub fn prepare<'a>(&'a mut self, tx: &'a Transaction, value: &'a RowValue, profile: &'a str) -> Prep<'a> {
        self.fill(tx);
        self.prepared(tx, value, profile)
    }

    /// Works out `tx`'s dates, descriptions and amount texts into these buffers.
    pub fn fill(&mut self, tx: &Transaction) {
        self.date.set(tx.time);
        self.describe.clear();
        describe_into(tx, &mut self.describe);
        self.describe_with_hash.clear();
        self.describe_with_hash.push_str(&self.describe);
        if let Some(h) = &tx.tx_hash {
            self.describe_with_hash.push_str(" tx ");
            self.describe_with_hash.push_str(h);
        }
        let mut texts = Texts::default();
        for a in [&tx.sent, &tx.received, &tx.fee].into_iter().flatten() {
            texts.add(a.amount.abs());
        }
        if let Some(price) = tx.price {
            texts.add(price);
        }
        self.texts = texts;
    }
}

/// A row time in every style the formats use (all UTC), formatted once per distinct time.
#[derive(Debug, Default)]
pub(crate) struct Dates {
    time: Option<DateTime<Utc>>,
    /// `2025-01-02T03:04:05.678Z` (RFC 3339, milliseconds).
    pub rfc3339_ms: String,
    /// `2025-01-02 03:04:05`.
    pub ymd_hms: String,
    /// `2025-01-02 03:04:05 UTC`.
    pub ymd_hms_utc: String,
    /// `01/02/2025 03:04:05`.
    pub mdy_hms: String,
    /// `2025-01-02 03:04:05.678+00:00`.
    pub ymd_hms_ms_offset: String,
    /// `.678`, a piece of the others.
    millis: String,
}

impl Dates {
    /// `other`'s texts, in this one's buffers.
    fn copy_from(&mut self, other: &Dates) {
        self.time = other.time;
        self.rfc3339_ms.clone_from(&other.rfc3339_ms);
        self.ymd_hms.clone_from(&other.ymd_hms);
        self.ymd_hms_utc.clone_from(&other.ymd_hms_utc);
        self.mdy_hms.clone_from(&other.mdy_hms);
        self.ymd_hms_ms_offset.clone_from(&other.ymd_hms_ms_offset);
        self.millis.clone_from(&other.millis);
    }

    pub fn set(&mut self, t: DateTime<Utc>) {
        if self.time == Some(t) {
            return;
        }
        self.time = Some(t);
        // The pieces are written once; the five styles are those pieces in other orders
        // (a profile showed five full patterns per row as the largest single cost, then
        // chrono's formatting machinery itself: the digits are written directly).
        if !self.set_digits(t) {
            self.set_chrono(t);
        }
        self.assemble();
    }

    /// `ymd_hms`, `millis` and the date of `mdy_hms` from the calendar fields, for the
    /// four-digit years of every real record; `false` for any other (then chrono writes).
    fn set_digits(&mut self, t: DateTime<Utc>) -> bool {
        use chrono::{Datelike, Timelike};
        let (year, nanos) = (t.year(), t.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return false;
        }
        let digits = |out: &mut String, v: u32, width: u32| {
            for i in (0..width).rev() {
                out.push(char::from(b'0' + (v / 10u32.pow(i) % 10) as u8));
            }
        };
        let (y, mo, d) = (year as u32, t.month(), t.day());
        let base = &mut self.ymd_hms;
        base.clear();
        digits(base, y, 4);
        base.push('-');
        digits(base, mo, 2);
        base.push('-');
        digits(base, d, 2);
        base.push(' ');
        digits(base, t.hour(), 2);
        base.push(':');
        digits(base, t.minute(), 2);
        base.push(':');
        digits(base, t.second(), 2);
        self.millis.clear();
        self.millis.push('.');
        digits(&mut self.millis, nanos / 1_000_000, 3);
        self.mdy_hms.clear();
        digits(&mut self.mdy_hms, mo, 2);
        self.mdy_hms.push('/');
        digits(&mut self.mdy_hms, d, 2);
        self.mdy_hms.push('/');
        digits(&mut self.mdy_hms, y, 4);
        true
    }

    /// [`Dates::set_digits`] by chrono's formatter, for any time.
    fn set_chrono(&mut self, t: DateTime<Utc>) {
        let pieces: &'static DatePieces = &DATE_PIECES;
        let piece = |items: &'static [Item<'static>]| t.format_with_items(items.iter());
        let write = |out: &mut String, items| {
            write!(out, "{}", piece(items)).expect("writing to a String");
        };
        // `ymd_hms` first; the other styles reuse its two halves.
        let base = &mut self.ymd_hms;
        base.clear();
        write(base, &pieces.ymd);
        base.push(' ');
        write(base, &pieces.hms);
        self.millis.clear();
        write(&mut self.millis, &pieces.millis);
        self.mdy_hms.clear();
        write(&mut self.mdy_hms, &pieces.mdy);
    }

    /// The styles from `ymd_hms` (`date time`), `millis` and the date of `mdy_hms`.
    fn assemble(&mut self) {
        let base = &self.ymd_hms;
        let date_len = base.find(' ').unwrap_or(base.len());
        let (date, time) = (&base[..date_len], base.get(date_len + 1..).unwrap_or_default());
        let millis = &self.millis;
        self.mdy_hms.push(' ');
        self.mdy_hms.push_str(time);
        for (out, parts) in [
            (&mut self.rfc3339_ms, [date, "T", time, millis, "Z"]),
            (&mut self.ymd_hms_utc, [base, " UTC", "", "", ""]),
            (&mut self.ymd_hms_ms_offset, [base, millis, "+00:00", "", ""]),
        ] {
            out.clear();
            for part in parts {
                out.push_str(part);
            }
        }
    }
}

/// The chrono format items of the pieces of every [`Dates`] style, parsed once.
struct DatePieces {
    /// `2025-01-02`.
    ymd: Vec<Item<'static>>,
    /// `03:04:05`.
    hms: Vec<Item<'static>>,
    /// `.678`.
    millis: Vec<Item<'static>>,
    /// `01/02/2025`.
    mdy: Vec<Item<'static>>,
}

static DATE_PIECES: LazyLock<DatePieces> = LazyLock::new(|| {
    let parse = |fmt: &'static str| {
        StrftimeItems::new(fmt)
            .parse_to_owned()
            .expect("a valid strftime pattern")
    };
    DatePieces {
        ymd: parse("%Y-%m-%d"),
        hms: parse("%H:%M:%S"),
        millis: parse("%.3f"),
        mdy: parse("%m/%d/%Y"),
    }
});
