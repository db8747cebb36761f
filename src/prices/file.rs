//! `missing_prices.csv` (rows that could not be valued) and `--prices FILE` (the same file
//! with its `price` column filled in), which wins over fetched prices.
//!
//! Columns: `asset,time,fiat,price,rows,row_ids,why`. `time` is the row's minute (UTC,
//! RFC 3339); `price` is the unit price of `asset` in `fiat` at that minute. One price per
//! (asset, minute): a second, different one is refused, as is any bad line (exit 2).

use super::Fiat;
use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;

pub const MISSING_HEADER: [&str; 7] = ["asset", "time", "fiat", "price", "rows", "row_ids", "why"];

/// An (asset, minute) that has no price, and the rows that need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingPrice {
    pub asset: String,
    /// The minute's open time, Unix ms.
    pub minute: i64,
    pub row_ids: Vec<String>,
    pub why: String,
}

fn minute_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(String::new, |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// Writes `missing` to `path` (atomically); with nothing missing, removes an old file
/// instead and returns `false`.
pub fn write_missing(
    path: &Path,
    fiat: &Fiat,
    missing: &BTreeMap<(String, i64), MissingPrice>,
) -> Result<bool> {
    if missing.is_empty() {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove the stale `{}`", path.display())),
        }
        return Ok(false);
    }
    crate::files::write_csv_atomic(
        path,
        &MISSING_HEADER,
        missing.values().map(|m| {
            vec![
                m.asset.clone(),
                minute_text(m.minute),
                fiat.to_string(),
                String::new(),
                m.row_ids.len().to_string(),
                m.row_ids.join(";"),
                m.why.clone(),
            ]
        }),
    )?;
    Ok(true)
}

/// Prices given by the user: (asset, minute) → price in `fiat`.
#[derive(Debug, Clone, Default)]
pub struct UserPrices {
    /// `file:<name>` for `source`.
    pub source: String,
    pub prices: HashMap<(String, i64), Decimal>,
}

/// Reads a filled-in `missing_prices.csv`; rows with an empty `price` are skipped. Every
/// problem with the file is a usage error (exit 2) naming the line: a time that is not RFC
/// 3339, a price that is not a non-negative number, another fiat, or a second, different
/// price for an (asset, minute) already given.
pub fn read_user_prices(path: &Path, fiat: &Fiat) -> Result<UserPrices> {
    read(path, fiat).map_err(|e| crate::error::usage(format!("{e:#}")))
}

fn read(path: &Path, fiat: &Fiat) -> Result<UserPrices> {
    let shown = path.display();
    let mut rd = csv::Reader::from_path(path).with_context(|| format!("--prices: cannot read `{shown}`"))?;
    let headers = rd
        .headers()
        .with_context(|| format!("--prices `{shown}`: no header line"))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h.trim() == name).with_context(|| {
            format!("--prices `{shown}` has no `{name}` column; fill in the `price` column of missing_prices.csv and pass that file")
        })
    };
    let (a_i, t_i, p_i) = (col("asset")?, col("time")?, col("price")?);
    let f_i = headers.iter().position(|h| h.trim() == "fiat");
    let mut prices = HashMap::new();
    let mut lines: HashMap<(String, i64), usize> = HashMap::new();
    for (n, rec) in rd.records().enumerate() {
        let line = n + 2;
        let rec = rec.with_context(|| format!("--prices `{shown}` line {line}"))?;
        let price = rec.get(p_i).unwrap_or("").trim();
        if price.is_empty() {
            continue;
        }
        let asset = rec.get(a_i).unwrap_or("").trim().to_ascii_uppercase();
        let time = rec.get(t_i).unwrap_or("").trim();
        let t = DateTime::parse_from_rfc3339(time).with_context(|| {
            format!(
                "--prices `{shown}` line {line}: time `{time}` is not RFC 3339, e.g. 2025-03-03T12:34:00Z"
            )
        })?;
        let p = Decimal::from_str(price)
            .ok()
            .filter(|p| *p >= Decimal::ZERO)
            .with_context(|| {
                format!(
                    "--prices `{shown}` line {line}: price `{price}` is not a non-negative decimal number"
                )
            })?;
        if let Some(f) = f_i
            .and_then(|i| rec.get(i))
            .map(str::trim)
            .filter(|f| !f.is_empty())
            && !f.eq_ignore_ascii_case(fiat.as_str())
        {
            bail!(
                "--prices `{shown}` line {line}: the price is in {f} but values are in {fiat}; pass --fiat {f} or convert the price"
            );
        }
        let minute = super::rules::bar_open(t.with_timezone(&Utc).timestamp_millis(), 60_000);
        let key = (asset, minute);
        match prices.get(&key) {
            Some(earlier) if *earlier != p => bail!(
                "--prices `{shown}` line {line}: a second price for {} at {} ({price}; line {} says {earlier}); keep one",
                key.0,
                minute_text(minute),
                lines.get(&key).copied().unwrap_or_default()
            ),
            Some(_) => {}
            None => {
                lines.insert(key.clone(), line);
                prices.insert(key, p);
            }
        }
    }
    let name = path
        .file_name()
        .map_or_else(|| shown.to_string(), |n| n.to_string_lossy().into_owned());
    Ok(UserPrices {
        source: format!("file:{name}"),
        prices,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Exit, exit_for};

    fn read(text: &str) -> Result<UserPrices> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("filled.csv");
        std::fs::write(&p, text).unwrap();
        read_user_prices(&p, &Fiat::usd())
    }

    const HEAD: &str = "asset,time,fiat,price,rows,row_ids,why\n";

    /// Issue 19 item 10: two prices for one (asset, minute) are refused (the later one no
    /// longer wins silently), naming both lines; the same price twice is harmless.
    #[test]
    fn a_duplicate_minute_with_another_price_is_refused() {
        let e = read(&format!(
            "{HEAD}OKB,2025-08-01T10:00:00Z,USD,42,1,r1,\nokb,2025-08-01T10:00:30Z,USD,43,1,r2,\n"
        ))
        .unwrap_err();
        let text = format!("{e:#}");
        assert!(text.contains("line 3") && text.contains("line 2"), "{text}");
        assert_eq!(exit_for(&e), Exit::Usage);
        let ok = read(&format!(
            "{HEAD}OKB,2025-08-01T10:00:00Z,USD,42,1,r1,\nOKB,2025-08-01T10:00:00Z,USD,42.0,1,r2,\n"
        ))
        .unwrap();
        assert_eq!(ok.prices.len(), 1);
    }

    /// Issue 19 item 10: a bad file is a usage error (exit 2), not a runtime failure.
    #[test]
    fn a_bad_file_is_a_usage_error() {
        for text in [
            format!("{HEAD}OKB,yesterday,USD,42,1,r1,\n"),
            format!("{HEAD}OKB,2025-08-01T10:00:00Z,USD,-1,1,r1,\n"),
            format!("{HEAD}OKB,2025-08-01T10:00:00Z,EUR,42,1,r1,\n"),
            "asset,when,price\n".to_string(),
        ] {
            let e = read(&text).unwrap_err();
            assert_eq!(exit_for(&e), Exit::Usage, "{e:#}");
        }
        let e = read_user_prices(Path::new("/nonexistent/filled.csv"), &Fiat::usd()).unwrap_err();
        assert_eq!(exit_for(&e), Exit::Usage, "{e:#}");
    }
}
