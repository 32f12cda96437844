//! The forwarding base of store decorators.
//!
//! A decorator wraps a store and changes some of its calls: [`GroupCommit`]
//! queues single writes, the tests' fault injectors delay or fail some. It
//! implements [`Decorator`] rather than [`Store`]: it names the store it wraps,
//! overrides only the calls it changes, and every other call goes to that store
//! unchanged. Above all `apply_batch`: a decorator that does not mention it passes
//! batches on as batches, so group commit below it keeps its one transaction.
//!
//! Every typed write ([`Store::insert_hold`], …) reaches a decorator as
//! [`Decorator::apply`]; a decorator that wants to see a kind of write matches
//! its [`WriteOp`] there and in [`Decorator::apply_batch`].
//!
//! Both traits name their methods alike, so implement `Decorator` where the
//! decorator's `Store` methods are not called (a module of its own): with both in
//! scope, `decorator.balance(..)` would not know which one it means.
//!
//! [`GroupCommit`]: super::group_commit::GroupCommit

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    BatchResult, Catalog, ChargeKey, ConcertRow, KeyedChargeRow, Limits, NewSession, PaymentRow, ReservationRow, RoomRow, SessionRow, Store,
    StoreError, TokenRow, WriteOp, WriteOutcome,
};
use crate::domain::{
    ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId, RoomId, SessionId, UserId,
};

/// A [`Store`] that wraps another: each method defaults to the wrapped store's.
/// Every `Decorator` is a `Store`.
#[async_trait]
pub trait Decorator: Send + Sync + 'static {
    /// The store this one wraps.
    fn inner(&self) -> &dyn Store;

    /// Whether a write may go on now: every write method below asks it first, so a
    /// decorator that refuses writes (the node lock's gate) says so once, here, and
    /// reads pass. An override of a write method asks it itself, if it should.
    fn may_write(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// [`Store::ping`].
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner().ping().await
    }

    /// [`Store::apply`]: every single write.
    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        self.may_write()?;
        self.inner().apply(op).await
    }

    /// [`Store::apply_batch`].
    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        self.may_write()?;
        self.inner().apply_batch(ops).await
    }

    /// [`Store::create_concert`].
    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError> {
        self.may_write()?;
        self.inner().create_concert(title).await
    }

    /// [`Store::create_session`].
    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError> {
        self.may_write()?;
        self.inner().create_session(session).await
    }

    /// [`Store::catalog`].
    async fn catalog(&self) -> Result<Catalog, StoreError> {
        self.inner().catalog().await
    }

    /// [`Store::record_limits`].
    async fn record_limits(
        &self,
        limits: &Limits,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.may_write()?;
        self.inner().record_limits(limits, started_at).await
    }

    /// [`Store::live_reservations`].
    async fn live_reservations(&self, id: SessionId) -> Result<Vec<ReservationRow>, StoreError> {
        self.inner().live_reservations(id).await
    }

    /// [`Store::reservation`].
    async fn reservation(&self, id: ReservationId) -> Result<Option<ReservationRow>, StoreError> {
        self.inner().reservation(id).await
    }

    /// [`Store::balance`].
    async fn balance(&self, user: &UserId) -> Result<Points, StoreError> {
        self.inner().balance(user).await
    }

    /// [`Store::payment_by_key`].
    async fn payment_by_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<PaymentRow>, StoreError> {
        self.inner().payment_by_key(user, key).await
    }

    /// [`Store::charge_by_key`].
    async fn charge_by_key(
        &self,
        user: &UserId,
        key: &ChargeKey,
    ) -> Result<Option<KeyedChargeRow>, StoreError> {
        self.inner().charge_by_key(user, key).await
    }

    /// [`Store::payment_for_reservation`].
    async fn payment_for_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Option<PaymentRow>, StoreError> {
        self.inner().payment_for_reservation(id).await
    }

    /// [`Store::live_tokens`].
    async fn live_tokens(&self, room: RoomId) -> Result<Vec<TokenRow>, StoreError> {
        self.inner().live_tokens(room).await
    }

    /// [`Store::token`].
    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError> {
        self.inner().token(token).await
    }

    /// [`Store::max_token_seq`].
    async fn max_token_seq(&self, room: RoomId) -> Result<i64, StoreError> {
        self.inner().max_token_seq(room).await
    }

    /// [`Store::rooms`].
    async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        self.inner().rooms().await
    }

    /// [`Store::room`].
    async fn room(&self, room: RoomId) -> Result<Option<RoomRow>, StoreError> {
        self.inner().room(room).await
    }

    /// [`Store::save_room`]: its own transaction, never batched (a room's settings
    /// change rarely, and the operator waits for the answer).
    async fn save_room(&self, row: &RoomRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.may_write()?;
        self.inner().save_room(row, at).await
    }

    /// [`Store::draw_room`]: its own transaction, never batched.
    async fn draw_room(
        &self,
        room: RoomId,
        drawn: &[(QueueToken, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.may_write()?;
        self.inner().draw_room(room, drawn, at).await
    }
}

/// Each call goes to the decorator's own method: its override, or the default
/// above, which forwards.
#[async_trait]
impl<D: Decorator> Store for D {
    fn backend(&self) -> &'static str {
        self.inner().backend()
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Decorator::ping(self).await
    }
    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        Decorator::apply(self, op).await
    }
    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        Decorator::apply_batch(self, ops).await
    }
    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError> {
        Decorator::create_concert(self, title).await
    }
    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError> {
        Decorator::create_session(self, session).await
    }
    async fn catalog(&self) -> Result<Catalog, StoreError> {
        Decorator::catalog(self).await
    }
    async fn record_limits(
        &self,
        limits: &Limits,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Decorator::record_limits(self, limits, started_at).await
    }
    async fn live_reservations(&self, id: SessionId) -> Result<Vec<ReservationRow>, StoreError> {
        Decorator::live_reservations(self, id).await
    }
    async fn reservation(&self, id: ReservationId) -> Result<Option<ReservationRow>, StoreError> {
        Decorator::reservation(self, id).await
    }
    async fn balance(&self, user: &UserId) -> Result<Points, StoreError> {
        Decorator::balance(self, user).await
    }
    async fn payment_by_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<PaymentRow>, StoreError> {
        Decorator::payment_by_key(self, user, key).await
    }
    async fn charge_by_key(
        &self,
        user: &UserId,
        key: &ChargeKey,
    ) -> Result<Option<KeyedChargeRow>, StoreError> {
        Decorator::charge_by_key(self, user, key).await
    }
    async fn payment_for_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Option<PaymentRow>, StoreError> {
        Decorator::payment_for_reservation(self, id).await
    }
    async fn live_tokens(&self, room: RoomId) -> Result<Vec<TokenRow>, StoreError> {
        Decorator::live_tokens(self, room).await
    }
    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError> {
        Decorator::token(self, token).await
    }
    async fn max_token_seq(&self, room: RoomId) -> Result<i64, StoreError> {
        Decorator::max_token_seq(self, room).await
    }
    async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        Decorator::rooms(self).await
    }
    async fn room(&self, room: RoomId) -> Result<Option<RoomRow>, StoreError> {
        Decorator::room(self, room).await
    }
    async fn save_room(&self, row: &RoomRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        Decorator::save_room(self, row, at).await
    }
    async fn draw_room(
        &self,
        room: RoomId,
        drawn: &[(QueueToken, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Decorator::draw_room(self, room, drawn, at).await
    }
}
