//! DaLI manual-plugin CSVs → RP2 (tax-formats.md §9b, §9c, §10): `dali-in.csv`,
//! `dali-out.csv`, `dali-intra.csv` and a `dali.ini` that points the
//! `[dali.plugin.input.csv.manual]` plugin at them.
//!
//! * Columns are positional (DaLI skips row 1, which we fill with the field names):
//!   - in: `unique_id,timestamp,asset,exchange,holder,transaction_type,spot_price,crypto_in,
//!     crypto_fee,fiat_in_no_fee,fiat_in_with_fee,fiat_fee,notes`
//!   - out: `unique_id,timestamp,asset,exchange,holder,transaction_type,spot_price,
//!     crypto_out_no_fee,crypto_fee,crypto_out_with_fee,fiat_out_no_fee,fiat_fee,notes`
//!   - intra: `unique_id,timestamp,asset,from_exchange,from_holder,to_exchange,to_holder,
//!     spot_price,crypto_sent,crypto_received,notes`
//! * Timestamp: `YYYY-MM-DD HH:MM:SS.mmm+00:00` (DaLI requires an explicit offset).
//! * `spot_price`: the unit price of the row's asset in the export's fiat (`--fiat`,
//!   `native_fiat` in `dali.ini`), for a trade leg the trade's value ÷ that leg's amount
//!   (`values.rs`). A row without a price gets `__unknown`, which DaLI fills only when run
//!   with `-s` (network); with every price present DaLI and RP2 run offline.
//! * exchange = `ExportOptions::wallet_name`; holder = `user` (Decision: we do not know the
//!   person's name; edit the column and the generated RP2 config if several holders exist).
//! * RP2 tracks crypto only: a fiat side of a trade becomes `fiat_in_no_fee` /
//!   `fiat_out_no_fee` when it is the native fiat and is dropped otherwise; fiat-only
//!   rows (fiat deposits) are skipped and counted as `skipped_other`.
//! * Fees: a trade is two rows, OUT `SELL` of the sent coin and IN `BUY` of the received coin.
//!   `crypto_fee` sits on the row of the coin it is paid in (IN: `crypto_in` gross + fee, the
//!   RP2 "artificial fee-only outflow"; OUT: `crypto_out_no_fee` + `crypto_fee`, which OUT
//!   rows require, `0` when none). A fee in a third coin is its own OUT `FEE` row with
//!   `crypto_out_no_fee` = 0. A standalone fee is OUT `FEE` the same way.
//! * Deposits and withdrawals move coins between OKX and a wallet that is not in these
//!   files, so they are IN `BUY` / OUT `SELL` rows (an acquisition / disposal at the spot
//!   price, the same default Koinly applies to an untagged deposit / withdrawal), not
//!   partial INTRA rows: DaLI cannot resolve a half-transfer without the other wallet's
//!   plugin or a transaction hint, and stops with "unresolved DaLI transaction", so RP2
//!   never runs. A withdrawal's fee is its `crypto_fee`. The note says what the row is; a
//!   user who also feeds DaLI the other wallet replaces the row by a `[transaction_hints]`
//!   entry (`intra:…`, keyed by the hash without `0x`, which DaLI strips) or deletes it.
//! * Derivatives (Decision): RP2 has no derivatives type. A realized profit (and received
//!   funding) is IN `INCOME`: taxed as income at its spot price. A realized loss or a
//!   liquidation is OUT `FEE` (`crypto_out_no_fee` = 0, `crypto_fee` = the loss), like
//!   trading fees on derivatives and paid funding: RP2 reports `FEE` outflows as investment
//!   expenses, so the loss stays visible at its value. Writing it as a `SELL` of the
//!   settlement coin (as before) made RP2 report a sale of USDT at ~1 USD, i.e. a gain near
//!   zero, and the loss vanished from the report while profits stayed income.
//! * unique_id: the row id for IN/OUT rows (`#n` for extra legs, `/fee` for a separate fee
//!   row), so no two rows of one asset share an id (DaLI would try to merge them).
//!
//! | kind                              | in (IN type)  | out                          |
//! |-----------------------------------|---------------|------------------------------|
//! | trade                             | `BUY` row + `SELL` row                      ||
//! | trade, one-sided (fiat buy, lone leg) | `BUY` (DaLI prices it) | `SELL`         |
//! | deposit / withdrawal (outside wallets) | `BUY`    | `SELL`                       |
//! | staking_reward                    | `STAKING`     | `FEE`                        |
//! | earn_interest                     | `INTEREST`    | `FEE`                        |
//! | airdrop                           | `AIRDROP`     | `FEE`                        |
//! | referral_reward, other_income, rebate, fee, interest_paid | `INCOME` | `FEE` |
//! | funding_fee                       | `INCOME`      | `FEE`                        |
//! | realized_pnl, liquidation         | `INCOME`      | `FEE` (an investment expense) |
//! | transfer, unclassified            | skipped                                     ||

