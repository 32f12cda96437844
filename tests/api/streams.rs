//! The push routes over HTTP: `GET /concert/wating/stream` and
//! `GET /concert/seat/{sessionId}/stream` (Server-Sent Events), read as a browser's
//! EventSource would, frame by frame, and their bounds.

use std::time::Duration;

use actors::testkit::TestDb;
use actors::{EngineConfig, backend_tests};
use concert::http::streams::{Ended, Frames, forward};
use concert_client::http::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::helpers::{AppOptions, TestApp, eventually, json_ok, spawn_app_with};

backend_tests! {
    the_queue_stream_starts_with_exactly_the_polls_json,
    a_stream_of_an_unknown_or_ended_token_is_answered_as_json,
    the_admission_is_pushed_and_ends_the_stream,
    the_seat_stream_sends_the_list_then_each_hold,
    streams_past_the_cap_get_503_until_one_closes,
    open_streams_hold_no_in_flight_place_and_outlive_the_request_timeout,
    a_shutdown_ends_open_streams,
}

/// One admitted user at a time; streams and keep-alives as `tweak` says.
pub(crate) async fn app(db: &TestDb, tweak: impl FnOnce(&mut AppOptions)) -> TestApp {
    let mut options = AppOptions {
        engine: EngineConfig {
            max_active: 1,
            ..EngineConfig::default()
        },
        ..AppOptions::default()
    };
    tweak(&mut options);
    spawn_app_with(db.store.clone(), &db.url, options).await
}

/// An open event stream, read frame by frame.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One frame: `("queue", data)`, or `(":", comment)` for a comment line.
type Event = (String, String);

impl EventStream {
    async fn open(app: &TestApp, path: &str) -> Self {
        let response = reqwest::get(format!("{}{path}", app.address))
            .await
            .expect("the stream answers");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{path}"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame, or `None` once the server ended the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                return Some(parse(frame.trim_end()));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .expect("the stream reads");
            self.buffer
                .push_str(std::str::from_utf8(&chunk?).expect("UTF-8"));
        }
    }

    /// The next frame's JSON, which must be an event named `name`.
    async fn event(&mut self, name: &str) -> Value {
        let (event, data) = self.next().await.expect("an event");
        assert_eq!(event, name, "data: {data}");
        serde_json::from_str(&data).expect("JSON data")
    }
}

fn parse(frame: &str) -> Event {
    if let Some(comment) = frame.strip_prefix(": ") {
        return (":".to_owned(), comment.to_owned());
    }
    let (head, data) = frame.split_once('\n').expect("event and data lines");
    let event = head.strip_prefix("event: ").expect("an event line");
    let data = data.strip_prefix("data: ").expect("one data line");
    (event.to_owned(), data.to_owned())
}

/// The poll's JSON for `token`.
pub(crate) async fn poll_json(app: &TestApp, token: &str) -> Value {
    let response = app
        .request(Method::GET, "/concert/wating")
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    json_ok(response)
}

/// Charges, holds seat `seat` of session 2 and pays it with `token` (which ends its
/// admission).
pub(crate) async fn buy(app: &TestApp, token: &str, seat: i64) {
    app.api.charge(token, 10_000).await.expect("a charge");
    let reservation = app.hold_ok(token, 2, seat).await;
    app.api
        .pay(token, reservation, None)
        .await
        .expect("a payment");
}

async fn the_queue_stream_starts_with_exactly_the_polls_json(db: TestDb) {
    let app = app(&db, |_| {}).await;
    app.admitted("first").await;
    let token = app.join("second").await.token;
    let mut stream =
        EventStream::open(&app, &format!("/concert/wating/stream?token={token}")).await;
    let first = stream.event("queue").await;
    assert_eq!(first, poll_json(&app, &token).await);
    assert_eq!(first["watingNumber"], 1);

    // The header, on the correctly spelled alias, as a non-browser client sends it.
    let response = reqwest::Client::new()
        .get(format!("{}/concert/waiting/stream", app.address))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let mut aliased = EventStream {
        response,
        buffer: String::new(),
    };
    assert_eq!(aliased.event("queue").await, first);
    app.stop().await;
}

async fn a_stream_of_an_unknown_or_ended_token_is_answered_as_json(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let refused = |path: String| {
        let url = format!("{}{path}", app.address);
        async move {
            let response = reqwest::get(url).await.unwrap();
            let status = response.status().as_u16();
            assert_eq!(
                response.headers()["content-type"],
                "application/json",
                "before any stream starts"
            );
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = refused("/concert/wating/stream".into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("INVALID_TOKEN"))
    );
    let unknown = "/concert/wating/stream?token=0b9f0c3e-5c1a-4a53-9a55-2f2f5a0a6c11";
    let (status, body) = refused(unknown.into()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("INVALID_TOKEN"))
    );
    let token = app.admitted("buyer").await;
    buy(&app, &token, 4).await;
    let (status, body) = refused(format!("/concert/wating/stream?token={token}")).await;
    assert_eq!(
        body,
        json!({"errorCode": 401, "msg": "토큰이 만료되었습니다.", "error": "TOKEN_EXPIRED"})
    );
    assert_eq!(status, 401);
    app.stop().await;
}

