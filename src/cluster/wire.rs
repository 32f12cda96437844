//! How a forwarded request and its answer travel over NATS request/reply: each as one
//! payload and no NATS headers, an HTTP/1.1-style head followed by the body.
//!
//! ```text
//! POST /concert/reservation HTTP/1.1          HTTP/1.1 409
//! authorization: 0b9f…                        content-type: application/json
//! x-request-id: 7c1e…                         x-request-id: 7c1e…
//! concert-peer: 10.0.0.7:5151
//! concert-observed: 1
//!                                             {"errorCode":409,…}
//! {"sessionId":2,"seatNumber":4}
//! ```
//!
//! (every line ends in `\r\n`, the blank line ends the head). It is read back with
//! `httparse`, as `transport::first_head` reads a client's head, and the header values,
//! the path and the body are slices of the received payload, not copies. Async-nats's
//! `HeaderMap`s carried it before (hash maps of `String`s, written as `NATS/1.0` header
//! text and parsed back by each side's NATS client): a forwarded hold cost both nodes
//! ~157,000 instructions then, ~96,000 now (`docs/performance.md`, "A forwarded hold
//! in instructions").
//!
//! Only the headers the API reads cross, besides two of our own: the client's address
//! and the "observed" mark (a client's header of either name stays behind like any
//! other). Cookies and hop-by-hop headers stay on the node that received the request.
//! That node observed it (its request id, log line, metrics and latency window:
//! `http::observe`), and says so, so the owner does not count it again. A payload
//! whose head is cut short, has no blank line or more than [`MAX_HEADERS`] headers is
//! no message: `None`. Every node must speak this form (`docs/scale-out.md`, "Mixed
//! versions").

use std::io::Write as _;
use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, Uri};

use crate::http::error::ContractBody;
use crate::http::observe::Observed;

/// The socket address the client connected from (the door's client address, or the
/// proxy whose `X-Forwarded-For` names it).
const PEER: &str = "concert-peer";
/// Present when the sending node observed the request (every node of this version
/// does): the owner marks it [`Observed`], and logs it at `debug` without counting it.
const OBSERVED: &str = "concert-observed";

/// The most headers one head carries, ours included: `httparse` reads into an array
/// this long, so a longer head is malformed. An owner's answer has under ten; a
/// request's past it (repeats of the API's headers, which no client needs) stay behind.
const MAX_HEADERS: usize = 32;

/// The request headers the API reads (`docs/api.md`); only these cross.
static REQUEST_HEADERS: [HeaderName; 11] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-user-token"),
    HeaderName::from_static("x-user-id"),
    HeaderName::from_static("x-admin-key"),
    HeaderName::from_static("x-pow"),
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("idempotency-key"),
    header::CONTENT_TYPE,
    header::ACCEPT,
    header::IF_NONE_MATCH,
];

/// Answer headers that describe the connection, not the answer: never copied back.
static HOP_BY_HOP: [HeaderName; 4] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::CONTENT_LENGTH,
    HeaderName::from_static("keep-alive"),
];

/// Room reserved for the head besides the body's length: a head of the few headers
/// a request or an answer has fits, so the payload is allocated once.
const HEAD_BYTES: usize = 512;

