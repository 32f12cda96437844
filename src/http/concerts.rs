//! Reading the catalog: the sessions of a concert and the seats of a session. Neither
//! needs a token; both answer from the engine's memory (no database round trip).

use actors::Engine;
use actors::domain::{ConcertId, SessionId};
use actors::engine::{SeatsView, SessionSummary};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::PathId;

/// The sessions of a concert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"concertId": 1, "sessions": [{"sessionId": 1, "date": "2024-07-03", "abailable": 23}]}))]
pub struct SessionsResponse {
    /// The concert.
    pub concert_id: i64,
    /// Its sessions, by date then id.
    pub sessions: Vec<SessionItem>,
}

/// One session in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    /// The session.
    pub session_id: i64,
    /// Its date, `YYYY-MM-DD`.
    pub date: String,
    /// Seats neither held nor sold (the contract's spelling).
    pub abailable: usize,
}

impl From<SessionSummary> for SessionItem {
    fn from(summary: SessionSummary) -> Self {
        Self {
            session_id: summary.session_id.0,
            date: summary.date.format("%Y-%m-%d").to_string(),
            abailable: summary.available,
        }
    }
}

/// Lists a concert's sessions with their available seats.
#[utoipa::path(
    get,
    path = "/concert/session/{concertId}",
    tag = "concerts",
    params(("concertId" = i64, Path, description = "The concert", minimum = 1)),
    responses(
        (status = 200, description = "The sessions", body = SessionsResponse),
        (status = 400, description = "Non-numeric or out-of-range id", body = ErrorBody),
        (status = 404, description = "존재하지 않는 콘서트 입니다. (CONCERT_NOT_FOUND)", body = ErrorBody),
    )
)]
pub async fn sessions(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
) -> ApiResult<Json<SessionsResponse>> {
    let sessions = engine.sessions(concert)?;
    Ok(Json(SessionsResponse {
        concert_id: concert.0,
        sessions: sessions.into_iter().map(SessionItem::from).collect(),
    }))
}

/// The seats of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"sessionId": 2, "date": "2024-07-04", "seatList": [{"seatNumber": 1, "isReservation": false}]}))]
pub struct SeatsResponse {
    /// The session.
    pub session_id: i64,
    /// Its date, `YYYY-MM-DD`.
    pub date: String,
    /// Every seat from 1 to the seat count, in order.
    pub seat_list: Vec<SeatItem>,
}

/// One seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatItem {
    /// The seat's number, from 1.
    pub seat_number: usize,
    /// True while held or sold.
    pub is_reservation: bool,
}

impl From<SeatsView> for SeatsResponse {
    fn from(view: SeatsView) -> Self {
        Self {
            session_id: view.session_id.0,
            date: view.date.format("%Y-%m-%d").to_string(),
            seat_list: view
                .taken
                .into_iter()
                .enumerate()
                .map(|(index, taken)| SeatItem {
                    seat_number: index + 1,
                    is_reservation: taken,
                })
                .collect(),
        }
    }
}

/// Lists every seat of a session and whether it is taken.
#[utoipa::path(
    get,
    path = "/concert/seat/{sessionId}",
    tag = "concerts",
    params(("sessionId" = i64, Path, description = "The session", minimum = 1)),
    responses(
        (status = 200, description = "The seats", body = SeatsResponse),
        (status = 400, description = "Non-numeric or out-of-range id", body = ErrorBody),
        (status = 404, description = "존재하지 않는 날짜입니다. (SESSION_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn seats(
    State(engine): State<Engine>,
    PathId(session): PathId<SessionId>,
) -> ApiResult<Json<SeatsResponse>> {
    let view = engine
        .seats(session)
        .await
        .map_err(ApiError::for_seat_list)?;
    Ok(Json(view.into()))
}
