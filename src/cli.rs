//! Command-line definitions (clap derive). Doc comments are the `--help` text; this module
//! only parses, [`crate::settings`] resolves.

use crate::okx::client::DEFAULT_GIVE_UP_AFTER;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  runtime failure (network/API gave up after retries, I/O, a full disk or a
     store that cannot be written, an archive quarter given up; the other
     quarters are stored)
  2  usage or configuration error
  3  credentials rejected, or the key is not read-only
  4  data problem (unclassified records, a stored record that cannot be read, a
     failed reconciliation or file check, a period the store does not cover, a
     sub-account left out of the report)
  With --group or --all, the exit code is the worst profile's: 130/143, then 2, 3,
  1, 4. `status --all` counts a failed profile's last exit, 4 for incomplete, 1 for
  stale or never synced.
  130/143  stopped by Ctrl-C / SIGTERM (run sync again to resume)

Credentials come from the profile named by --profile, else from OKX_API_KEY,
OKX_API_SECRET and OKX_API_PASSPHRASE, else from [profile.default] in the config file
(secret_command / secret_file); never from arguments.";

/// Export a complete OKX account history (read-only API key) into tax-tool CSV files.
#[derive(Debug, Parser)]
#[command(name = "okx-export", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Region {
    Global,
    Eea,
    Us,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Global => "global",
            Region::Eea => "eea",
            Region::Us => "us",
        }
    }
}

/// Options every command understands.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Profile in the config file [default: default]; when given, its credentials and host
    /// beat OKX_API_* and OKX_BASE_URL
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// A group of profiles from the config file (`[group.NAME] profiles = [...]`): `sync`
    /// and `check-key` run for every member at once; `report` and `export` write one set
    /// of files for the group (default folder output/NAME/); `status` shows each member
    #[arg(long, global = true, value_name = "NAME", conflicts_with_all = ["profile", "data_dir"])]
    pub group: Option<String>,
    /// Every profile of the config file, each a client of its own
    ///
    /// `sync`, `export`, `report` and `check-key` run them at once, each into its own
    /// folder (output/<profile>/); `status` prints one line per profile. The terminal gets
    /// one line per profile (with --quiet only the failures); each profile's whole output
    /// goes to its last-run.log, the run's summary to output/fleet-summary.json.
    #[arg(long, global = true, conflicts_with_all = ["profile", "data_dir", "group"])]
    pub all: bool,
    /// With --all or --group: at most N profiles at once [default: all]
    ///
    /// By default every profile runs at once, so the slowest client bounds the wall time,
    /// not this limit (a sync mostly waits on its own account's rate limits).
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Config file (default: ./okx-export.toml, else $XDG_CONFIG_HOME/okx-export/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the local store lives (default: output/<profile>/)
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print nothing on success; problems go to stderr, one line each
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log each request (never secrets) to stderr; -vv for more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// How to reach OKX: only for the commands that call it (check-key, sync, export).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Connection options")]
pub struct ConnectArgs {
    /// Host preset: global (www.okx.com), eea (eea.okx.com, for my.okx.com and migrated EEA
    /// accounts), us (us.okx.com)
    #[arg(long, value_enum)]
    pub region: Option<Region>,
    /// Overrides the region host (also OKX_BASE_URL); plain http only for loopback hosts
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Send `x-simulated-trading: 1` (OKX demo-trading keys)
    #[arg(long)]
    pub demo_trading: bool,
    /// Give up on a request after this many seconds without a usable answer (all retries together)
    #[arg(long, default_value_t = DEFAULT_GIVE_UP_AFTER.as_secs(), value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub give_up_after: u64,
    /// Use only this fraction of each OKX rate limit (e.g. 0.5 when a trading bot shares the UID)
    #[arg(long, default_value_t = 1.0, value_name = "FRACTION", value_parser = parse_share)]
    pub rate_share: f64,
    /// Proceed with a key that can trade or withdraw (not recommended)
    #[arg(long)]
    pub allow_trading_key: bool,
}

/// `--rate-share`: a fraction in (0, 1].
fn parse_share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a fraction between 0 and 1, e.g. --rate-share 0.5"
        )),
    }
}

impl Default for ConnectArgs {
    fn default() -> Self {
        ConnectArgs {
            region: None,
            base_url: None,
            demo_trading: false,
            give_up_after: DEFAULT_GIVE_UP_AFTER.as_secs(),
            rate_share: 1.0,
            allow_trading_key: false,
        }
    }
}

const CHECK_KEY_EXAMPLES: &str = "\
Examples:
  okx-export check-key
  okx-export --profile company check-key --region eea";

const SYNC_EXAMPLES: &str = "\
Examples:
  okx-export sync --since 2023-01-01     # first run: how far back to go
  okx-export sync                        # later runs: only what is new";

const REPORT_EXAMPLES: &str = "\
Examples:
  okx-export report --year 2025
  okx-export report --year 2025 --tz Europe/Berlin --format koinly,bittytax
  okx-export report --from 2025-04-06 --to 2026-04-06 --out taxes/";

