//! What happens to a request's body before anything is asked of the engine: it is read
//! in full, within the body timeout and the body limit, before the request counts
//! against the in-flight limit. (Its `X-Request-Id` is vetted by [`observe`](super::observe).)
//!
//! Reading first means a client trickling its body holds a connection (capped by the
//! accept loop) but never one of the in-flight permits, and a request refused after this
//! point has had its body read, so its keep-alive connection stays usable.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;

/// The body's limits: its size and how long it may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyIntake {
    /// Largest body accepted, in bytes; larger gets 413.
    pub limit: usize,
    /// A body not received in full within this time gets 408.
    pub timeout: Duration,
}

/// Reads the body in full (within the limit and the timeout) and hands the request on
/// with the bytes in memory. A body with no bytes passes untouched.
pub async fn read_body(State(intake): State<BodyIntake>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    // A declared length past the limit is refused before a byte is read (the connection
    // then closes: draining it would read what the limit refuses to hold).
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > intake.limit as u64) {
        return ApiError::payload_too_large().into_response();
    }
    let read = tokio::time::timeout(intake.timeout, Limited::new(body, intake.limit).collect());
    match read.await {
        Ok(Ok(collected)) => {
            let body = Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            ApiError::payload_too_large().into_response()
        }
        Ok(Err(_)) => ApiError::body_unreadable().into_response(),
        Err(_) => ApiError::request_timeout().into_response(),
    }
}
