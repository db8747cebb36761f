//! The demo account's export **with fiat values**, for the offline tax-engine checks
//! (`tests/dali.rs`, `tests/bittytax.rs`; issue 11).
//!
//! [`valued_demo`] runs the real pipeline: the binary's `export` against the simulator on
//! 127.0.0.1 (the demo account, `--since 2025-07-01`), so the values are the ones a user
//! gets, from the simulator's index and spot candles through the price stage and the price
//! cache (and the simulator's ECB stub for `--fiat GBP`). [`demo_rows`] are the same rows,
//! read from the reviewed `tests/expected/transactions.csv` (which `tests/it/report.rs`
//! proves equal to what `export` writes for the simulator).

use okx_export::export::Format;
use okx_export::model::{Account, Amount, Kind, Transaction};
use okx_export::sim::{SimConfig, SimKey, SimServer};
use rust_decimal::Decimal;
use std::path::Path;

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

/// Runs `okx-export export --fiat <fiat> --format <formats>` against a fresh simulator
/// and returns the temp dir whose `out/` holds the files (with `transactions.csv`).
pub fn valued_demo(fiat: &str, formats: &[Format]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = dir.path().join("out");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Limits 10× OKX's, as the integration tests run them: the values do not depend on it.
    let sim: SimServer = rt
        .block_on(SimServer::start(SimConfig {
            rate_scale: 10,
            ..SimConfig::default()
        }))
        .expect("simulator starts");
    let key = SimKey::demo();
    let mut names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
    names.push("transactions");
    let formats = names.join(",");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_okx-export"));
    cmd.args(["--data-dir", data.to_str().unwrap(), "--no-progress", "export"])
        .args(["--since", "2025-07-01", "--archive-poll-ms", "50"])
        .args([
            "--fiat",
            fiat,
            "--format",
            &formats,
            "--out",
            out.to_str().unwrap(),
        ])
        .current_dir(dir.path());
    for (k, _) in std::env::vars() {
        if k.starts_with("OKX_") || k == "XDG_CONFIG_HOME" || k == "XDG_CACHE_HOME" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", dir.path())
        .env("NO_COLOR", "1")
        .env("OKX_BASE_URL", sim.base_url())
        .env("OKX_API_KEY", &key.api_key)
        .env("OKX_API_SECRET", &key.secret)
        .env("OKX_API_PASSPHRASE", &key.passphrase)
        .env("OKX_EXPORT_RATE_SCALE", "10")
        .env("OKX_EXPORT_BACKOFF_MS", "20")
        .env("OKX_EXPORT_ECB_URL", format!("{}/sim-ecb", sim.base_url()));
    let run = cmd.output().expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert_eq!(
        run.status.code(),
        Some(0),
        "export --fiat {fiat} failed:\n{}\n{}",
        text(&run.stdout),
        text(&run.stderr)
    );
    assert!(
        !out.join("missing_prices.csv").exists(),
        "every demo row has a {fiat} value: {}",
        text(&run.stderr)
    );
    drop(sim);
    drop(rt);
    dir
}

/// The directory [`valued_demo`] wrote the files into.
pub fn out_dir(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("out")
}
