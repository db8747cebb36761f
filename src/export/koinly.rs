//! `koinly.csv`: Koinly "Universal" manual import template (tax-formats.md §1a, §1d, §10).
//!
//! * Header: `Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,
//!   Fee Currency,Net Worth Amount,Net Worth Currency,Label,Description,TxHash`.
//!   Decision: `Label` (not the newer `Tag`): nearly every exporter writes it and Koinly's own
//!   parser accepts both (§1a).
//! * Date: `YYYY-MM-DD HH:MM:SS UTC`, always UTC. Decision: the explicit ` UTC` suffix, as in
//!   Koinly's Simple template and many exporters, so Koinly cannot read the time as local.
//! * Fees: Koinly's docs say the fee is deducted on top of the amounts (§1a), but a public
//!   report citing Koinly support (staketaxcsv#385, 2025-12) says a fee in the *same* coin as
//!   the amount received or sent is ignored. So that the balance is right under both
//!   readings, a fee in the coin of the row's amount is folded into the amount and the fee
//!   columns stay empty: a buy of 0.02 BTC gross with a 0.00002 BTC fee writes Received
//!   0.01998 BTC; a sell's 480 USDT gross with a 0.48 USDT fee writes 479.52 USDT; a
//!   withdrawal of 0.004 BTC (arrives) + 0.0001 BTC fee writes Sent 0.0041 BTC (what left
//!   OKX; Koinly takes the difference to the matching deposit as the transfer fee). Only a
//!   fee in a third coin (e.g. OKB) is written in the fee columns, where every reading
//!   deducts it. A deposit/income row cannot carry a fee in Koinly's model (§1d), so a
//!   third-coin fee there becomes a second row: Sent = fee, Label `cost`.
//! * Net Worth Amount / Currency (issue 11): what the row is worth in the export's fiat,
//!   a total, not a unit price (Koinly: "the fiat value of the transaction"): a trade row
//!   gets the trade's value, any other row its written amount × unit price (`values.rs`).
//!   Both empty when there is no price, so Koinly prices the row itself. TxHash = the on-chain hash
//!   (Koinly uses it to match transfers), else the row id (`#n` for extra rows), so two
//!   fills that differ only in Description still carry different ids for Koinly's
//!   (undocumented) duplicate check; the row id is also in Description.
//! * Derivatives: Koinly's CSV docs name one tag for futures and perpetuals, `realized gain`
//!   on a deposit (profit) or a withdrawal (loss), which puts the row in the futures gains
//!   ("Futures and perpetuals (PNL transactions)", support.koinly.io/en/articles/9490027:
//!   "use the realized gain tag on all deposit/withdrawal rows that are related to pnl").
//!   Its futures fee and funding fee tags have no documented CSV spelling, so trading fees
//!   on SWAP/FUTURES/OPTION instruments and paid funding use `realized gain` too: they land
//!   in the derivatives P&L, not as expenses that are also disposals (`cost`, `margin fee`).
//!
//! | kind                          | received (in)      | sent (out)    |
//! |-------------------------------|--------------------|---------------|
//! | trade                         | both sides, no label              ||
//! | deposit / withdrawal, one-sided spot trade | (none) | (none)     |
//! | staking_reward, referral_reward | `reward`         | `cost`        |
//! | earn_interest                 | `lending interest` | `cost`        |
//! | airdrop                       | `airdrop`          | `cost`        |
//! | other_income                  | `income`           | `cost`        |
//! | rebate                        | `fee refund` (`realized gain` on a derivative) | `cost` |
//! | fee (standalone, incl. fee-only rows) | `fee refund` | `cost`      |
//! | fee on a derivative instrument | `realized gain`   | `realized gain` (a loss) |
//! | funding_fee                   | `realized gain`    | `realized gain` (a loss) |
//! | interest_paid                 | `fee refund`       | `loan fee`    |
//! | realized_pnl, liquidation     | `realized gain`    | `realized gain` (a loss) |
//! | transfer, unclassified        | skipped                           ||

use super::{CsvFile, Encoded, Prep, Records, Shape, fold_fee, is_derivative, leg_id};
use crate::model::{Amount, Kind};
use rust_decimal::Decimal;
use std::borrow::Cow;

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

