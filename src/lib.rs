//! okx-export: turn an OKX account (read-only API key) into files tax software accepts.
//!
//! Data flow: `okx` (signed, rate-limited client) → `sync` (paginated streams) → `store`
//! (SQLite, raw records + cursors) → `normalize` (one `model::Transaction` per balance
//! change) → `export` (tax-tool CSVs) and `reconcile` (computed vs reported balances).
//! `sim` is a local OKX simulator used by `demo` and the tests; `commands` glues it all
//! together for the CLI (`cli` parses, `settings` resolves).

pub mod cli;
pub mod commands;
pub mod console;
pub mod coverage;
pub mod error;
pub mod export;
pub mod files;
pub mod fleet;
pub mod interrupt;
pub mod logging;
pub mod model;
pub mod normalize;
pub mod okx;
pub mod prices;
pub mod reconcile;
pub mod report;
pub mod secret;
pub mod settings;
pub mod sim;
pub mod store;
pub mod sync;
