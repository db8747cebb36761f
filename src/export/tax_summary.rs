//! `tax-summary.csv` (issue 11): a yearly overview that needs no lot matching (that stays
//! with RP2 / BittyTax), in the export's fiat, for the report's period (`--year` or
//! `--from/--to`, boundaries in `--tz`). Written by every report with an end date.
//!
//! One line per (section, item, asset), then a total line per (section, item) with asset
//! `*`. Columns: `section,item,asset,amount,value,value_currency,rows,rows_without_price,
//! value_of_priced_rows`.
//!
//! | section | items | what is booked |
//! |---|---|---|
//! | `income` | `staking`, `earn`, `airdrops`, `referral`, `other` | `staking_reward`, `earn_interest`, `airdrop`, `referral_reward`, `other_income` rows: received +, sent − |
//! | `derivatives` | `trading`, `funding`, `liquidation` | realized PnL: `realized_pnl`, `funding_fee`, one-sided `liquidation` rows; gains +, losses − |
//! | `fees` | `spot`, `derivatives`, `withdrawal`, `interest`, `rebates` | fee columns and `fee` rows (by instrument), withdrawal fees (a withdrawal's fee column, and a fee on its own funding bill, type 221, less its refunds, 222), `interest_paid`, `rebate` rows (money back, +) |
//! | `disposals` | `gross_proceeds` | the value of every trade (incl. a paired liquidation) whose sent side is not fiat: what was disposed of, valued as the trade |
//! | `holdings_opening` / `holdings_closing` | the account (`trading`, `funding`) | balances at the period's start / end (`reconcile::closing::holdings_at`), valued at that instant |
//!
//! Amounts are in the asset (signed where the table says so); values in the fiat. A value
//! is never made up: when any row of a line has no price, its `value` cell is **empty**,
//! `rows_without_price` says how many, and `value_of_priced_rows` holds the sum of the rest
//! (so a partial sum can never be read as the total). Deposits, withdrawals (but their fee),
//! transfers and unclassified rows are not income or disposals and are left out.
//!
//! Holdings are valued through the [`Valuer`] with one synthetic row per holding: a
//! `deposit` of the balance at the boundary instant, id `holding:<account>:<asset>`, so the
//! valuer's rules (index price at that minute, routes, `--prices`) apply unchanged.

use super::legs::is_derivative;
pub use super::tax_detail::Line;
use super::tax_detail::{RowContext, TaxDetail};
use super::values::worth;
use super::{is_fiat, write_csv_atomic};
use crate::model::{Account, Amount, Kind, Transaction, plain};
use crate::prices::{RowValue, Valuer};
use crate::reconcile::closing::Holding;
use anyhow::Result;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;

/// The file name.
pub const FILE_NAME: &str = "tax-summary.csv";

/// The header of `tax-summary.csv`.
pub const HEADER: [&str; 9] = [
    "section",
    "item",
    "asset",
    "amount",
    "value",
    "value_currency",
    "rows",
    "rows_without_price",
    "value_of_priced_rows",
];

/// Sections in file order.
const SECTIONS: [&str; 6] = [
    "income",
    "derivatives",
    "fees",
    "disposals",
    "holdings_opening",
    "holdings_closing",
];

/// The total of some lines (amounts of different assets are not added).
fn sum<'a>(lines: impl Iterator<Item = &'a Line>) -> Line {
    let mut t = Line::default();
    for l in lines {
        t.priced_value += l.priced_value;
        (t.rows, t.missing) = (t.rows + l.rows, t.missing + l.missing);
    }
    t
}

/// Collects the summary row by row (memory: one entry per (section, item, asset)).
#[derive(Debug, Default)]
pub struct TaxSummary {
    lines: BTreeMap<(usize, &'static str), BTreeMap<String, Line>>,
    /// The same bookings by month and instrument, when asked for ([`TaxSummary::with_detail`]).
    detail: Option<TaxDetail>,
    /// The row being booked (set by [`TaxSummary::add`], for `detail`; its buffers are
    /// reused from row to row).
    row: RowContext,
    /// [`TaxSummary::add`] is booking `row` (holdings are booked without a row).
    in_row: bool,
}

impl TaxSummary {
    pub fn new() -> TaxSummary {
        TaxSummary::default()
    }

