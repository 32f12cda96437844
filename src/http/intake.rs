//! What happens to a request's body before anything is asked of the engine: it is read
//! in full, within the body timeout and the body limit, before the request counts
//! against the in-flight limit. (Its `X-Request-Id` is vetted by [`observe`](super::observe).)
//!
//! Reading first means a client trickling its body holds a connection (capped by the
//! accept loop) but never one of the in-flight permits, and a request refused after this
//! point has had its body read, so its keep-alive connection stays usable.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
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

impl BodyIntake {
    /// Reads the body in full (within the limit and the timeout) and gives the request
    /// back with the bytes in memory, or the answer that refuses it (413, 408, 400). A
    /// body with no bytes (every GET) passes untouched, at the cost of one check: this
    /// runs inside [`observe`](super::observe)'s future rather than as a layer of its
    /// own, which cost every request a boxed future and axum's `Next` (issue 16).
    pub async fn read(self, request: Request) -> Result<Request, Response> {
        if request.body().is_end_stream() {
            return Ok(request);
        }
        let (parts, body) = request.into_parts();
        // A declared length past the limit is refused before a byte is read (the
        // connection then closes: draining it would read what the limit refuses to hold).
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limit as u64) {
            return Err(ApiError::payload_too_large().into_response());
        }
        let read = tokio::time::timeout(self.timeout, Limited::new(body, self.limit).collect());
        match read.await {
            Ok(Ok(collected)) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
            Ok(Err(error)) if error.is::<LengthLimitError>() => {
                Err(ApiError::payload_too_large().into_response())
            }
            Ok(Err(_)) => Err(ApiError::body_unreadable().into_response()),
            Err(_) => Err(ApiError::request_timeout().into_response()),
        }
    }
}
