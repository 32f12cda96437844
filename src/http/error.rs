//! The one error response of the API: `{"errorCode": N, "msg": "…", "error": "CODE"}` with
//! HTTP status N.
//!
//! Every failure — an engine refusal, a malformed request, an unknown route, a timeout, a
//! panic — becomes an [`ApiError`], so a client parses one shape and can switch on `error`
//! (stable, SCREAMING_SNAKE_CASE) while showing `msg` (Korean, the seed's wording where the
//! seed has one). Responses built here carry a [`ContractBody`] marker so that the last
//! middleware ([`ensure_contract_body`]) can rewrite any error response that did not come
//! from here, such as a bare 413 from the body limit or a 503 from the request timeout.

use std::borrow::Cow;

use actors::EngineError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

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
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after_secs: None,
        }
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
            // tower-http's timeout is the only layer that answers a bare 503 (see `http::router`).
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

/// Declares one constructor per fixed error: status, stable code, Korean message, and
/// for a 503 the seconds a client should wait before retrying.
macro_rules! catalogue {
    ($($(#[$doc:meta])* $name:ident => $status:ident, $code:literal, $msg:literal $(, retry $secs:literal)?;)*) => {
        impl ApiError {
            $(
                $(#[$doc])*
                pub fn $name() -> Self {
                    #[allow(unused_mut)]
                    let mut error = Self::new(StatusCode::$status, $code, $msg);
                    $(error.retry_after_secs = Some($secs);)?
                    error
                }
            )*
        }
    };
}

// The seed's messages, verbatim, for the contract's errors; this project's wording for the rest.
catalogue! {
    /// Token missing, malformed or unknown (or expired, where a live token is needed).
    invalid_token => FORBIDDEN, "INVALID_TOKEN", "유효하지 않은 토큰입니다.";
    /// Token known but its admission ended or it was evicted.
    token_expired => UNAUTHORIZED, "TOKEN_EXPIRED", "토큰이 만료되었습니다.";
    /// Token still in line.
    still_waiting => FORBIDDEN, "STILL_WAITING", "아직 대기열 처리 중입니다.";
    /// No such concert.
    concert_not_found => NOT_FOUND, "CONCERT_NOT_FOUND", "존재하지 않는 콘서트 입니다.";
    /// No such session (the hold's wording; the seat list has its own, see `for_seat_list`).
    session_not_found => NOT_FOUND, "SESSION_NOT_FOUND", "존재하지 않는 세션입니다.";
    /// No such seat in the session.
    seat_not_found => NOT_FOUND, "SEAT_NOT_FOUND", "존재하지 않는 좌석입니다.";
    /// The seat is held or sold.
    seat_already_reserved => CONFLICT, "SEAT_ALREADY_RESERVED", "이미 예약된 좌석입니다.";
    /// The user has the most live holds allowed in the session.
    hold_limit_exceeded => CONFLICT, "HOLD_LIMIT_EXCEEDED", "예약 가능한 좌석 수를 초과했습니다.";
    /// No such reservation of the caller's.
    reservation_not_found => NOT_FOUND, "RESERVATION_NOT_FOUND", "존재하지 않는 예약입니다.";
    /// The reservation was paid already.
    already_paid => CONFLICT, "ALREADY_PAID", "이미 결제된 예약입니다.";
    /// The hold ended before it was paid.
    reservation_expired => GONE, "RESERVATION_EXPIRED", "만료된 예약입니다.";
    /// The balance is below the price.
    insufficient_balance => PAYMENT_REQUIRED, "INSUFFICIENT_BALANCE", "잔액이 부족합니다.";
    /// The key paid another reservation of this user.
    idempotency_key_reused => CONFLICT, "IDEMPOTENCY_KEY_REUSED", "이미 다른 요청에 사용된 Idempotency-Key 입니다.";

    /// The body is not JSON at all.
    malformed_json => BAD_REQUEST, "MALFORMED_JSON", "요청 본문이 올바른 JSON 형식이 아닙니다.";
    /// The body is JSON but not an object.
    body_not_object => BAD_REQUEST, "INVALID_BODY", "요청 본문은 JSON 객체여야 합니다.";
    /// The body could not be read (the connection failed mid-body).
    body_unreadable => BAD_REQUEST, "INVALID_BODY", "요청 본문을 읽을 수 없습니다.";
    /// A path id that is not a positive 64-bit integer.
    invalid_path_id => BAD_REQUEST, "INVALID_PATH_ID", "경로의 ID가 올바르지 않습니다: 1 이상의 정수여야 합니다.";
    /// A query string that does not decode.
    invalid_query => BAD_REQUEST, "INVALID_QUERY", "쿼리 문자열이 올바르지 않습니다.";
    /// A `userId` (query or `X-User-Id`) outside the contract's alphabet or length.
    invalid_user_id => BAD_REQUEST, "INVALID_USER_ID", "userId 값이 올바르지 않습니다: 영문자, 숫자, _, - 로 된 1~64자여야 합니다.";
    /// An `Idempotency-Key` header that is empty, too long or not visible ASCII.
    invalid_idempotency_key => BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key 값이 올바르지 않습니다: 공백 없는 ASCII 1~128자여야 합니다.";
    /// A value the engine refused (its detail is logged, not shown).
    invalid_input => BAD_REQUEST, "INVALID_INPUT", "요청 값이 올바르지 않습니다.";
    /// Any other 4xx a layer produced without a body (none is expected).
    bad_request => BAD_REQUEST, "BAD_REQUEST", "잘못된 요청입니다.";

    /// `X-Admin-Key` missing or wrong.
    admin_key_invalid => UNAUTHORIZED, "ADMIN_KEY_INVALID", "관리자 키가 올바르지 않습니다.";
    /// No admin key is configured, so administration is off.
    admin_disabled => FORBIDDEN, "ADMIN_DISABLED", "관리자 기능이 비활성화되어 있습니다.";

    /// No route has this path.
    route_not_found => NOT_FOUND, "ROUTE_NOT_FOUND", "요청한 경로를 찾을 수 없습니다.";
    /// The path exists, the method does not.
    method_not_allowed => METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "허용되지 않는 메서드입니다.";
    /// The body is over the configured limit.
    payload_too_large => PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", "요청 본문이 너무 큽니다.";
    /// A bug: a handler panicked.
    internal => INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "서버 내부 오류가 발생했습니다.";

    /// An actor's mailbox is full: the engine sheds load.
    overloaded => SERVICE_UNAVAILABLE, "OVERLOADED", "요청이 많아 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.", retry 1;
    /// The database is unreachable or too slow.
    storage_unavailable => SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE", "저장소에 일시적으로 접근할 수 없습니다. 잠시 후 다시 시도해 주세요.", retry 5;
    /// The actor handling the request failed and is being restarted.
    actor_failed => SERVICE_UNAVAILABLE, "ACTOR_FAILED", "요청 처리 중 일시적인 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.", retry 1;
    /// The actor stopped before the request reached it: nothing was done.
    actor_unreachable => SERVICE_UNAVAILABLE, "ACTOR_UNREACHABLE", "일시적으로 요청을 처리할 수 없습니다. 잠시 후 다시 시도해 주세요.", retry 1;
    /// The request (or an actor's answer) took too long; it may still complete.
    timeout => SERVICE_UNAVAILABLE, "TIMEOUT", "요청 처리 시간이 초과되었습니다. 잠시 후 다시 시도해 주세요.", retry 1;
    /// The server is shutting down.
    shutting_down => SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "서버가 종료 중입니다. 잠시 후 다시 시도해 주세요.", retry 5;
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(
                status = self.status.as_u16(),
                error = self.code,
                "request failed"
            );
        }
        let body = ErrorBody {
            error_code: self.status.as_u16(),
            msg: self.msg,
            error: Cow::Borrowed(self.code),
        };
        let mut response = (self.status, Json(body)).into_response();
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
/// the contract's shape, keeping its status and headers such as `Allow`.
pub async fn ensure_contract_body<B>(response: axum::http::Response<B>) -> Response
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
}
