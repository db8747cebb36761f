//! `ctc.csv`: CryptoTaxCalculator "Advanced (custom) CSV" (tax-formats.md §4, §10).
//!
//! * Header (15 columns, exact text): `Timestamp (UTC),Type,Base Currency,Base Amount,
//!   Quote Currency (Optional),Quote Amount (Optional),Fee Currency (Optional),
//!   Fee Amount (Optional),From (Optional),To (Optional),Blockchain (Optional),ID (Optional),
//!   Description (Optional),Reference Price Per Unit (Optional),
//!   Reference Price Currency (Optional)`. Decision: the 15-column variant (§4).
//! * Timestamp: `YYYY-MM-DD HH:MM:SS`, UTC (CTC's default layout).
//! * Fees: amounts exclude fees; the fee is a separate outflow in the Fee columns (§4). That
//!   is our model: a buy with the fee in BTC writes Base = gross BTC + Fee BTC; a sell with
//!   the fee in USDT writes Quote = gross USDT + Fee USDT. A standalone fee is a `fee` row
//!   with the amount in Base and the Fee columns empty ("do not repeat it", §4).
//! * Trade direction: `sell` when the sent coin is the instrument's base (or side = sell),
//!   else `buy` (also for converts without an instrument). `buy`: Base = bought coin, Quote =
//!   paid coin; `sell`: Base = sold coin, Quote = proceeds.
//! * ID = our row id (CTC wants it unique). Description = `<kind> [<instrument>] <id>` and
//!   the tx hash.
//! * Reference Price Per Unit / Currency (issue 11): the unit price of the **Base
//!   Currency** in the export's fiat (CTC: "overrides the market price"; its currency must
//!   be fiat, §4), for a trade the trade's value ÷ the base amount (`values.rs`). Both
//!   empty without a price, so CTC uses its own.
//! * Deposits and withdrawals (`receive`/`send`) carry the chain and address: Blockchain =
//!   the network part of OKX's chain name, in lower case (`USDT-TRC20` → `tron`,
//!   `ETH-ERC20` → `ethereum`, `BTC-Bitcoin` → `bitcoin`; an unknown network is written as
//!   OKX names it; CTC's help 5777675 only says "the network on which the transaction was
//!   executed", with no list of accepted values), To = the address the coins went to (a withdrawal's destination, a
//!   deposit's OKX deposit address). From stays empty: CTC fills it with this file's own
//!   source (help 5777675: "If left blank will default to CSV exchange name"), which is
//!   right for a withdrawal, and OKX does not tell us a deposit's sender.
//! * Derivatives: trading fees on SWAP/FUTURES/OPTION instruments and paid funding are
//!   `margin-fee` ("fees associated with realized-profit or realized-loss trades", CTC help
//!   8574793), so they go to the derivatives report instead of being a `fee` disposal.
//! * Maker rebates: CTC has no fee-refund type (`cashback` is income). A spot fill's rebate
//!   is netted into the fill (`Combine::net_rebates`); a rebate with no fill next to it is a
//!   `receive` (an untaxed inflow; CTC may ask for its cost basis), and on a derivative a
//!   `realized-profit` (it lowers the derivatives fees).
//! * One CSV per source (§4): this file holds only the OKX account.
//!
//! | kind                      | in                 | out                |
//! |---------------------------|--------------------|--------------------|
//! | trade                     | `buy` / `sell` (both sides)            ||
//! | deposit / withdrawal, one-sided spot trade | `receive` (`fiat-deposit` for fiat) | `send` (`fiat-withdrawal`) |
//! | staking_reward            | `staking`          | `fee`              |
//! | earn_interest             | `interest`         | `fee`              |
//! | airdrop                   | `airdrop`          | `fee`              |
//! | referral_reward, other_income | `income`       | `fee`              |
//! | rebate                    | netted into its fill; else `receive` (`realized-profit` on a derivative) | `fee` |
//! | fee (incl. fee-only rows) | `receive` (`realized-profit` on a derivative) | `fee` (`margin-fee` on a derivative) |
//! | funding_fee               | `realized-profit`  | `margin-fee`       |
//! | interest_paid             | `cashback`         | `margin-fee`       |
//! | realized_pnl, liquidation | `realized-profit`  | `realized-loss`    |
//! | transfer, unclassified    | skipped                                 ||

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape, is_derivative, is_fiat, leg_id};
use crate::model::{Amount, Kind, Transaction};
use std::borrow::Cow;

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "ctc.csv",
    header: &[
        "Timestamp (UTC)",
        "Type",
        "Base Currency",
        "Base Amount",
        "Quote Currency (Optional)",
        "Quote Amount (Optional)",
        "Fee Currency (Optional)",
        "Fee Amount (Optional)",
        "From (Optional)",
        "To (Optional)",
        "Blockchain (Optional)",
        "ID (Optional)",
        "Description (Optional)",
        "Reference Price Per Unit (Optional)",
        "Reference Price Currency (Optional)",
    ],
}];

