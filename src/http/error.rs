//! The one error response of the API: `{"errorCode": N, "msg": "…", "error": "CODE"}` with
//! HTTP status N.
//!
//! Every failure — an engine refusal, a malformed request, an unknown route, a timeout, a
//! panic — becomes an [`ApiError`], so a client parses one shape and can switch on `error`
//! (stable, SCREAMING_SNAKE_CASE) while showing `msg` (Korean, the seed's wording where the
//! seed has one). Responses built here carry a [`ContractBody`] marker so that the last
//! middleware ([`ensure_contract_body`]) can rewrite any error response that did not come
//! from here, such as a bare 413 from the body limit or a 503 from the request timeout.
//! Two answers add a field: 403 `ROOM_NOT_OPEN` says when the room opens (`opensAt`),
//! 503 `NOT_READY` (`GET /ready`) says why (`reason`).

use std::borrow::Cow;

use actors::EngineError;
use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{codes, json_answer};

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({"errorCode": 409, "msg": "이미 예약된 좌석입니다.", "error": "SEAT_ALREADY_RESERVED"}))]
pub struct ErrorBody {
    /// Equal to the HTTP status.
    #[serde(rename = "errorCode")]
    pub error_code: u16,
    /// A message for people, in Korean.
    pub msg: Cow<'static, str>,
    /// A stable code for programs.
    pub error: Cow<'static, str>,
    /// `ROOM_NOT_OPEN` only: when the room opens (RFC 3339, UTC), so a front end can
    /// count down instead of polling; absent from every other error.
    #[serde(rename = "opensAt", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<String>,
    /// `NOT_READY` only (`GET /ready`): why, for an operator (`database: …`,
    /// `waiting room site: down`, …); absent from every other error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Marks a response whose body is already an [`ErrorBody`].
#[derive(Debug, Clone, Copy)]
pub struct ContractBody;

/// An error answer: status, stable code, message, and for 503s a `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    msg: Cow<'static, str>,
    retry_after_secs: Option<u32>,
    /// When the room refused opens (`ROOM_NOT_OPEN` only).
    opens_at: Option<DateTime<Utc>>,
    /// Why the server is not ready (`NOT_READY` only).
    reason: Option<String>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after_secs: None,
            opens_at: None,
            reason: None,
        }
    }

    /// 503 `NOT_READY` (`GET /ready`), saying why.
    pub fn not_ready(reason: String) -> Self {
        Self {
            reason: Some(reason),
            ..Self::not_ready_yet()
        }
    }

    /// 403 `ROOM_NOT_OPEN`: the room's pre-queue is not open yet; it opens at `opens_at`.
    pub fn room_not_open(opens_at: DateTime<Utc>) -> Self {
        Self {
            opens_at: Some(opens_at),
            ..Self::room_not_open_yet()
        }
    }

    /// The same error with a `Retry-After` of `secs` seconds.
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The body this error answers with (also an `expired` stream event's data).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.status.as_u16(),
            msg: self.msg.clone(),
            error: Cow::Borrowed(self.code),
            opens_at: self
                .opens_at
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            reason: self.reason.clone(),
        }
    }

    /// [`ApiError::body`] as JSON.
    fn body_json(&self) -> Vec<u8> {
        serde_json::to_vec(&self.body()).expect("an error body serializes")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// A required field is absent.
    pub fn missing_field(field: &str) -> Self {
        let msg = format!("필수 항목이 없습니다: {field}");
        Self::new(StatusCode::BAD_REQUEST, "MISSING_FIELD", msg)
    }

    /// A field has the wrong type or is out of range; `rule` says what it must be.
    pub fn invalid_field(field: &str, rule: &str) -> Self {
        let msg = format!("{field} 값이 올바르지 않습니다: {rule}");
        Self::new(StatusCode::BAD_REQUEST, "INVALID_FIELD", msg)
    }

    // ---- route-specific wording ----

    /// The seat list says "no such date" where the hold says "no such session"; both are
    /// the same condition, so both keep the code `SESSION_NOT_FOUND`.
    pub fn for_seat_list(error: EngineError) -> Self {
        match error {
            EngineError::SessionNotFound => Self {
                msg: Cow::Borrowed("존재하지 않는 날짜입니다."),
                ..Self::session_not_found()
            },
            other => other.into(),
        }
    }

    /// The error for a response that some layer built without a contract body, by its status.
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::route_not_found(),
            StatusCode::METHOD_NOT_ALLOWED => Self::method_not_allowed(),
            StatusCode::PAYLOAD_TOO_LARGE => Self::payload_too_large(),
            // No layer of ours answers a bare 503 (the admission layer writes its TIMEOUT and
            // OVERLOADED in the contract's shape); one from elsewhere is taken as a timeout.
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => Self::timeout(),
            // Keep the status (= errorCode) of any other client error.
            status if status.is_client_error() => Self {
                status,
                ..Self::bad_request()
            },
            _ => Self::internal(),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::InvalidToken => Self::invalid_token(),
            EngineError::TokenExpired => Self::token_expired(),
            EngineError::StillWaiting => Self::still_waiting(),
            EngineError::ConcertNotFound => Self::concert_not_found(),
            EngineError::SessionNotFound => Self::session_not_found(),
            EngineError::RoomNotFound => Self::room_not_found(),
            EngineError::RoomNotOpen { opens_at } => Self::room_not_open(opens_at),
            EngineError::RoomAlreadyOpen => Self::room_already_open(),
            EngineError::WrongRoom => Self::wrong_room(),
            EngineError::SeatNotFound => Self::seat_not_found(),
            EngineError::SeatAlreadyReserved => Self::seat_already_reserved(),
            EngineError::HoldLimitExceeded => Self::hold_limit_exceeded(),
            EngineError::ReservationNotFound => Self::reservation_not_found(),
            EngineError::AlreadyPaid => Self::already_paid(),
            EngineError::ReservationExpired => Self::reservation_expired(),
            EngineError::InsufficientBalance => Self::insufficient_balance(),
            EngineError::IdempotencyKeyReused => Self::idempotency_key_reused(),
            EngineError::InvalidInput(detail) => {
                // The engine's detail is English and internal; the client gets the generic wording.
                tracing::debug!(%detail, "engine refused an input");
                Self::invalid_input()
            }
            EngineError::Overloaded => Self::overloaded(),
            EngineError::StorageUnavailable => Self::storage_unavailable(),
            EngineError::ActorFailed => Self::actor_failed(),
            EngineError::Unreachable => Self::actor_unreachable(),
            EngineError::Timeout => Self::timeout(),
            EngineError::ShuttingDown => Self::shutting_down(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The request's span (see `http::make_span`) logs the code with the status, once.
        tracing::Span::current().record("error", self.code);
        let body = match (&self.msg, &self.opens_at, &self.reason) {
            (Cow::Borrowed(msg), None, None) => {
                codes::fixed_body(self.status, self.code, msg, || self.body_json())
            }
            _ => Bytes::from(self.body_json()),
        };
        let mut response = json_answer(self.status, body);
        if let Some(seconds) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(ContractBody);
        response
    }
}

