//! `GET /concert/wating` (and its spelling-corrected alias `/concert/waiting`): the
//! queue poll that issues, keeps alive and reports a token, in the site-wide room or,
//! with `concertId`, in that concert's room.

use actors::Engine;
use actors::domain::ConcertId;
use actors::engine::Ticket;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::door::DoorPass;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Authorization, Query, UserIdHeader, user_id};
use super::json_answer;

/// The query of a queue poll.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Who a new token is for: 1 to 64 of `A-Z a-z 0-9 _ -` (also accepted as header `X-User-Id`).
    #[serde(rename = "userId")]
    #[param(rename = "userId", pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub user_id: Option<String>,
    /// The concert whose room to wait in (its on-sale); without it, the site-wide room.
    /// A token of another room is then treated as unknown: its user joins this room.
    #[serde(rename = "concertId")]
    #[param(rename = "concertId", value_type = Option<i64>, minimum = 1)]
    pub concert_id: Option<String>,
}

impl QueueQuery {
    /// The room asked for: `None` for the site-wide room; 400 `INVALID_QUERY` unless
    /// `concertId` is the decimal digits of an id from 1 to 2^63-1 (as a path id).
    pub fn concert(&self) -> Result<Option<ConcertId>, ApiError> {
        let Some(raw) = self.concert_id.as_deref() else {
            return Ok(None);
        };
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid_query());
        }
        raw.parse::<i64>()
            .ok()
            .and_then(|id| ConcertId::parse(id).ok())
            .map(Some)
            .ok_or_else(ApiError::invalid_query)
    }
}

/// A token's place in line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"watingNumber": 3, "token": "0b9f0c3e-5c1a-4a53-9a55-2f2f5a0a6c11", "isProcessing": false, "userId": "HappyCat", "estimatedWaitSeconds": 12}))]
pub struct QueueResponse {
    /// 1-based place among waiting tokens (1 = admitted next); 0 once admitted; null in
    /// a room's pre-queue, where places are drawn at random at `opensAt`. The contract's
    /// spelling.
    pub wating_number: Option<usize>,
    /// The token to send as `Authorization`.
    pub token: String,
    /// True once admitted.
    pub is_processing: bool,
    /// The token's user.
    pub user_id: String,
    /// Seconds until admission at the recent admission rate; null when unknown.
    pub estimated_wait_seconds: Option<u64>,
    /// In a room's pre-queue only: when the room opens and places are drawn (RFC 3339,
    /// UTC). Absent outside the pre-queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<String>,
}

impl From<Ticket> for QueueResponse {
    fn from(ticket: Ticket) -> Self {
        Self {
            wating_number: ticket.position,
            token: ticket.token.to_string(),
            is_processing: ticket.admitted,
            user_id: ticket.user_id.into_string(),
            estimated_wait_seconds: ticket.estimated_wait_seconds,
            opens_at: ticket
                .opens_at
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        }
    }
}

impl From<Ticket> for QueueAnswer {
    fn from(ticket: Ticket) -> Self {
        Self(ticket)
    }
}

/// The poll's answer as JSON, the bytes `serde_json` writes for [`QueueResponse`]
/// (`tests` compares them), written by hand into a buffer that fits it. The hottest
/// route's ~170 bytes: serializing a `QueueResponse` made two `String`s and escaped
/// every byte of the token and the user id, about a tenth of a poll's instructions
/// (issue 16), for fields that never need escaping (a UUID; a user id of `A-Z a-z 0-9
/// _ -`, escaped anyway should one ever hold anything else).
pub struct QueueAnswer(Ticket);

impl IntoResponse for QueueAnswer {
    fn into_response(self) -> Response {
        json_answer(StatusCode::OK, answer_json(&self.0))
    }
}

