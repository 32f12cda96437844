//! Every fixed error this API answers, in one table: status, stable code and message.
//!
//! The contract's errors keep the seed's Korean messages verbatim; the errors the seed
//! does not mention (bad input, routing, administration, unavailability) use this
//! project's wording, listed in `docs/api.md`. A 503 also says when to retry.

use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::StatusCode;
use dashmap::DashMap;

use super::error::ApiError;

/// Declares one constructor per fixed error: status, stable code, Korean message, and
/// for a 503 the seconds a client should wait before retrying.
macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident => $status:ident, $code:literal, $msg:literal $(, retry $secs:literal)?;)*) => {
        impl ApiError {
            $(
                $(#[$doc])*
                pub fn $name() -> Self {
                    let error = Self::new(StatusCode::$status, $code, $msg);
                    $(let error = error.retry_after($secs);)?
                    error
                }
            )*
        }
    };
}

// The seed's messages, verbatim, for the contract's errors; this project's wording for the rest.
codes! {
    /// Token missing, malformed or unknown (or expired, where a live token is needed).
    invalid_token => FORBIDDEN, "INVALID_TOKEN", "유효하지 않은 토큰입니다.";
    /// Token known but its admission ended or it was evicted.
    token_expired => UNAUTHORIZED, "TOKEN_EXPIRED", "토큰이 만료되었습니다.";
    /// Token still in line.
    still_waiting => FORBIDDEN, "STILL_WAITING", "아직 대기열 처리 중입니다.";
    /// No such concert.
    concert_not_found => NOT_FOUND, "CONCERT_NOT_FOUND", "존재하지 않는 콘서트 입니다.";
    /// `concertId` names a concert without a waiting room of its own.
    room_not_found => NOT_FOUND, "ROOM_NOT_FOUND", "대기실이 없는 공연입니다. concertId 없이 대기열에 참여하세요.";
    /// The room's pre-queue is not open yet (see `ApiError::room_not_open`, which adds `opensAt`).
    room_not_open_yet => FORBIDDEN, "ROOM_NOT_OPEN", "아직 대기열이 열리지 않았습니다.";
    /// The room's schedule cannot change once it has opened.
    room_already_open => CONFLICT, "ROOM_ALREADY_OPEN", "이미 열린 대기실의 일정은 바꿀 수 없습니다.";
    /// A token admitted by one room acting on a concert of another.
    wrong_room => FORBIDDEN, "WRONG_ROOM", "이 공연의 대기열 토큰이 아닙니다.";
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
    /// A `userId` (query, `X-User-Id` or a credit's path) outside the contract's alphabet or length.
    invalid_user_id => BAD_REQUEST, "INVALID_USER_ID", "userId 값이 올바르지 않습니다: 영문자, 숫자, _, - 로 된 1~64자여야 합니다.";
    /// An `Idempotency-Key` header that is empty, too long or not visible ASCII.
    invalid_idempotency_key => BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY", "Idempotency-Key 값이 올바르지 않습니다: 공백 없는 ASCII 1~128자여야 합니다.";
    /// A credit without an `Idempotency-Key`: it is never applied without one.
    idempotency_key_required => BAD_REQUEST, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key 헤더가 필요합니다.";
    /// A value the engine refused (its detail is logged, not shown).
    invalid_input => BAD_REQUEST, "INVALID_INPUT", "요청 값이 올바르지 않습니다.";
    /// Any other 4xx a layer produced without a body (none is expected).
    bad_request => BAD_REQUEST, "BAD_REQUEST", "잘못된 요청입니다.";

    /// JWT mode: a new token was asked without a valid `X-User-Token`.
    invalid_user_token => UNAUTHORIZED, "INVALID_USER_TOKEN", "사용자 토큰(X-User-Token)이 없거나 올바르지 않습니다.";
    /// JWT mode: the user is the token's `sub`; naming one (`userId`, `X-User-Id`) is refused.
    user_id_not_allowed => BAD_REQUEST, "USER_ID_NOT_ALLOWED", "이 서버에서는 userId를 지정할 수 없습니다: X-User-Token으로 사용자를 확인합니다.";
    /// Too many new tokens from this client address (`Retry-After` says when to retry).
    too_many_requests => TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS", "요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.";
    /// A new token needs a proof of work (`X-Pow`), and none was sent.
    pow_required => PRECONDITION_REQUIRED, "POW_REQUIRED", "새 대기열 토큰에는 작업 증명(X-Pow)이 필요합니다: GET /concert/wating/challenge 로 챌린지를 받으세요.";
    /// The proof of work is malformed, not ours, expired, too weak or already used.
    pow_invalid => BAD_REQUEST, "POW_INVALID", "작업 증명(X-Pow)이 올바르지 않거나, 만료되었거나, 이미 사용되었습니다.";

    /// `X-Admin-Key` missing or wrong.
    admin_key_invalid => UNAUTHORIZED, "ADMIN_KEY_INVALID", "관리자 키가 올바르지 않습니다.";
    /// Users may not add points themselves (verified identities without open charging):
    /// the operator credits them.
    charge_not_allowed => FORBIDDEN, "CHARGE_NOT_ALLOWED", "포인트 충전이 허용되지 않습니다: 운영자가 적립합니다.";
    /// No admin key is configured, so administration is off.
    admin_disabled => FORBIDDEN, "ADMIN_DISABLED", "관리자 기능이 비활성화되어 있습니다.";

    /// No route has this path.
    route_not_found => NOT_FOUND, "ROUTE_NOT_FOUND", "요청한 경로를 찾을 수 없습니다.";
    /// The path exists, the method does not.
    method_not_allowed => METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "허용되지 않는 메서드입니다.";
    /// The body did not arrive in full within the body timeout.
    request_timeout => REQUEST_TIMEOUT, "REQUEST_TIMEOUT", "요청 본문을 제한 시간 안에 받지 못했습니다.";
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
    /// `GET /ready`: not ready to take traffic (see `ApiError::not_ready`, which adds `reason`).
    not_ready_yet => SERVICE_UNAVAILABLE, "NOT_READY", "서비스가 아직 요청을 받을 준비가 되지 않았습니다.", retry 1;
    /// Cluster mode: no node owns the engine right now (between leases, a failover).
    no_owner => SERVICE_UNAVAILABLE, "NO_OWNER", "요청을 처리할 노드가 없습니다. 잠시 후 다시 시도해 주세요.", retry 1;
    /// Cluster mode: the owner did not answer a forwarded request in time; it may still complete.
    owner_unreachable => SERVICE_UNAVAILABLE, "OWNER_UNREACHABLE", "요청을 처리하는 노드가 응답하지 않습니다. 잠시 후 다시 시도해 주세요.", retry 1;
    /// Cluster mode: a stream (SSE) is served by the owner only; pages fall back to polling.
    stream_elsewhere => SERVICE_UNAVAILABLE, "STREAM_NOT_HERE", "이 노드는 실시간 스트림을 제공하지 않습니다. 조회로 대신해 주세요.", retry 5;
    /// The server is shutting down.
    shutting_down => SERVICE_UNAVAILABLE, "SHUTTING_DOWN", "서버가 종료 중입니다. 잠시 후 다시 시도해 주세요.", retry 5;
}

