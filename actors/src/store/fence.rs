//! Epoch fencing of a Postgres store's writes (cluster mode, issue 15): the one home of
//! the statement that checks, inside a write's transaction, that the writer still owns
//! what it writes. `cluster::fence` claims epochs and calls [`check_epoch`]; a fenced
//! [`PgStore`](super::postgres::PgStore) runs it first in every write transaction.

use sqlx::PgConnection;

use super::StoreError;
use super::common::store_error;

/// What a fenced store writes for: the `owner_epochs` row of `thing` must still hold
/// `epoch` when each write commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    thing: String,
    epoch: i64,
}

impl Fence {
    /// A fence on `thing` (an `owner_epochs.thing` key, such as `engine`) at `epoch`.
    pub fn new(thing: impl Into<String>, epoch: i64) -> Self {
        Self {
            thing: thing.into(),
            epoch,
        }
    }

    /// The key fenced on.
    pub fn thing(&self) -> &str {
        &self.thing
    }

    /// The epoch writes carry.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Runs the check in the caller's open transaction; a refused fence is
    /// `Unavailable` (the caller rolls back: nothing is written, and the client is
    /// answered 503, as for any write that cannot land).
    pub(crate) async fn check(&self, tx: &mut PgConnection) -> Result<(), StoreError> {
        match check_epoch(tx, &self.thing, self.epoch)
            .await
            .map_err(store_error)?
        {
            Ok(()) => Ok(()),
            Err(current) => Err(StoreError::Unavailable(format!(
                "fenced: this node wrote {} at epoch {}, but {} is now recorded \
                 (another node owns it)",
                self.thing,
                self.epoch,
                current.map_or_else(|| "no epoch".to_owned(), |e| format!("epoch {e}")),
            ))),
        }
    }
}

/// Checks, in an open transaction, that `owner_epochs` holds `epoch` for `thing`, and
/// holds the row (`FOR SHARE`) until the transaction ends, so a newer claim (an
/// `UPDATE` of the row) waits for this write to commit or roll back, and every write
/// that checks after that claim sees it. `Ok(Err(current))`: refused, with the epoch in
/// force (`None`: no row).
pub async fn check_epoch(
    tx: &mut PgConnection,
    thing: &str,
    epoch: i64,
) -> Result<Result<(), Option<i64>>, sqlx::Error> {
    let current: Option<i64> =
        sqlx::query_scalar("SELECT epoch FROM owner_epochs WHERE thing = $1 FOR SHARE")
            .bind(thing)
            .fetch_optional(tx)
            .await?;
    Ok(match current {
        Some(current) if current == epoch => Ok(()),
        current => Err(current),
    })
}