    /// A summary that also keeps every flow booking by month (in `tz`) and instrument.
    pub fn with_detail(tz: chrono_tz::Tz) -> TaxSummary {
        TaxSummary {
            detail: Some(TaxDetail::new(tz)),
            ..TaxSummary::default()
        }
    }

    /// Every (section, item, asset) line in file order (without the `*` totals).
    pub fn lines(&self) -> impl Iterator<Item = (&'static str, &'static str, &str, &Line)> {
        self.lines.iter().flat_map(|((s, item), assets)| {
            assets
                .iter()
                .map(move |(asset, l)| (SECTIONS[*s], *item, asset.as_str(), l))
        })
    }

    /// The monthly and per-instrument breakdown, when kept.
    pub fn detail(&self) -> Option<&TaxDetail> {
        self.detail.as_ref()
    }

    /// The line of (section, item, asset), if anything was booked on it.
    pub fn line(&self, section: &str, item: &str, asset: &str) -> Option<&Line> {
        let s = SECTIONS.iter().position(|x| *x == section)?;
        self.lines
            .iter()
            .find(|((ls, li), _)| *ls == s && *li == item)
            .and_then(|(_, assets)| assets.get(asset))
    }

    /// The total of (section, item) over all assets (`None` if nothing was booked).
    pub fn total(&self, section: &str, item: &str) -> Option<Line> {
        let s = SECTIONS.iter().position(|x| *x == section)?;
        let (_, assets) = self.lines.iter().find(|((ls, li), _)| *ls == s && *li == item)?;
        Some(sum(assets.values()))
    }

    fn book(
        &mut self,
        section: usize,
        item: &'static str,
        asset: &str,
        amount: Decimal,
        value: Option<Decimal>,
    ) {
        // No key allocation for a line that exists (a lookup per booked amount per row).
        let assets = self.lines.entry((section, item)).or_default();
        if !assets.contains_key(asset) {
            assets.insert(asset.to_string(), Line::default());
        }
        let Some(line) = assets.get_mut(asset) else {
            return;
        };
        line.amount += amount;
        line.rows += 1;
        match value {
            Some(v) => line.priced_value += v,
            None => line.missing += 1,
        }
        if let Some(d) = &mut self.detail
            && self.in_row
        {
            d.book(&self.row, SECTIONS[section], item, asset, amount, value);
        }
    }

    /// Books `a` of `tx` with sign `+` (`incoming`) or `−`, valued as an amount of the row.
    fn book_amount(
        &mut self,
        section: usize,
        item: &'static str,
        tx: &Transaction,
        value: &RowValue,
        a: &Amount,
        incoming: bool,
    ) {
        if a.amount.is_zero() {
            return;
        }
        let v = worth(tx, value, a);
        let (amount, v) = if incoming {
            (a.amount, v)
        } else {
            (-a.amount, v.map(|v| -v))
        };
        self.book(section, item, &a.asset, amount, v);
    }

    /// Books one exported row with its value.
    pub fn add(&mut self, tx: &Transaction, value: &RowValue) {
        if self.detail.is_some() {
            self.row.time = tx.time;
            self.row.instrument.clone_from(&tx.instrument);
            self.in_row = true;
        }
        self.add_row(tx, value);
        self.in_row = false;
    }

