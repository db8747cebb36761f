//! `output/fleet-summary.json`: what one `--all` run did, for a monitoring system and for
//! the accountant who reads the cron mail's one-liners and wants the rest.

use super::RunFailure;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;

/// Where the summary goes (relative to the working directory, like `output/<profile>/`).
pub fn path() -> PathBuf {
    PathBuf::from("output").join("fleet-summary.json")
}

/// One profile's part of the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileOutcome {
    pub profile: String,
    pub data_dir: PathBuf,
    /// `ok` or `failed`.
    pub status: &'static str,
    pub exit: u8,
    /// `ok`, or the error on one line.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<RunFailure>,
    pub elapsed_seconds: f64,
}

/// One stage of the run: when it started (seconds after the run did) and how long it
/// took. Stages may overlap: the price stage starts with the first profile synced.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: &'static str,
    pub started_seconds: f64,
    pub seconds: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    /// The command, e.g. `sync --all` or `export --all`.
    pub command: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub elapsed_seconds: f64,
    /// Profiles run at once (`--jobs`).
    pub jobs: usize,
    /// Each stage's start and length: `sync` (every profile at once), `prices` (the shared
    /// price stage, from the first profile synced), `report`.
    pub stages: Vec<Stage>,
    /// The run's exit code: the worst profile's (130/143, then 2, 3, 1, 4).
    pub exit: u8,
    pub profiles_ok: usize,
    pub profiles_failed: usize,
    pub profiles: Vec<ProfileOutcome>,
    /// Peak resident memory of the process, when the system tells it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}
