//! The line on every node, pushed: a queue stream (SSE) opened on a node that does not
//! own the engine is served from its replica of the line (header `x-concert-replica`):
//! the token's place at once, then its admission as the last event; a token the
//! replica does not hold is the owner's stream (503 `STREAM_NOT_HERE` there).

use std::time::{Duration, Instant};

use actors::testkit;
use serde_json::Value;

use crate::nodes::Cluster;
use crate::observe::scrape;
use crate::replica::{place, poll, rerate};
use crate::support::{Scratch, say, token_of};

const USERS: usize = 3;
/// How long a replica may take to hold a new token, or to follow an admission.
const FOLLOW_WITHIN: Duration = Duration::from_secs(5);

/// An open event stream, read frame by frame: `(event name, data)`, `(":", comment)`.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// The next frame, or `None` once the server ended the stream.
    async fn next(&mut self) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in frame.trim_end().lines() {
                    if let Some(comment) = line.strip_prefix(':') {
                        (name, data) = (":".into(), comment.trim().into());
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        name = value.into();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data = value.into();
                    }
                }
                return Some((name, data));
            }
            let chunk = tokio::time::timeout(FOLLOW_WITHIN, self.response.chunk())
                .await
                .expect("an event within the bound")
                .expect("the stream reads")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next `queue` event's ticket (keep-alives skipped).
    async fn ticket(&mut self) -> Value {
        loop {
            let (name, data) = self.next().await.expect("an event before the end");
            match name.as_str() {
                ":" => continue,
                "queue" => return serde_json::from_str(&data).expect("JSON"),
                other => panic!("unexpected event {other}: {data}"),
            }
        }
    }
}

#[tokio::test]
async fn replica_streams_push_the_place_then_the_admission_on_a_non_owner() {
    let Some(nats_url) = testkit::nats_url("replica_streams_push_the_place") else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("cluster-replica-stream");
    // Each node with its metrics listener: the stream gauge counts what a node serves.
    let mut cluster = Cluster::new(db, nats_url);
    let mut metrics_ports = std::collections::HashMap::new();
    for n in 0..2 {
        let id = format!("node-{n}");
        let port = cluster.add_with_metrics(&id, &scratch).await;
        metrics_ports.insert(id, port);
    }
    let (owner, _) = cluster.wait_for_owner().await;
    let nodes: Vec<_> = cluster.nodes.iter().flatten().collect();
    let owner_node = nodes.iter().find(|n| n.id == owner).unwrap();
    let other = nodes.iter().find(|n| n.id != owner).unwrap();
    let (owner_base, base) = (&owner_node.server.base, &other.server.base);
    let http = reqwest::Client::new();
    rerate(&http, owner_base, 1).await;
    let mut tokens = Vec::new();
    for n in 0..USERS {
        let joined = owner_node.api.join(&format!("stream-{n}")).await;
        tokens.push(token_of(joined.ok().expect("joined")).expect("a token"));
    }
    let token = &tokens[USERS - 1];

    // A token the replica does not hold: the owner's stream, not this node's.
    let unknown = http
        .get(format!("{base}/concert/wating/stream"))
        .header("authorization", "8b0a6c1e-4f0e-4b7a-9d1c-2a3b4c5d6e7f")
        .send()
        .await
        .expect("answered");
    assert_eq!(unknown.status(), 503);
    let body: Value = unknown.json().await.expect("JSON");
    assert_eq!(body["error"], "STREAM_NOT_HERE", "{body}");

    // Once the replica holds the token (its polls are answered there)…
    let since = Instant::now();
    while poll(&http, base, token).await.1.is_none() {
        assert!(
            since.elapsed() < FOLLOW_WITHIN,
            "the replica holds no token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …its stream is served there, by `?token=` as a browser's EventSource sends it.
    let response = http
        .get(format!("{base}/concert/wating/stream?token={token}"))
        .send()
        .await
        .expect("the stream answers");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert_eq!(response.headers()["x-concert-replica"], other.id.as_str());
    let mut stream = EventStream {
        response,
        buffer: String::new(),
    };
    let first = stream.ticket().await;
    assert_eq!(place(&first), (false, Some(USERS as i64 - 1)), "{first}");
    // Counted by the node that serves it, not by the owner.
    let gauge = |id: &str| open_streams(&http, metrics_ports[id]);
    assert_eq!(
        gauge(&other.id).await,
        1,
        "the replica's stream in its gauge"
    );
    assert_eq!(gauge(&owner).await, 0, "the owner serves no stream");

    // Everyone let in: the admission comes through the replica, and is the last event.
    let admitted_at = Instant::now();
    rerate(&http, owner_base, USERS as u32).await;
    loop {
        let ticket = stream.ticket().await;
        let (admitted, position) = place(&ticket);
        if admitted {
            say(format!(
                "the replica's stream said the admission {:?} after the re-rate",
                admitted_at.elapsed()
            ));
            break;
        }
        assert!(
            position < Some(USERS as i64 - 1),
            "a place that did not move"
        );
    }
    assert_eq!(stream.next().await, None, "the admission is the last event");
    let since = Instant::now();
    while gauge(&other.id).await != 0 {
        assert!(
            since.elapsed() < FOLLOW_WITHIN,
            "the ended stream is still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `concert_sse_streams` as the node's metrics listener on `port` says it.
async fn open_streams(http: &reqwest::Client, port: u16) -> u64 {
    scrape(http, port)
        .await
        .lines()
        .find_map(|line| line.strip_prefix("concert_sse_streams "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .expect("the stream gauge in the scrape") as u64
}
