//! `koinly.csv`: Koinly "Universal" manual import template (tax-formats.md §1a, §1d, §10).
//!
//! * Header: `Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,
//!   Fee Currency,Net Worth Amount,Net Worth Currency,Label,Description,TxHash`.
//!   Decision: `Label` (not the newer `Tag`): nearly every exporter writes it and Koinly's own
//!   parser accepts both (§1a).
//! * Date: `YYYY-MM-DD HH:MM:SS UTC`, always UTC. Decision: the explicit ` UTC` suffix, as in
//!   Koinly's Simple template and many exporters, so Koinly cannot read the time as local.
//! * Fees: the fee is an extra outflow on top of the amounts (§1a), which is exactly our model:
//!   a buy with the fee in the bought coin writes Received = gross fill + Fee; a sell with the
//!   fee in the quote coin writes Received = gross proceeds + Fee; a withdrawal writes Sent =
//!   amount that left (net) + Fee. A deposit/income row cannot carry a fee in Koinly's model
//!   (§1d), so such a fee becomes a second row: Sent = fee, Label `cost`.
//! * Net Worth columns stay empty (Koinly prices rows itself). TxHash = on-chain hash only
//!   (Koinly uses it to match transfers); the row id is in Description.
//!
//! | kind                          | received (in)      | sent (out)    |
//! |-------------------------------|--------------------|---------------|
//! | trade                         | both sides, no label              ||
//! | deposit / withdrawal, one-sided spot trade | (none) | (none)     |
//! | staking_reward, referral_reward | `reward`         | `cost`        |
//! | earn_interest                 | `lending interest` | `cost`        |
//! | airdrop                       | `airdrop`          | `cost`        |
//! | other_income                  | `income`           | `cost`        |
//! | rebate                        | `fee refund`       | `cost`        |
//! | fee (standalone, incl. fee-only rows) | `fee refund` | `cost`      |
//! | funding_fee                   | `realized gain`    | `margin fee`  |
//! | interest_paid                 | `fee refund`       | `loan fee`    |
//! | realized_pnl, liquidation     | `realized gain`    | `realized gain` (a loss) |
//! | transfer, unclassified        | skipped                           ||

use super::{CsvFile, Encoded, Prep, Records, Shape};
use crate::model::{Amount, Kind};

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "koinly.csv",
    header: &[
        "Date",
        "Sent Amount",
        "Sent Currency",
        "Received Amount",
        "Received Currency",
        "Fee Amount",
        "Fee Currency",
        "Net Worth Amount",
        "Net Worth Currency",
        "Label",
        "Description",
        "TxHash",
    ],
}];

fn label(kind: Kind, incoming: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, _) => "",
        (StakingReward | ReferralReward, true) => "reward",
        (EarnInterest, true) => "lending interest",
        (Airdrop, true) => "airdrop",
        (OtherIncome, true) => "income",
        (Rebate | Fee | InterestPaid, true) => "fee refund",
        (FundingFee | RealizedPnl | Liquidation, true) => "realized gain",
        // Koinly: `realized gain` on a withdrawal records a derivatives loss.
        (RealizedPnl | Liquidation, false) => "realized gain",
        (FundingFee, false) => "margin fee",
        (InterestPaid, false) => "loan fee",
        (Fee | Rebate | StakingReward | ReferralReward | EarnInterest | Airdrop | OtherIncome, false) => {
            "cost"
        }
    }
}

pub(crate) fn encode(p: &Prep, _opts: &super::ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let mut row =
        |sent: Option<&Amount>, received: Option<&Amount>, fee: Option<&Amount>, label: &str, hash: bool| {
            out.row(0)
                .s(&p.date.ymd_hms_utc)
                .amt_asset(sent)
                .amt_asset(received)
                .amt_asset(fee)
                .empty(2)
                .s(label)
                .s(p.describe)
                .opt(tx.tx_hash.as_deref().filter(|_| hash))
                .end()
        };
    for leg in p.legs()? {
        match leg.shape {
            Shape::Trade { sent, received, fee } => row(Some(sent), Some(received), fee, "", true),
            Shape::In { received, fee } => {
                row(None, Some(received), None, label(leg.kind, true), true);
                if let Some(fee) = fee {
                    // No TxHash: Koinly must not take it for a duplicate of the deposit.
                    row(Some(fee), None, None, "cost", false);
                }
            }
            Shape::Out { sent, fee } => row(Some(sent), None, fee, label(leg.kind, false), true),
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
            "Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,Fee Currency,Net Worth Amount,Net Worth Currency,Label,Description,TxHash"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::Koinly,
            [
                // Received = gross 0.02 BTC; Koinly subtracts the 0.00002 BTC fee itself.
                &["2025-01-02 03:04:05 UTC,1900,USDT,0.02,BTC,0.00002,BTC,,,,trade BTC-USDT tb-1001,"],
                &["2025-01-03 10:00:00 UTC,0.005,BTC,480,USDT,0.48,USDT,,,,trade BTC-USDT tb-1003,"],
                &["2025-01-01 00:00:00 UTC,,,2000,USDT,,,,,,deposit fb-2001,0xdep"],
                &["2025-01-05 12:00:00 UTC,0.004,BTC,,,0.0001,BTC,,,,withdrawal fb-2002,0xwd"],
                &["2025-01-06 00:00:00 UTC,,,0.0123,ETH,,,,,reward,staking_reward fb-2003,"],
                &["2025-01-07 08:00:00 UTC,0.25,USDT,,,,,,,margin fee,funding_fee BTC-USDT-SWAP tb-1005,"],
                &[
                    "2025-01-08 09:00:00 UTC,12.5,USDT,,,,,,,realized gain,realized_pnl BTC-USDT-SWAP tb-1006:pnl,",
                ],
                &[
                    "2025-01-09 09:00:00 UTC,,,30.75,USDT,,,,,realized gain,realized_pnl BTC-USDT-SWAP tb-1007:pnl,",
                ],
                &["2025-01-10 00:00:00 UTC,,,0.0102,USDT,,,,,fee refund,rebate BTC-USDT tb-1008:rebate,"],
                &["2025-01-12 00:00:00 UTC,0.1,OKB,,,,,,,cost,fee tb-1010:fee,"],
            ],
        );
    }

    #[test]
    fn deposit_fee_becomes_a_cost_row() {
        let mut t = deposit();
        t.fee = Some(crate::model::Amount::new(dec("1"), "USDT"));
        assert_eq!(
            lines(Format::Koinly, &t).unwrap(),
            [
                "2025-01-01 00:00:00 UTC,,,2000,USDT,,,,,,deposit fb-2001,0xdep",
                "2025-01-01 00:00:00 UTC,1,USDT,,,,,,,cost,deposit fb-2001,",
            ]
        );
    }
}
