//! Group commit: a [`Store`] decorator that gathers the writes of many callers
//! into shared transactions.
//!
//! The on-sale minute is many small writes (a hold, a token, a ledger row), each
//! waiting on the commit's fsync. Committing them one by one caps the engine at the
//! disk's fsyncs per second; committing them together pays one fsync per batch.
//!
//! Every single write reaches [`GroupCommit`] as a [`WriteOp`] ([`Store::apply`]);
//! it puts the op and a reply slot in a bounded queue and waits. Writer tasks take the first queued op, then whatever
//! else is already queued (up to [`GroupCommitSettings::max_batch`]), and hand the
//! batch to the inner store's [`Store::apply_batch`]: one transaction, a savepoint
//! per op. Only after that transaction has committed does each caller get its own
//! op's answer, so "answered" still means "committed" (a refused op, such as a taken
//! seat, is answered with its refusal and leaves the others alone). While one batch
//! commits, the next accumulates in the queue: that is where batches come from, with
//! no timer and no added latency when the engine is idle (`max_wait` may add a
//! wait, but defaults to none).
//!
//! # Bounds
//!
//! The queue holds at most [`GroupCommitSettings::queue_capacity`] ops; a write that
//! finds it full is answered [`StoreError::Unavailable`] (`write queue full`) at
//! once: overload is answered, never absorbed.
//!
//! # Ordering
//!
//! No order is kept between writes that are in flight together: with several
//! writers, two batches commit concurrently, in either order. A write that must
//! follow another must be submitted after the first has been answered (then it is
//! committed, and the second sees it). That is how the engine already writes: each
//! piece of contended state has one owner (an actor) that awaits a write before the
//! next write on the same rows; the writes it pipelines (the WaitingRoom's new
//! tokens) touch rows of their own. Within one batch, ops are applied in queue
//! order, and a later op sees the earlier ones' effects.
//!
//! # Failure
//!
//! If the batch's transaction fails (the outer `Err` of `apply_batch`), every op of
//! it gets that error. Usually none of it committed; but when the connection breaks
//! after `COMMIT` was sent, the outcome is unknown, as with any single write: the
//! actors treat `Unavailable` from a write as "maybe written" and settle it from the
//! store before they act on that state again. If the store panics mid-batch, its ops
//! get `Unavailable` and the writer carries on. If the writers are gone (their
//! runtime shut down), a write gets `Unavailable` at once, and one already queued
//! gets it as soon as its reply slot is dropped: never a hang. A write once queued
//! is applied even if its caller stops waiting for the answer.
//!
//! Reads, [`Store::create_concert`], [`Store::create_session`], [`Store::save_room`]
//! and [`Store::draw_room`] (admin and room writes, rare) pass straight through, as does [`Store::apply_batch`] itself: it is a
//! [`Decorator`] that overrides only `apply`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{Mutex, mpsc, oneshot};

use writer::{Counters, Job, writer};

use super::{Decorator, Store, StoreError, WriteOp, WriteOutcome};

mod writer;

/// How [`GroupCommit`] batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCommitSettings {
    /// The most ops in one transaction (at least 1).
    pub max_batch: usize,
    /// How long a writer waits for more ops once it has one, while its batch is
    /// short of `max_batch`. Zero (the default) sends what is queued at once.
    pub max_wait: Duration,
    /// Writer tasks, hence batches committing at once (at least 1).
    pub writers: usize,
    /// The most ops queued; a write beyond it is refused at once (at least 1).
    pub queue_capacity: usize,
}

impl GroupCommitSettings {
    /// The defaults for a backend ([`Store::backend`]): batches of up to 256 ops, no
    /// wait, a queue of 8192, and one writer on SQLite (it has one writer anyway:
    /// a second would wait on the write lock) or four on Postgres (so that one batch
    /// fills while others commit, and fsyncs overlap).
    pub fn for_backend(backend: &str) -> Self {
        Self {
            max_batch: 256,
            max_wait: Duration::ZERO,
            writers: if backend == "sqlite" { 1 } else { 4 },
            queue_capacity: 8192,
        }
    }
}

/// What [`GroupCommit`] has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Batches whose transaction committed.
    pub batches: u64,
    /// Ops answered from committed batches (each accepted or refused on its own).
    pub ops: u64,
    /// Batches whose transaction failed (or whose store panicked): all their ops failed.
    pub failed_batches: u64,
    /// Ops of those failed batches.
    pub failed_ops: u64,
    /// Writes refused at once: the queue was full, or the writers were gone.
    pub rejected: u64,
    /// The most ops one batch held.
    pub largest_batch: u64,
    /// Ops queued right now, not yet taken by a writer.
    pub queued: usize,
}

/// The group-commit decorator (see the module docs).
pub struct GroupCommit {
    inner: Arc<dyn Store>,
    queue: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("backend", &self.inner.backend())
            .field("stats", &self.stats())
            .finish()
    }
}

impl GroupCommit {
    /// Wraps `inner` and spawns the writer tasks on the current tokio runtime (so it
    /// must be called inside one). The writers stop once this is dropped and the
    /// queue is drained.
    pub fn new(inner: Arc<dyn Store>, settings: GroupCommitSettings) -> Self {
        let (queue, receiver) = mpsc::channel(settings.queue_capacity.max(1));
        // Several writers share one receiver: each holds the lock only while it
        // gathers a batch, never while the batch commits.
        let receiver = Arc::new(Mutex::new(receiver));
        let counters = Arc::new(Counters::default());
        for _ in 0..settings.writers.max(1) {
            tokio::spawn(writer(
                Arc::clone(&inner),
                Arc::clone(&receiver),
                Arc::clone(&counters),
                settings.max_batch.max(1),
                settings.max_wait,
            ));
        }
        Self {
            inner,
            queue,
            counters,
        }
    }

    /// [`GroupCommit::new`], as the `Arc<dyn Store>` the engine takes.
    pub fn wrap(inner: Arc<dyn Store>, settings: GroupCommitSettings) -> Arc<dyn Store> {
        Arc::new(Self::new(inner, settings))
    }

    /// What has been committed so far, and what is queued.
    pub fn stats(&self) -> GroupCommitStats {
        let c = &self.counters;
        GroupCommitStats {
            batches: c.batches.load(Ordering::Relaxed),
            ops: c.ops.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
            failed_ops: c.failed_ops.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            largest_batch: c.largest_batch.load(Ordering::Relaxed),
            queued: self.queue.max_capacity() - self.queue.capacity(),
        }
    }

    /// Queues `op` and waits for its batch to commit.
    async fn submit(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        if let Err(refused) = self.queue.try_send(Job { op, reply }) {
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable(match refused {
                TrySendError::Full(_) => "write queue full".into(),
                TrySendError::Closed(_) => "group commit stopped: no writer is running".into(),
            }));
        }
        // The reply slot is dropped unanswered only if its writer went away.
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "group commit: the writer stopped before answering".into(),
            ))
        })
    }
}

#[async_trait]
impl Decorator for GroupCommit {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    /// Every single write is queued and batched. Everything else (reads, admin
    /// writes, and `apply_batch`, already a batch) passes straight through.
    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        self.submit(op).await
    }
}