const EXPORT_EXAMPLES: &str = "\
Examples:
  okx-export export --year 2025
  okx-export --group family export --year 2025     # a master and its sub-accounts, one set of files
  okx-export --quiet export --year \"$(date +%Y)\"    # cron: silent unless something is wrong
  okx-export --quiet export --all --year \"$(date +%Y)\"  # every client; one line per failing one";

const RECONCILE_EXAMPLES: &str = "\
Examples:
  okx-export reconcile
  okx-export --profile company reconcile --out checks/";

const STATUS_EXAMPLES: &str = "\
Examples:
  okx-export status
  okx-export --group family status       # each member, then which sub-accounts are covered
  okx-export --all status                # one line per profile: complete, incomplete, failed, stale
  okx-export --all status --json         # the same for a monitoring system
  okx-export --all status --html fleet.html
  okx-export --data-dir /srv/taxes/okx status";

const PRICES_EXAMPLES: &str = "\
Examples:
  okx-export prices                       # fetch what the stored rows need (USD)
  okx-export prices --fiat EUR            # also ECB rates for EUR values
  okx-export prices --prices filled.csv   # your prices for rows OKX has none for

Prices are public data, cached machine-wide in $OKX_EXPORT_PRICE_CACHE, else
$XDG_CACHE_HOME/okx-export/prices.sqlite, else ~/.cache/okx-export/prices.sqlite
(shared by every profile, so nothing is fetched twice). The store remembers the host
and cache its prices came from: `report` values from them, and `prices` without a
host option fetches from that host. Each value is its row's minute price, or its
price_source states how far from it it can be (`;bound=0.21%`).";

const DEMO_EXAMPLES: &str = "\
Examples:
  okx-export demo                 # files under output/demo/; open output/demo/report.html
  okx-export demo --out /tmp/d    # a new or empty directory, or an earlier demo's";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline against the built-in simulated OKX account; no key needed
    #[command(after_long_help = DEMO_EXAMPLES)]
    Demo(DemoArgs),
    /// Verify credentials and that the key is read-only; print what the key can do
    #[command(after_long_help = CHECK_KEY_EXAMPLES)]
    CheckKey(CheckKeyArgs),
    /// Fetch new history into the local store
    #[command(after_long_help = SYNC_EXAMPLES)]
    Sync(SyncArgs),
    /// Write CSV reports and report.html (one page to open in a browser) from the store
    #[command(after_long_help = REPORT_EXAMPLES)]
    Report(ReportArgs),
    /// Sync, then report: the one-liner for cron
    #[command(after_long_help = EXPORT_EXAMPLES)]
    Export(ExportArgs),
    /// Compare computed balances with OKX's
    #[command(after_long_help = RECONCILE_EXAMPLES)]
    Reconcile(ReconcileArgs),
    /// What the store holds; with --all (or --json/--html) one line per profile
    #[command(after_long_help = STATUS_EXAMPLES)]
    Status(StatusArgs),
    /// Fetch the prices the stored rows need (OKX public candles, ECB rates) into the
    /// price cache and list rows without one in missing_prices.csv. Also runs at the
    /// end of `sync` (unless --no-prices).
    #[command(after_long_help = PRICES_EXAMPLES)]
    Prices(PricesArgs),
    /// Run the OKX simulator standalone (for scripts and benchmarks)
    #[command(hide = true)]
    Simulate(SimulateArgs),
}