/// A request as it leaves the node that received it: the payload to send.
pub fn encode_request(
    method: &Method,
    uri: &Uri,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Bytes {
    let mut out = Vec::with_capacity(HEAD_BYTES + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // Ours first, so the bound below never leaves them out.
    let mut room = MAX_HEADERS - 1;
    if let Some(peer) = peer {
        // Writing to a `Vec` cannot fail.
        let _ = write!(out, "{PEER}: {peer}\r\n");
        room -= 1;
    }
    write_header(&mut out, OBSERVED, b"1");
    // One walk over the client's few headers, not a lookup of each of ours in them.
    let crossing = headers
        .iter()
        .filter(|(name, _)| REQUEST_HEADERS.contains(*name))
        .take(room);
    end_head(out, crossing, body)
}

/// The request the owner runs through its router; `None` if the payload is not one
/// (a bug, a stray publisher on the subject, or a node that sends another form).
pub fn decode_request(payload: Bytes) -> Option<Request<Body>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut slots);
    let httparse::Status::Complete(head_len) = head.parse(&payload).ok()? else {
        return None;
    };
    let method = Method::from_bytes(head.method?.as_bytes()).ok()?;
    let uri = Uri::from_maybe_shared(payload.slice_ref(head.path?.as_bytes())).ok()?;
    let mut request = Request::new(Body::from(payload.slice(head_len..)));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    let mut peer = None;
    let mut observed = false;
    for parsed in head.headers.iter() {
        if let Some(name) = REQUEST_HEADERS
            .iter()
            .find(|name| name.as_str().eq_ignore_ascii_case(parsed.name))
        {
            if let Ok(value) = HeaderValue::from_maybe_shared(payload.slice_ref(parsed.value)) {
                request.headers_mut().append(name.clone(), value);
            }
        } else if parsed.name.eq_ignore_ascii_case(PEER) {
            peer = std::str::from_utf8(parsed.value)
                .ok()
                .and_then(|peer| peer.parse::<SocketAddr>().ok());
        } else if parsed.name.eq_ignore_ascii_case(OBSERVED) {
            observed = true;
        }
    }
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    if observed {
        request.extensions_mut().insert(Observed);
    }
    Some(request)
}

/// An answer as the owner sends it back: the payload to reply with.
pub fn encode_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(HEAD_BYTES + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
    let crossing = headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(*name))
        .take(MAX_HEADERS);
    end_head(out, crossing, body)
}

/// The answer the node that received the request gives its client; `None` if the
/// reply is not one.
pub fn decode_response(payload: Bytes) -> Option<Response<Body>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Response::new(&mut slots);
    let httparse::Status::Complete(head_len) = head.parse(&payload).ok()? else {
        return None;
    };
    let status = StatusCode::from_u16(head.code?).ok()?;
    let mut response = Response::new(Body::from(payload.slice(head_len..)));
    *response.status_mut() = status;
    for parsed in head.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(parsed.name.as_bytes()) else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_maybe_shared(payload.slice_ref(parsed.value)) {
            response.headers_mut().append(name, value);
        }
    }
    // The owner's `observe` gave any error its contract body: this node's must keep it
    // (the marker is an extension, which does not cross).
    response.extensions_mut().insert(ContractBody);
    Some(response)
}

