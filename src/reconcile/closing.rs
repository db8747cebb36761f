//! Holdings at a moment, from the ledgers' running balances: what a period report writes
//! as `closing_balances.csv` (issue 12). Each ledger row carries OKX's balance after it
//! (`bal`), so the holding of an asset at `at` is the `bal` of its last bill before `at`,
//! in billId order (the order in which `bal` runs).

use crate::store::{RecordKind, RecordRef, RecordSource};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One asset's holding in one account at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub account: &'static str,
    pub asset: String,
    pub balance: Decimal,
    /// When the bill that set it was booked.
    pub last_bill_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct BalOnly<'a> {
    #[serde(borrow)]
    ccy: &'a str,
    #[serde(borrow)]
    bal: &'a str,
}

/// The string value of `key` in a flat JSON object as OKX sends it (`"key":"value"`, no
/// space, no escape in the value), if it is written that way.
fn plain_field<'a>(raw: &'a str, key: &memchr::memmem::Finder<'_>) -> Option<&'a str> {
    let at = key.find(raw.as_bytes())? + key.needle().len();
    let rest = &raw[at..];
    let end = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
    (rest.as_bytes()[end] == b'"').then(|| &rest[..end])
}

/// `ccy` and `bal` of a bill: read straight from OKX's compact JSON when written that way
/// (a report reads every bill several times: this is most of the cost otherwise), else by
/// a JSON parse.
fn bal_only(raw: &str) -> serde_json::Result<BalOnly<'_>> {
    thread_local! {
        static KEYS: (memchr::memmem::Finder<'static>, memchr::memmem::Finder<'static>) =
            (memchr::memmem::Finder::new(br#""ccy":""#), memchr::memmem::Finder::new(br#""bal":""#));
    }
    let fast = KEYS.with(|(ccy, bal)| Some((plain_field(raw, ccy)?, plain_field(raw, bal)?)));
    match fast {
        Some((ccy, bal)) => Ok(BalOnly { ccy, bal }),
        None => serde_json::from_str(raw),
    }
}

/// A bill's asset and running balance (`account` names its ledger in errors).
fn ccy_bal<'r>(account: &str, r: &RecordRef<'r>) -> Result<(&'r str, Decimal)> {
    let b = bal_only(r.raw).with_context(|| format!("{account} bill `{}` has no ccy/bal", r.key))?;
    let bal = b
        .bal
        .parse()
        .with_context(|| format!("{account} bill `{}`: bal `{}` is not a number", r.key, b.bal))?;
    Ok((b.ccy, bal))
}

/// [`holdings_at`] for each of `ats` (in any order, repeats allowed): [`holdings_series`]
/// over the sorted instants, handed back in the order asked.
pub fn holdings_at_each(src: &dyn RecordSource, ats: &[DateTime<Utc>]) -> Result<Vec<Vec<Holding>>> {
    let mut sorted = ats.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let series = holdings_series(src, &sorted)?;
    Ok(ats
        .iter()
        .map(|at| {
            sorted
                .binary_search(at)
                .map(|k| series[k].clone())
                .unwrap_or_default()
        })
        .collect())
}

/// Holdings at `at` per (account, asset), for the trading and funding ledgers; assets
/// whose last bill before `at` left them at zero are left out.
pub fn holdings_at(src: &dyn RecordSource, at: DateTime<Utc>) -> Result<Vec<Holding>> {
    Ok(holdings_series(src, &[at])?.pop().unwrap_or_default())
}

/// [`holdings_at`] at each of the sorted instants `ats`, in one walk of each ledger (the
/// report's opening and closing holdings and its daily holdings chart, issue 21), over the
/// bills before the last instant only. Memory is per (asset, instant), never per bill.
pub fn holdings_series(src: &dyn RecordSource, ats: &[DateTime<Utc>]) -> Result<Vec<Vec<Holding>>> {
    let mut walk = HoldingsWalk::new(ats);
    let Some(before) = walk.cutoffs.last().copied() else {
        return Ok(walk.finish());
    };
    for kind in HoldingsWalk::KINDS {
        src.for_each_by_id_before(kind, before, &mut |r| walk.push(kind, &r, None))?;
    }
    Ok(walk.finish())
}

/// A bill a holding may come from: its position in billId order, its `bal` and its `ts`.
type Entry = (u64, Decimal, i64);

