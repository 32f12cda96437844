//! The live progress line on stderr, shown only when stderr is a terminal.
//!
//! Workers only bump an atomic counter; a separate ticker reads it a few times a second,
//! so drawing costs the hot path nothing.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

/// Whether to draw progress at all.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Draws only if asked for and stderr is a terminal (never into logs or CI output).
    pub fn new(wanted: bool) -> Self {
        Self {
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// Starts a bar for one phase bounded by `max` requests and `duration`; the bar shows
    /// whichever bound is nearer.
    pub fn phase(&self, label: &str, max: u64, duration: Duration, done: Arc<AtomicU64>) -> Phase {
        if !self.enabled {
            return Phase {
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>10} [{bar:30}] {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let shown = bar.clone();
        let start = Instant::now();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let n = done.load(Ordering::Relaxed);
                let t = start.elapsed();
                let by_count = n as f64 / max.max(1) as f64;
                let by_time = t.as_secs_f64() / duration.as_secs_f64().max(1e-9);
                shown.set_position((by_count.max(by_time).min(1.0) * 1000.0) as u64);
                shown.set_message(format!(
                    "{n} req  {:.0}/s  {:.1}s",
                    n as f64 / t.as_secs_f64().max(1e-9),
                    t.as_secs_f64()
                ));
            }
        });
        Phase {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }
}

/// A bar being drawn; [`Phase::finish`] removes it.
pub struct Phase {
    bar: Option<ProgressBar>,
    ticker: Option<JoinHandle<()>>,
}

impl Phase {
    /// Stops the ticker and clears the line.
    pub fn finish(self) {
        if let Some(t) = &self.ticker {
            t.abort();
        }
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
