//! What happens to a request before anything is asked of the engine: its `X-Request-Id`
//! is kept only when it is short and plain, and its body is read in full, within the body
//! timeout and the body limit, before the request counts against the in-flight limit.
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

use super::REQUEST_ID;
use super::error::ApiError;

/// The longest `X-Request-Id` honoured.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The body's limits: its size and how long it may take to arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyIntake {
    /// Largest body accepted, in bytes; larger gets 413.
    pub limit: usize,
    /// A body not received in full within this time gets 408.
    pub timeout: Duration,
}

/// Drops an `X-Request-Id` that is longer than 64 characters or has any but
/// `[A-Za-z0-9._-]`, so a new one is made in its place: a client's id is echoed and
/// logged, and must not carry a payload or forge log lines.
pub async fn sanitize_request_id(mut request: Request) -> Request {
    let plain = |value: &[u8]| {
        !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LEN
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let headers = request.headers_mut();
    let mut ids = headers.get_all(&REQUEST_ID).iter();
    let keep = matches!((ids.next(), ids.next()), (Some(id), None) if plain(id.as_bytes()));
    if !keep {
        headers.remove(&REQUEST_ID);
    }
    request
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn kept(ids: &[&str]) -> Option<String> {
        let mut request = Request::new(Body::empty());
        for id in ids {
            request
                .headers_mut()
                .append(&REQUEST_ID, id.parse().unwrap());
        }
        let request = sanitize_request_id(request).await;
        request
            .headers()
            .get(&REQUEST_ID)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn a_short_plain_request_id_is_kept() {
        assert_eq!(kept(&["abc-1.2_Z"]).await.as_deref(), Some("abc-1.2_Z"));
        let longest = "a".repeat(64);
        assert_eq!(kept(&[&longest]).await, Some(longest));
    }

    #[tokio::test]
    async fn a_long_odd_empty_or_repeated_request_id_is_dropped() {
        assert_eq!(kept(&[&"a".repeat(65)]).await, None);
        assert_eq!(kept(&["a b"]).await, None);
        assert_eq!(kept(&["a/b"]).await, None);
        assert_eq!(kept(&[""]).await, None);
        assert_eq!(kept(&["a", "b"]).await, None);
    }
}
