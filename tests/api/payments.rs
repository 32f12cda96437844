//! `POST /concert/payment`: the sale, the end of the payer's admission, the contract's
//! refusals, and idempotent retries.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    Answered, AppOptions, assert_error, assert_error_code, json_ok, msg, spawn_app, spawn_app_with,
    token_of,
};

backend_tests! {
    a_payment_answers_the_sale_and_the_new_balance,
    a_payment_ends_the_token_and_admits_the_first_waiter,
    refusals_follow_the_contract,
    a_waiting_token_cannot_pay_and_the_token_comes_before_the_body,
    a_retry_with_the_same_key_answers_the_first_payment_after_admission_ended,
    keys_belong_to_one_user_and_a_failed_attempt_can_be_retried,
    a_malformed_idempotency_key_is_400,
    a_replay_with_a_fresh_token_answers_the_first_payment_and_leaves_it_admitted,
}

/// The payment ended the paying token's admission; the user joins again (a fresh,
/// admitted token) and replays the payment with it: the first 200, and the fresh token
/// may still hold (only the admission of the token that paid ends).
async fn a_replay_with_a_fresh_token_answers_the_first_payment_and_leaves_it_admitted(db: TestDb) {
    let app = spawn_app(&db).await;
    let paying = app.admitted("Again").await;
    app.api.charge(&paying, 20_000).await.unwrap();
    let reservation = app.hold_ok(&paying, 1, 5).await;
    let first = json_ok(app.api.pay(&paying, reservation, Some("order-5")).await);
    let fresh = app.admitted("Again").await;
    assert_ne!(fresh, paying);

    let replay = app.api.pay(&fresh, reservation, Some("order-5")).await;
    assert_eq!(json_ok(replay), first);
    let ticket = app.poll(&fresh).await;
    assert!(ticket.is_processing, "the fresh token is still admitted");
    json_ok(app.api.hold(&fresh, 1, 6).await);
    app.stop().await;
}

async fn a_payment_answers_the_sale_and_the_new_balance(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    app.api.charge(&token, 15_000).await.unwrap();
    let reservation = app.hold_ok(&token, 2, 33).await;
    let paid = json_ok(app.api.pay(&token, reservation, None).await);
    let payment_id = paid["paymentId"].as_i64().expect("a payment id");
    assert_eq!(
        paid,
        json!({"sessionId": 2, "date": "2024-07-04", "seatNumber": 33, "reservationId": reservation,
               "paymentId": payment_id, "amount": 10000, "balance": 5000})
    );
    assert!(app.seats(2).await[32], "the seat is sold");
    assert_eq!(app.available(2).await, 49);
    app.stop().await;
}

async fn a_payment_ends_the_token_and_admits_the_first_waiter(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let payer = app.admitted("Payer").await;
    let next = token_of(&app.join("Next").await);
    let last = token_of(&app.join("Last").await);
    assert_eq!(app.poll(&next).await.waiting_number, Some(1));
    app.api.charge(&payer, 10_000).await.unwrap();
    let reservation = app.hold_ok(&payer, 1, 1).await;
    json_ok(app.api.pay(&payer, reservation, None).await);

    let ticket = app.poll(&next).await;
    assert_eq!(
        (ticket.is_processing, ticket.waiting_number),
        (true, Some(0))
    );
    assert_eq!(app.poll(&last).await.waiting_number, Some(1));
    assert_error(
        app.api.hold(&payer, 1, 2).await,
        401,
        "TOKEN_EXPIRED",
        msg::TOKEN_EXPIRED,
    );
    // Polling with the ended token: a new token, same user, at the back of the line.
    let renewed = app.poll(&payer).await;
    assert_ne!(token_of(&renewed), payer);
    assert_eq!(renewed.user_id, "Payer");
    assert_eq!(renewed.waiting_number, Some(2));
    app.stop().await;
}

async fn refusals_follow_the_contract(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.expire_token_on_payment = false;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let cat = app.admitted("HappyCat").await;
    let dog = app.admitted("HappyDog").await;
    let reservation = app.hold_ok(&cat, 1, 5).await;
    assert_error(
        app.api.pay("garbage", reservation, None).await,
        403,
        "INVALID_TOKEN",
        msg::INVALID_TOKEN,
    );
    for unknown in [reservation + 1000, 0, -3] {
        assert_error(
            app.api.pay(&cat, unknown, None).await,
            404,
            "RESERVATION_NOT_FOUND",
            msg::RESERVATION_NOT_FOUND,
        );
    }
    // Another user's reservation does not exist for them.
    assert_error(
        app.api.pay(&dog, reservation, None).await,
        404,
        "RESERVATION_NOT_FOUND",
        msg::RESERVATION_NOT_FOUND,
    );
    assert_error(
        app.api.pay(&cat, reservation, None).await,
        402,
        "INSUFFICIENT_BALANCE",
        msg::INSUFFICIENT_BALANCE,
    );
    app.api.charge(&cat, 10_000).await.unwrap();
    json_ok(app.api.pay(&cat, reservation, None).await);
    assert_error(
        app.api.pay(&cat, reservation, None).await,
        409,
        "ALREADY_PAID",
        msg::ALREADY_PAID,
    );
    assert_error(
        app.api.pay(&dog, reservation, None).await,
        404,
        "RESERVATION_NOT_FOUND",
        msg::RESERVATION_NOT_FOUND,
    );
    app.stop().await;
}

