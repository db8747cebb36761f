//! Hand-built transactions shared by the format tests, and a helper that renders them.
//!
//! The values are chosen so expected rows can be computed by hand:
//! buy 0.02 BTC for 1900 USDT with a 0.00002 BTC fee; sell 0.005 BTC for 480 USDT with a
//! 0.48 USDT fee; deposit 2000 USDT; withdraw 0.004 BTC with a 0.0001 BTC fee; …

use super::legs::Skip;
use super::prep::Shared;
use super::{ExportOptions, FixedPrices, Format, Records};
use crate::model::{Account, Amount, Kind, Transaction};
use crate::prices::{Fiat, NoPrices, RowValue, Valuer};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::str::FromStr;

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

pub fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn amt(a: &str, asset: &str) -> Option<Amount> {
    Some(Amount::new(dec(a), asset))
}

fn tx(id: &str, time: &str, account: Account, kind: Kind, source: &str, source_id: &str) -> Transaction {
    Transaction::new(id, ts(time), account, kind, source, source_id)
}

/// Spot buy of 0.02 BTC for 1900 USDT, fee 0.00002 BTC taken from the bought coin.
pub fn buy() -> Transaction {
    let mut t = tx(
        "tb-1001",
        "2025-01-02T03:04:05.678Z",
        Account::Trading,
        Kind::Trade,
        "account/bills",
        "1001;1000",
    );
    t.sent = amt("1900", "USDT");
    t.received = amt("0.02", "BTC");
    t.fee = amt("0.00002", "BTC");
    t.instrument = Some("BTC-USDT".into());
    t.side = Some("buy".into());
    t.price = Some(dec("95000"));
    t.order_id = Some("o-1".into());
    t.trade_id = Some("t-1".into());
    t
}

/// Spot sell of 0.005 BTC for 480 USDT (gross), fee 0.48 USDT in the quote coin.
pub fn sell() -> Transaction {
    let mut t = tx(
        "tb-1003",
        "2025-01-03T10:00:00Z",
        Account::Trading,
        Kind::Trade,
        "account/bills",
        "1003;1002",
    );
    t.sent = amt("0.005", "BTC");
    t.received = amt("480", "USDT");
    t.fee = amt("0.48", "USDT");
    t.instrument = Some("BTC-USDT".into());
    t.side = Some("sell".into());
    t.price = Some(dec("96000"));
    t.order_id = Some("o-2".into());
    t.trade_id = Some("t-2".into());
    t
}

/// 2000 USDT deposited from outside.
pub fn deposit() -> Transaction {
    let mut t = tx(
        "fb-2001",
        "2025-01-01T00:00:00Z",
        Account::Funding,
        Kind::Deposit,
        "asset/bills",
        "2001",
    );
    t.received = amt("2000", "USDT");
    t.tx_hash = Some("0xdep".into());
    t.address = Some("TDepositAddr".into());
    t.chain = Some("USDT-TRC20".into());
    t
}

/// 0.004 BTC withdrawn (arrives), plus a 0.0001 BTC withdrawal fee.
pub fn withdrawal() -> Transaction {
    let mut t = tx(
        "fb-2002",
        "2025-01-05T12:00:00Z",
        Account::Funding,
        Kind::Withdrawal,
        "asset/bills",
        "2002",
    );
    t.sent = amt("0.004", "BTC");
    t.fee = amt("0.0001", "BTC");
    t.tx_hash = Some("0xwd".into());
    t.address = Some("bc1qdest".into());
    t.chain = Some("BTC-Bitcoin".into());
    t
}

pub fn staking_reward() -> Transaction {
    let mut t = tx(
        "fb-2003",
        "2025-01-06T00:00:00Z",
        Account::Earn,
        Kind::StakingReward,
        "asset/bills",
        "2003",
    );
    t.received = amt("0.0123", "ETH");
    t
}

/// Perpetual funding paid: 0.25 USDT.
pub fn funding_fee_paid() -> Transaction {
    let mut t = tx(
        "tb-1005",
        "2025-01-07T08:00:00Z",
        Account::Trading,
        Kind::FundingFee,
        "account/bills",
        "1005",
    );
    t.sent = amt("0.25", "USDT");
    t.instrument = Some("BTC-USDT-SWAP".into());
    t
}

/// Realized PnL loss of 12.5 USDT on a swap.
pub fn pnl_loss() -> Transaction {
    let mut t = tx(
        "tb-1006:pnl",
        "2025-01-08T09:00:00Z",
        Account::Trading,
        Kind::RealizedPnl,
        "account/bills",
        "1006",
    );
    t.sent = amt("12.5", "USDT");
    t.instrument = Some("BTC-USDT-SWAP".into());
    t
}

/// Realized PnL gain of 30.75 USDT on a swap.
pub fn pnl_gain() -> Transaction {
    let mut t = tx(
        "tb-1007:pnl",
        "2025-01-09T09:00:00Z",
        Account::Trading,
        Kind::RealizedPnl,
        "account/bills",
        "1007",
    );
    t.received = amt("30.75", "USDT");
    t.instrument = Some("BTC-USDT-SWAP".into());
    t
}

