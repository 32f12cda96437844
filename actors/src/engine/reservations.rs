//! Holds, releases and payments: the calls that need an admitted token.
//!
//! A hold's path: [`Engine::hold`] parses the ids, refuses a seat the session's board
//! shows taken, and sends `SessionMsg::Hold` to the session's actor, which checks the
//! seat and the caller's limit, writes the hold through group commit and replies.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Admitted, Caller, Engine, HoldReceipt};
use crate::domain::{
    IdempotencyKey, PaymentId, Points, QueueToken, ReservationId, SeatNumber, SessionId,
};
use crate::error::{EngineError, EngineResult};
use crate::metrics;
use crate::session::SessionMsg;
use crate::store::{PaymentRow, ReservationRow, ReservationStatus};
use crate::waiting_room::WaitingRoomMsg;

/// A committed payment: what the payer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReceipt {
    /// The payment.
    pub payment_id: PaymentId,
    /// The reservation it paid.
    pub reservation_id: ReservationId,
    /// The session of the seat.
    pub session_id: SessionId,
    /// The date of that session.
    pub date: NaiveDate,
    /// The seat sold.
    pub seat_number: SeatNumber,
    /// The amount debited.
    pub amount: Points,
    /// The payer's balance right after the debit.
    pub balance_after: Points,
    /// When.
    pub paid_at: DateTime<Utc>,
}

impl From<PaymentRow> for PaymentReceipt {
    fn from(row: PaymentRow) -> Self {
        Self {
            payment_id: row.id,
            reservation_id: row.reservation_id,
            session_id: row.session_id,
            date: row.date,
            seat_number: row.seat_number,
            amount: row.amount,
            balance_after: row.balance_after,
            paid_at: row.paid_at,
        }
    }
}

/// Who pays. Without an idempotency key only an admitted caller may; with one, any
/// known caller is first answered its payment with that key, if it made one (its
/// admission may have ended with it), and must be admitted to pay anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payer {
    /// No key: an admitted caller.
    Admitted(Admitted),
    /// A caller, whatever its status, and its key.
    WithKey(Caller, IdempotencyKey),
}

impl Payer {
    /// The payer of a request: with a key, any caller; without, an admitted one
    /// (401 or 403 otherwise, judged here, before the request's body).
    pub fn new(caller: Caller, key: Option<IdempotencyKey>) -> EngineResult<Payer> {
        match key {
            Some(key) => Ok(Payer::WithKey(caller, key)),
            None => Ok(Payer::Admitted(caller.admitted()?)),
        }
    }

    fn caller(&self) -> &Caller {
        match self {
            Payer::Admitted(admitted) => admitted,
            Payer::WithKey(caller, _) => caller,
        }
    }
}

impl From<Admitted> for Payer {
    fn from(admitted: Admitted) -> Self {
        Payer::Admitted(admitted)
    }
}

impl Engine {
    /// Holds a seat for the caller, in the contract's order of checks (the token's
    /// came first, in making the [`Admitted`]): session (any integer: one that names
    /// no session is "no such session"), seat number (likewise "no such seat"), seat
    /// free, the caller's hold limit.
    pub async fn hold(
        &self,
        caller: &Admitted,
        session: i64,
        seat: i64,
    ) -> EngineResult<HoldReceipt> {
        let held = self.try_hold(caller, session, seat).await;
        metrics::hold(&held);
        held
    }

    async fn try_hold(
        &self,
        caller: &Admitted,
        session: i64,
        seat: i64,
    ) -> EngineResult<HoldReceipt> {
        let session = SessionId::parse(session).map_err(|_| EngineError::SessionNotFound)?;
        let mailbox = self.session(session)?;
        self.check_room(caller, session)?;
        let seat = SeatNumber::parse(seat).map_err(|_| EngineError::SeatNotFound)?;
        // The herd storming a sold-out session: a seat its actor has published as
        // taken now is refused without waiting in its mailbox (the actor decides the rest).
        if let Some(entry) = self.inner.catalog.session(session)
            && entry.board.is_taken(seat, self.inner.clock.now_utc()) == Some(true)
        {
            return Err(EngineError::SeatAlreadyReserved);
        }
        let user_id = caller.user_id.clone();
        mailbox
            .ask(
                |reply| SessionMsg::Hold {
                    user_id,
                    seat,
                    reply,
                },
                self.inner.config.call_timeout,
            )
            .await
    }

    /// Gives up one of the caller's holds.
    pub async fn release(&self, caller: &Admitted, reservation: ReservationId) -> EngineResult<()> {
        let row = self.own_reservation(caller, reservation).await?;
        self.check_room(caller, row.session_id)?;
        let user_id = caller.user_id.clone();
        self.session(row.session_id)?
            .ask(
                |reply| SessionMsg::Release {
                    user_id,
                    reservation_id: reservation,
                    reply,
                },
                self.inner.config.call_timeout,
            )
            .await
    }

    /// Pays one of the caller's holds: debit, payment and sale in one transaction,
    /// then (by default) the end of the caller's admission. A retry with the same
    /// idempotency key answers the first payment again. A reservation id that names
    /// no reservation (any integer) is "no such reservation", after the token.
    pub async fn pay(&self, payer: &Payer, reservation: i64) -> EngineResult<PaymentReceipt> {
        let paid = self.try_pay(payer, reservation).await;
        metrics::payment(&paid);
        paid
    }

