//! `coinledger.csv`: CoinLedger "Universal Manual Import Template" (tax-formats.md §3, §10).
//!
//! * Header: `Date (UTC),Platform (Optional),Asset Sent,Amount Sent,Asset Received,
//!   Amount Received,Fee Currency (Optional),Fee Amount (Optional),Type,
//!   Description (Optional),TxHash (Optional)`. Decision: the "(Optional)" variant, which §3
//!   recommends (CoinLedger fingerprints the header; the bare names were reported rejected).
//! * Date: `MM/DD/YYYY HH:MM:SS`, UTC (ISO 8601 is not accepted).
//! * Empty cells stay empty (CoinLedger rejects `0`, `N/A`, `-`); amounts carry no sign.
//! * Fees: the Fee columns are filled "only when the fee is not already netted into the
//!   amounts" (§3), i.e. the fee is an extra outflow. Our amounts are never netted (received
//!   is gross, sent excludes the fee), so the fee goes in the Fee columns as is.
//! * Platform = `ExportOptions::wallet_name`; Description = `<kind> [<instrument>] <id>`;
//!   TxHash = on-chain hash.
//! * Type is mandatory for one-sided rows. CoinLedger has no derivatives or fee type in the
//!   list we could read, so Decision (marked `?` in §10): derivative gains are `Income`,
//!   losses and paid funding are `Investment Loss`, standalone fees `Merchant Payment`.
//!
//! | kind                      | received          | sent               |
//! |---------------------------|-------------------|--------------------|
//! | trade                     | `Trade` (both sides)                   ||
//! | deposit / withdrawal, one-sided spot trade | `Deposit` | `Withdrawal` |
//! | staking_reward            | `Staking`         | `Merchant Payment` |
//! | earn_interest             | `Interest`        | `Merchant Payment` |
//! | airdrop                   | `Airdrop`         | `Merchant Payment` |
//! | referral_reward, other_income, rebate | `Income` | `Merchant Payment` |
//! | fee (incl. fee-only rows) | `Income`          | `Merchant Payment` |
//! | funding_fee               | `Income`          | `Investment Loss`  |
//! | interest_paid             | `Income`          | `Interest Payment` |
//! | realized_pnl, liquidation | `Income`          | `Investment Loss`  |
//! | transfer, unclassified    | skipped                                ||

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape};
use crate::model::{Amount, Kind};

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "coinledger.csv",
    header: &[
        "Date (UTC)",
        "Platform (Optional)",
        "Asset Sent",
        "Amount Sent",
        "Asset Received",
        "Amount Received",
        "Fee Currency (Optional)",
        "Fee Amount (Optional)",
        "Type",
        "Description (Optional)",
        "TxHash (Optional)",
    ],
}];

fn kind_type(kind: Kind, incoming: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, true) => "Deposit",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, false) => "Withdrawal",
        (StakingReward, true) => "Staking",
        (EarnInterest, true) => "Interest",
        (Airdrop, true) => "Airdrop",
        (
            ReferralReward | OtherIncome | Rebate | Fee | InterestPaid | FundingFee | RealizedPnl
            | Liquidation,
            true,
        ) => "Income",
        (InterestPaid, false) => "Interest Payment",
        (FundingFee | RealizedPnl | Liquidation, false) => "Investment Loss",
        (Fee | Rebate | StakingReward | EarnInterest | Airdrop | ReferralReward | OtherIncome, false) => {
            "Merchant Payment"
        }
    }
}

pub(crate) fn encode(p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let mut row = |ty: &str, sent: Option<&Amount>, received: Option<&Amount>, fee: Option<&Amount>| {
        out.row(0)
            .s(&p.date.mdy_hms)
            .s(&opts.wallet_name)
            .asset_amt(sent)
            .asset_amt(received)
            .asset_amt(fee)
            .s(ty)
            .s(p.describe)
            .opt(tx.tx_hash.as_deref())
            .end()
    };
    for leg in p.legs()? {
        match leg.shape {
            Shape::Trade { sent, received, fee } => row("Trade", Some(sent), Some(received), fee),
            Shape::In { received, fee } => row(kind_type(leg.kind, true), None, Some(received), fee),
            Shape::Out { sent, fee } => row(kind_type(leg.kind, false), Some(sent), None, fee),
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
            "Date (UTC),Platform (Optional),Asset Sent,Amount Sent,Asset Received,Amount Received,Fee Currency (Optional),Fee Amount (Optional),Type,Description (Optional),TxHash (Optional)"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::CoinLedger,
            [
                &["01/02/2025 03:04:05,OKX,USDT,1900,BTC,0.02,BTC,0.00002,Trade,trade BTC-USDT tb-1001,"],
                &["01/03/2025 10:00:00,OKX,BTC,0.005,USDT,480,USDT,0.48,Trade,trade BTC-USDT tb-1003,"],
                &["01/01/2025 00:00:00,OKX,,,USDT,2000,,,Deposit,deposit fb-2001,0xdep"],
                &["01/05/2025 12:00:00,OKX,BTC,0.004,,,BTC,0.0001,Withdrawal,withdrawal fb-2002,0xwd"],
                &["01/06/2025 00:00:00,OKX,,,ETH,0.0123,,,Staking,staking_reward fb-2003,"],
                &["01/07/2025 08:00:00,OKX,USDT,0.25,,,,,Investment Loss,funding_fee BTC-USDT-SWAP tb-1005,"],
                &[
                    "01/08/2025 09:00:00,OKX,USDT,12.5,,,,,Investment Loss,realized_pnl BTC-USDT-SWAP tb-1006:pnl,",
                ],
                &["01/09/2025 09:00:00,OKX,,,USDT,30.75,,,Income,realized_pnl BTC-USDT-SWAP tb-1007:pnl,"],
                &["01/10/2025 00:00:00,OKX,,,USDT,0.0102,,,Income,rebate BTC-USDT tb-1008:rebate,"],
                &["01/12/2025 00:00:00,OKX,OKB,0.1,,,,,Merchant Payment,fee tb-1010:fee,"],
            ],
        );
    }
}
