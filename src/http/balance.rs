//! `GET /concert/balance` and `PATCH /concert/balance`: a user's points. Both need a
//! live token (waiting or admitted), so a user can top up while in line.

use actors::domain::ChargeAmount;
use actors::{Engine, Live, WalletView};
use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::request::Parts;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Judged;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Fields, FromJson, JsonBody};
use super::idempotency::OptionalKey;

/// Whether users may add points to their own wallets: always with open identities
/// (a charge is then a demo's top-up); with verified identities only when the operator
/// says so (`CONCERT_OPEN_CHARGING`), since otherwise points are money the operator's
/// payment provider credits (`POST /admin/users/{userId}/credits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charging {
    /// `PATCH /concert/balance` is served; else 403 `CHARGE_NOT_ALLOWED`.
    pub open: bool,
}

/// Proof that charging is open: the charge's first extractor, so that a closed charge
/// is refused before its token is looked up or its body read.
#[derive(Debug, Clone, Copy)]
pub struct ChargingOpen;

impl<S: Send + Sync> FromRequestParts<S> for ChargingOpen
where
    Charging: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if Charging::from_ref(state).open {
            Ok(ChargingOpen)
        } else {
            Err(ApiError::charge_not_allowed())
        }
    }
}

/// A user's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"userId": "HappyCat", "balance": 300}))]
pub struct BalanceResponse {
    /// The token's user.
    pub user_id: String,
    /// Points.
    pub balance: i64,
}

impl From<WalletView> for BalanceResponse {
    fn from(view: WalletView) -> Self {
        Self {
            user_id: view.user_id.as_str().to_owned(),
            balance: view.balance.0,
        }
    }
}

/// The body of a charge.
#[derive(Debug, Clone, ToSchema)]
#[schema(example = json!({"amount": 300}))]
pub struct ChargeRequest {
    /// Points to add: a JSON integer from 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub amount: i64,
}

const AMOUNT_RULE: &str = "1 이상 10,000,000 이하의 정수여야 합니다.";

impl FromJson for ChargeAmount {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        let amount = fields.integer("amount", AMOUNT_RULE)?;
        ChargeAmount::parse(amount).map_err(|_| ApiError::invalid_field("amount", AMOUNT_RULE))
    }
}

/// The caller's balance.
#[utoipa::path(
    get,
    path = "/concert/balance",
    tag = "balance",
    params(("Authorization" = String, Header, description = "A live queue token")),
    responses(
        (status = 200, description = "The balance", body = BalanceResponse),
        (status = 403, description = "유효하지 않은 토큰입니다. (INVALID_TOKEN)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn get(
    State(engine): State<Engine>,
    Judged(caller): Judged<Live>,
) -> ApiResult<Json<BalanceResponse>> {
    Ok(Json(engine.balance(&caller).await?.into()))
}

/// Adds points to the caller's wallet; with an `Idempotency-Key`, once: a retry with
/// the same key and amount answers the first charge's balance again, another amount 409.
#[utoipa::path(
    patch,
    path = "/concert/balance",
    tag = "balance",
    params(
        ("Authorization" = String, Header, description = "A live queue token"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 128 visible ASCII characters; makes the charge safe to retry", pattern = "^[!-~]{1,128}$"),
    ),
    request_body = ChargeRequest,
    responses(
        (status = 200, description = "The new balance (a replay: the balance right after the first charge)", body = BalanceResponse),
        (status = 400, description = "amount is not an integer from 1 to 10,000,000, or an invalid Idempotency-Key", body = ErrorBody),
        (status = 403, description = "유효하지 않은 토큰입니다. (INVALID_TOKEN) / charging closed to users (CHARGE_NOT_ALLOWED)", body = ErrorBody),
        (status = 409, description = "이미 다른 요청에 사용된 Idempotency-Key 입니다. (IDEMPOTENCY_KEY_REUSED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn charge(
    _: ChargingOpen,
    State(engine): State<Engine>,
    Judged(caller): Judged<Live>,
    OptionalKey(key): OptionalKey,
    body: JsonBody<ChargeAmount>,
) -> ApiResult<Json<BalanceResponse>> {
    let amount = body.parse()?;
    Ok(Json(engine.charge(&caller, amount, key).await?.into()))
}
