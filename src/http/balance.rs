//! `GET /concert/balance` and `PATCH /concert/balance`: a user's points. Both need a
//! live token (waiting or admitted), so a user can top up while in line.

use actors::domain::ChargeAmount;
use actors::{Engine, Live, WalletView};
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::caller::Judged;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Fields, FromJson, JsonBody};

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

/// Adds points to the caller's wallet.
#[utoipa::path(
    patch,
    path = "/concert/balance",
    tag = "balance",
    params(("Authorization" = String, Header, description = "A live queue token")),
    request_body = ChargeRequest,
    responses(
        (status = 200, description = "The new balance", body = BalanceResponse),
        (status = 400, description = "amount is not an integer from 1 to 10,000,000", body = ErrorBody),
        (status = 403, description = "유효하지 않은 토큰입니다. (INVALID_TOKEN)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn charge(
    State(engine): State<Engine>,
    Judged(caller): Judged<Live>,
    body: JsonBody<ChargeAmount>,
) -> ApiResult<Json<BalanceResponse>> {
    let amount = body.parse()?;
    Ok(Json(engine.charge(&caller, amount).await?.into()))
}
