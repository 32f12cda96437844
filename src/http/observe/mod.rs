//! The one middleware that watches every request: its `X-Request-Id` (the client's when
//! short and plain, else a new one; echoed on the answer), its tracing span (the request
//! id in every line logged while it runs), the contract's error body on any bare error
//! a layer below produced ([`ensure_contract_body`]), the "answered" line, the HTTP
//! metrics, and the dashboard's ten-second latency window ([`LatencyWindow`]).
//!
//! Inside its future, before the router is called, the body is read in full
//! ([`BodyIntake::read`]; a GET pays one check), and the router's answer is made under
//! a guard that turns a handler's panic into 500 `INTERNAL_ERROR` (the server keeps serving).
//!
//! One layer of our own for all of them, in place of two axum `map_*` middlewares, an
//! axum `from_fn` and tower-http's two request-id layers, then of tower-http's
//! `CatchPanic` and the body's own `from_fn`: each layer cost a request about a
//! microsecond of its own (issue 16; `docs/performance.md`, "The middleware's cost"),
//! and all of them need the same id, clock reading and final status. It is the
//! outermost layer, so it sees the status the client gets.
//!
//! It wraps the whole router, not each route (`Router::layer` would put it, and one more
//! boxed `Route` future, on every route). The metrics' `route` label is the template of
//! the route that serves the path (`/concert/seat/{sessionId}`, [`RouteLabels`]), never
//! the raw path: a label's values must stay few, or every session id and every
//! scanner's guess would make a series of its own. A request no route matched is
//! `unmatched`. Their handles are resolved once per route (and status), then kept by the
//! route's index: building the labels and looking them up in the recorder's registry on
//! every request cost more than the increment. The routes are the router's templates,
//! so what is kept is bounded by the router; handles are resolved under the recorder
//! installed when a route is first answered, so the server installs its recorder
//! before it serves.
//!
//! A request marked [`Observed`] was observed where a client sent it: a cluster node's
//! request forwarded to the owner (`cluster::wire`). The owner keeps its request id and
//! span (both nodes' lines tie by the id), its panic guard and contract body, and
//! logs its "answered" line at `debug`; it neither reads its body (read, within the
//! limits, where it was received) nor counts it: the node the client talked to counted
//! it once, with the latency the client saw. A single node pays one extension lookup.

mod answer;
mod labels;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use metrics::{Counter, Histogram, SharedString};
use tokio::time::Instant;
use tower::{Layer, Service};
use tracing::Span;

use self::answer::Answer;
use self::labels::Route;
pub use self::labels::RouteLabels;
use super::REQUEST_ID;
use super::intake::BodyIntake;
use super::latency::LatencyWindow;
use crate::metrics::{HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS};

/// The longest `X-Request-Id` honoured.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The statuses this API answers, with their labels: their counters are cached per
/// route. Any other status (none is expected) is counted without a cache.
const KNOWN_STATUSES: [(u16, &str); 15] = [
    (200, "200"),
    (201, "201"),
    (204, "204"),
    (400, "400"),
    (401, "401"),
    (403, "403"),
    (404, "404"),
    (405, "405"),
    (408, "408"),
    (409, "409"),
    (413, "413"),
    (422, "422"),
    (429, "429"),
    (500, "500"),
    (503, "503"),
];

/// The mark of a request observed already, by the node a client sent it to (see the
/// module docs): this layer logs it at `debug`, and reads and counts nothing of it.
#[derive(Debug, Clone, Copy)]
pub struct Observed;

/// The layer: `http::router` and a cluster node's public router put it around the
/// router, outermost.
#[derive(Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

impl ObserveLayer {
    /// Reads each request's body within `intake`, labels it by `labels` (the wrapped
    /// router's templates) and feeds `window` with every answer's latency.
    pub fn new(window: Arc<LatencyWindow>, intake: BodyIntake, labels: RouteLabels) -> Self {
        Self {
            shared: Arc::new(Shared {
                window,
                intake,
                routes: (0..labels.count()).map(|_| OnceLock::new()).collect(),
                labels,
                id_on_request: false,
            }),
        }
    }

    /// For a router that may forward a request to another node (a cluster node's
    /// public router): a request id made here is also set on the request, so that it
    /// crosses with it and both nodes log the same id. A router that answers every
    /// request itself leaves the request as it came (the id it made goes on the answer
    /// only: ~300 instructions a request, docs/performance.md).
    pub fn forwarding(mut self) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("a layer is made forwarding before it is used")
            .id_on_request = true;
        self
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// What every copy of the layer shares.
struct Shared {
    window: Arc<LatencyWindow>,
    intake: BodyIntake,
    labels: RouteLabels,
    /// Whether a request id made here is set on the request too (see
    /// [`ObserveLayer::forwarding`]).
    id_on_request: bool,
    /// By [`Route::index`], each resolved when its route is first answered.
    routes: Box<[OnceLock<RouteMetrics>]>,
}

/// One route's metric handles.
struct RouteMetrics {
    route: SharedString,
    duration: Histogram,
    /// Index by [`KNOWN_STATUSES`]; each resolved when that status is first answered,
    /// so a route shows only the statuses it gave.
    answered: [OnceLock<Counter>; KNOWN_STATUSES.len()],
}

impl RouteMetrics {
    fn new(route: &str) -> Self {
        let route = SharedString::from(route.to_owned());
        Self {
            duration: metrics::histogram!(HTTP_REQUEST_DURATION_SECONDS, "route" => route.clone()),
            route,
            answered: Default::default(),
        }
    }