    async fn try_pay(&self, payer: &Payer, reservation: i64) -> EngineResult<PaymentReceipt> {
        let caller = payer.caller();
        let key = match payer {
            Payer::WithKey(_, key) => Some(key),
            Payer::Admitted(_) => None,
        };
        let Ok(reservation) = ReservationId::parse(reservation) else {
            caller.check_admitted()?;
            return Err(EngineError::ReservationNotFound);
        };
        if let Some(key) = key {
            if let Some(first) = self.replay(caller, reservation, key).await? {
                // A retry after a crash or a lost answer: the first attempt may not have
                // got as far as ending the admission. Ending it twice is harmless. Only
                // the token that paid: a retry may come with the user's fresh token
                // (the paying one ended), whose admission is a new one.
                if let Ok(first) = &first
                    && let Some(token) = first.paid_with_token
                {
                    self.end_admission_after_payment(token).await;
                }
                return first.map(PaymentReceipt::from);
            }
            caller.check_admitted()?;
        }
        let row = self.own_reservation(caller, reservation).await?;
        self.check_room(caller, row.session_id)?;
        match row.status {
            ReservationStatus::Held => {}
            // Paid since the key was looked up: by a request with the same key, maybe.
            ReservationStatus::Paid => return self.paid_meanwhile(caller, reservation, key).await,
            ReservationStatus::Expired | ReservationStatus::Released => {
                return Err(EngineError::ReservationExpired);
            }
        }
        let wallet = self.wallet(&caller.user_id).await?;
        let user_id = caller.user_id.clone();
        let idempotency_key = key.cloned();
        let token = caller.token;
        let paid = self
            .session(row.session_id)?
            .ask(
                |reply| SessionMsg::Pay {
                    user_id,
                    reservation_id: reservation,
                    idempotency_key,
                    token,
                    wallet,
                    reply,
                },
                // The session waits for the wallet within its own timeout; give it room.
                self.longest_call(),
            )
            .await;
        let paid = match paid {
            Err(EngineError::AlreadyPaid) => self.paid_meanwhile(caller, reservation, key).await,
            paid => paid.map(PaymentReceipt::from),
        }?;
        self.end_admission_after_payment(caller.token).await;
        Ok(paid)
    }

    /// The answer when the reservation turns out paid by a racing request: that
    /// payment again if it was made with the caller's key, else 409.
    async fn paid_meanwhile(
        &self,
        caller: &Caller,
        reservation: ReservationId,
        key: Option<&IdempotencyKey>,
    ) -> EngineResult<PaymentReceipt> {
        let Some(key) = key else {
            return Err(EngineError::AlreadyPaid);
        };
        match self.replay(caller, reservation, key).await? {
            Some(first) => first.map(PaymentReceipt::from),
            None => Err(EngineError::AlreadyPaid),
        }
    }

    /// The payment made with this key by this user: `Some(Ok)` if it paid this
    /// reservation, `Some(Err)` if another, `None` if the key is unused.
    async fn replay(
        &self,
        caller: &Caller,
        reservation: ReservationId,
        key: &IdempotencyKey,
    ) -> EngineResult<Option<EngineResult<PaymentRow>>> {
        let first = self
            .inner
            .store
            .payment_by_key(&caller.user_id, key)
            .await?;
        Ok(first.map(|payment| {
            if payment.reservation_id == reservation {
                Ok(payment)
            } else {
                Err(EngineError::IdempotencyKeyReused)
            }
        }))
    }

    async fn own_reservation(
        &self,
        caller: &Caller,
        reservation: ReservationId,
    ) -> EngineResult<ReservationRow> {
        self.inner
            .store
            .reservation(reservation)
            .await?
            .filter(|row| row.user_id == caller.user_id)
            .ok_or(EngineError::ReservationNotFound)
    }

    /// A concert with a room of its own is acted on only with that room's tokens, one
    /// without only with the site-wide room's: 403 otherwise.
    fn check_room(&self, caller: &Caller, session: SessionId) -> EngineResult<()> {
        let Some(entry) = self.inner.catalog.session(session) else {
            return Err(EngineError::SessionNotFound);
        };
        if self.inner.rooms.serving(entry.row.concert_id) == caller.room {
            Ok(())
        } else {
            Err(EngineError::WrongRoom)
        }
    }

    /// Ends the payer's admission, if the configuration says a payment does.
    async fn end_admission_after_payment(&self, token: QueueToken) {
        if !self.inner.config.expire_token_on_payment {
            return;
        }
        // The room that admitted the token (none if its admission is over already).
        let Some(room) = self.inner.rooms.find(None, |room, published| {
            published.holds(token).then_some(room)
        }) else {
            return;
        };
        let ended = match self.waiting_room(room) {
            Ok(room) => {
                room.ask(
                    |reply| WaitingRoomMsg::EndAdmission { token, reply },
                    self.inner.config.call_timeout,
                )
                .await
            }
            Err(error) => Err(error),
        };
        // The payment is committed: its answer stands. The admission ends by its TTL.
        if let Err(error) = ended {
            tracing::warn!(%error, "admission not ended after payment");
        }
    }
}
