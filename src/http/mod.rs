//! The HTTP layer: routes, middleware and the mapping of engine answers to responses.
//!
//! Handlers are thin — extract, call the [`Engine`] once, map the reply — and hold no
//! rule of the business: the engine decides, this layer speaks the contract
//! (`docs/api.md`): its paths, field names and error bodies. A route that needs a token
//! takes it through an extractor of [`caller`], which resolves and judges it before the
//! body is read.

pub mod admin;
pub mod admission;
pub mod balance;
pub mod caller;
pub mod codes;
pub mod concerts;
pub mod door;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod intake;
pub mod latency;
pub mod observe;
pub mod openapi;
pub mod queue;
pub mod ready;
pub mod reservations;
pub mod rooms;
pub mod routes;
pub mod stats;
pub mod streams;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use actors::Engine;
use axum::body::Body;
use axum::extract::FromRef;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Router, middleware};
use serde::Serialize;
use tower::Layer;
use utoipa::ToSchema;

use self::admin::AdminKey;
use self::admission::{Admission, AdmissionLayer};
use self::balance::Charging;
use self::door::{Door, DoorSettings};
use self::error::ApiError;
use self::intake::BodyIntake;
use self::latency::LatencyWindow;
use self::observe::{Observe, ObserveLayer, RouteLabels};
use self::streams::StreamSettings;
use crate::transport::ConnectionLimits;

/// The HTTP layer's settings.
#[derive(Clone)]
pub struct HttpSettings {
    /// A request not answered within this time gets 503 `TIMEOUT`.
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes; larger gets 413.
    pub body_limit: usize,
    /// The `X-Admin-Key` that opens the admin routes; `None` closes them (403).
    pub admin_key: Option<String>,
    /// Requests handled at once, across all routes; past it, 503 `OVERLOADED` at once.
    /// A request counts once its body is read; `/health` never counts.
    pub max_in_flight: usize,
    /// A body not received in full within this time gets 408 `REQUEST_TIMEOUT`.
    pub body_timeout: Duration,
    /// The accept loop's caps and header timeout.
    pub connections: ConnectionLimits,
    /// Who may be issued a new queue token.
    pub door: DoorSettings,
    /// Whether users may charge their own wallets (`PATCH /concert/balance`); else 403
    /// `CHARGE_NOT_ALLOWED` and only the operator credits.
    pub charging_open: bool,
    /// The push routes' settings (the cap on open streams is the engine's).
    pub streams: StreamSettings,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("request_timeout", &self.request_timeout)
            .field("body_limit", &self.body_limit)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<set>"))
            .field("max_in_flight", &self.max_in_flight)
            .field("body_timeout", &self.body_timeout)
            .field("connections", &self.connections)
            .field("door", &self.door)
            .field("charging_open", &self.charging_open)
            .field("streams", &self.streams)
            .finish()
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(15),
            body_limit: 16 * 1024,
            admin_key: None,
            max_in_flight: 1024,
            body_timeout: Duration::from_secs(5),
            connections: ConnectionLimits {
                header_timeout: Duration::from_secs(10),
                max_connections: 10_000,
                max_connections_per_ip: Some(512),
            },
            door: DoorSettings::default(),
            charging_open: true,
            streams: StreamSettings::default(),
        }
    }
}

/// What the handlers share ([`Shared`]), behind one `Arc`: axum clones a router's state
/// for every request it routes, and every `Arc` in it cost two atomic operations more
/// (docs/performance.md).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What the handlers share: the engine, the admin key, the door and the settings.
pub struct Shared {
    /// The engine every handler calls.
    pub engine: Engine,
    /// The configured admin key.
    pub admin_key: AdminKey,
    /// Who may be issued a new queue token.
    pub door: Arc<Door>,
    /// Whether users may charge their own wallets.
    pub charging: Charging,
    /// The push routes' settings.
    pub streams: StreamSettings,
    /// The last seconds of HTTP latency, fed by `observe`, read by `/admin/stats`.
    pub latency: Arc<LatencyWindow>,
}

impl FromRef<AppState> for Arc<LatencyWindow> {
    fn from_ref(state: &AppState) -> Self {
        state.latency.clone()
    }
}

impl FromRef<AppState> for Arc<Door> {
    fn from_ref(state: &AppState) -> Self {
        state.door.clone()
    }
}

impl FromRef<AppState> for Engine {
    fn from_ref(state: &AppState) -> Self {
        state.engine.clone()
    }
}

impl FromRef<AppState> for Charging {
    fn from_ref(state: &AppState) -> Self {
        state.charging
    }
}

