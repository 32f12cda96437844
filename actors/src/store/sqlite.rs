//! [`Store`](super::Store) on SQLite (the embedded default).
//!
//! The statements are the ones both backends share (`sql/impl_store.rs`,
//! `sql/writes.rs`, compiled here with `Db = Sqlite`); this file connects, and
//! names what SQLite does its own way: write transactions start with
//! `BEGIN IMMEDIATE` (they take the write lock before reading, so a
//! read-then-write transaction never fails on a stale snapshot), instants and
//! dates are text (sqlx writes RFC 3339 and `YYYY-MM-DD`, what the schema's CHECKs
//! expect), and tokens are text (`sqlite/tokens.rs`). The file is opened in WAL
//! mode with `synchronous = FULL`, so a committed call survives a power cut.
//! `sqlite/batch.rs` commits a batch in one transaction, a savepoint per op.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqliteSynchronous,
};

use super::common::store_error;
use super::{PoolSettings, StoreError, WriteOp};

mod batch;
mod tokens;

// The statements both backends share, compiled here for this one (see the store's
// module docs); clippy's `duplicate_mod` warns of exactly that.
#[allow(clippy::duplicate_mod)]
#[path = "sql/impl_store.rs"]
mod impl_store;
#[allow(clippy::duplicate_mod)]
#[path = "sql/rooms.rs"]
mod rooms;
#[allow(clippy::duplicate_mod)]
#[path = "sql/token_writes.rs"]
mod token_writes;
#[allow(clippy::duplicate_mod)]
#[path = "sql/writes.rs"]
mod writes;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

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
        Self::open(options, &settings).await
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
}

// ---- what the shared files (`sql/`) compile against ----

/// The database.
type Db = Sqlite;

/// The store they implement.
type SqlStore = SqliteStore;

/// [`Store::backend`](super::Store::backend).
const NAME: &str = "sqlite";

/// A session's seats, `1..=$2`.
const SEATS: &str = "WITH RECURSIVE n(seat) AS (SELECT 1 UNION ALL SELECT seat + 1 FROM n \
                     WHERE seat < $2) \
                     INSERT INTO seats (session_id, seat_number) SELECT $1, seat FROM n";

/// No row lock: the caller's `BEGIN IMMEDIATE` holds the database's write lock,
/// which serialises a payment with every other.
const LOCK_FOR_PAYMENT: &str = "";

impl SqliteStore {
    /// A store on `pool`.
    fn on(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// A write transaction: takes the database's write lock up front.
    async fn begin_write(&self) -> Result<Transaction<'static, Db>, StoreError> {
        begin_write(&self.pool).await
    }

    /// Whether a single write needs a transaction of its own: one of several
    /// statements (new tokens go in 1000 rows to an `INSERT`: all or none needs one;
    /// an admission or eviction moves its room's counter too). A write of one statement
    /// runs as its own transaction (autocommit), which needs no `BEGIN IMMEDIATE` since
    /// it reads nothing before it writes.
    fn needs_transaction(&self, op: &WriteOp) -> bool {
        match op {
            WriteOp::Charge { .. } | WriteOp::CommitPayment(_) => true,
            WriteOp::InsertTokens(rows) => !rows.is_empty(),
            op => super::moves_a_counter(op),
        }
    }
}

/// A write transaction: takes the database's write lock up front.
async fn begin_write(pool: &SqlitePool) -> Result<Transaction<'static, Db>, StoreError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(store_error)
}
