//! The push routes, as Server-Sent Events: `GET /concert/wating/stream` (a token's place
//! in line) and `GET /concert/seat/{sessionId}/stream` (a session's seat map).
//!
//! Each handler makes one engine call, which judges the token (or the session) and takes
//! a place under the cap of open streams, then answers at once with a stream whose events
//! a small task forwards from the engine's watch. Why a task and a channel rather than
//! hyper polling the watch itself: the channel is what notices a slow reader. It holds
//! [`FRAMES_BUFFERED`] frames; a frame that cannot be queued within the send timeout
//! (the client stopped reading, and the socket's and hyper's buffers are full) ends the
//! stream, so nothing is ever buffered for a client without limit.
//!
//! How a stream meets the other limits (see `http::router` and `transport`): its opening
//! call counts against the in-flight limit and the request timeout like any request, but
//! both let go once the response head is out, so an open stream holds neither; it holds
//! its connection (one of the connection caps, total and per address) until it ends.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actors::Engine;
use actors::domain::SessionId;
use actors::engine::{QueueEvent, QueueWatch, SeatEvent, SeatWatch};
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::Frame;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::SendTimeoutError;
use utoipa::{IntoParams, ToSchema};

use super::concerts::SeatsResponse;
use super::error::{ApiError, ApiResult, ErrorBody};
use super::extract::{Authorization, PathId, Query};
use super::queue::QueueResponse;

/// Frames queued for one stream's connection at most.
pub const FRAMES_BUFFERED: usize = 4;

/// The streams' HTTP settings.
#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// A frame that cannot be queued for the client within this time ends its stream.
    pub send_timeout: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            send_timeout: Duration::from_secs(10),
        }
    }
}

impl FromRef<super::AppState> for StreamSettings {
    fn from_ref(state: &super::AppState) -> Self {
        state.streams
    }
}

/// The query of a queue stream.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// The queue token, for clients that cannot set `Authorization` (a browser's
    /// `EventSource`); the header wins when both are given.
    pub token: Option<String>,
}

/// Streams the token's place in line (see `docs/api.md`, "Streams").
#[utoipa::path(
    get,
    path = "/concert/wating/stream",
    tag = "queue",
    params(
        StreamQuery,
        ("Authorization" = Option<String>, Header, description = "The queue token (`Bearer ` prefix optional); or `?token=`"),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: `event: queue` with the poll's JSON at once and as the place changes (at most once a second; the admission at once, and last), `event: expired` with the error body (last), `: keep-alive` every 15 s", content_type = "text/event-stream", body = SseEvent),
        (status = 401, description = "The token ended (`TOKEN_EXPIRED`)", body = ErrorBody),
        (status = 403, description = "Missing, malformed or unknown token (`INVALID_TOKEN`); a stream never issues one", body = ErrorBody),
        (status = 503, description = "Too many open streams (`OVERLOADED`, with Retry-After), or unavailable", body = ErrorBody),
    )
)]
pub async fn queue_stream(
    State(engine): State<Engine>,
    State(settings): State<StreamSettings>,
    authorization: Authorization,
    Query(query): Query<StreamQuery>,
) -> ApiResult<Response> {
    let token = authorization.as_deref().or(query.token.as_deref());
    let watch = engine.queue_stream(token).await?;
    Ok(event_stream(watch, settings))
}

/// Streams a session's seat map (see `docs/api.md`, "Streams").
#[utoipa::path(
    get,
    path = "/concert/seat/{sessionId}/stream",
    tag = "concerts",
    params(("sessionId" = i64, Path, description = "The session", minimum = 1)),
    responses(
        (status = 200, description = "Server-Sent Events: `event: seats` with the seat list's JSON at once, then `event: seat` `{\"seatNumber\", \"isReservation\"}` per change, `: keep-alive` every 15 s", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "Non-numeric or out-of-range id", body = ErrorBody),
        (status = 404, description = "존재하지 않는 날짜입니다. (SESSION_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "Too many open streams (`OVERLOADED`, with Retry-After), or unavailable", body = ErrorBody),
    )
)]
pub async fn seat_stream(
    State(engine): State<Engine>,
    State(settings): State<StreamSettings>,
    PathId(session): PathId<SessionId>,
) -> ApiResult<Response> {
    let watch = engine
        .seat_stream(session)
        .await
        .map_err(ApiError::for_seat_list)?;
    Ok(event_stream(watch, settings))
}