/// Spot maker rebate of 0.0102 USDT.
pub fn rebate() -> Transaction {
    let mut t = tx(
        "tb-1008:rebate",
        "2025-01-10T00:00:00Z",
        Account::Trading,
        Kind::Rebate,
        "account/bills",
        "1008",
    );
    t.received = amt("0.0102", "USDT");
    t.instrument = Some("BTC-USDT".into());
    t
}

/// Funding → trading move: skipped by every tax format.
pub fn transfer() -> Transaction {
    let mut t = tx(
        "fb-2004",
        "2025-01-01T01:00:00Z",
        Account::Funding,
        Kind::Transfer,
        "asset/bills",
        "2004",
    );
    t.sent = amt("2000", "USDT");
    t
}

/// An unknown bill type: kept in transactions.csv only, raw JSON in the note.
pub fn unclassified() -> Transaction {
    let mut t = tx(
        "tb-1009",
        "2025-01-11T00:00:00Z",
        Account::Trading,
        Kind::Unclassified,
        "account/bills",
        "1009",
    );
    t.received = amt("1", "USDT");
    t.note = Some(r#"{"type":"99","balChg":"1"}"#.into());
    t
}

/// A standalone fee carried only in the fee column (no sent amount), in a third coin.
pub fn fee_only_okb() -> Transaction {
    let mut t = tx(
        "tb-1010:fee",
        "2025-01-12T00:00:00Z",
        Account::Trading,
        Kind::Fee,
        "account/bills",
        "1010",
    );
    t.fee = amt("0.1", "OKB");
    t
}

/// Every case above, in time order.
pub fn sample() -> Vec<Transaction> {
    let mut v = vec![
        deposit(),
        transfer(),
        buy(),
        sell(),
        withdrawal(),
        staking_reward(),
        funding_fee_paid(),
        pnl_loss(),
        pnl_gain(),
        rebate(),
        unclassified(),
        fee_only_okb(),
    ];
    v.sort_by_key(|t| t.time);
    v
}

/// Encodes one transaction with `format` and returns each record as a CSV line (no header),
/// prefixed by `<file index>:` when the format has several files.
pub fn lines(format: Format, tx: &Transaction) -> Result<Vec<String>, Skip> {
    let value = no_value(tx);
    lines_valued(format, tx, &value, &ExportOptions::default())
}

/// The value [`NoPrices`] gives `tx` (in USD).
pub fn no_value(tx: &Transaction) -> RowValue {
    NoPrices::new(Fiat::usd()).value(tx).unwrap()
}

/// The value [`FixedPrices::demo`] gives `tx` in `fiat`.
pub fn fixed_value(tx: &Transaction, fiat: &str) -> RowValue {
    FixedPrices::demo(Fiat::parse(fiat).unwrap()).value(tx).unwrap()
}

/// [`lines`] of `tx` valued by [`FixedPrices::demo`] in `fiat`.
pub fn valued_lines(format: Format, tx: &Transaction, fiat: &str) -> Result<Vec<String>, Skip> {
    let opts = ExportOptions {
        fiat: Fiat::parse(fiat).unwrap(),
        ..ExportOptions::default()
    };
    lines_valued(format, tx, &fixed_value(tx, fiat), &opts)
}

/// [`lines`] with a given value and options.
pub fn lines_valued(
    format: Format,
    tx: &Transaction,
    value: &RowValue,
    opts: &ExportOptions,
) -> Result<Vec<String>, Skip> {
    let mut shared = Shared::default();
    let prep = shared.prepare(tx, value, "");
    let mut recs = Records::new(format.csv_files());
    recs.texts = prep.texts;
    format.encode(&prep, opts, &mut recs)?;
    let multi = format.csv_files().len() > 1;
    Ok(recs
        .spans
        .iter()
        .map(|r| {
            let line = std::str::from_utf8(&recs.text(r.file)[r.start..r.end]).unwrap();
            let line = line.strip_suffix('\n').unwrap();
            let width = format.csv_files()[r.file].header.len();
            assert_eq!(r.cells, width, "record width must match the header: {line}");
            if multi {
                format!("{}:{line}", r.file)
            } else {
                line.to_string()
            }
        })
        .collect())
}

/// Asserts the rows for the eleven standard cases (transfer and unclassified must be skipped
/// by tax formats). `expected` is in this order: buy, sell, deposit, withdrawal, staking
/// reward, funding fee paid, pnl loss, pnl gain, rebate, fee-only.
pub fn assert_cases(format: Format, expected: [&[&str]; 10]) {
    let cases = [
        buy(),
        sell(),
        deposit(),
        withdrawal(),
        staking_reward(),
        funding_fee_paid(),
        pnl_loss(),
        pnl_gain(),
        rebate(),
        fee_only_okb(),
    ];
    for (tx, want) in cases.iter().zip(expected) {
        let got = lines(format, tx).unwrap_or_else(|s| panic!("{} skipped {s:?}", tx.id));
        assert_eq!(got, want, "{format} rows for {} ({})", tx.id, tx.kind);
    }
    if format.is_tax_format() {
        assert_eq!(lines(format, &transfer()), Err(Skip::Transfer));
        assert_eq!(lines(format, &unclassified()), Err(Skip::Unclassified));
    }
}
