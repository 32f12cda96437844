//! Waiting rooms over HTTP (issue 12): a room per concert and its tokens' reach, the
//! scheduled on-sale's answers (refused before the pre-queue, no place in it), the
//! operator's routes, and what of it a restart keeps. The draw's fairness and its timing
//! are the engine's tests (paused clock); here only what the HTTP layer says of them.

mod admin;
mod isolation;
mod on_sale;
mod restart;

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use concert_client::http::Method;
use concert_client::{NewSession, Response, Room, RoomSchedule, RoomStatus};
use serde_json::Value;

use crate::helpers::{ADMIN_KEY, TestApp, eventually};

/// A time `secs` from now, as the admin routes take it (RFC 3339, UTC, milliseconds:
/// the form the server answers, so it compares as text).
pub fn at(secs: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new concert (after the demo's concert 1) with one session of 10 seats at 1,000
/// points: (concert, session).
pub async fn concert_with_session(app: &TestApp, title: &str) -> (i64, i64) {
    let concert = app.api.create_concert(ADMIN_KEY, title).await.unwrap();
    let session = NewSession {
        date: "2024-09-01".into(),
        seat_count: 10,
        price: 1_000,
    };
    let created = app
        .api
        .create_session(ADMIN_KEY, concert.concert_id, &session);
    (concert.concert_id, created.await.unwrap().session_id)
}

/// Schedules `concert`'s room (typed; must succeed).
pub async fn schedule(app: &TestApp, concert: i64, schedule: RoomSchedule) -> RoomStatus {
    let scheduled = app.api.schedule_room(ADMIN_KEY, concert, &schedule).await;
    scheduled.expect("the room is scheduled")
}

/// Schedules `concert`'s room to open now with `max_active`, and waits until it has
/// drawn (its state leaves `prequeue`), so joins from here on are FIFO.
pub async fn open_room(app: &TestApp, concert: i64, max_active: u32) -> RoomStatus {
    let body = RoomSchedule {
        opens_at: at(-1),
        max_active: Some(max_active),
        ..RoomSchedule::default()
    };
    schedule(app, concert, body).await;
    let room = Room::Concert(concert);
    eventually(Duration::from_secs(10), || async {
        status(app, room).await.state != "prequeue"
    })
    .await;
    status(app, room).await
}

/// A room's status (must answer).
pub async fn status(app: &TestApp, room: Room) -> RoomStatus {
    app.api
        .room_status(ADMIN_KEY, room)
        .await
        .expect("a status")
}

/// `user`'s token in `concert`'s room, polled until admitted.
pub async fn admitted_in(app: &TestApp, concert: i64, user: &str) -> String {
    let token = app
        .api
        .join_room(concert, user)
        .await
        .expect("a join")
        .token;
    eventually(Duration::from_secs(10), || async {
        let ticket = app.api.poll_room(concert, &token).await.expect("a poll");
        assert_eq!(ticket.token, token, "the same token");
        ticket.is_processing
    })
    .await;
    token
}

/// An admin request of any shape: `key` as `X-Admin-Key` if given, `body` as JSON if given.
pub async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Response {
    let mut request = app.request(method, path);
    if let Some(key) = key {
        request = request.header("X-Admin-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("an answer")
}
