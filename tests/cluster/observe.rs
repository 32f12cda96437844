//! Every request observed once, by the node the client talked to: polls answered from
//! a non-owner's replica are in that node's HTTP metrics, a request it forwards is
//! counted there and not again by the owner, and a request sent to the owner itself is
//! counted once by the owner.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actors::testkit;

use crate::nodes::Cluster;
use crate::replica::{poll, rerate};
use crate::support::{Scratch, token_of};

/// Requests of each kind sent.
const SENT: u64 = 5;
/// How long a replica may take to hold a new token.
const FOLLOW_WITHIN: Duration = Duration::from_secs(5);

#[tokio::test]
async fn each_request_is_counted_once_by_the_node_the_client_talked_to() {
    let Some(nats_url) = testkit::nats_url("each_request_is_counted_once") else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("cluster-observe");
    let mut cluster = Cluster::new(db, nats_url);
    let mut metrics_ports = HashMap::new();
    for n in 0..2 {
        let id = format!("node-{n}");
        let port = cluster.add_with_metrics(&id, &scratch).await;
        metrics_ports.insert(id, port);
    }
    let (owner, _) = cluster.wait_for_owner().await;
    let nodes: Vec<_> = cluster.nodes.iter().flatten().collect();
    let owner_node = nodes.iter().find(|n| n.id == owner).unwrap();
    let edge = nodes.iter().find(|n| n.id != owner).unwrap();
    let http = reqwest::Client::new();
    // One admitted (it charges), one waiting (its polls are the replica's to answer).
    rerate(&http, &owner_node.server.base, 1).await;
    let mut tokens = Vec::new();
    for user in ["observe-admitted", "observe-waiting"] {
        let joined = owner_node.api.join(user).await;
        tokens.push(token_of(joined.ok().expect("joined")).expect("a token"));
    }
    let (admitted, waiting) = (&tokens[0], &tokens[1]);
    let since = Instant::now();
    while poll(&http, &edge.server.base, waiting).await.1.is_none() {
        assert!(
            since.elapsed() < FOLLOW_WITHIN,
            "the replica holds no token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counts = |route: &'static str| {
        let http = http.clone();
        let ports = [metrics_ports[&edge.id], metrics_ports[&owner]];
        async move {
            let mut counts = [0; 2];
            for (count, port) in counts.iter_mut().zip(ports) {
                *count = answered(&http, port, route, "200").await;
            }
            counts
        }
    };

    // Polls answered from the edge's replica: the edge counts each, the owner none.
    let before = counts("/concert/wating").await;
    for _ in 0..SENT {
        let response = http
            .get(format!("{}/concert/wating", edge.server.base))
            .header("authorization", waiting.as_str())
            .send()
            .await
            .expect("a poll is answered");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-concert-replica"], edge.id.as_str());
        assert!(
            response.headers().contains_key("x-request-id"),
            "observed where it was answered"
        );
    }
    let after = counts("/concert/wating").await;
    assert_eq!(
        [after[0] - before[0], after[1] - before[1]],
        [SENT, 0],
        "replica polls: (edge, owner) counted"
    );

    // Charges forwarded to the owner: counted by the edge, not again by the owner.
    let before = counts("/concert/balance").await;
    for _ in 0..SENT {
        let charged = edge.api.charge(admitted, 100).await;
        assert_eq!(charged.status(), Some(200), "{:?}", charged.body());
    }
    let after = counts("/concert/balance").await;
    assert_eq!(
        [after[0] - before[0], after[1] - before[1]],
        [SENT, 0],
        "forwarded charges: (edge, owner) counted"
    );

    // Charges sent to the owner itself: counted there once, not by its term's router
    // again.
    let before = counts("/concert/balance").await;
    for _ in 0..SENT {
        let charged = owner_node.api.charge(admitted, 100).await;
        assert_eq!(charged.status(), Some(200), "{:?}", charged.body());
    }
    let after = counts("/concert/balance").await;
    assert_eq!(
        [after[0] - before[0], after[1] - before[1]],
        [0, SENT],
        "the owner's own charges: (edge, owner) counted"
    );
}

/// The node's metrics (its listener on `port`), as text.
pub(crate) async fn scrape(http: &reqwest::Client, port: u16) -> String {
    http.get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("the metrics answer")
        .text()
        .await
        .expect("the metrics' text")
}

/// `concert_http_requests_total` of `route` and `status` in the node's scrape; 0 when
/// it has none yet.
async fn answered(http: &reqwest::Client, port: u16, route: &str, status: &str) -> u64 {
    let series = format!(r#"concert_http_requests_total{{route="{route}",status="{status}"}} "#);
    scrape(http, port)
        .await
        .lines()
        .find_map(|line| line.strip_prefix(series.as_str()))
        .map_or(0, |value| value.trim().parse().expect("a count"))
}
