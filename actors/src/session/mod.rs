//! The SessionActor: one per concert session, the only writer of its seat map.
//!
//! Holds on one session are decided one message at a time, so two people can
//! never both win a seat, and no lock is needed. Each change is written to the
//! store before the reply (write-through); the store's unique index is the second
//! line of defence. A hold expires by this actor's own timer at its exact TTL,
//! not by a periodic sweep (one timer per session: `expiry.rs`). A payment runs
//! inside the handling of its `Pay` message, so the hold's expiry (a later
//! message) cannot overtake it.
//!
//! Why one file of ~500 lines: the message enum, `pre_start` and the one `handle`
//! match are the actor's whole protocol and are read together; the rules live in the
//! pure [`seat_map`] and what the actor publishes in [`board`].

pub mod board;
mod expiry;
pub mod seat_map;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use ractor::{Actor, ActorProcessingErr, ActorRef};

use crate::clock::Clock;
use crate::domain::{
    IdempotencyKey, Points, QueueToken, ReservationId, SeatNumber, SessionId, UserId,
};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::{Mailbox, Reply};
use crate::store::{
    NewHold, NewPayment, PaymentRow, ReservationStatus, SessionRow, Store, StoreError,
};
use crate::wallet::WalletMsg;
use board::SeatBoard;
use expiry::Expiries;
use seat_map::SeatMap;

/// How long to wait before retrying an expiry whose write failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The rules of holding.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    /// How long an unpaid hold lasts.
    pub hold_ttl: Duration,
    /// Live holds one user may have in one session.
    pub max_holds_per_user: u32,
    /// How long a payment waits for the wallet.
    pub wallet_timeout: Duration,
}

/// What a SessionActor is started (and restarted) with.
#[derive(Debug, Clone)]
pub struct SessionArgs {
    /// The session.
    pub session: SessionRow,
    /// Where the actor publishes its seats, for readers that must not wait for it.
    pub board: Arc<SeatBoard>,
}

/// A committed hold, as the client is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldReceipt {
    /// The new reservation.
    pub reservation_id: ReservationId,
    /// Its session.
    pub session_id: SessionId,
    /// The seat.
    pub seat_number: SeatNumber,
    /// What paying will cost.
    pub price: Points,
    /// When the hold ends unless paid.
    pub expires_at: DateTime<Utc>,
}

/// A session's seats, as the seat list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatsView {
    /// The session.
    pub session_id: SessionId,
    /// Its date.
    pub date: NaiveDate,
    /// For each seat from 1: held or sold.
    pub taken: Vec<bool>,
}

/// The messages a SessionActor handles.
#[derive(Debug)]
pub enum SessionMsg {
    /// Hold a seat for a user.
    Hold {
        /// Who.
        user_id: UserId,
        /// Which seat.
        seat: SeatNumber,
        /// The receipt, or why not.
        reply: Reply<HoldReceipt>,
    },
    /// Give a hold up.
    Release {
        /// Who asks (must be the holder).
        user_id: UserId,
        /// The hold.
        reservation_id: ReservationId,
        /// Ok once the release is stored.
        reply: Reply<()>,
    },
    /// Pay a hold through the user's wallet.
    Pay {
        /// The payer (must be the holder).
        user_id: UserId,
        /// The hold.
        reservation_id: ReservationId,
        /// The client's retry key, if any.
        idempotency_key: Option<IdempotencyKey>,
        /// The payer's token: recorded with the payment, whose replay ends its admission.
        token: QueueToken,
        /// The payer's wallet.
        wallet: Mailbox<WalletMsg>,
        /// The committed payment, or why not.
        reply: Reply<PaymentRow>,
    },
    /// The seat list.
    Seats {
        /// The seats.
        reply: Reply<SeatsView>,
    },
    /// Timer, armed for this instant: the earliest hold deadline may have passed.
    ExpireDue(tokio::time::Instant),
    /// Test-only fault injection: the actor panics while handling this message,
    /// dropping `reply` as a crash drops the reply of whatever request it was handling.
    #[cfg(feature = "testkit")]
    Crash {
        /// Never answered.
        reply: Reply<()>,
    },
}

