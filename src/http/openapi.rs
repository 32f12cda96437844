//! `GET /openapi.json`: the API described with utoipa, generated at compile time from
//! the handlers' annotations, so the document cannot drift from the routes.

use axum::Json;
use utoipa::OpenApi;
use utoipa::openapi::OpenApi as OpenApiDoc;

use super::{admin, balance, concerts, door, error, queue, ready, reservations, rooms};

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
        concerts::sessions,
        concerts::seats,
        balance::get,
        balance::charge,
        reservations::hold,
        reservations::pay,
        admin::create_concert,
        admin::create_session,
        admin::credit,
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
        door::challenge::ChallengeResponse,
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
        super::Health,
        ready::Ready,
    ))
)]
pub struct ApiDoc;

/// The document, with the correctly spelled alias of the queue path added. The alias
/// gets its own operation id: ids are unique in a document (validators refuse a repeat,
/// and client generators name their methods by them).
pub fn document() -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    if let Some(mut item) = doc.paths.paths.get("/concert/wating").cloned() {
        if let Some(get) = item.get.as_mut() {
            get.operation_id = Some("poll_waiting_alias".to_owned());
        }
        doc.paths.paths.insert("/concert/waiting".to_owned(), item);
    }
    doc
}

/// Serves the OpenAPI document.
pub async fn serve() -> Json<OpenApiDoc> {
    Json(document())
}
