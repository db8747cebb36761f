//! `export`: `sync`, then `report` (the one-liner for cron).

use crate::cli::ExportArgs;
use crate::error::{Exit, usage};
use crate::export::Format;
use crate::settings::Settings;
use crate::store::Store;
use anyhow::Result;

pub async fn run(settings: &Settings, args: &ExportArgs) -> Result<Exit> {
    let period = args.report.period()?; // fail on a bad flag before spending time syncing
    Format::parse_list(&args.report.format).map_err(|e| usage(format!("--format: {e}")))?;
    // The sync's price stage fetches this zone's year boundaries too.
    super::prices::remember_zone(&Store::open(&settings.data_dir)?, &period)?;
    super::sync::run_priced(
        settings,
        &args.sync,
        std::slice::from_ref(&args.report.price.fiat),
    )
    .await?;
    super::prices::before_report(settings, &args.report).await?;
    super::report::run(settings, &args.report)
}
