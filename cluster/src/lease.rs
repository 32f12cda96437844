//! `Lease`: what the holder of one thing keeps — its epoch, whether it still holds it,
//! and how to let it go.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
#[cfg(feature = "testkit")]
use std::sync::atomic::Ordering;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::epoch::Epoch;
use crate::error::ClusterError;
use crate::thing::Thing;

/// Where a lease stands, as its renewal task publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Held until `deadline` unless a renewal lands before it (each one moves it).
    Held {
        /// The instant (monotonic clock) by which the holder must have stopped serving.
        deadline: Instant,
    },
    /// No longer held: the holder must stop serving the thing now.
    Lost(LostReason),
    /// Let go by its holder.
    Released,
}

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// No renewal landed before the deadline (NATS unreachable, slow, or renewals
    /// stopped): the key may expire, and another node claim it, soon after.
    Deadline,
    /// The key moved under us: it expired and another node claimed it, or it was
    /// deleted. Someone else may already own the thing.
    Taken,
}

/// A request to release, answered once the key is deleted (or found not ours).
pub(crate) type ReleaseRequest = oneshot::Sender<Result<(), ClusterError>>;

/// A held lease on one thing. Dropping it releases the lease (without waiting);
/// [`Lease::release`] waits and says whether the key was still ours.
#[derive(Debug)]
pub struct Lease {
    pub(crate) thing: Thing,
    pub(crate) epoch: Epoch,
    pub(crate) status: watch::Receiver<LeaseStatus>,
    pub(crate) release: Option<oneshot::Sender<ReleaseRequest>>,
    /// Shared with the renewal task; only the test hook sets it.
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    pub(crate) paused: Arc<AtomicBool>,
}

impl Lease {
    /// What is leased.
    pub fn thing(&self) -> &Thing {
        &self.thing
    }

    /// The revision of the claim: every write made under this lease carries it.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The status the renewal task last published.
    pub fn status(&self) -> LeaseStatus {
        *self.status.borrow()
    }

    /// Whether the holder may still serve: held and before the deadline. The deadline
    /// is checked here too, against the clock, so a renewal task starved of CPU cannot
    /// leave the holder serving past it.
    pub fn is_held(&self) -> bool {
        matches!(self.status(), LeaseStatus::Held { deadline } if Instant::now() < deadline)
    }

    /// A receiver of the status, for a holder that selects on its changes.
    pub fn watch(&self) -> watch::Receiver<LeaseStatus> {
        self.status.clone()
    }

    /// Resolves when the holder must stop: the lease is lost or released, or its
    /// current deadline has passed (whichever the holder would see first).
    pub async fn ended(&self) -> LeaseStatus {
        let mut status = self.status.clone();
        loop {
            let current = *status.borrow_and_update();
            let LeaseStatus::Held { deadline } = current else {
                return current;
            };
            tokio::select! {
                changed = status.changed() => {
                    if changed.is_err() {
                        // The task is gone without a last word: treat as lost.
                        return LeaseStatus::Lost(LostReason::Deadline);
                    }
                }
                () = tokio::time::sleep_until(deadline) => {
                    return LeaseStatus::Lost(LostReason::Deadline);
                }
            }
        }
    }

    /// Stops renewing and deletes the key if it is still ours (compare-and-set on our
    /// last revision). `NotHeld` when it was not (lost, or taken since).
    pub async fn release(mut self) -> Result<(), ClusterError> {
        let not_held = || ClusterError::NotHeld {
            thing: self.thing.clone(),
        };
        let (reply, answer) = oneshot::channel();
        let control = self.release.take().ok_or_else(not_held)?;
        control.send(reply).map_err(|_| not_held())?;
        answer.await.map_err(|_| not_held())?
    }

    /// Test hook: the renewal task stops renewing, as a holder stalled or cut off would
    /// (it still keeps its deadline and publishes `Lost` at it).
    #[cfg(feature = "testkit")]
    pub fn pause_renewals(&self) {
        self.paused.store(true, Ordering::Release);
    }
}
