//! Overload: the bounded intakes (each actor's mailbox, and the HTTP layer's limit on
//! requests in flight) answer a flood with 503 `OVERLOADED` at once, in the contract's
//! shape with `Retry-After`, never a 500 and never a growing queue; a 503 did nothing;
//! the server serves normally after; its memory does not grow with the flood.

use std::time::{Duration, Instant};

use actors::backend_tests;
use actors::testkit::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use concert_client::{Client, routes};

use crate::binary::Server;
use crate::helpers::{AppOptions, json_ok, spawn_app_with};
use crate::invariants::{self, count};
use crate::support::{self, Answer};

/// Requests in flight during a flood (one connection each).
const FLOOD_IN_FLIGHT: usize = 400;

/// The answer a shed request gets.
fn is_overloaded(answer: &Answer) -> bool {
    answer.status == 503
        && answer.code() == "OVERLOADED"
        && answer.retry_after.as_deref() == Some("1")
        && answer.is_contract_error()
}

/// Flood request `i`: a seat list of session 1, a queue poll, or a hold in session 1,
/// each by one of `tokens`.
async fn flood_request(client: &Client, tokens: &[String], i: usize) -> Answer {
    let token = &tokens[i % tokens.len()];
    match i % 3 {
        0 => Answer::call(client, routes::seats(1)).await,
        1 => Answer::call(client, routes::poll(token)).await,
        _ => Answer::call(client, routes::hold(token, 1, (i as i64 / 3) % 50 + 1)).await,
    }
}

/// Every answer a flood may get: the route's own answers, or the overload 503.
fn assert_flood_answers(answers: &[Answer]) {
    let tally = support::tally(answers);
    for answer in answers {
        let fine = matches!(
            (answer.status, answer.code().as_str()),
            (200 | 201, "-") | (409, "SEAT_ALREADY_RESERVED" | "HOLD_LIMIT_EXCEEDED")
        );
        assert!(
            fine || is_overloaded(answer),
            "a flood is answered or shed, nothing else: {answer:?} in {tally:?}"
        );
        if answer.status >= 400 {
            assert!(answer.is_contract_error(), "{answer:?}");
        }
    }
    let shed = answers.iter().filter(|a| is_overloaded(a)).count();
    assert!(
        shed > 0,
        "a flood past the mailbox capacity is shed: {tally:?}"
    );
    assert!(shed < answers.len(), "and the rest is served: {tally:?}");
}

/// Sends a request on a raw connection whose body never completes: the server reads it
/// until the body timeout.
async fn stalled_request(address: &str, token: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connect");
    let head = format!(
        "POST /concert/reservation HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\nContent-Length: 100\r\n\r\n{{\"sessionId\""
    );
    stream
        .write_all(head.as_bytes())
        .await
        .expect("send a partial request");
    stream
}

backend_tests! {
    a_flood_past_the_mailbox_capacity_is_shed_with_503_and_a_503_changes_nothing,
    past_max_in_flight_the_http_layer_answers_503_at_once,
    requests_still_sending_their_bodies_hold_no_in_flight_place,
    a_body_that_never_completes_gets_408_after_the_body_timeout,
}

async fn a_flood_past_the_mailbox_capacity_is_shed_with_503_and_a_503_changes_nothing(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.mailbox_capacity = 8;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let client = support::client(&app.address, FLOOD_IN_FLIGHT);
    // Joining is itself shed past 8 at once: join a few at a time.
    let tokens = support::admitted_crowd(&client, "fan", 100, 4).await;

    let started = Instant::now();
    let requests = (0..4 * FLOOD_IN_FLIGHT).map(|i| flood_request(&client, &tokens, i));
    let answers = support::concurrently(FLOOD_IN_FLIGHT, requests).await;
    let elapsed = started.elapsed();
    eprintln!(
        "overload[{}]: {} requests, {FLOOD_IN_FLIGHT} in flight, mailbox capacity 8, in {elapsed:.1?}: {:?}",
        db.store.backend(),
        answers.len(),
        support::tally(&answers)
    );
    assert_flood_answers(&answers);

    // A shed hold wrote nothing: the held seats are exactly the 201s.
    let held = answers.iter().filter(|a| a.status == 201).count() as i64;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM reservations WHERE status = 'held'"
        )
        .await,
        held
    );
    assert_eq!(app.available(1).await as i64, 50 - held);
    // The flood over, the same server answers at once.
    json_ok(app.get("/concert/seat/1").await);
    app.poll(&tokens[0]).await;
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}

