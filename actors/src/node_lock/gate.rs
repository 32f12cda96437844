//! The gate: a store decorator that refuses every write while the node does not
//! hold its database lock, and tells `/ready` why.
//!
//! Reads pass: they change nothing another node could be confused by, and an actor
//! rebuilding itself reads before it writes. A refused write is an ordinary
//! [`StoreError::Unavailable`], answered 503 as during a database outage.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::HeldFlag;
use crate::domain::{ConcertTitle, QueueToken, RoomId};
use crate::store::{
    BatchResult, ConcertRow, Decorator, Limits, NewSession, RoomRow, SessionRow, Store, StoreError,
    WriteOp, WriteOutcome,
};

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

    fn check(&self) -> Result<(), StoreError> {
        if self.held.is_held() {
            Ok(())
        } else {
            Err(StoreError::Unavailable(LOST.into()))
        }
    }
}

#[async_trait]
impl Decorator for Gated {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.ping().await
    }

    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        self.check()?;
        self.inner.apply(op).await
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        self.check()?;
        self.inner.apply_batch(ops).await
    }

    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError> {
        self.check()?;
        self.inner.create_concert(title).await
    }

    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError> {
        self.check()?;
        self.inner.create_session(session).await
    }

    async fn record_limits(
        &self,
        limits: &Limits,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.record_limits(limits, started_at).await
    }

    async fn save_room(&self, row: &RoomRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.save_room(row, at).await
    }

    async fn draw_room(
        &self,
        room: RoomId,
        drawn: &[(QueueToken, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.draw_room(room, drawn, at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
