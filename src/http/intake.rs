//! What happens to a request's body before anything is asked of the engine: it is read
//! in full, within the body timeout and the body limit, before the request counts
//! against the in-flight limit. (Its `X-Request-Id` is vetted by [`observe`](super::observe).)
//!
//! Reading first means a client trickling its body holds a connection (capped by the
//! accept loop) but never one of the in-flight permits, and a request refused after this
//! point has had its body read, so its keep-alive connection stays usable.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
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
        let read = tokio::time::timeout(self.timeout, read_all(Limited::new(body, self.limit)));
        match read.await {
            Ok(Ok(bytes)) => Ok(Request::from_parts(parts, Body::from(bytes))),
            Ok(Err(error)) if error.is::<LengthLimitError>() => {
                Err(ApiError::payload_too_large().into_response())
            }
            Ok(Err(_)) => Err(ApiError::body_unreadable().into_response()),
            Err(_) => Err(ApiError::request_timeout().into_response()),
        }
    }
}

/// The body's bytes. One data frame (a small body already in hyper's buffer: nearly
/// every request) is taken as it is, without a copy; more are joined. `collect()`
/// queued every frame in a `VecDeque` and copied them out again, ~700 instructions of
/// each hold (docs/performance.md, "Fourth pass").
pub(crate) async fn read_all<B: HttpBody<Data = Bytes> + Unpin>(
    mut body: B,
) -> Result<Bytes, B::Error> {
    let mut first: Option<Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue; // trailers: nothing the API reads
        };
        match (&mut first, &mut joined) {
            (None, _) => first = Some(data),
            (Some(first), None) => {
                let mut both = Vec::with_capacity(first.len() + data.len());
                both.extend_from_slice(first);
                both.extend_from_slice(&data);
                joined = Some(both);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&data),
        }
    }
    Ok(match joined {
        Some(joined) => Bytes::from(joined),
        None => first.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn request(chunks: &[&'static str]) -> Request {
        let frames = chunks
            .iter()
            .map(|chunk| Ok::<_, std::io::Error>(Bytes::from_static(chunk.as_bytes())));
        let body = Body::from_stream(futures::stream::iter(frames.collect::<Vec<_>>()));
        Request::post("/").body(body).unwrap()
    }

    async fn read(intake: BodyIntake, chunks: &[&'static str]) -> Result<Bytes, StatusCode> {
        match intake.read(request(chunks)).await {
            Ok(request) => Ok(axum::body::to_bytes(request.into_body(), usize::MAX)
                .await
                .unwrap()),
            Err(refused) => Err(refused.status()),
        }
    }

    #[tokio::test]
    async fn a_body_in_one_frame_or_in_several_is_read_whole_and_a_long_one_refused() {
        let intake = BodyIntake {
            limit: 8,
            timeout: Duration::from_secs(5),
        };
        assert_eq!(read(intake, &["{}"]).await, Ok(Bytes::from_static(b"{}")));
        assert_eq!(
            read(intake, &["ab", "", "cd", "efgh"]).await,
            Ok(Bytes::from_static(b"abcdefgh")),
            "joined in order, the limit itself allowed"
        );
        assert_eq!(
            read(intake, &["abcd", "efgh", "i"]).await,
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        );
    }
}
