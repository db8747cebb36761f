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
//!   TxHash = on-chain hash, else the row id (CoinLedger's only id column; two fills that
//!   differ only in Description must not look like duplicates).
//! * Type is mandatory for one-sided rows. CoinLedger's current template has no derivatives
//!   or fee type (help 6028758: trades, income deposits, payments, gifts, theft/scam
//!   losses; its margin article 9505113 only covers leveraged spot buys and sells, entered
//!   as trades). Decision: the whole derivatives result uses the two types that record a
//!   gain or a loss without a disposal of the settlement coin at market value: gains are
//!   `Income`; losses, trading fees on SWAP/FUTURES/OPTION instruments and paid funding are
//!   `Investment Loss` (not `Merchant Payment`, which is a disposal). Spot standalone fees
//!   stay `Merchant Payment` (paying the exchange is spending the coin).
//! * Maker rebates: no fee-refund type. A spot fill's rebate is netted into the fill
//!   (`Combine::net_rebates`); a rebate with no fill next to it is a `Deposit` (untaxed
//!   inflow; CoinLedger may ask for its cost basis), on a derivative `Income` (it lowers the
//!   derivatives fees).
//!
//! | kind                      | received          | sent               |
//! |---------------------------|-------------------|--------------------|
//! | trade                     | `Trade` (both sides)                   ||
//! | deposit / withdrawal, one-sided spot trade | `Deposit` | `Withdrawal` |
//! | staking_reward            | `Staking`         | `Merchant Payment` |
//! | earn_interest             | `Interest`        | `Merchant Payment` |
//! | airdrop                   | `Airdrop`         | `Merchant Payment` |
//! | referral_reward, other_income | `Income`      | `Merchant Payment` |
//! | rebate                    | netted into its fill; else `Deposit` (`Income` on a derivative) | `Merchant Payment` |
//! | fee (incl. fee-only rows) | `Deposit` (`Income` on a derivative) | `Merchant Payment` (`Investment Loss` on a derivative) |
//! | funding_fee               | `Income`          | `Investment Loss`  |
//! | interest_paid             | `Income`          | `Interest Payment` |
//! | realized_pnl, liquidation | `Income`          | `Investment Loss`  |
//! | transfer, unclassified    | skipped                                ||
//! * No value column: the template has none (§3, §13), so no fiat values are written;
//!   CoinLedger prices rows itself.

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape, is_derivative, leg_id};
use crate::model::{Amount, Kind};
use std::borrow::Cow;

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

fn kind_type(kind: Kind, incoming: bool, derivative: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        (Rebate | Fee, true) if derivative => "Income",
        (Fee, false) if derivative => "Investment Loss",
        (Rebate | Fee, true) => "Deposit",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, true) => "Deposit",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, false) => "Withdrawal",
        (StakingReward, true) => "Staking",
        (EarnInterest, true) => "Interest",
        (Airdrop, true) => "Airdrop",
        (ReferralReward | OtherIncome | InterestPaid | FundingFee | RealizedPnl | Liquidation, true) => {
            "Income"
        }
        (InterestPaid, false) => "Interest Payment",
        (FundingFee | RealizedPnl | Liquidation, false) => "Investment Loss",
        (Fee | Rebate | StakingReward | EarnInterest | Airdrop | ReferralReward | OtherIncome, false) => {
            "Merchant Payment"
        }
    }
}

pub(crate) fn encode(p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let derivative = is_derivative(tx.instrument.as_deref());
    let mut i = 0;
    let mut row = |ty: &str, sent: Option<&Amount>, received: Option<&Amount>, fee: Option<&Amount>| {
        out.row(0)
            .s(&p.date.mdy_hms)
            .s(&opts.wallet_name)
            .asset_amt(sent)
            .asset_amt(received)
            .asset_amt(fee)
            .s(ty)
            .s(p.describe)
            .s(&match &tx.tx_hash {
                Some(h) => Cow::Borrowed(h.as_str()),
                None => leg_id(tx, i),
            })
            .end();
        i += 1;
    };
    for leg in p.legs()? {
        match leg.shape {
            Shape::Trade { sent, received, fee } => row("Trade", Some(sent), Some(received), fee),
            Shape::In { received, fee } => {
                row(kind_type(leg.kind, true, derivative), None, Some(received), fee);
            }
            Shape::Out { sent, fee } => row(kind_type(leg.kind, false, derivative), Some(sent), None, fee),
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
                &[
                    "01/02/2025 03:04:05,OKX,USDT,1900,BTC,0.02,BTC,0.00002,Trade,trade BTC-USDT tb-1001,tb-1001",
                ],
                &[
                    "01/03/2025 10:00:00,OKX,BTC,0.005,USDT,480,USDT,0.48,Trade,trade BTC-USDT tb-1003,tb-1003",
                ],
                &["01/01/2025 00:00:00,OKX,,,USDT,2000,,,Deposit,deposit fb-2001,0xdep"],
                &["01/05/2025 12:00:00,OKX,BTC,0.004,,,BTC,0.0001,Withdrawal,withdrawal fb-2002,0xwd"],
                &["01/06/2025 00:00:00,OKX,,,ETH,0.0123,,,Staking,staking_reward fb-2003,fb-2003"],
                &[
                    "01/07/2025 08:00:00,OKX,USDT,0.25,,,,,Investment Loss,funding_fee BTC-USDT-SWAP tb-1005,tb-1005",
                ],
                &[
                    "01/08/2025 09:00:00,OKX,USDT,12.5,,,,,Investment Loss,realized_pnl BTC-USDT-SWAP tb-1006:pnl,tb-1006:pnl",
                ],
                &[
                    "01/09/2025 09:00:00,OKX,,,USDT,30.75,,,Income,realized_pnl BTC-USDT-SWAP tb-1007:pnl,tb-1007:pnl",
                ],
                &[
                    "01/10/2025 00:00:00,OKX,,,USDT,0.0102,,,Deposit,rebate BTC-USDT tb-1008:rebate,tb-1008:rebate",
                ],
                &["01/12/2025 00:00:00,OKX,OKB,0.1,,,,,Merchant Payment,fee tb-1010:fee,tb-1010:fee"],
            ],
        );
    }
}
