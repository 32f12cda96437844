//! The door of the waiting room: who may be issued a NEW queue token.
//!
//! Three checks, one gate: the join rate per client address, the verified identity
//! (`X-User-Token`, in JWT mode) and the proof of work (`X-Pow`). The queue handler
//! extracts a [`DoorPass`] (the request's address and headers, nothing judged yet) and
//! hands its gate to the engine, which runs it only when it is about to issue a new
//! token: a poll of a live token never passes the door, so it is never limited, and the
//! hot poll path (answered from the published room) does no JWT or hash work.
//!
//! The checks run cheapest first: the rate (a map lookup) bounds, per address, how much
//! signature and hash checking a client can make the server do; the proof of work is
//! spent last, so a refused join does not burn the client's solved challenge.

pub mod challenge;
pub mod identity;
pub mod limit;
pub mod pow;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use actors::domain::UserId;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderValue;
use axum::http::request::Parts;
use ipnet::IpNet;

use self::identity::Verifier;
use self::limit::{JoinLimit, TrustedProxies};
use self::pow::{Pow, PowError};
use super::error::ApiError;

/// The door's settings.
#[derive(Debug, Clone, Default)]
pub struct DoorSettings {
    /// JWT mode: new tokens only for a verified `X-User-Token`; `None`: open identities.
    pub verifier: Option<Arc<Verifier>>,
    /// New tokens per second per client address; `None`: unlimited.
    pub join_rate_per_ip: Option<NonZeroU32>,
    /// The bucket's size; `None`: twice the rate.
    pub join_burst_per_ip: Option<NonZeroU32>,
    /// Peers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Leading zero bits of a new token's proof of work; 0: no proof needed.
    pub pow_bits: u8,
}

/// The door's state, shared by every request.
#[derive(Debug)]
pub struct Door {
    verifier: Option<Arc<Verifier>>,
    limit: Option<JoinLimit>,
    proxies: TrustedProxies,
    pow: Pow,
}

impl Door {
    /// The door `settings` describe.
    pub fn new(settings: &DoorSettings) -> Self {
        let limit = settings.join_rate_per_ip.map(|rate| {
            let burst = settings
                .join_burst_per_ip
                .unwrap_or_else(|| rate.saturating_mul(NonZeroU32::MIN.saturating_add(1)));
            JoinLimit::new(rate, burst)
        });
        Self {
            verifier: settings.verifier.clone(),
            limit,
            proxies: TrustedProxies::new(settings.trusted_proxies.clone()),
            pow: Pow::new(settings.pow_bits),
        }
    }

    /// The challenge route's issuer.
    pub fn pow(&self) -> &Pow {
        &self.pow
    }
}

/// What a queue poll brings to the door: read from the request, judged only if a new
/// token is to be issued.
pub struct DoorPass {
    door: Arc<Door>,
    client: IpAddr,
    user_token: Option<HeaderValue>,
    proof: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for DoorPass
where
    Arc<Door>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let door = Arc::<Door>::from_ref(state);
        // Without connection info (a router driven in-process) every request is one client.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let client = if door.limit.is_some() {
            door.proxies.client(peer, &parts.headers)
        } else {
            peer
        };
        Ok(Self {
            client,
            user_token: parts.headers.get("x-user-token").cloned(),
            proof: parts.headers.get("x-pow").cloned(),
            door,
        })
    }
}

impl DoorPass {
    /// The gate for the engine: given the user the request names (query or header),
    /// refuses a named user at once in JWT mode (400 `USER_ID_NOT_ALLOWED`), else
    /// returns the check the engine runs before issuing a new token.
    pub fn gate(
        self,
        named: Option<UserId>,
    ) -> Result<impl FnOnce() -> Result<Option<UserId>, ApiError>, ApiError> {
        if self.door.verifier.is_some() && named.is_some() {
            return Err(ApiError::user_id_not_allowed());
        }
        Ok(move || self.admit(named))
    }

    fn admit(self, named: Option<UserId>) -> Result<Option<UserId>, ApiError> {
        if let Some(limit) = &self.door.limit {
            limit.check(self.client).map_err(|refused| {
                let seconds = refused.retry_after.as_secs_f64().ceil().max(1.0) as u32;
                ApiError::too_many_requests().retry_after(seconds)
            })?;
        }
        let user = match &self.door.verifier {
            Some(verifier) => Some(
                self.user_token
                    .as_ref()
                    .and_then(|value| value.to_str().ok())
                    .and_then(|token| verifier.verify(token))
                    .ok_or_else(ApiError::invalid_user_token)?,
            ),
            None => named,
        };
        if self.door.pow.bits() > 0 {
            self.door
                .pow
                .spend(self.proof.as_ref().map(HeaderValue::as_bytes))
                .map_err(|error| match error {
                    PowError::Missing => ApiError::pow_required(),
                    PowError::Invalid => ApiError::pow_invalid(),
                    PowError::Busy => ApiError::overloaded(),
                })?;
        }
        Ok(user)
    }
}
