//! The one middleware that watches every request: its tracing span (the request id in
//! every line logged while it runs), the "answered" line, the HTTP metrics, and the
//! dashboard's ten-second latency window ([`LatencyWindow`]).
//!
//! One layer for all of them, not tower-http's `TraceLayer` plus a metrics layer: each
//! layer costs on every request (issue 16 counts them), and all three need the same
//! clock reading and the same final status. It sits outside `ensure_contract_body`, so
//! it sees the status the client gets.
//!
//! The metrics' `route` label is axum's matched route (`/concert/seat/{sessionId}`),
//! never the raw path: a label's values must stay few, or every session id and every
//! scanner's guess would make a series of its own. A request no route matched is
//! `unmatched`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tracing::{Instrument, Span};

use super::REQUEST_ID;
use super::latency::LatencyWindow;
use crate::metrics::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS};

/// The `route` label of a request no route matched (404s, and the fallbacks).
const UNMATCHED: &str = "unmatched";

/// Runs the request inside its span, then logs and counts its answer.
pub async fn observe(
    State(window): State<Arc<LatencyWindow>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let span = make_span(&request);
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    window.record(elapsed);
    let status = response.status();
    {
        let _entered = span.enter();
        span.record("status", status.as_u16());
        span.record("latency_ms", elapsed.as_millis() as u64);
        // Server-side failures stand out; client mistakes are routine.
        if status.is_server_error() {
            tracing::warn!("answered");
        } else {
            tracing::info!("answered");
        }
    }
    let route = route
        .as_ref()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "status" => status_label(status.as_u16()))
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

/// One span per request. Only method, path and request id: headers (the queue token, the
/// admin key) and the query are never recorded.
fn make_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
        status = tracing::field::Empty,
        error = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

/// The status as a label without an allocation for the statuses this API answers.
fn status_label(status: u16) -> metrics::SharedString {
    let known = match status {
        200 => "200",
        201 => "201",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        413 => "413",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        other => return metrics::SharedString::from(other.to_string()),
    };
    metrics::SharedString::const_str(known)
}