    fn add_row(&mut self, tx: &Transaction, value: &RowValue) {
        use Kind::*;
        let (income, derivatives, fees, disposals) = (0, 1, 2, 3);
        // A withdrawal fee on its own funding bill (221) and its refund (222) are
        // withdrawal fees, the refund a negative one.
        let withdrawal_fee = crate::normalize::is_withdrawal_fee(tx);
        let fee_item = if tx.kind == Withdrawal || withdrawal_fee {
            "withdrawal"
        } else if is_derivative(tx.instrument.as_deref()) {
            "derivatives"
        } else {
            "spot"
        };
        let signed = |this: &mut TaxSummary, section: usize, item: &'static str| {
            if let Some(r) = &tx.received {
                this.book_amount(section, item, tx, value, r, true);
            }
            if let Some(s) = &tx.sent {
                this.book_amount(section, item, tx, value, s, false);
            }
        };
        match tx.kind {
            StakingReward => signed(self, income, "staking"),
            EarnInterest => signed(self, income, "earn"),
            Airdrop => signed(self, income, "airdrops"),
            ReferralReward => signed(self, income, "referral"),
            OtherIncome => signed(self, income, "other"),
            RealizedPnl => signed(self, derivatives, "trading"),
            FundingFee => signed(self, derivatives, "funding"),
            Liquidation | Trade => match (&tx.sent, &tx.received) {
                (Some(s), Some(_)) if !is_fiat(&s.asset) && !s.amount.is_zero() => {
                    let v = value.value.map(|v| v.round_dp(8).normalize());
                    self.book(disposals, "gross_proceeds", &s.asset, s.amount, v);
                }
                (Some(_), Some(_)) => {}
                _ if tx.kind == Liquidation => signed(self, derivatives, "liquidation"),
                _ => {}
            },
            Rebate if withdrawal_fee => {
                if let Some(r) = &tx.received {
                    self.book_amount(fees, "withdrawal", tx, value, r, false);
                }
            }
            Rebate => signed(self, fees, "rebates"),
            // A fee paid is booked as a positive cost; a fee row's `sent` is a fee too.
            Fee | InterestPaid => {
                let item = if tx.kind == Fee { fee_item } else { "interest" };
                if let Some(s) = &tx.sent {
                    self.book_amount(fees, item, tx, value, s, true);
                }
            }
            Deposit | Withdrawal | Transfer | Unclassified => {}
        }
        if tx.kind != Unclassified
            && let Some(f) = &tx.fee
        {
            let item = if tx.kind == InterestPaid {
                "interest"
            } else {
                fee_item
            };
            self.book_amount(fees, item, tx, value, f, true);
        }
    }