async fn the_admission_is_pushed_and_ends_the_stream(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let first = app.admitted("first").await;
    let token = app.join("second").await.token;
    let mut stream =
        EventStream::open(&app, &format!("/concert/wating/stream?token={token}")).await;
    assert_eq!(stream.event("queue").await["isProcessing"], false);
    buy(&app, &first, 4).await;
    let admitted = loop {
        let (event, data) = stream.next().await.expect("the admission");
        assert_eq!(event, "queue");
        let ticket: Value = serde_json::from_str(&data).unwrap();
        if ticket["isProcessing"] == true {
            break ticket;
        }
    };
    assert_eq!(admitted["watingNumber"], 0);
    assert_eq!(admitted["token"], token.as_str());
    assert_eq!(stream.next().await, None, "the admission is the last event");
    app.stop().await;
}

async fn the_seat_stream_sends_the_list_then_each_hold(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let mut stream = EventStream::open(&app, "/concert/seat/2/stream").await;
    let list = stream.event("seats").await;
    assert_eq!(list, json_ok(app.get("/concert/seat/2").await));
    let token = app.admitted("holder").await;
    app.hold_ok(&token, 2, 7).await;
    assert_eq!(
        stream.event("seat").await,
        json!({"seatNumber": 7, "isReservation": true})
    );
    let missing = reqwest::get(format!("{}/concert/seat/999/stream", app.address))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "SESSION_NOT_FOUND");
    app.stop().await;
}

async fn streams_past_the_cap_get_503_until_one_closes(db: TestDb) {
    let app = app(&db, |options| options.engine.max_streams = 1).await;
    let mut open = EventStream::open(&app, "/concert/seat/2/stream").await;
    open.event("seats").await;
    let refused = reqwest::get(format!("{}/concert/seat/3/stream", app.address))
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "OVERLOADED");
    assert_eq!(app.engine.open_streams().get(), 1);
    drop(open);
    // The forwarding task notices the closed connection and gives its place back.
    eventually(Duration::from_secs(5), || async {
        app.engine.open_streams().get() == 0
    })
    .await;
    let mut again = EventStream::open(&app, "/concert/seat/3/stream").await;
    again.event("seats").await;
    app.stop().await;
}

async fn open_streams_hold_no_in_flight_place_and_outlive_the_request_timeout(db: TestDb) {
    let app = app(&db, |options| {
        options.http.max_in_flight = 1;
        options.http.request_timeout = Duration::from_millis(300);
        options.engine.stream_keep_alive = Duration::from_secs(1);
    })
    .await;
    let mut first = EventStream::open(&app, "/concert/seat/2/stream").await;
    first.event("seats").await;
    let mut second = EventStream::open(&app, "/concert/seat/3/stream").await;
    second.event("seats").await;
    let sessions = app.get("/concert/session/1").await;
    assert_eq!(
        sessions.status, 200,
        "two open streams, one in-flight place"
    );
    let opened = Instant::now();
    assert_eq!(
        first.next().await,
        Some((":".to_owned(), "keep-alive".to_owned()))
    );
    assert!(
        opened.elapsed() > Duration::from_millis(300),
        "past the request timeout"
    );
    assert!(second.next().await.is_some(), "still open");
    app.stop().await;
}

async fn a_shutdown_ends_open_streams(db: TestDb) {
    let app = app(&db, |_| {}).await;
    let mut stream = EventStream::open(&app, "/concert/seat/2/stream").await;
    stream.event("seats").await;
    let stopping = Instant::now();
    // The helper's grace is 10 s: an open stream must not hold the drain that long.
    app.stop().await;
    assert!(stopping.elapsed() < Duration::from_secs(5));
    assert_eq!(stream.next().await, None, "the stream ended");
}

/// A source that always has another frame, as a busy seat map does.
struct Endless;

impl Frames for Endless {
    async fn next_frame(&mut self) -> Option<axum::body::Bytes> {
        Some(axum::body::Bytes::from_static(b": tick\n\n"))
    }
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_takes_nothing_is_dropped_after_the_send_timeout() {
    let (sender, receiver) = mpsc::channel(concert::http::streams::FRAMES_BUFFERED);
    let started = Instant::now();
    let timeout = Duration::from_secs(10);
    assert_eq!(forward(Endless, sender, timeout).await, Ended::SlowReader);
    assert_eq!(started.elapsed(), timeout, "after the deadline, not before");
    assert_eq!(
        receiver.len(),
        concert::http::streams::FRAMES_BUFFERED,
        "no more queued than the channel holds"
    );

    let (sender, receiver) = mpsc::channel(1);
    drop(receiver);
    assert_eq!(forward(Endless, sender, timeout).await, Ended::Gone);
}
