//! Starting the app in-process on a fresh database, and talking to it like a front end
//! would: through `concert-client`, typed, with its raw escape hatch for what the
//! contract forbids.

use std::sync::Arc;
use std::time::Duration;

use actors::store::Store;
use actors::testkit::TestDb;
use actors::{Engine, EngineConfig};
use concert::http::HttpSettings;
use concert::server::{Application, ServeError, Settings};
use concert_client::http::{Method, StatusCode};
use concert_client::{Client, Error, RawRequest, Reply, Response, Ticket};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The admin key every test app is started with (unless a test says otherwise).
pub const ADMIN_KEY: &str = "test-admin-key";

/// How an app is started: the engine's config, the HTTP settings and the demo switch.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// The engine's config.
    pub engine: EngineConfig,
    /// The HTTP layer's settings.
    pub http: HttpSettings,
    /// Seed the demo concert (id 1, six sessions of 50 seats at 10000).
    pub demo: bool,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            http: {
                let mut http = HttpSettings {
                    admin_key: Some(ADMIN_KEY.to_owned()),
                    ..HttpSettings::default()
                };
                // Tests drive up to 1,000 connections from 127.0.0.1; the per-address cap
                // has its own tests (`transport.rs`).
                http.connections.max_connections_per_ip = None;
                http
            },
            demo: true,
        }
    }
}

/// A running app and a client for it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The database the app serves, for a restart on the same data.
    pub db_url: String,
    /// The typed client of this app.
    pub api: Client,
    /// The engine behind the app, for fault injection.
    pub engine: Engine,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<Result<(), ServeError>>>,
}

/// Starts the app on `db` with default options (demo data, admin key set).
pub async fn spawn_app(db: &TestDb) -> TestApp {
    spawn_app_with(db.store.clone(), &db.url, AppOptions::default()).await
}

/// Starts the app on `store` (the database at `db_url`) on a random local port.
pub async fn spawn_app_with(store: Arc<dyn Store>, db_url: &str, options: AppOptions) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a port");
    let settings = Settings {
        engine: options.engine,
        http: options.http,
        demo: options.demo,
        shutdown_grace: Duration::from_secs(10),
    };
    let app = Application::start(store.into(), listener, settings)
        .await
        .expect("the app starts");
    let address = format!("http://{}", app.local_addr().expect("a local address"));
    let engine = app.engine().clone();
    let (shutdown, signal) = oneshot::channel::<()>();
    let serving = tokio::spawn(app.run_until(async move {
        let _ = signal.await;
    }));
    TestApp {
        api: Client::new(&address),
        address,
        db_url: db_url.to_owned(),
        engine,
        shutdown: Some(shutdown),
        serving: Some(serving),
    }
}

impl TestApp {
    /// Shuts the app down as SIGTERM would and waits until the engine has stopped.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving
                .await
                .expect("the server task")
                .expect("a clean shutdown");
        }
    }

    /// Waits (at most `limit`) for the app to stop serving on its own, and returns why.
    pub async fn stopped_on_its_own(mut self, limit: Duration) -> Result<(), ServeError> {
        let serving = self.serving.take().expect("still serving");
        tokio::time::timeout(limit, serving)
            .await
            .expect("the app stopped serving in time")
            .expect("the server task")
    }

    /// A request of any shape to `path` on this app (the client's escape hatch).
    pub fn request(&self, method: Method, path: &str) -> RawRequest {
        self.api.raw(method, path)
    }

    /// `GET path`, answered raw.
    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    /// A queue poll for `user`, without a token (must answer).
    pub async fn join(&self, user: &str) -> Ticket {
        self.api.join(user).await.expect("join")
    }

    /// A queue poll with `token` (must answer).
    pub async fn poll(&self, token: &str) -> Ticket {
        self.api.poll(token).await.expect("poll")
    }

    /// A token for `user` that is already admitted (panics if it is waiting).
    pub async fn admitted(&self, user: &str) -> String {
        let ticket = self.join(user).await;
        assert!(
            ticket.is_processing,
            "{user} should be admitted: {ticket:?}"
        );
        ticket.token
    }

    /// A token for `user`, polled until admitted: joins made concurrently may be answered
    /// before the waiting room's admission of them is stored, as a front end would see.
    pub async fn admitted_eventually(&self, user: &str) -> String {
        let token = self.join(user).await.token;
        eventually(Duration::from_secs(30), || async {
            self.poll(&token).await.is_processing
        })
        .await;
        token
    }

    /// `PATCH /concert/balance` with `amount` as any JSON (the typed call takes only integers).
    pub async fn charge_raw(&self, token: &str, amount: Value) -> Response {
        self.request(Method::PATCH, "/concert/balance")
            .header("Authorization", token)
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .expect("charge")
    }

    /// A hold that must succeed: its reservation id.
    pub async fn hold_ok(&self, token: &str, session: i64, seat: i64) -> i64 {
        let hold = self.api.hold(token, session, seat).await;
        hold.expect("a hold").reservation_id
    }

    /// The seat list of a session (must exist).
    pub async fn seats(&self, session: i64) -> Vec<bool> {
        let seats = self.api.seats(session).await.expect("a seat list");
        seats.seat_list.iter().map(|s| s.is_reservation).collect()
    }

    /// The `abailable` count of a session of concert 1.
    pub async fn available(&self, session: i64) -> u64 {
        let listed = self.api.sessions(1).await.expect("sessions");
        let item = listed.sessions.iter().find(|s| s.session_id == session);
        item.expect("the session").available
    }
}

