//! [`Store`](super::Store) on PostgreSQL (production).
//!
//! The statements are the ones both backends share (`sql/impl_store.rs`,
//! `sql/writes.rs`, compiled here with `Db = Postgres`); this file connects, and
//! names what Postgres does its own way. `postgres/tokens.rs` sends batches of
//! tokens as arrays of binary `uuid`s; `postgres/batch.rs` commits a batch in as
//! few round trips as it can.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, Postgres};

use super::common::store_error;
use super::fence::Fence;
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

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Cluster mode: every write first checks this node still owns what it writes.
    fence: Option<Fence>,
}

impl PgStore {
    /// Connects with the production [`PoolSettings`] and runs `migrations/postgres`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, PoolSettings::default()).await
    }

    /// Connects with these pool settings and runs `migrations/postgres`.
    pub async fn connect_with(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options = Self::connect_options(url, settings.statement_timeout)?;
        Self::open(options, &settings).await
    }

    /// The same database (the pool is shared), every write of which first runs
    /// `fence`'s check in its transaction and is refused, writing nothing, once
    /// another node recorded a newer epoch. Single statements then take a
    /// transaction too: the check must share it.
    pub fn fenced(&self, fence: Fence) -> Self {
        Self {
            pool: self.pool.clone(),
            fence: Some(fence),
        }
    }

    /// A store on `pool`, unfenced.
    fn on(pool: PgPool) -> Self {
        Self { pool, fence: None }
    }

    /// A transaction that writes. Rows are locked as they are written (or read
    /// `FOR UPDATE`), so a plain `BEGIN` does; fenced, the check runs first.
    async fn begin_write(&self) -> Result<Transaction<'static, Db>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        if let Some(fence) = &self.fence {
            fence.check(&mut tx).await?;
        }
        Ok(tx)
    }

    /// Whether a single write needs a transaction of its own: only those of several
    /// statements (new tokens are one statement, arrays and all; an admission or an
    /// eviction moves its room's counter too), and every write of a fenced store.
    fn needs_transaction(&self, op: &WriteOp) -> bool {
        self.fence.is_some()
            || matches!(op, WriteOp::Charge { .. } | WriteOp::CommitPayment(_))
            || super::moves_a_counter(op)
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
}

// ---- what the shared files (`sql/`) compile against ----

/// The database.
type Db = Postgres;

/// The store they implement.
type SqlStore = PgStore;

/// [`Store::backend`](super::Store::backend).
const NAME: &str = "postgres";

/// A session's seats, `1..=$2`.
const SEATS: &str = "INSERT INTO seats (session_id, seat_number) \
                     SELECT $1, n FROM generate_series(1, $2::integer) AS n";

/// A payment locks its reservation's row: a concurrent payment of it waits, then
/// sees `paid`.
const LOCK_FOR_PAYMENT: &str = " FOR UPDATE";
