//! Writing new tokens' rows: one insert per batch, and each row on its own, retried,
//! when a batch fails (a lost reply, a store out of reach).

use std::time::Duration;

use crate::store::{Store, StoreError, TokenRow};

/// How many times, and how far apart, a token insert is tried while the store is out
/// of reach (about 30 s in all; the joins waiting for it time out long before).
const INSERT_TRIES: u32 = 30;
const INSERT_PAUSE: Duration = Duration::from_secs(1);

/// Writes a batch of new tokens' rows as one insert; if that fails, each row on its
/// own (concurrently, so the retries of [`write_token`] overlap and stay within its
/// bound): one bad row, or a commit whose reply was lost, must not fail the others.
pub(super) async fn write_batch(store: &dyn Store, rows: &[TokenRow]) -> Vec<Result<(), StoreError>> {
    if rows.len() > 1 && store.insert_tokens(rows).await.is_ok() {
        return vec![Ok(()); rows.len()];
    }
    futures::future::join_all(rows.iter().map(|row| write_token(store, row))).await
}

/// Writes a new token's row. `Unavailable` may mean the connection broke after the
/// commit, so the store is asked whether the row exists; if it does not, the insert is
/// tried again. Giving up on a row that exists would leave a ghost that blocks its
/// user's next join; giving up on one still being retried would answer a join made
/// after the store came back with 503.
async fn write_token(store: &dyn Store, row: &TokenRow) -> Result<(), StoreError> {
    let mut last_error = String::new();
    for attempt in 0..INSERT_TRIES {
        if attempt > 0 {
            tokio::time::sleep(INSERT_PAUSE).await;
        }
        match store.insert_tokens(std::slice::from_ref(row)).await {
            Ok(()) => return Ok(()),
            // A retry that finds its own row (the first try committed unseen).
            Err(StoreError::Conflict(error)) => {
                return match store.token(row.token).await {
                    Ok(Some(_)) => Ok(()),
                    _ => Err(StoreError::Conflict(error)),
                };
            }
            Err(StoreError::Unavailable(error)) => {
                if let Ok(Some(_)) = store.token(row.token).await {
                    return Ok(());
                }
                last_error = error;
            }
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Unavailable(last_error))
}
