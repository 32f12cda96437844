//! A stand-in for the server in the stream scenario's tests: the site room's line, its
//! admin routes (status, re-rate, pause, resume) and the queue stream, with the real
//! routes' shapes and axum's own SSE encoder. It keeps no more than the tests need.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::watch;

/// The admin key the fake accepts.
pub const KEY: &str = "k";

#[derive(Debug)]
struct Room {
    /// Tokens in the order they joined; the first `admitted` are admitted.
    line: Vec<String>,
    admitted: usize,
    max_active: u32,
    rate: Option<u32>,
    paused: bool,
}

/// The fake's state, shared with the test.
#[derive(Clone)]
pub struct Fake {
    room: Arc<Mutex<Room>>,
    /// Bumped on every change of the line, like the real room's watch.
    changed: Arc<watch::Sender<u64>>,
    streams: Arc<AtomicUsize>,
    max_streams: usize,
}

impl Fake {
    /// The room's `(maxActive, paused)` now.
    pub fn limits(&self) -> (u32, bool) {
        let room = self.room.lock().unwrap();
        (room.max_active, room.paused)
    }

    fn admit_ready(&self, room: &mut Room) {
        let mut moved = false;
        while !room.paused
            && room.admitted < room.max_active as usize
            && room.admitted < room.line.len()
        {
            room.admitted += 1;
            moved = true;
        }
        if moved {
            self.changed.send_modify(|v| *v += 1);
        }
    }

    fn ticket(room: &Room, index: usize) -> Value {
        let admitted = index < room.admitted;
        json!({
            "watingNumber": if admitted { 0 } else { index - room.admitted + 1 },
            "token": room.line[index],
            "isProcessing": admitted,
            "userId": format!("user-{index}"),
            "estimatedWaitSeconds": null,
        })
    }

    fn status(room: &Room) -> Value {
        json!({
            "room": "site", "concertId": null,
            "state": if room.paused { "paused" } else { "open" },
            "waiting": room.line.len() - room.admitted, "admitted": room.admitted,
            "admittedTotal": room.admitted, "evictedTotal": 0, "admissionsPerSecond": 0.0,
            "preQueueOpensAt": null, "opensAt": null,
            "maxActive": room.max_active, "admissionRate": room.rate,
        })
    }
}

/// Serves the fake on a free loopback port; at most `max_streams` streams at once
/// (503 past it). The room starts open with `maxActive` 2.
pub async fn serve(max_streams: usize) -> (SocketAddr, Fake) {
    let fake = Fake {
        room: Arc::new(Mutex::new(Room {
            line: Vec::new(),
            admitted: 0,
            max_active: 2,
            rate: Some(50),
            paused: false,
        })),
        changed: Arc::new(watch::channel(0).0),
        streams: Arc::new(AtomicUsize::new(0)),
        max_streams,
    };
    let app = Router::new()
        .route("/concert/wating", get(join))
        .route("/concert/wating/stream", get(stream))
        .route("/admin/room", get(status).patch(rerate))
        .route("/admin/room/pause", post(pause))
        .route("/admin/room/resume", post(resume))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, fake)
}

async fn join(State(fake): State<Fake>, Query(q): Query<Vec<(String, String)>>) -> Json<Value> {
    let user = q
        .iter()
        .find(|(k, _)| k == "userId")
        .map(|(_, v)| v.clone())
        .unwrap();
    let mut room = fake.room.lock().unwrap();
    let index = room.line.len();
    room.line.push(format!("tok-{user}"));
    fake.admit_ready(&mut room);
    Json(Fake::ticket(&room, index))
}

/// Drops the stream's place in the cap when the stream (and so the connection's body) goes.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn stream(State(fake): State<Fake>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let token = q
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let Some(index) = fake
        .room
        .lock()
        .unwrap()
        .line
        .iter()
        .position(|t| *t == token)
    else {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({"code": "INVALID_TOKEN"})),
        )
            .into_response();
    };
    if fake.streams.fetch_add(1, Ordering::SeqCst) >= fake.max_streams {
        fake.streams.fetch_sub(1, Ordering::SeqCst);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"code": "OVERLOADED"})),
        )
            .into_response();
    }
    let place = Place(fake.streams.clone());
    let changes = fake.changed.subscribe();
    // State: (first event sent, admitted and ended, last position sent).
    let events = futures::stream::unfold(
        (fake, changes, place, false, false, None::<Value>),
        move |(fake, mut changes, place, started, done, last)| async move {
            if done {
                return None;
            }
            if !started {
                // A keep-alive comment first, so the reader meets one.
                let event = Event::default().comment("keep-alive");
                return Some((
                    Ok::<_, Infallible>(event),
                    (fake, changes, place, true, false, last),
                ));
            }
            loop {
                let ticket = Fake::ticket(&fake.room.lock().unwrap(), index);
                if last.as_ref() != Some(&ticket) {
                    let done = ticket["isProcessing"] == true;
                    let event = Event::default().event("queue").data(ticket.to_string());
                    return Some((Ok(event), (fake, changes, place, true, done, Some(ticket))));
                }
                changes.changed().await.ok()?;
            }
        },
    );
    Sse::new(events).into_response()
}

fn authorized(headers: &HeaderMap) -> Result<(), StatusCode> {
    match headers.get("x-admin-key") {
        Some(k) if k == KEY => Ok(()),
        _ => Err(StatusCode::UNAUTHORIZED),
    }
}

async fn status(State(fake): State<Fake>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    authorized(&headers)?;
    Ok(Json(Fake::status(&fake.room.lock().unwrap())))
}

async fn rerate(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    authorized(&headers)?;
    let mut room = fake.room.lock().unwrap();
    if let Some(max) = body.get("maxActive").and_then(Value::as_u64) {
        room.max_active = max as u32;
    }
    if let Some(rate) = body.get("admissionRate") {
        room.rate = rate.as_u64().map(|r| r as u32);
    }
    fake.admit_ready(&mut room);
    Ok(Json(Fake::status(&room)))
}

async fn pause(State(fake): State<Fake>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    set_paused(fake, headers, true)
}

async fn resume(State(fake): State<Fake>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    set_paused(fake, headers, false)
}

fn set_paused(fake: Fake, headers: HeaderMap, paused: bool) -> Result<Json<Value>, StatusCode> {
    authorized(&headers)?;
    let mut room = fake.room.lock().unwrap();
    room.paused = paused;
    fake.admit_ready(&mut room);
    Ok(Json(Fake::status(&room)))
}
