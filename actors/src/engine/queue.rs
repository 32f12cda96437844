//! The waiting rooms' side of the façade: the queue poll (and join), and resolving a
//! request's token to its caller and the room that issued it.

use std::ops::Deref;

use super::Engine;
use crate::domain::{ConcertId, QueueToken, RoomId, UserId};
use crate::error::{EngineError, EngineResult};
use crate::waiting_room::{Identity, LiveStatus, Ticket, WaitingRoomMsg};

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

/// A request's token, resolved to its room, user and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token.
    pub token: QueueToken,
    /// The room that issued it: its admission acts on that room's concerts only.
    pub room: RoomId,
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
    fn of(token: QueueToken, room: RoomId, identity: Identity) -> Self {
        Caller {
            token,
            room,
            user_id: identity.user_id,
            status: match identity.status {
                LiveStatus::Waiting => CallerStatus::Waiting,
                LiveStatus::Admitted => CallerStatus::Admitted,
            },
        }
    }

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
    /// A queue poll of the site-wide room: the live token's ticket, or a new token at
    /// the back of the line (for the named user, else the old token's user, else a
    /// generated one).
    pub async fn queue(
        &self,
        authorization: Option<&str>,
        user_id: Option<UserId>,
    ) -> EngineResult<Ticket> {
        self.queue_in(None, authorization, move || Ok::<_, EngineError>(user_id))
            .await
    }

    /// A queue poll through a door: the live token's ticket, or, only when a new token
    /// is about to be issued, `gate`'s verdict: the user the new token is for (`None`:
    /// the old token's user, else a generated one) or why none is issued. Polls of a
    /// live token never run the gate, so whatever it limits (join rates, proofs of
    /// work, verified identities) never slows or limits them.
    ///
    /// The room: `concert`'s (404 if it has none), where a token of another room counts
    /// as no token (its user joins this room); without `concert`, the token's own room
    /// if it is live, else the site-wide room.
    pub async fn queue_in<E: From<EngineError>>(
        &self,
        concert: Option<ConcertId>,
        authorization: Option<&str>,
        gate: impl FnOnce() -> Result<Option<UserId>, E>,
    ) -> Result<Ticket, E> {
        let asked = match concert {
            Some(concert) => Some(self.room_of(concert)?),
            None => None,
        };
        let token = authorization.and_then(|header| QueueToken::parse(header).ok());
        let now = self.inner.clock.now();
        if let Some(token) = token {
            // A live token's poll is answered from its published room, without a
            // round trip to the actor.
            let found = self.inner.rooms.find(asked, |room, published| {
                published.poll(token, now).map(|ticket| (room, ticket))
            });
            if let Some((room, ticket)) = found
                && asked.is_none_or(|asked| asked == room)
            {
                return Ok(ticket);
            }
            // One the room holds but could not answer (joining, leaving, or an
            // admission whose end is due) is its actor's to answer, once the write
            // is decided.
            let holder = self.inner.rooms.find(asked, |room, published| {
                published.holds(token).then_some(room)
            });
            if let Some(room) = holder
                && asked.is_none_or(|asked| asked == room)
            {
                let mailbox = self.waiting_room(room)?;
                let polled = mailbox.ask(
                    |reply| WaitingRoomMsg::Poll { token, reply },
                    self.inner.config.call_timeout,
                );
                if let Some(ticket) = polled.await? {
                    return Ok(ticket);
                }
            }
        }
        // A new token: through the door first, so that a flood of made-up tokens is
        // limited before it costs a store read.
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
        Ok(self
            .waiting_room(asked.unwrap_or(RoomId::Site))?
            .ask(
                |reply| WaitingRoomMsg::Join { user_id, reply },
                self.inner.config.call_timeout,
            )
            .await?)
    }

    /// The room a poll naming `concert` joins: 404 for an unknown concert, or one
    /// without a room of its own.
    fn room_of(&self, concert: ConcertId) -> EngineResult<RoomId> {
        if !self.inner.catalog.has_concert(concert) {
            return Err(EngineError::ConcertNotFound);
        }
        let room = RoomId::Concert(concert);
        match self.inner.rooms.get(room) {
            Some(_) => Ok(room),
            None => Err(EngineError::RoomNotFound),
        }
    }

    /// Resolves a request's `Authorization` header to its caller; 403 if the token is
    /// missing, malformed or unknown.
    pub async fn identify(&self, authorization: Option<&str>) -> EngineResult<Caller> {
        let token = authorization
            .and_then(|header| QueueToken::parse(header).ok())
            .ok_or(EngineError::InvalidToken)?;
        let now = self.inner.clock.now();
        // Live tokens are published by their rooms: no round trip to an actor.
        // Admissions first: they are what holds and payments look for.
        let published = self
            .inner
            .rooms
            .find(None, |room, published| {
                let user_id = published.admitted_user(token, now)?;
                Some((
                    room,
                    Identity {
                        user_id,
                        status: LiveStatus::Admitted,
                    },
                ))
            })
            .or_else(|| {
                self.inner.rooms.find(None, |room, published| {
                    published
                        .identify(token, now)
                        .map(|identity| (room, identity))
                })
            });
        if let Some((room, identity)) = published {
            return Ok(Caller::of(token, room, identity));
        }
        // Not answered there: being written (joining, leaving, an admission whose end
        // is due: the room's actor decides), or ended, or unknown (the store says).
        let holder = self.inner.rooms.find(None, |room, published| {
            published.holds(token).then_some(room)
        });
        if let Some(room) = holder {
            let identity = self
                .waiting_room(room)?
                .ask(
                    |reply| WaitingRoomMsg::Identify { token, reply },
                    self.inner.config.call_timeout,
                )
                .await?;
            if let Some(identity) = identity {
                return Ok(Caller::of(token, room, identity));
            }
        }
        let row = self
            .inner
            .store
            .token(token)
            .await?
            .ok_or(EngineError::InvalidToken)?;
        // A live row no published room holds: its room is down (restoring), so only
        // its actor can say, once it is back; until then the mailbox answers 503.
        if row.state.is_live() && holder.is_none() {
            let identity = self
                .waiting_room(row.room)?
                .ask(
                    |reply| WaitingRoomMsg::Identify { token, reply },
                    self.inner.config.call_timeout,
                )
                .await?;
            if let Some(identity) = identity {
                return Ok(Caller::of(token, row.room, identity));
            }
        }
        Ok(Caller {
            token,
            room: row.room,
            user_id: row.user_id,
            status: CallerStatus::Expired,
        })
    }

    /// (waiting, admitted) token counts of the site-wide room.
    pub async fn queue_counts(&self) -> EngineResult<(usize, usize)> {
        self.waiting_room(RoomId::Site)?
            .ask(
                |reply| WaitingRoomMsg::Stats { reply },
                self.inner.config.call_timeout,
            )
            .await
    }
}
