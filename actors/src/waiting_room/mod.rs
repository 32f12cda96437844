//! The WaitingRoom actor: issues tokens, keeps the line, admits, evicts.
//!
//! One actor owns the whole line, so order and positions need no locks. Every
//! change that a client could observe is written to the store before the actor
//! moves on (a token is issued only once its row is committed, admitted only once
//! its admission is), so a restart rebuilds the same line and the same admissions.
//! Admission is event-driven: whenever a place may have opened or a waiter
//! arrived, the actor admits as many as fit, in one store write.

mod line;
mod room;

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

pub use room::{Identity, LiveStatus, RoomConfig, Ticket};
use room::Room;

use crate::clock::Clock;
use crate::domain::{QueueToken, UserId};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::Reply;
use crate::store::{Store, TokenRow, TokenState};

/// How many idle tokens one sweep evicts at most (one store write).
const EVICTIONS_PER_SWEEP: usize = 10_000;
/// How long to wait before retrying a store write that failed outside a request.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The messages the WaitingRoom handles.
#[derive(Debug)]
pub enum WaitingRoomMsg {
    /// A poll with a token: its ticket if live (and the poll keeps it in line), `None` if not.
    Poll {
        /// The token polled.
        token: QueueToken,
        /// The answer.
        reply: Reply<Option<Ticket>>,
    },
    /// A user asks for a place: their live token's ticket, or a new token at the back.
    Join {
        /// The user.
        user_id: UserId,
        /// The answer.
        reply: Reply<Ticket>,
    },
    /// Who a live token belongs to, and whether it is admitted (no keep-alive).
    Identify {
        /// The token.
        token: QueueToken,
        /// `None` when the token is not live.
        reply: Reply<Option<Identity>>,
    },
    /// Ends an admission on demand (after a payment), admitting the next in line.
    EndAdmission {
        /// The admitted token.
        token: QueueToken,
        /// Ok once the end is stored (also when the token was not admitted).
        reply: Reply<()>,
    },
    /// Counts, for tests and metrics.
    Stats {
        /// (waiting, admitted).
        reply: Reply<(usize, usize)>,
    },
    /// Timer: an admission's active TTL may have passed.
    AdmissionTimer(QueueToken),
    /// Timer: evict idle waiters.
    Sweep,
    /// Timer: try admitting again (after a failed write, or when the rate cap reopens).
    Admit,
    /// Test-only fault injection: the actor panics while handling this message,
    /// dropping `reply` as a crash drops the reply of whatever request it was handling.
    #[cfg(feature = "testkit")]
    Crash {
        /// Never answered.
        reply: Reply<()>,
    },
}

/// The WaitingRoom actor (its state is a [`Room`]).
pub struct WaitingRoom {
    /// Where tokens and admissions are written through.
    pub store: Arc<dyn Store>,
    /// Time source shared with the rest of the engine.
    pub clock: Clock,
    /// Admission rules.
    pub config: RoomConfig,
}

impl Actor for WaitingRoom {
    type Msg = WaitingRoomMsg;
    type State = Room;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        let live = self.store.live_tokens().await?;
        let max_seq = self.store.max_token_seq().await?;
        let now = self.clock.now();
        let active_ttl = self.config.active_ttl;
        let clock = self.clock;
        let (room, overdue) = Room::restore(self.config.clone(), live, max_seq, now, |row| {
            let admitted_at = row.admitted_at.unwrap_or(row.issued_at);
            clock.instant_at(admitted_at) + active_ttl
        });
        if !overdue.is_empty() {
            self.store
                .end_tokens(&overdue, TokenState::Expired, self.clock.now_utc())
                .await?;
        }
        tracing::info!(
            waiting = room.waiting(),
            admitted = room.admitted(),
            "waiting room restored"
        );
        // Every restored admission gets a timer for the rest of its TTL; a timer that
        // fires early is harmless (it checks the deadline), so the full TTL is an upper bound.
        for (token, remaining) in restored_deadlines(&room, now) {
            myself.send_after(remaining, move || WaitingRoomMsg::AdmissionTimer(token));
        }
        myself.send_interval(sweep_period(self.config.waiting_idle), || {
            WaitingRoomMsg::Sweep
        });
        let _ = myself.cast(WaitingRoomMsg::Admit);
        Ok(room)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        room: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = self.clock.now();
        match message {
            WaitingRoomMsg::Poll { token, reply } => {
                room.touch(token, now);
                reply.send(Ok(room.ticket(token, now)));
            }
            WaitingRoomMsg::Join { user_id, reply } => {
                let answer = self.join(&myself, room, user_id, now).await;
                reply.send(answer);
            }
            WaitingRoomMsg::Identify { token, reply } => reply.send(Ok(room.identify(token))),
            WaitingRoomMsg::EndAdmission { token, reply } => {
                let answer = self.end_admission(&myself, room, token).await;
                reply.send(answer);
            }
            WaitingRoomMsg::Stats { reply } => reply.send(Ok((room.waiting(), room.admitted()))),
            WaitingRoomMsg::AdmissionTimer(token) => {
                if room.admission_is_over(token, now)
                    && self.end_admission(&myself, room, token).await.is_err()
                {
                    myself.send_after(RETRY_AFTER, move || WaitingRoomMsg::AdmissionTimer(token));
                }
            }
            WaitingRoomMsg::Sweep => self.sweep(room, now).await,
            WaitingRoomMsg::Admit => self.admit_ready(&myself, room).await,
            #[cfg(feature = "testkit")]
            WaitingRoomMsg::Crash { reply } => {
                let _unanswered = reply;
                panic!("test-only fault injected into the waiting room")
            },
        }
        Ok(())
    }
}

