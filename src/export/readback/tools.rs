//! One reader per tool: how it interprets our CSV (which column a fee is taken from,
//! which types are income, derivatives results, fee refunds or plain movements), each with
//! its source. Columns are found by header name.

use super::{Class, Files, KoinlyFees, Reading, Table};
use crate::export::is_derivative;
use anyhow::{Result, bail};
use rust_decimal::Decimal;

/// Koinly Universal (support.koinly.io 9489976 "custom CSV", 9490023 "What are tags").
/// `fees` selects the documented reading (the fee is deducted) or the one reported in
/// staketaxcsv#385 (a fee in the coin sent or received is ignored).
pub(super) fn koinly(mut t: Table, fees: KoinlyFees, r: &mut Reading) -> Result<()> {
    let [sa, sc, ra, rc, fa, fc, label, id] = t.columns([
        "Sent Amount",
        "Sent Currency",
        "Received Amount",
        "Received Currency",
        "Fee Amount",
        "Fee Currency",
        "Label",
        "TxHash",
    ])?;
    while t.next()? {
        let row = &t.row;
        let incoming = !row[rc].is_empty();
        let class = match &row[label] {
            "" => Class::Movement,
            "reward" | "lending interest" | "airdrop" | "income" | "mining" | "salary" | "fork" => {
                Class::Income
            }
            "fee refund" | "cashback" => Class::Refund,
            "realized gain" if incoming => Class::DerivIn,
            "realized gain" => Class::DerivOut,
            "cost" | "margin fee" | "loan fee" | "tax" => Class::Expense,
            other => return Err(t.unknown("Koinly label", other)),
        };
        r.add(class, &row[rc], t.num(&row[ra])?);
        r.add(class, &row[sc], -t.num(&row[sa])?);
        let same_coin = row[fc] == row[sc] || row[fc] == row[rc];
        let deducted = !(fees == KoinlyFees::SameCoinIgnored && same_coin);
        if !row[fc].is_empty() && deducted {
            r.add(class, &row[fc], -t.num(&row[fa])?);
        }
        r.id(&row[id]);
    }
    Ok(())
}

/// CoinTracking ("Entering fees", article 29000007202): Buy/Sell are what moved; a fee in
/// the trade's own currencies is already inside them and the Fee column is informational.
/// What CoinTracking does with a third-currency fee is not documented, so such a row is an
/// error. Types: "Transaction Types", article 29000042783.
pub(super) fn cointracking(mut t: Table, r: &mut Reading) -> Result<()> {
    let [ty, ba, bc, sa, sc, fc, id] = t.columns([
        "Type",
        "Buy Amount",
        "Buy Currency",
        "Sell Amount",
        "Sell Currency",
        "Fee Currency",
        "Tx-ID",
    ])?;
    while t.next()? {
        let row = &t.row;
        let class = match &row[ty] {
            "Trade" | "Deposit" | "Withdrawal" => Class::Movement,
            "Income" | "Reward / Bonus" | "Staking" | "Mining" | "Airdrop" | "Interest Income"
            | "Lending Income" | "Other Income" | "Dividends Income" => Class::Income,
            "Income (non taxable)" => Class::Refund,
            "Derivatives / Futures Profit" | "Margin Profit" => Class::DerivIn,
            "Derivatives / Futures Loss" | "Margin Loss" | "Margin Fee" => Class::DerivOut,
            "Other Fee" | "Borrowing Fee" | "Spend" | "Other Expense" => Class::Expense,
            other => return Err(t.unknown("CoinTracking type", other)),
        };
        let fee = &row[fc];
        if !(fee.is_empty() || fee == &row[bc] || fee == &row[sc]) {
            bail!(
                "{} line {}: a fee in {fee}, neither the bought nor the sold currency (CoinTracking does not say how it reads that)",
                t.name,
                t.line()
            );
        }
        r.add(class, &row[bc], t.num(&row[ba])?);
        r.add(class, &row[sc], -t.num(&row[sa])?);
        r.id(&row[id]);
    }
    Ok(())
}

