//! The accept loop, owned here rather than by `axum::serve` so that slow and idle clients
//! cannot take the server down: connections are capped in all and per client address
//! (the excess is closed at accept, never left to fail `accept` for everyone), a request
//! head must arrive within the header timeout (on a fresh connection and between
//! keep-alive requests alike, so it is also the idle timeout), and a shutdown stops
//! accepting, closes idle connections and lets in-flight requests finish. A stream asked
//! as a connection's first request is served outside hyper, without hyper's per-connection
//! buffers (`connection`, `stream_conn`).

mod caps;
mod connection;
mod descriptors;
mod drain;
mod first_head;
mod rewind;
mod stream_conn;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tower::Service;

use self::caps::ConnectionCaps;
use self::connection::Serving;
pub use self::descriptors::raise_descriptor_limit;
use self::drain::Drain;

/// The connection layer's limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// A request head (on a fresh or kept-alive connection) must arrive within this time.
    pub header_timeout: Duration,
    /// Connections open at once; past it a new one is closed at accept.
    pub max_connections: usize,
    /// Connections open at once from one client address (`None`: no such cap).
    pub max_connections_per_ip: Option<usize>,
}

/// What the loop serves: an axum `Router`, or one inside the server's layers
/// (`http::App`).
pub trait Served:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Served for T where
    T: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// How long the loop waits after `accept` itself fails (out of descriptors or memory)
/// before trying again, rather than spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and
/// returns once every connection has closed (idle ones at once, busy ones after their
/// request). Handlers see the peer as axum's `ConnectInfo<SocketAddr>`. A `Router`
/// given here should have its state applied (`with_state`), so that its handlers are
/// services once, not again for every request.
pub async fn serve(
    listener: TcpListener,
    router: impl Served,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max_connections =
        descriptors::fit_connection_cap(limits.max_connections, descriptors::soft_limit());
    let caps = ConnectionCaps::new(max_connections, limits.max_connections_per_ip);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let serving = Arc::new(Serving {
        router,
        hyper: builder,
        header_timeout: limits.header_timeout,
    });
    let drain = Drain::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let admitted = match caps.admit(peer.ip()) {
            Ok(admitted) => admitted,
            Err(refused) => {
                // Debug only: a flood would otherwise flood the log too.
                tracing::debug!(%peer, ?refused, "connection refused at accept");
                continue;
            }
        };
        tracing::trace!(%peer, "connection accepted");
        let _ = stream.set_nodelay(true);
        let connection = connection::serve(stream, peer, Arc::clone(&serving), drain.watcher());
        tokio::spawn(async move {
            connection.await;
            drop(admitted);
        });
    }
    drop(listener);
    drain.drain().await;
}
