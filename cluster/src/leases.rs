//! `Leases`: a node's handle on the lease bucket — claims a thing with a KV `create`
//! (compare-and-set on absent), the create's revision being the lease's epoch, and
//! starts the task that renews it (`renewal`).

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, timeout_at};

use crate::config::LeaseConfig;
use crate::epoch::Epoch;
use crate::error::ClusterError;
use crate::lease::{Lease, LeaseStatus};
use crate::renewal::Renewal;
use crate::thing::Thing;

/// A node's leases on one bucket. Cheap to clone.
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

struct Inner {
    kv: kv::Store,
    /// The bucket's stream: its sequence is where epochs come from.
    stream: jetstream::stream::Stream,
    config: LeaseConfig,
    /// What this node holds or is claiming: bounds the count, and keeps one node from
    /// running two renewal tasks on one key.
    held: Arc<Mutex<HashSet<Thing>>>,
}

impl Leases {
    /// Connects to NATS at `url` and opens the bucket (see [`Leases::open`]).
    pub async fn connect(url: &str, config: LeaseConfig) -> Result<Self, ClusterError> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("concert {}", config.node))
            .connect(url)
            .await
            .map_err(ClusterError::nats)?;
        Self::open(jetstream::new(client), config).await
    }

    /// Opens the bucket, creating it if missing with `max_age` = the lease TTL, one
    /// value per key, on disk (a restarted NATS keeps the leases, and the sequence the
    /// epochs come from). An existing bucket must have the same TTL and history: nodes
    /// that disagree on the TTL would break the arithmetic that keeps holders apart.
    pub async fn open(js: jetstream::Context, config: LeaseConfig) -> Result<Self, ClusterError> {
        let bucket = config.bucket.as_str().to_owned();
        let ttl = config.timing.lease_ttl();
        // The stream a KV bucket is, made by hand: the client's `create_key_value` first
        // reads account fields that NATS servers before 2.10 do not send (Debian's is 2.9).
        let wanted = jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("concert: which node owns which actor".to_owned()),
            subjects: vec![format!("$KV.{bucket}.>")],
            // One value per key; a key's last write is its lease.
            max_messages_per_subject: 1,
            max_age: ttl,
            // The server refuses a duplicate window longer than max_age.
            duplicate_window: ttl.min(Duration::from_secs(120)),
            // On disk: a restarted NATS keeps the leases and the sequence epochs come from.
            storage: jetstream::stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: jetstream::stream::DiscardPolicy::New,
            num_replicas: 1,
            ..Default::default()
        };
        // Refused when it exists with other settings: then open it, and say what differs
        // below; when it cannot be opened either, both answers say why (no JetStream, …).
        let created = js.create_stream(wanted).await.err();
        let kv = js.get_key_value(bucket.clone()).await.map_err(|open| {
            let create = created.map_or_else(String::new, |e| format!("create: {e}; "));
            ClusterError::Nats(format!("lease bucket {bucket}: {create}open: {open}"))
        })?;
        let status = kv.status().await.map_err(ClusterError::nats)?;
        let problem = if status.max_age() != config.timing.lease_ttl() {
            Some(format!(
                "its max_age is {:?}, this node's lease_ttl {:?}: every node must use the bucket's TTL",
                status.max_age(),
                config.timing.lease_ttl()
            ))
        } else if status.history() != 1 {
            Some(format!(
                "it keeps {} values per key, not 1",
                status.history()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(ClusterError::Bucket { bucket, problem });
        }
        let stream = js
            .get_stream(format!("KV_{bucket}"))
            .await
            .map_err(ClusterError::nats)?;
        Ok(Self {
            inner: Arc::new(Inner {
                kv,
                stream,
                config,
                held: Arc::default(),
            }),
        })
    }

    /// Makes every later claim's epoch greater than `floor` (the largest epoch Postgres
    /// has recorded, `fence::max_epoch`), and says whether it had to. Needed only when
    /// the bucket was lost and made anew, its sequence starting again at 1: every claim
    /// would then be refused by `fence_claim`, safe but never live. It purges the bucket
    /// up to `floor + 1`, which moves its sequence there; leases it drops had epochs
    /// `fence_claim` refuses anyway (their holders see `Lost(Taken)` at their next
    /// renewal). A node runs it at start, before its first claim.
    pub async fn resume_after(&self, floor: Epoch) -> Result<bool, ClusterError> {
        let info = self
            .inner
            .stream
            .get_info()
            .await
            .map_err(ClusterError::nats)?;
        if info.state.last_sequence > floor.get() {
            return Ok(false);
        }
        tracing::warn!(
            bucket = %self.inner.config.bucket,
            last = info.state.last_sequence,
            %floor,
            "the lease bucket is behind the epochs in Postgres (made anew?): moving its sequence past them"
        );
        self.inner
            .stream
            .purge()
            .sequence(floor.get() + 1)
            .await
            .map_err(ClusterError::nats)?;
        Ok(true)
    }

    /// The settings in force.
    pub fn config(&self) -> &LeaseConfig {
        &self.inner.config
    }

    /// How many leases this node holds or is claiming.
    pub fn held(&self) -> usize {
        lock(&self.inner.held).len()
    }

    /// Claims `thing`: succeeds only if no node holds it (the key is absent, deleted,
    /// or expired). The lease renews itself until released, dropped or lost.
    pub async fn claim(&self, thing: &Thing) -> Result<Lease, ClusterError> {
        let inner = &self.inner;
        let node = inner.config.node.as_str().to_owned();
        let slot = Slot::take(&inner.held, thing, inner.config.max_leases).map_err(|err| {
            match err {
                // Held here already: this node is the holder.
                ClusterError::Taken { thing, .. } => ClusterError::Taken {
                    thing,
                    holder: Some(node.clone()),
                },
                other => other,
            }
        })?;
        let key = thing.key();
        let sent_at = Instant::now();
        let deadline = inner.config.timing.deadline(sent_at);
        // A claim that takes past its own deadline would be born lost: give up instead
        // (if it landed, the key expires after the TTL).
        let created = timeout_at(deadline, inner.kv.create(&key, node.clone().into()))
            .await
            .map_err(|_| ClusterError::Nats(format!("claiming {thing} timed out")))?;
        let revision = match created {
            Ok(revision) => revision,
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                let holder = match inner.kv.entry(&key).await {
                    Ok(Some(entry)) => Some(String::from_utf8_lossy(&entry.value).into_owned()),
                    _ => None,
                };
                return Err(ClusterError::Taken {
                    thing: thing.clone(),
                    holder,
                });
            }
            Err(err) => return Err(ClusterError::nats(err)),
        };
        let epoch = Epoch::parse(revision)?;
        let (status, watch) = watch::channel(LeaseStatus::Held { deadline });
        let (release, release_rx) = oneshot::channel();
        let paused = Arc::new(AtomicBool::new(false));
        let renewal = Renewal {
            kv: inner.kv.clone(),
            thing: thing.clone(),
            node: inner.config.node.clone(),
            timing: inner.config.timing,
            revision,
            sent_at,
            status,
            release: release_rx,
            paused: paused.clone(),
            _slot: slot,
        };
        tokio::spawn(renewal.run());
        Ok(Lease {
            thing: thing.clone(),
            epoch,
            status: watch,
            release: Some(release),
            paused,
        })
    }
}

/// A thing's place in the node's count of leases, given back when dropped (a failed
/// claim, or the end of the lease's renewal task).
pub(crate) struct Slot {
    held: Arc<Mutex<HashSet<Thing>>>,
    thing: Thing,
}

impl Slot {
    pub(crate) fn take(
        held: &Arc<Mutex<HashSet<Thing>>>,
        thing: &Thing,
        limit: usize,
    ) -> Result<Self, ClusterError> {
        let mut set = lock(held);
        if set.contains(thing) {
            return Err(ClusterError::Taken {
                thing: thing.clone(),
                holder: None,
            });
        }
        if set.len() >= limit {
            return Err(ClusterError::TooManyLeases { limit });
        }
        set.insert(thing.clone());
        Ok(Self {
            held: held.clone(),
            thing: thing.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.held).remove(&self.thing);
    }
}

/// The set behind its lock; a panic while holding it cannot leave it half-changed
/// (each use is one insert or remove), so a poisoned lock is used as is.
fn lock(held: &Mutex<HashSet<Thing>>) -> std::sync::MutexGuard<'_, HashSet<Thing>> {
    held.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
