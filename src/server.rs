//! Starting and stopping: the engine under the router, graceful shutdown, and a fatal
//! stop when the engine's supervisor gives up.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use actors::{Database, Engine, EngineConfig, EngineError, EngineMonitor, LockError, NodeLock};
use std::sync::Arc;
use tokio::net::TcpListener;

use crate::http::{self, HttpSettings};
use crate::transport::ConnectionLimits;
use crate::{metrics, transport};

/// What the server is started with, apart from the store and the listener.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The engine's rules and limits.
    pub engine: EngineConfig,
    /// The HTTP layer's limits and admin key.
    pub http: HttpSettings,
    /// Create the demo concert on an empty database.
    pub demo: bool,
    /// How long in-flight requests may run after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The engine could not start (or seed the demo).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The listen address could not be bound.
    #[error("listen address: {0}")]
    Bind(#[from] std::io::Error),
}

/// Why serving ended other than by a shutdown signal.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Accepting connections failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// The engine's supervisor stopped while serving (too many actor restarts).
    #[error("the engine stopped while serving")]
    EngineStopped,
    /// The database lock was lost and another node took it: this node's memory no
    /// longer matches the database.
    #[error("stopped serving: {0}")]
    LockTaken(LockError),
}

/// A started engine behind a bound listener, ready to serve.
pub struct Application {
    engine: Engine,
    monitor: EngineMonitor,
    listener: TcpListener,
    settings: Settings,
    /// Where the metrics are served, if anywhere (never the public listener).
    metrics: Option<TcpListener>,
    /// The single node's lock on its database, held while serving.
    lock: Option<NodeLock>,
}

impl Application {
    /// Starts the engine on `database` (seeding the demo if asked and it is empty)
    /// and takes the listener to serve on.
    pub async fn start(
        database: Database,
        listener: TcpListener,
        settings: Settings,
    ) -> Result<Self, StartError> {
        let (engine, monitor) = Engine::start(database, settings.engine.clone()).await?;
        if settings.demo && engine.seed_demo().await? {
            tracing::info!("demo concert created (id 1, six sessions 2024-07-03..08, 50 seats)");
        }
        Ok(Self {
            engine,
            monitor,
            listener,
            settings,
            metrics: None,
            lock: None,
        })
    }

    /// Holds `lock` while serving and releases it once the engine has stopped;
    /// serving ends with [`ServeError::LockTaken`] if another node takes it. Start
    /// on a database [guarded by](Database::guarded_by) the same lock.
    pub fn with_lock(mut self, lock: NodeLock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Serves `GET /metrics` (Prometheus text) on `listener` while the app serves.
    /// Install the recorder ([`metrics::install`]) before [`Application::start`]:
    /// the rooms' gauges are registered as their actors start.
    pub fn with_metrics(mut self, listener: TcpListener) -> Self {
        metrics::install();
        self.metrics = Some(listener);
        self
    }

    /// The address the metrics are served on, if any.
    pub fn metrics_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.metrics.as_ref().map(TcpListener::local_addr)
    }

    /// The address served.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The engine, for callers that need it beside HTTP (tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests
    /// finish (for at most the grace period) and stops the engine. Fails if the engine
    /// stops on its own while serving, which leaves the process unable to answer.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self {
            engine,
            monitor,
            listener,
            settings,
            metrics,
            lock,
        } = self;
        // Stops with the app, whichever way `run_until` returns.
        let _metrics = metrics.map(|listener| {
            let open = engine.open_streams();
            serve_metrics(
                listener,
                Arc::new(move || open.get()),
                settings.http.connections.header_timeout,
            )
        });
        let router = http::router(engine.clone(), &settings.http);
        let streams = engine.clone();
        // An open stream is a request that never finishes on its own: end them, so
        // their connections drain with the rest instead of holding the grace.
        let served = drain_on(
            listener,
            router,
            settings.http.connections,
            settings.shutdown_grace,
            shutdown,
            move || streams.close_streams(),
        );
        tokio::select! {
            () = served => {}
            _ = monitor.stopped() => {
                tracing::error!("the engine's supervisor stopped while serving; exiting");
                return Err(ServeError::EngineStopped);
            }
            error = lock_taken(lock.as_ref()) => {
                // Not a graceful stop: the gate already refuses every write, and
                // another node now owns what this one would drain.
                engine.shutdown().await;
                return Err(ServeError::LockTaken(error));
            }
        }
        engine.shutdown().await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// Resolves when another node took `lock`; never without one.
async fn lock_taken(lock: Option<&NodeLock>) -> LockError {
    match lock {
        Some(lock) => lock.taken().await,
        None => std::future::pending().await,
    }
}

/// Serves `GET /metrics` on `listener` (never the public one) until the returned
/// guard is dropped: the one home of the metrics listener for both node kinds.
pub(crate) fn serve_metrics(
    listener: TcpListener,
    streams: metrics::OpenStreams,
    header_timeout: Duration,
) -> AbortOnDrop {
    let handle = metrics::install();
    AbortOnDrop(tokio::spawn(metrics::serve(
        listener,
        handle,
        streams,
        header_timeout,
        std::future::pending(),
    )))
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains: no new
/// connections, `before_drain` runs (end what never ends on its own: open streams),
/// and in-flight requests have `grace` to finish. Resolves when they have, or when the
/// grace is over (they are dropped). The one home of the graceful stop for both kinds
/// of node.
pub(crate) async fn drain_on(
    listener: TcpListener,
    router: impl transport::Served,
    connections: ConnectionLimits,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
    before_drain: impl FnOnce() + Send + 'static,
) {
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let server = transport::serve(listener, router, connections, async move {
        shutdown.await;
        tracing::info!("shutdown: no new connections; finishing in-flight requests");
        before_drain();
        let _ = signalled_tx.send(());
    });
    let grace_over = async move {
        if signalled_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = server => {}
        () = grace_over => tracing::warn!("shutdown: grace period over, dropping in-flight requests"),
    }
}

/// Aborts a background task when dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
