//! `GET /openapi.json`: the API described with utoipa, generated at compile time from
//! the handlers' annotations, so the document cannot drift from the routes.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;

use super::{
    admin, balance, concerts, door, error, queue, ready, reservations, rooms, stats, streams,
};

/// The OpenAPI document of every route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "concert",
        description = "Concert reservation API: waiting-room tokens, sessions and seats, balance, \
                       holds and payments; per-concert waiting rooms with a scheduled, shuffled pre-queue \
                       and live controls. Every error is `{errorCode, msg, error}` with HTTP \
                       status = errorCode. Field names keep the seed's spelling (`wating`, \
                       `watingNumber`, `abailable`)."
    ),
    paths(
        queue::poll,
        door::challenge::challenge,
        concerts::list,
        concerts::sessions,
        concerts::seats,
        streams::queue_stream,
        streams::seat_stream,
        balance::get,
        balance::charge,
        reservations::hold,
        reservations::pay,
        admin::create_concert,
        admin::create_session,
        admin::credit,
        stats::stats,
        rooms::schedule,
        rooms::status,
        rooms::rerate,
        rooms::pause,
        rooms::resume,
        rooms::site_status,
        rooms::site_rerate,
        rooms::site_pause,
        rooms::site_resume,
        super::health,
        ready::ready,
    ),
    components(schemas(
        error::ErrorBody,
        queue::QueueResponse,
        streams::SseEvent,
        door::challenge::ChallengeResponse,
        concerts::ConcertListItem,
        concerts::ConcertRoom,
        concerts::SessionsResponse,
        concerts::SessionItem,
        concerts::SeatsResponse,
        concerts::SeatItem,
        balance::BalanceResponse,
        balance::ChargeRequest,
        reservations::HoldRequest,
        reservations::HoldResponse,
        reservations::PayRequest,
        reservations::PaymentResponse,
        admin::NewConcertRequest,
        admin::ConcertCreated,
        admin::NewSessionRequest,
        admin::SessionCreated,
        rooms::ScheduleRequest,
        rooms::RerateRequest,
        rooms::RoomStatusResponse,
        stats::StatsResponse,
        super::Health,
        ready::Ready,
    ))
)]
pub struct ApiDoc;

/// The document, with the correctly spelled aliases of the queue paths added. An alias
/// gets its own operation id: ids are unique in a document (validators refuse a repeat,
/// and client generators name their methods by them).
pub fn document() -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    for (path, alias, id) in [
        ("/concert/wating", "/concert/waiting", "poll_waiting_alias"),
        (
            "/concert/wating/stream",
            "/concert/waiting/stream",
            "queue_stream_waiting_alias",
        ),
    ] {
        if let Some(mut item) = doc.paths.paths.get(path).cloned() {
            if let Some(get) = item.get.as_mut() {
                get.operation_id = Some(id.to_owned());
            }
            doc.paths.paths.insert(alias.to_owned(), item);
        }
    }
    doc
}

/// Serves the OpenAPI document.
pub async fn serve() -> Json<OpenApiDoc> {
    Json(document())
}
