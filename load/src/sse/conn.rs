//! One SSE stream over a raw TCP connection: the request, the answer's head, then events.
//!
//! Not hyper: a hyper connection keeps its own read buffer (8 KiB to start) and a task per
//! connection, and the point of the `stream` scenario is to hold ~20,000 of these in one
//! small process. Here an open stream is its socket, the framing decoder's few words and
//! the event parser's line buffer; reads go through a stack buffer that is not held
//! across the wait for the socket, so it is not part of the parked task.

use std::io;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::chunked::{BadChunk, BodyDecoder, Framing};
use super::parse::{Event, LineTooLong, SseParser};

/// Largest answer head accepted.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Longest event line accepted (a seat list of a big session fits).
const MAX_LINE_BYTES: usize = 256 * 1024;
/// Bytes read at once, on the stack.
const READ_BYTES: usize = 4 * 1024;

/// Why a stream could not be opened or read. The names are report keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// TCP connect refused or failed.
    Connect,
    /// The connection broke (or was closed before the head was complete).
    Io,
    /// The answer was not HTTP, or its head was too long.
    BadHead,
    /// The answer was HTTP but not a 200 event stream (its status).
    Status(u16),
    /// A 200 that is not `text/event-stream`.
    NotEventStream,
    /// Malformed chunk framing or an event line past the bound.
    BadBody,
}

impl SseError {
    /// Stable name for reports (a status is reported as an answer, by its code).
    pub fn name(self) -> &'static str {
        match self {
            SseError::Connect => "connect",
            SseError::Io => "io",
            SseError::BadHead => "bad_head",
            SseError::Status(_) => "status",
            SseError::NotEventStream => "not_event_stream",
            SseError::BadBody => "bad_body",
        }
    }
}

impl From<BadChunk> for SseError {
    fn from(_: BadChunk) -> Self {
        SseError::BadBody
    }
}

impl From<LineTooLong> for SseError {
    fn from(_: LineTooLong) -> Self {
        SseError::BadBody
    }
}

/// An open event stream.
pub struct SseStream {
    tcp: TcpStream,
    body: BodyDecoder,
    pub(super) parser: SseParser,
    /// Events parsed but not yet handed out (one read may carry several).
    ready: std::collections::VecDeque<Event>,
    /// The server ended the body or closed the connection.
    ended: bool,
}

impl SseStream {
    /// Connects to `addr`, asks `GET path_and_query` with `Host: host`, and reads the
    /// answer's head. A status other than 200 is [`SseError::Status`].
    pub async fn open(
        addr: SocketAddr,
        host: &str,
        path_and_query: &str,
    ) -> Result<Self, SseError> {
        let mut tcp = TcpStream::connect(addr)
            .await
            .map_err(|_| SseError::Connect)?;
        // Events are small and latency is measured: Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\
             Cache-Control: no-cache\r\n\r\n"
        );
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|_| SseError::Io)?;
        let (framing, rest) = read_head(&tcp).await?;
        let mut stream = Self {
            tcp,
            body: BodyDecoder::new(framing),
            parser: SseParser::new(MAX_LINE_BYTES),
            ready: Default::default(),
            ended: false,
        };
        stream.take(&rest)?;
        Ok(stream)
    }

    /// The next event; `None` once the server has ended the stream.
    pub async fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Ok(Some(e));
            }
            if self.ended {
                return Ok(None);
            }
            self.tcp.readable().await.map_err(|_| SseError::Io)?;
            let mut buf = [0u8; READ_BYTES];
            match self.tcp.try_read(&mut buf) {
                Ok(0) => self.ended = true,
                Ok(n) => self.take(&buf[..n])?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return Err(SseError::Io),
            }
        }
    }

    fn take(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        let mut events = Vec::new();
        let parser = &mut self.parser;
        let mut bad = None;
        self.body.decode(bytes, |data| {
            if bad.is_none() {
                bad = parser.feed(data, &mut events).err();
            }
        })?;
        if let Some(e) = bad {
            return Err(e.into());
        }
        self.ready.extend(events);
        if self.body.is_done() {
            self.ended = true;
        }
        Ok(())
    }
}

/// Reads up to the end of the answer's head; returns the body's framing and the body
/// bytes read with the head.
async fn read_head(tcp: &TcpStream) -> Result<(Framing, Vec<u8>), SseError> {
    let mut head = Vec::with_capacity(512);
    loop {
        tcp.readable().await.map_err(|_| SseError::Io)?;
        let mut buf = [0u8; 1024];
        match tcp.try_read(&mut buf) {
            Ok(0) => return Err(SseError::Io),
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => return Err(SseError::Io),
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&head) {
            Ok(httparse::Status::Complete(len)) => {
                let framing = check_head(&response)?;
                return Ok((framing, head.split_off(len)));
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD_BYTES => {}
            _ => return Err(SseError::BadHead),
        }
    }
}

/// The framing of a 200 `text/event-stream` answer, or why it is not one.
fn check_head(response: &httparse::Response<'_, '_>) -> Result<Framing, SseError> {
    let status = response.code.ok_or(SseError::BadHead)?;
    if status != 200 {
        return Err(SseError::Status(status));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
    };
    let content_type = header("content-type").unwrap_or_default();
    if !content_type.starts_with("text/event-stream") {
        return Err(SseError::NotEventStream);
    }
    if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        return Ok(Framing::Chunked);
    }
    match header("content-length") {
        Some(n) => n
            .trim()
            .parse()
            .map(Framing::Length)
            .map_err(|_| SseError::BadHead),
        None => Ok(Framing::UntilClose),
    }
}
