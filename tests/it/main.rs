//! One integration-test binary (shared helpers, one link step). Every test runs offline
//! against the in-process OKX simulator on 127.0.0.1.

mod alongside;
mod archive;
mod cli;
mod client;
mod common;
mod coverage;
mod cron;
mod fatal;
mod files;
mod fleet;
mod group;
mod prices;
mod report;
mod runner;
mod security;
mod semantics;
mod sync;
mod values;
