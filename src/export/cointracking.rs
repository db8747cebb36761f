//! `cointracking.csv`: CoinTracking CSV import (tax-formats.md §2, §10).
//!
//! * Header: the 11 required columns `Type,Buy Amount,Buy Currency,Sell Amount,Sell Currency,
//!   Fee,Fee Currency,Exchange,Trade-Group,Comment,Date`, plus the optional `Tx-ID`,
//!   `Buy Value in Account Currency`, `Sell Value in Account Currency` (§2, §13). `Tx-ID` =
//!   our row id, which is stable across re-exports and is what CoinTracking uses to drop
//!   duplicates.
//! * Values (issue 11): totals, not unit prices, in the export's fiat, which must be the
//!   CoinTracking account currency (run with `--fiat` set to it): a trade's value in both
//!   cells, otherwise the written amount × unit price in its own side's cell
//!   (`values.rs`). Empty without a price (CoinTracking then prices the row itself).
//! * Date: `YYYY-MM-DD HH:MM:SS` in UTC; the user picks that format and UTC in the import
//!   wizard (the wizard maps columns, so header spelling is low-risk).
//! * Fees: CoinTracking does *not* deduct the Fee column. Its help page "Entering fees"
//!   (cointracking.freshdesk.com/en/support/solutions/articles/29000007202) says fees in the
//!   trade's currencies are already included in the buy/sell values and the fee field is
//!   mainly informational: "Buy 1 BTC for 500 USD with a 0.01 BTC fee → Buy = 0.99 BTC";
//!   "Withdrawal = 1.001 BTC … Fee = 0.001 BTC". (tax-formats.md §2 took the opposite rule
//!   from cryptotax.io, another product; §13 corrects it.) So the amounts are what actually
//!   moved: a fee in the bought coin is taken off Buy (0.02 BTC gross − 0.00002 BTC fee →
//!   Buy 0.01998), a fee in the sold coin is added to Sell (a withdrawal of 0.004 BTC +
//!   0.0001 BTC fee → Sell 0.0041), and the Fee columns repeat the fee for information. A fee
//!   in a third coin (OKB) is not part of either amount, so it is a row of its own (`Other
//!   Fee`, or `Margin Fee` on a derivative) and the trade row carries no fee.
//! * Maker rebates: CoinTracking has no fee-refund type. A spot fill's rebate is netted into
//!   the fill (`Combine::net_rebates`: the Buy grows by it); a rebate with no fill next to
//!   it (OKX's periodic funding-account payouts) is `Income (non taxable)` ("received
//!   airdrops or similar not counted as taxable", Transaction Types, article 29000042783),
//!   not `Reward / Bonus`, which is income; on a derivative it is a futures profit.
//! * Derivatives: trading fees on SWAP/FUTURES/OPTION instruments and paid funding are
//!   `Margin Fee` (the margin/derivatives section of Transaction Types; "Fees from margin,
//!   derivatives and futures trading", article 29000049593), so they count against the
//!   derivatives result instead of being a plain `Other Fee`.
//! * Exchange = `ExportOptions::wallet_name`; Trade-Group = the OKX account (`trading`,
//!   `funding`, `earn`); Comment = `<kind> [<instrument>] <id>` and the tx hash if any.
//!
//! | kind                      | in (Buy columns)                  | out (Sell columns)            |
//! |---------------------------|-----------------------------------|-------------------------------|
//! | trade                     | `Trade` (both sides)                                             ||
//! | deposit / withdrawal, one-sided spot trade | `Deposit`        | `Withdrawal`                  |
//! | staking_reward            | `Staking`                         | `Other Fee`                   |
//! | earn_interest             | `Interest Income`                 | `Other Fee`                   |
//! | airdrop                   | `Airdrop`                         | `Other Fee`                   |
//! | referral_reward           | `Reward / Bonus`                  | `Other Fee`                   |
//! | rebate                    | netted into its fill; else `Income (non taxable)` (`Derivatives / Futures Profit` on a derivative) | `Other Fee` |
//! | other_income              | `Other Income`                    | `Other Fee`                   |
//! | fee (incl. fee-only rows) | `Income (non taxable)`            | `Other Fee` (`Margin Fee` on a derivative) |
//! | funding_fee               | profit (below)                    | `Margin Fee`                  |
//! | interest_paid             | `Reward / Bonus`                  | `Borrowing Fee`               |
//! | realized_pnl, liquidation | `Derivatives / Futures Profit` (`Margin Profit` for a spot-margin pair) | `Derivatives / Futures Loss` (`Margin Loss`) |
//! | transfer, unclassified    | skipped                                                          ||

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape, fold_fee, is_derivative, leg_id};
use crate::model::{Amount, Kind};
use rust_decimal::Decimal;

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "cointracking.csv",
    header: &[
        "Type",
        "Buy Amount",
        "Buy Currency",
        "Sell Amount",
        "Sell Currency",
        "Fee",
        "Fee Currency",
        "Exchange",
        "Trade-Group",
        "Comment",
        "Date",
        "Tx-ID",
        "Buy Value in Account Currency",
        "Sell Value in Account Currency",
    ],
}];

