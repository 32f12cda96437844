//! The WaitingRoom actor: issues tokens, keeps the line, admits, evicts.
//!
//! Why one file of ~480 lines: the message enum, `pre_start` and the one `handle` match
//! are the actor's whole protocol and are read together; the rules live in the pure
//! `room.rs` (settings and phases in `schedule.rs`, the draw's shuffle in `draw.rs`),
//! issuing tokens in `joining.rs`, the opening in `opening.rs`, the admin messages in
//! `admin.rs`, the periodic upkeep (sweep, prune) in `upkeep.rs`.
//!
//! One actor owns the whole line and is the only one to change it, so order and
//! positions are decided in one place. Every change that a client could observe is
//! written to the store before the client hears of it (a token is answered only
//! once its row is committed, admitted only once its admission is), so a restart
//! rebuilds the same line and admissions. The actor publishes its room
//! ([`PublishedRoom`]) so that a poll of a live token is answered without a round
//! trip to it.
//!
//! Issuing is pipelined and batched: a new token takes its place in line at once
//! and its row joins the rows waiting to be written. At most
//! [`TOKEN_WRITES_IN_FLIGHT`] writes run at a time, each a separate task carrying
//! every row gathered since the last one (up to [`TOKENS_PER_WRITE`]), while the
//! actor goes on serving polls and other joins; the answers go out when a write
//! reports back. So a burst of joins costs one insert per batch, not per token:
//! one task, one store op and one message back to the actor per batch.
//! Admission is event-driven: whenever a place may have opened or a waiter
//! arrived, the actor admits as many as fit, in one store write.
//!
//! One actor per room (`room`): the site-wide room and each concert's that an
//! operator scheduled. A scheduled room takes joins into its pre-queue (no place
//! yet) and draws at its opening (`opening.rs`); its settings (schedule, limits,
//! pause) are changed by admin messages (`admin.rs`), each written through before
//! it takes effect, and restored from the room's row at start.

#[cfg(all(test, feature = "testkit"))]
mod actor_tests;
mod admin;
mod changes;
mod draw;
mod joining;
pub mod line;
mod opening;
mod pace;
mod published;
mod replica;
mod room;
mod schedule;
mod signals;
mod status;
mod upkeep;
mod writes;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

pub use changes::{LineBatch, LineChange, LineSink, TOKENS_PER_CHANGE, WaiterStage};
pub use published::{PublishedRoom, RoomPoster};
pub use replica::LineReplicas;
pub(crate) use replica::ReplicaRoom;
pub(crate) use signals::StreamSignals;
use room::Room;
use upkeep::{prune_period, sweep_period};
pub use room::{Identity, LiveStatus, RoomConfig, Ticket};
pub use schedule::{RoomSchedule, RoomSettings, Totals};
pub use status::{RoomState, RoomStatus};

use crate::clock::Clock;
use crate::metrics::RoomMetrics;
use crate::domain::{QueueToken, RoomId, UserId};
use crate::error::EngineResult;
use crate::mailbox::Reply;
use crate::store::{Store, StoreError, TokenRow, TokenState};

/// How long to wait before retrying a store write that failed outside a request.
pub(super) const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Token writes running at once. While they commit, new rows gather for the next.
pub const TOKEN_WRITES_IN_FLIGHT: usize = 2;
/// The most new tokens one write carries.
pub const TOKENS_PER_WRITE: usize = 1024;

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
    /// Schedules (or reschedules) the room: refused with `RoomAlreadyOpen` once drawn.
    Schedule {
        /// The new schedule (limits it leaves out: the engine's defaults).
        schedule: RoomSchedule,
        /// The room's status once the schedule is stored.
        reply: Reply<RoomStatus>,
    },
    /// Stops admissions (joins, polls, evictions and ending admissions go on).
    Pause {
        /// The room's status once the flag is stored.
        reply: Reply<RoomStatus>,
    },
    /// Starts admissions again, at once as many as fit.
    Resume {
        /// The room's status once the flag is stored.
        reply: Reply<RoomStatus>,
    },
    /// Changes the limits live; `None` leaves one as it is.
    Rerate {
        /// Admitted at once (`1..=MAX_ROOM_ACTIVE`).
        max_active: Option<u32>,
        /// Admissions per second: `Some(None)` is unlimited.
        admission_rate: Option<Option<NonZeroU32>>,
        /// The room's status once the limits are stored.
        reply: Reply<RoomStatus>,
    },
    /// The room's status.
    Status {
        /// The answer.
        reply: Reply<RoomStatus>,
    },
    /// Timer: the room's opening may have come: draw the pre-queue.
    Open,
    /// Counts, for tests and metrics.
    Stats {
        /// (waiting, admitted).
        reply: Reply<(usize, usize)>,
    },
    /// Timer: an admission's active TTL may have passed.
    AdmissionTimer(QueueToken),
    /// Timer: an admission ended on demand whose write failed (perhaps only its
    /// reply was lost): write the end again until it is stored.
    RetryEnd(QueueToken),
    /// Timer: evict idle waiters and end idle admissions.
    Sweep,
    /// Timer: delete a batch of ended tokens past their retention.
    Prune,
    /// Try admitting (queued after joins, so one write admits them together; also
    /// a timer after a failed write, or when the rate cap reopens).
    Admit,
    /// A batch of joining tokens' rows was written (or not): each token's outcome.
    Stored(Vec<(QueueToken, Result<(), StoreError>)>),
    /// The next batch of the line's changes is a whole picture (a replica asked).
    Republish,
    /// Test-only fault injection: the actor panics while handling this message,
    /// dropping `reply` as a crash drops the reply of whatever request it was handling.
    #[cfg(feature = "testkit")]
    Crash {
        /// Never answered.
        reply: Reply<()>,
    },
}

