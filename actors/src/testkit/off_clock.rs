//! Database work that takes no test time.
//!
//! [`run`] executes a future on the kit's real-time database runtime from inside
//! `spawn_blocking`. While a blocking task runs, a paused tokio clock does not
//! auto-advance, so a test's timers cannot fire while it waits on the database,
//! and the pool's own timers (acquire timeout, reaper) run on real time.
//! [`OffClockStore`] wraps a store so that every call goes through [`run`].

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::db_runtime;
use crate::domain::{
    ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId, RoomId, SessionId, UserId,
};
use crate::store::{
    BatchResult, Catalog, ChargeKey, ConcertRow, KeyedChargeRow, Limits, NewSession, PaymentRow,
    ReservationRow, RoomRow, SessionRow, Store, StoreError, TokenRow, WriteOp, WriteOutcome,
};

/// Runs the future `make` builds on the database runtime, holding a paused clock still.
pub(super) async fn run<T, F, Fut>(make: F) -> T
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(move || db_runtime().block_on(make())).await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("testkit: a database call was cancelled: {e}"),
        },
    }
}

/// A store whose every call runs through [`run`].
pub(super) struct OffClockStore {
    inner: Arc<dyn Store>,
}

impl OffClockStore {
    pub(super) fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }

    async fn call<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce(Arc<dyn Store>) -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        run(move || f(inner)).await
    }
}

// Not a `Decorator`: this changes every call, so it implements `Store` itself, and a
// method added to `Store` must be taken off the clock here too (the compiler says so).
#[async_trait]
impl Store for OffClockStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        self.call(move |s| async move { s.apply(op).await }).await
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        let ops = ops.to_vec();
        self.call(move |s| async move { s.apply_batch(&ops).await })
            .await
    }

    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError> {
        let title = title.clone();
        self.call(move |s| async move { s.create_concert(&title).await })
            .await
    }

    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError> {
        let session = session.clone();
        self.call(move |s| async move { s.create_session(&session).await })
            .await
    }

    async fn catalog(&self) -> Result<Catalog, StoreError> {
        self.call(|s| async move { s.catalog().await }).await
    }

    async fn record_limits(
        &self,
        limits: &Limits,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let limits = *limits;
        self.call(move |s| async move { s.record_limits(&limits, started_at).await })
            .await
    }

    async fn live_reservations(&self, id: SessionId) -> Result<Vec<ReservationRow>, StoreError> {
        self.call(move |s| async move { s.live_reservations(id).await })
            .await
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<ReservationRow>, StoreError> {
        self.call(move |s| async move { s.reservation(id).await })
            .await
    }

    async fn balance(&self, user: &UserId) -> Result<Points, StoreError> {
        let user = user.clone();
        self.call(move |s| async move { s.balance(&user).await })
            .await
    }

    async fn payment_by_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let (user, key) = (user.clone(), key.clone());
        self.call(move |s| async move { s.payment_by_key(&user, &key).await })
            .await
    }

    async fn charge_by_key(
        &self,
        user: &UserId,
        key: &ChargeKey,
    ) -> Result<Option<KeyedChargeRow>, StoreError> {
        let (user, key) = (user.clone(), key.clone());
        self.call(move |s| async move { s.charge_by_key(&user, &key).await })
            .await
    }

    async fn payment_for_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Option<PaymentRow>, StoreError> {
        self.call(move |s| async move { s.payment_for_reservation(id).await })
            .await
    }

    async fn live_tokens(&self, room: RoomId) -> Result<Vec<TokenRow>, StoreError> {
        self.call(move |s| async move { s.live_tokens(room).await })
            .await
    }

    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError> {
        self.call(move |s| async move { s.token(token).await })
            .await
    }

    async fn max_token_seq(&self, room: RoomId) -> Result<i64, StoreError> {
        self.call(move |s| async move { s.max_token_seq(room).await })
            .await
    }

    async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        self.call(|s| async move { s.rooms().await }).await
    }

    async fn room(&self, room: RoomId) -> Result<Option<RoomRow>, StoreError> {
        self.call(move |s| async move { s.room(room).await }).await
    }

    async fn save_room(&self, row: &RoomRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        let row = row.clone();
        self.call(move |s| async move { s.save_room(&row, at).await })
            .await
    }

    async fn draw_room(
        &self,
        room: RoomId,
        drawn: &[(QueueToken, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let drawn = drawn.to_vec();
        self.call(move |s| async move { s.draw_room(room, &drawn, at).await })
            .await
    }
}
