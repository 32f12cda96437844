//! A store decorator that injects the faults the engine must survive: payments
//! that take (test) time to commit, and batches that commit but whose reply is lost
//! (the connection broke after COMMIT), so the caller sees `Unavailable`. It also
//! counts token writes, so that tests can see how joins are batched, can hold a
//! WaitingRoom's restore at its read of the live tokens, and counts the sessions'
//! reads of their reservations.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actors::domain::{RoomId, SessionId};
use actors::store::{
    BatchResult, Decorator, ReservationRow, Store, StoreError, TokenRow, WriteOp, WriteOutcome,
};

/// See the module docs. Every method forwards to `inner`, with the faults set.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    payment_delay: Mutex<Duration>,
    charge_delay: Mutex<Duration>,
    token_delay: Mutex<Duration>,
    token_update_delay: Mutex<Duration>,
    token_update_started: tokio::sync::Notify,
    restores_held: tokio::sync::watch::Sender<bool>,
    restore_started: tokio::sync::Notify,
    reservation_reads: tokio::sync::watch::Sender<usize>,
    token_writes: AtomicUsize,
    payment_started: tokio::sync::Notify,
    lost_replies: AtomicUsize,
}

impl FaultyStore {
    /// A decorator that injects nothing until told to.
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            payment_delay: Mutex::new(Duration::ZERO),
            charge_delay: Mutex::new(Duration::ZERO),
            token_delay: Mutex::new(Duration::ZERO),
            token_update_delay: Mutex::new(Duration::ZERO),
            token_update_started: tokio::sync::Notify::new(),
            restores_held: tokio::sync::watch::Sender::new(false),
            restore_started: tokio::sync::Notify::new(),
            reservation_reads: tokio::sync::watch::Sender::new(0),
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

    /// Returns once `n` reads of a session's live reservations (a session actor
    /// starting) have been answered.
    pub async fn reservations_read(&self, n: usize) {
        let mut reads = self.reservation_reads.subscribe();
        let _ = reads.wait_for(|reads| *reads >= n).await;
    }

    /// Token inserts applied so far (each may carry many rows).
    pub fn token_writes(&self) -> usize {
        self.token_writes.load(Ordering::SeqCst)
    }

    /// The next `n` commits (batches, or single writes) go through, but their
    /// callers are told `Unavailable`.
    pub fn lose_replies(&self, n: usize) {
        self.lost_replies.store(n, Ordering::SeqCst);
    }

    fn take_lost_reply(&self) -> bool {
        self.lost_replies
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// The delays and signals of these writes, before they commit.
    async fn before_commit(&self, ops: &[WriteOp]) {
        // A payment alone or in a batch (under group commit, always in one).
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
            self.token_writes.fetch_add(token_writes, Ordering::SeqCst);
            let delay = *self.token_delay.lock().unwrap();
            tokio::time::sleep(delay).await;
        }
        if ops
            .iter()
            .any(|op| matches!(op, WriteOp::AdmitTokens { .. } | WriteOp::EndTokens { .. }))
        {
            self.token_update().await;
        }
    }

    /// A reply lost after the commit, if one is due.
    fn after_commit(&self) -> Result<(), StoreError> {
        if self.take_lost_reply() {
            return Err(StoreError::Unavailable(
                "injected: reply lost after COMMIT".into(),
            ));
        }
        Ok(())
    }
}

/// Every write arrives as a `WriteOp`, alone (`apply`) or batched (`apply_batch`):
/// the faults are set on those two, and everything else forwards.
#[async_trait::async_trait]
impl Decorator for FaultyStore {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        self.before_commit(std::slice::from_ref(&op)).await;
        let answer = self.inner.apply(op).await?;
        self.after_commit()?;
        Ok(answer)
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        self.before_commit(ops).await;
        let answers = self.inner.apply_batch(ops).await?;
        self.after_commit()?;
        Ok(answers)
    }

    async fn live_reservations(&self, id: SessionId) -> Result<Vec<ReservationRow>, StoreError> {
        let rows = self.inner.live_reservations(id).await;
        self.reservation_reads.send_modify(|reads| *reads += 1);
        rows
    }

    async fn live_tokens(&self, room: RoomId) -> Result<Vec<TokenRow>, StoreError> {
        self.restore().await;
        self.inner.live_tokens(room).await
    }
}