/// A source of encoded SSE frames; `None` ends the stream.
pub trait Frames: Send + 'static {
    /// The next frame.
    fn next_frame(&mut self) -> impl Future<Output = Option<Bytes>> + Send;
}

impl Frames for QueueWatch {
    async fn next_frame(&mut self) -> Option<Bytes> {
        Some(match self.next().await? {
            QueueEvent::Ticket(ticket) => event("queue", &QueueResponse::from(ticket)),
            QueueEvent::KeepAlive => keep_alive(),
            QueueEvent::Expired(error) => event("expired", &ApiError::from(error).body()),
        })
    }
}

/// One seat's change, as `event: seat` carries it.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatChanged {
    seat_number: u32,
    is_reservation: bool,
}

impl Frames for SeatWatch {
    async fn next_frame(&mut self) -> Option<Bytes> {
        Some(match self.next().await? {
            SeatEvent::Seats(view) => event("seats", &SeatsResponse::from(view)),
            SeatEvent::Seat(change) => event(
                "seat",
                &SeatChanged {
                    seat_number: change.seat_number.0,
                    is_reservation: change.is_reservation,
                },
            ),
            SeatEvent::KeepAlive => keep_alive(),
        })
    }
}

/// `event: NAME` with `data` as one line of JSON (JSON has no raw newline to split).
fn event(name: &str, data: &impl Serialize) -> Bytes {
    let mut frame = Vec::with_capacity(256);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(name.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    // Serializing these plain structs cannot fail.
    let _ = serde_json::to_writer(&mut frame, data);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

fn keep_alive() -> Bytes {
    Bytes::from_static(b": keep-alive\n\n")
}

/// Why a forwarded stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The source said its last.
    Done,
    /// The client went away.
    Gone,
    /// The client did not take a frame within the send timeout.
    SlowReader,
}

/// Forwards `frames` into `sender` until the source ends, the client goes, or a frame
/// cannot be queued within `send_timeout`.
pub async fn forward(
    mut frames: impl Frames,
    sender: mpsc::Sender<Bytes>,
    send_timeout: Duration,
) -> Ended {
    loop {
        let frame = tokio::select! {
            frame = frames.next_frame() => frame,
            () = sender.closed() => return Ended::Gone,
        };
        let Some(frame) = frame else {
            return Ended::Done;
        };
        match sender.send_timeout(frame, send_timeout).await {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                tracing::debug!("stream reader too slow; stream ended");
                return Ended::SlowReader;
            }
            Err(SendTimeoutError::Closed(_)) => return Ended::Gone,
        }
    }
}

/// One event of a stream, as an SSE parser hands it over: its name and its data. Only
/// the document uses it: events are written as text (`event: …`, `data: …`, a blank line).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SseEvent {
    /// `queue` or `expired` on the queue stream; `seats` or `seat` on the seat stream.
    event: String,
    /// The event's JSON, as the route's description says.
    data: String,
}

/// The `text/event-stream` answer, fed by a task forwarding `frames`.
pub(crate) fn event_stream(frames: impl Frames, settings: StreamSettings) -> Response {
    let (sender, receiver) = mpsc::channel(FRAMES_BUFFERED);
    tokio::spawn(forward(frames, sender, settings.send_timeout));
    let mut response = (StatusCode::OK, Body::new(EventBody(receiver))).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // A buffering proxy (nginx) would hold events back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The response body: the frames the forwarding task queued, as they come.
struct EventBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|frame| frame.map(|bytes| Ok(Frame::data(bytes))))
    }
}
