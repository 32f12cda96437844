//! The first request head of a connection, read before choosing who serves it: a plain
//! `GET` of a stream route is served outside hyper (`stream_conn`), everything else by
//! hyper with the bytes read so far replayed (`rewind`). The head is read into a buffer
//! of [`HEAD_BUFFER`] bytes, freed before the connection goes on, within the header
//! timeout. Only the plain case takes the new path; every doubt (another method or
//! version, a body, an odd header, a head past the buffer, a parse error) goes to
//! hyper, which answers it as it always has (a bare 400, 431, the route's answer).

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, Version};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The bytes read for a first head at most. A stream's head (a token in the query or
/// in `Authorization`, a browser's usual headers) fits with room to spare; a longer one
/// goes to hyper, which reads on as for any request.
pub(crate) const HEAD_BUFFER: usize = 4096;

/// Headers parsed at most; a head with more goes to hyper.
const MAX_HEADERS: usize = 48;

/// What the first head asks for.
#[derive(Debug)]
pub(crate) enum FirstHead {
    /// A stream, to be served outside hyper (the head was complete; anything after it
    /// is ignored, since that path answers with `connection: close`). Boxed: the
    /// connection's task holds this until the path takes it, and is sized to fit it.
    Stream(Box<Request<()>>),
    /// Anything else: hyper serves it, reading `read` first.
    Hyper(Bytes),
    /// Nothing to serve: the client closed, failed, or took longer than the header
    /// timeout (closed without an answer, as hyper closes a head that times out).
    Closed,
}

/// Reads `io`'s first request head, within `header_timeout`.
pub(crate) async fn read(io: &mut (impl AsyncRead + Unpin), header_timeout: Duration) -> FirstHead {
    let mut buffer = vec![0u8; HEAD_BUFFER];
    let mut filled = 0;
    let reading = async {
        loop {
            match io.read(&mut buffer[filled..]).await {
                Ok(0) if filled == 0 => return FirstHead::Closed,
                // Closed mid-head: hyper answers that as it does today.
                Ok(0) => return FirstHead::Hyper(Bytes::copy_from_slice(&buffer[..filled])),
                Ok(n) => filled += n,
                Err(_) => return FirstHead::Closed,
            }
            match classify(&buffer[..filled]) {
                Classified::Partial if filled < buffer.len() => {}
                Classified::Stream(request) => return FirstHead::Stream(request),
                Classified::Partial | Classified::Other => {
                    return FirstHead::Hyper(Bytes::copy_from_slice(&buffer[..filled]));
                }
            }
        }
    };
    tokio::time::timeout(header_timeout, reading)
        .await
        .unwrap_or(FirstHead::Closed)
}

/// What the bytes read so far are.
#[derive(Debug)]
enum Classified {
    /// Not a whole head yet.
    Partial,
    /// A whole head of a plain stream request.
    Stream(Box<Request<()>>),
    /// A whole head of anything else, or not HTTP: hyper's to answer.
    Other,
}

fn classify(bytes: &[u8]) -> Classified {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    match head.parse(bytes) {
        Ok(httparse::Status::Partial) => Classified::Partial,
        Ok(httparse::Status::Complete(_)) => stream_request(&head)
            .map_or(Classified::Other, |request| {
                Classified::Stream(Box::new(request))
            }),
        Err(_) => Classified::Other,
    }
}

/// The request, if `head` is a plain stream request: `GET` of a stream route over
/// HTTP/1.1, without a body or anything asking more of the connection than one answer.
fn stream_request(head: &httparse::Request<'_, '_>) -> Option<Request<()>> {
    let target = head.path?;
    if head.method? != "GET" || head.version? != 1 || !is_stream_route(target) {
        return None;
    }
    let mut request = Request::builder()
        .method(Method::GET)
        .uri(Uri::try_from(target).ok()?)
        .version(Version::HTTP_11)
        .body(())
        .ok()?;
    let headers = request.headers_mut();
    for header in head.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        if asks_more_than_one_answer(&name, header.value) {
            return None;
        }
        headers.append(name, HeaderValue::from_bytes(header.value).ok()?);
    }
    Some(request)
}

/// A header that means a body, a 100-continue, or an upgrade: hyper's to handle.
fn asks_more_than_one_answer(name: &HeaderName, value: &[u8]) -> bool {
    use axum::http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
    (name == CONTENT_LENGTH && value != b"0")
        || name == TRANSFER_ENCODING
        || name == EXPECT
        || name == UPGRADE
}

