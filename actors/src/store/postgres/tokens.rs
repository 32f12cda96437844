//! The waiting room's tokens on PostgreSQL: tokens travel as binary `uuid`s (16
//! bytes each, nothing to parse; reading a million tokens as text cost ~0.35 s of a
//! restart), and batches as arrays (one statement, all or none, no bind-parameter
//! limit). The statements that update tokens are shared (`sql/writes.rs`); this is
//! what they bind.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::domain::QueueToken;
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
pub(super) const MAX_SEQ: &str = "SELECT COALESCE(MAX(seq), 0)::bigint FROM queue_tokens";

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
