//! `cointracker.csv`: CoinTracker's 8-column CSV (tax-formats.md §5, §10).
//!
//! * Header (exact, nothing added or removed): `Date,Received Quantity,Received Currency,
//!   Sent Quantity,Sent Currency,Fee Amount,Fee Currency,Tag`. No value column exists
//!   (§5, §13: "all columns must be present, nothing may be added"), so no fiat values are
//!   written; CoinTracker prices rows itself.
//! * Date: `MM/DD/YYYY HH:MM:SS`, UTC.
//! * Quantities: at most 8 decimal places (§5), so every quantity is rounded half away from
//!   zero to 8 places *after* the fee arithmetic below. A row whose main quantity rounds to 0
//!   is left out (counted as skipped); a fee that rounds to 0 leaves the fee cells empty.
//! * Fees: unlike Koinly/BittyTax the fee is *not* an extra outflow. The Sent Quantity
//!   includes the fee and the Received Quantity excludes it (§5); the Fee columns only say
//!   which part was fee. So, from our model (received gross, fee separate):
//!   - fee in the sent coin → Sent = sent + fee (a withdrawal of 0.004 BTC + 0.0001 BTC fee
//!     writes Sent 0.0041);
//!   - fee in the received coin → Received = received − fee (a buy of 0.02 BTC gross with a
//!     0.00002 BTC fee writes Received 0.01998; a sell's 480 USDT gross with 0.48 USDT fee
//!     writes 479.52);
//!   - fee in a third coin → the trade row without fee, plus a fee row (below).
//!   - A standalone fee is a send whose whole quantity is fee: Sent = Fee = amount, no tag.
//! * Tags: the CSV tags of CoinTracker's "Transaction category definitions" page
//!   (support.cointracker.io/hc/en-us/articles/4413049710225): `staking` for staking
//!   rewards (the classic `staked` is gone from that page), `margin fee` / `margin gain` /
//!   `margin loss` / `margin rebate` for derivatives; plus the classic `airdrop`,
//!   `interest`, `payment` (§5). No tag = plain send/receive/trade. Trading fees on
//!   SWAP/FUTURES/OPTION instruments are `margin fee` sends, like paid funding, so they
//!   count in CoinTracker's futures/margin figures instead of as untagged disposals.
//! * No id column: two fills of one order in the same second with the same fee would be
//!   identical rows, so they are merged into one (`Combine::merge_fills`), and a spot fill's
//!   maker rebate is netted into the fill (`Combine::net_rebates`).
//!
//! | kind                        | received        | sent          |
//! |-----------------------------|-----------------|---------------|
//! | trade, deposit, withdrawal  | (none)          | (none)        |
//! | staking_reward              | `staking`       | fee row       |
//! | earn_interest               | `interest`      | fee row       |
//! | airdrop                     | `airdrop`       | fee row       |
//! | referral_reward, other_income | `payment`     | fee row       |
//! | rebate                      | netted into its fill; else `margin rebate` on a derivative, none otherwise | fee row |
//! | fee (incl. fee-only rows)   | (none)          | fee row (`margin fee` send on a derivative) |
//! | funding_fee                 | `margin gain`   | `margin fee`  |
//! | interest_paid               | (none)          | `margin fee`  |
//! | realized_pnl, liquidation   | `margin gain`   | `margin loss` |
//! | transfer, unclassified      | skipped                         ||
//!
//! Merged fills and netted rebates aside, duplicates are avoided by re-importing the same
//! file (CoinTracker has no id column).

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Row, Shape, is_derivative};
use crate::model::{Amount, Kind};
use rust_decimal::{Decimal, RoundingStrategy};

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "cointracker.csv",
    header: &[
        "Date",
        "Received Quantity",
        "Received Currency",
        "Sent Quantity",
        "Sent Currency",
        "Fee Amount",
        "Fee Currency",
        "Tag",
    ],
}];

fn round8(d: Decimal) -> Decimal {
    if d.scale() <= 8 {
        return d; // already exact at 8 places
    }
    d.round_dp_with_strategy(8, RoundingStrategy::MidpointAwayFromZero)
}

fn in_tag(kind: Kind, derivative: bool) -> &'static str {
    use Kind::*;
    match kind {
        StakingReward => "staking",
        EarnInterest => "interest",
        Airdrop => "airdrop",
        ReferralReward | OtherIncome => "payment",
        Rebate | Fee if derivative => "margin rebate",
        FundingFee | RealizedPnl | Liquidation => "margin gain",
        Trade | Deposit | Withdrawal | Transfer | Unclassified | Rebate | Fee | InterestPaid => "",
    }
}

/// `Some(tag)` for an outgoing kind written as a tagged send, `None` for a fee row.
fn out_tag(kind: Kind, derivative: bool) -> Option<&'static str> {
    use Kind::*;
    match kind {
        Fee if derivative => Some("margin fee"),
        Trade | Deposit | Withdrawal | Transfer | Unclassified => Some(""),
        FundingFee | InterestPaid => Some("margin fee"),
        RealizedPnl | Liquidation => Some("margin loss"),
        Fee | Rebate | StakingReward | EarnInterest | Airdrop | ReferralReward | OtherIncome => None,
    }
}

