//! ECB euro reference rates (daily, working days) for fiat other than USD.
//!
//! The ECB is not an OKX host: requests go through their own plain client, with no OKX
//! headers, no redirect except to https, a timeout and a size cap. The base URL is the
//! ECB data API unless `OKX_EXPORT_ECB_URL` says otherwise or OKX is the local simulator
//! (see [`ecb_url`]).

use super::cache::PriceCache;
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;

pub const DEFAULT_ECB_URL: &str = "https://data-api.ecb.europa.eu";

/// The currencies values can be given in: USD, the euro, and every currency the ECB
/// publishes a daily euro reference rate for (its list since 2023; BGN ends with 2025,
/// when Bulgaria adopts the euro, and stays for earlier years).
pub const CURRENCIES: [&str; 31] = [
    "USD", "EUR", "AUD", "BGN", "BRL", "CAD", "CHF", "CNY", "CZK", "DKK", "GBP", "HKD", "HUF", "IDR", "ILS",
    "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB", "TRY",
    "ZAR",
];
pub const ECB_URL_ENV: &str = "OKX_EXPORT_ECB_URL";
/// An answer larger than this is refused (a year of one series is ~40 KiB).
const MAX_BYTES: usize = 8 << 20;

/// The ECB base URL to use: `OKX_EXPORT_ECB_URL`; else, when the OKX host is a loopback
/// one (the simulator: demo, tests), its ECB stub, so nothing leaves the machine; else the
/// ECB's own API.
pub fn ecb_url(okx_base_url: &str) -> String {
    if let Some(u) = std::env::var(ECB_URL_ENV).ok().filter(|s| !s.is_empty()) {
        return u;
    }
    let loopback = url::Url::parse(okx_base_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| matches!(h, "127.0.0.1" | "localhost" | "[::1]"))
        })
        .unwrap_or(false);
    if loopback {
        format!("{}/sim-ecb", okx_base_url.trim_end_matches('/'))
    } else {
        DEFAULT_ECB_URL.to_string()
    }
}

pub struct Ecb {
    http: reqwest::Client,
    base: String,
    pub requests: u64,
}

impl Ecb {
    pub fn new(base: String) -> Result<Ecb> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::custom(|a| {
                if a.previous().len() >= 5 {
                    a.error("more than 5 redirects")
                } else if a.url().scheme() == "https" {
                    a.follow()
                } else {
                    a.error("refusing a redirect to non-https")
                }
            }))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("okx-export/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the ECB client")?;
        Ok(Ecb {
            http,
            base: base.trim_end_matches('/').to_string(),
            requests: 0,
        })
    }

    /// Makes sure `cache` holds the rates of `ccy` per euro for `[from, to]` (one request
    /// when it does not).
    pub async fn ensure(
        &mut self,
        cache: &mut PriceCache,
        ccy: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<()> {
        if ccy == "EUR" || cache.ecb_covers(ccy, from, to)? {
            return Ok(());
        }
        let url = format!(
            "{}/service/data/EXR/D.{ccy}.EUR.SP00.A?startPeriod={from}&endPeriod={to}&format=csvdata",
            self.base
        );
        self.requests += 1;
        let host = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let mut resp = self.http.get(&url).send().await.with_context(|| {
            format!("ECB rates for {ccy}: no answer from `{host}` (set {ECB_URL_ENV} to another mirror)")
        })?;
        if !resp.status().is_success() {
            bail!(
                "ECB rates for {ccy}: `{host}` answered HTTP {} (is {ccy} an ECB currency?)",
                resp.status().as_u16()
            );
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .with_context(|| format!("ECB rates for {ccy}: reading the answer"))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                bail!("ECB rates for {ccy}: the answer from `{host}` is larger than {MAX_BYTES} bytes");
            }
        }
        let rates = parse_csv(&body).with_context(|| format!("ECB rates for {ccy} from `{host}`"))?;
        cache.store_ecb(ccy, &rates, from, to)
    }
}

/// `(day, rate)` from the ECB data API's `csvdata` (columns `TIME_PERIOD`, `OBS_VALUE`).
pub fn parse_csv(body: &[u8]) -> Result<Vec<(NaiveDate, Decimal)>> {
    let mut rd = csv::Reader::from_reader(body);
    let headers = rd.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("no `{name}` column in the ECB answer"))
    };
    let (day_i, val_i) = (col("TIME_PERIOD")?, col("OBS_VALUE")?);
    let mut out = Vec::new();
    for rec in rd.records() {
        let rec = rec?;
        let (Some(d), Some(v)) = (rec.get(day_i), rec.get(val_i)) else {
            continue;
        };
        if v.is_empty() || v == "NaN" {
            continue; // a holiday marked without a value
        }
        let day = NaiveDate::parse_from_str(d, "%Y-%m-%d").with_context(|| format!("bad ECB date `{d}`"))?;
        let rate = Decimal::from_str(v).with_context(|| format!("bad ECB rate `{v}` on {d}"))?;
        if rate <= Decimal::ZERO {
            bail!("ECB rate `{v}` on {d} is not positive");
        }
        out.push((day, rate));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csvdata() {
        let body = b"KEY,FREQ,CURRENCY,CURRENCY_DENOM,EXR_TYPE,EXR_SUFFIX,TIME_PERIOD,OBS_VALUE,OBS_STATUS\n\
            EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-03-03,1.0465,A\n\
            EXR.D.USD.EUR.SP00.A,D,USD,EUR,SP00,A,2025-03-04,,A\n";
        let r = parse_csv(body).unwrap();
        assert_eq!(
            r,
            vec![(
                NaiveDate::from_ymd_opt(2025, 3, 3).unwrap(),
                Decimal::new(10465, 4)
            )]
        );
        assert!(parse_csv(b"DATE,VALUE\n").is_err());
        if std::env::var_os(ECB_URL_ENV).is_none() {
            assert_eq!(ecb_url("http://127.0.0.1:4000"), "http://127.0.0.1:4000/sim-ecb");
            assert_eq!(ecb_url("https://www.okx.com"), DEFAULT_ECB_URL);
        }
    }
}
