//! The updates of queue tokens: admissions and evictions with their room's durable
//! counter, ends, and pruning. Compiled once per backend, as `sql/writes.rs` (whose
//! dispatch calls these): `super` is `postgres` or `sqlite`.

use chrono::{DateTime, Utc};

use super::{Db, tokens};
use crate::domain::{QueueToken, RoomId};
use crate::store::common::{ended_state, micros, store_error};
use crate::store::{StoreError, TokenState};

/// A connection of this backend (a transaction or a savepoint derefs to one).
type Conn = <Db as sqlx::Database>::Connection;

/// [`Store::admit_tokens`](crate::store::Store::admit_tokens): the tokens (bound as
/// one parameter, `tokens::IN_LIST`), then the room's counter by the rows that
/// changed, inside the caller's transaction (see `needs_transaction`).
pub(super) async fn admit(
    conn: &mut Conn,
    room: RoomId,
    tokens: &[QueueToken],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE queue_tokens SET state = 'admitted', admitted_at = $2 \
         WHERE {} AND room_id = $3 AND state = 'waiting'",
        tokens::IN_LIST
    ));
    let done = sqlx::query(sql)
        .bind(tokens::list(tokens))
        .bind(micros(at))
        .bind(room.as_i64())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    count(conn, room, "admitted_total", done.rows_affected()).await
}

/// [`Store::end_tokens`](crate::store::Store::end_tokens): one statement, and for
/// evictions the room's counter, inside the caller's transaction.
pub(super) async fn end(
    conn: &mut Conn,
    room: RoomId,
    tokens: &[QueueToken],
    state: TokenState,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let state_text = ended_state(state)?;
    if tokens.is_empty() {
        return Ok(());
    }
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE queue_tokens SET state = $2, ended_at = $3 \
         WHERE {} AND room_id = $4 AND state IN ('waiting', 'admitted')",
        tokens::IN_LIST
    ));
    let done = sqlx::query(sql)
        .bind(tokens::list(tokens))
        .bind(state_text)
        .bind(micros(at))
        .bind(room.as_i64())
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    match state {
        TokenState::Evicted => count(conn, room, "evicted_total", done.rows_affected()).await,
        _ => Ok(()),
    }
}

/// Adds `n` to one of the room's counters (`admitted_total`, `evicted_total`). A
/// room with no row counts nothing: the engine writes a room's row before any of
/// its tokens, so only data older than rooms (or a test's bare tokens) lacks one.
async fn count(
    conn: &mut Conn,
    room: RoomId,
    column: &'static str,
    n: u64,
) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let n = i64::try_from(n).map_err(|_| StoreError::Conflict("count out of range".into()))?;
    let sql = sqlx::AssertSqlSafe(format!(
        "UPDATE rooms SET {column} = {column} + $2 WHERE room_id = $1"
    ));
    sqlx::query(sql)
        .bind(room.as_i64())
        .bind(n)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// [`Store::prune_tokens`](crate::store::Store::prune_tokens): one bounded statement.
/// The subquery picks the batch through the `queue_tokens_ended` index (migration
/// 0004), so a batch costs its own rows, not a scan of every token ever issued.
pub(super) async fn prune(
    conn: &mut Conn,
    ended_before: DateTime<Utc>,
    limit: u32,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM queue_tokens WHERE token IN ( \
           SELECT token FROM queue_tokens \
           WHERE state IN ('expired', 'evicted') AND ended_at < $1 \
           ORDER BY ended_at LIMIT $2)",
    )
    .bind(micros(ended_before))
    .bind(i64::from(limit))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(done.rows_affected())
}