/// The token of a queue ticket.
pub fn token_of(ticket: &Ticket) -> String {
    ticket.token.clone()
}

/// An answer the assertions below can read: a typed call's result or a raw response.
pub trait Answered {
    /// The HTTP status (a typed success is its route's success status).
    fn status(&self) -> StatusCode;
    /// The status and body of an error answer; a raw one must be JSON.
    fn error_body(self) -> (u16, Value);
    /// The body of a success, as JSON.
    fn ok_body(self) -> Value;
}

impl<T: Reply + Serialize + std::fmt::Debug> Answered for Result<T, Error> {
    fn status(&self) -> StatusCode {
        match self {
            Ok(_) => T::SUCCESS,
            Err(e) => {
                let status = e.status().unwrap_or_else(|| panic!("no answer: {e}"));
                StatusCode::from_u16(status).expect("a status")
            }
        }
    }

    fn error_body(self) -> (u16, Value) {
        match self {
            Err(Error::Api(e)) => (
                e.status,
                json!({ "errorCode": e.status, "msg": e.msg, "error": e.code.as_str() }),
            ),
            other => panic!("expected an error in the contract's shape, got {other:?}"),
        }
    }

    fn ok_body(self) -> Value {
        serde_json::to_value(self.expect("a success")).expect("JSON")
    }
}

impl Answered for Response {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn error_body(self) -> (u16, Value) {
        let body = self.text();
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "body: {body}"
        );
        let value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        (self.status.as_u16(), value)
    }

    fn ok_body(self) -> Value {
        let body = self.text();
        assert_eq!(self.status, StatusCode::OK, "expected 200: {body}");
        serde_json::from_str(&body).expect("a JSON body")
    }
}

/// The body of a success (panics with the answer otherwise).
pub fn json_ok(answer: impl Answered) -> Value {
    answer.ok_body()
}

/// Asserts the contract's error answer: status, `errorCode` = status, code and message.
pub fn assert_error(answer: impl Answered, status: u16, code: &str, msg: &str) {
    let (actual, body) = answer.error_body();
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(
        body,
        json!({ "errorCode": status, "msg": msg, "error": code })
    );
}

/// Asserts an error's status and code (for messages that name a field).
pub fn assert_error_code(answer: impl Answered, status: u16, code: &str) -> Value {
    let (actual, body) = answer.error_body();
    assert_eq!(actual, status, "status; body: {body}");
    assert_eq!(body["errorCode"], status, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Polls `check` until it holds or `deadline` passes; the state change being waited for
/// happens on the server's own timer, which the test cannot drive.
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + deadline;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < until,
            "condition not reached within {deadline:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The contract's messages, verbatim.
pub mod msg {
    pub const INVALID_TOKEN: &str = "유효하지 않은 토큰입니다.";
    pub const TOKEN_EXPIRED: &str = "토큰이 만료되었습니다.";
    pub const STILL_WAITING: &str = "아직 대기열 처리 중입니다.";
    pub const CONCERT_NOT_FOUND: &str = "존재하지 않는 콘서트 입니다.";
    pub const DATE_NOT_FOUND: &str = "존재하지 않는 날짜입니다.";
    pub const SESSION_NOT_FOUND: &str = "존재하지 않는 세션입니다.";
    pub const SEAT_NOT_FOUND: &str = "존재하지 않는 좌석입니다.";
    pub const SEAT_ALREADY_RESERVED: &str = "이미 예약된 좌석입니다.";
    pub const HOLD_LIMIT_EXCEEDED: &str = "예약 가능한 좌석 수를 초과했습니다.";
    pub const RESERVATION_NOT_FOUND: &str = "존재하지 않는 예약입니다.";
    pub const ALREADY_PAID: &str = "이미 결제된 예약입니다.";
    pub const RESERVATION_EXPIRED: &str = "만료된 예약입니다.";
    pub const INSUFFICIENT_BALANCE: &str = "잔액이 부족합니다.";
    pub const IDEMPOTENCY_KEY_REUSED: &str = "이미 다른 요청에 사용된 Idempotency-Key 입니다.";
}
