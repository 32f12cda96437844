//! [`Store`] on PostgreSQL (production).
//!
//! Each method is one statement or one transaction. Constraint violations are
//! mapped per call to what they mean there (a unique violation is a taken seat in
//! [`Store::insert_hold`], a conflict in [`Store::commit_payment`]); everything else
//! goes through `common::store_error`. Row decoding is shared with SQLite (`common.rs`).
//! The writes live in `postgres/writes.rs` (reservations, wallets, payments) and
//! `postgres/tokens.rs` (the waiting room's tokens), as functions on a connection
//! that the single-op methods and [`Store::apply_batch`] (`postgres/batch.rs`) share.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, Postgres};

use super::common::{
    ConcertRecord, PAYMENT_SELECT, PaymentRecord, RESERVATION_COLUMNS, ReservationRecord,
    SessionRecord, migrate_error, pool_options, rows, session_error, store_error,
};
use super::{
    Catalog, ConcertRow, Limits, NewHold, NewPayment, NewSession, PaymentRow, PoolSettings,
    ReservationRow, ReservationStatus, SessionRow, Store, StoreError, TokenRow, TokenState,
    WriteOp, WriteOutcome,
};
use crate::domain::{
    ChargeAmount, ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId, SessionId,
    UserId,
};

mod batch;
mod tokens;
mod writes;

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects with the production [`PoolSettings`] and runs `migrations/postgres`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// Connects with these pool settings and runs `migrations/postgres`.
    pub async fn connect_with(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = Self::connect_options(url, settings.statement_timeout)?;
        let pool = pool_options(&settings)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        Ok(Self { pool })
    }

    /// How every connection to `url` is opened: the pool's, and `concert check`'s own.
    pub(crate) fn connect_options(
        url: &str,
        statement_timeout: Option<Duration>,
    ) -> Result<PgConnectOptions, StoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad Postgres URL: {e}")))?;
        if let Some(timeout) = statement_timeout {
            let millis = timeout.as_millis().to_string();
            options = options.options([("statement_timeout", millis)]);
        }
        Ok(options)
    }

    /// A pooled connection, for a write of one statement: it runs without a
    /// transaction of its own (the statement is one), saving a BEGIN and a COMMIT.
    async fn connection(&self) -> Result<PoolConnection<Postgres>, StoreError> {
        self.pool.acquire().await.map_err(store_error)
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError> {
        let record: ConcertRecord =
            sqlx::query_as("INSERT INTO concerts (title) VALUES ($1) RETURNING id, title")
                .bind(title.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
        record.try_into()
    }

    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError> {
        let seat_count = i32::try_from(session.seat_count.0)
            .map_err(|_| StoreError::Conflict("seat count out of range".into()))?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let record: SessionRecord = sqlx::query_as(
            "INSERT INTO sessions (concert_id, date, seat_count, price) VALUES ($1, $2, $3, $4) \
             RETURNING id, concert_id, date, seat_count, price",
        )
        .bind(session.concert_id.0)
        .bind(session.date)
        .bind(seat_count)
        .bind(session.price.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(session_error)?;
        sqlx::query(
            "INSERT INTO seats (session_id, seat_number) \
             SELECT $1, n FROM generate_series(1, $2::integer) AS n",
        )
        .bind(record.id)
        .bind(seat_count)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        record.try_into()
    }

    async fn catalog(&self) -> Result<Catalog, StoreError> {
        // Sessions first: every session read has its concert committed before it,
        // so the concerts read afterwards include it even without a transaction.
        let sessions: Vec<SessionRecord> = sqlx::query_as(
            "SELECT id, concert_id, date, seat_count, price FROM sessions ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let concerts: Vec<ConcertRecord> =
            sqlx::query_as("SELECT id, title FROM concerts ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(Catalog {
            concerts: rows(concerts)?,
            sessions: rows(sessions)?,
        })
    }

    async fn record_limits(
        &self,
        limits: &Limits,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        super::limits::record(&self.pool, limits, started_at).await
    }

    async fn live_reservations(
        &self,
        session: SessionId,
    ) -> Result<Vec<ReservationRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations \
             WHERE session_id = $1 AND status IN ('held', 'paid') ORDER BY seat_number"
        ));
        let records: Vec<ReservationRecord> = sqlx::query_as(sql)
            .bind(session.0)
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows(records)
    }

    async fn insert_hold(&self, hold: &NewHold) -> Result<ReservationRow, StoreError> {
        writes::insert_hold(&mut *self.connection().await?, hold).await
    }

    async fn end_hold(
        &self,
        id: ReservationId,
        status: ReservationStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        writes::end_hold(&mut *self.connection().await?, id, status, at).await
    }

    async fn reservation(&self, id: ReservationId) -> Result<Option<ReservationRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE id = $1"
        ));
        let record: Option<ReservationRecord> = sqlx::query_as(sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        record.map(ReservationRow::try_from).transpose()
    }

    async fn balance(&self, user: &UserId) -> Result<Points, StoreError> {
        let balance: Option<i64> =
            sqlx::query_scalar("SELECT balance FROM wallets WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(Points(balance.unwrap_or(0)))
    }

    async fn charge(
        &self,
        user: &UserId,
        amount: ChargeAmount,
        at: DateTime<Utc>,
    ) -> Result<Points, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let balance = writes::charge(&mut tx, user, amount, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(balance)
    }

    async fn commit_payment(&self, payment: &NewPayment) -> Result<PaymentRow, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let paid = writes::commit_payment(&mut tx, payment).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(paid)
    }

    async fn payment_by_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{PAYMENT_SELECT}p.user_id = $1 AND p.idempotency_key = $2"
        ));
        let record: Option<PaymentRecord> = sqlx::query_as(sql)
            .bind(user.as_str())
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        record.map(PaymentRow::try_from).transpose()
    }

    async fn payment_for_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Option<PaymentRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{PAYMENT_SELECT}p.reservation_id = $1"));
        let record: Option<PaymentRecord> = sqlx::query_as(sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        record.map(PaymentRow::try_from).transpose()
    }

    // ---- waiting room: see tokens.rs ----

    async fn insert_tokens(&self, tokens: &[TokenRow]) -> Result<(), StoreError> {
        let rows: Vec<&TokenRow> = tokens.iter().collect();
        tokens::insert(&mut *self.connection().await?, &rows).await
    }

    async fn admit_tokens(
        &self,
        tokens: &[QueueToken],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokens::admit(&mut *self.connection().await?, tokens, at).await
    }

    async fn end_tokens(
        &self,
        tokens: &[QueueToken],
        state: TokenState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokens::end(&mut *self.connection().await?, tokens, state, at).await
    }

    async fn live_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        tokens::live(&self.pool).await
    }

    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError> {
        tokens::get(&self.pool, token).await
    }

    async fn max_token_seq(&self) -> Result<i64, StoreError> {
        tokens::max_seq(&self.pool).await
    }

    // ---- group commit: see batch.rs ----

    async fn apply_batch(
        &self,
        ops: &[WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
        batch::apply_batch(&self.pool, ops).await
    }
}
