//! `GET /admin/stats`: the site's totals for the operator's dashboard, which charts them
//! once a second. Sales and latency are on the Prometheus listener too
//! (`concert_seats_sold_total`, `concert_http_request_duration_seconds`), but that
//! listener is optional and its histogram covers the whole run; the dashboard needs
//! "now", from the API it already talks to.
//!
//! Holds and sales are what the sessions last published on their seat boards (counters,
//! no actor asked); the p99 and the rate are the last ten seconds of the one middleware
//! that watches every request (`latency`).

use std::sync::Arc;

use actors::Engine;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::ErrorBody;
use super::latency::{LatencyWindow, WINDOW_SECS};

/// The site's totals now.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"holds": 12, "sales": 230, "sessions": 6, "soldOutSessions": 1, "httpP99Ms": 4.0, "requestsPerSecond": 812.5, "windowSeconds": 10}))]
pub struct StatsResponse {
    /// Seats held now, over every session (a hold past its deadline counts until its
    /// session frees the seat, within a second or so).
    pub holds: usize,
    /// Seats sold, over every session.
    pub sales: usize,
    /// Sessions in the catalog.
    pub sessions: usize,
    /// Sessions whose every seat is sold.
    pub sold_out_sessions: usize,
    /// The 99th percentile of HTTP latency over the window, in milliseconds: the upper
    /// bound of its bucket (buckets are about 1.5x apart, 0.1 ms to 30 s). Null when no
    /// request was answered in the window.
    pub http_p99_ms: Option<f64>,
    /// Requests answered per second over the window (every route, this one included).
    pub requests_per_second: f64,
    /// The window's length in seconds (the current second included).
    pub window_seconds: u64,
}

/// The site's holds, sales, sold-out sessions, HTTP p99 and request rate.
#[utoipa::path(
    get,
    path = "/admin/stats",
    tag = "admin",
    params(("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY")),
    responses(
        (status = 200, description = "The totals now", body = StatsResponse),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 503, description = "Overloaded", body = ErrorBody),
    )
)]
pub async fn stats(
    State(engine): State<Engine>,
    State(window): State<Arc<LatencyWindow>>,
) -> Json<StatsResponse> {
    let seats = engine.seat_totals();
    let latency = window.stats();
    Json(StatsResponse {
        holds: seats.held,
        sales: seats.sold,
        sessions: seats.sessions,
        sold_out_sessions: seats.sold_out_sessions,
        http_p99_ms: latency.p99_ms,
        requests_per_second: (latency.requests_per_second * 10.0).round() / 10.0,
        window_seconds: WINDOW_SECS,
    })
}
