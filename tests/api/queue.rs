//! `GET /concert/wating`: issuing, answering and ordering tokens.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::Method;
use serde_json::Value;

use crate::helpers::{AppOptions, assert_error_code, json_ok, spawn_app, spawn_app_with, token_of};

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

backend_tests! {
    a_new_token_has_the_contract_shape,
    the_waiting_alias_and_bearer_prefix_answer_the_same_token,
    one_user_gets_one_place_in_line,
    unknown_or_malformed_tokens_get_a_new_token,
    a_bad_user_id_is_400,
    forty_are_admitted_and_the_next_wait_at_one_two_three,
}

async fn a_new_token_has_the_contract_shape(db: TestDb) {
    let app = spawn_app(&db).await;
    let ticket = json_ok(app.get("/concert/wating?userId=HappyCat").await);
    assert_eq!(
        keys(&ticket),
        [
            "estimatedWaitSeconds",
            "isProcessing",
            "token",
            "userId",
            "watingNumber"
        ]
    );
    assert_eq!(ticket["userId"], "HappyCat");
    assert_eq!(ticket["isProcessing"], true, "an empty room admits at once");
    assert_eq!(ticket["watingNumber"], 0);
    let token = uuid::Uuid::parse_str(ticket["token"].as_str().unwrap()).expect("a UUID token");
    assert_eq!(token.get_version_num(), 4);
    app.stop().await;
}

async fn the_waiting_alias_and_bearer_prefix_answer_the_same_token(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = token_of(&app.join("HappyCat").await);
    let response = app
        .request(Method::GET, "/concert/waiting")
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    let ticket = json_ok(response);
    assert_eq!(ticket["token"], token);
    assert_eq!(ticket["userId"], "HappyCat");
    app.stop().await;
}

async fn one_user_gets_one_place_in_line(db: TestDb) {
    let app = spawn_app(&db).await;
    let first = token_of(&app.join("HappyCat").await);
    let again = token_of(&app.join("HappyCat").await);
    assert_eq!(first, again);
    let by_header = app
        .request(Method::GET, "/concert/wating")
        .header("X-User-Id", "HappyCat")
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(by_header)["token"], first);
    app.stop().await;
}

async fn unknown_or_malformed_tokens_get_a_new_token(db: TestDb) {
    let app = spawn_app(&db).await;
    for stale in ["not-a-token", "00000000-0000-4000-8000-000000000000", ""] {
        let ticket = app.poll(stale).await;
        assert_ne!(token_of(&ticket), stale);
        let user = ticket.user_id;
        assert!(user.starts_with("user-"), "a generated user id: {user}");
    }
    let named = app
        .request(Method::GET, "/concert/wating?userId=Named")
        .header("Authorization", "garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(named)["userId"], "Named");
    app.stop().await;
}

async fn a_bad_user_id_is_400(db: TestDb) {
    let app = spawn_app(&db).await;
    let long = "a".repeat(65);
    for path in [
        "/concert/wating?userId=a%20b",
        "/concert/wating?userId=",
        &format!("/concert/wating?userId={long}"),
    ] {
        assert_error_code(app.get(path).await, 400, "INVALID_USER_ID");
    }
    let header = app
        .request(Method::GET, "/concert/wating")
        .header("X-User-Id", "semi;colon")
        .send()
        .await
        .unwrap();
    assert_error_code(header, 400, "INVALID_USER_ID");
    app.stop().await;
}

async fn forty_are_admitted_and_the_next_wait_at_one_two_three(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 40;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    for n in 0..40 {
        let ticket = app.join(&format!("fan{n}")).await;
        assert!(ticket.is_processing, "fan{n}");
        assert_eq!(ticket.waiting_number, Some(0), "fan{n}");
    }
    let mut waiting = Vec::new();
    for (n, expected) in (40..43).zip(1..) {
        let ticket = app.join(&format!("fan{n}")).await;
        assert!(!ticket.is_processing, "fan{n}");
        assert_eq!(ticket.waiting_number, Some(expected), "fan{n}");
        waiting.push(token_of(&ticket));
    }
    // A poll with the token answers the same place (it never grows).
    for (token, expected) in waiting.iter().zip(1..) {
        let ticket = app.poll(token).await;
        assert_eq!(token_of(&ticket), *token);
        assert_eq!(ticket.waiting_number, Some(expected));
    }
    app.stop().await;
}