/// The serialized bodies of the fixed errors (a `&'static` message, no `opensAt`, no
/// `reason`), by status, code and message. A refused hold in a storm answers the same
/// bytes thousands of times a second, and serializing them again (the Korean message
/// escaped byte by byte) was most of its error's cost (issue 16). Keys are the static
/// strings' addresses, so the cache is bounded by the messages this binary contains.
type FixedKey = (u16, usize, usize, usize);

/// foldhash: the keys are the server's own statics, not a client's input.
static FIXED_BODIES: LazyLock<DashMap<FixedKey, Bytes, hashbrown::DefaultHashBuilder>> =
    LazyLock::new(DashMap::default);

/// The body of a fixed error: written by `write` the first time, then the same bytes.
pub(super) fn fixed_body(
    status: StatusCode,
    code: &'static str,
    msg: &'static str,
    write: impl FnOnce() -> Vec<u8>,
) -> Bytes {
    let key = (
        status.as_u16(),
        code.as_ptr() as usize,
        msg.as_ptr() as usize,
        msg.len(),
    );
    if let Some(body) = FIXED_BODIES.get(&key) {
        return body.clone();
    }
    FIXED_BODIES
        .entry(key)
        .or_insert_with(|| Bytes::from(write()))
        .clone()
}

#[cfg(test)]
mod tests {
    use actors::EngineError;
    use axum::response::IntoResponse;
    use serde_json::{Value, json};

    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, Value) {
        let response = error.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_fixed_error_answers_its_own_body_every_time() {
        for _ in 0..2 {
            assert_eq!(
                answer(ApiError::seat_already_reserved()).await,
                (
                    StatusCode::CONFLICT,
                    json!({"errorCode": 409, "msg": "이미 예약된 좌석입니다.", "error": "SEAT_ALREADY_RESERVED"})
                )
            );
            // Same status and code, another message: another body.
            let (_, date) = answer(ApiError::for_seat_list(EngineError::SessionNotFound)).await;
            let (_, session) = answer(ApiError::session_not_found()).await;
            assert_eq!(date["msg"], "존재하지 않는 날짜입니다.");
            assert_eq!(session["msg"], "존재하지 않는 세션입니다.");
            let (_, field) = answer(ApiError::invalid_field("a", "정수")).await;
            assert_eq!(field["msg"], "a 값이 올바르지 않습니다: 정수");
        }
    }
}
