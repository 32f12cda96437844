//! Durable state: the one [`Store`] trait the actors write through, and its two backends.
//!
//! The actors own the truth while they run; the store owns it across restarts. Each
//! method is one transaction, so an actor that awaits a method before replying has
//! made its change durable (a 2xx means committed). The schema (see `migrations/`)
//! repeats the invariants on its own, so that even a wrong actor cannot sell a seat
//! twice, overdraw a wallet or pay a reservation twice.
//!
//! - [`postgres::PgStore`] for production,
//! - [`sqlite::SqliteStore`], the embedded default (`cargo run` needs no server);
//! - [`group_commit::GroupCommit`], a decorator over either that commits many
//!   callers' writes in shared transactions.

mod common;
pub mod group_commit;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{
    ChargeAmount, ConcertId, ConcertTitle, IdempotencyKey, PaymentId, Points, QueueToken,
    ReservationId, SeatCount, SeatNumber, SessionId, UserId,
};

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached, timed out, or failed in a way a retry may cure.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A row the call depends on does not exist (for example the concert of a new session).
    #[error("not found")]
    NotFound,
    /// The seat already has a live hold or a sale (the unique index said so).
    #[error("seat already taken")]
    SeatTaken,
    /// The wallet's balance would go below zero.
    #[error("insufficient balance")]
    InsufficientBalance,
    /// A constraint refused the write: the caller's view of the state was wrong.
    #[error("conflict: {0}")]
    Conflict(String),
}

/// A concert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertRow {
    /// Its id.
    pub id: ConcertId,
    /// Its title.
    pub title: String,
}

/// What the admin route asks for when it adds a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The concert it belongs to (must exist).
    pub concert_id: ConcertId,
    /// The day of the performance.
    pub date: NaiveDate,
    /// Seats numbered `1..=seat_count`.
    pub seat_count: SeatCount,
    /// The price of every seat of this session.
    pub price: Points,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Its id.
    pub id: SessionId,
    /// The concert it belongs to.
    pub concert_id: ConcertId,
    /// The day of the performance.
    pub date: NaiveDate,
    /// Seats numbered `1..=seat_count`.
    pub seat_count: SeatCount,
    /// The price of every seat of this session.
    pub price: Points,
}

/// Every concert and session, read once at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// All concerts, by id.
    pub concerts: Vec<ConcertRow>,
    /// All sessions, by id.
    pub sessions: Vec<SessionRow>,
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// A live hold: the seat is taken until `expires_at` unless paid.
    Held,
    /// Paid: the seat is sold.
    Paid,
    /// The hold ran out unpaid; the seat is free again.
    Expired,
    /// The hold was given up; the seat is free again.
    Released,
}

impl ReservationStatus {
    /// The text stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::Released => "released",
        }
    }

    /// Reads the `status` column.
    pub fn from_db(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "held" => Self::Held,
            "paid" => Self::Paid,
            "expired" => Self::Expired,
            "released" => Self::Released,
            other => return Err(StoreError::Conflict(format!("unknown status {other}"))),
        })
    }
}

/// A hold about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    /// The session.
    pub session_id: SessionId,
    /// The seat (within the session's seat count: a foreign key checks it).
    pub seat_number: SeatNumber,
    /// Who holds it.
    pub user_id: UserId,
    /// The session's price, copied so that a paid reservation keeps what it cost.
    pub price: Points,
    /// When the hold was taken.
    pub held_at: DateTime<Utc>,
    /// When the hold ends unless paid.
    pub expires_at: DateTime<Utc>,
}

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    /// Its id.
    pub id: ReservationId,
    /// The session.
    pub session_id: SessionId,
    /// The seat.
    pub seat_number: SeatNumber,
    /// Who holds or bought it.
    pub user_id: UserId,
    /// What it costs.
    pub price: Points,
    /// Where it is in its life.
    pub status: ReservationStatus,
    /// When the hold was taken.
    pub held_at: DateTime<Utc>,
    /// When the hold ends unless paid.
    pub expires_at: DateTime<Utc>,
}

/// A payment about to be committed: debit, payment row and sale in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// The reservation being paid; it must be `held` by `user_id`.
    pub reservation_id: ReservationId,
    /// The payer.
    pub user_id: UserId,
    /// The price debited (the reservation's price).
    pub amount: Points,
    /// The client's retry key, if it sent one.
    pub idempotency_key: Option<IdempotencyKey>,
    /// When.
    pub paid_at: DateTime<Utc>,
}

