//! Streams on a fresh connection are served outside hyper (`transport::stream_conn`):
//! read here over a raw socket, byte for byte, with what tells the two paths apart (this
//! path's answers close the connection, hyper's keep it). Everything else on a fresh
//! connection is still hyper's, its bytes replayed; so is a stream that is not plain.

use std::time::Duration;

use actors::backend_tests;
use actors::testkit::TestDb;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::helpers::TestApp;
use crate::streams::{app, buy, poll_json};
use crate::transport::{closed_within, connect_from, read_response};

backend_tests! {
    a_queue_stream_on_a_fresh_connection_is_served_outside_hyper,
    other_requests_on_a_fresh_connection_are_hyper_s_with_their_bytes_replayed,
    a_stream_request_that_is_not_plain_is_answered_by_hyper,
    a_stream_head_that_never_ends_is_closed_after_the_header_timeout,
    a_shutdown_ends_streams_and_unread_heads_on_the_new_path,
}

/// A raw connection to `app` that sent `request`.
async fn sent(app: &TestApp, request: &str) -> BufReader<TcpStream> {
    let mut stream = connect_from(app, [127, 0, 0, 1]).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    BufReader::new(stream)
}

/// A response head: its status line and headers (lower-cased names).
async fn head(reader: &mut BufReader<TcpStream>) -> (String, Vec<(String, String)>) {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("a head line");
        assert!(line.ends_with("\r\n"), "a whole line: {line:?}");
        if line == "\r\n" {
            break;
        }
        lines.push(line.trim_end().to_owned());
    }
    let status = lines.remove(0);
    let headers = lines
        .iter()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("name: value");
            (name.to_ascii_lowercase(), value.to_owned())
        })
        .collect();
    (status, headers)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found = headers.iter().find(|(n, _)| n == name);
    found.map(|(_, value)| value.as_str())
}

/// The next chunk of a chunked body, or `None` for the last (empty) one.
async fn chunk(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut size = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut size));
    read.await.expect("a chunk within 10 s").expect("reads");
    let size = usize::from_str_radix(size.trim_end(), 16).expect("a hex chunk size");
    let mut data = vec![0; size + 2];
    reader.read_exact(&mut data).await.expect("the chunk");
    assert!(data.ends_with(b"\r\n"), "CRLF after the chunk");
    data.truncate(size);
    (size > 0).then(|| String::from_utf8(data).expect("UTF-8"))
}

/// The next SSE event (one per chunk on this path), as `(name, data)`.
async fn event(reader: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let frame = chunk(reader).await?;
    let frame = frame
        .strip_suffix("\n\n")
        .expect("one whole frame per chunk");
    let (name, data) = frame.split_once('\n').expect("event and data lines");
    let name = name.strip_prefix("event: ").expect("an event line");
    Some((
        name.to_owned(),
        data.strip_prefix("data: ").unwrap().to_owned(),
    ))
}

/// Whether the server closed `reader`'s connection (EOF) within 5 s.
async fn at_eof(reader: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut rest));
    matches!(read.await, Ok(Ok(0)))
}

