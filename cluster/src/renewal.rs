//! The renewal task of one lease: renews every third of the TTL, keeps the deadline,
//! publishes `Lost` the moment the lease can no longer be trusted, and releases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::error::ClusterError;
use crate::lease::{LeaseStatus, LostReason, ReleaseRequest};
use crate::lease_kv::{KvError, LeaseKv};
use crate::leases::Slot;
use crate::node::NodeId;
use crate::thing::Thing;
use crate::timing::LeaseTiming;

/// One lease's renewal state, owned by its task.
pub(crate) struct Renewal<K> {
    pub kv: K,
    pub thing: Thing,
    pub node: NodeId,
    pub timing: LeaseTiming,
    /// The KV revision of our last write (the claim, then each renewal).
    pub revision: u64,
    /// When the last write that landed was sent: the deadline counts from it.
    pub sent_at: Instant,
    pub status: watch::Sender<LeaseStatus>,
    pub release: oneshot::Receiver<ReleaseRequest>,
    pub paused: Arc<AtomicBool>,
    /// Frees the thing's place in the node's count of leases when the task ends.
    pub _slot: Slot,
}

impl<K: LeaseKv> Renewal<K> {
    /// Runs until the lease is lost or released.
    pub async fn run(mut self) {
        let key = self.thing.key();
        let mut next = self.sent_at + self.timing.renew_every();
        loop {
            let deadline = self.timing.deadline(self.sent_at);
            tokio::select! {
                // A release (or the `Lease` dropped) goes first: the holder has stopped.
                biased;
                request = &mut self.release => {
                    let outcome = self.delete(&key, deadline).await;
                    self.status.send_replace(LeaseStatus::Released);
                    if let Ok(reply) = request {
                        let _ = reply.send(outcome);
                    }
                    return;
                }
                () = sleep_until(deadline) => return self.lost(LostReason::Deadline),
                () = sleep_until(next) => {}
            }
            if self.paused.load(Ordering::Acquire) {
                // The test hook: renewals stop, the deadline stands.
                next = deadline;
                continue;
            }
            let attempt_sent = Instant::now();
            let update = self.kv.update(&key, self.node.as_str(), self.revision);
            match timeout_at(deadline, update).await {
                Err(_elapsed) => return self.lost(LostReason::Deadline),
                Ok(Ok(revision)) => {
                    self.revision = revision;
                    self.sent_at = attempt_sent;
                    next = attempt_sent + self.timing.renew_every();
                    self.status.send_replace(LeaseStatus::Held {
                        deadline: self.timing.deadline(attempt_sent),
                    });
                }
                Ok(Err(KvError::WrongRevision)) => {
                    match timeout_at(deadline, self.ours_since(&key)).await {
                        // An earlier renewal landed though its answer was lost: carry on
                        // from its revision (renewing now; the deadline stands).
                        Ok(Some(revision)) => {
                            self.revision = revision;
                            next = Instant::now();
                        }
                        Ok(None) => return self.lost(LostReason::Taken),
                        Err(_elapsed) => return self.lost(LostReason::Deadline),
                    }
                }
                Ok(Err(KvError::Other(err))) => {
                    // NATS reconnecting, a timeout: try again soon; the deadline decides.
                    tracing::warn!(thing = %self.thing, error = %err, "lease renewal failed; retrying");
                    next = Instant::now() + self.timing.retry_every();
                }
            }
        }
    }

    /// The key's revision if its latest value is still ours and newer than the last one
    /// we know of: only this task writes our node id under this key while it runs, so
    /// such a value is one of our own renewals whose answer never came back.
    async fn ours_since(&self, key: &str) -> Option<u64> {
        let latest = self.kv.latest(key).await?;
        (latest.value == self.node.as_str().as_bytes() && latest.revision > self.revision)
            .then_some(latest.revision)
    }

    /// Publishes `Lost`; the holder stops serving on it.
    fn lost(self, reason: LostReason) {
        tracing::warn!(thing = %self.thing, ?reason, "lease lost");
        self.status.send_replace(LeaseStatus::Lost(reason));
    }

    /// Deletes the key only if our last revision is still its latest.
    async fn delete(&self, key: &str, deadline: Instant) -> Result<(), ClusterError> {
        let not_held = || ClusterError::NotHeld {
            thing: self.thing.clone(),
        };
        if Instant::now() >= deadline {
            // Past the deadline the key may be another's by now; it expires on its own.
            return Err(not_held());
        }
        match timeout_at(deadline, self.kv.delete(key, self.revision)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(KvError::WrongRevision)) => Err(not_held()),
            Ok(Err(KvError::Other(err))) => Err(ClusterError::Nats(err)),
            Err(_elapsed) => Err(not_held()),
        }
    }
}

#[cfg(test)]
mod tests;
