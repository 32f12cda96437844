//! The three KV calls a renewal task makes, behind a trait: JetStream's in production,
//! an in-memory one in the renewal task's paused-clock tests (where time is virtual,
//! so the deadline arithmetic is checked to the instant).

use std::future::Future;

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};

/// Why a KV write was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvError {
    /// The key's last revision is not the one expected: someone else wrote it.
    WrongRevision,
    /// Anything else (NATS unreachable, a timeout): may pass.
    Other(String),
}

/// A key's latest value, if it is a value (not a delete marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Latest {
    pub value: Vec<u8>,
    pub revision: u64,
}

pub(crate) trait LeaseKv: Send + Sync + 'static {
    /// Writes `value` if the key's last revision is `revision`; the new revision.
    fn update(
        &self,
        key: &str,
        value: &str,
        revision: u64,
    ) -> impl Future<Output = Result<u64, KvError>> + Send;

    /// The key's latest value; `None` if absent, deleted, or unreadable.
    fn latest(&self, key: &str) -> impl Future<Output = Option<Latest>> + Send;

    /// Deletes the key if its last revision is `revision`.
    fn delete(&self, key: &str, revision: u64) -> impl Future<Output = Result<(), KvError>> + Send;
}

fn kv_error(err: kv::UpdateError) -> KvError {
    if err.kind() == UpdateErrorKind::WrongLastRevision {
        KvError::WrongRevision
    } else {
        KvError::Other(err.to_string())
    }
}

impl LeaseKv for kv::Store {
    async fn update(&self, key: &str, value: &str, revision: u64) -> Result<u64, KvError> {
        kv::Store::update(self, key, value.to_owned().into(), revision)
            .await
            .map_err(kv_error)
    }

    async fn latest(&self, key: &str) -> Option<Latest> {
        let entry = self.entry(key).await.ok()??;
        (entry.operation == Operation::Put).then(|| Latest {
            value: entry.value.to_vec(),
            revision: entry.revision,
        })
    }

    async fn delete(&self, key: &str, revision: u64) -> Result<(), KvError> {
        self.delete_expect_revision(key, Some(revision))
            .await
            .map_err(kv_error)
    }
}