async fn past_max_in_flight_the_http_layer_answers_503_at_once(db: TestDb) {
    let mut options = AppOptions::default();
    // No place at all: every counted request is shed, deterministically.
    options.http.max_in_flight = 0;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let shed = support::client(&app.address, 1);
    let started = Instant::now();
    let poll = Answer::call(&shed, routes::queue(None, None)).await;
    assert!(is_overloaded(&poll), "{poll:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "shed at once");
    // `/health` is outside the limit: load elsewhere never refuses it.
    let health = Answer::call(&shed, routes::health()).await;
    assert_eq!(health.status, 200, "{health:?}");
    app.stop().await;
}

/// Requests still sending their bodies take none of the in-flight places: the body is
/// read before a place is asked for, so slow clients cannot starve the rest.
async fn requests_still_sending_their_bodies_hold_no_in_flight_place(db: TestDb) {
    let mut options = AppOptions::default();
    options.http.max_in_flight = 2;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let token = app.admitted("staller").await;
    let mut stalled = Vec::new();
    for _ in 0..8 {
        stalled.push(stalled_request(&app.address, &token).await);
    }
    let client = support::client(&app.address, 1);
    // The server has read every stalled head by now (or soon): each probe must be served.
    for _ in 0..20 {
        let seats = Answer::call(&client, routes::seats(1)).await;
        assert_eq!(
            seats.status, 200,
            "a slow body took an in-flight place: {seats:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A stalled request that completes is served normally.
    let mut first = stalled.swap_remove(0);
    let rest = format!("{:<88}", ": 1, \"seatNumber\": 1}");
    first.write_all(rest.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    first.read_exact(&mut head).await.unwrap();
    assert_eq!(
        &head, b"HTTP/1.1 201",
        "the completed request is answered (it holds seat 1)"
    );
    drop(stalled);
    app.stop().await;
}

/// A body that does not arrive within the body timeout is answered 408 `REQUEST_TIMEOUT`
/// in the contract's shape, and its connection closed.
async fn a_body_that_never_completes_gets_408_after_the_body_timeout(db: TestDb) {
    let mut options = AppOptions::default();
    options.http.body_timeout = Duration::from_millis(300);
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let mut stalled = stalled_request(&app.address, "not-a-token").await;
    let started = Instant::now();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stalled.read_to_string(&mut answer))
        .await
        .expect("answered, then closed")
        .unwrap();
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"REQUEST_TIMEOUT""#), "{answer}");
    assert!(answer.contains(r#""errorCode":408"#), "{answer}");
    assert!(
        waited >= Duration::from_millis(250),
        "not before the timeout: {waited:?}"
    );
    app.stop().await;
}

/// RSS of the server after each of `rounds` floods, in KiB.
async fn flood_rounds(
    server: &Server,
    tokens: &[String],
    rounds: usize,
    per_round: usize,
) -> (Vec<u64>, Vec<Answer>) {
    let client = support::client(&server.address, FLOOD_IN_FLIGHT);
    let mut rss = Vec::new();
    let mut all = Vec::new();
    for round in 0..rounds {
        let requests =
            (0..per_round).map(|i| flood_request(&client, tokens, round * per_round + i));
        all.extend(support::concurrently(FLOOD_IN_FLIGHT, requests).await);
        rss.push(server.memory_kib("VmRSS"));
    }
    (rss, all)
}

backend_tests! {
    the_binary_under_a_flood_sheds_503s_and_its_memory_stays_bounded,
}

async fn the_binary_under_a_flood_sheds_503s_and_its_memory_stays_bounded(db: TestDb) {
    let server = Server::start(
        &db.url,
        "warn,concert=info",
        &["--mailbox-capacity", "8", "--max-active", "200"],
    )
    .await;
    let tokens = support::admitted_crowd(&support::client(&server.address, 4), "fan", 100, 4).await;
    let idle = server.memory_kib("VmRSS");
    const ROUNDS: usize = 10;
    const PER_ROUND: usize = 2_000;
    let started = Instant::now();
    let (rss, answers) = flood_rounds(&server, &tokens, ROUNDS, PER_ROUND).await;
    let elapsed = started.elapsed();
    let peak = server.memory_kib("VmHWM");
    let shed = answers.iter().filter(|a| is_overloaded(a)).count();
    eprintln!(
        "overload-rss[{}]: {} requests in {ROUNDS} floods of {PER_ROUND} ({FLOOD_IN_FLIGHT} in flight) in {elapsed:.1?}: \
         {shed} shed with 503; RSS idle {idle} KiB, after each flood {rss:?} KiB, peak {peak} KiB",
        db.store.backend(),
        answers.len()
    );
    assert_flood_answers(&answers);
    // The first flood grows the allocator's pools; the nine after it, 9× as many
    // requests, must not grow the process much further.
    let after_first = rss[0];
    let last = *rss.last().unwrap();
    assert!(
        last <= after_first + 8 * 1024,
        "memory grows with the flood: {after_first} KiB after the first, {last} KiB after {ROUNDS}: {rss:?}"
    );
    server.stop().await;
}
