//! Entry point: parse, set up logging, run, map the outcome to an exit code.

use clap::Parser;
use okx_export::cli::Cli;
use okx_export::error::{Exit, exit_for, hint_for};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::Usage as u8 } else { 0 });
        }
    };
    // Every file and directory okx-export creates is private (0600 / 0700): the store,
    // its -wal/-shm, the lock, summaries and reports hold addresses, balances and tx ids.
    // SAFETY: umask(2) only sets this process's file-mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let console = okx_export::settings::console_for(&cli.global);
    okx_export::logging::init(cli.global.verbose, cli.global.quiet, console.colour());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            console.error(format!("cannot start the async runtime: {e}"));
            return ExitCode::from(Exit::Runtime as u8);
        }
    };
    let outcome = runtime.block_on(okx_export::commands::run(cli, console.clone()));
    // After an interrupt, tasks still running are dropped at their next await; blocking
    // work gets a moment to finish its transaction (a killed one rolls back anyway).
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match outcome {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            console.failure(&err, hint_for(&err).as_deref());
            ExitCode::from(exit_for(&err) as u8)
        }
    }
}
