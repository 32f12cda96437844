//! `POST /concert/reservation` (a temporary hold) and `POST /concert/payment`.
//!
//! The contract's order of checks: the token first, judged by the extractor
//! ([`Judged`]) before the body is read; then the body; then
//! everything else, in the one engine call each handler makes.

use actors::engine::{HoldReceipt, PaymentReceipt};
use actors::{Admitted, Engine, Payer};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::caller::Judged;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Fields, FromJson, JsonBody, exact};

const ID_RULE: &str = "정수여야 합니다.";

/// The body of a hold. Ids are taken as any JSON integer: one that names no session or
/// seat is a 404 in the contract's order, not a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"sessionId": 1, "seatNumber": 4}))]
pub struct HoldRequest {
    /// The session.
    pub session_id: i64,
    /// The seat, from 1 to the session's seat count.
    pub seat_number: i64,
}

impl FromJson for HoldRequest {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        Ok(Self {
            session_id: fields.integer("sessionId", ID_RULE)?,
            seat_number: fields.integer("seatNumber", ID_RULE)?,
        })
    }

    /// A storm's every request: the hot path of a hot seat.
    fn from_exact(body: &[u8]) -> Option<Self> {
        /// The body as clients send it, and nothing else (see `extract::exact`).
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Exact {
            session_id: i64,
            seat_number: i64,
        }
        let Exact {
            session_id,
            seat_number,
        } = exact(body)?;
        Some(Self {
            session_id,
            seat_number,
        })
    }
}

/// A committed hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"reservationId": 23, "sessionId": 1, "seatNumber": 4, "price": 10000, "expiresAt": "2024-07-01T12:05:00.000Z"}))]
pub struct HoldResponse {
    /// The reservation to pay.
    pub reservation_id: i64,
    /// The session.
    pub session_id: i64,
    /// The seat.
    pub seat_number: u32,
    /// What paying will cost.
    pub price: i64,
    /// When the hold ends unless paid (RFC 3339, UTC).
    pub expires_at: String,
}

impl From<HoldReceipt> for HoldResponse {
    fn from(receipt: HoldReceipt) -> Self {
        Self {
            reservation_id: receipt.reservation_id.0,
            session_id: receipt.session_id.0,
            seat_number: receipt.seat_number.0,
            price: receipt.price.0,
            expires_at: receipt
                .expires_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// Holds a seat for the caller until `expiresAt`.
#[utoipa::path(
    post,
    path = "/concert/reservation",
    tag = "reservations",
    params(("Authorization" = String, Header, description = "An admitted queue token")),
    request_body = HoldRequest,
    responses(
        (status = 201, description = "Held", body = HoldResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "토큰이 만료되었습니다. (TOKEN_EXPIRED)", body = ErrorBody),
        (status = 403, description = "유효하지 않은 토큰입니다. (INVALID_TOKEN) / 아직 대기열 처리 중입니다. (STILL_WAITING) / a token of another room than the concert's (WRONG_ROOM)", body = ErrorBody),
        (status = 404, description = "존재하지 않는 세션입니다. (SESSION_NOT_FOUND) / 존재하지 않는 좌석입니다. (SEAT_NOT_FOUND)", body = ErrorBody),
        (status = 409, description = "이미 예약된 좌석입니다. (SEAT_ALREADY_RESERVED) / 예약 가능한 좌석 수를 초과했습니다. (HOLD_LIMIT_EXCEEDED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn hold(
    State(engine): State<Engine>,
    Judged(caller): Judged<Admitted>,
    body: JsonBody<HoldRequest>,
) -> ApiResult<(StatusCode, Json<HoldResponse>)> {
    let request = body.parse()?;
    let receipt = engine
        .hold(&caller, request.session_id, request.seat_number)
        .await?;
    Ok((StatusCode::CREATED, Json(receipt.into())))
}

/// The body of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"reservationId": 23}))]
pub struct PayRequest {
    /// The hold to pay.
    pub reservation_id: i64,
}

impl FromJson for PayRequest {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        Ok(Self {
            reservation_id: fields.integer("reservationId", ID_RULE)?,
        })
    }

    fn from_exact(body: &[u8]) -> Option<Self> {
        /// The body as clients send it, and nothing else (see `extract::exact`).
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Exact {
            reservation_id: i64,
        }
        let Exact { reservation_id } = exact(body)?;
        Some(Self { reservation_id })
    }
}

/// A committed payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"sessionId": 1, "date": "2024-07-04", "seatNumber": 33, "reservationId": 23, "paymentId": 7, "amount": 10000, "balance": 5000}))]
pub struct PaymentResponse {
    /// The session of the seat.
    pub session_id: i64,
    /// Its date, `YYYY-MM-DD`.
    pub date: String,
    /// The seat sold.
    pub seat_number: u32,
    /// The reservation paid.
    pub reservation_id: i64,
    /// The payment.
    pub payment_id: i64,
    /// Points debited.
    pub amount: i64,
    /// The balance right after this payment.
    pub balance: i64,
}

impl From<PaymentReceipt> for PaymentResponse {
    fn from(receipt: PaymentReceipt) -> Self {
        Self {
            session_id: receipt.session_id.0,
            date: receipt.date.format("%Y-%m-%d").to_string(),
            seat_number: receipt.seat_number.0,
            reservation_id: receipt.reservation_id.0,
            payment_id: receipt.payment_id.0,
            amount: receipt.amount.0,
            balance: receipt.balance_after.0,
        }
    }
}

/// Pays one of the caller's holds; with an `Idempotency-Key`, a retry answers the first
/// payment again (even after the payment ended the token's admission).
#[utoipa::path(
    post,
    path = "/concert/payment",
    tag = "reservations",
    params(
        ("Authorization" = String, Header, description = "An admitted queue token (for a retry with a key: the user's token, even expired)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters; makes the payment safe to retry", pattern = "^[!-~]{1,128}$"),
    ),
    request_body = PayRequest,
    responses(
        (status = 200, description = "Paid", body = PaymentResponse),
        (status = 400, description = "Malformed body or key", body = ErrorBody),
        (status = 401, description = "토큰이 만료되었습니다. (TOKEN_EXPIRED)", body = ErrorBody),
        (status = 402, description = "잔액이 부족합니다. (INSUFFICIENT_BALANCE)", body = ErrorBody),
        (status = 403, description = "유효하지 않은 토큰입니다. (INVALID_TOKEN) / 아직 대기열 처리 중입니다. (STILL_WAITING) / a token of another room than the concert's (WRONG_ROOM)", body = ErrorBody),
        (status = 404, description = "존재하지 않는 예약입니다. (RESERVATION_NOT_FOUND)", body = ErrorBody),
        (status = 409, description = "이미 결제된 예약입니다. (ALREADY_PAID) / 이미 다른 요청에 사용된 Idempotency-Key 입니다. (IDEMPOTENCY_KEY_REUSED)", body = ErrorBody),
        (status = 410, description = "만료된 예약입니다. (RESERVATION_EXPIRED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable; retry with the same key", body = ErrorBody),
    )
)]
pub async fn pay(
    State(engine): State<Engine>,
    Judged(payer): Judged<Payer>,
    body: JsonBody<PayRequest>,
) -> ApiResult<Json<PaymentResponse>> {
    let request = body.parse()?;
    let payment = engine.pay(&payer, request.reservation_id).await?;
    Ok(Json(payment.into()))
}
