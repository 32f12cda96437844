//! A store decorator that injects the faults the engine must survive: payments
//! that take (test) time to commit, and batches that commit but whose reply is lost
//! (the connection broke after COMMIT), so the caller sees `Unavailable`. It also
//! counts token writes, so that tests can see how joins are batched, and can hold a
//! WaitingRoom's restore at its read of the live tokens.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// See the module docs. Every method forwards to `inner`, with the faults set.
pub struct FaultyStore {
    inner: Arc<dyn actors::store::Store>,
    payment_delay: Mutex<Duration>,
    charge_delay: Mutex<Duration>,
    token_delay: Mutex<Duration>,
    token_update_delay: Mutex<Duration>,
    token_update_started: tokio::sync::Notify,
    restores_held: tokio::sync::watch::Sender<bool>,
    restore_started: tokio::sync::Notify,
    token_writes: AtomicUsize,
    payment_started: tokio::sync::Notify,
    lost_replies: AtomicUsize,
}

impl FaultyStore {
    /// A decorator that injects nothing until told to.
    pub fn new(inner: Arc<dyn actors::store::Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            payment_delay: Mutex::new(Duration::ZERO),
            charge_delay: Mutex::new(Duration::ZERO),
            token_delay: Mutex::new(Duration::ZERO),
            token_update_delay: Mutex::new(Duration::ZERO),
            token_update_started: tokio::sync::Notify::new(),
            restores_held: tokio::sync::watch::Sender::new(false),
            restore_started: tokio::sync::Notify::new(),
            token_writes: AtomicUsize::new(0),
            payment_started: tokio::sync::Notify::new(),
            lost_replies: AtomicUsize::new(0),
        })
    }

    /// Every payment commit takes this long.
    pub fn set_payment_delay(&self, delay: Duration) {
        *self.payment_delay.lock().unwrap() = delay;
    }

    fn payment_delay(&self) -> Duration {
        *self.payment_delay.lock().unwrap()
    }

    /// Returns once a payment's commit has started (its caller now waits for it).
    pub async fn payment_started(&self) {
        self.payment_started.notified().await;
    }

    /// Every batch with a charge takes this long to commit.
    pub fn set_charge_delay(&self, delay: Duration) {
        *self.charge_delay.lock().unwrap() = delay;
    }

    fn charge_delay(&self) -> Duration {
        *self.charge_delay.lock().unwrap()
    }

    /// Every batch with new tokens takes this long to commit.
    pub fn set_token_delay(&self, delay: Duration) {
        *self.token_delay.lock().unwrap() = delay;
    }

    /// Every admission or end of tokens (evictions included) takes this long to commit.
    pub fn set_token_update_delay(&self, delay: Duration) {
        *self.token_update_delay.lock().unwrap() = delay;
    }

    /// Completes once an admission or end of tokens starts committing after this
    /// call (create it before causing the update, await it after).
    pub fn token_update_started(&self) -> tokio::sync::futures::Notified<'_> {
        self.token_update_started.notified()
    }

    async fn token_update(&self) {
        self.token_update_started.notify_waiters();
        let delay = *self.token_update_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
    }

    /// While held, a read of the live tokens (a WaitingRoom restoring its line)
    /// waits; releasing lets every waiting one go on.
    pub fn hold_restores(&self, held: bool) {
        self.restores_held.send_replace(held);
    }

    /// Completes once a read of the live tokens starts after this call.
    pub fn restore_started(&self) -> tokio::sync::futures::Notified<'_> {
        self.restore_started.notified()
    }

    async fn restore(&self) {
        self.restore_started.notify_waiters();
        let mut held = self.restores_held.subscribe();
        let _ = held.wait_for(|held| !held).await;
    }

    /// Token inserts applied so far (each may carry many rows).
    pub fn token_writes(&self) -> usize {
        self.token_writes.load(Ordering::SeqCst)
    }

    /// The next `n` batches commit, but their callers are told `Unavailable`.
    pub fn lose_replies(&self, n: usize) {
        self.lost_replies.store(n, Ordering::SeqCst);
    }

    fn take_lost_reply(&self) -> bool {
        self.lost_replies
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

mod forwarding {
    use super::FaultyStore;
    use actors::domain::*;
    use actors::store::*;
    use chrono::{DateTime, Utc};

    #[async_trait::async_trait]
    impl Store for FaultyStore {
        fn backend(&self) -> &'static str {
            self.inner.backend()
        }
        async fn create_concert(&self, t: &ConcertTitle) -> Result<ConcertRow, StoreError> {
            self.inner.create_concert(t).await
        }
        async fn create_session(&self, s: &NewSession) -> Result<SessionRow, StoreError> {
            self.inner.create_session(s).await
        }
        async fn catalog(&self) -> Result<Catalog, StoreError> {
            self.inner.catalog().await
        }
        async fn record_limits(&self, l: &Limits, at: DateTime<Utc>) -> Result<(), StoreError> {
            self.inner.record_limits(l, at).await
        }
        async fn live_reservations(&self, s: SessionId) -> Result<Vec<ReservationRow>, StoreError> {
            self.inner.live_reservations(s).await
        }
        async fn insert_hold(&self, h: &NewHold) -> Result<ReservationRow, StoreError> {
            self.inner.insert_hold(h).await
        }
        async fn end_hold(
            &self,
            id: ReservationId,
            s: ReservationStatus,
            at: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            self.inner.end_hold(id, s, at).await
        }
        async fn reservation(
            &self,
            id: ReservationId,
        ) -> Result<Option<ReservationRow>, StoreError> {
            self.inner.reservation(id).await
        }
        async fn balance(&self, u: &UserId) -> Result<Points, StoreError> {
            self.inner.balance(u).await
        }
        async fn charge(
            &self,
            u: &UserId,
            a: ChargeAmount,
            at: DateTime<Utc>,
        ) -> Result<Points, StoreError> {
            self.inner.charge(u, a, at).await
        }
        async fn commit_payment(&self, p: &NewPayment) -> Result<PaymentRow, StoreError> {
            tokio::time::sleep(self.payment_delay()).await;
            self.inner.commit_payment(p).await
        }
        async fn payment_by_key(
            &self,
            u: &UserId,
            k: &IdempotencyKey,
        ) -> Result<Option<PaymentRow>, StoreError> {
            self.inner.payment_by_key(u, k).await
        }
        async fn payment_for_reservation(
            &self,
            id: ReservationId,
        ) -> Result<Option<PaymentRow>, StoreError> {
            self.inner.payment_for_reservation(id).await
        }
        async fn insert_tokens(&self, t: &[TokenRow]) -> Result<(), StoreError> {
            self.token_writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.insert_tokens(t).await
        }
        async fn admit_tokens(
            &self,
            t: &[QueueToken],
            at: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.token_update().await;
            self.inner.admit_tokens(t, at).await
        }
        async fn end_tokens(
            &self,
            t: &[QueueToken],
            s: TokenState,
            at: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            self.token_update().await;
            self.inner.end_tokens(t, s, at).await
        }
        async fn live_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
            self.restore().await;
            self.inner.live_tokens().await
        }
        async fn token(&self, t: QueueToken) -> Result<Option<TokenRow>, StoreError> {
            self.inner.token(t).await
        }
        async fn max_token_seq(&self) -> Result<i64, StoreError> {
            self.inner.max_token_seq().await
        }
        async fn apply_batch(
            &self,
            ops: &[WriteOp],
        ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
            // Under group commit every payment arrives here: as slow as `commit_payment`.
            if ops.iter().any(|op| matches!(op, WriteOp::CommitPayment(_))) {
                self.payment_started.notify_one();
                tokio::time::sleep(self.payment_delay()).await;
            }
            if ops.iter().any(|op| matches!(op, WriteOp::Charge { .. })) {
                tokio::time::sleep(self.charge_delay()).await;
            }
            let token_writes = ops
                .iter()
                .filter(|op| matches!(op, WriteOp::InsertTokens(_)))
                .count();
            if token_writes > 0 {
                self.token_writes
                    .fetch_add(token_writes, std::sync::atomic::Ordering::SeqCst);
                let delay = *self.token_delay.lock().unwrap();
                tokio::time::sleep(delay).await;
            }
            if ops
                .iter()
                .any(|op| matches!(op, WriteOp::AdmitTokens { .. } | WriteOp::EndTokens { .. }))
            {
                self.token_update().await;
            }
            let answers = self.inner.apply_batch(ops).await?;
            if self.take_lost_reply() {
                return Err(StoreError::Unavailable(
                    "injected: reply lost after COMMIT".into(),
                ));
            }
            Ok(answers)
        }
    }
}
