//! Reading the catalog: the concert list, the sessions of a concert and the seats of a
//! session. None needs a token (a fan picks a concert before joining its room); all
//! answer from the engine's memory (no database round trip).

use actors::Engine;
use actors::domain::{ConcertId, SessionId};
use actors::engine::{CONCERT_PAGE_LIMIT, ConcertListing, SeatsView, SessionSummary};
use axum::Json;
use axum::extract::State;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{PathId, Query};

/// The query of the concert list: a cursor and a page size, both optional.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConcertListQuery {
    /// Only concerts with a larger id: the last `concertId` of the previous page (0, like
    /// no cursor, starts at the first concert).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// At most this many concerts, 1 to 500 (the default).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

impl ConcertListQuery {
    /// The cursor and the page size; 400 `INVALID_QUERY` unless each (if given) is the
    /// decimal digits of a number in its range.
    fn parse(&self) -> Result<(Option<ConcertId>, usize), ApiError> {
        let after = match self.after.as_deref() {
            None => None,
            // Ids start at 1: a cursor of 0 is before all of them, as none.
            Some(raw) => match digits(raw).ok_or_else(ApiError::invalid_query)? {
                0 => None,
                id => Some(ConcertId(id)),
            },
        };
        let limit = match self.limit.as_deref() {
            None => CONCERT_PAGE_LIMIT,
            Some(raw) => digits(raw)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=CONCERT_PAGE_LIMIT).contains(n))
                .ok_or_else(ApiError::invalid_query)?,
        };
        Ok((after, limit))
    }
}

/// An `i64` written as plain decimal digits (no sign, no spaces).
fn digits(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// A concert in the public list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"concertId": 1, "title": "IU 2024 Concert", "sessionCount": 2, "room": {"state": "scheduled", "opensAt": "2030-01-01T12:00:00.000Z"}}))]
pub struct ConcertListItem {
    /// The concert.
    pub concert_id: i64,
    /// Its title.
    pub title: String,
    /// How many dated sessions it has.
    pub session_count: usize,
    /// Its own waiting room; null when it has none (its buyers wait in the site-wide
    /// room) or while that room is being restarted.
    pub room: Option<ConcertRoom>,
}

/// A concert's own room, as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertRoom {
    /// `scheduled`, `prequeue`, `open` or `paused` (as in the admin room status).
    #[schema(value_type = String, pattern = "^(scheduled|prequeue|open|paused)$")]
    pub state: &'static str,
    /// When the room draws and opens (RFC 3339, UTC).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<String>,
}

impl From<ConcertListing> for ConcertListItem {
    fn from(listing: ConcertListing) -> Self {
        Self {
            concert_id: listing.summary.concert_id.0,
            title: listing.summary.title.to_string(),
            session_count: listing.summary.session_count,
            room: listing.room.map(|room| ConcertRoom {
                state: room.state.as_str(),
                opens_at: room
                    .opens_at
                    .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            }),
        }
    }
}

/// Lists the concerts by id, a page at a time: at most `limit` (500 by default and at
/// most), after the `after` cursor. A page shorter than the limit is the last.
#[utoipa::path(
    get,
    path = "/concert/list",
    tag = "concerts",
    params(ConcertListQuery),
    responses(
        (status = 200, description = "The concerts, by id", body = Vec<ConcertListItem>),
        (status = 400, description = "`after` or `limit` is not a number in its range (INVALID_QUERY)", body = ErrorBody),
        (status = 503, description = "Overloaded", body = ErrorBody),
    )
)]
pub async fn list(
    State(engine): State<Engine>,
    Query(query): Query<ConcertListQuery>,
) -> ApiResult<Json<Vec<ConcertListItem>>> {
    let (after, limit) = query.parse()?;
    let concerts = engine.concerts(after, limit);
    Ok(Json(
        concerts.into_iter().map(ConcertListItem::from).collect(),
    ))
}

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
