//! `GET /ready` through a database outage (Postgres only): the server reaches Postgres
//! through the proxy ([`crate::proxy`]), which takes the database away and brings it
//! back. `/ready` answers 503 `NOT_READY` with a `database: …` reason while it is away,
//! promptly, and 200 again once it is back; `/health` (liveness) stays 200 throughout.

use std::time::{Duration, Instant};

use actors::testkit;
use serde_json::Value;

use crate::proxy::{Mode, Proxy};
use crate::support::{Scratch, Server};

/// `/ready` must notice within this long (its database query times out in 800 ms).
const NOTICE_BOUND: Duration = Duration::from_secs(10);
/// …and recover within this long once the database is back (a new connection).
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// What `/ready` and `/health` answer now: (status, body) each.
async fn probe(client: &reqwest::Client, base: &str, path: &str) -> (u16, Value) {
    let response = client
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `/ready` until it answers `status`, at most `bound`; the last answer.
async fn ready_becomes(
    client: &reqwest::Client,
    base: &str,
    status: u16,
    bound: Duration,
) -> Value {
    let deadline = Instant::now() + bound;
    loop {
        let (now, body) = probe(client, base, "/ready").await;
        if now == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/ready still {now} ({body}) after {bound:?}; wanted {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_while_the_database_is_away_and_200_once_it_is_back() {
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("ready");
    let target = reqwest::Url::parse(&db.url).expect("a Postgres URL");
    let proxy = Proxy::start(format!(
        "{}:{}",
        target.host_str().unwrap_or("127.0.0.1"),
        target.port().unwrap_or(5432)
    ))
    .await;
    let mut via_proxy = target.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let log = scratch.path("server.log");
    let env = vec![("RUST_LOG", "warn".to_owned())];
    let server = Server::start(via_proxy.as_str(), &env, &log).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let (status, body) = probe(&client, &server.base, "/ready").await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"status": "ready"}))
    );

    proxy.set(Mode::Down);
    let noticed = Instant::now();
    let body = ready_becomes(&client, &server.base, 503, NOTICE_BOUND).await;
    assert_eq!(body["errorCode"], 503, "{body}");
    assert_eq!(body["error"], "NOT_READY", "{body}");
    assert!(body["msg"].is_string(), "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("database: "), "{body}");
    // A probe is answered promptly while the database is away: no hang.
    let asked = Instant::now();
    let (status, _) = probe(&client, &server.base, "/ready").await;
    assert_eq!(status, 503);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    let (health, _) = probe(&client, &server.base, "/health").await;
    assert_eq!(health, 200, "liveness does not depend on the database");
    println!(
        "ready drill: /ready said 503 after {:?}: {reason}",
        noticed.elapsed()
    );

    proxy.set(Mode::Up);
    let back = Instant::now();
    let body = ready_becomes(&client, &server.base, 200, RECOVERY_BOUND).await;
    assert_eq!(body["status"], "ready");
    println!(
        "ready drill: /ready said 200 {:?} after the database came back",
        back.elapsed()
    );
    server.kill().await;
}