/// A committed payment, with what the client is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    /// Its id.
    pub id: PaymentId,
    /// The reservation it paid.
    pub reservation_id: ReservationId,
    /// The payer.
    pub user_id: UserId,
    /// The session of the seat.
    pub session_id: SessionId,
    /// The date of that session.
    pub date: NaiveDate,
    /// The seat sold.
    pub seat_number: SeatNumber,
    /// The amount debited.
    pub amount: Points,
    /// The payer's balance right after the debit.
    pub balance_after: Points,
    /// The client's retry key, if it sent one.
    pub idempotency_key: Option<IdempotencyKey>,
    /// When.
    pub paid_at: DateTime<Utc>,
}

/// Where a queue token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenState {
    /// In line.
    Waiting,
    /// Let in: may hold and pay until its admission ends.
    Admitted,
    /// Its admission ended (active TTL passed, or a payment ended it).
    Expired,
    /// It lost its place in line for not polling.
    Evicted,
}

impl TokenState {
    /// The text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Admitted => "admitted",
            Self::Expired => "expired",
            Self::Evicted => "evicted",
        }
    }

    /// Reads the `state` column.
    pub fn from_db(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "waiting" => Self::Waiting,
            "admitted" => Self::Admitted,
            "expired" => Self::Expired,
            "evicted" => Self::Evicted,
            other => return Err(StoreError::Conflict(format!("unknown token state {other}"))),
        })
    }
}

/// A queue token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The token.
    pub token: QueueToken,
    /// Its user.
    pub user_id: UserId,
    /// Its place in the order of issue: FIFO is by this number.
    pub seq: i64,
    /// Where it is in its life.
    pub state: TokenState,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it was admitted, if it was.
    pub admitted_at: Option<DateTime<Utc>>,
}