/// CTC Advanced CSV (help 5777675): amounts exclude the fee, which is a separate outflow.
pub(super) fn ctc(mut t: Table, r: &mut Reading) -> Result<()> {
    let [ty, bc, ba, qc, qa, fc, fa, id] = t.columns([
        "Type",
        "Base Currency",
        "Base Amount",
        "Quote Currency (Optional)",
        "Quote Amount (Optional)",
        "Fee Currency (Optional)",
        "Fee Amount (Optional)",
        "ID (Optional)",
    ])?;
    while t.next()? {
        let row = &t.row;
        let (class, sign) = match &row[ty] {
            "buy" | "receive" | "fiat-deposit" => (Class::Movement, Decimal::ONE),
            "sell" | "send" | "fiat-withdrawal" => (Class::Movement, -Decimal::ONE),
            "staking" | "interest" | "airdrop" | "income" | "cashback" | "mining" | "royalties" => {
                (Class::Income, Decimal::ONE)
            }
            "realized-profit" => (Class::DerivIn, Decimal::ONE),
            "realized-loss" | "margin-fee" => (Class::DerivOut, -Decimal::ONE),
            "fee" | "expense" => (Class::Expense, -Decimal::ONE),
            other => return Err(t.unknown("CTC type", other)),
        };
        r.add(class, &row[bc], sign * t.num(&row[ba])?);
        if !row[qc].is_empty() {
            r.add(class, &row[qc], -sign * t.num(&row[qa])?);
        }
        if !row[fc].is_empty() {
            r.add(class, &row[fc], -t.num(&row[fa])?);
        }
        r.id(&row[id]);
    }
    Ok(())
}

/// BittyTax (README / `t_row.py`): Buy in, Sell out, the fee always an extra outflow. UK
/// income types: Staking, Interest, Income, Dividend, Mining (Airdrop, Referral, Fee-Rebate
/// are acquisitions, not income). A `Margin-*` row's Note must name the contract.
pub(super) fn bittytax(mut t: Table, r: &mut Reading) -> Result<()> {
    let [ty, bq, ba, sq, sa, fq, fa, note, id] = t.columns([
        "Type",
        "Buy Quantity",
        "Buy Asset",
        "Sell Quantity",
        "Sell Asset",
        "Fee Quantity",
        "Fee Asset",
        "Note",
        "Row ID",
    ])?;
    while t.next()? {
        let row = &t.row;
        let class = match &row[ty] {
            "Trade" | "Deposit" | "Withdrawal" | "Airdrop" | "Referral" | "Gift-Received" => Class::Movement,
            "Staking" | "Interest" | "Income" | "Dividend" | "Mining" => Class::Income,
            "Fee-Rebate" | "Cashback" => Class::Refund,
            "Margin-Gain" | "Margin-Fee-Rebate" => Class::DerivIn,
            "Margin-Loss" | "Margin-Fee" => Class::DerivOut,
            "Spend" | "Loan-Interest" => Class::Expense,
            other => return Err(t.unknown("BittyTax type", other)),
        };
        if row[ty].starts_with("Margin-") && !(is_derivative(Some(&row[note])) || row[note].contains('-')) {
            bail!(
                "{} line {}: a margin row whose Note `{}` names no contract",
                t.name,
                t.line(),
                &row[note]
            );
        }
        r.add(class, &row[ba], t.num(&row[bq])?);
        r.add(class, &row[sa], -t.num(&row[sq])?);
        if !row[fa].is_empty() {
            r.add(class, &row[fa], -t.num(&row[fq])?);
        }
        r.id(&row[id]);
    }
    Ok(())
}

/// CoinTracker (support 4413071299729): "Sent Quantity should include fees; Received
/// Quantity should NOT include fees", so the fee columns only say which part was fee. At
/// most 8 decimals per quantity. Tags: "Transaction category definitions", 4413049710225.
pub(super) fn cointracker(mut t: Table, r: &mut Reading) -> Result<()> {
    let [rq, rc, sq, sc, fc, tag] = t.columns([
        "Received Quantity",
        "Received Currency",
        "Sent Quantity",
        "Sent Currency",
        "Fee Currency",
        "Tag",
    ])?;
    while t.next()? {
        let row = &t.row;
        let incoming = !row[rc].is_empty();
        let class = match &row[tag] {
            "" => Class::Movement,
            "staking" | "interest" | "airdrop" | "payment" | "mined" | "fork" => Class::Income,
            "margin gain" | "margin rebate" => Class::DerivIn,
            "margin loss" | "margin fee" if !incoming => Class::DerivOut,
            other => return Err(t.unknown("CoinTracker tag (for this direction)", other)),
        };
        let fee = &row[fc];
        if !(fee.is_empty() || fee == &row[rc] || fee == &row[sc]) {
            bail!(
                "{} line {}: a fee in {fee}, a coin the row does not move",
                t.name,
                t.line()
            );
        }
        for q in [&row[rq], &row[sq]] {
            if q.split('.').nth(1).is_some_and(|d| d.len() > 8) {
                bail!(
                    "{} line {}: quantity `{q}` has more than the 8 decimals CoinTracker takes",
                    t.name,
                    t.line()
                );
            }
        }
        r.add(class, &row[rc], t.num(&row[rq])?);
        r.add(class, &row[sc], -t.num(&row[sq])?);
        r.row(row);
    }
    Ok(())
}

