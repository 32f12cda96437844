//! The route table: every path the node serves and the handlers of each, in one list
//! (each fact one home). A single node's router serves them (`http::router`); a cluster
//! node's public router serves the pages itself and routes the engine's paths to this
//! term's router or to the owner (`cluster::router`), so both answer the same paths
//! and label a request's metrics with the same route template.

use axum::Router;
use axum::routing::{MethodRouter, get, post, put};

use super::{
    AppState, admin, balance, concerts, door, openapi, queue, ready, reservations, rooms, stats,
    streams, web,
};

/// The liveness route: answered by every node itself, outside the in-flight limit.
pub const HEALTH: &str = "/health";

/// Every path a node serves, as the templates its routers match: the metrics' `route`
/// labels (`observe`), from the same lists the routers are built from.
pub fn templates() -> impl Iterator<Item = &'static str> {
    std::iter::once(HEALTH)
        .chain(engine_paths())
        .chain(pages_table::<()>().into_iter().map(|(path, _)| path))
}

/// The paths the engine answers, API and admin: a cluster node that does not own the
/// engine routes each to the owner, and labels its metrics with the same templates as
/// the node that answers it (`cluster::router`).
pub fn engine_paths() -> impl Iterator<Item = &'static str> {
    api_table()
        .into_iter()
        .chain(admin_table())
        .map(|(path, _)| path)
}

/// The contract's routes outside `/admin/…`, the engine's and `/openapi.json`.
pub(super) fn api() -> Router<AppState> {
    serve(api_table())
}

/// The operator's routes; the caller puts them behind the admin key.
pub(super) fn admin() -> Router<AppState> {
    serve(admin_table())
}

fn serve<S: Clone + Send + Sync + 'static>(
    table: Vec<(&'static str, MethodRouter<S>)>,
) -> Router<S> {
    table
        .into_iter()
        .fold(Router::new(), |router, (path, handlers)| {
            router.route(path, handlers)
        })
}

/// The contract's routes outside `/admin/…`, with their handlers: the one list of them.
fn api_table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/concert/wating", get(queue::poll)),
        ("/concert/waiting", get(queue::poll)),
        // The streams stay under the in-flight limit and the request timeout: both hold
        // only until the response head is out (see `streams`).
        ("/concert/wating/stream", get(streams::queue_stream)),
        ("/concert/waiting/stream", get(streams::queue_stream)),
        (
            "/concert/seat/{sessionId}/stream",
            get(streams::seat_stream),
        ),
        ("/concert/wating/challenge", get(door::challenge::challenge)),
        ("/concert/list", get(concerts::list)),
        ("/concert/session/{concertId}", get(concerts::sessions)),
        ("/concert/seat/{sessionId}", get(concerts::seats)),
        ("/concert/balance", get(balance::get).patch(balance::charge)),
        ("/concert/reservation", post(reservations::hold)),
        ("/concert/payment", post(reservations::pay)),
        ("/openapi.json", get(openapi::serve)),
        // Inside the in-flight limit: each asks the database, so a flood of them must
        // not take the pool (an overloaded server answers 503, which is "not ready").
        ("/ready", get(ready::ready)),
    ]
}

/// The operator's routes (behind the admin key), with their handlers: the one list.
fn admin_table() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        ("/admin/concerts", post(admin::create_concert)),
        (
            "/admin/concerts/{concertId}/sessions",
            post(admin::create_session),
        ),
        ("/admin/users/{userId}/credits", post(admin::credit)),
        ("/admin/stats", get(stats::stats)),
        (
            "/admin/concerts/{concertId}/room",
            put(rooms::schedule).get(rooms::status).patch(rooms::rerate),
        ),
        ("/admin/concerts/{concertId}/room/pause", post(rooms::pause)),
        (
            "/admin/concerts/{concertId}/room/resume",
            post(rooms::resume),
        ),
        // The site-wide room is never scheduled: no PUT (405).
        (
            "/admin/room",
            get(rooms::site_status).patch(rooms::site_rerate),
        ),
        ("/admin/room/pause", post(rooms::site_pause)),
        ("/admin/room/resume", post(rooms::site_resume)),
    ]
}

/// The web pages and their files (not API: not in the OpenAPI document). They ask
/// nothing of the engine: a cluster node serves them itself.
pub fn pages<S: Clone + Send + Sync + 'static>() -> Router<S> {
    serve(pages_table())
}

fn pages_table<S: Clone + Send + Sync + 'static>() -> Vec<(&'static str, MethodRouter<S>)> {
    vec![
        ("/", get(web::visitor)),
        ("/concerts/{concertId}", get(web::visitor_concert)),
        ("/admin", get(web::dashboard)),
        ("/assets/{version}/{*path}", get(web::asset)),
    ]
}
