//! [`Store`] on SQLite (the embedded default).
//!
//! The same statements as on Postgres, with SQLite's differences: write
//! transactions start with `BEGIN IMMEDIATE` (they take the write lock before
//! reading, so a read-then-write transaction never fails on a stale snapshot),
//! instants and dates are text (sqlx writes RFC 3339 and `YYYY-MM-DD`, what the
//! schema's CHECKs expect), and tokens are text. The file is opened in WAL mode
//! with `synchronous = FULL`, so a committed call survives a power cut. Row
//! decoding is shared with Postgres (`common.rs`); the waiting room's tokens are in
//! `sqlite/tokens.rs`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Transaction;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous,
};

use super::common::{
    ConcertRecord, PAYMENT_SELECT, PaymentRecord, RESERVATION_COLUMNS, ReservationRecord,
    SessionRecord, check_payable, ended_status, hold_error, micros, migrate_error, payment_error,
    pool_options, rows, seat_int, session_error, store_error,
};
use super::{
    Catalog, ConcertRow, NewHold, NewPayment, NewSession, PaymentRow, PoolSettings, ReservationRow,
    ReservationStatus, SessionRow, Store, StoreError, TokenRow, TokenState,
};
use crate::domain::{
    ChargeAmount, ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId, SessionId,
    UserId,
};

mod tokens;

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
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("bad SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
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
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO reservations \
             (session_id, seat_number, user_id, price, status, held_at, expires_at) \
             VALUES ($1, $2, $3, $4, 'held', $5, $6) RETURNING {RESERVATION_COLUMNS}"
        ));
        let record: ReservationRecord = sqlx::query_as(sql)
            .bind(hold.session_id.0)
            .bind(seat_int(hold.seat_number)?)
            .bind(hold.user_id.as_str())
            .bind(hold.price.0)
            .bind(micros(hold.held_at))
            .bind(micros(hold.expires_at))
            .fetch_one(&self.pool)
            .await
            .map_err(hold_error)?;
        record.try_into()
    }

    async fn end_hold(
        &self,
        id: ReservationId,
        status: ReservationStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let status = ended_status(status)?;
        let done = sqlx::query(
            "UPDATE reservations SET status = $2, ended_at = $3 WHERE id = $1 AND status = 'held'",
        )
        .bind(id.0)
        .bind(status)
        .bind(micros(at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(done.rows_affected() == 1)
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
        let balance: i64 = sqlx::query_scalar(
            "INSERT INTO wallets (user_id, balance) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET balance = wallets.balance + excluded.balance \
             RETURNING balance",
        )
        .bind(user.as_str())
        .bind(amount.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        sqlx::query(
            "INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ($1, 'charge', $2, $3)",
        )
        .bind(user.as_str())
        .bind(amount.0)
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(Points(balance))
    }

    async fn commit_payment(&self, payment: &NewPayment) -> Result<PaymentRow, StoreError> {
        let user = payment.user_id.as_str();
        let amount = payment.amount.0;
        // The write lock, taken up front, serialises this with every other payment.
        let mut tx = begin_write(&self.pool).await?;

        let held: Option<(String, String, i64)> =
            sqlx::query_as("SELECT user_id, status, price FROM reservations WHERE id = $1")
                .bind(payment.reservation_id.0)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        check_payable(held, payment)?;

        // A user who never charged has a balance of 0: enough for a free seat.
        sqlx::query("INSERT INTO wallets (user_id, balance) VALUES ($1, 0) ON CONFLICT DO NOTHING")
            .bind(user)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let balance_after: Option<i64> = sqlx::query_scalar(
            "UPDATE wallets SET balance = balance - $2 WHERE user_id = $1 AND balance >= $2 \
             RETURNING balance",
        )
        .bind(user)
        .bind(amount)
        .fetch_optional(&mut *tx)
        .await
        .map_err(payment_error)?;
        let Some(balance_after) = balance_after else {
            return Err(StoreError::InsufficientBalance);
        };

        let paid_at = micros(payment.paid_at);
        let payment_id: i64 = sqlx::query_scalar(
            "INSERT INTO payments \
             (reservation_id, user_id, amount, balance_after, idempotency_key, paid_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(payment.reservation_id.0)
        .bind(user)
        .bind(amount)
        .bind(balance_after)
        .bind(payment.idempotency_key.as_ref().map(IdempotencyKey::as_str))
        .bind(paid_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(payment_error)?;
        sqlx::query(
            "INSERT INTO ledger (user_id, kind, amount, payment_id, created_at) \
             VALUES ($1, 'payment', $2, $3, $4)",
        )
        .bind(user)
        .bind(-amount)
        .bind(payment_id)
        .bind(paid_at)
        .execute(&mut *tx)
        .await
        .map_err(payment_error)?;
        sqlx::query("UPDATE reservations SET status = 'paid' WHERE id = $1 AND status = 'held'")
            .bind(payment.reservation_id.0)
            .execute(&mut *tx)
            .await
            .map_err(payment_error)?;

        let sql = sqlx::AssertSqlSafe(format!("{PAYMENT_SELECT}p.id = $1"));
        let record: PaymentRecord = sqlx::query_as(sql)
            .bind(payment_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        record.try_into()
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
        tokens::insert(&self.pool, tokens).await
    }

    async fn admit_tokens(
        &self,
        tokens: &[QueueToken],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokens::admit(&self.pool, tokens, at).await
    }

    async fn end_tokens(
        &self,
        tokens: &[QueueToken],
        state: TokenState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        tokens::end(&self.pool, tokens, state, at).await
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
}

/// A write transaction: takes the database's write lock up front.
async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)
}
