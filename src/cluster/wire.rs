//! How a forwarded request and its answer travel over NATS request/reply: the method,
//! path and query, the client's address and the headers the API reads go as NATS
//! headers, the body as the payload; the answer comes back the same way. Nothing else
//! of the client's request crosses (cookies, hop-by-hop headers stay on the node that
//! received it). The node that received it observed it (its request id, log line,
//! metrics and latency window: `http::observe`), and says so, so the owner does not
//! count it again.

use std::net::SocketAddr;

use async_nats::HeaderMap as NatsHeaders;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};

use crate::http::error::ContractBody;
use crate::http::observe::Observed;

/// The request's method.
const METHOD: &str = "Concert-Method";
/// The request's path and query.
const URI: &str = "Concert-Uri";
/// The socket address the client connected from (the door's client address, or the
/// proxy whose `X-Forwarded-For` names it).
const PEER: &str = "Concert-Peer";
/// Present when the sending node observed the request (every node of this version
/// does): the owner marks it [`Observed`], and logs it at `debug` without counting it.
/// A sender that does not say so (an older node) has its requests counted by the owner.
const OBSERVED: &str = "Concert-Observed";
/// The answer's status.
const STATUS: &str = "Concert-Status";

/// The request headers the API reads (`docs/api.md`); only these cross.
const REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "x-user-token",
    "x-user-id",
    "x-admin-key",
    "x-pow",
    "x-forwarded-for",
    "x-request-id",
    "idempotency-key",
    "content-type",
    "accept",
    "if-none-match",
];

/// Answer headers that describe the connection, not the answer: never copied back.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "transfer-encoding",
    "content-length",
    "keep-alive",
];

/// A request as it leaves the node that received it.
pub fn encode_request(
    method: &Method,
    uri: &Uri,
    peer: Option<SocketAddr>,
    headers: &axum::http::HeaderMap,
) -> NatsHeaders {
    let mut out = NatsHeaders::new();
    out.insert(METHOD, method.as_str());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    out.insert(URI, path);
    if let Some(peer) = peer {
        out.insert(PEER, peer.to_string().as_str());
    }
    out.insert(OBSERVED, "1");
    for name in REQUEST_HEADERS {
        for value in headers.get_all(*name) {
            if let Ok(value) = value.to_str() {
                out.append(*name, value);
            }
        }
    }
    out
}

/// The request the owner runs through its router; `None` if the message is not one
/// (a bug, or a stray publisher on the subject).
pub fn decode_request(headers: Option<&NatsHeaders>, body: Bytes) -> Option<Request<Body>> {
    let headers = headers?;
    let method = Method::from_bytes(headers.get(METHOD)?.as_str().as_bytes()).ok()?;
    let uri: Uri = headers.get(URI)?.as_str().parse().ok()?;
    let mut request = Request::builder().method(method).uri(uri);
    for name in REQUEST_HEADERS {
        for value in headers.get_all(*name) {
            if let Ok(value) = HeaderValue::from_str(value.as_str()) {
                request = request.header(*name, value);
            }
        }
    }
    let mut request = request.body(Body::from(body)).ok()?;
    if let Some(peer) = headers
        .get(PEER)
        .and_then(|peer| peer.as_str().parse::<SocketAddr>().ok())
    {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    if headers.get(OBSERVED).is_some() {
        request.extensions_mut().insert(Observed);
    }
    Some(request)
}

/// An answer as the owner sends it back.
pub fn encode_response(status: StatusCode, headers: &axum::http::HeaderMap) -> NatsHeaders {
    let mut out = NatsHeaders::new();
    out.insert(STATUS, status.as_str());
    for (name, value) in headers {
        if HOP_BY_HOP.contains(&name.as_str()) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            out.append(name.as_str(), value);
        }
    }
    out
}

/// The answer the node that received the request gives its client; `None` if the
/// reply is not one.
pub fn decode_response(headers: Option<&NatsHeaders>, body: Bytes) -> Option<Response<Body>> {
    let headers = headers?;
    let status = StatusCode::from_bytes(headers.get(STATUS)?.as_str().as_bytes()).ok()?;
    let mut response = Response::builder().status(status);
    for (name, values) in headers.iter() {
        let name: &str = name.as_ref();
        if name == STATUS {
            continue;
        }
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value.as_str()) {
                response = response.header(name.clone(), value);
            }
        }
    }
    let mut response = response.body(Body::from(body)).ok()?;
    // The owner's `observe` gave any error its contract body: this node's must keep it
    // (the marker is an extension, which does not cross).
    response.extensions_mut().insert(ContractBody);
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_crosses_with_what_the_api_reads_and_nothing_else() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("tok"));
        headers.insert("idempotency-key", HeaderValue::from_static("k1"));
        headers.insert("cookie", HeaderValue::from_static("secret"));
        let peer: SocketAddr = "10.0.0.7:5151".parse().unwrap();
        let uri: Uri = "/concert/seat/3?x=1".parse().unwrap();
        let nats = encode_request(&Method::POST, &uri, Some(peer), &headers);
        let request = decode_request(Some(&nats), Bytes::from_static(b"{}")).unwrap();
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), &uri);
        assert_eq!(request.headers()["authorization"], "tok");
        assert_eq!(request.headers()["idempotency-key"], "k1");
        assert!(request.headers().get("cookie").is_none());
        let info = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .unwrap();
        assert_eq!(info.0, peer);
        assert!(
            request.extensions().get::<Observed>().is_some(),
            "observed where it was received: the owner does not count it again"
        );
        // An older sender's request does not say so: the owner observes it in full.
        let mut older = NatsHeaders::new();
        older.insert(METHOD, "GET");
        older.insert(URI, "/concert/list");
        let unsaid = decode_request(Some(&older), Bytes::new()).unwrap();
        assert!(unsaid.extensions().get::<Observed>().is_none());
    }

    #[test]
    fn an_answer_comes_back_with_its_status_and_headers() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("1"));
        headers.insert("content-length", HeaderValue::from_static("2"));
        let nats = encode_response(StatusCode::SERVICE_UNAVAILABLE, &headers);
        let response = decode_response(Some(&nats), Bytes::from_static(b"{}")).unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        assert!(response.headers().get("content-length").is_none());
        assert!(
            response.extensions().get::<ContractBody>().is_some(),
            "its body is the owner's, kept as is by this node's observe"
        );
        assert!(decode_response(None, Bytes::new()).is_none());
    }
}