    /// Books holdings at a period boundary (`closing`: end, else start), each valued by
    /// `valuer` through a synthetic deposit row at `at`.
    pub fn add_holdings(
        &mut self,
        holdings: &[Holding],
        at: DateTime<Utc>,
        closing: bool,
        valuer: &mut dyn Valuer,
    ) -> Result<()> {
        let section = if closing { 5 } else { 4 };
        for h in holdings {
            let account = Account::parse(h.account).unwrap_or(Account::Trading);
            let mut tx = Transaction::new(
                format!("holding:{}:{}", h.account, h.asset),
                at,
                account,
                Kind::Deposit,
                "holdings",
                "",
            );
            tx.received = Some(Amount::new(h.balance, h.asset.clone()));
            let value = valuer.value(&tx)?;
            let item: &'static str = if h.account == "funding" {
                "funding"
            } else {
                "trading"
            };
            let v = tx.received.as_ref().and_then(|a| worth(&tx, &value, a));
            self.book(section, item, &h.asset, h.balance, v);
        }
        Ok(())
    }

    /// The CSV rows: every line, then after each (section, item) its `*` total.
    pub fn rows(&self, fiat: &str) -> Vec<Vec<String>> {
        let cells = |section: usize, item: &str, asset: &str, amount: Option<Decimal>, l: &Line| {
            let value = l.value();
            vec![
                SECTIONS[section].to_string(),
                item.to_string(),
                asset.to_string(),
                amount.map(plain).unwrap_or_default(),
                value.map(plain).unwrap_or_default(),
                fiat.to_string(),
                l.rows.to_string(),
                l.missing.to_string(),
                plain(l.priced_value),
            ]
        };
        let mut out = Vec::new();
        for ((s, item), assets) in &self.lines {
            for (asset, l) in assets {
                out.push(cells(*s, item, asset, Some(l.amount), l));
            }
            out.push(cells(*s, item, "*", None, &sum(assets.values())));
        }
        out
    }

    /// Writes `tax-summary.csv` into `dir` atomically; returns its path.
    pub fn write(&self, dir: &Path, fiat: &str) -> Result<std::path::PathBuf> {
        let path = dir.join(FILE_NAME);
        write_csv_atomic(&path, &HEADER, self.rows(fiat))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::*;
    use crate::model::Amount;
    use crate::prices::NoPrices;

    fn summary(fiat: &str, txs: &[Transaction]) -> TaxSummary {
        let mut t = TaxSummary::new();
        for tx in txs {
            t.add(tx, &fixed_value(tx, fiat));
        }
        t
    }

    #[test]
    fn every_section_with_exact_values() {
        let mut xyz = staking_reward();
        xyz.received = Some(Amount::new(dec("5"), "XYZ"));
        let t = summary(
            "USD",
            &[
                buy(),
                sell(),
                deposit(),
                withdrawal(),
                staking_reward(),
                xyz,
                funding_fee_paid(),
                pnl_loss(),
                pnl_gain(),
                rebate(),
                fee_only_okb(),
                transfer(),
                unclassified(),
            ],
        );
        let line = |s: &str, i: &str, a: &str| t.line(s, i, a).cloned().unwrap();
        // 0.0123 ETH × 3400; the XYZ reward has no price: the total is not a number.
        assert_eq!(line("income", "staking", "ETH").value(), Some(dec("41.82")));
        let staking = t.total("income", "staking").unwrap();
        assert_eq!(
            (staking.value(), staking.missing, staking.priced_value),
            (None, 1, dec("41.82"))
        );
        // Realized PnL: +30.75 − 12.5 USDT; funding paid −0.25.
        assert_eq!(line("derivatives", "trading", "USDT").amount, dec("18.25"));
        assert_eq!(line("derivatives", "trading", "USDT").value(), Some(dec("18.25")));
        assert_eq!(line("derivatives", "funding", "USDT").value(), Some(dec("-0.25")));
        // Fees: buy 0.00002 BTC at the trade's price (95000) = 1.9; sell 0.48 USDT;
        // withdrawal 0.0001 BTC = 9.5; the fee-only row 0.1 OKB = 5; rebate 0.0102 back.
        assert_eq!(t.total("fees", "spot").unwrap().value(), Some(dec("7.38")));
        assert_eq!(line("fees", "spot", "BTC").value(), Some(dec("1.9")));
        assert_eq!(line("fees", "withdrawal", "BTC").value(), Some(dec("9.5")));
        assert_eq!(line("fees", "rebates", "USDT").value(), Some(dec("0.0102")));
        // Disposals: 1900 USDT for BTC, 0.005 BTC for 480 USDT.
        assert_eq!(
            t.total("disposals", "gross_proceeds").unwrap().value(),
            Some(dec("2380"))
        );
        assert_eq!(line("disposals", "gross_proceeds", "BTC").amount, dec("0.005"));
        // Deposits, transfers and unclassified rows book nothing.
        assert_eq!(
            t.lines
                .values()
                .flat_map(|a| a.values())
                .map(|l| l.rows)
                .sum::<u64>(),
            12
        );
    }

    #[test]
    fn holdings_are_valued_at_the_boundary_and_a_missing_price_stays_missing() {
        let at = ts("2026-01-01T00:00:00Z");
        let h = |account: &'static str, asset: &str, bal: &str| Holding {
            account,
            asset: asset.into(),
            balance: dec(bal),
            last_bill_at: at,
        };
        let holdings = [
            h("trading", "BTC", "0.5"),
            h("funding", "USDT", "100"),
            h("funding", "XYZ", "7"),
        ];
        let mut t = TaxSummary::new();
        let mut valuer = super::super::FixedPrices::demo(crate::prices::Fiat::parse("GBP").unwrap());
        t.add_holdings(&holdings, at, true, &mut valuer).unwrap();
        t.add_holdings(
            &holdings[..1],
            at,
            false,
            &mut NoPrices::new(crate::prices::Fiat::usd()),
        )
        .unwrap();
        let rows = t.rows("GBP");
        let text: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        assert_eq!(
            text,
            [
                "holdings_opening,trading,BTC,0.5,,GBP,1,1,0",
                "holdings_opening,trading,*,,,GBP,1,1,0",
                "holdings_closing,funding,USDT,100,80,GBP,1,0,80",
                "holdings_closing,funding,XYZ,7,,GBP,1,1,0",
                "holdings_closing,funding,*,,,GBP,2,1,80",
                "holdings_closing,trading,BTC,0.5,38000,GBP,1,0,38000",
                "holdings_closing,trading,*,,38000,GBP,1,0,38000",
            ]
        );
    }

    #[test]
    fn file_has_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let t = summary("USD", &[staking_reward()]);
        let p = t.write(dir.path(), "USD").unwrap();
        assert_eq!(
            std::fs::read_to_string(p).unwrap(),
            "section,item,asset,amount,value,value_currency,rows,rows_without_price,value_of_priced_rows\n\
             income,staking,ETH,0.0123,41.82,USD,1,0,41.82\n\
             income,staking,*,,41.82,USD,1,0,41.82\n"
        );
    }
}
