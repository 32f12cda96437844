//! The reader over a real socket, against a server that writes the answer in awkward
//! pieces: events split across chunks and writes, a keep-alive comment, the end.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{Event, SseError, SseStream};

/// Serves one connection: reads the request head, then writes `pieces` with a pause
/// between them (so each is its own read on the other side) and closes.
async fn serve_once(pieces: Vec<Vec<u8>>) -> (SocketAddr, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            tcp.read_exact(&mut b).await.unwrap();
            head.push(b[0]);
        }
        for p in pieces {
            tcp.write_all(&p).await.unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        String::from_utf8(head).unwrap()
    });
    (addr, task)
}

fn ev(name: &str, data: &str) -> Event {
    Event {
        name: name.into(),
        data: data.into(),
    }
}

#[tokio::test]
async fn reads_chunked_events_split_anywhere_then_the_end() {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let body = b"d\r\n: keep-alive\n\r\n1c\r\nevent: queue\ndata: {\"n\":1}\n\n\r\n1c\r\nevent: queue\ndata: {\"n\":0}\n\n\r\n0\r\n\r\n";
    // The head with the first bytes of the body, then the rest a few bytes at a time.
    let mut pieces = vec![[head.as_bytes(), &body[..3]].concat()];
    pieces.extend(body[3..].chunks(7).map(<[u8]>::to_vec));
    let (addr, server) = serve_once(pieces).await;
    let mut s = SseStream::open(addr, "h:1", "/concert/wating/stream?token=a%2Fb")
        .await
        .unwrap();
    assert_eq!(
        s.next_event().await.unwrap(),
        Some(ev("queue", "{\"n\":1}"))
    );
    assert_eq!(
        s.next_event().await.unwrap(),
        Some(ev("queue", "{\"n\":0}"))
    );
    assert_eq!(s.next_event().await.unwrap(), None);
    assert_eq!(s.parser.comments, 1);
    let request = server.await.unwrap();
    assert!(
        request.starts_with("GET /concert/wating/stream?token=a%2Fb HTTP/1.1\r\nHost: h:1\r\n")
    );
    assert!(request.contains("Accept: text/event-stream"));
}

#[tokio::test]
async fn a_refusal_is_its_status_and_a_non_stream_is_refused() {
    let busy = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\n{}";
    let (addr, _s) = serve_once(vec![busy.into()]).await;
    assert_eq!(
        SseStream::open(addr, "h", "/").await.err(),
        Some(SseError::Status(503))
    );
    let json = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
    let (addr, _s) = serve_once(vec![json.into()]).await;
    assert_eq!(
        SseStream::open(addr, "h", "/").await.err(),
        Some(SseError::NotEventStream)
    );
    let (addr, _s) = serve_once(vec![b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()]).await;
    assert_eq!(
        SseStream::open(addr, "h", "/").await.err(),
        Some(SseError::BadHead)
    );
}

#[tokio::test]
async fn a_connection_cut_mid_stream_ends_it() {
    let head =
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let (addr, _s) = serve_once(vec![head.into(), b"5\r\ndata:".to_vec()]).await;
    let mut s = SseStream::open(addr, "h", "/").await.unwrap();
    // The server closed without finishing: no event, the stream is over.
    assert_eq!(s.next_event().await.unwrap(), None);
}