async fn a_queue_stream_on_a_fresh_connection_is_served_outside_hyper(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let first = app.admitted("first").await;
    let token = app.join("second").await.token;
    let request = format!("GET /concert/wating/stream?token={token} HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut reader = sent(&app, &request).await;
    let (status, headers) = head(&mut reader).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    for (name, value) in [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache"),
        ("x-accel-buffering", "no"),
        ("transfer-encoding", "chunked"),
        // hyper never closes a stream's kept-alive connection: this path always does.
        ("connection", "close"),
    ] {
        assert_eq!(header(&headers, name), Some(value), "{headers:?}");
    }
    assert!(
        header(&headers, "x-request-id").is_some(),
        "the middleware ran"
    );
    assert!(header(&headers, "date").is_some());
    assert_eq!(header(&headers, "content-length"), None);

    let (name, data) = event(&mut reader).await.expect("the first event");
    assert_eq!(name, "queue");
    let place: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(place, poll_json(&app, &token).await);
    assert_eq!(place["isProcessing"], false);
    buy(&app, &first, 4).await;
    loop {
        let (name, data) = event(&mut reader).await.expect("the admission");
        assert_eq!(name, "queue");
        if serde_json::from_str::<Value>(&data).unwrap()["isProcessing"] == true {
            break;
        }
    }
    assert_eq!(
        chunk(&mut reader).await,
        None,
        "the last chunk after the admission"
    );
    assert!(at_eof(&mut reader).await, "then the connection closes");
    app.stop().await;
}

async fn other_requests_on_a_fresh_connection_are_hyper_s_with_their_bytes_replayed(db: TestDb) {
    let app = app(&db, |_| {}).await;
    // Two requests in one packet: the second is read with the first head and replayed.
    let health = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut reader = sent(&app, &format!("{health}{health}")).await;
    for _ in 0..2 {
        let (status, headers, _) = read_response(&mut reader).await.expect("answered");
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(
            header(&headers, "connection"),
            None,
            "kept alive: {headers:?}"
        );
    }
    // A head with the start of its body in the same packet, the rest later.
    let body = r#"{"sessionId": 1, "seatNumber": 1}"#;
    let (start, rest) = body.split_at(5);
    let post = format!(
        "POST /concert/reservation HTTP/1.1\r\nHost: t\r\nAuthorization: nope\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{start}",
        body.len()
    );
    let mut posted = sent(&app, &post).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    posted.get_mut().write_all(rest.as_bytes()).await.unwrap();
    let (status, _, answer) = read_response(&mut posted).await.expect("answered");
    assert!(status.starts_with("HTTP/1.1 403"), "{status} {answer}");
    // Kept alive, then a stream on it: hyper's (only a fresh connection's first head
    // takes the new path), so no `connection: close`.
    for _ in 0..2 {
        posted.get_mut().write_all(health.as_bytes()).await.unwrap();
        let (status, _, _) = read_response(&mut posted).await.expect("answered");
        assert_eq!(status, "HTTP/1.1 200 OK");
    }
    let stream = "GET /concert/seat/2/stream HTTP/1.1\r\nHost: t\r\n\r\n";
    posted.get_mut().write_all(stream.as_bytes()).await.unwrap();
    let (status, headers) = head(&mut posted).await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(header(&headers, "content-type"), Some("text/event-stream"));
    assert_eq!(header(&headers, "connection"), None, "hyper's: {headers:?}");
    assert_eq!(event(&mut posted).await.expect("the list").0, "seats");
    app.stop().await;
}

async fn a_stream_request_that_is_not_plain_is_answered_by_hyper(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let with_body =
        "GET /concert/seat/2/stream HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello";
    let padded = format!(
        "GET /concert/seat/2/stream HTTP/1.1\r\nHost: t\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(5_000)
    );
    for request in [with_body, padded.as_str()] {
        let mut reader = sent(&app, request).await;
        let (status, headers) = head(&mut reader).await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(header(&headers, "connection"), None, "hyper's: {headers:?}");
        assert_eq!(event(&mut reader).await.expect("the list").0, "seats");
    }
    // HTTP/1.0 has no chunks: hyper answers it, its own way, and closes.
    let mut old = sent(&app, "GET /concert/seat/2/stream HTTP/1.0\r\n\r\n").await;
    let (status, headers) = head(&mut old).await;
    assert!(status.ends_with(" 200 OK"), "{status}");
    assert_eq!(header(&headers, "transfer-encoding"), None);
    let mut first = String::new();
    old.read_line(&mut first).await.unwrap();
    assert_eq!(first, "event: seats\n");
    // Not HTTP: hyper's bare 400, at once.
    let mut bad = sent(
        &app,
        "GET /concert/seat/2/stream HTTP/1.1\r\nBad Header\r\n\r\n",
    )
    .await;
    let (status, _, body) = read_response(&mut bad).await.expect("answered");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 400 Bad Request", "")
    );
    app.stop().await;
}

async fn a_stream_head_that_never_ends_is_closed_after_the_header_timeout(db: TestDb) {
    let app = app(&db, |options| {
        options.http.connections.header_timeout = Duration::from_millis(300);
    })
    .await;
    let started = Instant::now();
    let mut partial = sent(&app, "GET /concert/seat/2/stream HTTP/1.1\r\nHost: t\r\n").await;
    assert!(
        closed_within(partial.get_mut(), Duration::from_secs(5)).await,
        "a stream head never finished stays open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed before the timeout"
    );
    app.stop().await;
}

async fn a_shutdown_ends_streams_and_unread_heads_on_the_new_path(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let mut stream = sent(&app, "GET /concert/seat/2/stream HTTP/1.1\r\n\r\n").await;
    let (_, headers) = head(&mut stream).await;
    assert_eq!(
        header(&headers, "connection"),
        Some("close"),
        "the new path"
    );
    assert_eq!(event(&mut stream).await.expect("the list").0, "seats");
    // A connection whose head is still coming must not hold the drain either.
    let mut unfinished = sent(&app, "GET /concert/seat/2/stream HTTP/1.1\r\n").await;
    let stopping = Instant::now();
    // The helper's grace is 10 s, the header timeout 10 s: neither may be waited out.
    app.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(5));
    assert_eq!(
        chunk(&mut stream).await,
        None,
        "a clean end: the last chunk"
    );
    assert!(at_eof(&mut stream).await);
    assert!(closed_within(unfinished.get_mut(), Duration::from_secs(1)).await);
}