    fn record(&self, status: StatusCode, elapsed: Duration) {
        self.duration.record(elapsed.as_secs_f64());
        let status = status.as_u16();
        match KNOWN_STATUSES.iter().position(|(known, _)| *known == status) {
            Some(index) => self.answered[index]
                .get_or_init(|| {
                    let label = SharedString::const_str(KNOWN_STATUSES[index].1);
                    metrics::counter!(HTTP_REQUESTS, "route" => self.route.clone(), "status" => label)
                })
                .increment(1),
            None => metrics::counter!(
                HTTP_REQUESTS,
                "route" => self.route.clone(),
                "status" => status.to_string()
            )
            .increment(1),
        }
    }
}

impl Shared {
    fn record(&self, route: Route, status: StatusCode, now: Instant, elapsed: Duration) {
        self.window.record(now, elapsed);
        self.routes[route.index()]
            .get_or_init(|| RouteMetrics::new(self.labels.label(route)))
            .record(status, elapsed);
    }
}

/// The middleware around a router.
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B> Service<Request> for Observe<S>
where
    S: Service<Request, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<S, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let id = take_request_id(request.headers_mut(), self.shared.id_on_request);
        let observed = request.extensions().get::<Observed>().is_some();
        let route = self.shared.labels.of(request.uri().path());
        let span = make_span(&request, &id);
        // The clone that was made ready is the one that serves this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let watch = Watch {
            started,
            id: Some(id),
            observed,
            route,
            span,
            shared: self.shared.clone(),
        };
        Answer::new(inner, request, self.shared.intake, watch)
    }
}

/// What is watched of one request from its arrival to its answer.
struct Watch {
    started: Instant,
    /// Taken when the answer is made.
    id: Option<HeaderValue>,
    /// Marked [`Observed`]: its body read and the request counted where it was received.
    observed: bool,
    /// Its route, for the `route` label.
    route: Route,
    span: Span,
    shared: Arc<Shared>,
}

impl Watch {
    /// The answer as the client gets it: its request id echoed; logged, counted and
    /// timed (an [`Observed`] request only logged, at `debug`).
    fn answered(&mut self, mut response: Response) -> Response {
        if let Some(id) = self.id.take() {
            response.headers_mut().entry(&REQUEST_ID).or_insert(id);
        }
        // One clock reading for the span, the metrics and the latency window.
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.started);
        let status = response.status();
        self.span.record("status", status.as_u16());
        self.span.record("latency_ms", elapsed.as_millis() as u64);
        {
            let _entered = self.span.enter();
            // Server-side failures stand out; client mistakes are routine. The node
            // that received an observed request logged and counted it already.
            if self.observed {
                tracing::debug!("answered");
                return response;
            } else if status.is_server_error() {
                tracing::warn!("answered");
            } else {
                tracing::info!("answered");
            }
        }
        self.shared.record(self.route, status, now, elapsed);
        response
    }
}

/// The request's id, returned for the answer: the client's single `X-Request-Id` when
/// at most 64 characters of `[A-Za-z0-9._-]` (left on the request), else a new UUID
/// (set on the request too when `on_request`). A client's id is echoed and logged, so
/// it must not carry a payload or forge log lines.
fn take_request_id(headers: &mut HeaderMap, on_request: bool) -> HeaderValue {
    let plain = |value: &[u8]| {
        !value.is_empty()
            && value.len() <= MAX_REQUEST_ID_LEN
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    let mut ids = headers.get_all(&REQUEST_ID).iter();
    if let (Some(id), None) = (ids.next(), ids.next())
        && plain(id.as_bytes())
    {
        return id.clone();
    }
    // Written into a stack buffer: the header value is the one allocation.
    let mut buffer = uuid::Uuid::encode_buffer();
    let made = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buffer);
    let id = HeaderValue::from_str(made).expect("a UUID is a valid header value");
    if on_request {
        headers.insert(&REQUEST_ID, id.clone());
    }
    id
}

