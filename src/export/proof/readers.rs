//! One reader per tool: how it interprets our CSV (which column a fee is taken from,
//! which types are income, derivatives results, fee refunds or plain movements), each with
//! its source.

use super::{Class, Reading};
use crate::export::is_derivative;
use crate::export::testdata::dec;
use rust_decimal::Decimal;
use std::path::Path;

pub(super) fn records(text: &str) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let h = r.headers().unwrap().clone();
    (h, r.records().map(Result::unwrap).collect())
}

pub(super) fn num(s: &str) -> Decimal {
    if s.is_empty() { Decimal::ZERO } else { dec(s) }
}

/// Koinly Universal (support.koinly.io 9489976 "custom CSV", 9490023 "What are tags").
/// `same_coin_fee_ignored` selects the reading reported in staketaxcsv#385 (a fee in the coin
/// sent or received is ignored) instead of the documented one (the fee is deducted).
pub(super) fn read_koinly(text: &str, same_coin_fee_ignored: bool) -> Reading {
    let (_, rows) = records(text);
    let mut r = Reading::default();
    for row in &rows {
        let (sa, sc, ra, rc, fa, fc, label) = (&row[1], &row[2], &row[3], &row[4], &row[5], &row[6], &row[9]);
        let incoming = !rc.is_empty();
        let class = match label {
            "" => Class::Movement,
            "reward" | "lending interest" | "airdrop" | "income" | "mining" | "salary" | "fork" => {
                Class::Income
            }
            "fee refund" | "cashback" => Class::Refund,
            "realized gain" if incoming => Class::DerivIn,
            "realized gain" => Class::DerivOut,
            "cost" | "margin fee" | "loan fee" | "tax" => Class::Expense,
            other => panic!("unknown Koinly tag `{other}`"),
        };
        r.add(class, rc, num(ra));
        r.add(class, sc, -num(sa));
        if !fc.is_empty() && !(same_coin_fee_ignored && (fc == sc || fc == rc)) {
            r.add(class, fc, -num(fa));
        }
        r.ids.push(row[11].to_string());
    }
    r
}

/// CoinTracking ("Entering fees", article 29000007202): Buy/Sell are what moved; a fee in
/// the trade's own currencies is already inside them and the Fee column is informational.
/// What CoinTracking does with a third-currency fee is not documented: our files never have
/// one (asserted). Types: "Transaction Types", article 29000042783.
pub(super) fn read_cointracking(text: &str) -> Reading {
    let (_, rows) = records(text);
    let mut r = Reading::default();
    for row in &rows {
        let (ty, ba, bc, sa, sc, fc) = (&row[0], &row[1], &row[2], &row[3], &row[4], &row[6]);
        let class = match ty {
            "Trade" | "Deposit" | "Withdrawal" => Class::Movement,
            "Income" | "Reward / Bonus" | "Staking" | "Mining" | "Airdrop" | "Interest Income"
            | "Lending Income" | "Other Income" | "Dividends Income" => Class::Income,
            "Income (non taxable)" => Class::Refund,
            "Derivatives / Futures Profit" | "Margin Profit" => Class::DerivIn,
            "Derivatives / Futures Loss" | "Margin Loss" | "Margin Fee" => Class::DerivOut,
            "Other Fee" | "Borrowing Fee" | "Spend" | "Other Expense" => Class::Expense,
            other => panic!("unknown CoinTracking type `{other}`"),
        };
        assert!(
            fc.is_empty() || fc == bc || fc == sc,
            "CoinTracking row with a third-currency fee: {row:?}"
        );
        r.add(class, bc, num(ba));
        r.add(class, sc, -num(sa));
        r.ids.push(row[11].to_string());
    }
    r
}

/// CTC Advanced CSV (help 5777675): amounts exclude the fee, which is a separate outflow.
pub(super) fn read_ctc(text: &str) -> Reading {
    let (_, rows) = records(text);
    let mut r = Reading::default();
    for row in &rows {
        let (ty, bc, ba, qc, qa, fc, fa) = (&row[1], &row[2], &row[3], &row[4], &row[5], &row[6], &row[7]);
        let (class, sign) = match ty {
            "buy" => (Class::Movement, Decimal::ONE),
            "sell" => (Class::Movement, -Decimal::ONE),
            "receive" | "fiat-deposit" => (Class::Movement, Decimal::ONE),
            "send" | "fiat-withdrawal" => (Class::Movement, -Decimal::ONE),
            "staking" | "interest" | "airdrop" | "income" | "cashback" | "mining" | "royalties" => {
                (Class::Income, Decimal::ONE)
            }
            "realized-profit" => (Class::DerivIn, Decimal::ONE),
            "realized-loss" | "margin-fee" => (Class::DerivOut, -Decimal::ONE),
            "fee" | "expense" => (Class::Expense, -Decimal::ONE),
            other => panic!("unknown CTC type `{other}`"),
        };
        r.add(class, bc, sign * num(ba));
        if !qc.is_empty() {
            r.add(class, qc, -sign * num(qa));
        }
        if !fc.is_empty() {
            r.add(class, fc, -num(fa));
        }
        r.ids.push(row[11].to_string());
    }
    r
}

