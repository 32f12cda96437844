//! Who is asking: extractors that resolve the request's token through the engine and
//! judge it for the route, before the body is read.
//!
//! axum runs every extractor of the request's parts (headers, path) before the one that
//! takes the body, so a route that takes one of these and a [`JsonBody`] answers a bad
//! token before a bad body, as the contract asks. The handler then makes one engine
//! call with the proof the extractor made ([`Admitted`], [`Live`], [`Payer`]): the
//! token is resolved and judged once per request.
//!
//! [`JsonBody`]: super::extract::JsonBody

use actors::domain::IdempotencyKey;
use actors::{Admitted, Engine, Live, Payer};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;

/// The caller of a hold or a release: an admitted token (403 if missing, malformed or
/// unknown, 401 if expired, 403 if still waiting).
#[derive(Debug, Clone)]
pub struct AdmittedCaller(pub Admitted);

impl<S: Send + Sync> FromRequestParts<S> for AdmittedCaller
where
    Engine: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Engine::from_ref(state).identify(token(parts)).await?;
        Ok(Self(caller.admitted()?))
    }
}

/// The caller of a balance or a charge: a live token, waiting or admitted (403 otherwise).
#[derive(Debug, Clone)]
pub struct LiveCaller(pub Live);

impl<S: Send + Sync> FromRequestParts<S> for LiveCaller
where
    Engine: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Engine::from_ref(state).identify(token(parts)).await?;
        Ok(Self(caller.live()?))
    }
}

/// The caller of a payment. Without an `Idempotency-Key`, an admitted token (judged
/// like [`AdmittedCaller`]). With one, any known token: an expired or waiting one may
/// be owed the replay of its user's payment, which the engine decides; the key itself
/// is judged after the token (400 if it is not a valid key).
#[derive(Debug, Clone)]
pub struct PayingCaller(pub Payer);

impl<S: Send + Sync> FromRequestParts<S> for PayingCaller
where
    Engine: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Engine::from_ref(state).identify(token(parts)).await?;
        Ok(Self(Payer::new(caller, idempotency_key(parts)?)?))
    }
}

/// The `Authorization` header's text, if present and readable; the engine judges it.
fn token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
}

/// The `Idempotency-Key` header: `None` without it, 400 when it is not a valid key.
fn idempotency_key(parts: &Parts) -> Result<Option<IdempotencyKey>, ApiError> {
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
