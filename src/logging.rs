//! Diagnostic logs go to stderr through `tracing`, only when asked for: `-v` logs each
//! request (method, path, status; never headers or secrets), `-vv` more. Without `-v`
//! nothing is logged: everything a user must know is a [`crate::console`] message.
//! Log lines look like messages (`debug: …`, no timestamp), coloured only when the
//! console's messages are.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The filter for the flags (`RUST_LOG` overrides it).
pub fn default_filter(verbose: u8, quiet: bool) -> &'static str {
    match (quiet, verbose) {
        (true, _) | (false, 0) => "off",
        (false, 1) => "off,okx_export=debug",
        (false, _) => "debug,okx_export=trace",
    }
}

pub fn init(verbose: u8, quiet: bool, colour: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter(verbose, quiet)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .event_format(MessageStyle { colour })
        .try_init();
}

/// `level: message key=value …`, the console's style.
struct MessageStyle {
    colour: bool,
}

/// The label a log level gets (the console's words where they exist).
pub fn label(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "note",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl<S, N> FormatEvent<S, N> for MessageStyle
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let label = label(*event.metadata().level());
        if self.colour {
            write!(writer, "\x1b[2m{label}:\x1b[0m ")?;
        } else {
            write!(writer, "{label}: ")?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                write!(writer, "{}", span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{{{fields}}}")?;
                }
                write!(writer, ": ")?;
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `-v` nothing is logged (every message a user needs is a console message);
    /// `--quiet` beats `-v`.
    #[test]
    fn logs_only_when_asked() {
        assert_eq!(default_filter(0, false), "off");
        assert_eq!(default_filter(3, true), "off");
        assert!(default_filter(1, false).contains("okx_export=debug"));
        assert_eq!(label(Level::WARN), "warning");
    }
}
