//! The process's log output: text for people (the default), or JSON for machines
//! (`--log-format json`): one object per line, on stdout.
//!
//! A JSON line carries the event's fields at the top level (`message` among them) and
//! the span it was logged in (`span`: for a request, `request_id`, `method`, `path`,
//! and once answered `status` and `latency_ms`), so every line a request logs names
//! its request id; `spans` lists the enclosing spans too.
//!
//! A request's thread formats its lines but never writes them: a thread of their own
//! does (tracing-appender's non-blocking writer), so a slow terminal or pipe does not
//! slow the answers (issue 16: the "answered" line was the largest single cost of the
//! middleware). Its queue holds at most [`MAX_BUFFERED_LOG_LINES`]; past that a line is
//! dropped, not waited for, and counted (`concert_log_lines_dropped_total`). The lines
//! queued at exit are written before the process ends, while the [`LogGuard`] lives.

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Log lines waiting for the writer thread, at most: ~16,000 lines is a few seconds of
/// a busy server's access log at ~300 bytes a line (a few MB), enough to ride out a
/// stalled reader, bounded so that a reader gone for good costs lines, not memory.
pub const MAX_BUFFERED_LOG_LINES: usize = 16_384;

/// The writer's count of lines dropped because the queue was full.
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Log lines dropped so far because [`MAX_BUFFERED_LOG_LINES`] were queued; read at
/// each scrape of the metrics.
pub fn dropped_lines() -> usize {
    DROPPED.get().map_or(0, ErrorCounter::dropped_lines)
}

/// Keeps the writer thread; when dropped (at exit), the lines still queued are written.
#[must_use = "dropping the guard stops the log writer: keep it until exit"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

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
/// back to `info`, with a word on stderr), `format` as asked, to stdout through the
/// writer thread. Once per process.
pub fn init(filter: &str, format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("invalid log filter {filter:?} ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    // Lossy: a full queue drops the line rather than make a request wait for stdout.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(MAX_BUFFERED_LOG_LINES)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    let _ = DROPPED.set(writer.error_counter());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
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
    LogGuard(guard)
}
