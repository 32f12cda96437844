//! The future of one observed request: its body read (when it has one), then the router's
//! answer, each step polled inside the request's span and under a guard that turns a panic
//! into 500 `INTERNAL_ERROR`; then the answer made the contract's and watched
//! ([`Watch::answered`]).
//!
//! Written by hand, as one state machine, rather than as the nested `async` blocks it
//! replaced (the body read, tracing's `instrument`, `catch_unwind`'s wrapper, a boxed
//! future around them): each of those moved the request and the router's future into a
//! new state at every step, ~1,100 instructions of `memcpy` per request, and the box was
//! one more allocation (issue 16; `docs/performance.md`, "The middleware's cost").

use std::convert::Infallible;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::Watch;
use crate::http::error::{ApiError, ensure_contract_body};
use crate::http::intake::BodyIntake;

/// A body being read: boxed, since only requests with a body (the POSTs, a few) need it.
type Reading = Pin<Box<dyn Future<Output = Result<Request, Response>> + Send>>;

pin_project! {
    /// See the module docs.
    pub struct Answer<S, F> {
        #[pin]
        phase: Phase<S, F>,
        intake: BodyIntake,
        watch: Watch,
    }
}

pin_project! {
    #[project = PhaseProj]
    enum Phase<S, F> {
        /// Not polled yet: the service below and the request for it.
        Start { inner: Option<S>, request: Option<Request> },
        /// The body is being read; the service waits for it.
        Reading { read: Reading, inner: Option<S> },
        /// The service's answer.
        Answering { #[pin] answer: F },
        /// Answered: never polled again.
        Done,
    }
}

impl<S, F> Answer<S, F> {
    pub(super) fn new(inner: S, request: Request, intake: BodyIntake, watch: Watch) -> Self {
        Self {
            phase: Phase::Start {
                inner: Some(inner),
                request: Some(request),
            },
            intake,
            watch,
        }
    }
}

impl<S, B> Future for Answer<S, S::Future>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answered = loop {
            let mut this = self.as_mut().project();
            // Every line logged below (the handler's, the engine's) names the request.
            let _entered = this.watch.span.enter();
            let next = match this.phase.as_mut().project() {
                PhaseProj::Start { inner, request } => {
                    let request = request.take().expect("started once");
                    // A body read where the request was received (see `Observed`) is
                    // not read again.
                    if this.watch.observed || request.body().is_end_stream() {
                        let inner = inner.take().expect("started once");
                        match answering(this.phase.as_mut(), inner, request) {
                            Ok(()) => continue,
                            Err(Panicked) => break panicked(),
                        }
                    }
                    Phase::Reading {
                        read: Box::pin(this.intake.read(request)),
                        inner: inner.take(),
                    }
                }
                PhaseProj::Reading { read, inner } => match ready!(read.as_mut().poll(cx)) {
                    Ok(request) => {
                        let inner = inner.take().expect("read once");
                        match answering(this.phase.as_mut(), inner, request) {
                            Ok(()) => continue,
                            Err(Panicked) => break panicked(),
                        }
                    }
                    Err(refused) => break refused,
                },
                PhaseProj::Answering { answer } => {
                    match catch_unwind(AssertUnwindSafe(|| answer.poll(cx))) {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(response))) => break ensure_contract_body(response),
                        Ok(Poll::Ready(Err(never))) => match never {},
                        Err(_panic) => break panicked(),
                    }
                }
                PhaseProj::Done => panic!("an observed request polled after its answer"),
            };
            this.phase.set(next);
        };
        let mut this = self.project();
        this.phase.set(Phase::Done);
        Poll::Ready(Ok(this.watch.answered(answered)))
    }
}

/// A service's call that panicked (a panic while routing is caught too).
struct Panicked;

/// Calls the service and makes its answer on its way the phase, written in place: built
/// elsewhere and moved in, the router's future (a few hundred bytes) was copied three
/// times more per request (docs/performance.md, "Fourth pass"). On a panic the phase is
/// left as it was.
fn answering<S: Service<Request>>(
    mut phase: Pin<&mut Phase<S, S::Future>>,
    mut inner: S,
    request: Request,
) -> Result<(), Panicked> {
    catch_unwind(AssertUnwindSafe(move || {
        phase.set(Phase::Answering {
            answer: inner.call(request),
        });
    }))
    .map_err(|_| Panicked)
}

/// A handler's panic, logged and answered.
fn panicked() -> Response {
    tracing::error!("handler panicked");
    ApiError::internal().into_response()
}
