//! `bittytax.csv`: BittyTax transaction records (tax-formats.md §8a, §10), checked offline by
//! `scripts/bittytax-check.sh` and `tests/bittytax.rs` (§8b, §8c).
//!
//! * Header: `Type,Buy Quantity,Buy Asset,Buy Value in GBP,Sell Quantity,Sell Asset,
//!   Sell Value in GBP,Fee Quantity,Fee Asset,Fee Value in GBP,Wallet,Timestamp,Note`.
//!   BittyTax reads the 13 columns by position and skips the header row.
//! * Timestamp: ISO 8601 UTC with milliseconds and `Z`, e.g. `2025-01-02T03:04:05.678Z`
//!   (dateutil reads it; keeping the milliseconds keeps same-second rows in order).
//! * Values (issue 11): totals in GBP, written only when the export's fiat is GBP
//!   (`--fiat GBP`: BittyTax's `local_currency`; in any other fiat the three value columns
//!   stay empty, and the report says so once). A trade's value in both Buy and Sell Value
//!   (a GBP leg fixes it: a GBP cell's value is its quantity, which BittyTax requires);
//!   any other acquisition / disposal its amount × unit price; a fee its own value (the fee
//!   is a disposal of the fee coin). `Deposit` / `Withdrawal` (transfers in BittyTax) carry
//!   no Buy/Sell value (§8a: leave them empty), only a fee value. Empty without a price;
//!   offline BittyTax then uses £0 with a warning, so the report lists missing prices.
//! * Fees (§8a): the fee is always an extra outflow. Buy Quantity is gross when the fee is in
//!   the buy asset, Sell Quantity is net when the fee is in the sell asset, a withdrawal is net
//!   and a deposit gross. Our model has exactly these meanings (received = gross, sent excludes
//!   the fee, fee separate), so quantities are written as they are.
//! * Only the columns a type allows are filled: acquisitions get Buy only, disposals Sell
//!   only (a value in the other pair fails the row).
//! * Wallet = `ExportOptions::wallet_name`. Note = the OKX instrument (e.g. `BTC-USDT-SWAP`)
//!   for `Margin-*` types, because BittyTax groups its margin report by Wallet + Note as the
//!   contract (`tax.py`, `CalculateMarginTrading`: `contracts[(wallet, note)]`); otherwise
//!   the row id. Decision: so that margin rows still carry their row id (issue 9) without
//!   splitting every row into a contract of its own, every row also has the row id in a
//!   14th column, `Row ID`. BittyTax reads only the first 13 cells of a CSV row
//!   (`import_records.py`: `row[: len(TransactionRow.HEADER)]`), so the extra cell changes
//!   nothing for it.
//! * Derivatives: trading fees on SWAP/FUTURES/OPTION instruments are `Margin-Fee` with the
//!   instrument as Note, like paid funding, so they land in the margin report of their
//!   contract instead of being a `Spend` (a disposal of the fee coin).
//!
//! | kind                      | in (Buy columns)     | out (Sell columns) |
//! |---------------------------|----------------------|--------------------|
//! | trade                     | `Trade` (both sides)                      ||
//! | deposit / withdrawal, one-sided spot trade | `Deposit` | `Withdrawal`    |
//! | staking_reward            | `Staking`            | `Spend`            |
//! | earn_interest             | `Interest`           | `Spend`            |
//! | airdrop                   | `Airdrop`            | `Spend`            |
//! | referral_reward           | `Referral`           | `Spend`            |
//! | other_income              | `Income`             | `Spend`            |
//! | rebate                    | `Fee-Rebate` (`Margin-Fee-Rebate` on a derivative) | `Spend` |
//! | fee (incl. fee-only rows) | `Fee-Rebate` (`Margin-Fee-Rebate` on a derivative) | `Spend` (`Margin-Fee` on a derivative) |
//! | funding_fee               | `Margin-Gain`        | `Margin-Fee`       |
//! | interest_paid             | `Fee-Rebate`         | `Loan-Interest`    |
//! | realized_pnl, liquidation | `Margin-Gain`        | `Margin-Loss`      |
//! | transfer, unclassified    | skipped                                   ||
//!
//! `Deposit`/`Withdrawal` are transfers between the user's own wallets in BittyTax: a deposit
//! from a wallet not in the file fails the integrity check with "Transfers mismatch" (run
//! with `--skipint`, or add that wallet's records).

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape, is_derivative, leg_id};
use crate::model::{Amount, Kind};
use rust_decimal::Decimal;