/// The durable side of the engine. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `postgres` or `sqlite`: for logs and test names.
    fn backend(&self) -> &'static str;

    // ---- catalog ----

    /// Adds a concert.
    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError>;
    /// Adds a session and its seats; [`StoreError::NotFound`] if the concert does not exist.
    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError>;
    /// Every concert and session.
    async fn catalog(&self) -> Result<Catalog, StoreError>;

    // ---- reservations ----

    /// The session's held and paid reservations: what a SessionActor rebuilds from.
    async fn live_reservations(
        &self,
        session: SessionId,
    ) -> Result<Vec<ReservationRow>, StoreError>;
    /// Writes a hold; [`StoreError::SeatTaken`] if the seat has a live hold or sale,
    /// [`StoreError::NotFound`] if the session does not exist or lacks the seat.
    async fn insert_hold(&self, hold: &NewHold) -> Result<ReservationRow, StoreError>;
    /// Ends a hold (`Expired` or `Released`) if it is still `held`; false if it was not.
    /// A live status (`Held`, `Paid`) is refused with [`StoreError::Conflict`].
    async fn end_hold(
        &self,
        id: ReservationId,
        status: ReservationStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// One reservation, whatever its status.
    async fn reservation(&self, id: ReservationId) -> Result<Option<ReservationRow>, StoreError>;

    // ---- wallets and payments ----

    /// The user's balance (0 for a user who never charged).
    async fn balance(&self, user: &UserId) -> Result<Points, StoreError>;
    /// Adds a charge row to the ledger and returns the new balance.
    async fn charge(
        &self,
        user: &UserId,
        amount: ChargeAmount,
        at: DateTime<Utc>,
    ) -> Result<Points, StoreError>;
    /// In one transaction: debit the wallet (ledger row), write the payment, mark the
    /// reservation paid. [`StoreError::InsufficientBalance`] if the balance is short;
    /// [`StoreError::Conflict`] if the reservation is not `held` by this user or was
    /// paid already, or the idempotency key is taken, or `amount` is not the
    /// reservation's price. Nothing is written on error.
    async fn commit_payment(&self, payment: &NewPayment) -> Result<PaymentRow, StoreError>;
    /// The payment this user made with this idempotency key, if any.
    async fn payment_by_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<PaymentRow>, StoreError>;
    /// The payment of a reservation, if it was paid.
    async fn payment_for_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Option<PaymentRow>, StoreError>;

    // ---- waiting room ----

    /// Writes newly issued tokens (state `waiting`), all or none;
    /// [`StoreError::Conflict`] if a token, a `seq` or a user's one live place is taken.
    async fn insert_tokens(&self, tokens: &[TokenRow]) -> Result<(), StoreError>;
    /// Marks waiting tokens admitted at `at`.
    async fn admit_tokens(
        &self,
        tokens: &[QueueToken],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Ends live tokens: `Expired` (admission over) or `Evicted` (idle in line).
    async fn end_tokens(
        &self,
        tokens: &[QueueToken],
        state: TokenState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Waiting and admitted tokens, in `seq` order: what the WaitingRoom rebuilds from.
    async fn live_tokens(&self) -> Result<Vec<TokenRow>, StoreError>;
    /// One token, whatever its state.
    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError>;
    /// The highest `seq` ever issued (0 when none), so a restart never reuses one.
    async fn max_token_seq(&self) -> Result<i64, StoreError>;

    // ---- group commit ----

    /// Applies many writes in ONE transaction, each under its own savepoint, so one
    /// write's refusal (a taken seat, a short balance) does not undo the others.
    /// Answers one result per op, in order, each what the op's own method would
    /// have answered. The outer `Err` means the transaction itself failed (nothing
    /// of the batch is committed).
    ///
    /// The default applies the ops one by one, each in its own transaction: right
    /// for decorators that only forward, wrong for a backend, which overrides it.
    async fn apply_batch(
        &self,
        ops: &[WriteOp],
    ) -> Result<Vec<Result<WriteOutcome, StoreError>>, StoreError> {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(match op {
                WriteOp::InsertHold(hold) => self.insert_hold(hold).await.map(WriteOutcome::Hold),
                WriteOp::EndHold { id, status, at } => self
                    .end_hold(*id, *status, *at)
                    .await
                    .map(WriteOutcome::HoldEnded),
                WriteOp::Charge { user, amount, at } => self
                    .charge(user, *amount, *at)
                    .await
                    .map(WriteOutcome::Balance),
                WriteOp::CommitPayment(payment) => self
                    .commit_payment(payment)
                    .await
                    .map(WriteOutcome::Payment),
                WriteOp::InsertTokens(tokens) => self
                    .insert_tokens(tokens)
                    .await
                    .map(|()| WriteOutcome::Done),
                WriteOp::AdmitTokens { tokens, at } => self
                    .admit_tokens(tokens, *at)
                    .await
                    .map(|()| WriteOutcome::Done),
                WriteOp::EndTokens { tokens, state, at } => self
                    .end_tokens(tokens, *state, *at)
                    .await
                    .map(|()| WriteOutcome::Done),
            });
        }
        Ok(results)
    }
}

/// One write of a group-commit batch: the arguments of the `Store` method it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// [`Store::insert_hold`].
    InsertHold(NewHold),
    /// [`Store::end_hold`].
    EndHold {
        /// The reservation.
        id: ReservationId,
        /// `Expired` or `Released`.
        status: ReservationStatus,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`Store::charge`].
    Charge {
        /// The user.
        user: UserId,
        /// The amount.
        amount: ChargeAmount,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`Store::commit_payment`].
    CommitPayment(NewPayment),
    /// [`Store::insert_tokens`].
    InsertTokens(Vec<TokenRow>),
    /// [`Store::admit_tokens`].
    AdmitTokens {
        /// The tokens.
        tokens: Vec<QueueToken>,
        /// When.
        at: DateTime<Utc>,
    },
    /// [`Store::end_tokens`].
    EndTokens {
        /// The tokens.
        tokens: Vec<QueueToken>,
        /// `Expired` or `Evicted`.
        state: TokenState,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What a [`WriteOp`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// From `InsertHold`.
    Hold(ReservationRow),
    /// From `EndHold`: whether the hold was still `held`.
    HoldEnded(bool),
    /// From `Charge`: the new balance.
    Balance(Points),
    /// From `CommitPayment`.
    Payment(PaymentRow),
    /// From the token writes.
    Done,
}

/// How a backend's connection pool behaves.
///
/// [`Default`] is production: a short `acquire_timeout`, so that calls fail fast with
/// [`StoreError::Unavailable`] while the database is down instead of piling up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// The most connections open at once.
    pub max_connections: u32,
    /// How long a call waits for a connection (including opening one) before it
    /// fails with [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// Close a connection idle this long; `None` keeps it.
    pub idle_timeout: Option<Duration>,
    /// Replace a connection this old; `None` keeps it.
    pub max_lifetime: Option<Duration>,
    /// Postgres only: the server cancels a statement that runs longer than this.
    /// (SQLite waits at most its 5 s busy timeout for a lock instead.)
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_timeout: Some(Duration::from_secs(5)),
        }
    }
}

impl PoolSettings {
    /// For tests: few connections, no timers that reap or recycle connections, and
    /// generous timeouts, so that a slow CI machine does not fail a test spuriously.
    #[cfg(feature = "testkit")]
    pub fn for_tests() -> Self {
        Self {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(60),
            idle_timeout: None,
            max_lifetime: None,
            statement_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// Opens the store a `DATABASE_URL` names (`postgres://…` or `sqlite:…`) and
/// brings its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::Unavailable(format!(
            "DATABASE_URL must start with postgres:// or sqlite: (got {})",
            url.split(':').next().unwrap_or_default()
        )))
    }
}