use super::{CsvFile, Encoded, ExportOptions, Prep, Records, Shape, is_fiat, leg_id};
use crate::model::{Amount, Kind};
use crate::prices::Fiat;
use rust_decimal::Decimal;

pub(crate) const FILES: &[CsvFile] = &[
    CsvFile {
        name: "dali-in.csv",
        header: &[
            "unique_id",
            "timestamp",
            "asset",
            "exchange",
            "holder",
            "transaction_type",
            "spot_price",
            "crypto_in",
            "crypto_fee",
            "fiat_in_no_fee",
            "fiat_in_with_fee",
            "fiat_fee",
            "notes",
        ],
    },
    CsvFile {
        name: "dali-out.csv",
        header: &[
            "unique_id",
            "timestamp",
            "asset",
            "exchange",
            "holder",
            "transaction_type",
            "spot_price",
            "crypto_out_no_fee",
            "crypto_fee",
            "crypto_out_with_fee",
            "fiat_out_no_fee",
            "fiat_fee",
            "notes",
        ],
    },
    CsvFile {
        name: "dali-intra.csv",
        header: &[
            "unique_id",
            "timestamp",
            "asset",
            "from_exchange",
            "from_holder",
            "to_exchange",
            "to_holder",
            "spot_price",
            "crypto_sent",
            "crypto_received",
            "notes",
        ],
    },
];

const IN: usize = 0;
const OUT: usize = 1;
const INTRA: usize = 2;

pub(crate) const INI_NAME: &str = "dali.ini";
const HOLDER: &str = "user";
const UNKNOWN: &str = "__unknown";

/// The DaLI configuration written next to the CSVs (paths are relative: run DaLI from the
/// output directory); `native_fiat` is the fiat of the `spot_price` cells.
pub(crate) fn ini(native_fiat: &Fiat) -> String {
    format!(
        "# DaLI configuration written by okx-export for the manual CSV plugin.\n\
         # Run from this directory. With every spot_price given no network is needed; rows\n\
         # marked __unknown need -s (fetches {native_fiat} prices from the network):\n\
         #   dali_us -o rp2 -p okx_ {INI_NAME}\n\
         #   rp2_us -o rp2 -p okx_ rp2/okx_crypto_data.ini rp2/okx_crypto_data.ods\n\
         [dali.plugin.input.csv.manual]\n\
         in_csv_file = {}\n\
         out_csv_file = {}\n\
         intra_csv_file = {}\n\
         native_fiat = {native_fiat}\n",
        FILES[IN].name, FILES[OUT].name, FILES[INTRA].name
    )
}

fn in_type(kind: Kind) -> &'static str {
    use Kind::*;
    match kind {
        StakingReward => "STAKING",
        EarnInterest => "INTEREST",
        Airdrop => "AIRDROP",
        Trade | Deposit | Withdrawal => "BUY",
        ReferralReward | OtherIncome | Rebate | Fee | InterestPaid | FundingFee | RealizedPnl
        | Liquidation | Transfer | Unclassified => "INCOME",
    }
}

