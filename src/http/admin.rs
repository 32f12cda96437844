//! Administration: adding concerts and sessions, behind the `X-Admin-Key` header.
//!
//! The key is checked by a route layer ([`require_admin_key`]) that runs after routing
//! (so an unknown path is still 404 and a wrong method 405) and before the body is read.

use std::sync::Arc;

use actors::Engine;
use actors::domain::{
    ChargeAmount, ConcertId, ConcertTitle, Points, SeatCount, parse_session_date,
};
use actors::engine::SessionSpec;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use super::balance::{BalanceResponse, ChargeRequest};
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Fields, FromJson, JsonBody, PathId, PathUserId};
use super::idempotency::RequiredKey;

/// The configured admin key; `None` disables administration.
#[derive(Clone, Default)]
pub struct AdminKey(pub Option<Arc<str>>);

impl std::fmt::Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key itself.
        f.write_str(if self.0.is_some() {
            "AdminKey(set)"
        } else {
            "AdminKey(unset)"
        })
    }
}

/// Lets a request through only with the right `X-Admin-Key`: 403 while no key is
/// configured, 401 when the header is missing or wrong. The comparison takes the same
/// time wherever the first wrong byte is (only the key's length can be learned).
pub async fn require_admin_key(
    State(key): State<AdminKey>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(expected) = key.0.as_deref() else {
        return Err(ApiError::admin_disabled());
    };
    let given = request
        .headers()
        .get("x-admin-key")
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if bool::from(given.ct_eq(expected.as_bytes())) {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::admin_key_invalid())
    }
}

/// The body of a new concert.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(example = json!({"title": "IU 2024 Concert"}))]
pub struct NewConcertRequest {
    /// 1 to 200 characters, not blank.
    pub title: String,
}

const TITLE_RULE: &str = "공백이 아닌 1~200자의 문자열이어야 합니다.";

impl FromJson for ConcertTitle {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        let title = fields.string("title", TITLE_RULE)?;
        ConcertTitle::parse(title).map_err(|_| ApiError::invalid_field("title", TITLE_RULE))
    }
}

/// A created concert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"concertId": 1}))]
pub struct ConcertCreated {
    /// The new concert.
    pub concert_id: i64,
}

/// Adds a concert.
#[utoipa::path(
    post,
    path = "/admin/concerts",
    tag = "admin",
    params(("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY")),
    request_body = NewConcertRequest,
    responses(
        (status = 201, description = "Created", body = ConcertCreated),
        (status = 400, description = "Invalid title", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
    )
)]
pub async fn create_concert(
    State(engine): State<Engine>,
    body: JsonBody<ConcertTitle>,
) -> ApiResult<(StatusCode, Json<ConcertCreated>)> {
    let title = body.parse()?;
    let id = engine.create_concert(&title).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConcertCreated { concert_id: id.0 }),
    ))
}

/// The body of a new session.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"date": "2024-07-03", "seatCount": 50, "price": 10000}))]
pub struct NewSessionRequest {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Seats numbered from 1: 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub seat_count: i64,
    /// Price of every seat, in points: 0 or more.
    #[schema(minimum = 0)]
    pub price: i64,
}

const DATE_RULE: &str = "YYYY-MM-DD 형식의 날짜여야 합니다.";
const SEAT_COUNT_RULE: &str = "1 이상 1000 이하의 정수여야 합니다.";
const PRICE_RULE: &str = "0 이상의 정수여야 합니다.";

impl FromJson for SessionSpec {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        let date = fields.string("date", DATE_RULE)?;
        let date =
            parse_session_date(date).map_err(|_| ApiError::invalid_field("date", DATE_RULE))?;
        let seat_count = fields.integer("seatCount", SEAT_COUNT_RULE)?;
        let seat_count = SeatCount::parse(seat_count)
            .map_err(|_| ApiError::invalid_field("seatCount", SEAT_COUNT_RULE))?;
        let price = fields.integer("price", PRICE_RULE)?;
        let price =
            Points::parse_price(price).map_err(|_| ApiError::invalid_field("price", PRICE_RULE))?;
        Ok(Self {
            date,
            seat_count,
            price,
        })
    }
}

/// A created session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"sessionId": 1}))]
pub struct SessionCreated {
    /// The new session.
    pub session_id: i64,
}

/// Adds a dated session (with its seats) to a concert.
#[utoipa::path(
    post,
    path = "/admin/concerts/{concertId}/sessions",
    tag = "admin",
    params(
        ("concertId" = i64, Path, description = "The concert", minimum = 1),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
    ),
    request_body = NewSessionRequest,
    responses(
        (status = 201, description = "Created", body = SessionCreated),
        (status = 400, description = "Invalid date, seatCount or price", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 404, description = "존재하지 않는 콘서트 입니다. (CONCERT_NOT_FOUND)", body = ErrorBody),
    )
)]
pub async fn create_session(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
    body: JsonBody<SessionSpec>,
) -> ApiResult<(StatusCode, Json<SessionCreated>)> {
    let spec = body.parse()?;
    let session = engine.create_session(concert, &spec).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionCreated {
            session_id: session.0,
        }),
    ))
}

/// The operator's credit to a user's wallet (its payment provider's callback): through
/// the user's Wallet and the ledger like a charge, with the charge's amount rule, and
/// applied once per `Idempotency-Key` (required): a retry with the same key and amount
/// answers the first credit's balance again, another amount 409. The operator's keys
/// are apart from the user's own charge keys.
#[utoipa::path(
    post,
    path = "/admin/users/{userId}/credits",
    tag = "admin",
    params(
        ("userId" = String, Path, description = "The user credited", pattern = "^[A-Za-z0-9_-]{1,64}$"),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
        ("Idempotency-Key" = String, Header, description = "1 to 128 visible ASCII characters, required: the credit is applied once per key", pattern = "^[!-~]{1,128}$"),
    ),
    request_body = ChargeRequest,
    responses(
        (status = 200, description = "The user's balance right after the credit", body = BalanceResponse),
        (status = 400, description = "Invalid userId or amount, or a missing or invalid Idempotency-Key", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 409, description = "이미 다른 요청에 사용된 Idempotency-Key 입니다. (IDEMPOTENCY_KEY_REUSED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn credit(
    State(engine): State<Engine>,
    PathUserId(user): PathUserId,
    RequiredKey(key): RequiredKey,
    body: JsonBody<ChargeAmount>,
) -> ApiResult<Json<BalanceResponse>> {
    let amount = body.parse()?;
    Ok(Json(engine.credit(&user, amount, key).await?.into()))
}