impl Command {
    /// The connection options of a command that calls OKX.
    pub fn connect(&self) -> Option<&ConnectArgs> {
        match self {
            Command::CheckKey(a) => Some(&a.connect),
            Command::Sync(a) => Some(&a.connect),
            Command::Export(a) => Some(&a.sync.connect),
            Command::Prices(a) => Some(&a.connect),
            _ => None,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct CheckKeyArgs {
    /// The fiat a master's sub-accounts' holdings are valued in
    #[arg(long, default_value = "USD", value_name = "CCY", value_parser = parse_fiat)]
    pub fiat: crate::prices::Fiat,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args, Clone)]
pub struct SyncArgs {
    /// How far back the first run goes (YYYY-MM-DD, UTC; default 2021-02-01, as far as OKX keeps data)
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Skip the quarterly archive (history older than 3 months of the trading ledger)
    #[arg(long)]
    pub no_archive: bool,
    /// How long to wait for OKX to generate archive files before leaving them for the next run (seconds)
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub archive_wait: u64,
    /// Largest archive file to download, in MiB
    #[arg(long, default_value_t = 512, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub archive_max_download: u64,
    /// Largest size an archive file may expand to, in MiB
    #[arg(long, default_value_t = 4096, value_name = "MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub archive_max_expanded: u64,
    /// First wait between archive polls, in milliseconds (doubles up to 60 s)
    #[arg(long, default_value_t = 2000, value_name = "MS", hide = true)]
    pub archive_poll_ms: u64,
    /// Do not run the price stage after the sync (run `okx-export prices` later).
    #[arg(long)]
    pub no_prices: bool,
    /// Repair: re-read a stream (or a range of it) and replace what is stored there.
    ///
    /// SPEC is STREAM[:FROM..TO], stream names as `status` lists them, dates YYYY-MM-DD
    /// (UTC, TO exclusive).
    #[arg(long, value_name = "SPEC")]
    pub refetch: Option<String>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `--year`: four digits.
fn parse_year(s: &str) -> Result<i32, String> {
    match s.parse::<i32>() {
        Ok(y) if (1970..=9999).contains(&y) => Ok(y),
        _ => Err(format!("`{s}` is not a year; use four digits, e.g. --year 2025")),
    }
}

/// `--format`: a comma list of known names, checked before anything else runs.
fn parse_formats(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(format!(
            "the list is empty; give one or more of {}, or `all`",
            crate::export::Format::ALL
                .map(crate::export::Format::name)
                .join(",")
        ));
    }
    for part in s.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(format!(
                "`{s}` has an empty name; separate names with single commas"
            ));
        }
        if part.eq_ignore_ascii_case("all") || part.parse::<crate::export::Format>().is_ok() {
            continue;
        }
        let names = crate::export::Format::ALL.map(crate::export::Format::name);
        let best = names
            .iter()
            .chain(&["all"])
            .map(|n| (strsim::jaro_winkler(&part.to_ascii_lowercase(), n), *n))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(score, _)| *score > 0.8);
        return Err(match best {
            Some((_, n)) => format!("unknown format `{part}`; did you mean `{n}`?"),
            None => format!(
                "unknown format `{part}`; use one or more of {}, or `all`",
                names.join(",")
            ),
        });
    }
    Ok(s.to_string())
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Tax year (boundaries taken in --tz)
    #[arg(long, conflicts_with_all = ["from", "to"], value_parser = parse_year)]
    pub year: Option<i32>,
    /// First day included (YYYY-MM-DD, in --tz)
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// First day excluded (YYYY-MM-DD, in --tz)
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Time zone for year boundaries, e.g. Europe/Berlin
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub tz: String,
    /// Formats: comma list of transactions,koinly,cointracking,ctc,bittytax,cointracker,coinledger,dali or all
    #[arg(long, default_value = "all", value_name = "LIST", value_parser = parse_formats)]
    pub format: String,
    /// Output directory (default: the data dir)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not fail (exit 4) on unclassified records
    #[arg(long)]
    pub allow_unclassified: bool,
    /// Write the files even when the store does not cover the whole period (they are marked
    /// incomplete in summary.json and on stderr; the exit code stays 0)
    #[arg(long)]
    pub allow_incomplete: bool,
    #[command(flatten)]
    pub price: PriceArgs,
}

impl ReportArgs {
    /// The reporting period from `--year` or `--from/--to`, boundaries taken in `--tz`.
    pub fn period(&self) -> anyhow::Result<crate::report::Period> {
        crate::report::Period::parse(self.year, self.from.as_deref(), self.to.as_deref(), &self.tz)
    }
}

fn parse_fiat(s: &str) -> Result<crate::prices::Fiat, String> {
    crate::prices::Fiat::parse(s)
}

/// Valuation options (report, export, prices).
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Valuation options")]
pub struct PriceArgs {
    /// The fiat currency values are in: USD (OKX index prices) or a currency the ECB
    /// publishes a reference rate for (EUR, GBP, CHF, JPY, …; converted through those rates).
    #[arg(long, default_value = "USD", value_name = "CCY", value_parser = parse_fiat)]
    pub fiat: crate::prices::Fiat,
    /// A filled-in missing_prices.csv: its prices win over fetched ones.
    #[arg(long = "prices", value_name = "FILE")]
    pub prices_file: Option<PathBuf>,
}

impl Default for PriceArgs {
    fn default() -> Self {
        PriceArgs {
            fiat: crate::prices::Fiat::usd(),
            prices_file: None,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct PricesArgs {
    #[command(flatten)]
    pub price: PriceArgs,
    /// Where to write missing_prices.csv (default: the data dir).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// A profile whose last successful sync is older than this is `stale` (d, h, m or s,
    /// e.g. 2d or 36h)
    #[arg(long, default_value = "2d", value_name = "AGE", value_parser = crate::fleet::status::parse_age)]
    pub stale_after: std::time::Duration,
    /// Print the profiles' states as JSON (a list, one object per profile) instead of the table
    #[arg(long)]
    pub json: bool,
    /// Also write the profiles' states as one HTML page to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ReconcileArgs {
    /// Output directory for reconciliation.csv (default: the data dir)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Output directory (default: output/demo)
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Account size: demo or bench
    #[arg(long, default_value = "demo")]
    pub size: String,
    /// Multiply every rate limit
    #[arg(long, default_value_t = 1)]
    pub rate_scale: u32,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}
