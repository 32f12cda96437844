//! What every client of any route can rely on: unknown routes, wrong methods, oversized
//! bodies, the health check and the OpenAPI document all answer in the contract's shape.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::Method;
use serde_json::Value;

use crate::helpers::{AppOptions, assert_error, json_ok, spawn_app, spawn_app_with};

/// Sends `PATCH /concert/balance` with a chunked body over a raw connection (reqwest
/// always sends a length for an in-memory body); returns the status and the body.
async fn chunked_patch(address: &str, token: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "PATCH /concert/balance HTTP/1.1\r\nHost: {host}\r\nAuthorization: {token}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().expect("a status code");
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

backend_tests! {
    an_unknown_route_is_a_json_404,
    a_wrong_method_is_a_json_405_with_allow,
    an_oversized_body_is_a_json_413,
    health_answers_ok,
    ready_answers_ready_when_the_database_and_actors_are_up,
    the_openapi_document_describes_every_route,
}

async fn an_unknown_route_is_a_json_404(db: TestDb) {
    let app = spawn_app(&db).await;
    for path in [
        "/nope",
        "/concert",
        "/concert/session",
        "/concert/session/1/extra",
        "/admin/unknown",
    ] {
        assert_error(
            app.get(path).await,
            404,
            "ROUTE_NOT_FOUND",
            "요청한 경로를 찾을 수 없습니다.",
        );
    }
    app.stop().await;
}

async fn a_wrong_method_is_a_json_405_with_allow(db: TestDb) {
    let app = spawn_app(&db).await;
    let cases = [
        (Method::POST, "/concert/wating"),
        (Method::DELETE, "/concert/balance"),
        (Method::GET, "/concert/reservation"),
        (Method::PUT, "/concert/payment"),
        (Method::GET, "/admin/concerts"),
        (Method::POST, "/concert/seat/1"),
    ];
    for (method, path) in cases {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert!(response.headers.contains_key("allow"), "{method} {path}");
        assert_error(
            response,
            405,
            "METHOD_NOT_ALLOWED",
            "허용되지 않는 메서드입니다.",
        );
    }
    app.stop().await;
}

async fn an_oversized_body_is_a_json_413(db: TestDb) {
    let mut options = AppOptions::default();
    options.http.body_limit = 1024;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let token = app.admitted("HappyCat").await;
    let padding = "x".repeat(2048);
    let body = format!("{{\"amount\": 300, \"padding\": \"{padding}\"}}");
    let response = app
        .request(Method::PATCH, "/concert/balance")
        .header("Authorization", &token)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        413,
        "PAYLOAD_TOO_LARGE",
        "요청 본문이 너무 큽니다.",
    );
    // A chunked body (no Content-Length) is cut off at the limit too.
    let (status, answer) = chunked_patch(&app.address, &token, &body).await;
    assert_eq!(status, 413, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("a JSON body");
    assert_eq!(answer["error"], "PAYLOAD_TOO_LARGE");
    app.stop().await;
}

async fn health_answers_ok(db: TestDb) {
    let app = spawn_app(&db).await;
    assert_eq!(
        json_ok(app.get("/health").await),
        serde_json::json!({"status": "ok"})
    );
    app.stop().await;
}

/// Readiness in the contract's shapes; its 503s are tested where a database goes away
/// (`actors/tests/engine/readiness.rs`, `tests/drills/ready.rs`).
async fn ready_answers_ready_when_the_database_and_actors_are_up(db: TestDb) {
    let app = spawn_app(&db).await;
    assert_eq!(
        json_ok(app.get("/ready").await),
        serde_json::json!({"status": "ready"})
    );
    app.stop().await;
}

async fn the_openapi_document_describes_every_route(db: TestDb) {
    let app = spawn_app(&db).await;
    let doc = app.api.openapi().await.expect("the document");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = [
        ("/concert/wating", "get"),
        ("/concert/waiting", "get"),
        ("/concert/wating/challenge", "get"),
        ("/concert/list", "get"),
        ("/concert/session/{concertId}", "get"),
        ("/concert/seat/{sessionId}", "get"),
        ("/concert/balance", "get"),
        ("/concert/balance", "patch"),
        ("/concert/reservation", "post"),
        ("/concert/payment", "post"),
        ("/admin/concerts", "post"),
        ("/admin/concerts/{concertId}/sessions", "post"),
        ("/admin/users/{userId}/credits", "post"),
        ("/admin/stats", "get"),
        ("/admin/concerts/{concertId}/room", "put"),
        ("/admin/concerts/{concertId}/room", "get"),
        ("/admin/concerts/{concertId}/room", "patch"),
        ("/admin/concerts/{concertId}/room/pause", "post"),
        ("/admin/concerts/{concertId}/room/resume", "post"),
        ("/admin/room", "get"),
        ("/admin/room", "patch"),
        ("/admin/room/pause", "post"),
        ("/admin/room/resume", "post"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/concert/wating/stream", "get"),
        ("/concert/waiting/stream", "get"),
        ("/concert/seat/{sessionId}/stream", "get"),
    ];
    for (path, method) in routes {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    for schema in [
        "ErrorBody",
        "QueueResponse",
        "ChallengeResponse",
        "ConcertListItem",
        "SessionsResponse",
        "SeatsResponse",
        "BalanceResponse",
        "HoldResponse",
        "PaymentResponse",
        "RoomStatus",
        "ScheduleRequest",
        "RerateRequest",
        "StatsResponse",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} is documented"
        );
    }
    // Client generators name methods by operation id: each must be unique (the alias too).
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|operation| operation["operationId"].as_str())
        .collect();
    let operations = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), operations, "operation ids repeat: {ids:?}");
    assert_eq!(operations, routes.len(), "every operation has an id");
    let queue = &doc["components"]["schemas"]["QueueResponse"]["properties"];
    assert!(
        queue["watingNumber"].is_object(),
        "the contract's spelling: {queue}"
    );
    app.stop().await;
}