fn answer_json(ticket: &Ticket) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"watingNumber\":");
    match ticket.position {
        Some(place) => out.extend_from_slice(number.format(place).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"token\":\"");
    let mut token = Uuid::encode_buffer();
    out.extend_from_slice(
        ticket
            .token
            .0
            .hyphenated()
            .encode_lower(&mut token)
            .as_bytes(),
    );
    out.extend_from_slice(if ticket.admitted {
        b"\",\"isProcessing\":true,\"userId\":"
    } else {
        b"\",\"isProcessing\":false,\"userId\":"
    });
    let user = ticket.user_id.as_str();
    if user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        out.push(b'"');
        out.extend_from_slice(user.as_bytes());
        out.push(b'"');
    } else {
        // Writing to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut out, user);
    }
    out.extend_from_slice(b",\"estimatedWaitSeconds\":");
    match ticket.estimated_wait_seconds {
        Some(seconds) => out.extend_from_slice(number.format(seconds).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    if let Some(at) = ticket.opens_at {
        out.extend_from_slice(b",\"opensAt\":\"");
        out.extend_from_slice(at.to_rfc3339_opts(SecondsFormat::Millis, true).as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
    out
}

/// Polls the line: a live token is answered with its state; a missing, unknown or
/// ended token gets a new one at the back (kept for the same user unless another is named).
/// Only a new token passes the door (join rate, JWT identity, proof of work).
/// With `concertId`, the line is that concert's room: before its pre-queue opens a join
/// is 403 `ROOM_NOT_OPEN` (with `opensAt`); in the pre-queue the token has no place yet
/// (`watingNumber` null, `opensAt` set) until the draw at `opensAt`.
#[utoipa::path(
    get,
    path = "/concert/wating",
    tag = "queue",
    params(
        QueueQuery,
        ("Authorization" = Option<String>, Header, description = "The queue token (`Bearer ` prefix optional)"),
        ("X-User-Id" = Option<String>, Header, description = "Who a new token is for, when the query names nobody (refused in JWT mode)", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("X-User-Token" = Option<String>, Header, description = "JWT mode: the caller's JWT (its `sub` is the user); needed for a new token"),
        ("X-Pow" = Option<String>, Header, description = "When the server asks for proofs: `<challenge>:<nonce>` for a new token (see `/concert/wating/challenge`)"),
    ),
    responses(
        (status = 200, description = "The token's place in line", body = QueueResponse),
        (status = 400, description = "Invalid userId (`INVALID_USER_ID`) or concertId (`INVALID_QUERY`), a user named in JWT mode (`USER_ID_NOT_ALLOWED`) or an invalid proof of work (`POW_INVALID`)", body = ErrorBody),
        (status = 401, description = "JWT mode: a new token without a valid X-User-Token", body = ErrorBody),
        (status = 403, description = "The concert's room is scheduled and its pre-queue not open yet (`ROOM_NOT_OPEN`; the body adds `opensAt`)", body = ErrorBody),
        (status = 404, description = "No such concert (`CONCERT_NOT_FOUND`) or the concert has no room of its own (`ROOM_NOT_FOUND`: join without concertId)", body = ErrorBody),
        (status = 428, description = "A new token without a proof of work", body = ErrorBody),
        (status = 429, description = "Too many new tokens from this address (see Retry-After)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn poll(
    State(engine): State<Engine>,
    authorization: Authorization,
    Query(query): Query<QueueQuery>,
    header: UserIdHeader,
    door: DoorPass,
) -> ApiResult<QueueAnswer> {
    let user_id = user_id(query.user_id.as_deref(), header.as_bytes())?;
    let concert = query.concert()?;
    let gate = door.gate(user_id)?;
    let ticket = engine
        .queue_in(concert, authorization.as_deref(), gate)
        .await?;
    Ok(QueueAnswer(ticket))
}

#[cfg(test)]
mod tests {
    use actors::domain::{QueueToken, RoomId, UserId};
    use chrono::{TimeZone, Utc};

    use super::*;

    fn ticket(user: &str) -> Ticket {
        Ticket {
            token: QueueToken::generate(),
            user_id: UserId::parse(user).unwrap(),
            position: Some(523_417),
            opens_at: None,
            room: RoomId::Site,
            admitted: false,
            estimated_wait_seconds: Some(5_234),
        }
    }

    /// Every shape of a poll's answer, written by hand, is the JSON `serde_json` writes
    /// for the documented `QueueResponse`, byte for byte.
    #[test]
    fn the_hand_written_answer_is_serde_s_bytes() {
        let waiting = ticket("rmiv0k3xa-p-523417");
        let admitted = Ticket {
            position: Some(0),
            admitted: true,
            estimated_wait_seconds: Some(0),
            ..ticket("A_z-09")
        };
        let pre_queue = Ticket {
            position: None,
            estimated_wait_seconds: None,
            opens_at: Some(Utc.with_ymd_and_hms(2026, 12, 7, 20, 0, 0).unwrap()),
            ..ticket("x")
        };
        for ticket in [waiting, admitted, pre_queue] {
            let by_hand = answer_json(&ticket);
            let by_serde = serde_json::to_vec(&QueueResponse::from(ticket)).unwrap();
            assert_eq!(
                String::from_utf8(by_hand).unwrap(),
                String::from_utf8(by_serde).unwrap()
            );
        }
    }
}