/// The WaitingRoom actor of one room. It reads its settings from the room's row
/// in `pre_start`: the site room writes a row from `config`'s defaults if none is
/// stored; a concert's room must have one (written when it was scheduled).
pub struct WaitingRoom {
    /// The room it runs.
    pub room: RoomId,
    /// Where tokens and admissions are written through.
    pub store: Arc<dyn Store>,
    /// Time source shared with the rest of the engine.
    pub clock: Clock,
    /// The engine-wide admission rules, and the default limits.
    pub config: RoomConfig,
    /// Where the actor publishes its room and admissions for polls and token checks.
    pub published: Arc<PublishedRoom>,
    /// Where the line's changes go for replicas on other nodes; `None`: not recorded.
    pub line_sink: Option<LineSink>,
}

/// The WaitingRoom's state: the answers owed to joining users and the writes in
/// flight. The room itself (line, admissions) is published ([`PublishedRoom`]).
pub struct WaitingRoomState {
    /// Joins waiting for their token's row (a user asking twice meanwhile waits twice).
    joining: HashMap<QueueToken, Vec<Reply<Ticket>>>,
    /// New tokens' rows not yet handed to a write. Bounded by the joins in flight,
    /// which the mailbox bounds.
    unwritten: Vec<TokenRow>,
    /// Token writes running (at most [`TOKEN_WRITES_IN_FLIGHT`]).
    token_writes: usize,
    /// Stored tokens whose answer waits for the admission write already queued.
    to_answer: Vec<QueueToken>,
    /// An `Admit` message is in the mailbox.
    admit_queued: bool,
    /// When the rate-cap timer will send `Admit`, if one is set.
    admit_timer_at: Option<Instant>,
    /// The opening came while tokens' rows were being written: new writes wait,
    /// and the draw is made once those report back (so each is in it).
    draw_pending: bool,
    /// The room's gauges and counters, set after each message.
    metrics: RoomMetrics,
}

