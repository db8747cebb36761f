//! `transactions.csv`: the normalized rows, lossless, one per [`Transaction`].
//!
//! * Header: [`Transaction::COLUMNS`] (21 columns, unchanged) and then the three value
//!   columns [`VALUE_COLUMNS`] (issue 11): `value` (the row's worth in the fiat, as the
//!   valuer gave it), `value_currency` (that fiat) and `price_source` (how it was found);
//!   all three empty when the row has no value. The contract is
//!   `schemas/transaction.schema.json`, explained in `schemas/README.md`.
//! * Time: RFC 3339 UTC with milliseconds ([`rfc3339_ms`]), e.g. `2025-03-01T12:34:56.789Z`.
//! * Amounts and price: [`plain`] decimals; absent values are empty cells.
//! * Every kind is written, including `transfer` and `unclassified` (whose `note` holds the
//!   raw OKX JSON), so this file is the baseline to diff against and the source for tools we
//!   do not support.

use super::{CsvFile, Prep, Records};
use crate::model::Transaction;

/// The columns after [`Transaction::COLUMNS`].
pub const VALUE_COLUMNS: [&str; 3] = ["value", "value_currency", "price_source"];

/// [`Transaction::COLUMNS`] followed by [`VALUE_COLUMNS`].
pub const HEADER: [&str; 24] = {
    let mut h = [""; 24];
    let mut i = 0;
    while i < 21 {
        h[i] = Transaction::COLUMNS[i];
        i += 1;
    }
    while i < 24 {
        h[i] = VALUE_COLUMNS[i - 21];
        i += 1;
    }
    h
};

pub(crate) const FILES: &[CsvFile] = &[CsvFile {
    name: "transactions.csv",
    header: &HEADER,
}];

/// A group report's header: [`HEADER`] and then `profile`, the member each row is from.
pub const GROUP_HEADER: [&str; 25] = {
    let mut h = [""; 25];
    let mut i = 0;
    while i < 24 {
        h[i] = HEADER[i];
        i += 1;
    }
    h[24] = "profile";
    h
};

pub(crate) const GROUP_FILES: &[CsvFile] = &[CsvFile {
    name: "transactions.csv",
    header: &GROUP_HEADER,
}];

pub(crate) fn encode(p: &Prep, opts: &super::ExportOptions, out: &mut Records) {
    let tx = p.tx;
    let row = out
        .row(0)
        .s(&tx.id)
        .s(&p.date.rfc3339_ms)
        .s(tx.account.as_str())
        .s(tx.kind.as_str())
        .amt_asset(tx.sent.as_ref())
        .amt_asset(tx.received.as_ref())
        .amt_asset(tx.fee.as_ref())
        .opt(tx.instrument.as_deref())
        .opt(tx.side.as_deref());
    let row = match tx.price {
        Some(price) => row.dec(price),
        None => row.empty(1),
    };
    let row = row
        .opt(tx.order_id.as_deref())
        .opt(tx.trade_id.as_deref())
        .opt(tx.tx_hash.as_deref())
        .opt(tx.address.as_deref())
        .opt(tx.chain.as_deref())
        .s(&tx.source)
        .s(&tx.source_id)
        .opt(tx.note.as_deref());
    let row = match p.value.value {
        Some(v) => row.dec(v).s(p.fiat()).s(&p.value.source),
        None => row.empty(3),
    };
    if opts.profile_column {
        row.s(p.profile).end();
    } else {
        row.end();
    }
}

#[cfg(test)]
mod tests {
    use super::super::Format;
    use super::super::testdata::*;