/// CoinLedger (help 6028758): the Fee columns are filled only when the fee is not already
/// netted into the amounts, i.e. the fee is deducted on top.
pub(super) fn coinledger(mut t: Table, r: &mut Reading) -> Result<()> {
    let [sc, sa, rc, ra, fc, fa, ty, id] = t.columns([
        "Asset Sent",
        "Amount Sent",
        "Asset Received",
        "Amount Received",
        "Fee Currency (Optional)",
        "Fee Amount (Optional)",
        "Type",
        "TxHash (Optional)",
    ])?;
    while t.next()? {
        let row = &t.row;
        let class = match &row[ty] {
            "Trade" | "Deposit" | "Withdrawal" => Class::Movement,
            "Income" | "Interest" | "Staking" | "Mining" | "Airdrop" | "Hard Fork" => Class::Income,
            "Investment Loss" => Class::DerivOut,
            "Merchant Payment" | "Interest Payment" => Class::Expense,
            other => return Err(t.unknown("CoinLedger type", other)),
        };
        r.add(class, &row[rc], t.num(&row[ra])?);
        r.add(class, &row[sc], -t.num(&row[sa])?);
        if !row[fc].is_empty() {
            r.add(class, &row[fc], -t.num(&row[fa])?);
        }
        r.id(&row[id]);
    }
    Ok(())
}

/// DaLI manual CSVs (dali `plugin/input/csv/manual.py`, RP2 `in/out/intra_transaction.py`):
/// IN adds `crypto_in` and takes `crypto_fee` out (RP2's fee-only outflow); OUT takes
/// `crypto_out_no_fee + crypto_fee` out; INTRA inside one exchange costs `sent − received`.
/// OUT `FEE` is an investment expense (a derivatives result when the notes name a
/// contract); IN `INCOME`/`STAKING`/`INTEREST`/`AIRDROP`/`MINING` income.
pub(super) fn dali_in(files: Files<'_>, r: &mut Reading) -> Result<()> {
    let mut t = files.open("dali-in.csv")?;
    let [asset, ty, crypto_in, fee, id] = t.columns([
        "asset",
        "transaction_type",
        "crypto_in",
        "crypto_fee",
        "unique_id",
    ])?;
    while t.next()? {
        let row = &t.row;
        let class = match &row[ty] {
            "BUY" => Class::Movement,
            "INCOME" | "STAKING" | "INTEREST" | "AIRDROP" | "MINING" => Class::Income,
            other => return Err(t.unknown("DaLI IN type", other)),
        };
        r.add(class, &row[asset], t.num(&row[crypto_in])?);
        r.add(Class::Expense, &row[asset], -t.num(&row[fee])?);
        r.id_with(|| format!("in {} {}", &row[asset], &row[id]));
    }
    Ok(())
}

/// DaLI's OUT file (see [`dali_in`]).
pub(super) fn dali_out(files: Files<'_>, r: &mut Reading) -> Result<()> {
    let mut t = files.open("dali-out.csv")?;
    let [asset, ty, out, fee, notes, id] = t.columns([
        "asset",
        "transaction_type",
        "crypto_out_no_fee",
        "crypto_fee",
        "notes",
        "unique_id",
    ])?;
    while t.next()? {
        let row = &t.row;
        let derivative = row[notes]
            .split(' ')
            .nth(1)
            .is_some_and(|i| is_derivative(Some(i)));
        let class = match &row[ty] {
            "SELL" => Class::Movement,
            "FEE" if derivative => Class::DerivOut,
            "FEE" => Class::Expense,
            other => return Err(t.unknown("DaLI OUT type", other)),
        };
        r.add(class, &row[asset], -t.num(&row[out])? - t.num(&row[fee])?);
        r.id_with(|| format!("out {} {}", &row[asset], &row[id]));
    }
    Ok(())
}

/// DaLI's INTRA file (see [`dali_in`]).
pub(super) fn dali_intra(files: Files<'_>, r: &mut Reading) -> Result<()> {
    let mut t = files.open("dali-intra.csv")?;
    let [asset, sent, received, id] = t.columns(["asset", "crypto_sent", "crypto_received", "unique_id"])?;
    while t.next()? {
        let row = &t.row;
        r.add(
            Class::Expense,
            &row[asset],
            t.num(&row[received])? - t.num(&row[sent])?,
        );
        r.id_with(|| format!("intra {} {}", &row[asset], &row[id]));
    }
    Ok(())
}