/// `/concert/wating/stream`, `/concert/waiting/stream` or `/concert/seat/{id}/stream`,
/// with any query: the routes `http::router` serves as streams.
fn is_stream_route(target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match path {
        "/concert/wating/stream" | "/concert/waiting/stream" => true,
        _ => path
            .strip_prefix("/concert/seat/")
            .and_then(|rest| rest.strip_suffix("/stream"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/')),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;

    use super::*;

    fn is_stream(head: &str) -> bool {
        matches!(classify(head.as_bytes()), Classified::Stream(_))
    }

    #[test]
    fn only_a_plain_get_of_a_stream_route_is_a_stream() {
        let plain = "GET /concert/wating/stream?token=t HTTP/1.1\r\nHost: h\r\n\r\n";
        assert!(is_stream(plain));
        assert!(is_stream("GET /concert/waiting/stream HTTP/1.1\r\n\r\n"));
        assert!(is_stream(
            "GET /concert/seat/2/stream HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        ));
        for other in [
            "GET /concert/wating HTTP/1.1\r\n\r\n",
            "GET /concert/seat//stream HTTP/1.1\r\n\r\n",
            "GET /concert/seat/2/3/stream HTTP/1.1\r\n\r\n",
            "GET /concert/wating/stream/ HTTP/1.1\r\n\r\n",
            "HEAD /concert/wating/stream HTTP/1.1\r\n\r\n",
            "POST /concert/wating/stream HTTP/1.1\r\n\r\n",
            "GET /concert/wating/stream HTTP/1.0\r\n\r\n",
            "GET http://h/concert/wating/stream HTTP/1.1\r\n\r\n",
            "GET /concert/wating/stream HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "GET /concert/wating/stream HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /concert/wating/stream HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "GET /concert/wating/stream HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            "GET /concert/wating/stream HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(
                matches!(classify(other.as_bytes()), Classified::Other),
                "{other}"
            );
        }
        assert!(matches!(
            classify(b"GET /concert/wating/stream HTTP/1.1\r\nHost"),
            Classified::Partial
        ));
    }

    #[test]
    fn the_request_carries_the_head_s_target_and_headers() {
        let head = "GET /concert/wating/stream?token=t HTTP/1.1\r\nAuthorization: a\r\n\
                    X-Request-Id: one\r\nX-Request-Id: two\r\n\r\n";
        let Classified::Stream(request) = classify(head.as_bytes()) else {
            panic!("a stream");
        };
        assert_eq!(request.uri(), "/concert/wating/stream?token=t");
        assert_eq!(request.headers()["authorization"], "a");
        assert_eq!(request.headers().get_all("x-request-id").iter().count(), 2);
    }

    #[tokio::test]
    async fn a_head_past_the_buffer_and_a_closed_mid_head_go_to_hyper_with_every_byte() {
        let long = format!(
            "GET /concert/wating/stream HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(HEAD_BUFFER)
        );
        let (mut client, mut server) = tokio::io::duplex(HEAD_BUFFER * 2);
        client.write_all(long.as_bytes()).await.unwrap();
        let FirstHead::Hyper(replay) = read(&mut server, Duration::from_secs(1)).await else {
            panic!("to hyper");
        };
        assert_eq!(replay, long.as_bytes()[..HEAD_BUFFER]);

        let (mut client, mut server) = tokio::io::duplex(64);
        client.write_all(b"GET /concert/wa").await.unwrap();
        drop(client);
        let FirstHead::Hyper(replay) = read(&mut server, Duration::from_secs(1)).await else {
            panic!("to hyper");
        };
        assert_eq!(replay, &b"GET /concert/wa"[..]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_trickles_past_the_header_timeout_is_closed() {
        let header_timeout = Duration::from_secs(3);
        let (mut client, mut server) = tokio::io::duplex(64);
        let trickle = tokio::spawn(async move {
            let head = b"GET /concert/wating/stream HTTP/1.1\r\nX-Pad: ";
            client.write_all(head).await.unwrap();
            // A byte every half second: never a whole head, never past the buffer.
            while client.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let started = tokio::time::Instant::now();
        assert!(matches!(
            read(&mut server, header_timeout).await,
            FirstHead::Closed
        ));
        assert_eq!(started.elapsed(), header_timeout);
        drop(server);
        trickle.await.unwrap();
    }
}
