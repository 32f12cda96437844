//! The drain: one signal for every connection, whichever way it is served. A shutdown
//! sends it and waits until each connection has closed. A connection still waiting
//! for its first head closes at once, hyper's let their request finish and then
//! close, and a stream served outside hyper ends at its next frame boundary (with the
//! last chunk, so the client sees a clean end). hyper-util's `GracefulShutdown` cannot
//! do this: it watches only hyper's own connection types.
//!
//! A connection's task asks [`Draining::begun`] every time it wakes (it waits for its
//! request and for the drain at once), so asking must cost next to nothing: a flag
//! read and the task's waker kept in the connection's own [`AtomicWaker`], no lock. A
//! `tokio::sync::watch` did the same with a lock at every wake-up, ~230 instructions
//! of each `/health` and ~400 of a hold (docs/performance.md, "Fourth pass"). The lock
//! here is taken twice a connection: when it opens and when it closes.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use futures::task::AtomicWaker;
use slab::Slab;
use tokio::sync::Notify;

/// What the drain and its watchers share.
struct Shared {
    begun: AtomicBool,
    /// Each open connection's waker, by its key.
    watchers: Mutex<Slab<Arc<AtomicWaker>>>,
    /// Told when the last watcher goes.
    all_closed: Notify,
}

/// The sending side, owned by the accept loop.
pub(crate) struct Drain {
    shared: Arc<Shared>,
}

/// One connection's view of the drain, held for as long as the connection is open:
/// the drain waits until every one of them is dropped.
pub(crate) struct Draining {
    shared: Arc<Shared>,
    key: usize,
    waker: Arc<AtomicWaker>,
}

impl Drain {
    pub(crate) fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                begun: AtomicBool::new(false),
                watchers: Mutex::new(Slab::new()),
                all_closed: Notify::new(),
            }),
        }
    }

    /// A watcher for one new connection.
    pub(crate) fn watcher(&self) -> Draining {
        let waker = Arc::new(AtomicWaker::new());
        let key = self.shared.watchers().insert(waker.clone());
        Draining {
            shared: self.shared.clone(),
            key,
            waker,
        }
    }

    /// Tells every connection to finish, and resolves once all have closed.
    pub(crate) async fn drain(self) {
        self.shared.begun.store(true, Ordering::SeqCst);
        for (_, waker) in self.shared.watchers().iter() {
            waker.wake();
        }
        loop {
            let closed = self.shared.all_closed.notified();
            tokio::pin!(closed);
            // Registered before the check: a last watcher dropped in between is seen.
            closed.as_mut().enable();
            if self.shared.watchers().is_empty() {
                return;
            }
            closed.await;
        }
    }
}

impl Shared {
    /// The watchers; a panic elsewhere while holding them left the slab whole.
    fn watchers(&self) -> std::sync::MutexGuard<'_, Slab<Arc<AtomicWaker>>> {
        self.watchers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Draining {
    /// Resolves once the drain has begun: at once if it already has, however often
    /// it is asked.
    pub(crate) fn begun(&mut self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            if self.shared.begun.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // The drain may have begun, and woken the waker kept before, in between.
            if self.shared.begun.load(Ordering::SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        let mut watchers = self.shared.watchers();
        watchers.remove(self.key);
        if watchers.is_empty() {
            self.shared.all_closed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_drain_waits_for_every_watcher_and_tells_each_more_than_once() {
        let drain = Drain::new();
        let mut early = drain.watcher();
        let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
        let connection = tokio::spawn(async move {
            early.begun().await;
            early.begun().await;
            closed_rx.await.unwrap();
        });
        let draining = tokio::spawn(drain.drain());
        tokio::task::yield_now().await;
        assert!(!draining.is_finished(), "a connection is still open");
        closed_tx.send(()).unwrap();
        connection.await.unwrap();
        draining.await.unwrap();
    }
}