impl Actor for WaitingRoom {
    type Msg = WaitingRoomMsg;
    type State = WaitingRoomState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        // Timed on the process's own clock (not the engine's, which tests pause):
        // operators read how long the line took to come back.
        let read_started = std::time::Instant::now();
        let stored = self.stored_settings().await?;
        let live = self.store.live_tokens(self.room).await?;
        let max_seq = self.store.max_token_seq(self.room).await?;
        let (tokens, read_ms) = (live.len(), read_started.elapsed().as_millis());
        let build_started = std::time::Instant::now();
        let now = self.clock.now();
        let active_ttl = self.config.active_ttl;
        let clock = self.clock;
        let (mut room, overdue) = Room::restore(self.config.clone(), stored, live, max_seq, now, |row| {
            let admitted_at = row.admitted_at.unwrap_or(row.issued_at);
            clock.instant_at(admitted_at) + active_ttl
        });
        if self.line_sink.is_some() {
            room.record_changes();
        }
        if !overdue.is_empty() {
            self.store
                .end_tokens(self.room, &overdue, TokenState::Expired, self.clock.now_utc())
                .await?;
        }
        tracing::info!(
            room = %self.room,
            waiting = room.waiting(),
            admitted = room.admitted(),
            phase = ?room.settings().phase(self.clock.utc_at(now)),
            paused = room.settings().paused,
            read_ms,
            built_ms = build_started.elapsed().as_millis(),
            "waiting room restored: {tokens} live tokens"
        );
        let mut metrics = RoomMetrics::new(self.room, room.totals());
        metrics.observe(room.waiting(), room.admitted(), room.totals());
        let draw_at = room.settings().draw_due_at();
        for (token, until) in room.admitted_deadlines() {
            let remaining = until.saturating_duration_since(now);
            myself.send_after(remaining, move || WaitingRoomMsg::AdmissionTimer(token));
        }
        self.published
            .install(room, now, self.config.admitted_idle);
        self.send_line_changes();
        let idle = self.config.waiting_idle.min(self.config.admitted_idle);
        myself.send_interval(sweep_period(idle), || WaitingRoomMsg::Sweep);
        // Pruning is one pass over every room's ended tokens: the site room's job.
        if self.room == RoomId::Site {
            myself.send_interval(prune_period(self.config.token_retention), || {
                WaitingRoomMsg::Prune
            });
        }
        if let Some(opens_at) = draw_at {
            self.set_draw_timer(&myself, opens_at, now);
        }
        let _ = myself.cast(WaitingRoomMsg::Admit);
        Ok(WaitingRoomState {
            joining: HashMap::new(),
            unwritten: Vec::new(),
            token_writes: 0,
            to_answer: Vec::new(),
            admit_queued: true,
            admit_timer_at: None,
            draw_pending: false,
            metrics,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let now = self.clock.now();
        match message {
            WaitingRoomMsg::Poll { token, reply } => {
                let ended = self.end_if_over(&myself, state, token, now).await;
                reply.send(ended.map(|()| self.room().read().poll(token, now)));
            }
            WaitingRoomMsg::Join { user_id, reply } => {
                let live = self.room().read().live_token_of(&user_id);
                match live {
                    Some(token) => match self.end_if_over(&myself, state, token, now).await {
                        Ok(()) => self.join(&myself, state, user_id, reply),
                        Err(error) => reply.send(Err(error)),
                    },
                    None => match self.refusal_of_new_joins(now) {
                        Some(refusal) => reply.send(Err(refusal)),
                        None => self.join(&myself, state, user_id, reply),
                    },
                }
            }
            WaitingRoomMsg::Stored(outcomes) => {
                state.token_writes -= 1;
                for (token, result) in outcomes {
                    self.stored(&myself, state, token, result, now);
                }
                if state.draw_pending && state.token_writes == 0 {
                    self.draw(&myself, state).await;
                }
                self.write_tokens(&myself, state);
            }
            WaitingRoomMsg::Open => self.draw(&myself, state).await,
            WaitingRoomMsg::Schedule { schedule, reply } => {
                reply.send(self.schedule(&myself, schedule).await);
            }
            WaitingRoomMsg::Pause { reply } => {
                reply.send(self.set_paused(&myself, state, true).await);
            }
            WaitingRoomMsg::Resume { reply } => {
                reply.send(self.set_paused(&myself, state, false).await);
            }
            WaitingRoomMsg::Rerate {
                max_active,
                admission_rate,
                reply,
            } => {
                let rerated = self.rerate(&myself, state, max_active, admission_rate);
                reply.send(rerated.await);
            }
            WaitingRoomMsg::Status { reply } => reply.send(Ok(self.status())),
            WaitingRoomMsg::Identify { token, reply } => {
                let ended = self.end_if_over(&myself, state, token, now).await;
                reply.send(ended.map(|()| self.room().read().identify(token)));
            }
            WaitingRoomMsg::EndAdmission { token, reply } => {
                let answer = self.end_admission(&myself, state, token).await;
                if answer.is_err() {
                    myself.send_after(RETRY_AFTER, move || WaitingRoomMsg::RetryEnd(token));
                }
                reply.send(answer);
            }
            WaitingRoomMsg::RetryEnd(token) => {
                if self.end_admission(&myself, state, token).await.is_err() {
                    myself.send_after(RETRY_AFTER, move || WaitingRoomMsg::RetryEnd(token));
                }
            }
            WaitingRoomMsg::Stats { reply } => {
                let room = self.room().read();
                reply.send(Ok((room.waiting(), room.admitted())));
            }
            WaitingRoomMsg::AdmissionTimer(token) => {
                let over = self.room().read().admission_is_over(token, now);
                if over && self.end_admission(&myself, state, token).await.is_err() {
                    myself.send_after(RETRY_AFTER, move || WaitingRoomMsg::AdmissionTimer(token));
                }
            }
            WaitingRoomMsg::Sweep => {
                self.sweep(now).await;
                self.end_idle_admissions(&myself, state, now).await;
            }
            WaitingRoomMsg::Prune => self.prune(&myself, now).await,
            WaitingRoomMsg::Admit => {
                state.admit_queued = false;
                if state.admit_timer_at.is_some_and(|at| at <= now) {
                    state.admit_timer_at = None;
                }
                self.admit_ready(&myself, state).await;
            }
            WaitingRoomMsg::Republish => self.room().write().want_whole_picture(),
            #[cfg(feature = "testkit")]
            WaitingRoomMsg::Crash { reply } => {
                let _unanswered = reply;
                panic!("test-only fault injected into the waiting room")
            }
        }
        self.send_line_changes();
        // One read of counts the room keeps anyway: cheap next to the message itself.
        let room = self.room().read();
        state
            .metrics
            .observe(room.waiting(), room.admitted(), room.totals());
        Ok(())
    }
}

impl WaitingRoom {
    /// Hands the line's changes made by this message to the sink, if there is one. A
    /// batch the sink cannot take is lost, and the next is a whole picture, made only
    /// once the sink has room (so a stalled publisher costs the actor nothing).
    fn send_line_changes(&self) {
        let Some(sink) = &self.line_sink else {
            return;
        };
        if !sink.has_room() {
            self.room().write().want_whole_picture();
            return;
        }
        let changes = self.room().write().take_changes();
        if !changes.is_empty() && !sink.offer(LineBatch { room: self.room, changes }) {
            self.room().write().want_whole_picture();
        }
    }

