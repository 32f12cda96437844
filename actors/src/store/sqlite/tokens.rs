//! The waiting room's tokens on SQLite: tokens are text; new tokens go in as
//! multi-row `INSERT`s, and updates take the tokens as one JSON array
//! (`json_each`). The statements that update tokens are shared
//! (`sql/writes.rs`); this is what they bind.

use sqlx::QueryBuilder;
use sqlx::sqlite::{Sqlite, SqliteConnection};

use crate::domain::{QueueToken, RoomId};
use crate::store::common::{micros, token_error, token_text};
use crate::store::{StoreError, TokenRow};

/// How a token is bound and read back.
pub(super) type Key = String;

/// A token as bound.
pub(super) fn key(token: QueueToken) -> Key {
    token_text(token)
}

/// Matches the tokens [`list`] binds as `$1`.
pub(super) const IN_LIST: &str = "token IN (SELECT value FROM json_each($1))";

/// Many tokens as one parameter, whatever their number: a JSON array of their text.
pub(super) fn list(tokens: &[QueueToken]) -> String {
    let texts: Vec<Key> = tokens.iter().copied().map(key).collect();
    serde_json::Value::from(texts).to_string()
}

/// [`Store::max_token_seq`](crate::store::Store::max_token_seq).
pub(super) const MAX_SEQ: &str =
    "SELECT COALESCE(MAX(seq), 0) FROM queue_tokens WHERE room_id = $1";

/// Run before the read of a room's live tokens at start: nothing (SQLite's planner
/// reads the live-by-seq index in order; see Postgres's twin for why it has some).
pub(super) const LIVE_READ_SETTINGS: &[&str] = &[];

/// Rows per `INSERT`: 7 parameters each, far below SQLite's limit of 32766.
const TOKENS_PER_INSERT: usize = 1000;

/// [`Store::insert_tokens`](crate::store::Store::insert_tokens): one `INSERT` per
/// [`TOKENS_PER_INSERT`] tokens, so all or none only inside the caller's write
/// transaction.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    tokens: &[&TokenRow],
) -> Result<(), StoreError> {
    for chunk in tokens.chunks(TOKENS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO queue_tokens (token, user_id, room_id, seq, state, issued_at, admitted_at) ",
        );
        insert.push_values(chunk, |mut row, t| {
            row.push_bind(token_text(t.token))
                .push_bind(t.user_id.to_string())
                .push_bind(t.room.as_i64())
                .push_bind(t.seq)
                .push_bind(t.state.as_str())
                .push_bind(micros(t.issued_at))
                .push_bind(t.admitted_at.map(micros));
        });
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(token_error)?;
    }
    Ok(())
}

/// The renumbering of a draw ([`Store::draw_room`](crate::store::Store::draw_room)):
/// one statement, the tokens and their new seqs as one JSON array of pairs. Answers
/// how many waiting tokens of `room` it renumbered (a token named twice counts once).
pub(super) async fn draw(
    conn: &mut SqliteConnection,
    room: RoomId,
    drawn: &[(QueueToken, i64)],
) -> Result<u64, StoreError> {
    if drawn.is_empty() {
        return Ok(0);
    }
    let pairs: Vec<serde_json::Value> = drawn
        .iter()
        .map(|(token, seq)| serde_json::json!([key(*token), seq]))
        .collect();
    let done = sqlx::query(
        "UPDATE queue_tokens SET seq = v.seq \
         FROM (SELECT json_extract(value, '$[0]') AS token, \
                      json_extract(value, '$[1]') AS seq FROM json_each($1)) AS v \
         WHERE queue_tokens.token = v.token AND queue_tokens.room_id = $2 \
           AND queue_tokens.state = 'waiting'",
    )
    .bind(serde_json::Value::from(pairs).to_string())
    .bind(room.as_i64())
    .execute(&mut *conn)
    .await
    .map_err(token_error)?;
    Ok(done.rows_affected())
}
