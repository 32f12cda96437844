//! The waiting room's tokens on PostgreSQL: tokens travel as binary `uuid`s (16
//! bytes each, nothing to parse; reading a million tokens as text cost ~0.35 s of a
//! restart), and batches as arrays (one statement, all or none, no bind-parameter
//! limit). The statements that update tokens are shared (`sql/writes.rs`); this is
//! what they bind.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::domain::{QueueToken, RoomId};
use crate::store::common::{micros, token_error};
use crate::store::{StoreError, TokenRow};

/// How a token is bound and read back.
pub(super) type Key = Uuid;

/// A token as bound.
pub(super) fn key(token: QueueToken) -> Key {
    token.0
}

/// Matches the tokens [`list`] binds as `$1`.
pub(super) const IN_LIST: &str = "token = ANY($1::uuid[])";

/// Many tokens as one parameter: an array of `uuid`s.
pub(super) fn list(tokens: &[QueueToken]) -> Vec<Key> {
    tokens.iter().copied().map(key).collect()
}

/// [`Store::max_token_seq`](crate::store::Store::max_token_seq).
pub(super) const MAX_SEQ: &str =
    "SELECT COALESCE(MAX(seq), 0)::bigint FROM queue_tokens WHERE room_id = $1";

/// Run in the transaction that reads a room's live tokens at start, before the read.
/// - `enable_sort = off`: the live-by-seq index already yields the rows in `seq`
///   order, but without statistics (autovacuum off or not run yet since the burst)
///   the planner guesses a few dozen rows, takes a bitmap scan and sorts a million
///   rows (80 MB, on disk past `work_mem`): 0.85-3.4 s in Postgres at 1,000,000
///   tokens against 0.21-0.7 s for the ordered index scan (EXPLAIN ANALYZE;
///   docs/performance.md, "Restart").
/// - `statement_timeout`: the pool's 5 s guards the request path; this one read of
///   the whole line may take longer on a busy machine, and killing it fails the start.
pub(super) const LIVE_READ_SETTINGS: &[&str] = &[
    "SET LOCAL enable_sort = off",
    "SET LOCAL statement_timeout = '120s'",
];

/// [`Store::insert_tokens`](crate::store::Store::insert_tokens): one statement.
pub(super) async fn insert(
    conn: &mut PgConnection,
    tokens: &[&TokenRow],
) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.token.0).collect();
    let users: Vec<&str> = tokens.iter().map(|t| t.user_id.as_str()).collect();
    let rooms: Vec<i64> = tokens.iter().map(|t| t.room.as_i64()).collect();
    let seqs: Vec<i64> = tokens.iter().map(|t| t.seq).collect();
    let states: Vec<&str> = tokens.iter().map(|t| t.state.as_str()).collect();
    let issued: Vec<DateTime<Utc>> = tokens.iter().map(|t| micros(t.issued_at)).collect();
    let admitted: Vec<Option<DateTime<Utc>>> =
        tokens.iter().map(|t| t.admitted_at.map(micros)).collect();
    sqlx::query(
        "INSERT INTO queue_tokens (token, user_id, room_id, seq, state, issued_at, admitted_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::int8[], $5::text[], \
                              $6::timestamptz[], $7::timestamptz[])",
    )
    .bind(ids)
    .bind(users)
    .bind(rooms)
    .bind(seqs)
    .bind(states)
    .bind(issued)
    .bind(admitted)
    .execute(&mut *conn)
    .await
    .map_err(token_error)?;
    Ok(())
}

/// The renumbering of a draw ([`Store::draw_room`](crate::store::Store::draw_room)):
/// one statement, the tokens and their new seqs as two arrays. Answers how many
/// waiting tokens of `room` it renumbered (a token named twice counts once).
pub(super) async fn draw(
    conn: &mut PgConnection,
    room: RoomId,
    drawn: &[(QueueToken, i64)],
) -> Result<u64, StoreError> {
    if drawn.is_empty() {
        return Ok(0);
    }
    let (ids, seqs): (Vec<Uuid>, Vec<i64>) = drawn.iter().map(|(t, seq)| (t.0, *seq)).unzip();
    let done = sqlx::query(
        "UPDATE queue_tokens q SET seq = v.seq \
         FROM UNNEST($1::uuid[], $2::int8[]) AS v (token, seq) \
         WHERE q.token = v.token AND q.room_id = $3 AND q.state = 'waiting'",
    )
    .bind(ids)
    .bind(seqs)
    .bind(room.as_i64())
    .execute(&mut *conn)
    .await
    .map_err(token_error)?;
    Ok(done.rows_affected())
}