/// One row before rounding: (received, sent, fee, tag).
type Line<'a> = (
    Option<(Decimal, &'a str)>,
    Option<(Decimal, &'a str)>,
    Option<(Decimal, &'a str)>,
    &'static str,
);

fn fee_row(fee: &Amount) -> Line<'_> {
    let f = Some((fee.amount, fee.asset.as_str()));
    (None, f, f, "")
}

/// The fee row of `fee`, if any.
fn emit_fees<'a>(fee: Option<&'a Amount>, emit: &mut impl FnMut(Line<'a>)) {
    if let Some(f) = fee {
        emit(fee_row(f));
    }
}

pub(crate) fn encode(p: &Prep, _opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let derivative = is_derivative(tx.instrument.as_deref());
    fn pair(a: &Amount) -> Option<(Decimal, &str)> {
        Some((a.amount, a.asset.as_str()))
    }
    let legs = p.legs()?;
    // Each row is written as soon as it is known (rows never depend on later ones).
    let mut emit = |(received, sent, fee, tag): Line| {
        fn round(p: Option<(Decimal, &str)>) -> Option<(Decimal, &str)> {
            p.map(|(q, c)| (round8(q), c)).filter(|(q, _)| !q.is_zero())
        }
        // What rounding changes in the balance CoinTracker derives (received in, sent out;
        // the fee is inside `sent`), for the per-run file check (`export::readback::check`).
        for (p, sign) in [(received, Decimal::ONE), (sent, -Decimal::ONE)] {
            if let Some((q, c)) = p {
                let r = round(p).map_or(Decimal::ZERO, |(r, _)| r);
                if r != q {
                    out.rounding.push((c.to_string(), sign * (r - q)));
                }
            }
        }
        let (received, sent, fee) = (round(received), round(sent), round(fee));
        if received.is_none() && sent.is_none() {
            return; // dust: every quantity rounds to 0 at 8 places
        }
        fn cells<'r>(row: Row<'r>, p: Option<(Decimal, &str)>) -> Row<'r> {
            match p {
                Some((q, c)) => row.amt(q).s(c),
                None => row.empty(2),
            }
        }
        let row = out.row(0).s(&p.date.mdy_hms);
        let row = cells(row, received);
        let row = cells(row, sent);
        cells(row, fee).s(tag).end();
    };
    for leg in legs {
        match leg.shape {
            Shape::Trade { sent, received, fee } => {
                let (mut r, mut s, mut inside) = (received.amount, sent.amount, None);
                if let Some(f) = fee {
                    if f.asset == sent.asset {
                        s += f.amount;
                        inside = Some(f);
                    } else if f.asset == received.asset && f.amount < r {
                        r -= f.amount;
                        inside = Some(f);
                    }
                }
                emit((
                    Some((r, &received.asset)),
                    Some((s, &sent.asset)),
                    inside.and_then(pair),
                    "",
                ));
                if inside.is_none() {
                    emit_fees(fee, &mut emit);
                }
            }
            Shape::In { received, fee } => {
                let tag = in_tag(leg.kind, derivative);
                match fee {
                    Some(f) if f.asset == received.asset && f.amount < received.amount => emit((
                        Some((received.amount - f.amount, &received.asset)),
                        None,
                        pair(f),
                        tag,
                    )),
                    _ => {
                        emit((pair(received), None, None, tag));
                        emit_fees(fee, &mut emit);
                    }
                }
            }
            Shape::Out { sent, fee } => match out_tag(leg.kind, derivative) {
                None => {
                    emit(fee_row(sent));
                    emit_fees(fee, &mut emit);
                }
                Some(tag) => match fee {
                    Some(f) if f.asset == sent.asset => {
                        emit((None, Some((sent.amount + f.amount, &sent.asset)), pair(f), tag));
                    }
                    _ => {
                        emit((None, pair(sent), None, tag));
                        emit_fees(fee, &mut emit);
                    }
                },
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::testdata::*;
    use crate::model::Amount;

    #[test]
    fn header() {
        assert_eq!(
            super::FILES[0].header.join(","),
            "Date,Received Quantity,Received Currency,Sent Quantity,Sent Currency,Fee Amount,Fee Currency,Tag"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::CoinTracker,
            [
                &["01/02/2025 03:04:05,0.01998,BTC,1900,USDT,0.00002,BTC,"],
                &["01/03/2025 10:00:00,479.52,USDT,0.005,BTC,0.48,USDT,"],
                &["01/01/2025 00:00:00,2000,USDT,,,,,"],
                &["01/05/2025 12:00:00,,,0.0041,BTC,0.0001,BTC,"],
                &["01/06/2025 00:00:00,0.0123,ETH,,,,,staking"],
                &["01/07/2025 08:00:00,,,0.25,USDT,,,margin fee"],
                &["01/08/2025 09:00:00,,,12.5,USDT,,,margin loss"],
                &["01/09/2025 09:00:00,30.75,USDT,,,,,margin gain"],
                &["01/10/2025 00:00:00,0.0102,USDT,,,,,"],
                &["01/12/2025 00:00:00,,,0.1,OKB,0.1,OKB,"],
            ],
        );
    }

    #[test]
    fn third_coin_fee_becomes_a_fee_row() {
        let mut t = buy();
        t.fee = Some(Amount::new(dec("0.01"), "OKB"));
        assert_eq!(
            lines(Format::CoinTracker, &t).unwrap(),
            [
                "01/02/2025 03:04:05,0.02,BTC,1900,USDT,,,",
                "01/02/2025 03:04:05,,,0.01,OKB,0.01,OKB,"
            ]
        );
    }

    #[test]
    fn rounds_to_8_places_and_drops_dust() {
        let mut t = staking_reward();
        t.received = Some(Amount::new(dec("0.000000015"), "ETH"));
        assert_eq!(
            lines(Format::CoinTracker, &t).unwrap(),
            ["01/06/2025 00:00:00,0.00000002,ETH,,,,,staking"]
        );
        t.received = Some(Amount::new(dec("0.000000004"), "ETH"));
        // No record: the writer counts the transaction as skipped_other.
        assert_eq!(lines(Format::CoinTracker, &t).unwrap(), Vec::<String>::new());
    }
}