/// The only currency BittyTax's value columns take (its default `local_currency`).
pub(crate) const LOCAL_CURRENCY: &str = "GBP";

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "bittytax.csv",
    header: &[
        "Type",
        "Buy Quantity",
        "Buy Asset",
        "Buy Value in GBP",
        "Sell Quantity",
        "Sell Asset",
        "Sell Value in GBP",
        "Fee Quantity",
        "Fee Asset",
        "Fee Value in GBP",
        "Wallet",
        "Timestamp",
        "Note",
        "Row ID",
    ],
}];

fn kind_type(kind: Kind, incoming: bool, derivative: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        // A one-sided spot trade has no known counterpart (see `legs`): written like a
        // deposit / withdrawal, so BittyTax's transfer check points at it.
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, true) => "Deposit",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, false) => "Withdrawal",
        (StakingReward, true) => "Staking",
        (EarnInterest, true) => "Interest",
        (Airdrop, true) => "Airdrop",
        (ReferralReward, true) => "Referral",
        (OtherIncome, true) => "Income",
        (Rebate | Fee, true) if derivative => "Margin-Fee-Rebate",
        (Fee, false) if derivative => "Margin-Fee",
        (Rebate | Fee | InterestPaid, true) => "Fee-Rebate",
        (FundingFee | RealizedPnl | Liquidation, true) => "Margin-Gain",
        (FundingFee, false) => "Margin-Fee",
        (InterestPaid, false) => "Loan-Interest",
        (RealizedPnl | Liquidation, false) => "Margin-Loss",
        (Fee | Rebate | StakingReward | EarnInterest | Airdrop | ReferralReward | OtherIncome, false) => {
            "Spend"
        }
    }
}