async fn a_waiting_token_cannot_pay_and_the_token_comes_before_the_body(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    app.admitted("First").await;
    let waiting = token_of(&app.join("Second").await);
    assert_error(
        app.api.pay(&waiting, 1, None).await,
        403,
        "STILL_WAITING",
        msg::STILL_WAITING,
    );
    let send = |token: &str| {
        app.request(Method::POST, "/concert/payment")
            .header("Authorization", token)
            .body("{\"reservationId\": \"1\"}")
            .send()
    };
    assert_error(
        send("bad").await.unwrap(),
        403,
        "INVALID_TOKEN",
        msg::INVALID_TOKEN,
    );
    assert_error(
        send(&waiting).await.unwrap(),
        403,
        "STILL_WAITING",
        msg::STILL_WAITING,
    );
    app.stop().await;
}

async fn a_retry_with_the_same_key_answers_the_first_payment_after_admission_ended(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    app.api.charge(&token, 25_000).await.unwrap();
    let first_hold = app.hold_ok(&token, 1, 10).await;
    let second_hold = app.hold_ok(&token, 1, 11).await;
    let first = json_ok(app.api.pay(&token, first_hold, Some("order-1")).await);
    assert_eq!(first["balance"], 15_000);
    // The payment ended the token's admission, yet the retry is answered the same.
    let retry = json_ok(app.api.pay(&token, first_hold, Some("order-1")).await);
    assert_eq!(retry, first);
    assert_error(
        app.api.pay(&token, second_hold, Some("order-1")).await,
        409,
        "IDEMPOTENCY_KEY_REUSED",
        msg::IDEMPOTENCY_KEY_REUSED,
    );
    // Charged once: a new token for the same user sees one debit.
    let renewed = token_of(&app.poll(&token).await);
    let balance = app
        .request(Method::GET, "/concert/balance")
        .header("Authorization", &renewed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(balance),
        json!({"userId": "HappyCat", "balance": 15_000})
    );
    // Without a key, the ended token is refused.
    assert_error(
        app.api.pay(&token, first_hold, None).await,
        401,
        "TOKEN_EXPIRED",
        msg::TOKEN_EXPIRED,
    );
    app.stop().await;
}

async fn keys_belong_to_one_user_and_a_failed_attempt_can_be_retried(db: TestDb) {
    let app = spawn_app(&db).await;
    let cat = app.admitted("HappyCat").await;
    let dog = app.admitted("HappyDog").await;
    app.api.charge(&cat, 10_000).await.unwrap();
    let cats = app.hold_ok(&cat, 1, 20).await;
    let dogs = app.hold_ok(&dog, 1, 21).await;
    // Dog's first attempt fails (no points); only a 200 is remembered.
    assert_error(
        app.api.pay(&dog, dogs, Some("k")).await,
        402,
        "INSUFFICIENT_BALANCE",
        msg::INSUFFICIENT_BALANCE,
    );
    json_ok(app.api.pay(&cat, cats, Some("k")).await);
    app.api.charge(&dog, 10_000).await.unwrap();
    let paid = json_ok(app.api.pay(&dog, dogs, Some("k")).await);
    assert_eq!(
        (paid["reservationId"].as_i64(), paid["seatNumber"].as_i64()),
        (Some(dogs), Some(21))
    );
    app.stop().await;
}

async fn a_malformed_idempotency_key_is_400(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    let reservation = app.hold_ok(&token, 1, 1).await;
    let long = "k".repeat(129);
    for key in [long.as_str(), "has space", ""] {
        assert_error_code(
            app.api.pay(&token, reservation, Some(key)).await,
            400,
            "INVALID_IDEMPOTENCY_KEY",
        );
    }
    assert_eq!(
        app.api
            .pay(&token, reservation, Some(&"k".repeat(128)))
            .await
            .status(),
        StatusCode::PAYMENT_REQUIRED
    );
    app.stop().await;
}