impl WaitingRoom {
    async fn join(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        room: &mut Room,
        user_id: UserId,
        now: Instant,
    ) -> EngineResult<Ticket> {
        let token = match room.live_token_of(&user_id) {
            Some(token) => {
                room.touch(token, now);
                token
            }
            None => {
                let row = TokenRow {
                    token: QueueToken::generate(),
                    user_id: user_id.clone(),
                    seq: room.take_seq(),
                    state: TokenState::Waiting,
                    issued_at: self.clock.utc_at(now),
                    admitted_at: None,
                };
                self.store.insert_tokens(std::slice::from_ref(&row)).await?;
                room.join(row.token, user_id, now);
                self.admit_ready(myself, room).await;
                row.token
            }
        };
        room.ticket(token, self.clock.now())
            .ok_or(EngineError::StorageUnavailable)
    }

    async fn end_admission(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        room: &mut Room,
        token: QueueToken,
    ) -> EngineResult<()> {
        if !room.is_admitted(token) {
            return Ok(());
        }
        self.store
            .end_tokens(&[token], TokenState::Expired, self.clock.now_utc())
            .await?;
        room.end_admission(token);
        self.admit_ready(myself, room).await;
        Ok(())
    }

    /// Admits as many waiters as fit, in one store write.
    async fn admit_ready(&self, myself: &ActorRef<WaitingRoomMsg>, room: &mut Room) {
        let now = self.clock.now();
        let candidates = room.admission_candidates(now);
        if candidates.is_empty() {
            if let Some(at) = room.rate_cap_reopens_at() {
                myself.send_after(at.saturating_duration_since(now), || WaitingRoomMsg::Admit);
            }
            return;
        }
        match self.store.admit_tokens(&candidates, self.clock.utc_at(now)).await {
            Ok(()) => {
                room.admit(&candidates, now);
                let ttl = self.config.active_ttl;
                for token in candidates {
                    myself.send_after(ttl, move || WaitingRoomMsg::AdmissionTimer(token));
                }
                if let Some(at) = room.rate_cap_reopens_at() {
                    myself.send_after(at.saturating_duration_since(now), || WaitingRoomMsg::Admit);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "admission not stored; retrying");
                myself.send_after(RETRY_AFTER, || WaitingRoomMsg::Admit);
            }
        }
    }

    async fn sweep(&self, room: &mut Room, now: Instant) {
        let idle = room.idle_waiting(now, EVICTIONS_PER_SWEEP);
        if idle.is_empty() {
            return;
        }
        match self
            .store
            .end_tokens(&idle, TokenState::Evicted, self.clock.utc_at(now))
            .await
        {
            Ok(()) => {
                tracing::debug!(evicted = idle.len(), "idle waiters evicted");
                room.evict(&idle);
            }
            Err(error) => tracing::warn!(%error, "eviction not stored; next sweep retries"),
        }
    }
}

/// How often idle waiters are looked for: a quarter of the idle time, within 1 s to 15 s.
fn sweep_period(waiting_idle: Duration) -> Duration {
    (waiting_idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

fn restored_deadlines(room: &Room, now: Instant) -> Vec<(QueueToken, Duration)> {
    room.admitted_deadlines()
        .map(|(token, until)| (token, until.saturating_duration_since(now)))
        .collect()
}
