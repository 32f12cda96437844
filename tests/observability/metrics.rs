//! The metrics after a scripted sale, scraped over HTTP from the metrics listener,
//! and the public port without them.

use std::time::{Duration, Instant};

use actors::backend_tests;
use actors::metrics as engine;
use actors::testkit::TestDb;
use concert::metrics::{
    HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS, LOG_LINES_DROPPED, SSE_STREAMS,
};
use concert_client::{Client, ErrorCode};

use crate::binary::Server;
use crate::scrape::{Scrape, delta};

backend_tests! {
    a_scripted_sale_moves_each_metric_by_what_happened,
    the_public_port_serves_no_metrics_and_the_metrics_port_no_api,
    an_open_queue_stream_is_counted_until_it_closes,
}

/// Every metric issue 13 names, present once a sale has begun.
const EVERY_METRIC: &[&str] = &[
    engine::ROOM_WAITING,
    engine::ROOM_ADMITTED,
    engine::ROOM_ADMISSIONS,
    engine::ROOM_EVICTIONS,
    engine::HOLDS,
    engine::PAYMENTS,
    engine::SEATS_SOLD,
    engine::ACTOR_RESTARTS,
    engine::MAILBOX_REJECTIONS,
    engine::STORE_BATCH_SIZE,
    engine::STORE_COMMIT_SECONDS,
    HTTP_REQUESTS,
    HTTP_REQUEST_DURATION_SECONDS,
    SSE_STREAMS,
    LOG_LINES_DROPPED,
];

/// A server with its metrics on a port of their own; one admitted at a time, and a
/// waiter unpolled for 2 s evicted (the sweep runs every second).
async fn start(db: &TestDb) -> (Server, String) {
    let server = Server::start(
        &db.url,
        "info",
        &[
            "--metrics-addr",
            "127.0.0.1:0",
            "--max-active",
            "1",
            "--waiting-idle",
            "2s",
        ],
    )
    .await;
    let printed = server.printed();
    let (_, rest) = printed
        .split_once("metrics served address=")
        .expect("the server says where its metrics are");
    let address = rest.split_whitespace().next().expect("an address");
    let metrics = format!("http://{address}/metrics");
    (server, metrics)
}

async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("scrape the metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    Scrape::parse(&response.text().await.expect("the metrics' text"))
}

