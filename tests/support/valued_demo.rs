//! The demo account's export **with fiat values**, for the offline tax-engine checks
//! (`tests/dali.rs`, `tests/bittytax.rs`; issue 11).
//!
//! The rows are the reviewed `tests/expected/transactions.csv` (which `tests/it/report.rs`
//! proves equal to what `export` writes for the simulator), read back and written again
//! through the real [`ExportWriter`], each valued by [`valuer`].
//!
//! **The one place to switch to the real prices** is [`valuer`]: today the deterministic
//! [`FixedPrices`] (the price stage is another branch); after the merge, return the price
//! side's valuer over a price cache filled from the simulator's candles (or replace
//! [`valued_demo`] by the output of `okx-export demo --fiat <FIAT>`, whose files carry the
//! real values). Nothing else in the engine tests depends on where the values come from.

use okx_export::export::{ExportOptions, ExportWriter, FixedPrices, Format};
use okx_export::model::{Account, Amount, Kind, Transaction};
use okx_export::prices::{Fiat, Valuer};
use rust_decimal::Decimal;
use std::path::Path;

/// The valuer of the engine checks (see the module doc).
pub fn valuer(fiat: &Fiat) -> Box<dyn Valuer> {
    Box::new(FixedPrices::demo(fiat.clone()))
}

/// The demo rows (`tests/expected/transactions.csv`, its first 21 columns).
pub fn demo_rows() -> Vec<Transaction> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/expected/transactions.csv");
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let amt = |a: &str, c: &str| (!a.is_empty()).then(|| Amount::new(a.parse::<Decimal>().unwrap(), c));
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            let time = chrono::DateTime::parse_from_rfc3339(&r[1]).unwrap().to_utc();
            let mut t = Transaction::new(
                &r[0],
                time,
                Account::parse(&r[2]).unwrap(),
                Kind::parse(&r[3]).unwrap(),
                &r[18],
                &r[19],
            );
            (t.sent, t.received, t.fee) = (amt(&r[4], &r[5]), amt(&r[6], &r[7]), amt(&r[8], &r[9]));
            (t.instrument, t.side) = (opt(&r[10]), opt(&r[11]));
            t.price = opt(&r[12]).map(|p| p.parse().unwrap());
            (t.order_id, t.trade_id, t.tx_hash) = (opt(&r[13]), opt(&r[14]), opt(&r[15]));
            (t.address, t.chain, t.note) = (opt(&r[16]), opt(&r[17]), opt(&r[20]));
            t
        })
        .collect()
}

/// Writes the demo rows in `formats` with values in `fiat` into a new temp dir.
pub fn valued_demo(fiat: &str, formats: &[Format]) -> tempfile::TempDir {
    let fiat = Fiat::parse(fiat).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        fiat: fiat.clone(),
        ..ExportOptions::default()
    };
    let mut valuer = valuer(&fiat);
    let mut w = ExportWriter::create(dir.path(), formats, opts).unwrap();
    for tx in demo_rows() {
        let value = valuer.value(&tx).unwrap();
        w.write(&tx, &value).unwrap();
    }
    w.finish().unwrap();
    dir
}
