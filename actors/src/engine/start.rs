//! Opening the database, starting the engine on it, and learning when it stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ractor::Actor;
use tokio::task::JoinHandle;

use super::{Engine, EngineConfig, Inner};
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::{EngineError, EngineResult};
use crate::mailbox::Mailbox;
use crate::node_lock::{Gated, NodeLock};
use crate::registry::Registry;
use crate::rooms::RoomDirectory;
use crate::session::HoldConfig;
use crate::store::fence::Fence;
use crate::store::group_commit::{GroupCommit, GroupCommitSettings};
use crate::store::postgres::PgStore;
use crate::store::{Backend, Store, StoreError};
use crate::supervisor::{Supervisor, SupervisorArgs};

/// An open, migrated database for the engine to run on.
#[derive(Clone)]
pub struct Database {
    store: Arc<dyn Store>,
}

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct OpenError(StoreError);

impl Database {
    /// Opens (and migrates) the database at `url`: `sqlite:FILE` or `postgres://…`.
    pub async fn open(url: &str) -> Result<Database, OpenError> {
        let store = crate::store::open(url).await.map_err(OpenError)?;
        Ok(Database { store })
    }

    /// The same database, on which every write is refused while `lock` is not held
    /// (a Postgres lock whose connection died: see [`NodeLock`]). A node that lost
    /// its lock must not write as if it still had it.
    pub fn guarded_by(self, lock: &NodeLock) -> Database {
        Database {
            store: Gated::wrap(self.store, lock.held_flag()),
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }
}

/// Cluster mode's database: Postgres only, opened once per process; each term of
/// ownership starts the engine on a [fenced](ClusterDatabase::fenced) view of it.
#[derive(Debug, Clone)]
pub struct ClusterDatabase {
    store: PgStore,
}

impl ClusterDatabase {
    /// Opens (and migrates) the Postgres database at `url`; anything else is refused
    /// (fencing is a Postgres row lock; a SQLite file cannot be shared by nodes).
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        if Backend::of(url) != Ok(Backend::Postgres) {
            return Err(OpenError(StoreError::Unavailable(
                "cluster mode needs DATABASE_URL=postgres://… (a SQLite file cannot be \
                 shared by several nodes)"
                    .to_owned(),
            )));
        }
        Ok(Self {
            store: PgStore::connect(url).await.map_err(OpenError)?,
        })
    }

    /// The database on which every write first checks `fence` in its own
    /// transaction, and is refused, writing nothing, once a newer epoch is recorded.
    pub fn fenced(&self, fence: Fence) -> Database {
        Database {
            store: Arc::new(self.store.fenced(fence)),
        }
    }
}

/// Tests start the engine on stores of their own (fault-injecting, off-clock).
#[cfg(feature = "testkit")]
impl From<Arc<dyn Store>> for Database {
    fn from(store: Arc<dyn Store>) -> Self {
        Database { store }
    }
}

/// Why the engine stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineStop {
    /// [`Engine::shutdown`] was called.
    Shutdown,
    /// The supervisor gave up (children failed faster than its restart budget) or died:
    /// fatal for the process.
    Failed,
}

/// Resolves when the engine's supervisor stops.
pub struct EngineMonitor {
    supervisor: JoinHandle<()>,
    shutting_down: Arc<AtomicBool>,
}

impl EngineMonitor {
    /// Waits until the supervisor has stopped, and says why.
    pub async fn stopped(self) -> EngineStop {
        let _ = self.supervisor.await;
        if self.shutting_down.load(Ordering::SeqCst) {
            EngineStop::Shutdown
        } else {
            EngineStop::Failed
        }
    }
}

impl Engine {
    /// Reads the catalog and the rooms and starts the supervisor, which starts one
    /// WaitingRoom per room and one actor per session, each rebuilding its state from
    /// the store.
    pub async fn start(
        database: Database,
        config: EngineConfig,
    ) -> EngineResult<(Engine, EngineMonitor)> {
        Self::start_on(database.store, config, Clock::start()).await
    }

    /// [`Engine::start`] with a given clock: tests that restart the engine under
    /// tokio's paused clock pass the same clock to both, so time runs on across
    /// the restart as it would on a real wall clock.
    #[cfg(feature = "testkit")]
    pub async fn start_with_clock(
        store: Arc<dyn Store>,
        config: EngineConfig,
        clock: Clock,
    ) -> EngineResult<(Engine, EngineMonitor)> {
        Self::start_on(store, config, clock).await
    }

    async fn start_on(
        store: Arc<dyn Store>,
        config: EngineConfig,
        clock: Clock,
    ) -> EngineResult<(Engine, EngineMonitor)> {
        // Before anything is served: every hold and admission this engine makes is
        // then judged by `concert check` against these limits, not the check's flags.
        store
            .record_limits(&config.limits(), clock.now_utc())
            .await?;
        let store = if config.group_commit {
            let settings = GroupCommitSettings::for_backend(store.backend());
            GroupCommit::wrap(store, settings)
        } else {
            store
        };
        let catalog = Arc::new(Catalog::from_store(store.catalog().await?));
        let registry = Arc::new(Registry::default());
        let stored_rooms = store.rooms().await?;
        let rooms = Arc::new(RoomDirectory::new(
            stored_rooms.iter().filter_map(|row| row.room.concert()),
        ));
        let args = SupervisorArgs {
            store: store.clone(),
            clock,
            registry: registry.clone(),
            rooms: rooms.clone(),
            catalog: catalog.clone(),
            room: config.room_config(),
            line_sink: config.line_sink.clone(),
            holds: HoldConfig {
                hold_ttl: config.hold_ttl,
                max_holds_per_user: config.max_holds_per_user,
                wallet_timeout: config.call_timeout,
            },
            wallet_idle: config.wallet_idle,
            mailbox_capacity: config.mailbox_capacity,
            max_restarts: config.max_restarts,
            restart_window: config.restart_window,
        };
        let (supervisor, join) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|error| {
                tracing::error!(%error, "engine could not start");
                EngineError::StorageUnavailable
            })?;
        let shutting_down = Arc::new(AtomicBool::new(false));
        let engine = Engine {
            inner: Arc::new(Inner {
                clock,
                shutting_down: shutting_down.clone(),
                store,
                supervisor: Mailbox::new(supervisor, config.mailbox_capacity),
                streams: super::streams::Streams::new(config.max_streams),
                config,
                registry,
                rooms,
                catalog,
            }),
        };
        let monitor = EngineMonitor {
            supervisor: join,
            shutting_down,
        };
        Ok((engine, monitor))
    }
}

impl Engine {
    /// Stops every actor and waits for them.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        self.close_streams();
        // Told first, the supervisor takes its children's stopping for what it is.
        let _ = self
            .inner
            .supervisor
            .ask(
                |reply| crate::supervisor::SupervisorMsg::Shutdown { reply },
                self.inner.config.call_timeout,
            )
            .await;
        let supervisor = self.inner.supervisor.actor();
        supervisor
            .drain_children_and_wait(Some(self.inner.config.call_timeout))
            .await;
        supervisor.stop(Some("shutdown".into()));
    }
}