/// Rewrites an error response that no handler built (so it lacks [`ContractBody`]) into
/// the contract's shape, keeping its status and headers such as `Allow`. Applied to
/// every answer by [`observe`](super::observe).
pub fn ensure_contract_body<B>(response: axum::http::Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<ContractBody>().is_some()
    {
        return response.map(axum::body::Body::new);
    }
    let (mut parts, _) = response.into_parts();
    let mut rewritten = ApiError::from_status(status).into_response();
    // Keep the layer's own headers (e.g. `Allow` on a 405), but not its body's.
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in parts.headers.iter() {
        rewritten.headers_mut().entry(name).or_insert(value.clone());
    }
    rewritten
}

/// The error type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_error_keeps_status_equal_to_error_code() {
        let all = [
            EngineError::InvalidToken,
            EngineError::TokenExpired,
            EngineError::StillWaiting,
            EngineError::ConcertNotFound,
            EngineError::SessionNotFound,
            EngineError::RoomNotFound,
            EngineError::RoomNotOpen {
                opens_at: DateTime::UNIX_EPOCH,
            },
            EngineError::RoomAlreadyOpen,
            EngineError::WrongRoom,
            EngineError::SeatNotFound,
            EngineError::SeatAlreadyReserved,
            EngineError::HoldLimitExceeded,
            EngineError::ReservationNotFound,
            EngineError::AlreadyPaid,
            EngineError::ReservationExpired,
            EngineError::InsufficientBalance,
            EngineError::IdempotencyKeyReused,
            EngineError::InvalidInput("x".into()),
            EngineError::Overloaded,
            EngineError::StorageUnavailable,
            EngineError::ActorFailed,
            EngineError::Unreachable,
            EngineError::Timeout,
            EngineError::ShuttingDown,
        ];
        for error in all {
            let api = ApiError::from(error.clone());
            assert!(
                api.status().is_client_error() || api.status().is_server_error(),
                "{error:?}"
            );
            assert!(
                api.code()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_'),
                "{error:?}"
            );
            let unavailable = api.status() == StatusCode::SERVICE_UNAVAILABLE;
            assert_eq!(unavailable, api.retry_after_secs.is_some(), "{error:?}");
        }
    }

    #[test]
    fn the_seat_list_says_date_but_keeps_the_session_code() {
        let api = ApiError::for_seat_list(EngineError::SessionNotFound);
        assert_eq!(api.code(), "SESSION_NOT_FOUND");
        assert_eq!(api.msg, "존재하지 않는 날짜입니다.");
    }

    async fn rewritten(status: StatusCode, allow: Option<&'static str>) -> (Response, ReadBack) {
        let mut bare = axum::http::Response::builder().status(status);
        if let Some(allow) = allow {
            bare = bare.header(header::ALLOW, allow);
        }
        let bare = bare.body(axum::body::Body::from("plain text")).unwrap();
        let response = ensure_contract_body(bare);
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap();
        let body: ReadBack = serde_json::from_slice(&bytes).expect("a contract body");
        (Response::from_parts(parts, axum::body::Body::empty()), body)
    }

    /// [`ErrorBody`] read back.
    #[derive(Debug, serde::Deserialize)]
    struct ReadBack {
        #[serde(rename = "errorCode")]
        error_code: u16,
        error: String,
    }

    #[tokio::test]
    async fn room_not_open_says_when_and_no_other_error_has_opens_at() {
        let opens_at = DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let response = ApiError::from(EngineError::RoomNotOpen { opens_at }).into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"], "ROOM_NOT_OPEN");
        assert_eq!(body["errorCode"], 403);
        assert_eq!(body["opensAt"], "2030-01-02T03:04:05.000Z");
        let other = ApiError::from(EngineError::WrongRoom).into_response();
        let bytes = axum::body::to_bytes(other.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
    }

    #[tokio::test]
    async fn a_bare_timeout_becomes_a_contract_503_with_retry_after() {
        let (response, body) = rewritten(StatusCode::SERVICE_UNAVAILABLE, None).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((body.error_code, body.error.as_str()), (503, "TIMEOUT"));
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[tokio::test]
    async fn a_bare_405_keeps_its_allow_header() {
        let (response, body) = rewritten(StatusCode::METHOD_NOT_ALLOWED, Some("GET,HEAD")).await;
        assert_eq!(
            (body.error_code, body.error.as_str()),
            (405, "METHOD_NOT_ALLOWED")
        );
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
    }

    #[tokio::test]
    async fn contract_bodies_and_successes_pass_through() {
        let ok = axum::http::Response::builder()
            .status(200)
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(ensure_contract_body(ok).status(), StatusCode::OK);
        let contract = ApiError::seat_already_reserved().into_response();
        let passed = ensure_contract_body(contract);
        let bytes = axum::body::to_bytes(passed.into_body(), 4096)
            .await
            .unwrap();
        let body: ReadBack = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body.error, "SEAT_ALREADY_RESERVED");
    }
}
