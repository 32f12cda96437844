//! Epoch fencing in Postgres: the last word on who may write.
//!
//! A lease says who *should* own a thing; Postgres decides whose writes land. The new
//! owner of a thing first records its epoch in `owner_epochs` ([`fence_claim`]), which
//! only ever moves forward; every write it then makes checks, inside the write's own
//! transaction, that the row still holds its epoch ([`check_epoch`]). A node that lost
//! its lease — paused, partitioned, slow — and writes anyway carries an older epoch
//! and is refused, even if its lease task has not noticed yet.
//!
//! Why it holds under concurrency: `check_epoch` reads the row `FOR SHARE`, so a
//! `fence_claim` by the next owner (an `UPDATE` of that row) waits until every write
//! that already checked has committed or rolled back, and every write that checks
//! after it sees the new epoch. The new owner, which rebuilds its actor from Postgres
//! after its `fence_claim` returns, sees every write the old owner committed.

use sqlx::{PgConnection, PgExecutor, Postgres, Transaction};

use crate::epoch::Epoch;
use crate::error::ClusterError;
use crate::node::NodeId;
use crate::thing::Thing;

/// Records that `node` owns `thing` from `epoch` on. Moves the row forward only: an
/// older epoch, or the same epoch claimed by another node, is refused with `Fenced`
/// (carrying the epoch in force). Claiming again the epoch it already recorded is a
/// no-op success, so a retry after a lost answer is safe.
pub async fn fence_claim(
    db: &mut PgConnection,
    thing: &Thing,
    epoch: Epoch,
    node: &NodeId,
) -> Result<(), ClusterError> {
    let key = thing.key();
    let moved: Option<i64> = sqlx::query_scalar(
        "INSERT INTO owner_epochs (thing, epoch, node, claimed_at) \
         VALUES ($1, $2, $3, now()) \
         ON CONFLICT (thing) DO UPDATE \
             SET epoch = EXCLUDED.epoch, node = EXCLUDED.node, claimed_at = EXCLUDED.claimed_at \
             WHERE owner_epochs.epoch < EXCLUDED.epoch \
                OR (owner_epochs.epoch = EXCLUDED.epoch AND owner_epochs.node = EXCLUDED.node) \
         RETURNING epoch",
    )
    .bind(&key)
    .bind(epoch.as_i64())
    .bind(node.as_str())
    .fetch_optional(&mut *db)
    .await?;
    if moved.is_some() {
        return Ok(());
    }
    let current: Option<i64> =
        sqlx::query_scalar("SELECT epoch FROM owner_epochs WHERE thing = $1")
            .bind(&key)
            .fetch_optional(db)
            .await?;
    Err(ClusterError::Fenced {
        thing: thing.clone(),
        ours: epoch,
        current: current.and_then(Epoch::from_i64),
    })
}

/// Checks, inside the transaction that is about to write to `thing`, that `epoch` is
/// still the thing's epoch, and holds the row (`FOR SHARE`) until the transaction ends
/// so no newer claim can slip in before the write commits. `Fenced` otherwise: the
/// caller rolls back (dropping the transaction does) and stops serving the thing.
pub async fn check_epoch(
    tx: &mut Transaction<'_, Postgres>,
    thing: &Thing,
    epoch: Epoch,
) -> Result<(), ClusterError> {
    // The statement lives with the store that runs it on every fenced write.
    match actors::check_epoch(tx, &thing.key(), epoch.as_i64()).await? {
        Ok(()) => Ok(()),
        Err(current) => Err(ClusterError::Fenced {
            thing: thing.clone(),
            ours: epoch,
            current: current.and_then(Epoch::from_i64),
        }),
    }
}

/// The epoch Postgres holds for `thing` and the node that claimed it, if any.
pub async fn current_owner<'e>(
    db: impl PgExecutor<'e>,
    thing: &Thing,
) -> Result<Option<(Epoch, String)>, ClusterError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT epoch, node FROM owner_epochs WHERE thing = $1")
            .bind(thing.key())
            .fetch_optional(db)
            .await?;
    Ok(row.and_then(|(epoch, node)| Some((Epoch::from_i64(epoch)?, node))))
}

/// The largest epoch recorded for any thing, if any: a lease bucket made anew must
/// start past it (`Leases::resume_after`).
pub async fn max_epoch<'e>(db: impl PgExecutor<'e>) -> Result<Option<Epoch>, ClusterError> {
    let max: Option<i64> = sqlx::query_scalar("SELECT max(epoch) FROM owner_epochs")
        .fetch_one(db)
        .await?;
    Ok(max.and_then(Epoch::from_i64))
}
