//! What each layer of the HTTP stack costs a request (issue 16, part 2).
//!
//! `GET /health` through a bare router (one route, no layer), then through the bare
//! router with each layer of `http::router`'s stack added alone, then through the whole
//! `http::router` — without a log subscriber, with the server's subscriber at `warn`
//! (as `scripts/perf` runs it) and at `info` (the default: one line per request, written
//! to a sink here; then to `/dev/null` written in the request or by the server's
//! non-blocking writer), and with the Prometheus recorder installed. A layer's cost is its
//! row less the bare row; the whole stack's is the full row less the bare row. Every
//! call goes as the accept loop sends it (`router.clone().oneshot(request)`, the body
//! read to its end), on a current-thread runtime: CPU per request, no network, no
//! scheduling. `docs/performance.md` has the table and what it led to.
//!
//! `cargo bench --bench middleware` (release; about a minute).

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use axum::routing::get;
use concert::http::admission::{Admission, AdmissionLayer};
use concert::http::intake::BodyIntake;
use concert::http::observe::{Observe, ObserveLayer, RouteLabels};
use concert::http::{self, HttpSettings};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

/// One request through `router`, as the accept loop sends it, its body read.
async fn call<S>(router: &S)
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    let request = Request::get("/health")
        .header("host", "127.0.0.1:8080")
        .body(Body::empty())
        .expect("a request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert!(response.status().is_success());
    black_box(response.into_body().collect().await.expect("a body"));
}

fn bare() -> Router {
    Router::new().route("/health", get(http::health))
}

/// A fresh one each time: `observe` keeps the metric handles it resolved under the
/// recorder of the moment (none, until the recorder rows). Around the bare router, as
/// `http::router` puts it around its own.
fn observe_alone() -> Observe<Router> {
    let settings = HttpSettings::default();
    let window = std::sync::Arc::new(http::latency::LatencyWindow::new());
    let intake = BodyIntake {
        limit: settings.body_limit,
        timeout: settings.body_timeout,
    };
    ObserveLayer::new(window, intake, RouteLabels::new(["/health"])).layer(bare())
}

/// The bare router inside admission alone, the stack's inner layer (`/health` is exempt
/// from it in the server; here it is measured on `/health` for its cost).
fn admission_alone() -> Admission<Router> {
    let settings = HttpSettings::default();
    AdmissionLayer::new(settings.max_in_flight, settings.request_timeout).layer(bare())
}

/// Measures `router` under `name`.
fn bench<S>(group: &mut BenchmarkGroup<'_, WallTime>, runtime: &Runtime, name: &str, router: &S)
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    group.bench_function(name, |b| b.iter(|| runtime.block_on(call(router))));
}

fn layers(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let (engine, _db) = runtime.block_on(async {
        let db = actors::testkit::sqlite().await;
        let (engine, _monitor) =
            actors::Engine::start(db.store.clone().into(), actors::EngineConfig::default())
                .await
                .expect("the engine starts");
        (engine, db)
    });
    let full = http::router(engine.clone(), &HttpSettings::default());

    let mut group = c.benchmark_group("health");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(40);
    let rt = &runtime;
    bench(&mut group, rt, "bare", &bare());
    bench(&mut group, rt, "observe", &observe_alone());
    bench(&mut group, rt, "admission", &admission_alone());
    bench(&mut group, rt, "full stack, no subscriber", &full);
    // The server's own subscriber (src/logging.rs), writing to a sink.
    for level in ["warn", "info"] {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_ansi(false)
            .with_writer(std::io::sink)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            bench(&mut group, rt, &format!("full stack, log {level}"), &full);
            if level == "info" {
                bench(&mut group, rt, "observe alone, log info", &observe_alone());
            }
        });
    }
    // The server's writer (src/logging.rs): the line formatted here, written by a
    // thread of its own; against the same line written here, each to /dev/null.
    for non_blocking in [false, true] {
        let file = std::fs::File::create("/dev/null").expect("/dev/null");
        let builder = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_ansi(false);
        let name = if non_blocking {
            "full stack, log info to /dev/null, non-blocking writer"
        } else {
            "full stack, log info to /dev/null, written in the request"
        };
        if non_blocking {
            let (writer, _guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .lossy(true)
                .buffered_lines_limit(concert::logging::MAX_BUFFERED_LOG_LINES)
                .finish(file);
            let subscriber = builder.with_writer(writer).finish();
            tracing::subscriber::with_default(subscriber, || bench(&mut group, rt, name, &full));
        } else {
            let subscriber = builder.with_writer(std::sync::Mutex::new(file)).finish();
            tracing::subscriber::with_default(subscriber, || bench(&mut group, rt, name, &full));
        }
    }
    // Last: the recorder, once installed, stays for the process.
    concert::metrics::install();
    let full = http::router(engine.clone(), &HttpSettings::default());
    bench(&mut group, rt, "full stack, recorder, no subscriber", &full);
    bench(&mut group, rt, "observe alone, recorder", &observe_alone());
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