pub(crate) fn encode(p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let derivative = is_derivative(tx.instrument.as_deref());
    let mut i = 0;
    let valued = p.fiat() == LOCAL_CURRENCY;
    // A value, only in GBP; a GBP amount is worth itself.
    let gbp = |a: Option<&Amount>, v: Option<Decimal>| match a {
        _ if !valued => None,
        Some(a) if a.asset == LOCAL_CURRENCY => Some(a.amount),
        Some(_) => v,
        None => None,
    };
    let mut row = |ty: &str,
                   buy: Option<&Amount>,
                   sell: Option<&Amount>,
                   fee: Option<&Amount>,
                   [buy_value, sell_value]: [Option<Decimal>; 2]| {
        let note = match (ty.starts_with("Margin-"), &tx.instrument) {
            (true, Some(inst)) => inst,
            // A move to or from the user's other OKX account says which.
            _ if tx.counterparty.is_some() => p.describe,
            _ => &tx.id,
        };
        let transfer = matches!(ty, "Deposit" | "Withdrawal");
        let value = |a: Option<&Amount>, v: Option<Decimal>| gbp(a, v).filter(|_| !transfer);
        out.row(0)
            .s(ty)
            .amt_asset(buy)
            .opt_amt(value(buy, buy_value))
            .amt_asset(sell)
            .opt_amt(value(sell, sell_value))
            .amt_asset(fee)
            .opt_amt(gbp(fee, fee.and_then(|f| p.worth(f))))
            .s(&opts.wallet_name)
            .s(&p.date.rfc3339_ms)
            .s(note)
            .s(&leg_id(tx, i))
            .end();
        i += 1;
    };
    for leg in p.legs()? {
        match leg.shape {
            Shape::Trade { sent, received, fee } => {
                // A GBP leg is the trade's value.
                let v = [received, sent]
                    .into_iter()
                    .find(|a| a.asset == LOCAL_CURRENCY)
                    .map(|a| a.amount)
                    .or_else(|| p.trade_value());
                row("Trade", Some(received), Some(sent), fee, [v, v]);
            }
            Shape::In { received, fee } => {
                let v = [p.worth(received), None];
                row(
                    kind_type(leg.kind, true, derivative),
                    Some(received),
                    None,
                    fee,
                    v,
                );
            }
            Shape::Out { sent, fee } => {
                let v = [None, p.worth(sent)];
                row(kind_type(leg.kind, false, derivative), None, Some(sent), fee, v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::testdata::*;

    #[test]
    fn header() {
        assert_eq!(
            super::FILES[0].header.join(","),
            "Type,Buy Quantity,Buy Asset,Buy Value in GBP,Sell Quantity,Sell Asset,Sell Value in GBP,Fee Quantity,Fee Asset,Fee Value in GBP,Wallet,Timestamp,Note,Row ID"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::BittyTax,
            [
                &["Trade,0.02,BTC,,1900,USDT,,0.00002,BTC,,OKX,2025-01-02T03:04:05.678Z,tb-1001,tb-1001"],
                &["Trade,480,USDT,,0.005,BTC,,0.48,USDT,,OKX,2025-01-03T10:00:00.000Z,tb-1003,tb-1003"],
                &["Deposit,2000,USDT,,,,,,,,OKX,2025-01-01T00:00:00.000Z,fb-2001,fb-2001"],
                &["Withdrawal,,,,0.004,BTC,,0.0001,BTC,,OKX,2025-01-05T12:00:00.000Z,fb-2002,fb-2002"],
                &["Staking,0.0123,ETH,,,,,,,,OKX,2025-01-06T00:00:00.000Z,fb-2003,fb-2003"],
                &["Margin-Fee,,,,0.25,USDT,,,,,OKX,2025-01-07T08:00:00.000Z,BTC-USDT-SWAP,tb-1005"],
                &["Margin-Loss,,,,12.5,USDT,,,,,OKX,2025-01-08T09:00:00.000Z,BTC-USDT-SWAP,tb-1006:pnl"],
                &["Margin-Gain,30.75,USDT,,,,,,,,OKX,2025-01-09T09:00:00.000Z,BTC-USDT-SWAP,tb-1007:pnl"],
                &["Fee-Rebate,0.0102,USDT,,,,,,,,OKX,2025-01-10T00:00:00.000Z,tb-1008:rebate,tb-1008:rebate"],
                &["Spend,,,,0.1,OKB,,,,,OKX,2025-01-12T00:00:00.000Z,tb-1010:fee,tb-1010:fee"],
            ],
        );
    }

    #[test]
    fn derivative_rebate_goes_to_the_margin_report() {
        let mut t = rebate();
        t.instrument = Some("ETH-USDT-SWAP".into());
        assert_eq!(
            lines(Format::BittyTax, &t).unwrap(),
            [
                "Margin-Fee-Rebate,0.0102,USDT,,,,,,,,OKX,2025-01-10T00:00:00.000Z,ETH-USDT-SWAP,tb-1008:rebate"
            ]
        );
    }

    /// Issue 11: GBP values in the three value columns with `--fiat GBP`; none otherwise.
    #[test]
    fn gbp_values() {
        let l = |tx: &crate::model::Transaction| valued_lines(Format::BittyTax, tx, "GBP").unwrap();
        assert_eq!(
            l(&buy()),
            [
                "Trade,0.02,BTC,1520,1900,USDT,1520,0.00002,BTC,1.52,OKX,2025-01-02T03:04:05.678Z,tb-1001,tb-1001"
            ]
        );
        // A transfer carries only the fee's value.
        assert_eq!(
            l(&withdrawal()),
            ["Withdrawal,,,,0.004,BTC,,0.0001,BTC,7.6,OKX,2025-01-05T12:00:00.000Z,fb-2002,fb-2002"]
        );
        assert_eq!(
            l(&staking_reward()),
            ["Staking,0.0123,ETH,33.456,,,,,,,OKX,2025-01-06T00:00:00.000Z,fb-2003,fb-2003"]
        );
        assert_eq!(
            l(&pnl_loss()),
            ["Margin-Loss,,,,12.5,USDT,10,,,,OKX,2025-01-08T09:00:00.000Z,BTC-USDT-SWAP,tb-1006:pnl"]
        );
        // A GBP leg fixes the trade's value, and a GBP cell's value is its quantity.
        let mut t = sell();
        t.received = Some(crate::model::Amount::new(dec("380.123"), "GBP"));
        t.fee = Some(crate::model::Amount::new(dec("0.381"), "GBP"));
        assert_eq!(
            l(&t),
            [
                "Trade,380.123,GBP,380.123,0.005,BTC,380.123,0.381,GBP,0.381,OKX,2025-01-03T10:00:00.000Z,tb-1003,tb-1003"
            ]
        );
        // In USD the value columns stay empty (BittyTax reads GBP only).
        assert_eq!(
            valued_lines(Format::BittyTax, &buy(), "USD").unwrap(),
            lines(Format::BittyTax, &buy()).unwrap()
        );
    }
}