    #[test]
    fn rows() {
        assert_cases(
            Format::Generic,
            [
                &[
                    "tb-1001,2025-01-02T03:04:05.678Z,trading,trade,1900,USDT,0.02,BTC,0.00002,BTC,BTC-USDT,buy,95000,o-1,t-1,,,,account/bills,1001;1000,,,,",
                ],
                &[
                    "tb-1003,2025-01-03T10:00:00.000Z,trading,trade,0.005,BTC,480,USDT,0.48,USDT,BTC-USDT,sell,96000,o-2,t-2,,,,account/bills,1003;1002,,,,",
                ],
                &[
                    "fb-2001,2025-01-01T00:00:00.000Z,funding,deposit,,,2000,USDT,,,,,,,,0xdep,TDepositAddr,USDT-TRC20,asset/bills,2001,,,,",
                ],
                &[
                    "fb-2002,2025-01-05T12:00:00.000Z,funding,withdrawal,0.004,BTC,,,0.0001,BTC,,,,,,0xwd,bc1qdest,BTC-Bitcoin,asset/bills,2002,,,,",
                ],
                &[
                    "fb-2003,2025-01-06T00:00:00.000Z,earn,staking_reward,,,0.0123,ETH,,,,,,,,,,,asset/bills,2003,,,,",
                ],
                &[
                    "tb-1005,2025-01-07T08:00:00.000Z,trading,funding_fee,0.25,USDT,,,,,BTC-USDT-SWAP,,,,,,,,account/bills,1005,,,,",
                ],
                &[
                    "tb-1006:pnl,2025-01-08T09:00:00.000Z,trading,realized_pnl,12.5,USDT,,,,,BTC-USDT-SWAP,,,,,,,,account/bills,1006,,,,",
                ],
                &[
                    "tb-1007:pnl,2025-01-09T09:00:00.000Z,trading,realized_pnl,,,30.75,USDT,,,BTC-USDT-SWAP,,,,,,,,account/bills,1007,,,,",
                ],
                &[
                    "tb-1008:rebate,2025-01-10T00:00:00.000Z,trading,rebate,,,0.0102,USDT,,,BTC-USDT,,,,,,,,account/bills,1008,,,,",
                ],
                &[
                    "tb-1010:fee,2025-01-12T00:00:00.000Z,trading,fee,,,,,0.1,OKB,,,,,,,,,account/bills,1010,,,,",
                ],
            ],
        );
    }

    #[test]
    fn transfer_and_unclassified_are_kept() {
        assert_eq!(
            lines(Format::Generic, &transfer()).unwrap(),
            ["fb-2004,2025-01-01T01:00:00.000Z,funding,transfer,2000,USDT,,,,,,,,,,,,,asset/bills,2004,,,,"]
        );
        assert_eq!(
            lines(Format::Generic, &unclassified()).unwrap(),
            [
                r#"tb-1009,2025-01-11T00:00:00.000Z,trading,unclassified,,,1,USDT,,,,,,,,,,,account/bills,1009,"{""type"":""99"",""balChg"":""1""}",,,"#
            ]
        );
    }

    #[test]
    fn round_trips_through_a_csv_reader() {
        let line = lines(Format::Generic, &unclassified()).unwrap().remove(0);
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(rec.len(), 24);
        assert_eq!(&rec[20], r#"{"type":"99","balChg":"1"}"#);
    }

    /// Issue 11: the three value columns carry the valuer's value, its fiat and source.
    #[test]
    fn value_columns() {
        let tail = |tx: &crate::model::Transaction, fiat: &str| {
            let line = valued_lines(Format::Generic, tx, fiat).unwrap().remove(0);
            line.rsplitn(4, ',').take(3).collect::<Vec<_>>().join("|")
        };
        assert_eq!(tail(&buy(), "USD"), "leg:USDT|USD|1900");
        assert_eq!(tail(&sell(), "USD"), "leg:USDT|USD|480");
        assert_eq!(tail(&withdrawal(), "USD"), "fixed:BTC|USD|380");
        assert_eq!(tail(&staking_reward(), "GBP"), "fixed:ETH|GBP|33.456");
        assert_eq!(tail(&fee_only_okb(), "USD"), "fixed:OKB|USD|5");
        // No price: three empty cells, never 0.
        let mut t = staking_reward();
        t.received.as_mut().unwrap().asset = "XYZ".into();
        assert_eq!(tail(&t, "USD"), "||");
    }
}