/// The SessionActor (its state is a [`SeatMap`]).
pub struct SessionActor {
    /// Where holds, expiries and (through the wallet) sales are written.
    pub store: Arc<dyn Store>,
    /// Time source shared with the rest of the engine.
    pub clock: Clock,
    /// Hold rules.
    pub config: HoldConfig,
}

/// The actor's state: the seat map and where it is published.
pub struct SessionState {
    seats: SeatMap,
    /// The holds' deadlines and the one timer armed for them.
    expiries: Expiries,
    board: Arc<SeatBoard>,
    /// To publish deadlines on the board in UTC, as `Engine::hold` reads them.
    clock: Clock,
    /// A write failed with an unknown outcome (the store may have committed it):
    /// the map is rebuilt from the store before it is trusted again.
    needs_resync: bool,
}

impl SessionState {
    /// Called right after every change to the map, before anything else is answered
    /// (see [`board`]: a refusal read from the board must never be news to anyone).
    fn publish(&mut self) {
        self.board.publish(&mut self.seats, &self.clock);
        #[cfg(debug_assertions)]
        self.seats.assert_consistent();
    }
}

impl Actor for SessionActor {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (seats, expiries) = self.load(&myself, args.session).await?;
        let mut state = SessionState {
            seats,
            expiries,
            board: args.board,
            clock: self.clock,
            needs_resync: false,
        };
        state.publish();
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.needs_resync && !self.resync(&myself, state).await {
            // The store is still out of reach: refuse what needs the map, retry timers.
            match message {
                SessionMsg::Hold { reply, .. } => reply.send(Err(EngineError::StorageUnavailable)),
                SessionMsg::Release { reply, .. } => {
                    reply.send(Err(EngineError::StorageUnavailable))
                }
                SessionMsg::Pay { reply, .. } => reply.send(Err(EngineError::StorageUnavailable)),
                SessionMsg::Seats { reply } => reply.send(Err(EngineError::StorageUnavailable)),
                SessionMsg::ExpireDue(at) => {
                    state.expiries.fired(at);
                    let retry_at = self.clock.now() + RETRY_AFTER;
                    self.arm(&myself, state.expiries.timer_at(retry_at));
                }
                #[cfg(feature = "testkit")]
                SessionMsg::Crash { reply } => reply.send(Err(EngineError::StorageUnavailable)),
            }
            return Ok(());
        }
        match message {
            // A hold whose caller gave up (answered 503) would take a seat nobody knows of.
            SessionMsg::Hold { reply, .. } if reply.is_abandoned() => {}
            SessionMsg::Hold {
                user_id,
                seat,
                reply,
            } => reply.send(self.hold(&myself, state, user_id, seat).await),
            SessionMsg::Release {
                user_id,
                reservation_id,
                reply,
            } => reply.send(self.release(state, &user_id, reservation_id).await),
            SessionMsg::Pay {
                user_id,
                reservation_id,
                idempotency_key,
                token,
                wallet,
                reply,
            } => {
                let payment = NewPayment {
                    reservation_id,
                    user_id,
                    amount: state.seats.session().price,
                    idempotency_key,
                    paid_with_token: Some(token),
                    paid_at: self.clock.now_utc(),
                };
                let payment = self.pay(state, payment, wallet).await;
                reply.send(payment);
            }
            SessionMsg::Seats { reply } => reply.send(Ok(SeatsView {
                session_id: state.seats.session().id,
                date: state.seats.session().date,
                taken: state.seats.taken(),
            })),
            SessionMsg::ExpireDue(at) => self.expire_due(&myself, state, at).await,
            #[cfg(feature = "testkit")]
            SessionMsg::Crash { reply } => {
                let _unanswered = reply;
                panic!("test-only fault injected into a session actor")
            }
        }
        Ok(())
    }
}

