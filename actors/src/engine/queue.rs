//! The waiting room's side of the façade: the queue poll, and resolving a request's
//! token to its caller.

use std::ops::Deref;

use super::Engine;
use crate::domain::{QueueToken, UserId};
use crate::error::{EngineError, EngineResult};
use crate::waiting_room::{LiveStatus, Ticket, WaitingRoomMsg};

/// Where a caller's token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerStatus {
    /// In line.
    Waiting,
    /// Admitted.
    Admitted,
    /// Admission over, or evicted from the line.
    Expired,
}

/// A request's token, resolved to its user and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token.
    pub token: QueueToken,
    /// Its user.
    pub user_id: UserId,
    /// Where the token stands.
    pub status: CallerStatus,
}

/// A caller whose token was admitted when it was resolved: what a hold, a release and
/// a payment without an idempotency key take. Only [`Caller::admitted`] makes one, so
/// the engine judges admission in that one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted(Caller);

/// A caller whose token was live (waiting or admitted) when it was resolved: what the
/// wallet's calls take. Only [`Caller::live`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live(Caller);

impl Caller {
    /// Holds and payments need an admitted token: 401 if expired, 403 if waiting.
    pub fn admitted(self) -> EngineResult<Admitted> {
        self.check_admitted()?;
        Ok(Admitted(self))
    }

    /// The rule [`Caller::admitted`] applies, for a caller that is not consumed (a
    /// payment with a key judges it only once no first payment is replayed).
    pub(super) fn check_admitted(&self) -> EngineResult<()> {
        match self.status {
            CallerStatus::Admitted => Ok(()),
            CallerStatus::Waiting => Err(EngineError::StillWaiting),
            CallerStatus::Expired => Err(EngineError::TokenExpired),
        }
    }

    /// The wallet needs a live token, waiting or admitted: 403 otherwise.
    pub fn live(self) -> EngineResult<Live> {
        match self.status {
            CallerStatus::Expired => Err(EngineError::InvalidToken),
            CallerStatus::Waiting | CallerStatus::Admitted => Ok(Live(self)),
        }
    }
}

impl Deref for Admitted {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Deref for Live {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl Engine {
    /// A queue poll: the live token's ticket, or a new token at the back of the line
    /// (for the named user, else the old token's user, else a generated one).
    pub async fn queue(
        &self,
        authorization: Option<&str>,
        user_id: Option<UserId>,
    ) -> EngineResult<Ticket> {
        self.queue_through(authorization, move || Ok::<_, EngineError>(user_id))
            .await
    }

    /// A queue poll through a door: the live token's ticket, or, only when a new token
    /// is about to be issued, `gate`'s verdict: the user the new token is for (`None`:
    /// the old token's user, else a generated one) or why none is issued. Polls of a
    /// live token never run the gate, so whatever it limits (join rates, proofs of
    /// work, verified identities) never slows or limits them.
    pub async fn queue_through<E: From<EngineError>>(
        &self,
        authorization: Option<&str>,
        gate: impl FnOnce() -> Result<Option<UserId>, E>,
    ) -> Result<Ticket, E> {
        let token = authorization.and_then(|header| QueueToken::parse(header).ok());
        // A live token's poll is answered from the published room, without a round
        // trip to the actor; anything else (a new token, a joining or leaving one)
        // is the actor's to answer.
        if let Some(token) = token
            && let Some(ticket) = self.inner.published.poll(token, self.inner.clock.now())
        {
            return Ok(ticket);
        }
        let room = self.waiting_room()?;
        let timeout = self.inner.config.call_timeout;
        if let Some(token) = token {
            let polled = room.ask(|reply| WaitingRoomMsg::Poll { token, reply }, timeout);
            if let Some(ticket) = polled.await? {
                return Ok(ticket);
            }
        }
        let mut user_id = gate()?;
        if let Some(token) = token
            && user_id.is_none()
        {
            user_id = self
                .inner
                .store
                .token(token)
                .await
                .map_err(EngineError::from)?
                .map(|row| row.user_id);
        }
        let user_id = user_id.unwrap_or_else(UserId::generate);
        Ok(room
            .ask(|reply| WaitingRoomMsg::Join { user_id, reply }, timeout)
            .await?)
    }

    /// Resolves a request's `Authorization` header to its caller; 403 if the token is
    /// missing, malformed or unknown.
    pub async fn identify(&self, authorization: Option<&str>) -> EngineResult<Caller> {
        let token = authorization
            .and_then(|header| QueueToken::parse(header).ok())
            .ok_or(EngineError::InvalidToken)?;
        let now = self.inner.clock.now();
        // Admitted tokens are published by the waiting room: no round trip to it.
        if let Some(user_id) = self.inner.published.admitted_user(token, now) {
            return Ok(Caller {
                token,
                user_id,
                status: CallerStatus::Admitted,
            });
        }
        let identity = match self.inner.published.identify(token, now) {
            Some(identity) => Some(identity),
            None => {
                self.waiting_room()?
                    .ask(
                        |reply| WaitingRoomMsg::Identify { token, reply },
                        self.inner.config.call_timeout,
                    )
                    .await?
            }
        };
        if let Some(identity) = identity {
            return Ok(Caller {
                token,
                user_id: identity.user_id,
                status: match identity.status {
                    LiveStatus::Waiting => CallerStatus::Waiting,
                    LiveStatus::Admitted => CallerStatus::Admitted,
                },
            });
        }
        match self.inner.store.token(token).await? {
            Some(row) => Ok(Caller {
                token,
                user_id: row.user_id,
                status: CallerStatus::Expired,
            }),
            None => Err(EngineError::InvalidToken),
        }
    }

    /// (waiting, admitted) token counts.
    pub async fn queue_counts(&self) -> EngineResult<(usize, usize)> {
        self.waiting_room()?
            .ask(
                |reply| WaitingRoomMsg::Stats { reply },
                self.inner.config.call_timeout,
            )
            .await
    }
}
