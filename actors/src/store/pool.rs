//! How a backend's connection pool behaves.

use std::time::Duration;

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
