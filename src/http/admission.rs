//! The router's one inner layer: a request takes one of `max_in_flight` places or is
//! answered 503 `OVERLOADED` at once (never queued), and a request not answered within
//! the request timeout is answered 503 `TIMEOUT`. One path may be left out of both
//! (`/health`: load elsewhere never refuses it).
//!
//! Bounded intake in front of the whole engine. Each actor's mailbox bounds what waits at
//! that actor; this bounds the rest: requests waiting on the database pool, the sum over
//! thousands of wallets. The places are one semaphore for the whole router. It wraps the
//! router, not each route: `Router::layer` would add a boxed `Route` future to every
//! request (docs/performance.md). A place is held
//! until the response is produced, not while its body streams: an open event stream
//! holds none, and the timeout likewise ends with the response head.
//!
//! One layer of our own in place of tower's four (`HandleError`, `LoadShed`,
//! `GlobalConcurrencyLimit`, `Timeout`): each of those cost every API request its own
//! boxed future or wrapper, and they spoke the contract only through a rewrite of bare
//! 503s (issue 16; `docs/performance.md`, "The middleware's cost"). Here the answers are
//! the contract's from the start, and a request costs one atomic place, one timer
//! armed only if the handler has to wait, and no allocation.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Timeout;
use tower::{Layer, Service};

use super::error::ApiError;

/// The layer: `http::unobserved` puts it around the engine's router.
#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    places: Arc<Semaphore>,
    request_timeout: Duration,
    exempt: Option<&'static str>,
}

impl AdmissionLayer {
    /// At most `max_in_flight` requests at once, each answered within `request_timeout`.
    pub fn new(max_in_flight: usize, request_timeout: Duration) -> Self {
        Self {
            places: Arc::new(Semaphore::new(max_in_flight.min(Semaphore::MAX_PERMITS))),
            request_timeout,
            exempt: None,
        }
    }

    /// Requests for exactly `path`, whatever their method, take no place and have no
    /// timeout.
    pub fn except(mut self, path: &'static str) -> Self {
        self.exempt = Some(path);
        self
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Admission {
            inner,
            places: self.places.clone(),
            request_timeout: self.request_timeout,
            exempt: self.exempt,
        }
    }
}

/// The layer around a router.
#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    places: Arc<Semaphore>,
    request_timeout: Duration,
    exempt: Option<&'static str>,
}

impl<S> Service<Request> for Admission<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Admitted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if self.exempt == Some(request.uri().path()) {
            let answer = self.inner.call(request);
            return Admitted {
                state: State::Exempt { answer },
            };
        }
        match self.places.clone().try_acquire_owned() {
            Ok(place) => Admitted {
                state: State::Placed {
                    answer: tokio::time::timeout(self.request_timeout, self.inner.call(request)),
                    place: Some(place),
                },
            },
            // Refused before the handler runs: nothing was asked of the engine.
            Err(_) => Admitted {
                state: State::Refused,
            },
        }
    }
}

pin_project! {
    /// A request's answer: the handler's within the timeout, else 503 `TIMEOUT`; or 503
    /// `OVERLOADED` when no place was free; or the exempt path's, as it comes.
    pub struct Admitted<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        /// Holding a place (freed when the answer is made), under the timeout.
        Placed { #[pin] answer: Timeout<F>, place: Option<OwnedSemaphorePermit> },
        /// The exempt path: neither a place nor the timeout.
        Exempt { #[pin] answer: F },
        /// No place was free.
        Refused,
    }
}

impl<F> Future for Admitted<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (answer, place) = match self.project().state.project() {
            StateProj::Placed { answer, place } => (answer, place),
            StateProj::Exempt { answer } => return answer.poll(cx),
            StateProj::Refused => {
                return Poll::Ready(Ok(ApiError::overloaded().into_response()));
            }
        };
        let response = match answer.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(Ok(response))) => response,
            Poll::Ready(Err(_elapsed)) => ApiError::timeout().into_response(),
        };
        // The place is free once the response is: its body may stream for long.
        *place = None;
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    async fn code(response: Response) -> (StatusCode, String) {
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("a body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        (
            status,
            body["error"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn get_request(path: &str) -> Request {
        Request::get(path).body(Body::empty()).expect("a request")
    }

    /// `/wait` answers once `release` is notified; `/now` at once; `/health` at once,
    /// exempt.
    fn router(release: Arc<Notify>, layer: AdmissionLayer) -> Admission<Router> {
        let router = Router::new()
            .route(
                "/wait",
                get(move || async move {
                    release.notified().await;
                    "done"
                }),
            )
            .route("/now", get(|| async { "now" }))
            .route("/health", get(|| async { "ok" }));
        layer.except("/health").layer(router)
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_places_a_request_is_refused_at_once_and_a_freed_place_serves_again() {
        let release = Arc::new(Notify::new());
        let app = router(
            release.clone(),
            AdmissionLayer::new(1, Duration::from_secs(60)),
        );
        // Every request shares the one place.
        let waiting = tokio::spawn(app.clone().oneshot(get_request("/wait")));
        tokio::task::yield_now().await;
        let refused = app.clone().oneshot(get_request("/now")).await.unwrap();
        assert_eq!(
            code(refused).await,
            (StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED".to_owned())
        );
        release.notify_one();
        let done = waiting.await.unwrap().unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        let again = app.oneshot(get_request("/now")).await.unwrap();
        assert_eq!(again.status(), StatusCode::OK, "the place was given back");
    }

    #[tokio::test(start_paused = true)]
    async fn no_place_at_all_refuses_everything() {
        let app = router(
            Arc::new(Notify::new()),
            AdmissionLayer::new(0, Duration::from_secs(1)),
        );
        let refused = app.clone().oneshot(get_request("/now")).await.unwrap();
        assert_eq!(
            code(refused).await,
            (StatusCode::SERVICE_UNAVAILABLE, "OVERLOADED".to_owned())
        );
        let health = app.oneshot(get_request("/health")).await.unwrap();
        assert_eq!(
            health.status(),
            StatusCode::OK,
            "the exempt path needs no place"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_not_answered_within_the_timeout_is_503_timeout_and_frees_its_place() {
        let release = Arc::new(Notify::new());
        let app = router(release, AdmissionLayer::new(1, Duration::from_secs(15)));
        let started = tokio::time::Instant::now();
        let timed_out = app.clone().oneshot(get_request("/wait")).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(15));
        let (status, error) = code(timed_out).await;
        assert_eq!(
            (status, error.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "TIMEOUT")
        );
        let next = app.oneshot(get_request("/now")).await.unwrap();
        assert_eq!(
            next.status(),
            StatusCode::OK,
            "the timed-out request's place is free"
        );
    }
}
