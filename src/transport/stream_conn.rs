//! A stream's connection served outside hyper, once its first head is read
//! (`first_head`): the head becomes an `http::Request` for the same router (every
//! middleware applies as on hyper's path), and the answer is written straight to the
//! socket — its head, then each body frame as a chunk, then the last chunk — and the
//! connection closes (`connection: close`: nothing is read after the head).
//!
//! Why: hyper keeps an 8 KiB read buffer and an 8 KiB write buffer for every connection's
//! whole life, two thirds of what an open queue stream cost (`docs/performance.md`,
//! "Streams"). Here a stream keeps only its socket, its body and a frame in flight (~150
//! bytes, written as it comes). A slow reader is ended as on hyper's path: the socket
//! write blocks, the stream's 4-frame channel fills and its send timeout ends the stream
//! (`http::streams`).

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use axum::http::{Request, StatusCode, response};
use http_body_util::BodyExt;
use hyper::body::Body as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tower::ServiceExt;

use super::Served;
use super::drain::Draining;

/// How the answer's body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (1xx, 204, 304).
    Empty,
    /// `content-length` (a JSON answer: a refusal before any stream starts).
    Length(u64),
    /// `transfer-encoding: chunked` (the stream).
    Chunked,
}

/// Answers `request` (a plain stream request from `peer`) with `router` on `socket`,
/// then closes it. A drain ends a chunked body at its next frame boundary.
pub(crate) async fn serve(
    mut socket: TcpStream,
    request: Request<()>,
    peer: SocketAddr,
    router: impl Served,
    mut draining: Draining,
) {
    let mut request = request.map(|()| Body::empty());
    // As hyper's path inserts it: handlers and middleware see the peer the same way.
    request.extensions_mut().insert(ConnectInfo(peer));
    // Boxed: the router's future is large and lives only until the answer's head; held
    // inline it would size this task, for the stream's whole life, to fit it.
    let response = match Box::pin(router.oneshot(request)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let framing = framing(&parts, &body);
    let head = head(&parts, framing);
    drop(parts);
    let (mut reader, mut writer) = socket.split();
    let sent = tokio::select! {
        sent = send(&mut writer, head, body, framing, &mut draining) => sent,
        () = client_gone(&mut reader) => Ok(()),
    };
    if let Err(error) = sent {
        tracing::debug!(%error, "stream connection ended");
    }
    // Dropping the socket closes it: every byte written is on its way.
}

/// How `parts`' body goes on the wire: as hyper would choose it.
fn framing(parts: &response::Parts, body: &Body) -> Framing {
    let status = parts.status;
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Framing::Empty;
    }
    let declared = parts.headers.get(CONTENT_LENGTH);
    let declared = declared.and_then(|value| value.to_str().ok()?.parse().ok());
    match declared.or(body.size_hint().exact()) {
        Some(length) => Framing::Length(length),
        None => Framing::Chunked,
    }
}

/// The answer's head: the status line, the response's own headers, the framing's,
/// a `date` (as hyper adds one) and `connection: close`.
fn head(parts: &response::Parts, framing: Framing) -> Vec<u8> {
    let mut head = Vec::with_capacity(320);
    let status = parts.status;
    let reason = status.canonical_reason().unwrap_or("");
    // Writing to a Vec cannot fail.
    let _ = write!(head, "HTTP/1.1 {} {reason}\r\n", status.as_str());
    for (name, value) in &parts.headers {
        if name == CONNECTION || name == TRANSFER_ENCODING || name == CONTENT_LENGTH {
            continue; // this path's own, below
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Empty => {}
        Framing::Length(length) => {
            let _ = write!(head, "content-length: {length}\r\n");
        }
        Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    if !parts.headers.contains_key(DATE) {
        let now = httpdate::fmt_http_date(SystemTime::now());
        let _ = write!(head, "date: {now}\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

/// Writes `head`, then `body` framed as `framing` says, frame by frame as it comes.
async fn send(
    writer: &mut WriteHalf<'_>,
    head: Vec<u8>,
    mut body: Body,
    framing: Framing,
    draining: &mut Draining,
) -> io::Result<()> {
    writer.write_all(&head).await?;
    drop(head);
    let chunked = match framing {
        Framing::Empty => return Ok(()),
        Framing::Length(_) => false,
        Framing::Chunked => true,
    };
    loop {
        let frame = if chunked {
            // A stream never ends on its own: a drain ends it between two frames, with
            // the frames already queued sent first.
            tokio::select! {
                biased;
                frame = body.frame() => frame,
                () = draining.begun() => None,
            }
        } else {
            body.frame().await
        };
        let Some(frame) = frame else { break };
        // Trailers (no route sends any) are not written.
        let Ok(data) = frame.map_err(io::Error::other)?.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue; // an empty chunk would be the last one
        }
        if chunked {
            let mut chunk = Vec::with_capacity(data.len() + 12);
            let _ = write!(chunk, "{:x}\r\n", data.len());
            chunk.extend_from_slice(&data);
            chunk.extend_from_slice(b"\r\n");
            writer.write_all(&chunk).await?;
        } else {
            writer.write_all(&data).await?;
        }
    }
    if chunked {
        writer.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// Resolves when the client closes its side (or the socket fails). What it sends after
/// its head is read and dropped, never taken as a request: the answer closes the
/// connection. Noticing the close is what ends a stream whose client went away between
/// frames (its task sees the body dropped and gives back its place under the cap).
async fn client_gone(reader: &mut ReadHalf<'_>) {
    let mut discard = [0u8; 64];
    while matches!(reader.read(&mut discard).await, Ok(n) if n > 0) {}
}