/// One span per request. Only method, path and request id: headers (the queue token, the
/// admin key) and the query are never recorded.
fn make_span(request: &Request, id: &HeaderValue) -> Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        // Plain ASCII: `take_request_id` made sure.
        request_id = id.to_str().unwrap_or_default(),
        status = tracing::field::Empty,
        error = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    )
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    async fn boom() -> &'static str {
        panic!("a bug")
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_500_internal_error_and_the_router_serves_on() {
        let intake = BodyIntake {
            limit: 1024,
            timeout: Duration::from_secs(1),
        };
        let paths = ["/boom", "/boom-at-once", "/fine", "/echo"];
        let layer = ObserveLayer::new(
            Arc::new(LatencyWindow::new()),
            intake,
            RouteLabels::new(paths),
        );
        // A service that panics in `call` itself, before any future: as a router might.
        let panics_when_called = tower::service_fn(
            |_: Request| -> std::future::Ready<Result<Response, Infallible>> {
                panic!("a bug while routing")
            },
        );
        // Around the router, as served: a panic while routing is caught too.
        let app = layer.layer(
            Router::new()
                .route("/boom", get(boom))
                .route_service("/boom-at-once", panics_when_called)
                .route("/fine", get(|| async { "fine" }))
                .route(
                    "/echo",
                    axum::routing::post(|body: String| async move { body }),
                ),
        );
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        for path in ["/boom", "/boom-at-once"] {
            let boom = app.clone().oneshot(get(path)).await.unwrap();
            assert_eq!(boom.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            assert!(boom.headers().contains_key(&REQUEST_ID), "still observed");
            let body = axum::body::to_bytes(boom.into_body(), 4096).await.unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], "INTERNAL_ERROR", "{path}");
        }
        let fine = app.clone().oneshot(get("/fine")).await.unwrap();
        assert_eq!(fine.status(), StatusCode::OK);
        // A body is read before the handler runs, and reaches it whole.
        let echo = Request::post("/echo").body(Body::from("a body")).unwrap();
        let echoed = app.oneshot(echo).await.unwrap();
        assert_eq!(echoed.status(), StatusCode::OK);
        let echoed = axum::body::to_bytes(echoed.into_body(), 4096)
            .await
            .unwrap();
        assert_eq!(&echoed[..], b"a body");
    }

    #[tokio::test]
    async fn a_request_observed_already_is_neither_read_nor_counted_nor_timed_again() {
        // The test's thread (a current-thread runtime) records into its own recorder.
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let scrape = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let intake = BodyIntake {
            limit: 16,
            timeout: Duration::from_secs(1),
        };
        let window = Arc::new(LatencyWindow::new());
        let app = ObserveLayer::new(window.clone(), intake, RouteLabels::new(["/r"])).layer(
            Router::new().route("/r", axum::routing::post(|body: Bytes| async move { body })),
        );
        let post = |observed: bool| {
            let mut request = Request::post("/r")
                .body(Body::from("x".repeat(32)))
                .unwrap();
            if observed {
                request.extensions_mut().insert(Observed);
            }
            request
        };
        let marked = app.clone().oneshot(post(true)).await.unwrap();
        // Its body was read where it was received: not refused for the limit here.
        assert_eq!(marked.status(), StatusCode::OK);
        assert!(marked.headers().contains_key(&REQUEST_ID), "still its id");
        assert_eq!(window.stats().p99_ms, None, "not in the latency window");
        assert!(
            !scrape.render().contains(HTTP_REQUESTS),
            "not counted: {}",
            scrape.render()
        );
        // The same request unmarked: its body read under the limit, counted once.
        let plain = app.oneshot(post(false)).await.unwrap();
        assert_eq!(plain.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(window.stats().p99_ms.is_some(), "in the latency window");
        let counted = format!(r#"{HTTP_REQUESTS}{{route="/r",status="413"}} 1"#);
        assert!(scrape.render().contains(&counted), "{}", scrape.render());
    }

    fn kept(ids: &[&str]) -> (HeaderValue, Vec<String>) {
        kept_by(ids, true)
    }

    fn kept_by(ids: &[&str], on_request: bool) -> (HeaderValue, Vec<String>) {
        let mut headers = HeaderMap::new();
        for id in ids {
            headers.append(&REQUEST_ID, id.parse().unwrap());
        }
        let id = take_request_id(&mut headers, on_request);
        let left = headers
            .get_all(&REQUEST_ID)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (id, left)
    }

    #[test]
    fn a_short_plain_request_id_is_kept() {
        let (id, left) = kept(&["abc-1.2_Z"]);
        assert_eq!(
            (id.to_str().unwrap(), left),
            ("abc-1.2_Z", vec!["abc-1.2_Z".into()])
        );
        let longest = "a".repeat(64);
        assert_eq!(kept(&[&longest]).0, longest.as_str());
    }

    #[test]
    fn a_long_odd_empty_or_repeated_request_id_is_replaced_by_a_uuid() {
        for ids in [
            &[&*"a".repeat(65)][..],
            &["a b"],
            &["a/b"],
            &[""],
            &["a", "b"],
        ] {
            let (id, left) = kept(ids);
            let id = id.to_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{ids:?} gave {id}");
            assert_eq!(left, vec![id.to_owned()], "the request carries the new id");
        }
        assert_eq!(kept(&[]).0.len(), 36, "none sent: one made");
    }

    #[test]
    fn a_router_that_does_not_forward_leaves_the_request_s_ids_as_they_came() {
        let (id, left) = kept_by(&["a b"], false);
        assert!(uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok());
        assert_eq!(left, vec!["a b".to_owned()], "the answer's id only");
        let (id, left) = kept_by(&[], false);
        assert_eq!((id.len(), left.len()), (36, 0));
        let (id, left) = kept_by(&["abc"], false);
        assert_eq!((id.to_str().unwrap(), left), ("abc", vec!["abc".into()]));
    }
}