impl FromRef<AppState> for AdminKey {
    fn from_ref(state: &AppState) -> Self {
        state.admin_key.clone()
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The engine's router behind the in-flight limit: what a node answers itself.
pub type Routes = Admission<Router>;

/// [`Routes`] observed: what a single node serves.
pub type App = Observe<Routes>;

/// Every route of the contract, plus `/health`, `/ready` and `/openapi.json`, with the middleware
/// that keeps every answer in the contract's shape.
pub fn router(engine: Engine, settings: &HttpSettings) -> App {
    let latency = Arc::new(LatencyWindow::new());
    observe_layer(settings, latency.clone()).layer(unobserved(engine, settings, latency))
}

/// [`router`] without its outermost layer, `observe`, the dashboard's window given
/// (`/admin/stats` reads it): for a cluster node, whose public router observes every
/// request it receives and puts this beneath (`cluster::router`).
///
/// Each layer wraps the whole router, never each route (`Router::layer`): a layer put
/// on every route is one more boxed `Route` future per request (docs/performance.md).
pub fn unobserved(engine: Engine, settings: &HttpSettings, latency: Arc<LatencyWindow>) -> Routes {
    let state = AppState(Arc::new(Shared {
        engine,
        admin_key: AdminKey(
            settings
                .admin_key
                .as_deref()
                .filter(|k| !k.is_empty())
                .map(Arc::from),
        ),
        door: Arc::new(Door::new(&settings.door)),
        charging: Charging {
            open: settings.charging_open,
        },
        streams: settings.streams,
        latency,
    }));
    let admin = routes::admin()
        // A route layer runs only for matched routes: 404 and 405 are answered first.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin_key,
        ));
    // `with_state` turns every handler into its service once, here: a router served
    // with its state unapplied would do it again for every request (axum's
    // `into_route`, a boxed clone each time).
    let routes = routes::api()
        .merge(routes::pages())
        .merge(admin)
        .route(routes::HEALTH, get(health))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);

    // Bounded intake in front of the whole engine, and the request timeout (see
    // `admission`). Its bodies are read already (see `observe`), so a slow client
    // cannot hold a place. `/health` stays outside the in-flight limit: load elsewhere
    // never refuses it.
    AdmissionLayer::new(settings.max_in_flight, settings.request_timeout)
        .except(routes::HEALTH)
        .layer(routes)
}

/// The one layer that observes a router's requests, put around it, outermost and
/// alone. `observe` vets or makes the request id before the request's span reads it,
/// reads the body in full (within the limit and the body timeout) before the in-flight
/// limit is asked for a place, catches a handler's panic, and sees the final status: it
/// gives the contract's body to any bare error from below before it logs and counts the
/// answer, into `latency` among others. One layer of our own for all of that: each layer costs
/// every request (docs/performance.md). No `DefaultBodyLimit`: the body is in memory
/// before any extractor runs, and `JsonBody` takes it without axum's.
///
/// Its labels are every route's template (`routes::templates`): a single node's and a
/// cluster node's routers serve the same paths.
pub fn observe_layer(settings: &HttpSettings, latency: Arc<LatencyWindow>) -> ObserveLayer {
    let intake = BodyIntake {
        limit: settings.body_limit,
        timeout: settings.body_timeout,
    };
    ObserveLayer::new(latency, intake, RouteLabels::new(routes::templates()))
}

/// The body of `GET /health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// Always `ok`: the route asks nothing of the engine, for load-test baselines.
    pub status: &'static str,
}

/// [`Health`] as JSON, written once: `/health` is the load tests' baseline of the whole
/// stack, and serializing the same 15 bytes per request cost as much as the bare
/// server's own handler (docs/performance.md, "The middleware's cost").
const HEALTH_OK: &str = r#"{"status":"ok"}"#;

/// Liveness: answers without touching the engine or the database.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Health)))]
pub async fn health() -> Response {
    json_answer(StatusCode::OK, HEALTH_OK)
}

/// A JSON answer made directly: its status, one `Content-Type` and the body as written.
/// axum's `([(CONTENT_TYPE, json)], body)` first gave the body its own type (text or
/// octet-stream) and then replaced it, ~500 instructions on each answer of the hottest
/// routes (`/health`, the poll, a refused hold; docs/performance.md).
pub(crate) fn json_answer(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A path no route serves: 404 `ROUTE_NOT_FOUND`.
pub async fn route_not_found() -> ApiError {
    ApiError::route_not_found()
}

/// A method the path's route does not serve: 405 `METHOD_NOT_ALLOWED`.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_health_body_is_the_schema_serialized() {
        let serialized = serde_json::to_string(&Health { status: "ok" }).unwrap();
        assert_eq!(serialized, HEALTH_OK);
    }
}
