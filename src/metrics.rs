//! Prometheus metrics: the process-wide recorder and the listener that serves it.
//!
//! The engine and the HTTP layer emit through the `metrics` facade (names in
//! [`actors::metrics`] and below); this module installs the one recorder a process
//! has, a Prometheus one, and serves its text on a listener of its own
//! (`--metrics-addr`, default `127.0.0.1:9464`): the metrics say how the sale goes,
//! which is not the public's business, so the public port has no `/metrics`.
//!
//! Install the recorder before the engine starts: each WaitingRoom registers its
//! room's gauges when it starts, and a handle registered without a recorder stays a
//! no-op for that actor's life.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::transport::{self, ConnectionLimits};

/// Counter, by `route` (axum's matched route, `unmatched` for none) and `status`.
pub const HTTP_REQUESTS: &str = "concert_http_requests_total";
/// Histogram, seconds, by `route`: from the request's head read to its answer.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "concert_http_request_duration_seconds";
/// Gauge: Server-Sent Event streams open now.
pub const SSE_STREAMS: &str = "concert_sse_streams";
/// Counter: log lines dropped because the log writer's queue was full
/// ([`crate::logging::MAX_BUFFERED_LOG_LINES`]).
pub const LOG_LINES_DROPPED: &str = "concert_log_lines_dropped_total";

/// Buckets of the request durations, in seconds: sub-millisecond polls to the 15 s
/// request timeout.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];
/// Buckets of a group-commit batch's commit time, in seconds.
const COMMIT_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets of a group-commit batch's size, in writes (powers of two to the largest batch).
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];
/// How often histograms' samples are folded into their buckets between scrapes, so an
/// unscraped process does not keep every sample.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);
/// Connections the metrics listener keeps open at once: a scraper or two, and a person.
const MAX_SCRAPERS: usize = 16;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder for this process, once; later calls return the
/// same handle. (Were another recorder installed first, metrics would go there and
/// this handle would render nothing: a warning says so.)
pub fn install() -> &'static PrometheusHandle {
    if let Some(handle) = HANDLE.get() {
        return handle;
    }
    let handle = HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new();
        let recorder = [
            (HTTP_REQUEST_DURATION_SECONDS, DURATION_BUCKETS),
            (actors::metrics::STORE_COMMIT_SECONDS, COMMIT_BUCKETS),
            (actors::metrics::STORE_BATCH_SIZE, BATCH_BUCKETS),
        ]
        .into_iter()
        .fold(builder, |builder, (name, buckets)| {
            builder
                .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
                .expect("non-empty buckets")
        })
        .build_recorder();
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            tracing::warn!(%error, "another metrics recorder is installed; not exporting");
        }
        let upkeep = handle.clone();
        let _ = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            });
        handle
    });
    describe();
    handle
}

/// `# HELP` for every metric, and zeroes for the series that may stay untouched for a
/// long time, so a dashboard shows 0 rather than "no data".
fn describe() {
    for (name, help) in actors::metrics::DESCRIPTIONS {
        match *name {
            actors::metrics::ROOM_WAITING | actors::metrics::ROOM_ADMITTED => {
                describe_gauge!(*name, *help)
            }
            actors::metrics::STORE_BATCH_SIZE | actors::metrics::STORE_COMMIT_SECONDS => {
                describe_histogram!(*name, *help)
            }
            _ => describe_counter!(*name, *help),
        }
    }
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "HTTP request durations, by route."
    );
    describe_gauge!(SSE_STREAMS, "Server-Sent Event streams open now.");
    describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines dropped because the log writer's queue was full."
    );
    for actor in ["waiting_room", "session", "wallet"] {
        counter!(actors::metrics::ACTOR_RESTARTS, "actor" => actor).increment(0);
    }
    counter!(actors::metrics::MAILBOX_REJECTIONS).increment(0);
    counter!(actors::metrics::SEATS_SOLD).increment(0);
    set_sse_streams(0);
    set_log_lines_dropped();
}

