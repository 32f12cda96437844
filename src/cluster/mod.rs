//! Cluster mode, stage 1 (issue 15, `docs/scale-out.md`): several nodes on one Postgres
//! and one NATS, ONE of which owns the whole engine at a time; every node serves every
//! route, forwarding to the owner what it does not own.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `owner` | the ownership loop: claim the `engine` lease, record the epoch, run the engine fenced, stop it when the lease is lost |
//! | `answer` | the owner's side of forwarding: the subscriber that runs forwarded requests through the router |
//! | `forward` | the other nodes' side: the request over NATS request/reply, bounded |
//! | `wire` | how a request and its answer travel: one NATS payload each, an HTTP/1.1-style head then the body |
//! | `line_wire` | how the line's changes, the asks for whole pictures and the answered polls travel |
//! | `line_owner` | the owner's side of the line's replicas: publish the changes, picture the rooms whole on demand, take answered polls as seen |
//! | `line_follow` | every node's side: follow the changes into replicas, answer queue polls and serve queue streams from them, report them to the owner |
//!
//! What a node answers itself: `/health`, the web pages and their files, `/metrics`
//! (its own listener), a path no route serves (404), and the queue polls and queue
//! streams (SSE) its replica of the line can answer (header `x-concert-replica`;
//! `docs/scale-out.md`, "The line on every node"). The engine's paths (`http::routes`)
//! go to this term's router when this node owns, and to the owner otherwise; any other
//! stream is served by the owner only: elsewhere it is 503 `STREAM_NOT_HERE`, and the
//! pages fall back to polling. The drain ends this node's streams, the owner's and the
//! replica's.
//!
//! The node a client talked to observes each request once, as a single node does
//! (`http::observe`, outermost on the public router: its request id, span and
//! "answered" line, the HTTP metrics by route template, the latency the client saw,
//! forward included): whatever answered it, this term's router (which has no `observe`
//! of its own), the replica, or the owner. A forwarded request says so (`wire`), and
//! the owner logs it at `debug` under the same request id and counts it no more.

mod answer;
mod forward;
mod line_follow;
mod line_owner;
mod line_wire;
mod owner;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actors::ClusterDatabase;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Response;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use cluster::{LeaseConfig, Leases};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::{Layer, ServiceExt};

use self::forward::Forwarder;
use self::line_follow::LineFollower;
use self::line_wire::LineSubjects;
use self::owner::{Ownership, Term};
use crate::http;
use crate::http::error::ApiError;
use crate::http::latency::LatencyWindow;
use crate::http::observe::{Observe, ObserveLayer};
use crate::http::streams::StreamSettings;
use crate::metrics;
use crate::server::{self, AbortOnDrop, ServeError, Settings};

/// How a cluster node is run, apart from the engine's and the HTTP layer's settings.
pub struct ClusterSettings {
    /// The NATS server.
    pub nats_url: String,
    /// The lease bucket, this node's id, the lease timing.
    pub lease: LeaseConfig,
    /// The database every node shares (Postgres).
    pub database_url: String,
    /// How long a forwarded request may take.
    pub forward_timeout: Duration,
    /// Forwarded requests in flight from this node at most.
    pub max_forwards: usize,
}