/// [`holdings_series`] fed one bill at a time, so another walk of the ledgers in billId
/// order (the reconciliation's) can work the holdings out as it goes.
pub struct HoldingsWalk {
    cutoffs: Vec<i64>,
    /// Per ledger ([`HoldingsWalk::KINDS`]), per asset and per first instant a bill counts
    /// for (the bill's ts < the instant): the last such bill in billId order, as (its
    /// position in that order, bal, ts). An instant's holding is then the latest of the
    /// entries at or before it.
    last: [BTreeMap<String, BTreeMap<usize, Entry>>; 2],
    seq: u64,
}

impl HoldingsWalk {
    /// The ledgers walked, in the order holdings are listed.
    pub const KINDS: [RecordKind; 2] = [RecordKind::Bill, RecordKind::FundingBill];

    /// A walk for the sorted instants `ats`.
    pub fn new(ats: &[DateTime<Utc>]) -> HoldingsWalk {
        let cutoffs: Vec<i64> = ats.iter().map(DateTime::timestamp_millis).collect();
        debug_assert!(cutoffs.is_sorted());
        HoldingsWalk {
            cutoffs,
            last: [BTreeMap::new(), BTreeMap::new()],
            seq: 0,
        }
    }

    fn account(kind: RecordKind) -> Option<(usize, &'static str)> {
        match kind {
            RecordKind::Bill => Some((0, "trading")),
            RecordKind::FundingBill => Some((1, "funding")),
            _ => None,
        }
    }

    /// The next bill of ledger `kind`, in billId order (other kinds are ignored), with its
    /// asset and balance when they were decoded already (else read from it here).
    pub fn push(
        &mut self,
        kind: RecordKind,
        r: &RecordRef<'_>,
        known: Option<(&str, Decimal)>,
    ) -> Result<()> {
        let Some((ledger, account)) = Self::account(kind) else {
            return Ok(());
        };
        self.seq += 1;
        let first = self.cutoffs.partition_point(|c| *c <= r.ts_ms);
        if first == self.cutoffs.len() {
            return Ok(());
        }
        let (ccy, bal) = match known {
            Some(k) => k,
            None => ccy_bal(account, r)?,
        };
        let entry = (self.seq, bal, r.ts_ms);
        match self.last[ledger].get_mut(ccy) {
            Some(m) => {
                m.insert(first, entry);
            }
            None => {
                self.last[ledger].insert(ccy.to_string(), BTreeMap::from([(first, entry)]));
            }
        }
        Ok(())
    }

