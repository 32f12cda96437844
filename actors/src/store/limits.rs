//! The limits an engine starts with, recorded so that `concert check` judges each
//! hold and admission by the limits in force when it was made (see
//! `invariants::limits`). One statement, the same on both backends.

use chrono::{DateTime, Utc};

use super::StoreError;
use super::common::{micros, store_error};

/// The configured limits the data must respect: what `CONCERT_MAX_ACTIVE` and
/// `CONCERT_MAX_HOLDS_PER_USER` were when a hold or an admission was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `CONCERT_MAX_ACTIVE`: admitted tokens at once.
    pub max_active: u64,
    /// `CONCERT_MAX_HOLDS_PER_USER`: live holds per user per session.
    pub max_holds_per_user: u64,
}

impl Default for Limits {
    /// The contract's defaults (100 admitted, 4 holds).
    fn default() -> Self {
        Self {
            max_active: 100,
            max_holds_per_user: 4,
        }
    }
}

/// [`Store::record_limits`](super::Store::record_limits) on either backend.
pub(super) async fn record<'c, DB, E>(
    executor: E,
    limits: &Limits,
    started_at: DateTime<Utc>,
) -> Result<(), StoreError>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'c, Database = DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DateTime<Utc>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
{
    // A limit beyond i64 is no limit: the largest the column holds says as much.
    let column = |limit: u64| i64::try_from(limit).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO engine_limits (max_active, max_holds_per_user, started_at) \
         VALUES ($1, $2, $3)",
    )
    .bind(column(limits.max_active))
    .bind(column(limits.max_holds_per_user))
    .bind(micros(started_at))
    .execute(executor)
    .await
    .map_err(store_error)?;
    Ok(())
}