/// Join, admit, hold ok, hold taken, pay, a payment refused, an evicted waiter: each
/// counter moves by exactly what happened, the room's gauges say where it stands.
async fn a_scripted_sale_moves_each_metric_by_what_happened(db: TestDb) {
    let (server, metrics) = start(&db).await;
    let api = Client::new(&server.address);
    let before = scrape(&metrics).await;

    let alice = api.join("alice").await.unwrap();
    assert!(alice.is_processing, "alone in line: admitted at once");
    api.charge(&alice.token, 10_000).await.unwrap();
    let first = api.hold(&alice.token, 1, 1).await.unwrap();
    let taken = api.hold(&alice.token, 1, 1).await.unwrap_err();
    assert_eq!(taken.code(), Some(&ErrorCode::SeatAlreadyReserved));
    let bob = api.join("bob").await.unwrap();
    let carol = api.join("carol").await.unwrap();
    assert!(!bob.is_processing && !carol.is_processing);
    api.pay(&alice.token, first.reservation_id, None)
        .await
        .unwrap();
    // The payment ended alice's admission: bob, first in line, is admitted.
    assert!(api.poll(&bob.token).await.unwrap().is_processing);
    let second = api.hold(&bob.token, 1, 2).await.unwrap();
    let broke = api
        .pay(&bob.token, second.reservation_id, None)
        .await
        .unwrap_err();
    assert_eq!(broke.code(), Some(&ErrorCode::InsufficientBalance));

    // Carol never polls again: evicted within the idle time and a sweep or two.
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let now = scrape(&metrics).await;
        if delta(&before, &now, engine::ROOM_EVICTIONS, &[("room", "site")]) >= 1.0 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "carol was not evicted:\n{}",
            now.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    for name in EVERY_METRIC {
        assert!(after.has(name), "{name} missing from\n{}", after.text);
    }
    assert_eq!(
        after.value(LOG_LINES_DROPPED, &[]),
        0.0,
        "a server logging at info drops no line of a quiet sale"
    );
    let site = [("room", "site")];
    let moved = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    assert_eq!(
        moved(engine::ROOM_ADMISSIONS, &site),
        2.0,
        "alice, then bob"
    );
    assert_eq!(moved(engine::ROOM_EVICTIONS, &site), 1.0, "carol");
    assert_eq!(after.value(engine::ROOM_ADMITTED, &site), 1.0, "bob");
    assert_eq!(after.value(engine::ROOM_WAITING, &site), 0.0);
    assert_eq!(moved(engine::HOLDS, &[("outcome", "ok")]), 2.0);
    assert_eq!(moved(engine::HOLDS, &[("outcome", "taken")]), 1.0);
    assert_eq!(moved(engine::PAYMENTS, &[("outcome", "ok")]), 1.0);
    assert_eq!(
        moved(engine::PAYMENTS, &[("outcome", "insufficient_balance")]),
        1.0
    );
    assert_eq!(moved(engine::SEATS_SOLD, &[]), 1.0);
    assert_eq!(moved(engine::ACTOR_RESTARTS, &[]), 0.0);
    assert_eq!(moved(engine::MAILBOX_REJECTIONS, &[]), 0.0);
    // Holds, the sale and the charge are written through group commit.
    assert!(moved(&format!("{}_count", engine::STORE_BATCH_SIZE), &[]) >= 1.0);
    assert!(moved(&format!("{}_count", engine::STORE_COMMIT_SECONDS), &[]) >= 1.0);

    // The HTTP metrics are by route template, never by raw path.
    let holds = [("route", "/concert/reservation")];
    let ok = [("route", "/concert/reservation"), ("status", "201")];
    let conflict = [("route", "/concert/reservation"), ("status", "409")];
    assert_eq!(moved(HTTP_REQUESTS, &ok), 2.0, "{}", after.text);
    assert_eq!(moved(HTTP_REQUESTS, &conflict), 1.0);
    let count = format!("{HTTP_REQUEST_DURATION_SECONDS}_count");
    assert_eq!(moved(&count, &holds), 3.0);
    let bucket = format!("{HTTP_REQUEST_DURATION_SECONDS}_bucket");
    assert_eq!(
        moved(
            &bucket,
            &[("route", "/concert/reservation"), ("le", "+Inf")]
        ),
        3.0
    );
    let polls = [("route", "/concert/wating"), ("status", "200")];
    assert!(
        moved(HTTP_REQUESTS, &polls) >= 4.0,
        "three joins and a poll"
    );
    assert!(
        !after.text.contains("path=") && !after.text.contains("/concert/seat/1\""),
        "no raw path in a label"
    );
    assert_eq!(after.value(SSE_STREAMS, &[]), 0.0);
    server.stop().await;
}

/// The sales figures are not the public's: the public port answers `/metrics` 404
/// (the contract's body), and the metrics listener serves nothing but `/metrics`.
async fn the_public_port_serves_no_metrics_and_the_metrics_port_no_api(db: TestDb) {
    let (server, metrics) = start(&db).await;
    let public = reqwest::get(format!("{}/metrics", server.address))
        .await
        .unwrap();
    assert_eq!(public.status(), 404);
    let body: serde_json::Value = public.json().await.unwrap();
    assert_eq!(body["errorCode"], 404, "{body}");
    let base = metrics.trim_end_matches("/metrics");
    let api = reqwest::get(format!("{base}/concert/session/1"))
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    let health = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(health.status(), 404);
    assert!(scrape(&metrics).await.has(HTTP_REQUESTS));
    server.stop().await;
}

/// `concert_sse_streams` says how many streams are open at the scrape: one while a
/// waiter's queue stream is read, none once it is closed.
async fn an_open_queue_stream_is_counted_until_it_closes(db: TestDb) {
    let (server, metrics) = start(&db).await;
    let api = Client::new(&server.address);
    let first = api.join("first").await.expect("admitted: one at a time");
    assert!(first.is_processing);
    let waiter = api.join("waiter").await.expect("in line behind first");
    assert!(!waiter.is_processing);
    assert_eq!(scrape(&metrics).await.value(SSE_STREAMS, &[]), 0.0);

    let url = format!(
        "{}/concert/wating/stream?token={}",
        server.address, waiter.token
    );
    let stream = reqwest::get(&url).await.expect("the stream opens");
    assert_eq!(stream.status(), 200);
    assert_eq!(scrape(&metrics).await.value(SSE_STREAMS, &[]), 1.0);

    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    while scrape(&metrics).await.value(SSE_STREAMS, &[]) != 0.0 {
        assert!(
            Instant::now() < deadline,
            "the closed stream is still counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