fn kind_type(kind: Kind, incoming: bool, derivative: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, true) => "Deposit",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, false) => "Withdrawal",
        (StakingReward, true) => "Staking",
        (EarnInterest, true) => "Interest Income",
        (Airdrop, true) => "Airdrop",
        (Rebate | Fee, true) if derivative => "Derivatives / Futures Profit",
        (Rebate | Fee | InterestPaid, true) => "Income (non taxable)",
        (ReferralReward, true) => "Reward / Bonus",
        (Fee, false) if derivative => "Margin Fee",
        (OtherIncome, true) => "Other Income",
        (FundingFee | RealizedPnl | Liquidation, true) if derivative => "Derivatives / Futures Profit",
        (FundingFee | RealizedPnl | Liquidation, true) => "Margin Profit",
        (FundingFee, false) => "Margin Fee",
        (InterestPaid, false) => "Borrowing Fee",
        (RealizedPnl | Liquidation, false) if derivative => "Derivatives / Futures Loss",
        (RealizedPnl | Liquidation, false) => "Margin Loss",
        (Fee | Rebate | StakingReward | EarnInterest | Airdrop | ReferralReward | OtherIncome, false) => {
            "Other Fee"
        }
    }
}

pub(crate) fn encode(p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let derivative = is_derivative(tx.instrument.as_deref());
    let fee_type = kind_type(Kind::Fee, false, derivative);
    let mut i = 0;
    let mut row = |ty: &str,
                   buy: Option<&Amount>,
                   sell: Option<&Amount>,
                   fee: Option<&Amount>,
                   [buy_value, sell_value]: [Option<Decimal>; 2]| {
        out.row(0)
            .s(ty)
            .amt_asset(buy)
            .amt_asset(sell)
            .amt_asset(fee)
            .s(&opts.wallet_name)
            .s(tx.account.as_str())
            .s(p.describe_with_hash)
            .s(&p.date.ymd_hms)
            .s(&leg_id(tx, i))
            .opt_amt(buy_value)
            .opt_amt(sell_value)
            .end();
        i += 1;
    };
    for leg in p.legs()? {
        // The fee is informational: a fee in the row's own coin is folded into the amount
        // (and shown), a fee in a third coin is its own outgoing row.
        let fee_row = |f: &Amount| [None, p.worth(f)];
        match leg.shape {
            Shape::Trade { sent, received, fee } => {
                let v = p.trade_value();
                if let Some(b) = fold_fee(received, fee, false) {
                    row("Trade", Some(&b), Some(sent), fee, [v, v]);
                } else if let Some(s) = fold_fee(sent, fee, true) {
                    row("Trade", Some(received), Some(&s), fee, [v, v]);
                } else {
                    row("Trade", Some(received), Some(sent), None, [v, v]);
                    if let Some(f) = fee {
                        row(fee_type, None, Some(f), None, fee_row(f));
                    }
                }
            }
            Shape::In { received, fee } => {
                let ty = kind_type(leg.kind, true, derivative);
                if let Some(b) = fold_fee(received, fee, false) {
                    row(ty, Some(&b), None, fee, [p.worth(&b), None]);
                } else {
                    row(ty, Some(received), None, None, [p.worth(received), None]);
                    if let Some(f) = fee {
                        row(fee_type, None, Some(f), None, fee_row(f));
                    }
                }
            }
            Shape::Out { sent, fee } => {
                let ty = kind_type(leg.kind, false, derivative);
                if let Some(s) = fold_fee(sent, fee, true) {
                    row(ty, None, Some(&s), fee, [None, p.worth(&s)]);
                } else {
                    row(ty, None, Some(sent), None, [None, p.worth(sent)]);
                    if let Some(f) = fee {
                        row(fee_type, None, Some(f), None, fee_row(f));
                    }
                }
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
            "Type,Buy Amount,Buy Currency,Sell Amount,Sell Currency,Fee,Fee Currency,Exchange,Trade-Group,Comment,Date,Tx-ID,Buy Value in Account Currency,Sell Value in Account Currency"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::CoinTracking,
            [
                &[
                    "Trade,0.01998,BTC,1900,USDT,0.00002,BTC,OKX,trading,trade BTC-USDT tb-1001,2025-01-02 03:04:05,tb-1001,,",
                ],
                &[
                    "Trade,479.52,USDT,0.005,BTC,0.48,USDT,OKX,trading,trade BTC-USDT tb-1003,2025-01-03 10:00:00,tb-1003,,",
                ],
                &["Deposit,2000,USDT,,,,,OKX,funding,deposit fb-2001 tx 0xdep,2025-01-01 00:00:00,fb-2001,,"],
                &[
                    "Withdrawal,,,0.0041,BTC,0.0001,BTC,OKX,funding,withdrawal fb-2002 tx 0xwd,2025-01-05 12:00:00,fb-2002,,",
                ],
                &["Staking,0.0123,ETH,,,,,OKX,earn,staking_reward fb-2003,2025-01-06 00:00:00,fb-2003,,"],
                &[
                    "Margin Fee,,,0.25,USDT,,,OKX,trading,funding_fee BTC-USDT-SWAP tb-1005,2025-01-07 08:00:00,tb-1005,,",
                ],
                &[
                    "Derivatives / Futures Loss,,,12.5,USDT,,,OKX,trading,realized_pnl BTC-USDT-SWAP tb-1006:pnl,2025-01-08 09:00:00,tb-1006:pnl,,",
                ],
                &[
                    "Derivatives / Futures Profit,30.75,USDT,,,,,OKX,trading,realized_pnl BTC-USDT-SWAP tb-1007:pnl,2025-01-09 09:00:00,tb-1007:pnl,,",
                ],
                &[
                    "Income (non taxable),0.0102,USDT,,,,,OKX,trading,rebate BTC-USDT tb-1008:rebate,2025-01-10 00:00:00,tb-1008:rebate,,",
                ],
                &["Other Fee,,,0.1,OKB,,,OKX,trading,fee tb-1010:fee,2025-01-12 00:00:00,tb-1010:fee,,"],
            ],
        );
    }

    #[test]
    fn margin_pair_pnl_is_margin_profit() {
        let mut t = pnl_gain();
        t.instrument = Some("BTC-USDT".into());
        assert!(lines(Format::CoinTracking, &t).unwrap()[0].starts_with("Margin Profit,30.75,USDT,"));
    }

    /// Issue 11: Buy / Sell Value are totals: a trade's value in both, else the amount's.
    #[test]
    fn values() {
        let l = |tx: &crate::model::Transaction| valued_lines(Format::CoinTracking, tx, "USD").unwrap();
        assert_eq!(
            l(&buy()),
            [
                "Trade,0.01998,BTC,1900,USDT,0.00002,BTC,OKX,trading,trade BTC-USDT tb-1001,2025-01-02 03:04:05,tb-1001,1900,1900"
            ]
        );
        assert_eq!(
            l(&withdrawal()),
            [
                "Withdrawal,,,0.0041,BTC,0.0001,BTC,OKX,funding,withdrawal fb-2002 tx 0xwd,2025-01-05 12:00:00,fb-2002,,389.5"
            ]
        );
        assert_eq!(
            l(&staking_reward()),
            ["Staking,0.0123,ETH,,,,,OKX,earn,staking_reward fb-2003,2025-01-06 00:00:00,fb-2003,41.82,"]
        );
        assert_eq!(
            l(&fee_only_okb()),
            ["Other Fee,,,0.1,OKB,,,OKX,trading,fee tb-1010:fee,2025-01-12 00:00:00,tb-1010:fee,,5"]
        );
    }
}
