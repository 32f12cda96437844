//! Who adds points: a charge's `Idempotency-Key` (`PATCH /concert/balance`), the
//! operator's credit (`POST /admin/users/{userId}/credits`), and charging closed to
//! users (`CHARGE_NOT_ALLOWED`).

use actors::backend_tests;
use actors::testkit::{self, TestDb};
use concert_client::http::Method;
use serde_json::json;

use crate::helpers::{
    ADMIN_KEY, AppOptions, TestApp, assert_error, assert_error_code, json_ok, msg, spawn_app,
    spawn_app_with,
};

const CHARGE_NOT_ALLOWED: &str = "포인트 충전이 허용되지 않습니다: 운영자가 적립합니다.";
const KEY_REQUIRED: &str = "Idempotency-Key 헤더가 필요합니다.";

backend_tests! {
    a_charge_key_replays_the_first_balance_even_after_a_restart,
    a_charge_key_with_another_amount_is_409,
    a_credit_replays_on_its_key_and_never_credits_twice,
    racing_credits_with_one_key_credit_once,
    a_credit_needs_the_admin_key_a_valid_user_and_a_key,
    closed_charging_is_403_and_the_operator_still_credits,
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    json_ok(app.api.balance(token).await)["balance"]
        .as_i64()
        .unwrap()
}

async fn a_charge_key_replays_the_first_balance_even_after_a_restart(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("Cat").await;
    let first = json_ok(app.api.charge_keyed(&token, 300, Some("topup-1")).await);
    assert_eq!(first, json!({"userId": "Cat", "balance": 300}));
    json_ok(app.api.charge(&token, 50).await);
    let replay = app.api.charge_keyed(&token, 300, Some("topup-1")).await;
    assert_eq!(
        json_ok(replay),
        first,
        "the balance right after the first charge"
    );
    assert_eq!(balance(&app, &token).await, 350, "charged once");
    let db_url = app.db_url.clone();
    app.stop().await;

    let options = AppOptions::default();
    let app = spawn_app_with(testkit::reopen(&db).await, &db_url, options).await;
    let replay = app.api.charge_keyed(&token, 300, Some("topup-1")).await;
    assert_eq!(json_ok(replay), first);
    assert_eq!(balance(&app, &token).await, 350);
    app.stop().await;
}

async fn a_charge_key_with_another_amount_is_409(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("Dog").await;
    json_ok(app.api.charge_keyed(&token, 300, Some("k")).await);
    assert_error(
        app.api.charge_keyed(&token, 301, Some("k")).await,
        409,
        "IDEMPOTENCY_KEY_REUSED",
        msg::IDEMPOTENCY_KEY_REUSED,
    );
    assert_error_code(
        app.api.charge_keyed(&token, 300, Some("has space")).await,
        400,
        "INVALID_IDEMPOTENCY_KEY",
    );
    assert_eq!(balance(&app, &token).await, 300);
    app.stop().await;
}

async fn a_credit_replays_on_its_key_and_never_credits_twice(db: TestDb) {
    let app = spawn_app(&db).await;
    let credit = |amount, key| app.api.credit(ADMIN_KEY, "Owl", amount, Some(key));
    let first = json_ok(credit(5_000, "pg-1").await);
    assert_eq!(first, json!({"userId": "Owl", "balance": 5_000}));
    assert_eq!(json_ok(credit(5_000, "pg-1").await), first);
    assert_eq!(json_ok(credit(700, "pg-2").await)["balance"], 5_700);
    assert_error(
        credit(1, "pg-1").await,
        409,
        "IDEMPOTENCY_KEY_REUSED",
        msg::IDEMPOTENCY_KEY_REUSED,
    );
    let token = app.admitted("Owl").await;
    assert_eq!(balance(&app, &token).await, 5_700);
    app.stop().await;
}

async fn racing_credits_with_one_key_credit_once(db: TestDb) {
    let app = spawn_app(&db).await;
    let credits = (0..20).map(|_| app.api.credit(ADMIN_KEY, "Fox", 900, Some("callback-1")));
    for answer in futures::future::join_all(credits).await {
        assert_eq!(json_ok(answer), json!({"userId": "Fox", "balance": 900}));
    }
    let token = app.admitted("Fox").await;
    assert_eq!(balance(&app, &token).await, 900);
    app.stop().await;
}

async fn a_credit_needs_the_admin_key_a_valid_user_and_a_key(db: TestDb) {
    let app = spawn_app(&db).await;
    assert_error_code(
        app.api.credit("wrong", "Owl", 5, Some("k")).await,
        401,
        "ADMIN_KEY_INVALID",
    );
    assert_error(
        app.api.credit(ADMIN_KEY, "Owl", 5, None).await,
        400,
        "IDEMPOTENCY_KEY_REQUIRED",
        KEY_REQUIRED,
    );
    assert_error_code(
        app.api.credit(ADMIN_KEY, "not%20valid", 5, Some("k")).await,
        400,
        "INVALID_USER_ID",
    );
    for amount in [0, 10_000_001] {
        let answer = app.api.credit(ADMIN_KEY, "Owl", amount, Some("k")).await;
        assert_error_code(answer, 400, "INVALID_FIELD");
    }
    let missing_body = app
        .request(Method::POST, "/admin/users/Owl/credits")
        .header("X-Admin-Key", ADMIN_KEY)
        .header("Idempotency-Key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(missing_body.status.as_u16(), 400);
    app.stop().await;
}

async fn closed_charging_is_403_and_the_operator_still_credits(db: TestDb) {
    let mut options = AppOptions::default();
    options.http.charging_open = false;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let token = app.admitted("Bee").await;
    assert_error(
        app.api.charge(&token, 300).await,
        403,
        "CHARGE_NOT_ALLOWED",
        CHARGE_NOT_ALLOWED,
    );
    // Refused before the token is looked up.
    assert_error(
        app.api.charge("not-a-token", 300).await,
        403,
        "CHARGE_NOT_ALLOWED",
        CHARGE_NOT_ALLOWED,
    );
    let credited = app.api.credit(ADMIN_KEY, "Bee", 300, Some("k")).await;
    assert_eq!(json_ok(credited)["balance"], 300);
    assert_eq!(balance(&app, &token).await, 300);
    app.stop().await;
}
