//! One connection, from accept to close. Its first request head (`first_head`) chooses
//! who serves it: a plain stream request is served outside hyper (`stream_conn`: no
//! 8 KiB buffers kept for the stream's life), anything else by hyper, with the bytes
//! already read replayed (`rewind`). A stream asked on a kept-alive connection after
//! another request stays with hyper: only a connection's first head is looked at.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tower::ServiceExt;

use super::drain::Draining;
use super::first_head::{self, FirstHead};
use super::rewind::Rewind;
use super::{Served, stream_conn};

/// What every connection is served with.
pub(crate) struct Serving<S> {
    pub(crate) router: S,
    pub(crate) hyper: http1::Builder,
    pub(crate) header_timeout: Duration,
}

/// Serves the connection `socket` from `peer` until it closes.
///
/// Each phase's future is boxed, so that this task (allocated whole when spawned, for the
/// connection's life) holds only pointers and handles: the first head's buffer and timer
/// go when the head is read, a stream's connection never carries hyper's, and hyper's
/// never carries a stream's.
pub(crate) async fn serve<S: Served>(
    mut socket: TcpStream,
    peer: SocketAddr,
    serving: Arc<Serving<S>>,
    mut draining: Draining,
) {
    let first = tokio::select! {
        first = Box::pin(first_head::read(&mut socket, serving.header_timeout)) => first,
        // Nothing asked yet: closed at once, as hyper closes its idle connections.
        () = draining.begun() => return,
    };
    match first {
        FirstHead::Stream(request) => {
            let router = serving.router.clone();
            drop(serving);
            Box::pin(stream_conn::serve(socket, *request, peer, router, draining)).await;
        }
        FirstHead::Hyper(read) => {
            let io = Rewind::new(read, socket);
            Box::pin(with_hyper(io, peer, &serving, draining)).await;
        }
        FirstHead::Closed => {}
    }
}

/// Serves `io` with hyper until it closes; a drain lets the request in progress finish.
async fn with_hyper<S: Served>(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    peer: SocketAddr,
    serving: &Serving<S>,
    mut draining: Draining,
) {
    let router = serving.router.clone();
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    });
    let connection = serving.hyper.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = draining.begun() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    // Errors here are the client's (reset, timed-out head): nothing to answer.
    if let Err(error) = served {
        tracing::debug!(%error, "connection ended");
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::super::drain::Drain;
    use super::*;

    /// What a connection's task may take (its future, allocated whole when it is spawned,
    /// for as long as the connection is open): every connection pays it. ~430 bytes in a
    /// debug build; hyper's connection alone is ~1 KB, the stream path's state more.
    const TASK_BYTES: usize = 512;

    #[tokio::test]
    async fn a_connection_s_task_is_small_whichever_path_it_takes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (socket, peer) = listener.accept().await.unwrap();
        let serving = Arc::new(Serving {
            router: axum::Router::new(),
            hyper: http1::Builder::new(),
            header_timeout: Duration::from_secs(1),
        });
        let drain = Drain::new();
        let task = serve(socket, peer, serving, drain.watcher());
        // Every phase is boxed: the task is handles and pointers.
        let size = std::mem::size_of_val(&task);
        assert!(size <= TASK_BYTES, "{size} bytes");
    }
}