fn kind_type(kind: Kind, incoming: bool, fiat: bool, derivative: bool) -> &'static str {
    use Kind::*;
    match (kind, incoming) {
        (Rebate | Fee, true) if derivative => "realized-profit",
        (Fee, false) if derivative => "margin-fee",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, true) if fiat => "fiat-deposit",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, true) => "receive",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, false) if fiat => "fiat-withdrawal",
        (Trade | Deposit | Withdrawal | Transfer | Unclassified, false) => "send",
        (StakingReward, true) => "staking",
        (EarnInterest, true) => "interest",
        (Airdrop, true) => "airdrop",
        (ReferralReward | OtherIncome, true) => "income",
        (Rebate | Fee | InterestPaid, true) => "receive",
        (FundingFee | RealizedPnl | Liquidation, true) => "realized-profit",
        (FundingFee | InterestPaid, false) => "margin-fee",
        (RealizedPnl | Liquidation, false) => "realized-loss",
        (Fee | Rebate | StakingReward | EarnInterest | Airdrop | ReferralReward | OtherIncome, false) => {
            "fee"
        }
    }
}

/// True when the trade disposes of the instrument's base coin.
fn is_sell(tx: &Transaction, sent: &Amount, received: &Amount) -> bool {
    if let Some(base) = tx.instrument.as_deref().and_then(|i| i.split('-').next()) {
        if base == sent.asset {
            return true;
        }
        if base == received.asset {
            return false;
        }
    }
    tx.side.as_deref() == Some("sell")
}

/// CTC's name for the network of an OKX chain id (`USDT-TRC20` → `tron`).
fn blockchain(chain: &str) -> Cow<'_, str> {
    let net = chain.split_once('-').map_or(chain, |(_, n)| n);
    let known = match net.to_ascii_lowercase().as_str() {
        "erc20" | "ethereum" => "ethereum",
        "trc20" | "tron" => "tron",
        "bitcoin" | "btc" => "bitcoin",
        "solana" | "sol" => "solana",
        "bsc" | "bep20" => "binance-smart-chain",
        "polygon" | "matic" => "polygon",
        "arbitrum one" | "arbitrum" => "arbitrum",
        "optimism" => "optimism",
        "avalanche c-chain" | "avax-c" => "avalanche",
        "base" => "base",
        _ => return Cow::Owned(net.to_ascii_lowercase()),
    };
    Cow::Borrowed(known)
}