impl SessionActor {
    /// The session's seat map as the store has it, and its holds' deadlines with the
    /// timer armed for the earliest (a timer armed before is spare, and harmless).
    async fn load(
        &self,
        myself: &ActorRef<SessionMsg>,
        session: SessionRow,
    ) -> Result<(SeatMap, Expiries), StoreError> {
        let live = self.store.live_reservations(session.id).await?;
        let clock = self.clock;
        let seats = SeatMap::restore(session, live, |row| clock.instant_at(row.expires_at));
        let mut expiries = Expiries::restore(seats.holds().map(|(id, hold)| (hold.deadline, id)));
        self.arm(myself, expiries.next_timer());
        Ok((seats, expiries))
    }

    /// Arms the session's timer, if [`Expiries`] asks for one.
    fn arm(&self, myself: &ActorRef<SessionMsg>, at: Option<tokio::time::Instant>) {
        if let Some(at) = at {
            let remaining = at.saturating_duration_since(self.clock.now());
            myself.send_after(remaining, move || SessionMsg::ExpireDue(at));
        }
    }

    /// The timer armed for `at` fired: expires every hold whose deadline has passed,
    /// then arms the timer for the next. If the store refuses a write, the rest wait
    /// for a retry.
    async fn expire_due(
        &self,
        myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
        at: tokio::time::Instant,
    ) {
        state.expiries.fired(at);
        let now = self.clock.now();
        while let Some(id) = state.expiries.pop_due(now) {
            if self.expire_if_overdue(state, id).await.is_err() {
                let retry = state.expiries.retry(id, now + RETRY_AFTER);
                self.arm(myself, retry);
                return;
            }
        }
        self.arm(myself, state.expiries.next_timer());
    }

    /// Rebuilds the map from the store after a write of unknown outcome; false if the
    /// store cannot be read yet.
    async fn resync(&self, myself: &ActorRef<SessionMsg>, state: &mut SessionState) -> bool {
        match self.load(myself, state.seats.session().clone()).await {
            Ok((seats, expiries)) => {
                tracing::info!(session = %seats.session().id, "seat map resynchronised with the store");
                state.seats = seats;
                state.expiries = expiries;
                state.needs_resync = false;
                state.publish();
                true
            }
            Err(error) => {
                tracing::warn!(%error, "seat map not resynchronised yet");
                false
            }
        }
    }

    async fn hold(
        &self,
        myself: &ActorRef<SessionMsg>,
        state: &mut SessionState,
        user_id: UserId,
        seat: SeatNumber,
    ) -> EngineResult<HoldReceipt> {
        let now = self.clock.now();
        // A hold is over at its deadline, even if its expiry message is still queued.
        for overdue in state.seats.overdue_in_the_way(seat, &user_id, now) {
            self.end_hold(state, overdue, ReservationStatus::Expired)
                .await?;
        }
        state
            .seats
            .check_hold(seat, &user_id, self.config.max_holds_per_user)?;
        let session = state.seats.session().clone();
        let deadline = now + self.config.hold_ttl;
        let hold = NewHold {
            session_id: session.id,
            seat_number: seat,
            user_id: user_id.clone(),
            price: session.price,
            held_at: self.clock.utc_at(now),
            expires_at: self.clock.utc_at(deadline),
        };
        let row = match self.store.insert_hold(&hold).await {
            Ok(row) => row,
            Err(error) => {
                tracing::warn!(%error, session = %session.id, %seat, "hold not stored");
                // Maybe it was: the connection may have broken after the commit.
                state.needs_resync |= matches!(error, StoreError::Unavailable(_));
                return Err(error.into());
            }
        };
        state.seats.hold(row.id, seat, user_id, deadline);
        state.publish();
        let timer = state.expiries.push(deadline, row.id);
        self.arm(myself, timer);
        Ok(HoldReceipt {
            reservation_id: row.id,
            session_id: session.id,
            seat_number: seat,
            price: row.price,
            expires_at: row.expires_at,
        })
    }

