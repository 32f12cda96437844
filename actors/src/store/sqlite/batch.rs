//! [`Store::apply_batch`](crate::store::Store::apply_batch) on SQLite: one
//! `BEGIN IMMEDIATE` transaction, each op under its own savepoint, so a refused op's
//! first statements (a wallet row, a debit) are rolled back with it and the
//! others' are kept. One commit, hence one fsync of the WAL, for the whole batch.
//! (Round trips cost nothing here: the database is in the process.)

use super::SqliteStore;
use super::writes::under_savepoint;
use crate::store::common::store_error;
use crate::store::{BatchResult, WriteOp};

/// See the module docs.
pub(super) async fn apply_batch(store: &SqliteStore, ops: &[WriteOp]) -> BatchResult {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = store.begin_write().await?;
    let mut results = Vec::with_capacity(ops.len());
    for op in ops {
        results.push(under_savepoint(&mut tx, op).await?);
    }
    tx.commit().await.map_err(store_error)?;
    Ok(results)
}