pub(crate) fn encode(p: &Prep, _opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let derivative = is_derivative(tx.instrument.as_deref());
    let onchain = matches!(tx.kind, Kind::Deposit | Kind::Withdrawal);
    let to = tx.address.as_deref().filter(|_| onchain);
    let chain = tx.chain.as_deref().filter(|_| onchain).map(blockchain);
    let mut row = |i: usize, ty: &str, base: &Amount, quote: Option<&Amount>, fee: Option<&Amount>| {
        let row = out
            .row(0)
            .s(&p.date.ymd_hms)
            .s(ty)
            .asset_amt(Some(base))
            .asset_amt(quote)
            .asset_amt(fee)
            .empty(1)
            .opt(to)
            .opt(chain.as_deref())
            .s(&leg_id(tx, i))
            .s(p.describe_with_hash);
        match p.unit_price(&base.asset) {
            Some(price) => row.dec(price).s(p.fiat()),
            None => row.empty(2),
        }
        .end();
    };
    for (i, leg) in p.legs()?.iter().enumerate() {
        match leg.shape {
            Shape::Trade { sent, received, fee } if is_sell(tx, sent, received) => {
                row(i, "sell", sent, Some(received), fee);
            }
            Shape::Trade { sent, received, fee } => row(i, "buy", received, Some(sent), fee),
            Shape::In { received, fee } => row(
                i,
                kind_type(leg.kind, true, is_fiat(&received.asset), derivative),
                received,
                None,
                fee,
            ),
            Shape::Out { sent, fee } => row(
                i,
                kind_type(leg.kind, false, is_fiat(&sent.asset), derivative),
                sent,
                None,
                fee,
            ),
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
            "Timestamp (UTC),Type,Base Currency,Base Amount,Quote Currency (Optional),Quote Amount (Optional),Fee Currency (Optional),Fee Amount (Optional),From (Optional),To (Optional),Blockchain (Optional),ID (Optional),Description (Optional),Reference Price Per Unit (Optional),Reference Price Currency (Optional)"
        );
    }

    #[test]
    fn rows() {
        assert_cases(
            Format::Ctc,
            [
                &[
                    "2025-01-02 03:04:05,buy,BTC,0.02,USDT,1900,BTC,0.00002,,,,tb-1001,trade BTC-USDT tb-1001,,",
                ],
                &[
                    "2025-01-03 10:00:00,sell,BTC,0.005,USDT,480,USDT,0.48,,,,tb-1003,trade BTC-USDT tb-1003,,",
                ],
                &[
                    "2025-01-01 00:00:00,receive,USDT,2000,,,,,,TDepositAddr,tron,fb-2001,deposit fb-2001 tx 0xdep,,",
                ],
                &[
                    "2025-01-05 12:00:00,send,BTC,0.004,,,BTC,0.0001,,bc1qdest,bitcoin,fb-2002,withdrawal fb-2002 tx 0xwd,,",
                ],
                &["2025-01-06 00:00:00,staking,ETH,0.0123,,,,,,,,fb-2003,staking_reward fb-2003,,"],
                &[
                    "2025-01-07 08:00:00,margin-fee,USDT,0.25,,,,,,,,tb-1005,funding_fee BTC-USDT-SWAP tb-1005,,",
                ],
                &[
                    "2025-01-08 09:00:00,realized-loss,USDT,12.5,,,,,,,,tb-1006:pnl,realized_pnl BTC-USDT-SWAP tb-1006:pnl,,",
                ],
                &[
                    "2025-01-09 09:00:00,realized-profit,USDT,30.75,,,,,,,,tb-1007:pnl,realized_pnl BTC-USDT-SWAP tb-1007:pnl,,",
                ],
                &[
                    "2025-01-10 00:00:00,receive,USDT,0.0102,,,,,,,,tb-1008:rebate,rebate BTC-USDT tb-1008:rebate,,",
                ],
                &["2025-01-12 00:00:00,fee,OKB,0.1,,,,,,,,tb-1010:fee,fee tb-1010:fee,,"],
            ],
        );
    }

    #[test]
    fn fiat_deposit_and_convert_without_instrument() {
        let mut t = deposit();
        t.received = Some(Amount::new(dec("100"), "EUR"));
        t.tx_hash = None;
        assert!(lines(Format::Ctc, &t).unwrap()[0].starts_with("2025-01-01 00:00:00,fiat-deposit,EUR,100,"));
        let mut c = buy();
        c.instrument = None;
        c.side = None;
        assert!(
            lines(Format::Ctc, &c).unwrap()[0].starts_with("2025-01-02 03:04:05,buy,BTC,0.02,USDT,1900,")
        );
    }

    /// Issue 11: Reference Price Per Unit is the base coin's unit price (a trade's price in
    /// the fiat), with the fiat as its currency.
    #[test]
    fn reference_price() {
        let l = |tx: &crate::model::Transaction, fiat: &str| valued_lines(Format::Ctc, tx, fiat).unwrap();
        assert!(l(&buy(), "USD")[0].ends_with(",tb-1001,trade BTC-USDT tb-1001,95000,USD"));
        assert!(l(&sell(), "USD")[0].ends_with(",tb-1003,trade BTC-USDT tb-1003,96000,USD"));
        assert!(l(&sell(), "EUR")[0].ends_with(",tb-1003,trade BTC-USDT tb-1003,88888.8888889,EUR"));
        assert!(l(&staking_reward(), "USD")[0].ends_with(",fb-2003,staking_reward fb-2003,3400,USD"));
        assert!(l(&fee_only_okb(), "GBP")[0].ends_with(",tb-1010:fee,fee tb-1010:fee,40,GBP"));
        let mut t = fee_only_okb();
        t.fee.as_mut().unwrap().asset = "XYZ".into();
        assert!(l(&t, "USD")[0].ends_with(",tb-1010:fee,fee tb-1010:fee,,"));
    }
}
