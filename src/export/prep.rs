//! [`Prep`]: what every format needs about one row (legs, dates in each format's style,
//! descriptions, amount texts), worked out once per row instead of once per format.

use super::dialect::Texts;
use super::legs::{Leg, Skip, legs};
use crate::model::Transaction;
#[cfg(test)]
use crate::model::plain;
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

/// `<kind> [<instrument>] <id>`: the free-text description most formats carry.
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
}

/// What every format needs about one transaction, computed once per row instead of once
/// per format: the legs, the dates in each format's style, the descriptions.
pub(crate) struct Prep<'a> {
    pub tx: &'a Transaction,
    legs: Result<Vec<Leg<'a>>, Skip>,
    pub date: &'a Dates,
    /// `<kind> [<instrument>] <id>`: the free-text description most formats carry.
    pub describe: &'a str,
    /// `describe` followed by ` tx <hash>` when the row has an on-chain hash, for formats
    /// without a hash column.
    pub describe_with_hash: &'a str,
    /// The text of the row's amounts (as written: absolute) and price, for [`Records::texts`].
    pub texts: Texts,
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
}

impl Shared {
    pub fn prepare<'a>(&'a mut self, tx: &'a Transaction) -> Prep<'a> {
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
        Prep {
            tx,
            legs: legs(tx),
            date: &self.date,
            describe: &self.describe,
            describe_with_hash: &self.describe_with_hash,
            texts,
        }
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
}

impl Dates {
    pub fn set(&mut self, t: DateTime<Utc>) {
        if self.time == Some(t) {
            return;
        }
        self.time = Some(t);
        for s in [
            &mut self.rfc3339_ms,
            &mut self.ymd_hms,
            &mut self.ymd_hms_utc,
            &mut self.mdy_hms,
            &mut self.ymd_hms_ms_offset,
        ] {
            s.clear();
        }
        for (out, items) in [
            (&mut self.rfc3339_ms, &DATE_STYLES.rfc3339_ms),
            (&mut self.ymd_hms, &DATE_STYLES.ymd_hms),
            (&mut self.ymd_hms_utc, &DATE_STYLES.ymd_hms_utc),
            (&mut self.mdy_hms, &DATE_STYLES.mdy_hms),
            (&mut self.ymd_hms_ms_offset, &DATE_STYLES.ymd_hms_ms_offset),
        ] {
            write!(out, "{}", t.format_with_items(items.iter())).expect("writing to a String");
        }
    }
}

/// chrono format items of each [`Dates`] style, parsed once.
struct DateStyles {
    rfc3339_ms: Vec<Item<'static>>,
    ymd_hms: Vec<Item<'static>>,
    ymd_hms_utc: Vec<Item<'static>>,
    mdy_hms: Vec<Item<'static>>,
    ymd_hms_ms_offset: Vec<Item<'static>>,
}

static DATE_STYLES: LazyLock<DateStyles> = LazyLock::new(|| {
    let parse = |fmt: &'static str| {
        StrftimeItems::new(fmt)
            .parse_to_owned()
            .expect("a valid strftime pattern")
    };
    DateStyles {
        rfc3339_ms: parse("%Y-%m-%dT%H:%M:%S%.3fZ"),
        ymd_hms: parse("%Y-%m-%d %H:%M:%S"),
        ymd_hms_utc: parse("%Y-%m-%d %H:%M:%S UTC"),
        mdy_hms: parse("%m/%d/%Y %H:%M:%S"),
        ymd_hms_ms_offset: parse("%Y-%m-%d %H:%M:%S%.3f%:z"),
    }
});
