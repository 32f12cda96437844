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
//!
//! # Every write is a [`WriteOp`]
//!
//! A store answers reads with a method each, and every write through one of two
//! entry points: [`Store::apply`] (one write, its own transaction) and
//! [`Store::apply_batch`] (many, one transaction). The typed write methods
//! ([`Store::insert_hold`], [`Store::charge`], …) are provided on top of `apply`;
//! nothing overrides them. So a decorator that changes writes changes `apply` and
//! `apply_batch`, and one that changes nothing else implements [`Decorator`] (every
//! method forwards to the store it wraps unless it says otherwise): a decorator
//! cannot lose group commit by forgetting a method.
//!
//! # One set of statements, two backends
//!
//! Postgres and SQLite run the same SQL for almost everything. Each statement, and
//! the one `match` over [`WriteOp`], is written once, in plain concrete sqlx, in the
//! files of `store/sql/`; each backend compiles those files as modules of its own
//! (`#[path = "sql/writes.rs"] mod writes;`), where `super::Db` is its
//! `sqlx::Database`. (Generic code over `sqlx::Database` needs a dozen
//! higher-ranked bounds on every function; a `macro_rules!` body is invisible to
//! rustfmt. A file compiled twice is neither: it reads as the code that runs.)
//! What truly differs stays in the backend's own files, named alike on both sides:
//!
//! | file | what it holds |
//! | --- | --- |
//! | `sql/impl_store.rs` | `impl Store` for the backend: the reads, the admin writes, `apply` |
//! | `sql/writes.rs` | every write statement but the tokens', the `WriteOp` dispatch, savepoints |
//! | `sql/token_writes.rs` | the updates of tokens: admissions and evictions with their room's counter, ends, pruning |
//! | `sql/rooms.rs` | the rooms' statements: reads, `save_room` with its `room_limits` row, the draw |
//! | `common.rs` | records rows decode into, error classification, pool options (compiled once) |
//! | `rooms.rs` | [`RoomRow`] and the record it decodes from (compiled once) |
//! | `fence.rs` | cluster mode: the epoch check a fenced Postgres store runs first in every write transaction (`owner_epochs`; its one home) |
//! | `postgres.rs`, `sqlite.rs` | connecting and migrating; the dialect: how a write transaction begins, which single writes need one, the few SQL fragments that differ, how a token is bound |
//! | `postgres/tokens.rs`, `sqlite/tokens.rs` | inserting new tokens and renumbering a draw: arrays on Postgres, multi-row `INSERT`s and a JSON array on SQLite |
//! | `postgres/batch.rs`, `sqlite/batch.rs` | [`Store::apply_batch`]: one-statement batches and multi-row runs on Postgres; a savepoint per op on SQLite |

mod common;
mod backend;
mod decorator;
pub mod fence;
pub mod group_commit;
mod limits;
mod pool;
pub mod postgres;
mod rooms;
mod rows;
pub mod sqlite;
mod write_op;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(crate) use backend::{Backend, UnknownBackend};
pub use decorator::Decorator;
pub use pool::PoolSettings;
pub use rows::{
    Catalog, ChargeKey, ChargeSource, ConcertRow, KeyedChargeRow, NewHold, NewPayment, NewSession, PaymentRow, ReservationRow,
    ReservationStatus, SessionRow, TokenRow, TokenState,
};
pub use rooms::RoomRow;
pub use write_op::{WriteOp, WriteOutcome};

pub use limits::Limits;

