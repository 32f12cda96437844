//! What the suites share: a client with room for many connections, a bounded fan-out,
//! a tally of answers (kept raw: the suites compare headers and whole bodies), a crowd
//! of admitted users, and requests below HTTP for what no client will send.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use concert_client::{Call, Client, RawRequest, Reply, Response};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::eventually;

/// A client of the server at `address` that keeps up to `connections` connections open.
pub fn client(address: &str, connections: usize) -> Client {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        // Generous: a debug build on two shared cores; a request past it fails the test.
        .timeout(Duration::from_secs(60))
        .build()
        .expect("a client");
    Client::with_http(address, http)
}

/// Runs `requests` with at most `limit` in flight, and returns their results in order.
pub async fn concurrently<T, F>(limit: usize, requests: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: Future<Output = T>,
{
    futures::stream::iter(requests)
        .buffered(limit)
        .collect()
        .await
}

/// An answer reduced to what the suites compare: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if any.
    pub retry_after: Option<String>,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body, parsed (`Value::Null` if it is not JSON).
    pub body: Value,
}

impl Answer {
    /// Reads a response.
    pub fn read(response: &Response) -> Answer {
        let header = |name: &str| response.header(name).map(str::to_owned);
        Answer {
            status: response.status.as_u16(),
            retry_after: header("retry-after"),
            content_type: header("content-type"),
            body: response.json(),
        }
    }

    /// Sends a hand-made `request` and reads its answer (a transport failure fails the test).
    pub async fn of(request: RawRequest) -> Answer {
        Answer::read(&request.send().await.expect("an HTTP answer"))
    }

    /// Sends a route's `call` with `api` and reads its answer undecoded.
    pub async fn call<T: Reply>(api: &Client, call: Call<T>) -> Answer {
        Answer::read(&api.send_raw(call).await.expect("an HTTP answer"))
    }

    /// The `error` code of an error answer, `"-"` for a success.
    pub fn code(&self) -> String {
        self.body["error"].as_str().unwrap_or("-").to_owned()
    }

    /// True when this is an error in the contract's shape: JSON with exactly
    /// `errorCode` (= status), a non-empty `msg` and a SCREAMING_SNAKE_CASE `error`, and
    /// for a 503 a `Retry-After` in whole seconds.
    pub fn is_contract_error(&self) -> bool {
        let Some(fields) = self.body.as_object() else {
            return false;
        };
        let code_ok = self.body["error"].as_str().is_some_and(|code| {
            !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        });
        let retry_ok = self.status != 503
            || self
                .retry_after
                .as_deref()
                .is_some_and(|s| s.parse::<u32>().is_ok());
        fields.len() == 3
            && self.body["errorCode"] == self.status
            && self.body["msg"].as_str().is_some_and(|m| !m.is_empty())
            && code_ok
            && retry_ok
            && self.content_type.as_deref() == Some("application/json")
    }
}

/// The contract's error body for `status`, `code` and `msg`.
pub fn error_body(status: u16, code: &str, msg: &str) -> Value {
    json!({ "errorCode": status, "msg": msg, "error": code })
}

/// Counts answers by `status code` (e.g. `"409 SEAT_ALREADY_RESERVED"`, `"201 -"`).
pub fn tally<'a>(answers: impl IntoIterator<Item = &'a Answer>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for answer in answers {
        *counts
            .entry(format!("{} {}", answer.status, answer.code()))
            .or_insert(0) += 1;
    }
    counts
}

/// Joins `users` (named `{prefix}{n}`) with at most `limit` joins in flight and waits
/// until each is admitted; returns their tokens in order. The server must admit them
/// all (`max_active` ≥ `users`).
pub async fn admitted_crowd(
    client: &Client,
    prefix: &str,
    users: usize,
    limit: usize,
) -> Vec<String> {
    let join = |n: usize| async move { client.join(&format!("{prefix}{n}")).await };
    let tickets = concurrently(limit, (0..users).map(join)).await;
    let mut tokens = Vec::with_capacity(users);
    for ticket in tickets {
        let ticket = ticket.expect("join");
        // A join answered just before its admission was stored reads as waiting: poll
        // the few that did until they are in (docs/api.md, decision 15).
        if !ticket.is_processing {
            eventually(Duration::from_secs(30), || async {
                client
                    .poll(&ticket.token)
                    .await
                    .expect("poll")
                    .is_processing
            })
            .await;
        }
        tokens.push(ticket.token);
    }
    tokens
}

/// The token of a queue answer read raw.
pub fn token_in(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["token"].as_str().expect("a token").to_owned()
}

/// `count / elapsed` as a whole rate per second.
pub fn per_second(count: usize, elapsed: Duration) -> u64 {
    (count as f64 / elapsed.as_secs_f64()).round() as u64
}

/// An answer read off a raw connection.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    /// HTTP status.
    pub status: u16,
    /// The head (status line and headers), as text.
    pub head: String,
    /// The body, parsed (`Value::Null` if it is not JSON).
    pub body: Value,
}

/// Sends `request` (a whole HTTP/1.1 request, any bytes) on a fresh connection to
/// `address` and reads the answer until the server closes. For what reqwest refuses to
/// send: control characters and raw bytes in headers.
pub async fn raw_request(address: &str, request: &[u8]) -> RawAnswer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    stream.write_all(request).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    RawAnswer {
        status,
        head: head.to_owned(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

/// A whole HTTP/1.1 request with these headers (any bytes) and body, that asks the
/// server to close the connection after answering.
pub fn raw(method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    request
}