    async fn end_admission(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        token: QueueToken,
    ) -> EngineResult<()> {
        if !self.room().read().is_admitted(token) {
            return Ok(());
        }
        self.store
            .end_tokens(self.room, &[token], TokenState::Expired, self.clock.now_utc())
            .await?;
        self.room().write().end_admission(token);
        self.published.withdraw_admission(token);
        self.published.moved();
        self.admit_ready(myself, state).await;
        Ok(())
    }

    /// Before the actor answers about a token (a poll, a check, a join of its user):
    /// if its admission is over (its TTL passed, or it was idle too long), the end is
    /// written first, so the token is told it expired only once that is stored, and
    /// the next in line is admitted. An error (the end not stored) is the answer.
    async fn end_if_over(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        token: QueueToken,
        now: Instant,
    ) -> EngineResult<()> {
        let over = self.room().read().admission_is_over(token, now)
            || self.published.admission_is_over(token, now);
        if over {
            self.end_admission(myself, state, token).await?;
        }
        Ok(())
    }

    /// Admits as many waiters as fit, in one store write, then answers the joins
    /// that were waiting to learn whether they got in.
    pub(super) async fn admit_ready(&self, myself: &ActorRef<WaitingRoomMsg>, state: &mut WaitingRoomState) {
        let now = self.clock.now();
        let candidates = self.room().read().admission_candidates(now);
        if !candidates.is_empty() {
            match self
                .store
                .admit_tokens(self.room, &candidates, self.clock.utc_at(now))
                .await
            {
                Ok(()) => {
                    let mut room = self.room().write();
                    room.admit(&candidates, now);
                    let until = now + self.config.active_ttl;
                    let idle = self.config.admitted_idle;
                    for token in &candidates {
                        if let Some(identity) = room.identify(*token) {
                            self.published.publish_admission(
                                *token,
                                identity.user_id,
                                until,
                                now,
                                idle,
                            );
                        }
                    }
                    drop(room);
                    self.published.moved();
                    let ttl = self.config.active_ttl;
                    for token in candidates {
                        myself.send_after(ttl, move || WaitingRoomMsg::AdmissionTimer(token));
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "admission not stored; retrying");
                    myself.send_after(RETRY_AFTER, || WaitingRoomMsg::Admit);
                }
            }
        }
        self.wake_when_rate_cap_reopens(myself, state, now);
        for token in std::mem::take(&mut state.to_answer) {
            self.answer(state, token, now);
        }
    }

    /// Sets one timer for when the rate cap lets the next waiter in, if it is what
    /// holds them back (one timer, however many joins run into the cap).
    fn wake_when_rate_cap_reopens(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        now: Instant,
    ) {
        let Some(at) = self.room().read().rate_cap_reopens_at() else {
            return;
        };
        if state.admit_timer_at.is_some_and(|set| set <= at) {
            return;
        }
        state.admit_timer_at = Some(at);
        myself.send_after(at.saturating_duration_since(now), || WaitingRoomMsg::Admit);
    }

    /// The room this actor owns, published.
    pub(super) fn room(&self) -> &PublishedRoom {
        &self.published
    }
}
