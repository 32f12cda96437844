//! The waiting room's tokens on SQLite: new tokens go in as multi-row `INSERT`s
//! in one transaction; updates take the tokens as one JSON array (`json_each`).
//! The writes take a connection, so that a group-commit batch runs them inside its
//! transaction (`writes.rs`).

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePool};

use crate::domain::QueueToken;
use crate::store::common::{
    TokenRecord, ended_state, micros, rows, store_error, token_error, token_text,
};
use crate::store::{StoreError, TokenRow, TokenState};

const TOKEN_COLUMNS: &str = "token, user_id, seq, state, issued_at, admitted_at";

/// Rows per `INSERT`: 6 parameters each, far below SQLite's limit of 32766.
const TOKENS_PER_INSERT: usize = 1000;

/// [`Store::insert_tokens`](crate::store::Store::insert_tokens): one `INSERT` per
/// [`TOKENS_PER_INSERT`] tokens, so all or none only inside the caller's write
/// transaction.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    tokens: &[TokenRow],
) -> Result<(), StoreError> {
    for chunk in tokens.chunks(TOKENS_PER_INSERT) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at, admitted_at) ",
        );
        insert.push_values(chunk, |mut row, t| {
            row.push_bind(token_text(t.token))
                .push_bind(t.user_id.to_string())
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

/// [`Store::admit_tokens`](crate::store::Store::admit_tokens).
pub(super) async fn admit(
    conn: &mut SqliteConnection,
    tokens: &[QueueToken],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    // The tokens travel as one JSON array: one parameter, whatever their number.
    sqlx::query(
        "UPDATE queue_tokens SET state = 'admitted', admitted_at = $2 \
         WHERE token IN (SELECT value FROM json_each($1)) AND state = 'waiting'",
    )
    .bind(token_array(tokens))
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// [`Store::end_tokens`](crate::store::Store::end_tokens).
pub(super) async fn end(
    conn: &mut SqliteConnection,
    tokens: &[QueueToken],
    state: TokenState,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let state = ended_state(state)?;
    if tokens.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE queue_tokens SET state = $2, ended_at = $3 \
         WHERE token IN (SELECT value FROM json_each($1)) AND state IN ('waiting', 'admitted')",
    )
    .bind(token_array(tokens))
    .bind(state)
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// [`Store::live_tokens`](crate::store::Store::live_tokens).
pub(super) async fn live(pool: &SqlitePool) -> Result<Vec<TokenRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM queue_tokens \
         WHERE state IN ('waiting', 'admitted') ORDER BY seq"
    ));
    let records: Vec<TokenRecord> = sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .map_err(store_error)?;
    rows(records)
}

/// [`Store::token`](crate::store::Store::token).
pub(super) async fn get(
    pool: &SqlitePool,
    token: QueueToken,
) -> Result<Option<TokenRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM queue_tokens WHERE token = $1"
    ));
    let record: Option<TokenRecord> = sqlx::query_as(sql)
        .bind(token_text(token))
        .fetch_optional(pool)
        .await
        .map_err(store_error)?;
    record.map(TokenRow::try_from).transpose()
}

/// [`Store::max_token_seq`](crate::store::Store::max_token_seq).
pub(super) async fn max_seq(pool: &SqlitePool) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM queue_tokens")
        .fetch_one(pool)
        .await
        .map_err(store_error)
}

/// Tokens as a JSON array of their text, for `json_each`.
fn token_array(tokens: &[QueueToken]) -> String {
    let texts: Vec<String> = tokens.iter().copied().map(token_text).collect();
    serde_json::Value::from(texts).to_string()
}
