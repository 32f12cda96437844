//! `POST /admin/concerts` and `POST /admin/concerts/{concertId}/sessions`.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_KEY, Answered, AppOptions, TestApp, assert_error, assert_error_code, json_ok, msg,
    spawn_app, spawn_app_with,
};

const ADMIN_KEY_INVALID: &str = "관리자 키가 올바르지 않습니다.";
const ADMIN_DISABLED: &str = "관리자 기능이 비활성화되어 있습니다.";

async fn post(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    body: Value,
) -> concert_client::Response {
    let mut request = app.request(Method::POST, path).json(&body);
    if let Some(key) = key {
        request = request.header("X-Admin-Key", key);
    }
    request.send().await.unwrap()
}

backend_tests! {
    an_admin_creates_a_concert_and_a_session,
    a_missing_or_wrong_key_is_401_even_with_a_bad_body,
    without_a_configured_key_every_admin_route_is_403,
    invalid_titles_and_sessions_are_400_and_unknown_concerts_404,
}

async fn an_admin_creates_a_concert_and_a_session(db: TestDb) {
    let options = AppOptions {
        demo: false,
        ..AppOptions::default()
    };
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let created = post(
        &app,
        "/admin/concerts",
        Some(ADMIN_KEY),
        json!({"title": "IU 2024"}),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.json(), json!({"concertId": 1}));
    let body = json!({"date": "2024-09-01", "seatCount": 3, "price": 500});
    let created = post(&app, "/admin/concerts/1/sessions", Some(ADMIN_KEY), body).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.json(), json!({"sessionId": 1}));
    let listed = json_ok(app.get("/concert/session/1").await);
    assert_eq!(
        listed,
        json!({"concertId": 1, "sessions": [{"sessionId": 1, "date": "2024-09-01", "abailable": 3}]})
    );
    assert_eq!(app.seats(1).await, [false, false, false]);
    let token = app.admitted("HappyCat").await;
    let held = app.api.hold(&token, 1, 3).await.expect("a hold");
    assert_eq!(held.price, 500);
    app.stop().await;
}

async fn a_missing_or_wrong_key_is_401_even_with_a_bad_body(db: TestDb) {
    let app = spawn_app(&db).await;
    for key in [
        None,
        Some("wrong"),
        Some(""),
        Some("test-admin-key-and-more"),
    ] {
        let response = post(&app, "/admin/concerts", key, json!({"title": "x"})).await;
        assert_error(response, 401, "ADMIN_KEY_INVALID", ADMIN_KEY_INVALID);
        let response = post(
            &app,
            "/admin/concerts/1/sessions",
            key,
            json!("not an object"),
        )
        .await;
        assert_error(response, 401, "ADMIN_KEY_INVALID", ADMIN_KEY_INVALID);
    }
    app.stop().await;
}

async fn without_a_configured_key_every_admin_route_is_403(db: TestDb) {
    let mut options = AppOptions::default();
    options.http.admin_key = None;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    for key in [None, Some(""), Some(ADMIN_KEY)] {
        let response = post(&app, "/admin/concerts", key, json!({"title": "x"})).await;
        assert_error(response, 403, "ADMIN_DISABLED", ADMIN_DISABLED);
        let body = json!({"date": "2024-09-01", "seatCount": 3, "price": 500});
        let response = post(&app, "/admin/concerts/1/sessions", key, body).await;
        assert_error(response, 403, "ADMIN_DISABLED", ADMIN_DISABLED);
    }
    app.stop().await;
}

async fn invalid_titles_and_sessions_are_400_and_unknown_concerts_404(db: TestDb) {
    let app = spawn_app(&db).await;
    for title in [
        json!(""),
        json!("   "),
        json!("x".repeat(201)),
        json!("a\u{0}b"),
        json!("line\nbreak"),
        json!(5),
        Value::Null,
    ] {
        let response = post(
            &app,
            "/admin/concerts",
            Some(ADMIN_KEY),
            json!({"title": title}),
        )
        .await;
        assert_error_code(response, 400, "INVALID_FIELD");
    }
    let bad_sessions = [
        json!({"date": "2024-7-3", "seatCount": 50, "price": 0}),
        json!({"date": "2024-02-30", "seatCount": 50, "price": 0}),
        json!({"date": "2024-07-03", "seatCount": 0, "price": 0}),
        json!({"date": "2024-07-03", "seatCount": 1001, "price": 0}),
        json!({"date": "2024-07-03", "seatCount": 50.0, "price": 0}),
        json!({"date": "2024-07-03", "seatCount": 50, "price": -1}),
        json!({"date": "2024-07-03", "seatCount": 50, "price": "100"}),
    ];
    for body in bad_sessions {
        let response = post(
            &app,
            "/admin/concerts/1/sessions",
            Some(ADMIN_KEY),
            body.clone(),
        )
        .await;
        assert_error_code(response, 400, "INVALID_FIELD");
    }
    let missing = post(
        &app,
        "/admin/concerts/1/sessions",
        Some(ADMIN_KEY),
        json!({"date": "2024-07-03", "price": 0}),
    )
    .await;
    assert_error_code(missing, 400, "MISSING_FIELD");
    let edges = json!({"date": "2024-07-09", "seatCount": 1000, "price": 0});
    assert_eq!(
        post(&app, "/admin/concerts/1/sessions", Some(ADMIN_KEY), edges)
            .await
            .status(),
        StatusCode::CREATED
    );
    let good = json!({"date": "2024-07-03", "seatCount": 50, "price": 0});
    let unknown = post(
        &app,
        "/admin/concerts/999/sessions",
        Some(ADMIN_KEY),
        good.clone(),
    )
    .await;
    assert_error(unknown, 404, "CONCERT_NOT_FOUND", msg::CONCERT_NOT_FOUND);
    let bad_id = post(&app, "/admin/concerts/x/sessions", Some(ADMIN_KEY), good).await;
    assert_error_code(bad_id, 400, "INVALID_PATH_ID");
    app.stop().await;
}
