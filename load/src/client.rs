//! The HTTP transport: one keep-alive HTTP/1.1 connection per worker.
//!
//! Each worker owns its connection outright (hyper's low-level `conn::http1`), so there is
//! no pool, no lock and no connection hand-off per request: on 2 cores shared with the
//! server, every cycle the generator does not spend is one the server gets. What goes on
//! the wire is `concert-client`'s sans-IO [`Call`]s; this module only adds the `Host`,
//! per connection: with several targets, the node each connection is pinned to.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use concert_client::{Call, Reply};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::target::Target;

/// A request as the generator sends it.
pub type Req = Request<Full<Bytes>>;

/// Why a request got no HTTP answer. The names are the keys of the `errors` map in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// TCP connect refused or failed.
    Connect,
    /// The connection broke while sending or reading.
    Io,
    /// No complete answer within the request timeout.
    Timeout,
}

impl Failure {
    /// Stable name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Connect => "connect",
            Failure::Io => "io",
            Failure::Timeout => "timeout",
        }
    }
}

/// Turns the client's calls into requests (the connection adds the `Host` header).
#[derive(Debug, Clone)]
pub struct Requests {
    /// With a spread, each request names the next of that many client addresses.
    forwarded_for: Option<(u32, Arc<AtomicU32>)>,
}

impl Requests {
    /// Requests for `target` (its `X-Forwarded-For` spread).
    pub fn new(target: &Target) -> Self {
        Self {
            forwarded_for: (target.forwarded_for_spread > 0)
                .then(|| (target.forwarded_for_spread, Arc::new(AtomicU32::new(0)))),
        }
    }

    /// A bare `GET path` (the bare server's route, which no client call names).
    pub fn get(&self, path: &str) -> Req {
        Request::get(path)
            .body(Full::new(Bytes::new()))
            .expect("a valid path")
    }

    /// The request of `call`.
    pub fn of<T: Reply>(&self, call: Call<T>) -> Req {
        let mut request = call
            .into_request()
            .expect("tokens and keys the server gave are valid header values");
        if let Some((spread, next)) = &self.forwarded_for {
            let n = next.fetch_add(1, Ordering::Relaxed) % spread;
            let [_, a, b, c] = n.to_be_bytes();
            let address = std::net::Ipv4Addr::new(10, a, b, c);
            let value = HeaderValue::from_str(&address.to_string()).expect("an address");
            request.headers_mut().insert("x-forwarded-for", value);
        }
        request.map(Full::new)
    }
}

/// One keep-alive connection, reopened after any failure.
pub struct Conn {
    target: Arc<Target>,
    /// The target's `Host`, which hyper's low-level client does not add; parsed once, a
    /// clone per request shares its bytes.
    host: HeaderValue,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// How many times this connection had to be (re)opened after the first.
    pub reconnects: u64,
}

impl Conn {
    /// Opens a connection to `target`.
    pub async fn open(target: Arc<Target>) -> Result<Self, Failure> {
        let sender = Some(handshake(&target).await?);
        Ok(Self {
            host: HeaderValue::from_str(&target.host_header).expect("a valid Host header"),
            target,
            sender,
            reconnects: 0,
        })
    }

    /// Sends `req` (with this connection's `Host`) and reads the whole answer, within
    /// `timeout` (connect included).
    pub async fn send(
        &mut self,
        mut req: Req,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), Failure> {
        req.headers_mut().insert(HOST, self.host.clone());
        match tokio::time::timeout(timeout, self.exchange(req)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(f)) => {
                self.sender = None;
                Err(f)
            }
            Err(_) => {
                // The connection may still carry the late answer: start afresh.
                self.sender = None;
                Err(Failure::Timeout)
            }
        }
    }

    async fn exchange(&mut self, req: Req) -> Result<(StatusCode, Bytes), Failure> {
        let sender = match &mut self.sender {
            Some(s) if !s.is_closed() => s,
            _ => {
                self.reconnects += 1;
                self.sender.insert(handshake(&self.target).await?)
            }
        };
        sender.ready().await.map_err(|_| Failure::Io)?;
        let resp = sender.send_request(req).await.map_err(|_| Failure::Io)?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Io)?
            .to_bytes();
        Ok((status, body))
    }
}

async fn handshake(target: &Target) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream = TcpStream::connect(target.addr)
        .await
        .map_err(|_| Failure::Connect)?;
    // Small requests and answers: Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Failure::Connect)?;
    tokio::spawn(async move {
        // Ends when the server closes or the sender is dropped; errors surface on the sender.
        let _ = conn.await;
    });
    Ok(sender)
}