use crate::domain::{
    ChargeAmount, ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId, RoomId,
    SessionId, UserId,
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

/// The answers of a batch: one per op, in order (see [`Store::apply_batch`]).
pub type BatchResult = Result<Vec<Result<WriteOutcome, StoreError>>, StoreError>;

/// The durable side of the engine. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `postgres` or `sqlite`: for logs and test names.
    fn backend(&self) -> &'static str;

    /// A trivial round trip, for readiness: fails when the database does not answer.
    /// The default reads the site room's last token number (one indexed lookup), so a
    /// decorator or test store needs nothing; the SQL backends send `SELECT 1`.
    async fn ping(&self) -> Result<(), StoreError> {
        self.max_token_seq(RoomId::Site).await.map(|_| ())
    }

    // ---- catalog ----

    /// Adds a concert.
    async fn create_concert(&self, title: &ConcertTitle) -> Result<ConcertRow, StoreError>;
    /// Adds a session and its seats; [`StoreError::NotFound`] if the concert does not exist.
    async fn create_session(&self, session: &NewSession) -> Result<SessionRow, StoreError>;
    /// Every concert and session.
    async fn catalog(&self) -> Result<Catalog, StoreError>;

    // ---- settings ----

    /// Records the limits an engine starts with, before it serves: `concert check`
    /// judges each hold and admission by the limits recorded latest at or before it.
    async fn record_limits(
        &self,
        limits: &Limits,
        started_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    // ---- reads ----

    /// The session's held and paid reservations: what a SessionActor rebuilds from.
    async fn live_reservations(
        &self,
        session: SessionId,
    ) -> Result<Vec<ReservationRow>, StoreError>;
    /// One reservation, whatever its status.
    async fn reservation(&self, id: ReservationId) -> Result<Option<ReservationRow>, StoreError>;
    /// The user's balance (0 for a user who never charged).
    async fn balance(&self, user: &UserId) -> Result<Points, StoreError>;
    /// The payment this user made with this idempotency key, if any.
    async fn payment_by_key(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<PaymentRow>, StoreError>;
    /// The charge this user's `key` names, if any.
    async fn charge_by_key(
        &self,
        user: &UserId,
        key: &ChargeKey,
    ) -> Result<Option<KeyedChargeRow>, StoreError>;
    /// The payment of a reservation, if it was paid.
    async fn payment_for_reservation(
        &self,
        id: ReservationId,
    ) -> Result<Option<PaymentRow>, StoreError>;
    /// The room's waiting and admitted tokens, in `seq` order: what its WaitingRoom
    /// rebuilds from.
    async fn live_tokens(&self, room: RoomId) -> Result<Vec<TokenRow>, StoreError>;
    /// One token, whatever its state (its row names its room).
    async fn token(&self, token: QueueToken) -> Result<Option<TokenRow>, StoreError>;
    /// The highest `seq` the room has issued (0 when none), so a restart never
    /// reuses one. (Pruned tokens can lower it: only ended tokens are pruned, and a
    /// seq orders the live ones only.)
    async fn max_token_seq(&self, room: RoomId) -> Result<i64, StoreError>;

    // ---- rooms ----

    /// Every stored room, by room id.
    async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError>;
    /// One room, if it is stored.
    async fn room(&self, room: RoomId) -> Result<Option<RoomRow>, StoreError>;
    /// In one transaction: writes the room's settings (schedule, `drawn_at`,
    /// `max_active`, `admission_rate`, `paused`; `updated_at = at`), inserting the row
    /// if new, and, if the row is new or its `max_active` changed, a `room_limits`
    /// row (`since = at`) for `concert check`. The counters are never written here
    /// (the row's are ignored). [`StoreError::Conflict`] if the schema refuses a value
    /// (`max_active` 0, a pre-queue opening after `opens_at`).
    async fn save_room(&self, row: &RoomRow, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// The draw, in one transaction, all or none: gives each token its new `seq`
    /// (each must be a waiting token of `room`) and sets the room's `drawn_at = at`.
    /// [`StoreError::NotFound`] if the room is not stored; [`StoreError::Conflict`]
    /// (nothing written) if it has drawn already, a token is not one of its waiting
    /// tokens (or is named twice), or a new seq is taken in the room.
    async fn draw_room(
        &self,
        room: RoomId,
        drawn: &[(QueueToken, i64)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    // ---- writes: the two entry points ----

    /// Applies one write in its own transaction and answers what the op's typed
    /// method documents (the outcome variant of its kind, or its refusal).
    async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError>;

    /// Applies many writes in ONE transaction, each under its own savepoint, so one
    /// write's refusal (a taken seat, a short balance) does not undo the others.
    /// Answers one result per op, in order, each what [`Store::apply`] would have
    /// answered. The outer `Err` means the transaction itself failed (nothing of the
    /// batch is committed).
    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult;

    // ---- writes, typed: provided on top of `apply`, never overridden ----

    /// Writes a hold; [`StoreError::SeatTaken`] if the seat has a live hold or sale,
    /// [`StoreError::NotFound`] if the session does not exist or lacks the seat.
    async fn insert_hold(&self, hold: &NewHold) -> Result<ReservationRow, StoreError> {
        let op = WriteOp::InsertHold(hold.clone());
        self.apply(op).await?.into_hold()
    }

    /// Ends a hold (`Expired` or `Released`) if it is still `held`; false if it was not.
    /// A live status (`Held`, `Paid`) is refused with [`StoreError::Conflict`].
    async fn end_hold(
        &self,
        id: ReservationId,
        status: ReservationStatus,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let op = WriteOp::EndHold { id, status, at };
        self.apply(op).await?.into_hold_ended()
    }

    /// Adds a charge row to the ledger and returns the new balance: the tests'
    /// shorthand for [`Store::keyed_charge`] without a key.
    #[cfg_attr(not(feature = "testkit"), allow(dead_code))]
    async fn charge(
        &self,
        user: &UserId,
        amount: ChargeAmount,
        at: DateTime<Utc>,
    ) -> Result<Points, StoreError> {
        self.keyed_charge(user, amount, at, None).await
    }

    /// [`Store::charge`], and with a key, the row that makes the key name this charge;
    /// [`StoreError::Conflict`] (nothing written) if the key names a charge already.
    async fn keyed_charge(
        &self,
        user: &UserId,
        amount: ChargeAmount,
        at: DateTime<Utc>,
        key: Option<ChargeKey>,
    ) -> Result<Points, StoreError> {
        let user = user.clone();
        self.apply(WriteOp::Charge {
            user,
            amount,
            at,
            key,
        })
        .await?
        .into_balance()
    }

    /// In one transaction: debit the wallet (ledger row), write the payment, mark the
    /// reservation paid. [`StoreError::InsufficientBalance`] if the balance is short;
    /// [`StoreError::Conflict`] if the reservation is not `held` by this user or was
    /// paid already, or the idempotency key is taken, or `amount` is not the
    /// reservation's price. Nothing is written on error.
    async fn commit_payment(&self, payment: &NewPayment) -> Result<PaymentRow, StoreError> {
        let op = WriteOp::CommitPayment(payment.clone());
        self.apply(op).await?.into_payment()
    }

    /// Writes newly issued tokens (state `waiting`), all or none;
    /// [`StoreError::Conflict`] if a token, a `seq` or a user's one live place is taken.
    async fn insert_tokens(&self, tokens: &[TokenRow]) -> Result<(), StoreError> {
        let op = WriteOp::InsertTokens(tokens.to_vec());
        self.apply(op).await?.into_done()
    }

    /// Marks the room's waiting tokens among `tokens` admitted at `at`, and adds
    /// how many were to the room's `admitted_total`, in one transaction. (Tokens
    /// already admitted, or of another room, are left alone and not counted, so a
    /// retry of a write whose outcome was unknown counts nothing twice.)
    async fn admit_tokens(
        &self,
        room: RoomId,
        tokens: &[QueueToken],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tokens = tokens.to_vec();
        self.apply(WriteOp::AdmitTokens { room, tokens, at })
            .await?
            .into_done()
    }

    /// Ends the room's live tokens among `tokens`: `Expired` (admission over) or
    /// `Evicted` (idle in line; those evicted are added to the room's
    /// `evicted_total` in the same transaction).
    async fn end_tokens(
        &self,
        room: RoomId,
        tokens: &[QueueToken],
        state: TokenState,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tokens = tokens.to_vec();
        self.apply(WriteOp::EndTokens {
            room,
            tokens,
            state,
            at,
        })
        .await?
        .into_done()
    }

    /// Deletes at most `limit` ended (expired or evicted) tokens of any room that
    /// ended before `ended_before`; answers how many. Live tokens are never deleted.
    async fn prune_tokens(&self, ended_before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        self.apply(WriteOp::PruneTokens {
            ended_before,
            limit,
        })
        .await?
        .into_pruned()
    }
}

/// Whether a write also moves its room's durable counter (an admission, an
/// eviction of at least one token): then it is two statements, which must share a
/// transaction.
pub(crate) fn moves_a_counter(op: &WriteOp) -> bool {
    match op {
        WriteOp::AdmitTokens { tokens, .. } => !tokens.is_empty(),
        WriteOp::EndTokens { tokens, state, .. } => {
            *state == TokenState::Evicted && !tokens.is_empty()
        }
        _ => false,
    }
}

/// Opens the store a `DATABASE_URL` names (`postgres://…` or `sqlite:…`) and
/// brings its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    match Backend::of(url).map_err(|e| StoreError::Unavailable(e.to_string()))? {
        Backend::Postgres => Ok(Arc::new(postgres::PgStore::connect(url).await?)),
        Backend::Sqlite => Ok(Arc::new(sqlite::SqliteStore::connect(url).await?)),
    }
}
