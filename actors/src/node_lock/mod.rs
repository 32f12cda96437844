//! One node per database: the lock a single node holds on its database for its
//! lifetime, so that a second node started on the same database refuses to start
//! instead of serving beside the first.
//!
//! Two nodes on one database each believe they own every seat, wallet and line:
//! each answers the other's tokens as unknown or expired, and the seat one sells
//! the other still shows free (only the schema's unique indexes stop a double
//! sale). Issue 15 saw exactly that with three nodes on one Postgres.
//!
//! - Postgres: a session-level advisory lock, [`ADVISORY_LOCK_KEY`], on a
//!   connection of its own (not the pool's: a pooled connection is recycled, and
//!   the lock would go with it). It dies with the session, so a node killed with
//!   `kill -9` leaves no lock behind. If that connection dies while serving, the
//!   node refuses every write until it has the lock again ([`postgres`]).
//! - SQLite file: an exclusive `flock` on `<file>.lock` beside the database. It
//!   dies with the process, whatever the way it ends.
//! - SQLite in memory: nothing to guard (no other process can open it).
//!
//! The binary takes the lock before it opens the database (`src/main.rs`), so that
//! tests opening engines on one database in turn are not concerned, and
//! `concert check`, which reads beside a live node, never takes it. A cluster node
//! (issue 15) takes it in shared mode ([`NodeLock::acquire_shared`]): the nodes of a
//! cluster share the database by design (leases and epochs fence their writes), but a
//! single node and a cluster never serve one database together.

mod file;
mod gate;
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::store::Backend;

pub(crate) use gate::Gated;

/// The Postgres advisory lock a single node holds: the bytes of `concert!` read as
/// a big-endian `i64` (0x636f6e6365727421). Advisory locks are per database, so
/// nodes on different databases of one server do not meet.
pub const ADVISORY_LOCK_KEY: i64 = i64::from_be_bytes(*b"concert!");

/// What a node that finds its database taken is told to do.
const FIX: &str = "run one node per database, or several in cluster mode (--nats-url, see \
                   docs/scale-out.md)";

/// Why the lock was not taken, or was lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Another node holds it: this one must not serve.
    #[error("another concert node is serving this database ({what} is held{by}); {FIX}")]
    Held {
        /// The lock: `postgres advisory lock N`, `lock file PATH`.
        what: String,
        /// Who holds it, if known: ` by …` (the holder's pid, address).
        by: String,
    },
    /// The lock could not be tried: the database or the lock file cannot be reached.
    #[error("cannot take the database lock: {0}")]
    Unavailable(String),
    /// The URL names no backend.
    #[error("{0}")]
    BadUrl(String),
}

/// The exclusive lock on a database, held until dropped.
pub struct NodeLock {
    shared: Arc<Shared>,
    /// Keeps the lock: the open lock file, or the task that owns the connection.
    _holder: Holder,
}

/// Held, never read: dropping it releases the lock.
#[expect(dead_code, reason = "kept for its drop, which releases the lock")]
enum Holder {
    None,
    File(std::fs::File),
    Connection(postgres::Watchdog),
    Shared(sqlx::PgConnection),
}

/// What the lock's holder tells the rest of the node.
struct Shared {
    /// False while the lock is not known to be held: writes are refused.
    held: AtomicBool,
    /// Set once another node has taken the lock: this one must stop.
    taken: watch::Sender<Option<LockError>>,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            held: AtomicBool::new(true),
            taken: watch::Sender::new(None),
        })
    }
}

impl NodeLock {
    /// Takes the lock on the database at `url` (`sqlite:FILE`, `sqlite::memory:`,
    /// `postgres://…`), or says who holds it. Never waits for it.
    pub async fn acquire(url: &str) -> Result<NodeLock, LockError> {
        let shared = Shared::new();
        let holder = match Backend::of(url).map_err(|e| LockError::BadUrl(e.to_string()))? {
            Backend::Sqlite => match file::lock_path(url)? {
                Some(path) => Holder::File(file::acquire(&path)?),
                None => Holder::None,
            },
            Backend::Postgres => Holder::Connection(postgres::acquire(url, shared.clone()).await?),
        };
        Ok(NodeLock {
            shared,
            _holder: holder,
        })
    }

    /// Cluster mode (Postgres only): the lock in shared mode, held by every node of a
    /// cluster at once; refused while a single node holds it, and a single node is
    /// refused while any cluster node holds it. Never lost while serving: see
    /// `postgres::acquire_shared`.
    pub async fn acquire_shared(url: &str) -> Result<NodeLock, LockError> {
        let conn = postgres::acquire_shared(url).await?;
        Ok(NodeLock {
            shared: Shared::new(),
            _holder: Holder::Shared(conn),
        })
    }

    /// Whether the lock is held now (false while a lost Postgres lock is re-taken).
    pub fn is_held(&self) -> bool {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Resolves when another node has taken the lock this one lost: the node must
    /// stop serving (its memory no longer matches the database). Never resolves for
    /// a lock that cannot be lost (SQLite).
    pub async fn taken(&self) -> LockError {
        let mut taken = self.shared.taken.subscribe();
        // Cloned out at once: the channel's read guard must not be held across an await.
        let error = taken
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|e| e.clone());
        match error {
            Some(error) => error,
            // The sender lives in `self`: unreachable, but never a false alarm.
            None => std::future::pending().await,
        }
    }

    /// The flag the store's gate reads before each write.
    pub(crate) fn held_flag(&self) -> HeldFlag {
        HeldFlag(self.shared.clone())
    }
}

impl std::fmt::Debug for NodeLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self._holder {
            Holder::None => "none",
            Holder::File(_) => "lock file",
            Holder::Connection(_) => "postgres advisory lock",
            Holder::Shared(_) => "postgres advisory lock, shared",
        };
        f.debug_struct("NodeLock")
            .field("kind", &kind)
            .field("held", &self.is_held())
            .finish()
    }
}

/// Whether the node holds its database lock, as the store's gate sees it.
#[derive(Clone)]
pub(crate) struct HeldFlag(Arc<Shared>);

impl HeldFlag {
    pub(crate) fn is_held(&self) -> bool {
        self.0.held.load(Ordering::SeqCst)
    }

    /// A flag no lock sets, for the gate's own tests.
    #[cfg(test)]
    pub(crate) fn detached(held: bool) -> Self {
        let shared = Shared::new();
        shared.held.store(held, Ordering::SeqCst);
        HeldFlag(shared)
    }
}
