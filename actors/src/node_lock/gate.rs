//! The gate: a store decorator that refuses every write while the node does not
//! hold its database lock, and tells `/ready` why.
//!
//! Reads pass: they change nothing another node could be confused by, and an actor
//! rebuilding itself reads before it writes. A refused write is an ordinary
//! [`StoreError::Unavailable`], answered 503 as during a database outage.

use std::sync::Arc;

use async_trait::async_trait;

use super::HeldFlag;
use crate::store::{Decorator, Store, StoreError};

/// What a refused call is told.
const LOST: &str = "the database lock is lost (taking it again)";

/// A store that writes only while the node holds its database lock.
pub(crate) struct Gated {
    inner: Arc<dyn Store>,
    held: HeldFlag,
}

impl Gated {
    pub(crate) fn wrap(inner: Arc<dyn Store>, held: HeldFlag) -> Arc<dyn Store> {
        Arc::new(Self { inner, held })
    }
}

#[async_trait]
impl Decorator for Gated {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    /// Every write the [`Decorator`] defaults forward asks this first.
    fn may_write(&self) -> Result<(), StoreError> {
        if self.held.is_held() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(LOST.into()))
        }
    }

    /// Not ready while the lock is not held: `/ready` says why.
    async fn ping(&self) -> Result<(), StoreError> {
        self.may_write()?;
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConcertTitle;
    use crate::testkit;

    #[tokio::test]
    async fn writes_are_refused_while_the_lock_is_not_held_and_reads_pass() {
        let db = testkit::sqlite().await;
        let title = ConcertTitle::parse("Gated").unwrap();
        let closed = Gated::wrap(db.store.clone(), HeldFlag::detached(false));
        assert_eq!(
            closed.create_concert(&title).await.unwrap_err(),
            StoreError::Unavailable(LOST.into())
        );
        // Batches too: group commit's writes reach the store as batches.
        assert_eq!(
            closed.apply_batch(&[]).await.unwrap_err(),
            StoreError::Unavailable(LOST.into())
        );
        assert_eq!(
            closed.ping().await.unwrap_err(),
            StoreError::Unavailable(LOST.into())
        );
        assert!(closed.catalog().await.unwrap().concerts.is_empty());

        let open = Gated::wrap(db.store.clone(), HeldFlag::detached(true));
        open.create_concert(&title)
            .await
            .expect("written while held");
        open.ping().await.expect("ready while held");
        assert_eq!(closed.catalog().await.unwrap().concerts.len(), 1);
    }
}
