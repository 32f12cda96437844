//! The process's log output: text for people (the default), or JSON for machines
//! (`--log-format json`): one object per line, on stdout.
//!
//! A JSON line carries the event's fields at the top level (`message` among them) and
//! the span it was logged in (`span`: for a request, `request_id`, `method`, `path`,
//! and once answered `status` and `latency_ms`), so every line a request logs names
//! its request id; `spans` lists the enclosing spans too.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber: `filter` in `EnvFilter` syntax (a bad one falls
/// back to `info`, with a word on stderr), `format` as asked.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("invalid log filter {filter:?} ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        // Colours only for a person at a terminal; a log file or collector gets plain text.
        LogFormat::Text => builder.with_ansi(std::io::stdout().is_terminal()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
}