    async fn release(
        &self,
        state: &mut SessionState,
        user_id: &UserId,
        id: ReservationId,
    ) -> EngineResult<()> {
        match state.seats.get(id) {
            Some(hold) if hold.user_id == *user_id => {}
            _ => return Err(EngineError::ReservationNotFound),
        }
        if state.seats.is_overdue(id, self.clock.now()) {
            self.end_hold(state, id, ReservationStatus::Expired).await?;
            return Err(EngineError::ReservationExpired);
        }
        self.end_hold(state, id, ReservationStatus::Released).await
    }

    async fn pay(
        &self,
        state: &mut SessionState,
        payment: NewPayment,
        wallet: Mailbox<WalletMsg>,
    ) -> EngineResult<PaymentRow> {
        let id = payment.reservation_id;
        match state.seats.get(id) {
            Some(hold) if hold.user_id == payment.user_id => {}
            Some(_) => return Err(EngineError::ReservationNotFound),
            // Not live here: it was paid or ended since the engine looked it up.
            None => return Err(self.why_not_live(id).await),
        }
        if state.seats.is_overdue(id, self.clock.now()) {
            self.end_hold(state, id, ReservationStatus::Expired).await?;
            return Err(EngineError::ReservationExpired);
        }
        let paid = wallet
            .ask(
                |reply| WalletMsg::Pay { payment, reply },
                self.config.wallet_timeout,
            )
            .await;
        match paid {
            Ok(row) => {
                sell(state, id);
                Ok(row)
            }
            Err(EngineError::InsufficientBalance | EngineError::Overloaded) => paid,
            // The wallet failed or answered late, or the store refused: the payment
            // may or may not have committed. The store knows.
            Err(error) => match self.store.payment_for_reservation(id).await {
                Ok(Some(row)) => {
                    sell(state, id);
                    if error == EngineError::AlreadyPaid {
                        // An earlier attempt committed; this one did not.
                        Err(EngineError::AlreadyPaid)
                    } else {
                        tracing::warn!(%error, reservation = %id, "payment committed despite error");
                        Ok(row)
                    }
                }
                Ok(None) => Err(error),
                Err(_) => Err(EngineError::StorageUnavailable),
            },
        }
    }

    /// Why a reservation the engine saw held is no longer live here.
    async fn why_not_live(&self, id: ReservationId) -> EngineError {
        match self.store.reservation(id).await {
            Ok(Some(row)) if row.status == ReservationStatus::Paid => EngineError::AlreadyPaid,
            Ok(Some(_)) => EngineError::ReservationExpired,
            Ok(None) => EngineError::ReservationNotFound,
            Err(_) => EngineError::StorageUnavailable,
        }
    }

    async fn expire_if_overdue(
        &self,
        state: &mut SessionState,
        id: ReservationId,
    ) -> EngineResult<()> {
        if state.seats.is_overdue(id, self.clock.now()) {
            self.end_hold(state, id, ReservationStatus::Expired).await?;
        }
        Ok(())
    }

    /// Stores the end of a hold, then frees its seat. If the store says the hold
    /// was no longer `held`, the store is right: the map follows it.
    async fn end_hold(
        &self,
        state: &mut SessionState,
        id: ReservationId,
        status: ReservationStatus,
    ) -> EngineResult<()> {
        let ended = match self.store.end_hold(id, status, self.clock.now_utc()).await {
            Ok(ended) => ended,
            Err(error) => {
                state.needs_resync |= matches!(error, StoreError::Unavailable(_));
                return Err(error.into());
            }
        };
        if ended {
            state.seats.end_hold(id);
        } else {
            match self.store.reservation(id).await? {
                Some(row) if row.status == ReservationStatus::Paid => {
                    state.seats.sell(id);
                }
                _ => {
                    state.seats.end_hold(id);
                }
            }
        }
        state.publish();
        Ok(())
    }
}

/// Marks a paid hold sold, publishes the map, and counts the sale (here, where each
/// sale is decided once: a replayed payment never reaches this).
fn sell(state: &mut SessionState, id: ReservationId) {
    state.seats.sell(id);
    state.publish();
    crate::metrics::seat_sold();
}
