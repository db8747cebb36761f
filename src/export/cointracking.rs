//! `cointracking.csv`: CoinTracking CSV import (tax-formats.md §2, §10).
//!
//! * Header: the 11 required columns `Type,Buy Amount,Buy Currency,Sell Amount,Sell Currency,
//!   Fee,Fee Currency,Exchange,Trade-Group,Comment,Date`, plus the optional `Tx-ID`.
//!   Decision: no `Buy/Sell Value` columns (we have no prices); `Tx-ID` = our row id, which
//!   is stable across re-exports and is what CoinTracking uses to drop duplicates.
//! * Date: `YYYY-MM-DD HH:MM:SS` in UTC; the user picks that format and UTC in the import
//!   wizard (the wizard maps columns, so header spelling is low-risk).
//! * Fees: Fee / Fee Currency on the same row, as an extra outflow: the Sell Amount excludes a
//!   fee paid in the sold coin (§2), and, by the same rule, the Buy Amount is the gross fill
//!   when the fee is paid in the bought coin. That is our model as is.
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
//! | referral_reward, rebate   | `Reward / Bonus`                  | `Other Fee`                   |
//! | other_income              | `Other Income`                    | `Other Fee`                   |
//! | fee (incl. fee-only rows) | `Reward / Bonus`                  | `Other Fee`                   |
//! | funding_fee               | profit (below)                    | `Margin Fee`                  |
//! | interest_paid             | `Reward / Bonus`                  | `Borrowing Fee`               |
//! | realized_pnl, liquidation | `Derivatives / Futures Profit` (`Margin Profit` for a spot-margin pair) | `Derivatives / Futures Loss` (`Margin Loss`) |
//! | transfer, unclassified    | skipped                                                          ||

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape, is_derivative, leg_id};
use crate::model::{Amount, Kind};

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
        (ReferralReward | Rebate | Fee | InterestPaid, true) => "Reward / Bonus",
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
    let mut row = |i: usize, ty: &str, buy: Option<&Amount>, sell: Option<&Amount>, fee: Option<&Amount>| {
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
            .end()
    };
    for (i, leg) in p.legs()?.iter().enumerate() {
        match leg.shape {
            Shape::Trade { sent, received, fee } => row(i, "Trade", Some(received), Some(sent), fee),
            Shape::In { received, fee } => row(
                i,
                kind_type(leg.kind, true, derivative),
                Some(received),
                None,
                fee,
            ),
            Shape::Out { sent, fee } => row(i, kind_type(leg.kind, false, derivative), None, Some(sent), fee),
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
            "Type,Buy Amount,Buy Currency,Sell Amount,Sell Currency,Fee,Fee Currency,Exchange,Trade-Group,Comment,Date,Tx-ID"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::CoinTracking,
            [
                &[
                    "Trade,0.02,BTC,1900,USDT,0.00002,BTC,OKX,trading,trade BTC-USDT tb-1001,2025-01-02 03:04:05,tb-1001",
                ],
                &[
                    "Trade,480,USDT,0.005,BTC,0.48,USDT,OKX,trading,trade BTC-USDT tb-1003,2025-01-03 10:00:00,tb-1003",
                ],
                &["Deposit,2000,USDT,,,,,OKX,funding,deposit fb-2001 tx 0xdep,2025-01-01 00:00:00,fb-2001"],
                &[
                    "Withdrawal,,,0.004,BTC,0.0001,BTC,OKX,funding,withdrawal fb-2002 tx 0xwd,2025-01-05 12:00:00,fb-2002",
                ],
                &["Staking,0.0123,ETH,,,,,OKX,earn,staking_reward fb-2003,2025-01-06 00:00:00,fb-2003"],
                &[
                    "Margin Fee,,,0.25,USDT,,,OKX,trading,funding_fee BTC-USDT-SWAP tb-1005,2025-01-07 08:00:00,tb-1005",
                ],
                &[
                    "Derivatives / Futures Loss,,,12.5,USDT,,,OKX,trading,realized_pnl BTC-USDT-SWAP tb-1006:pnl,2025-01-08 09:00:00,tb-1006:pnl",
                ],
                &[
                    "Derivatives / Futures Profit,30.75,USDT,,,,,OKX,trading,realized_pnl BTC-USDT-SWAP tb-1007:pnl,2025-01-09 09:00:00,tb-1007:pnl",
                ],
                &[
                    "Reward / Bonus,0.0102,USDT,,,,,OKX,trading,rebate BTC-USDT tb-1008:rebate,2025-01-10 00:00:00,tb-1008:rebate",
                ],
                &["Other Fee,,,0.1,OKB,,,OKX,trading,fee tb-1010:fee,2025-01-12 00:00:00,tb-1010:fee"],
            ],
        );
    }

    #[test]
    fn margin_pair_pnl_is_margin_profit() {
        let mut t = pnl_gain();
        t.instrument = Some("BTC-USDT".into());
        assert!(lines(Format::CoinTracking, &t).unwrap()[0].starts_with("Margin Profit,30.75,USDT,"));
    }
}