struct Rows<'a, 'p> {
    p: &'a Prep<'p>,
    opts: &'a ExportOptions,
    out: &'a mut Records,
}

impl Rows<'_, '_> {
    fn push_in(
        &mut self,
        id: &str,
        kind: Kind,
        received: &Amount,
        crypto_fee: Option<Decimal>,
        fiat: [Option<Decimal>; 2],
    ) {
        let [fiat_in_no_fee, fiat_fee] = fiat;
        let row = self
            .out
            .row(IN)
            .s(id)
            .s(&self.p.date.ymd_hms_ms_offset)
            .s(&received.asset)
            .s(&self.opts.wallet_name)
            .s(HOLDER)
            .s(in_type(kind));
        let row = match self.p.unit_price(&received.asset) {
            Some(p) => row.dec(p),
            None => row.s(UNKNOWN),
        };
        row.amt(received.amount)
            .opt_amt(crypto_fee)
            .opt_amt(fiat_in_no_fee)
            .empty(1)
            .opt_amt(fiat_fee)
            .s(self.p.describe_with_hash)
            .end();
    }

    fn push_out(
        &mut self,
        id: &str,
        ty: &str,
        asset: &str,
        no_fee: Decimal,
        fee: Decimal,
        fiat: [Option<Decimal>; 2],
    ) {
        let [fiat_out_no_fee, fiat_fee] = fiat;
        let row = self
            .out
            .row(OUT)
            .s(id)
            .s(&self.p.date.ymd_hms_ms_offset)
            .s(asset)
            .s(&self.opts.wallet_name)
            .s(HOLDER)
            .s(ty);
        let row = match self.p.unit_price(asset) {
            Some(p) => row.dec(p),
            None => row.s(UNKNOWN),
        };
        row.amt(no_fee)
            .amt(fee)
            .empty(1)
            .opt_amt(fiat_out_no_fee)
            .opt_amt(fiat_fee)
            .s(self.p.describe_with_hash)
            .end();
    }

    /// An OUT `FEE` row for a fee paid in `fee.asset` (skipped for fiat).
    fn push_fee(&mut self, id: &str, fee: &Amount) {
        if !is_fiat(&fee.asset) {
            self.push_out(
                &format!("{id}/fee"),
                "FEE",
                &fee.asset,
                Decimal::ZERO,
                fee.amount,
                Default::default(),
            );
        }
    }
}

/// `[fiat amount, fiat fee]` cells for a side / fee in the native fiat, empty otherwise.
fn native(fiat: &str, side: Option<&Amount>, fee: Option<&Amount>) -> [Option<Decimal>; 2] {
    let cell = |a: Option<&Amount>| a.filter(|a| a.asset == fiat).map(|a| a.amount);
    [cell(side), cell(fee)]
}