/// BittyTax (README / `t_row.py`): Buy in, Sell out, the fee always an extra outflow; only
/// the first 13 cells are read. UK income types: Staking, Interest, Income, Dividend,
/// Mining (Airdrop, Referral, Fee-Rebate are acquisitions, not income).
pub(super) fn read_bittytax(text: &str) -> Reading {
    let (_, rows) = records(text);
    let mut r = Reading::default();
    for row in &rows {
        let (ty, bq, ba, sq, sa, fq, fa) = (&row[0], &row[1], &row[2], &row[4], &row[5], &row[7], &row[8]);
        let class = match ty {
            "Trade" | "Deposit" | "Withdrawal" | "Airdrop" | "Referral" | "Gift-Received" => Class::Movement,
            "Staking" | "Interest" | "Income" | "Dividend" | "Mining" => Class::Income,
            "Fee-Rebate" | "Cashback" => Class::Refund,
            "Margin-Gain" | "Margin-Fee-Rebate" => Class::DerivIn,
            "Margin-Loss" | "Margin-Fee" => Class::DerivOut,
            "Spend" | "Loan-Interest" => Class::Expense,
            other => panic!("unknown BittyTax type `{other}`"),
        };
        if ty.starts_with("Margin-") {
            assert!(
                is_derivative(Some(&row[12])) || row[12].contains('-'),
                "margin Note is the contract: {row:?}"
            );
        }
        r.add(class, ba, num(bq));
        r.add(class, sa, -num(sq));
        if !fa.is_empty() {
            r.add(class, fa, -num(fq));
        }
        r.ids.push(row[13].to_string());
    }
    r
}

/// CoinTracker (support 4413071299729): "Sent Quantity should include fees; Received
/// Quantity should NOT include fees", so the fee columns only say which part was fee.
/// Tags: "Transaction category definitions", 4413049710225.
pub(super) fn read_cointracker(text: &str) -> Reading {
    let (_, rows) = records(text);
    let mut r = Reading::default();
    for row in &rows {
        let (rq, rc, sq, sc, fc, tag) = (&row[1], &row[2], &row[3], &row[4], &row[6], &row[7]);
        let incoming = !rc.is_empty();
        let class = match tag {
            "" => Class::Movement,
            "staking" | "interest" | "airdrop" | "payment" | "mined" | "fork" => Class::Income,
            "margin gain" | "margin rebate" => Class::DerivIn,
            "margin loss" | "margin fee" if !incoming => Class::DerivOut,
            other => panic!("unexpected CoinTracker tag `{other}` (incoming: {incoming})"),
        };
        assert!(
            fc.is_empty() || fc == rc || fc == sc,
            "CoinTracker fee in a coin the row does not move: {row:?}"
        );
        for q in [rq, sq] {
            assert!(
                q.split('.').nth(1).is_none_or(|d| d.len() <= 8),
                "more than 8 decimals: {row:?}"
            );
        }
        r.add(class, rc, num(rq));
        r.add(class, sc, -num(sq));
        r.rows.push(row.iter().collect::<Vec<_>>().join(","));
    }
    r
}

/// CoinLedger (help 6028758): the Fee columns are filled only when the fee is not already
/// netted into the amounts, i.e. the fee is deducted on top.
pub(super) fn read_coinledger(text: &str) -> Reading {
    let (_, rows) = records(text);
    let mut r = Reading::default();
    for row in &rows {
        let (sc, sa, rc, ra, fc, fa, ty) = (&row[2], &row[3], &row[4], &row[5], &row[6], &row[7], &row[8]);
        let class = match ty {
            "Trade" | "Deposit" | "Withdrawal" => Class::Movement,
            "Income" | "Interest" | "Staking" | "Mining" | "Airdrop" | "Hard Fork" => Class::Income,
            "Investment Loss" => Class::DerivOut,
            "Merchant Payment" | "Interest Payment" => Class::Expense,
            other => panic!("unknown CoinLedger type `{other}`"),
        };
        r.add(class, rc, num(ra));
        r.add(class, sc, -num(sa));
        if !fc.is_empty() {
            r.add(class, fc, -num(fa));
        }
        r.ids.push(row[10].to_string());
    }
    r
}

/// DaLI manual CSVs (dali `plugin/input/csv/manual.py`, RP2 `in/out/intra_transaction.py`):
/// IN adds `crypto_in` and takes `crypto_fee` out (RP2's fee-only outflow); OUT takes
/// `crypto_out_no_fee + crypto_fee` out; INTRA inside one exchange costs `sent − received`.
/// OUT `FEE` is an investment expense; IN `INCOME`/`STAKING`/`INTEREST`/`AIRDROP` income.
pub(super) fn read_dali(dir: &Path) -> Reading {
    let mut r = Reading::default();
    let text = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    for row in records(&text("dali-in.csv")).1 {
        let class = match &row[5] {
            "BUY" => Class::Movement,
            "INCOME" | "STAKING" | "INTEREST" | "AIRDROP" | "MINING" => Class::Income,
            other => panic!("unexpected DaLI IN type `{other}`"),
        };
        r.add(class, &row[2], num(&row[7]));
        r.add(Class::Expense, &row[2], -num(&row[8]));
        r.ids.push(format!("in {} {}", &row[2], &row[0]));
    }
    for row in records(&text("dali-out.csv")).1 {
        let notes = &row[12];
        let derivative = notes.split(' ').nth(1).is_some_and(|i| is_derivative(Some(i)));
        let class = match &row[5] {
            "SELL" => Class::Movement,
            "FEE" if derivative => Class::DerivOut,
            "FEE" => Class::Expense,
            other => panic!("unexpected DaLI OUT type `{other}`"),
        };
        r.add(class, &row[2], -num(&row[7]) - num(&row[8]));
        r.ids.push(format!("out {} {}", &row[2], &row[0]));
    }
    for row in records(&text("dali-intra.csv")).1 {
        r.add(Class::Expense, &row[2], num(&row[9]) - num(&row[8]));
        r.ids.push(format!("intra {} {}", &row[2], &row[0]));
    }
    r
}
