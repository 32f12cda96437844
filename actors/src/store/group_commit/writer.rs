//! The writer tasks of [`GroupCommit`](super::GroupCommit): each takes a batch off
//! the shared queue, applies it in one transaction, and answers each op of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::store::{Store, StoreError, WriteOp, WriteOutcome};

/// One queued write and where its answer goes.
pub(super) struct Job {
    pub(super) op: WriteOp,
    pub(super) reply: oneshot::Sender<Result<WriteOutcome, StoreError>>,
}

/// What [`GroupCommit::stats`](super::GroupCommit::stats) reads; the writers count.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) batches: AtomicU64,
    pub(super) ops: AtomicU64,
    pub(super) failed_batches: AtomicU64,
    pub(super) failed_ops: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) largest_batch: AtomicU64,
}

/// A writer task: gathers a batch, commits it, answers it; until the queue closes.
pub(super) async fn writer(
    inner: Arc<dyn Store>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    counters: Arc<Counters>,
    max_batch: usize,
    max_wait: Duration,
) {
    loop {
        let mut jobs = Vec::with_capacity(max_batch);
        {
            let mut receiver = receiver.lock().await;
            // The first op, and whatever else is already queued.
            if receiver.recv_many(&mut jobs, max_batch).await == 0 {
                return; // Closed and drained: the decorator is gone.
            }
            if !max_wait.is_zero() {
                let deadline = tokio::time::Instant::now() + max_wait;
                while jobs.len() < max_batch {
                    let room = max_batch - jobs.len();
                    let more = receiver.recv_many(&mut jobs, room);
                    match tokio::time::timeout_at(deadline, more).await {
                        Ok(n) if n > 0 => {}
                        _ => break, // The wait is over, or the queue closed.
                    }
                }
            }
        }
        commit(&inner, jobs, &counters).await;
    }
}

/// Applies one batch and answers each of its ops.
async fn commit(inner: &Arc<dyn Store>, jobs: Vec<Job>, counters: &Counters) {
    let n = jobs.len();
    let (ops, replies): (Vec<WriteOp>, Vec<_>) = jobs.into_iter().map(|j| (j.op, j.reply)).unzip();
    // A task of its own, so that a panic in the store fails this batch, not the writer.
    let store = Arc::clone(inner);
    let started = std::time::Instant::now();
    let applied = tokio::spawn(async move { store.apply_batch(&ops).await }).await;
    crate::metrics::store_batch(n, started.elapsed());
    let results = match applied {
        Ok(Ok(mut results)) => {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters.ops.fetch_add(n as u64, Ordering::Relaxed);
            counters
                .largest_batch
                .fetch_max(n as u64, Ordering::Relaxed);
            // A store that answers the wrong number of results is broken; the ops
            // it did not answer must still hear something.
            let missing =
                StoreError::Unavailable("the store left an op of the batch unanswered".into());
            results.resize(n, Err(missing));
            results
        }
        Ok(Err(error)) => failed(counters, n, error),
        Err(panic) => failed(
            counters,
            n,
            StoreError::Unavailable(format!("the batch's store call failed: {panic}")),
        ),
    };
    for (reply, result) in replies.into_iter().zip(results) {
        // The caller may have stopped waiting; its write is committed all the same.
        let _ = reply.send(result);
    }
}

/// Counts a batch that did not commit and answers each of its `n` ops with `error`.
fn failed(
    counters: &Counters,
    n: usize,
    error: StoreError,
) -> Vec<Result<WriteOutcome, StoreError>> {
    counters.failed_batches.fetch_add(1, Ordering::Relaxed);
    counters.failed_ops.fetch_add(n as u64, Ordering::Relaxed);
    // Usually nothing of the batch committed; but if the connection broke after
    // COMMIT was sent, it may have. Callers treat `Unavailable` as "outcome unknown".
    tracing::warn!(ops = n, %error, "group commit: a batch failed or its outcome is unknown");
    vec![Err(error); n]
}