    /// Per instant, the holdings: the trading ledger's assets, then the funding ledger's.
    pub fn finish(self) -> Vec<Vec<Holding>> {
        let mut out = vec![Vec::new(); self.cutoffs.len()];
        for (kind, last) in Self::KINDS.into_iter().zip(self.last) {
            let Some((_, account)) = Self::account(kind) else {
                continue;
            };
            for (asset, entries) in last {
                let mut best: Option<Entry> = None;
                let mut entries = entries.into_iter().peekable();
                for (i, holdings) in out.iter_mut().enumerate() {
                    while let Some((_, e)) = entries.next_if(|(first, _)| *first <= i) {
                        if best.is_none_or(|b| e.0 > b.0) {
                            best = Some(e);
                        }
                    }
                    let Some((_, balance, ts)) = best else {
                        continue;
                    };
                    if balance.is_zero() {
                        continue;
                    }
                    holdings.push(Holding {
                        account,
                        asset: asset.clone(),
                        balance: balance.normalize(),
                        last_bill_at: DateTime::from_timestamp_millis(ts).unwrap_or_default(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemorySource, StoredRecord};

    fn bill(kind: RecordKind, id: &str, ts: i64, ccy: &str, bal: &str) -> StoredRecord {
        StoredRecord {
            kind,
            key: id.into(),
            ts_ms: ts,
            link: None,
            raw: format!(r#"{{"billId":"{id}","ccy":"{ccy}","bal":"{bal}","balChg":"1","ts":"{ts}"}}"#),
        }
    }

    #[test]
    fn last_running_balance_before_the_moment() {
        let src = MemorySource {
            records: vec![
                bill(RecordKind::Bill, "1", 1_000, "BTC", "1.5"),
                bill(RecordKind::Bill, "2", 2_000, "BTC", "2.25"),
                bill(RecordKind::Bill, "3", 3_000, "BTC", "0.1"),
                bill(RecordKind::Bill, "4", 1_500, "USDT", "0"),
                bill(RecordKind::FundingBill, "9", 2_500, "EUR", "100.50"),
            ],
            ..MemorySource::default()
        };
        let at = DateTime::from_timestamp_millis(3_000).unwrap();
        let h = holdings_at(&src, at).unwrap();
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!((h[0].account, h[0].asset.as_str()), ("trading", "BTC"));
        assert_eq!(h[0].balance, Decimal::new(225, 2));
        assert_eq!(h[0].last_bill_at.timestamp_millis(), 2_000);
        assert_eq!((h[1].account, h[1].asset.as_str()), ("funding", "EUR"));
        assert_eq!(h[1].balance.to_string(), "100.5");
        // Several moments in one pass give what each alone gives.
        let t = |ms| DateTime::from_timestamp_millis(ms).unwrap();
        let ats = [t(3_000), t(1_200), t(10_000), t(0)];
        let each = holdings_at_each(&src, &ats).unwrap();
        for (at, got) in ats.iter().zip(&each) {
            assert_eq!(*got, holdings_at(&src, *at).unwrap(), "{at}");
        }
        assert!(each[3].is_empty());
    }

    /// `ccy` and `bal` read straight from compact JSON equal a JSON parse's, and any other
    /// spelling falls back to the parse.
    #[test]
    fn ccy_and_bal_without_a_parse() {
        for raw in [
            r#"{"billId":"1","ccy":"BTC","bal":"1.5","balChg":"0.5","posBal":"9"}"#,
            r#"{"balChg":"0.5","bal":"1.5","ccy":"BTC"}"#,
            r#"{ "ccy" : "BTC", "bal" : "1.5" }"#,
            r#"{"notes":"\"bal\":\"7\"","ccy":"BTC","bal":"1.5"}"#,
        ] {
            let b = bal_only(raw).unwrap();
            assert_eq!((b.ccy, b.bal), ("BTC", "1.5"), "{raw}");
        }
        assert!(bal_only(r#"{"ccy":"BTC"}"#).is_err());
    }

    /// Each instant of a series holds what `holdings_at` gives for it alone, also when
    /// billId order and time order disagree.
    #[test]
    fn series_equals_one_instant_at_a_time() {
        let src = MemorySource {
            records: vec![
                bill(RecordKind::Bill, "1", 1_000, "BTC", "1.5"),
                bill(RecordKind::Bill, "2", 2_500, "BTC", "2.25"),
                // Booked before bill 2 in time, after it in billId order.
                bill(RecordKind::Bill, "3", 2_000, "BTC", "0.1"),
                bill(RecordKind::Bill, "4", 1_500, "USDT", "5"),
                bill(RecordKind::Bill, "5", 3_500, "USDT", "0"),
                bill(RecordKind::FundingBill, "9", 2_500, "EUR", "100.50"),
            ],
            ..MemorySource::default()
        };
        let ats: Vec<DateTime<Utc>> = [500, 1_000, 1_800, 2_200, 3_000, 4_000]
            .into_iter()
            .map(|t| DateTime::from_timestamp_millis(t).unwrap())
            .collect();
        let series = holdings_series(&src, &ats).unwrap();
        // The same holdings worked out inside the reconciliation's walk (as a report does).
        let mut walk = HoldingsWalk::new(&ats);
        crate::reconcile::reconcile_walking(
            &src,
            &crate::reconcile::LedgerRanges::all(),
            &mut |k, r, known| walk.push(k, r, known),
        )
        .unwrap();
        assert_eq!(walk.finish(), series);
        for (at, h) in ats.iter().zip(&series) {
            let mut one = Vec::new();
            // The reference: the last bill before `at` in billId order, asset by asset.
            for (kind, account) in [
                (RecordKind::Bill, "trading"),
                (RecordKind::FundingBill, "funding"),
            ] {
                let mut last: BTreeMap<String, (Decimal, i64)> = BTreeMap::new();
                for r in src
                    .records
                    .iter()
                    .filter(|r| r.kind == kind && r.ts_ms < at.timestamp_millis())
                {
                    let b: BalOnly<'_> = serde_json::from_str(&r.raw).unwrap();
                    last.insert(b.ccy.to_string(), (b.bal.parse().unwrap(), r.ts_ms));
                }
                one.extend(
                    last.into_iter()
                        .filter(|(_, (b, _))| !b.is_zero())
                        .map(|(asset, (b, ts))| Holding {
                            account,
                            asset,
                            balance: b.normalize(),
                            last_bill_at: DateTime::from_timestamp_millis(ts).unwrap(),
                        }),
                );
            }
            assert_eq!(h, &one, "at {at}");
        }
        // At 3000: BTC is bill 3's 0.1 (last in billId order, though older than bill 2).
        assert_eq!(series[4][0].balance, Decimal::new(1, 1));
        assert!(
            series[5].iter().all(|h| h.asset != "USDT"),
            "a zero balance is left out"
        );
    }
}
