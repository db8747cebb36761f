//! What the page says about each written file: the tool it is for and how to import it
//! (facts from `../shared/tax-formats.md` and each format's module doc, in short), and what
//! each of the other report files is.

use crate::export::Format;

/// The tool a format is for and the steps to import it.
pub fn import(format: Format) -> (&'static str, &'static str) {
    match format {
        Format::Generic => (
            "any spreadsheet or script",
            "The lossless normalized rows (schema in schemas/README.md): every row, transfers and unclassified rows included, with its value and price source. Open it in a spreadsheet; it is what every other file is derived from.",
        ),
        Format::Koinly => (
            "Koinly",
            "Wallets → add a wallet (e.g. \"OKX (CSV)\") → Import from file → choose koinly.csv (Koinly universal template, dates in UTC). Do not also connect OKX's API to the same wallet, or rows are doubled.",
        ),
        Format::CoinTracking => (
            "CoinTracking",
            "Enter Coins → Bulk Import → CSV import → upload cointracking.csv; in the wizard map the columns by their header names, pick the date format YYYY-MM-DD HH:MM:SS and the time zone UTC. Set --fiat to your CoinTracking account currency for the value columns.",
        ),
        Format::Ctc => (
            "Crypto Tax Calculator",
            "Import data → add an account → Upload CSV → \"Advanced (custom) CSV\" → ctc.csv (dates in UTC).",
        ),
        Format::BittyTax => (
            "BittyTax",
            "Run `bittytax bittytax.csv` (values only with --fiat GBP). Its integrity check fails on an OKX-only file (deposits and withdrawals are transfers to wallets it does not see): import those wallets too, or run with --skipint.",
        ),
        Format::CoinTracker => (
            "CoinTracker",
            "Wallets → add a wallet → Add transactions via CSV → upload cointracker.csv (CoinTracker's 8-column template, UTC).",
        ),
        Format::CoinLedger => (
            "CoinLedger",
            "Import → add an account → Upload → \"Universal manual import\" template → coinledger.csv (UTC).",
        ),
        Format::Dali => (
            "DaLI → RP2",
            "Run `dali_us -o out -p okx_ dali.ini` next to the three dali-*.csv files (add -s only when rows lack a price: DaLI then fetches prices online); it writes out/okx_crypto_data.ods and .ini; then `rp2_us -o report -p okx_ out/okx_crypto_data.ini out/okx_crypto_data.ods` (or your country's rp2).",
        ),
    }
}

/// What a non-tax file written by a report holds, by file name.
pub fn other_file(name: &str) -> Option<&'static str> {
    Some(match name {
        "balances.csv" => "OKX's latest balance snapshot, whatever the period",
        "reconciliation.csv" => "every reconciliation check and its verdict (the balance audit below)",
        "opening_balances.csv" => {
            "balances the stored history starts with, for tools that need an opening position"
        }
        "closing_balances.csv" => "holdings at the period's end, from the ledgers' running balances",
        "tax-summary.csv" => {
            "the period's totals in the fiat (the income, derivatives, fees, disposals and holdings sections of this page)"
        }
        "coverage.csv" => "what each stream and archive quarter covers (the coverage timeline)",
        "missing_prices.csv" => "rows without a price: fill in its price column and pass --prices FILE",
        "summary.json" => "this report for scripts and monitoring",
        _ => return None,
    })
}
