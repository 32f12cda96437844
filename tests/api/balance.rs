//! `GET` and `PATCH /concert/balance`.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::Method;
use serde_json::{Value, json};

use crate::helpers::{
    AppOptions, assert_error, assert_error_code, json_ok, msg, spawn_app, spawn_app_with, token_of,
};

backend_tests! {
    charges_add_up_and_the_balance_reads_back,
    a_waiting_token_may_charge,
    a_missing_unknown_or_malformed_token_is_403,
    an_amount_must_be_an_integer_from_1_to_10_million,
    malformed_json_and_non_objects_are_400,
    the_token_is_judged_before_the_body,
}

async fn charges_add_up_and_the_balance_reads_back(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    let balance = app
        .request(Method::GET, "/concert/balance")
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(balance),
        json!({"userId": "HappyCat", "balance": 0})
    );
    assert_eq!(
        json_ok(app.api.charge(&token, 300).await),
        json!({"userId": "HappyCat", "balance": 300})
    );
    let max = app.api.charge(&token, 10_000_000).await;
    assert_eq!(
        json_ok(max),
        json!({"userId": "HappyCat", "balance": 10_000_300})
    );
    let balance = app
        .request(Method::GET, "/concert/balance")
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_ok(balance)["balance"], 10_000_300);
    app.stop().await;
}

async fn a_waiting_token_may_charge(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    app.admitted("First").await;
    let ticket = app.join("Second").await;
    assert!(!ticket.is_processing);
    let charged = app.api.charge(&token_of(&ticket), 500).await;
    assert_eq!(
        json_ok(charged),
        json!({"userId": "Second", "balance": 500})
    );
    app.stop().await;
}

async fn a_missing_unknown_or_malformed_token_is_403(db: TestDb) {
    let app = spawn_app(&db).await;
    let missing = app.get("/concert/balance").await;
    assert_error(missing, 403, "INVALID_TOKEN", msg::INVALID_TOKEN);
    for token in ["nope", "00000000-0000-4000-8000-000000000000"] {
        let get = app
            .request(Method::GET, "/concert/balance")
            .header("Authorization", token)
            .send()
            .await
            .unwrap();
        assert_error(get, 403, "INVALID_TOKEN", msg::INVALID_TOKEN);
        assert_error(
            app.api.charge(token, 300).await,
            403,
            "INVALID_TOKEN",
            msg::INVALID_TOKEN,
        );
    }
    app.stop().await;
}

async fn an_amount_must_be_an_integer_from_1_to_10_million(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    for amount in [
        json!(300.0),
        json!("300"),
        json!(true),
        Value::Null,
        json!(0),
        json!(-1),
        json!(10_000_001),
        json!([300]),
        json!(3e2),
    ] {
        let body = assert_error_code(
            app.charge_raw(&token, amount.clone()).await,
            400,
            "INVALID_FIELD",
        );
        assert!(
            body["msg"].as_str().unwrap().contains("amount"),
            "{amount}: {body}"
        );
    }
    let missing = app
        .request(Method::PATCH, "/concert/balance")
        .header("Authorization", &token)
        .json(&json!({"amout": 300}))
        .send()
        .await
        .unwrap();
    assert_error_code(missing, 400, "MISSING_FIELD");
    let balance = app
        .request(Method::GET, "/concert/balance")
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(balance)["balance"],
        0,
        "no refused charge was applied"
    );
    app.stop().await;
}

async fn malformed_json_and_non_objects_are_400(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    let send = |body: &'static str| {
        app.request(Method::PATCH, "/concert/balance")
            .header("Authorization", &token)
            .body(body)
            .send()
    };
    assert_error_code(send("{\"amount\": ").await.unwrap(), 400, "MALFORMED_JSON");
    assert_error_code(send("").await.unwrap(), 400, "MALFORMED_JSON");
    assert_error_code(send("[300]").await.unwrap(), 400, "INVALID_BODY");
    // No Content-Type is needed (the seed's curl examples send none); unknown fields are ignored.
    let ok = send("{\"amount\": 300, \"note\": \"gift\"}").await.unwrap();
    assert_eq!(json_ok(ok)["balance"], 300);
    app.stop().await;
}

async fn the_token_is_judged_before_the_body(db: TestDb) {
    let app = spawn_app(&db).await;
    let response = app
        .request(Method::PATCH, "/concert/balance")
        .header("Authorization", "bad")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, 403, "INVALID_TOKEN", msg::INVALID_TOKEN);
    app.stop().await;
}
