//! Who is asking: an extractor that resolves the request's token through the engine and
//! judges it for the route, before the body is read.
//!
//! axum runs every extractor of the request's parts (headers, path) before the one that
//! takes the body, so a route that takes a [`Judged`] and a [`JsonBody`] answers a bad
//! token before a bad body, as the contract asks (and without waiting for the body).
//! The handler then makes one engine call with the proof the extractor made: the token
//! is resolved and judged once per request.
//!
//! [`JsonBody`]: super::extract::JsonBody

use actors::{Admitted, Caller, Engine, Live, Payer};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use super::idempotency::idempotency_key;

/// The request's caller, judged fit for the route as a `T`: an [`Admitted`] one (holds),
/// a [`Live`] one (the wallet) or a [`Payer`] (payments).
#[derive(Debug, Clone)]
pub struct Judged<T>(pub T);

/// How a route judges its caller, once the engine has resolved the token (403 if it is
/// missing, malformed or unknown).
pub trait Judge: Sized {
    /// The caller as the route needs it, or the token's error.
    fn judge(caller: Caller, parts: &Parts) -> Result<Self, ApiError>;
}

/// Holds and releases: 401 if the token expired, 403 if it still waits.
impl Judge for Admitted {
    fn judge(caller: Caller, _: &Parts) -> Result<Self, ApiError> {
        Ok(caller.admitted()?)
    }
}

/// Balances and charges: a waiting or admitted token; 403 if it expired.
impl Judge for Live {
    fn judge(caller: Caller, _: &Parts) -> Result<Self, ApiError> {
        Ok(caller.live()?)
    }
}

/// Payments. Without an `Idempotency-Key`, an admitted token (as for holds). With one,
/// any known token: an expired or waiting one may be owed the replay of its user's
/// payment, which the engine decides; the key is judged after the token (400 if it is
/// not a valid key).
impl Judge for Payer {
    fn judge(caller: Caller, parts: &Parts) -> Result<Self, ApiError> {
        Ok(Payer::new(caller, idempotency_key(parts)?)?)
    }
}

impl<S: Send + Sync, T: Judge> FromRequestParts<S> for Judged<T>
where
    Engine: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let authorization = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let caller = Engine::from_ref(state).identify(authorization).await?;
        T::judge(caller, parts).map(Judged)
    }
}
