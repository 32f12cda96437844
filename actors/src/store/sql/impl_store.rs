//! [`Store`] on a SQL backend. Compiled once per backend (see the store's module
//! docs): `super` is `postgres` or `sqlite`, `SqlStore` its store, and the names
//! it imports from there are what differs between the two.
//!
//! Each method is one statement or one transaction. Constraint violations are
//! mapped per call to what they mean there (a unique violation is a taken seat in
//! a hold, a conflict in a payment); everything else goes through
//! `common::store_error`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sqlx::pool::PoolConnection;

use super::{
    Db, MIGRATOR, NAME, SEATS, SqlStore, batch, rooms, tokens, writes,
};
use crate::domain::{
    ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId, RoomId, SessionId, UserId,
};
use crate::store::common::{
    ConcertRecord, PAYMENT_SELECT, PaymentRecord, RESERVATION_COLUMNS, ReservationRecord,
    SessionRecord, TokenRecord, keyed_charge, micros, migrate_error, pool_options, rows,
    session_error, store_error,
};
use crate::store::{
    BatchResult, Catalog, ChargeKey, ConcertRow, KeyedChargeRow, Limits, NewSession, PaymentRow,
    PoolSettings, ReservationRow, RoomRow, SessionRow, Store, StoreError, TokenRow, WriteOp,
    WriteOutcome,
};

/// How this backend is told where and how to connect.
type ConnectOptions = <<Db as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// The columns of a [`TokenRecord`].
const TOKEN_COLUMNS: &str = "token, user_id, room_id, seq, state, issued_at, admitted_at";

impl SqlStore {
    /// Opens a pool with these settings and brings the schema up to date
    /// (`migrations/<backend>`).
    pub(super) async fn open(
        options: ConnectOptions,
        settings: &PoolSettings,
    ) -> Result<Self, StoreError> {
        let pool = pool_options(settings)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        MIGRATOR.run(&pool).await.map_err(migrate_error)?;
        Ok(Self::on(pool))
    }

    /// A pooled connection, for a write of one statement: it runs without a
    /// transaction of its own (the database commits a lone statement as it ends,
    /// all of it or none), saving a `BEGIN` and a `COMMIT`.
    async fn connection(&self) -> Result<PoolConnection<Db>, StoreError> {
        self.pool.acquire().await.map_err(store_error)
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        NAME
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError> {
        // In a write transaction, as every write, so a fenced store checks its fence
        // (an admin call: the `BEGIN` and `COMMIT` cost nothing that matters).
        let mut tx = self.begin_write().await?;
        let record: ConcertRecord =
            sqlx::query_as("INSERT INTO concerts (title) VALUES ($1) RETURNING id, title")
                .bind(title.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        record.try_into()
    }

    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError> {
        let seat_count = i32::try_from(session.seat_count.0)
            .map_err(|_| StoreError::Conflict("seat count out of range".into()))?;
        let mut tx = self.begin_write().await?;
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
        sqlx::query(SEATS)
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
        // A limit beyond i64 is no limit: the largest the column holds says as much.
        let column = |limit: u64| i64::try_from(limit).unwrap_or(i64::MAX);
        // Once per start, in a write transaction so a fenced store checks its fence.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO engine_limits (max_active, max_holds_per_user, started_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(column(limits.max_active))
        .bind(column(limits.max_holds_per_user))
        .bind(micros(started_at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)
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

    async fn charge_by_key(
        &self,
        user: &UserId,
        key: &ChargeKey,
    ) -> Result<Option<KeyedChargeRow>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT amount, balance_after FROM keyed_charges \
             WHERE user_id = $1 AND source = $2 AND idempotency_key = $3",
        )
        .bind(user.as_str())
        .bind(key.source.as_str())
        .bind(key.key.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(keyed_charge).transpose()
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

    async fn live_tokens(&self, room: RoomId) -> Result<Vec<TokenRow>, StoreError> {
        // The live-by-seq index (room_id, seq) serves both the filter and the order;
        // the backend's settings make sure the planner uses it so.
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM queue_tokens \
             WHERE room_id = $1 AND state IN ('waiting', 'admitted') ORDER BY seq"
        ));
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        for setting in tokens::LIVE_READ_SETTINGS {
            sqlx::query(*setting)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        // Each record becomes a row as it arrives: no second copy of the whole line
        // (a million records are ~110 MB of fresh pages, and zeroing fresh pages was
        // a third of a restart's CPU in `perf`).
        let mut live = Vec::new();
        {
            let mut records = sqlx::query_as::<_, TokenRecord<tokens::Key>>(sql)
                .bind(room.as_i64())
                .fetch(&mut *tx);
            while let Some(record) = records.try_next().await.map_err(store_error)? {
                live.push(TokenRow::try_from(record)?);
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(live)
    }

    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM queue_tokens WHERE token = $1"
        ));
        let record: Option<TokenRecord<tokens::Key>> = sqlx::query_as(sql)
            .bind(tokens::key(token))
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        record.map(TokenRow::try_from).transpose()
    }

    async fn max_token_seq(&self, room: RoomId) -> Result<i64, StoreError> {
        sqlx::query_scalar(tokens::MAX_SEQ)
            .bind(room.as_i64())
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)
    }

    async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        rooms::all(&self.pool).await
    }

    async fn room(&self, room: RoomId) -> Result<Option<RoomRow>, StoreError> {
        rooms::one(&self.pool, room).await
    }

    async fn save_room(&self, row: &RoomRow, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        rooms::save(&mut tx, row, at).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn draw_room(
        &self,
        room: RoomId,
        drawn: &[(QueueToken, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        rooms::draw(&mut tx, room, drawn, at).await?;
        tx.commit().await.map_err(store_error)
    }

    /// A write of one statement runs on a bare connection (see [`SqlStore::connection`]);
    /// one of several in a write transaction of its own.
    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
        if !self.needs_transaction(&op) {
            return writes::apply(&mut *self.connection().await?, &op).await;
        }
        let mut tx = self.begin_write().await?;
        let outcome = writes::apply(&mut tx, &op).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(outcome)
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        batch::apply_batch(self, ops).await
    }
}