/// Where a scrape reads the number of streams open now: the engine's count on a single
/// node; on a cluster node, the streams its replica serves plus its engine's while it
/// owns (`cluster`).
pub type OpenStreams = Arc<dyn Fn() -> usize + Send + Sync>;

/// Sets the number of Server-Sent Event streams open now: read from the streams' count
/// at each scrape (the count is an atomic the streams keep; nothing on their path
/// touches the recorder).
fn set_sse_streams(open: usize) {
    gauge!(SSE_STREAMS).set(open as f64);
}

/// Sets the count of dropped log lines from the log writer's own count, at each scrape
/// (as the streams' gauge: nothing on the logging path touches the recorder).
fn set_log_lines_dropped() {
    counter!(LOG_LINES_DROPPED).absolute(crate::logging::dropped_lines() as u64);
}

/// `--metrics-addr`: where the metrics are served, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

/// Parses `--metrics-addr`: an address, or `off` (or empty) for no metrics listener.
pub fn parse_metrics_addr(value: &str) -> Result<MetricsAddr, String> {
    match value.trim() {
        "" | "off" => Ok(MetricsAddr(None)),
        address => address
            .parse()
            .map(|address| MetricsAddr(Some(address)))
            .map_err(|error| format!("{address:?}: {error} (an address, or `off`)")),
    }
}

/// The metrics listener's router: `GET /metrics`, the Prometheus text; nothing else.
pub fn router(handle: &'static PrometheusHandle, streams: OpenStreams) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                set_sse_streams(streams());
                set_log_lines_dropped();
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                        .into_response()
                }
            }),
        )
        // Its handler made a service once, not per scrape (see `transport::serve`).
        .with_state(())
}

/// Serves the metrics on `listener` until `shutdown` resolves (a few connections at
/// most; the same header timeout as the public port).
pub async fn serve(
    listener: TcpListener,
    handle: &'static PrometheusHandle,
    streams: OpenStreams,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let limits = ConnectionLimits {
        header_timeout,
        max_connections: MAX_SCRAPERS,
        max_connections_per_ip: None,
    };
    transport::serve(listener, router(handle, streams), limits, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_or_empty_disables_the_listener_and_an_address_is_parsed() {
        assert_eq!(parse_metrics_addr("off"), Ok(MetricsAddr(None)));
        assert_eq!(parse_metrics_addr(" "), Ok(MetricsAddr(None)));
        assert_eq!(
            parse_metrics_addr("127.0.0.1:9464"),
            Ok(MetricsAddr(Some("127.0.0.1:9464".parse().unwrap())))
        );
        assert!(parse_metrics_addr("nowhere").is_err());
    }

    /// What one request's metrics cost with the recorder installed, in nanoseconds: the
    /// counter and the histogram the HTTP middleware records, looked up by their labels
    /// (as it did on every request until it kept its handles: `http::observe`).
    /// A measurement, not a check (docs/performance.md): run it in release,
    /// `cargo test --release -p concert --lib metrics_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement; run in release"]
    fn metrics_cost_per_request() {
        const N: u32 = 2_000_000;
        let per_request = |what: &str| {
            let route = "/concert/reservation";
            let started = std::time::Instant::now();
            for i in 0..N {
                let status = if i % 8 == 0 { "409" } else { "201" };
                metrics::counter!(HTTP_REQUESTS, "route" => route.to_owned(), "status" => status)
                    .increment(1);
                metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route.to_owned())
                    .record(0.001);
            }
            let ns = started.elapsed().as_nanos() / u128::from(N);
            println!("metrics cost, {what}: {ns} ns per request");
            ns
        };
        per_request("no recorder");
        install();
        per_request("Prometheus recorder");
        let rendered = install().render();
        assert!(
            rendered.contains("concert_http_requests_total"),
            "{rendered}"
        );
    }
}