/// `name: value\r\n`. A `HeaderValue` holds no `\r`, `\n` or other control byte but
/// tab, so it cannot end the line early; `httparse` takes every byte it may hold.
/// The payload: `out` (a start line and our own headers), then the `crossing` headers,
/// the blank line and the body.
fn end_head<'a>(
    mut out: Vec<u8>,
    crossing: impl Iterator<Item = (&'a HeaderName, &'a HeaderValue)>,
    body: &[u8],
) -> Bytes {
    for (name, value) in crossing {
        write_header(&mut out, name.as_str(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn write_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_crosses_with_what_the_api_reads_and_nothing_else() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("tok"));
        headers.insert("idempotency-key", HeaderValue::from_static("k1"));
        headers.insert("cookie", HeaderValue::from_static("secret"));
        headers.insert(PEER, HeaderValue::from_static("6.6.6.6:1"));
        let peer: SocketAddr = "10.0.0.7:5151".parse().unwrap();
        let uri: Uri = "/concert/seat/3?x=1".parse().unwrap();
        let payload = encode_request(&Method::POST, &uri, Some(peer), &headers, b"{}");
        let request = decode_request(payload).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), &uri);
        assert_eq!(request.headers()["authorization"], "tok");
        assert_eq!(request.headers()["idempotency-key"], "k1");
        assert!(request.headers().get("cookie").is_none());
        assert!(request.headers().get(PEER).is_none());
        let info = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .unwrap();
        assert_eq!(info.0, peer);
        assert!(
            request.extensions().get::<Observed>().is_some(),
            "observed where it was received: the owner does not count it again"
        );
        // A sender that does not say so: the owner observes it in full.
        let unsaid =
            decode_request(Bytes::from_static(b"GET /concert/list HTTP/1.1\r\n\r\n")).unwrap();
        assert!(unsaid.extensions().get::<Observed>().is_none());
        assert!(
            unsaid
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_none()
        );
    }

    #[test]
    fn an_answer_comes_back_with_its_status_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("1"));
        headers.insert("content-length", HeaderValue::from_static("2"));
        let payload = encode_response(StatusCode::SERVICE_UNAVAILABLE, &headers, b"{}");
        let response = decode_response(payload).unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(response.headers().get("content-length").is_none());
        assert!(
            response.extensions().get::<ContractBody>().is_some(),
            "its body is the owner's, kept as is by this node's observe"
        );
        assert!(decode_response(Bytes::new()).is_none());
    }

    #[tokio::test]
    async fn a_body_holding_a_blank_line_crosses_whole() {
        use http_body_util::BodyExt;
        let body = b"{\"a\":\"x\r\n\r\nGET / HTTP/1.1\r\n\r\n\"}";
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("accept", HeaderValue::from_static("a/b"));
        headers.append("accept", HeaderValue::from_static("c/d"));
        let uri: Uri = "/concert/reservation".parse().unwrap();
        let payload = encode_request(&Method::POST, &uri, None, &headers, body);
        let request = decode_request(payload).unwrap();
        let accepts: Vec<_> = request.headers().get_all("accept").iter().collect();
        assert_eq!(accepts, ["a/b", "c/d"]);
        let read = request.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&read[..], body);

        let payload = encode_response(StatusCode::CONFLICT, &headers, body);
        let response = decode_response(payload).unwrap();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(response.headers()["content-type"], "application/json");
        let read = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&read[..], body);
    }

    #[test]
    fn a_malformed_payload_is_no_message() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("tok"));
        let uri: Uri = "/concert/list".parse().unwrap();
        let whole = encode_request(&Method::GET, &uri, None, &headers, b"");
        let blank = whole.len() - 2;
        assert!(decode_request(whole.clone()).is_some());
        // Cut short, in the request line and in a header.
        assert!(decode_request(whole.slice(..10)).is_none());
        assert!(decode_request(whole.slice(..whole.len() - 8)).is_none());
        // A head without its blank line.
        assert!(decode_request(whole.slice(..blank)).is_none());
        // No head at all: a body alone, as an older node sent it.
        assert!(decode_request(Bytes::from_static(b"{\"sessionId\":2}")).is_none());
        // More headers than the bound.
        let mut long = b"GET /concert/list HTTP/1.1\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            long.extend_from_slice(b"accept: */*\r\n");
        }
        long.extend_from_slice(b"\r\n");
        assert!(decode_request(Bytes::from(long)).is_none());

        let answer = encode_response(StatusCode::OK, &headers, b"{}");
        assert!(decode_response(answer.slice(..answer.len() - 4)).is_none());
        assert!(decode_response(answer.slice(..7)).is_none());
        let mut long = b"HTTP/1.1 200\r\n".to_vec();
        for _ in 0..=MAX_HEADERS {
            long.extend_from_slice(b"x-a: b\r\n");
        }
        long.extend_from_slice(b"\r\n");
        assert!(decode_response(Bytes::from(long)).is_none());
    }

    #[test]
    fn the_headers_past_the_bound_stay_behind_ours_cross() {
        let mut headers = HeaderMap::new();
        for _ in 0..2 * MAX_HEADERS {
            headers.append("accept", HeaderValue::from_static("*/*"));
        }
        let peer: SocketAddr = "10.0.0.7:5151".parse().unwrap();
        let uri: Uri = "/concert/list".parse().unwrap();
        let payload = encode_request(&Method::GET, &uri, Some(peer), &headers, b"");
        let request = decode_request(payload).unwrap();
        assert_eq!(
            request.headers().get_all("accept").iter().count(),
            MAX_HEADERS - 2
        );
        assert!(request.extensions().get::<Observed>().is_some());
        assert!(
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .is_some()
        );
    }
}
