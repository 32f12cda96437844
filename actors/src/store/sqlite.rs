//! [`Store`] on SQLite (the embedded default).
//!
//! The same statements as on Postgres, with SQLite's differences: write
//! transactions start with `BEGIN IMMEDIATE` (they take the write lock before
//! reading, so a read-then-write transaction never fails on a stale snapshot),
//! instants and dates are text (sqlx writes RFC 3339 and `YYYY-MM-DD`, what the
//! schema's CHECKs expect), and tokens are text. The file is opened in WAL mode
//! with `synchronous = FULL`, so a committed call survives a power cut. Row
//! decoding is shared with Postgres (`common.rs`). The writes live in
//! `sqlite/writes.rs` (reservations, wallets, payments, and [`Store::apply_batch`])
//! and `sqlite/tokens.rs` (the waiting room's tokens), as functions on a connection
//! that the single-op methods and the batch share.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Transaction;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous,
};

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

mod tokens;
mod writes;

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Connects with a small pool (4 connections, production timeouts), creating
    /// the file if missing, and runs `migrations/sqlite`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let settings = PoolSettings {
            max_connections: 4,
            ..PoolSettings::default()
        };
        Self::connect_with(url, settings).await
    }

    /// Connects with these pool settings and runs `migrations/sqlite`.
    /// `statement_timeout` does not apply; a locked database is waited on for 5 s.
    /// An in-memory database (`sqlite::memory:`) gets one connection that is never
    /// closed, since the database lives only as long as a connection to it.
    pub async fn connect_with(url: &str, mut settings: PoolSettings) -> Result<Self, StoreError> {
        let options = Self::connect_options(url)?.create_if_missing(true);
        if url.contains(":memory:") || url.contains("mode=memory") {
            settings.max_connections = 1;
            settings.idle_timeout = None;
            settings.max_lifetime = None;
        }
        let pool = pool_options(&settings)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        Ok(Self { pool })
    }

    /// How every connection to `url` is opened (the pool's, and `concert check`'s
    /// own), except whether a missing file is created: the caller says.
    pub(crate) fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
        Ok(SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5)))
    }

    /// A pooled connection, for a write of one statement: SQLite runs it as its own
    /// transaction (autocommit), which needs no `BEGIN IMMEDIATE` since it reads
    /// nothing before it writes.
    async fn connection(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        self.pool.acquire().await.map_err(store_error)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
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
        let mut tx = begin_write(&self.pool).await?;
        let record: SessionRecord = sqlx::query_as(
            "INSERT INTO sessions (concert_id, date, seat_count, price) VALUES ($1, $2, $3, $4) \
             RETURNING id, concert_id, date, seat_count, price",
        )
        .bind(session.concert_id.0)
        .bind(session.date)
        .bind(i64::from(session.seat_count.0))
        .bind(session.price.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(session_error)?;
        sqlx::query(
            "WITH RECURSIVE n(seat) AS (SELECT 1 UNION ALL SELECT seat + 1 FROM n WHERE seat < $2) \
             INSERT INTO seats (session_id, seat_number) SELECT $1, seat FROM n",
        )
        .bind(record.id)
        .bind(i64::from(session.seat_count.0))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        record.try_into()
    }

    async fn catalog(&self) -> Result<Catalog, StoreError> {
        // One read transaction: a consistent snapshot of both tables.
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let concerts: Vec<ConcertRecord> =
            sqlx::query_as("SELECT id, title FROM concerts ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        let sessions: Vec<SessionRecord> = sqlx::query_as(
            "SELECT id, concert_id, date, seat_count, price FROM sessions ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
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
        let mut tx = begin_write(&self.pool).await?;
        let balance = writes::charge(&mut tx, user, amount, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(balance)
    }

    async fn commit_payment(&self, payment: &NewPayment) -> Result<PaymentRow, StoreError> {
        let mut tx = begin_write(&self.pool).await?;
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
        if tokens.is_empty() {
            return Ok(());
        }
        // Several statements for many tokens: all or none needs a transaction.
        let mut tx = begin_write(&self.pool).await?;
        tokens::insert(&mut tx, tokens).await?;
        tx.commit().await.map_err(store_error)
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

    // ---- group commit: see writes.rs ----

    async fn apply_batch(
        &self,
        ops: &[WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
        writes::apply_batch(&self.pool, ops).await
    }
}

/// A write transaction: takes the database's write lock up front.
async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)
}
