//! The `Idempotency-Key` header, judged before the body: a payment's or a charge's
//! optional key, the operator's credit's required one (400 if missing or invalid).

use actors::domain::IdempotencyKey;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;

/// An optional `Idempotency-Key` (`PATCH /concert/balance`); 400 if present but invalid.
#[derive(Debug, Clone)]
pub struct OptionalKey(pub Option<IdempotencyKey>);

/// A required `Idempotency-Key` (`POST /admin/users/{userId}/credits`): a credit is
/// money, and its provider's callback is retried, so it is never applied without one.
#[derive(Debug, Clone)]
pub struct RequiredKey(pub IdempotencyKey);

impl<S: Send + Sync> FromRequestParts<S> for OptionalKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        idempotency_key(parts).map(OptionalKey)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequiredKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        idempotency_key(parts)?
            .map(RequiredKey)
            .ok_or_else(ApiError::idempotency_key_required)
    }
}

/// The `Idempotency-Key` header: `None` without it, 400 when it is not a valid key.
pub(super) fn idempotency_key(parts: &Parts) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = parts.headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| IdempotencyKey::parse(text).ok())
        .map(Some)
        .ok_or_else(ApiError::invalid_idempotency_key)
}
