//! Command-line definitions (clap derive). Doc comments are the `--help` text; this module
//! only parses, [`crate::settings`] resolves.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  runtime failure (network/API gave up after retries, I/O)
  2  usage or configuration error
  3  credentials rejected, or the key is not read-only
  4  data problem (unclassified records, failed reconciliation)

Credentials come from OKX_API_KEY, OKX_API_SECRET and OKX_API_PASSPHRASE, or from the
profile in the config file (secret_command / secret_file); never from arguments.";

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

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Profile in the config file
    #[arg(long, global = true, default_value = "default")]
    pub profile: String,
    /// Config file (default: ./okx-export.toml, else $XDG_CONFIG_HOME/okx-export/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Host preset: global (www.okx.com), eea (eea.okx.com), us (us.okx.com)
    #[arg(long, global = true, value_enum)]
    pub region: Option<Region>,
    /// Overrides the region host; plain http only for loopback hosts
    #[arg(long, global = true, env = "OKX_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Send `x-simulated-trading: 1` (OKX demo-trading keys)
    #[arg(long, global = true)]
    pub demo_trading: bool,
    /// Where the local store lives (default: output/<profile>/)
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Only errors and the final summary
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log each request (never secrets) to stderr; -vv for more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// No progress bars
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Proceed with a key that can trade or withdraw (not recommended)
    #[arg(long, global = true)]
    pub allow_trading_key: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole pipeline against the built-in simulated OKX account; no key needed
    Demo(DemoArgs),
    /// Verify credentials and that the key is read-only; print what the key can do
    CheckKey,
    /// Fetch new history into the local store
    Sync(SyncArgs),
    /// Write CSV reports from the store
    Report(ReportArgs),
    /// Sync, then report: the one-liner for cron
    Export(ExportArgs),
    /// Compare computed balances with OKX's
    Reconcile(ReconcileArgs),
    /// What the store holds
    Status,
    /// Run the OKX simulator standalone (for scripts and benchmarks)
    #[command(hide = true)]
    Simulate(SimulateArgs),
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
    /// First wait between archive polls, in milliseconds (doubles up to 60 s)
    #[arg(long, default_value_t = 2000, value_name = "MS", hide = true)]
    pub archive_poll_ms: u64,
}

#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    /// Tax year (boundaries taken in --tz)
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub year: Option<i32>,
    /// First day included (YYYY-MM-DD, in --tz)
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// First day excluded (YYYY-MM-DD, in --tz)
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Time zone for year boundaries, e.g. Europe/Berlin (default UTC)
    #[arg(long, default_value = "UTC", value_name = "ZONE")]
    pub tz: String,
    /// Formats: comma list of transactions,koinly,cointracking,ctc,bittytax,cointracker,coinledger,dali or all
    #[arg(long, default_value = "all", value_name = "LIST")]
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
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub sync: SyncArgs,
    #[command(flatten)]
    pub report: ReportArgs,
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
