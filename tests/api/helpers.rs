//! Starting the app in-process on a fresh database, and talking to it like a front end.

use std::sync::Arc;
use std::time::Duration;

use actors::store::Store;
use actors::testkit::TestDb;
use actors::{Engine, EngineConfig};
use concert::http::HttpSettings;
use concert::server::{Application, ServeError, Settings};
use reqwest::{Method, StatusCode};
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
            http: HttpSettings {
                admin_key: Some(ADMIN_KEY.to_owned()),
                ..HttpSettings::default()
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
    /// A client with no default headers.
    pub client: reqwest::Client,
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
        address,
        db_url: db_url.to_owned(),
        client: reqwest::Client::new(),
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

    /// A request to `path` on this app.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    /// A queue poll for `user`, without a token.
    pub async fn join(&self, user: &str) -> Value {
        let response = self.get(&format!("/concert/wating?userId={user}")).await;
        json_ok(response).await
    }

    /// A queue poll with `token`.
    pub async fn poll(&self, token: &str) -> Value {
        let response = self
            .request(Method::GET, "/concert/wating")
            .header("Authorization", token)
            .send()
            .await
            .expect("poll");
        json_ok(response).await
    }

    /// A token for `user` that is already admitted (panics if it is waiting).
    pub async fn admitted(&self, user: &str) -> String {
        let ticket = self.join(user).await;
        assert_eq!(
            ticket["isProcessing"], true,
            "{user} should be admitted: {ticket}"
        );
        token_of(&ticket)
    }

    /// A token for `user`, polled until admitted: joins made concurrently may be answered
    /// before the waiting room's admission of them is stored, as a front end would see.
    pub async fn admitted_eventually(&self, user: &str) -> String {
        let token = token_of(&self.join(user).await);
        eventually(Duration::from_secs(30), || async {
            self.poll(&token).await["isProcessing"] == true
        })
        .await;
        token
    }

    /// `PATCH /concert/balance` with `amount` (any JSON).
    pub async fn charge(&self, token: &str, amount: Value) -> reqwest::Response {
        self.request(Method::PATCH, "/concert/balance")
            .header("Authorization", token)
            .json(&json!({ "amount": amount }))
            .send()
            .await
            .expect("charge")
    }

    /// `POST /concert/reservation`.
    pub async fn hold(&self, token: &str, session: i64, seat: i64) -> reqwest::Response {
        self.request(Method::POST, "/concert/reservation")
            .header("Authorization", token)
            .json(&json!({ "sessionId": session, "seatNumber": seat }))
            .send()
            .await
            .expect("hold")
    }

    /// A hold that must succeed: its reservation id.
    pub async fn hold_ok(&self, token: &str, session: i64, seat: i64) -> i64 {
        let response = self.hold(token, session, seat).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("a JSON hold");
        body["reservationId"].as_i64().expect("a reservation id")
    }

    /// `POST /concert/payment`, with an `Idempotency-Key` if given.
    pub async fn pay(&self, token: &str, reservation: i64, key: Option<&str>) -> reqwest::Response {
        let mut request = self
            .request(Method::POST, "/concert/payment")
            .header("Authorization", token)
            .json(&json!({ "reservationId": reservation }));
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("pay")
    }

    /// The seat list of a session (must exist).
    pub async fn seats(&self, session: i64) -> Vec<bool> {
        let body = json_ok(self.get(&format!("/concert/seat/{session}")).await).await;
        let seats = body["seatList"].as_array().expect("a seat list");
        seats
            .iter()
            .map(|seat| seat["isReservation"].as_bool().expect("a flag"))
            .collect()
    }

    /// The `abailable` count of a session of concert 1.
    pub async fn available(&self, session: i64) -> i64 {
        let body = json_ok(self.get("/concert/session/1").await).await;
        let sessions = body["sessions"].as_array().expect("sessions");
        let item = sessions
            .iter()
            .find(|s| s["sessionId"] == session)
            .expect("the session");
        item["abailable"].as_i64().expect("a count")
    }
}

/// The token of a queue ticket.
pub fn token_of(ticket: &Value) -> String {
    ticket["token"].as_str().expect("a token").to_owned()
}

/// The body of a 200 answer (panics with the body otherwise).
pub async fn json_ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.expect("a body");
    assert_eq!(status, StatusCode::OK, "expected 200, got {status}: {body}");
    serde_json::from_str(&body).expect("a JSON body")
}

/// Asserts the contract's error answer: status, `errorCode` = status, code and message.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str, msg: &str) {
    let actual = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = response.text().await.expect("a body");
    assert_eq!(actual.as_u16(), status, "status; body: {body}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "body: {body}"
    );
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    assert_eq!(
        body,
        json!({ "errorCode": status, "msg": msg, "error": code })
    );
}

/// Asserts an error's status and code (for messages that name a field).
pub async fn assert_error_code(response: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = response.status();
    let body = response.text().await.expect("a body");
    assert_eq!(actual.as_u16(), status, "status; body: {body}");
    let body: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
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
