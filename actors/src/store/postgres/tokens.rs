//! The waiting room's tokens on PostgreSQL: batches travel as arrays (one
//! statement, all or none, no bind-parameter limit), tokens as binary `uuid`s. The writes take a connection,
//! so that a group-commit batch runs them inside its transaction (`writes.rs`).

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgPool};
use uuid::Uuid;

use crate::domain::QueueToken;
use crate::store::common::{TokenRecord, ended_state, micros, rows, store_error, token_error};
use crate::store::{StoreError, TokenRow, TokenState};

const TOKEN_COLUMNS: &str = "token, user_id, seq, state, issued_at, admitted_at";

/// [`Store::insert_tokens`](crate::store::Store::insert_tokens).
pub(super) async fn insert(
    conn: &mut PgConnection,
    tokens: &[&TokenRow],
) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = tokens.iter().map(|t| t.token.0).collect();
    let users: Vec<&str> = tokens.iter().map(|t| t.user_id.as_str()).collect();
    let seqs: Vec<i64> = tokens.iter().map(|t| t.seq).collect();
    let states: Vec<&str> = tokens.iter().map(|t| t.state.as_str()).collect();
    let issued: Vec<DateTime<Utc>> = tokens.iter().map(|t| micros(t.issued_at)).collect();
    let admitted: Vec<Option<DateTime<Utc>>> =
        tokens.iter().map(|t| t.admitted_at.map(micros)).collect();
    sqlx::query(
        "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at, admitted_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int8[], $4::text[], \
                              $5::timestamptz[], $6::timestamptz[])",
    )
    .bind(ids)
    .bind(users)
    .bind(seqs)
    .bind(states)
    .bind(issued)
    .bind(admitted)
    .execute(&mut *conn)
    .await
    .map_err(token_error)?;
    Ok(())
}

/// [`Store::admit_tokens`](crate::store::Store::admit_tokens).
pub(super) async fn admit(
    conn: &mut PgConnection,
    tokens: &[QueueToken],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    if tokens.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE queue_tokens SET state = 'admitted', admitted_at = $2 \
         WHERE token = ANY($1::uuid[]) AND state = 'waiting'",
    )
    .bind(uuids(tokens))
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// [`Store::end_tokens`](crate::store::Store::end_tokens).
pub(super) async fn end(
    conn: &mut PgConnection,
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
         WHERE token = ANY($1::uuid[]) AND state IN ('waiting', 'admitted')",
    )
    .bind(uuids(tokens))
    .bind(state)
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// [`Store::live_tokens`](crate::store::Store::live_tokens).
pub(super) async fn live(pool: &PgPool) -> Result<Vec<TokenRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM queue_tokens \
         WHERE state IN ('waiting', 'admitted') ORDER BY seq"
    ));
    let records: Vec<TokenRecord<Uuid>> = sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .map_err(store_error)?;
    rows(records)
}

/// [`Store::token`](crate::store::Store::token).
pub(super) async fn get(pool: &PgPool, token: QueueToken) -> Result<Option<TokenRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {TOKEN_COLUMNS} FROM queue_tokens WHERE token = $1"
    ));
    let record: Option<TokenRecord<Uuid>> = sqlx::query_as(sql)
        .bind(token.0)
        .fetch_optional(pool)
        .await
        .map_err(store_error)?;
    record.map(TokenRow::try_from).transpose()
}

/// Tokens as Postgres `uuid`s: sent binary, 16 bytes each, with nothing to parse.
fn uuids(tokens: &[QueueToken]) -> Vec<Uuid> {
    tokens.iter().map(|token| token.0).collect()
}

/// [`Store::max_token_seq`](crate::store::Store::max_token_seq).
pub(super) async fn max_seq(pool: &PgPool) -> Result<i64, StoreError> {
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0)::bigint FROM queue_tokens")
        .fetch_one(pool)
        .await
        .map_err(store_error)
}