/// Why a cluster node did not start.
#[derive(Debug, thiserror::Error)]
pub enum ClusterStartError {
    /// The database is not Postgres, or cannot be opened.
    #[error("{0}")]
    Database(#[from] actors::engine::OpenError),
    /// NATS cannot be reached, or its lease bucket opened.
    #[error("cluster: {0}")]
    Cluster(#[from] cluster::ClusterError),
    /// NATS cannot be reached.
    #[error("NATS: {0}")]
    Nats(String),
}

/// What the public router's handlers share.
#[derive(Clone)]
struct Node {
    current: watch::Receiver<Option<Term>>,
    forwarder: Arc<Forwarder>,
    line: Arc<LineFollower>,
    /// The push routes' settings, for the queue streams served from the replica.
    streams: StreamSettings,
}

/// Opens the shared database and NATS; fails at once if either cannot be.
pub async fn start(cluster: ClusterSettings) -> Result<Started, ClusterStartError> {
    let database = ClusterDatabase::open(&cluster.database_url).await?;
    let nats = async_nats::ConnectOptions::new()
        .name(format!("concert {}", cluster.lease.node))
        .request_timeout(Some(cluster.forward_timeout))
        .connect(&cluster.nats_url)
        .await
        .map_err(|error| ClusterStartError::Nats(format!("{}: {error}", cluster.nats_url)))?;
    let leases = Leases::open(
        async_nats::jetstream::new(nats.clone()),
        cluster.lease.clone(),
    )
    .await?;
    Ok(Started {
        database,
        nats,
        leases,
        cluster,
    })
}

/// A node connected to its database and NATS, ready to serve.
pub struct Started {
    database: ClusterDatabase,
    nats: async_nats::Client,
    leases: Leases,
    cluster: ClusterSettings,
}

impl Started {
    /// Serves on `listener` (and the metrics on `metrics`) until `shutdown` resolves:
    /// a candidate for the engine all along, its owner while it holds the lease.
    pub async fn run_until(
        self,
        listener: TcpListener,
        metrics_listener: Option<TcpListener>,
        settings: Settings,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Self {
            database,
            nats,
            leases,
            cluster,
        } = self;
        let subject = format!("concert.{}.owner", cluster.lease.bucket);
        let line_subjects = LineSubjects::of(cluster.lease.bucket.as_str());
        let line = Arc::new(LineFollower::new(
            &settings.engine,
            cluster.lease.node.as_str(),
        ));
        let _following: Vec<AbortOnDrop> =
            line_follow::spawn(nats.clone(), line_subjects.clone(), line.clone())
                .into_iter()
                .map(AbortOnDrop)
                .collect();
        let claim_every = (cluster.lease.timing.lease_ttl() / 10).max(Duration::from_millis(100));
        let (current_tx, current) = watch::channel(None);
        let (stop_tx, stop) = watch::channel(false);
        let connections = settings.http.connections;
        let http_streams = settings.http.streams;
        let grace = settings.shutdown_grace;
        let forwarder = Arc::new(Forwarder {
            nats: nats.clone(),
            subject: subject.clone(),
            timeout: cluster.forward_timeout,
            permits: Arc::new(Semaphore::new(cluster.max_forwards)),
        });
        // One window for the node, whoever answers: its public router feeds it, each
        // term's `/admin/stats` reads it.
        let latency = Arc::new(LatencyWindow::new());
        let observe = http::observe_layer(&settings.http, latency.clone()).forwarding();
        let ownership = Ownership {
            leases,
            nats,
            subject,
            line_subjects,
            database,
            database_url: cluster.database_url.clone(),
            node: cluster.lease.node.clone(),
            settings,
            claim_every,
            forward_timeout: cluster.forward_timeout,
            latency,
        };
        let owning = tokio::spawn(ownership.run(current_tx, stop));
        // Stops with the node, whichever way this returns. The stream gauge counts the
        // streams this node serves: its replica's, and its engine's while it owns.
        let replica_count = line.open_streams();
        let owner = current.clone();
        let open_streams: metrics::OpenStreams = Arc::new(move || {
            let owned = owner
                .borrow()
                .as_ref()
                .map(|term| term.engine.open_streams().get());
            replica_count.get() + owned.unwrap_or(0)
        });
        let _metrics = metrics_listener.map(|listener| {
            server::serve_metrics(listener, open_streams, connections.header_timeout)
        });
        let streams = current.clone();
        let replica_streams = line.clone();
        let node = Node {
            current,
            forwarder,
            line,
            streams: http_streams,
        };
        // Open streams never end on their own: end them, so their connections drain.
        server::drain_on(
            listener,
            router(node, observe),
            connections,
            grace,
            shutdown,
            move || {
                if let Some(term) = streams.borrow().clone() {
                    term.engine.close_streams();
                }
                replica_streams.close_streams();
            },
        )
        .await;
        // Stop the engine (if owned) and release the lease for the next owner.
        let _ = stop_tx.send(true);
        let _ = owning.await;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

/// The public router of a cluster node: see the module docs. The engine's paths are
/// routed here by their templates, every method to [`dispatch`] (this term's router or
/// the owner answers 405), so that `observe` labels each request with its route as a
/// single node does.
fn router(node: Node, observe: ObserveLayer) -> Observe<Router> {
    let local = Router::new()
        .route(http::routes::HEALTH, get(http::health))
        .merge(http::routes::pages());
    let routes = http::routes::engine_paths()
        .fold(local, |router, path| router.route(path, any(dispatch)))
        .fallback(http::route_not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .with_state(node);
    observe.layer(routes)
}

/// This term's router when this node owns; the owner's otherwise.
async fn dispatch(State(node): State<Node>, request: Request) -> Response<Body> {
    let term = node.current.borrow().clone();
    if let Some(term) = term {
        return term.router.oneshot(unrouted(request)).await.into_response();
    }
    if let Some(answer) = node.line.answer(&request) {
        return answer;
    }
    if let Some(stream) = node.line.stream(&request, node.streams) {
        return stream;
    }
    if is_stream(request.uri().path()) {
        return ApiError::stream_elsewhere().into_response();
    }
    node.forwarder.forward(request).await
}

/// `request` as a router that has not seen it gets it: with only the client's address
/// among its extensions, as a forwarded request reaches the owner. The match here left
/// the path's parameters there, and a second router appends its own to them (a `Path`
/// extractor would then see two and refuse the request).
fn unrouted(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    let peer = parts.extensions.remove::<ConnectInfo<SocketAddr>>();
    parts.extensions.clear();
    if let Some(peer) = peer {
        parts.extensions.insert(peer);
    }
    Request::from_parts(parts, body)
}

/// The push routes (SSE): `…/stream`.
fn is_stream(path: &str) -> bool {
    path.ends_with("/stream")
}
