//! The drain: one signal for every connection, whichever way it is served. A shutdown
//! sends it and waits until each connection has closed. A connection still waiting
//! for its first head closes at once, hyper's let their request finish and then
//! close, and a stream served outside hyper ends at its next frame boundary (with the
//! last chunk, so the client sees a clean end). hyper-util's `GracefulShutdown` cannot
//! do this: it watches only hyper's own connection types.

use tokio::sync::watch;

/// The sending side, owned by the accept loop.
pub(crate) struct Drain {
    begun: watch::Sender<bool>,
}

/// One connection's view of the drain, held for as long as the connection is open:
/// the drain waits until every one of them is dropped.
pub(crate) struct Draining {
    begun: watch::Receiver<bool>,
}

impl Drain {
    pub(crate) fn new() -> Self {
        Self {
            begun: watch::channel(false).0,
        }
    }

    /// A watcher for one new connection.
    pub(crate) fn watcher(&self) -> Draining {
        Draining {
            begun: self.begun.subscribe(),
        }
    }

    /// Tells every connection to finish, and resolves once all have closed.
    pub(crate) async fn drain(self) {
        self.begun.send_replace(true);
        self.begun.closed().await;
    }
}

impl Draining {
    /// Resolves once the drain has begun: at once if it already has, however often
    /// it is asked.
    pub(crate) async fn begun(&mut self) {
        // An error is the sender gone, which happens only once the drain is over.
        let _ = self.begun.wait_for(|begun| *begun).await;
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