pub(crate) fn encode(p: &Prep, opts: &ExportOptions, out: &mut Records) -> Encoded {
    let tx = p.tx;
    let legs = p.legs()?;
    let mut rows = Rows { p, opts, out };
    for (i, leg) in legs.iter().enumerate() {
        let id = leg_id(tx, i);
        let id = id.as_ref();
        match leg.shape {
            Shape::Trade { sent, received, fee } => {
                let fee_in = |a: &Amount| fee.filter(|f| f.asset == a.asset).map(|f| f.amount);
                let fiat_fee = fee.filter(|f| is_fiat(&f.asset));
                if !is_fiat(&sent.asset) {
                    let fiat = native(p.fiat(), Some(received), fiat_fee);
                    rows.push_out(
                        id,
                        "SELL",
                        &sent.asset,
                        sent.amount,
                        fee_in(sent).unwrap_or_default(),
                        fiat,
                    );
                }
                if !is_fiat(&received.asset) {
                    let crypto_fee = fee_in(received);
                    // A fiat fee goes on one row only (the OUT row if there is one), and an IN
                    // row may not carry both a crypto and a fiat fee.
                    let fiat_fee = fiat_fee.filter(|_| is_fiat(&sent.asset) && crypto_fee.is_none());
                    rows.push_in(
                        id,
                        Kind::Trade,
                        received,
                        crypto_fee,
                        native(p.fiat(), Some(sent), fiat_fee),
                    );
                }
                if let Some(f) = fee.filter(|f| f.asset != sent.asset && f.asset != received.asset) {
                    rows.push_fee(id, f);
                }
            }
            Shape::In { received, fee } => {
                let same = fee.filter(|f| f.asset == received.asset);
                if is_fiat(&received.asset) {
                    // RP2 tracks crypto only.
                } else {
                    rows.push_in(id, leg.kind, received, same.map(|f| f.amount), Default::default());
                }
                if let Some(f) = fee.filter(|f| f.asset != received.asset) {
                    rows.push_fee(id, f);
                }
            }
            Shape::Out { sent, fee } => {
                let same = fee
                    .filter(|f| f.asset == sent.asset)
                    .map_or(Decimal::ZERO, |f| f.amount);
                if is_fiat(&sent.asset) {
                    // RP2 tracks crypto only.
                } else if matches!(leg.kind, Kind::Trade | Kind::Deposit | Kind::Withdrawal) {
                    rows.push_out(id, "SELL", &sent.asset, sent.amount, same, Default::default());
                } else {
                    rows.push_out(
                        id,
                        "FEE",
                        &sent.asset,
                        Decimal::ZERO,
                        sent.amount + same,
                        Default::default(),
                    );
                }
                if let Some(f) = fee.filter(|f| f.asset != sent.asset) {
                    rows.push_fee(id, f);
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
    use crate::model::Amount;

    #[test]
    fn headers_and_ini() {
        assert_eq!(super::FILES[0].header.len(), 13);
        assert_eq!(super::FILES[1].header.len(), 13);
        assert_eq!(super::FILES[2].header.len(), 11);
        assert!(super::ini(&crate::prices::Fiat::usd()).contains("[dali.plugin.input.csv.manual]\nin_csv_file = dali-in.csv\nout_csv_file = dali-out.csv\nintra_csv_file = dali-intra.csv\nnative_fiat = USD\n"));
    }

    #[test]
    fn rows() {
        // `0:` = dali-in.csv, `1:` = dali-out.csv, `2:` = dali-intra.csv.
        assert_cases(
            Format::Dali,
            [
                &[
                    "1:tb-1001,2025-01-02 03:04:05.678+00:00,USDT,OKX,user,SELL,__unknown,1900,0,,,,trade BTC-USDT tb-1001",
                    "0:tb-1001,2025-01-02 03:04:05.678+00:00,BTC,OKX,user,BUY,__unknown,0.02,0.00002,,,,trade BTC-USDT tb-1001",
                ],
                &[
                    "1:tb-1003,2025-01-03 10:00:00.000+00:00,BTC,OKX,user,SELL,__unknown,0.005,0,,,,trade BTC-USDT tb-1003",
                    "0:tb-1003,2025-01-03 10:00:00.000+00:00,USDT,OKX,user,BUY,__unknown,480,0.48,,,,trade BTC-USDT tb-1003",
                ],
                &[
                    "0:fb-2001,2025-01-01 00:00:00.000+00:00,USDT,OKX,user,BUY,__unknown,2000,,,,,deposit fb-2001 tx 0xdep",
                ],
                &[
                    "1:fb-2002,2025-01-05 12:00:00.000+00:00,BTC,OKX,user,SELL,__unknown,0.004,0.0001,,,,withdrawal fb-2002 tx 0xwd",
                ],
                &[
                    "0:fb-2003,2025-01-06 00:00:00.000+00:00,ETH,OKX,user,STAKING,__unknown,0.0123,,,,,staking_reward fb-2003",
                ],
                &[
                    "1:tb-1005,2025-01-07 08:00:00.000+00:00,USDT,OKX,user,FEE,__unknown,0,0.25,,,,funding_fee BTC-USDT-SWAP tb-1005",
                ],
                &[
                    "1:tb-1006:pnl,2025-01-08 09:00:00.000+00:00,USDT,OKX,user,FEE,__unknown,0,12.5,,,,realized_pnl BTC-USDT-SWAP tb-1006:pnl",
                ],
                &[
                    "0:tb-1007:pnl,2025-01-09 09:00:00.000+00:00,USDT,OKX,user,INCOME,__unknown,30.75,,,,,realized_pnl BTC-USDT-SWAP tb-1007:pnl",
                ],
                &[
                    "0:tb-1008:rebate,2025-01-10 00:00:00.000+00:00,USDT,OKX,user,INCOME,__unknown,0.0102,,,,,rebate BTC-USDT tb-1008:rebate",
                ],
                &[
                    "1:tb-1010:fee,2025-01-12 00:00:00.000+00:00,OKB,OKX,user,FEE,__unknown,0,0.1,,,,fee tb-1010:fee",
                ],
            ],
        );
    }

    #[test]
    fn usd_buy_and_third_coin_fee() {
        let mut t = buy();
        t.sent = Some(Amount::new(dec("1900"), "USD"));
        t.fee = Some(Amount::new(dec("0.01"), "OKB"));
        t.instrument = Some("BTC-USD".into());
        assert_eq!(
            lines(Format::Dali, &t).unwrap(),
            [
                "0:tb-1001,2025-01-02 03:04:05.678+00:00,BTC,OKX,user,BUY,__unknown,0.02,,1900,,,trade BTC-USD tb-1001",
                "1:tb-1001/fee,2025-01-02 03:04:05.678+00:00,OKB,OKX,user,FEE,__unknown,0,0.01,,,,trade BTC-USD tb-1001",
            ]
        );
    }

    #[test]
    fn fiat_deposit_writes_nothing() {
        let mut t = deposit();
        t.received = Some(Amount::new(dec("100"), "EUR"));
        assert_eq!(lines(Format::Dali, &t).unwrap(), Vec::<String>::new());
    }

    /// Issue 11: `spot_price` is the unit price in the native fiat (a trade leg's price is
    /// the trade's value ÷ its amount); `__unknown` only without a price.
    #[test]
    fn spot_prices() {
        let l = |tx: &crate::model::Transaction, fiat: &str| valued_lines(Format::Dali, tx, fiat).unwrap();
        assert_eq!(
            l(&buy(), "USD"),
            [
                "1:tb-1001,2025-01-02 03:04:05.678+00:00,USDT,OKX,user,SELL,1,1900,0,,,,trade BTC-USDT tb-1001",
                "0:tb-1001,2025-01-02 03:04:05.678+00:00,BTC,OKX,user,BUY,95000,0.02,0.00002,,,,trade BTC-USDT tb-1001",
            ]
        );
        assert_eq!(
            l(&withdrawal(), "GBP"),
            [
                "1:fb-2002,2025-01-05 12:00:00.000+00:00,BTC,OKX,user,SELL,76000,0.004,0.0001,,,,withdrawal fb-2002 tx 0xwd"
            ]
        );
        let mut t = staking_reward();
        t.received.as_mut().unwrap().asset = "XYZ".into();
        assert_eq!(
            l(&t, "USD"),
            [
                "0:fb-2003,2025-01-06 00:00:00.000+00:00,XYZ,OKX,user,STAKING,__unknown,0.0123,,,,,staking_reward fb-2003"
            ]
        );
        // A fiat side in the native fiat is its fiat column.
        let mut e = buy();
        e.sent = Some(Amount::new(dec("1900"), "EUR"));
        assert_eq!(
            l(&e, "EUR"),
            [
                "0:tb-1001,2025-01-02 03:04:05.678+00:00,BTC,OKX,user,BUY,95000,0.02,0.00002,1900,,,trade BTC-USDT tb-1001"
            ]
        );
        assert!(super::ini(&crate::prices::Fiat::parse("EUR").unwrap()).contains("native_fiat = EUR\n"));
    }
}