fn label(kind: Kind, incoming: bool, derivative: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        (Fee, _) | (Rebate, true) if derivative => "realized gain",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, _) => "",
        (StakingReward | ReferralReward, true) => "reward",
        (EarnInterest, true) => "lending interest",
        (Airdrop, true) => "airdrop",
        (OtherIncome, true) => "income",
        (Rebate | Fee | InterestPaid, true) => "fee refund",
        (FundingFee | RealizedPnl | Liquidation, true) => "realized gain",
        // Koinly: `realized gain` on a withdrawal records a derivatives loss.
        (RealizedPnl | Liquidation, false) => "realized gain",
        (FundingFee, false) => "realized gain",
        (InterestPaid, false) => "loan fee",
        (Fee | Rebate | StakingReward | ReferralReward | EarnInterest | Airdrop | OtherIncome, false) => {
            "cost"
        }
    }
}

pub(crate) fn encode(p: &Prep, _opts: &super::ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let derivative = is_derivative(tx.instrument.as_deref());
    let fiat = p.fiat();
    let mut row = |i: usize,
                   sent: Option<&Amount>,
                   received: Option<&Amount>,
                   fee: Option<&Amount>,
                   label: &str,
                   worth: Option<Decimal>| {
        let id = match &tx.tx_hash {
            // The extra `cost` row of a deposit must not repeat the deposit's hash, or Koinly
            // takes it for a duplicate.
            Some(h) if i == 0 => Cow::Borrowed(h.as_str()),
            _ => leg_id(tx, i),
        };
        out.row(0)
            .s(&p.date.ymd_hms_utc)
            .amt_asset(sent)
            .amt_asset(received)
            .amt_asset(fee)
            .opt_amt(worth)
            .s(if worth.is_some() { fiat } else { "" })
            .s(label)
            .s(p.describe)
            .s(&id)
            .end();
    };
    let mut i = 0;
    let mut next = || {
        i += 1;
        i - 1
    };
    for leg in p.legs()? {
        // A same-coin fee is folded into the amount it was taken from or added to; one that
        // cannot be (it exceeds what was received) is a row of its own, with no fee columns
        // either reading could treat differently.
        let fee_label = label(Kind::Fee, false, derivative);
        match leg.shape {
            Shape::Trade { sent, received, fee } => {
                let v = p.trade_value();
                if let Some(r) = fold_fee(received, fee, false) {
                    row(next(), Some(sent), Some(&r), None, "", v);
                } else if let Some(f) = fee.filter(|f| f.asset == received.asset) {
                    row(next(), Some(sent), Some(received), None, "", v);
                    row(next(), Some(f), None, None, fee_label, p.worth(f));
                } else if let Some(s) = fold_fee(sent, fee, true) {
                    row(next(), Some(&s), Some(received), None, "", v);
                } else {
                    row(next(), Some(sent), Some(received), fee, "", v);
                }
            }
            Shape::In { received, fee } => {
                let label = label(leg.kind, true, derivative);
                if let Some(r) = fold_fee(received, fee, false) {
                    row(next(), None, Some(&r), None, label, p.worth(&r));
                } else {
                    row(next(), None, Some(received), None, label, p.worth(received));
                    if let Some(fee) = fee {
                        row(next(), Some(fee), None, None, fee_label, p.worth(fee));
                    }
                }
            }
            Shape::Out { sent, fee } => {
                let label = label(leg.kind, false, derivative);
                match fold_fee(sent, fee, true) {
                    Some(s) => row(next(), Some(&s), None, None, label, p.worth(&s)),
                    // The third-coin fee rides in the fee columns; the worth is of `sent`.
                    None => row(next(), Some(sent), None, fee, label, p.worth(sent)),
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
            "Date,Sent Amount,Sent Currency,Received Amount,Received Currency,Fee Amount,Fee Currency,Net Worth Amount,Net Worth Currency,Label,Description,TxHash"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::Koinly,
            [
                &["2025-01-02 03:04:05 UTC,1900,USDT,0.01998,BTC,,,,,,trade BTC-USDT tb-1001,tb-1001"],
                &["2025-01-03 10:00:00 UTC,0.005,BTC,479.52,USDT,,,,,,trade BTC-USDT tb-1003,tb-1003"],
                &["2025-01-01 00:00:00 UTC,,,2000,USDT,,,,,,deposit fb-2001,0xdep"],
                &["2025-01-05 12:00:00 UTC,0.0041,BTC,,,,,,,,withdrawal fb-2002,0xwd"],
                &["2025-01-06 00:00:00 UTC,,,0.0123,ETH,,,,,reward,staking_reward fb-2003,fb-2003"],
                &[
                    "2025-01-07 08:00:00 UTC,0.25,USDT,,,,,,,realized gain,funding_fee BTC-USDT-SWAP tb-1005,tb-1005",
                ],
                &[
                    "2025-01-08 09:00:00 UTC,12.5,USDT,,,,,,,realized gain,realized_pnl BTC-USDT-SWAP tb-1006:pnl,tb-1006:pnl",
                ],
                &[
                    "2025-01-09 09:00:00 UTC,,,30.75,USDT,,,,,realized gain,realized_pnl BTC-USDT-SWAP tb-1007:pnl,tb-1007:pnl",
                ],
                &[
                    "2025-01-10 00:00:00 UTC,,,0.0102,USDT,,,,,fee refund,rebate BTC-USDT tb-1008:rebate,tb-1008:rebate",
                ],
                &["2025-01-12 00:00:00 UTC,0.1,OKB,,,,,,,cost,fee tb-1010:fee,tb-1010:fee"],
            ],
        );
    }

    /// Issue 9: a same-coin fee is folded into the amount (right whether Koinly deducts it or
    /// ignores it); only a third-coin fee is written, on its own `cost` row for a deposit.
    #[test]
    fn deposit_fee_same_coin_is_netted_third_coin_is_a_cost_row() {
        let mut t = deposit();
        t.fee = Some(crate::model::Amount::new(dec("1"), "USDT"));
        assert_eq!(
            lines(Format::Koinly, &t).unwrap(),
            ["2025-01-01 00:00:00 UTC,,,1999,USDT,,,,,,deposit fb-2001,0xdep"]
        );
        t.fee = Some(crate::model::Amount::new(dec("0.5"), "OKB"));
        assert_eq!(
            lines(Format::Koinly, &t).unwrap(),
            [
                "2025-01-01 00:00:00 UTC,,,2000,USDT,,,,,,deposit fb-2001,0xdep",
                "2025-01-01 00:00:00 UTC,0.5,OKB,,,,,,,cost,deposit fb-2001,fb-2001#2",
            ]
        );
        let mut b = buy();
        b.fee = Some(crate::model::Amount::new(dec("0.01"), "OKB"));
        assert_eq!(
            lines(Format::Koinly, &b).unwrap(),
            ["2025-01-02 03:04:05 UTC,1900,USDT,0.02,BTC,0.01,OKB,,,,trade BTC-USDT tb-1001,tb-1001"]
        );
    }

    /// Issue 11: Net Worth is the row's total in the fiat (the trade's value; otherwise the
    /// written amount × unit price); empty without a price.
    #[test]
    fn net_worth() {
        let l = |tx: &crate::model::Transaction| valued_lines(Format::Koinly, tx, "USD").unwrap();
        assert_eq!(
            l(&buy()),
            ["2025-01-02 03:04:05 UTC,1900,USDT,0.01998,BTC,,,1900,USD,,trade BTC-USDT tb-1001,tb-1001"]
        );
        assert_eq!(
            l(&withdrawal()),
            ["2025-01-05 12:00:00 UTC,0.0041,BTC,,,,,389.5,USD,,withdrawal fb-2002,0xwd"]
        );
        assert_eq!(
            l(&staking_reward()),
            ["2025-01-06 00:00:00 UTC,,,0.0123,ETH,,,41.82,USD,reward,staking_reward fb-2003,fb-2003"]
        );
        // A third-coin fee on a deposit is its own `cost` row, worth the fee.
        let mut t = deposit();
        t.fee = Some(crate::model::Amount::new(dec("0.5"), "OKB"));
        assert_eq!(
            l(&t),
            [
                "2025-01-01 00:00:00 UTC,,,2000,USDT,,,2000,USD,,deposit fb-2001,0xdep",
                "2025-01-01 00:00:00 UTC,0.5,OKB,,,,,25,USD,cost,deposit fb-2001,fb-2001#2",
            ]
        );
        t.fee.as_mut().unwrap().asset = "XYZ".into();
        assert_eq!(
            l(&t)[1],
            "2025-01-01 00:00:00 UTC,0.5,XYZ,,,,,,,cost,deposit fb-2001,fb-2001#2"
        );
    }
}
