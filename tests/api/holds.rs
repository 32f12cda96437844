//! `POST /concert/reservation`: the contract's checks in order, the race for one seat,
//! and a hold's expiry.

use std::time::Duration;

use actors::backend_tests;
use actors::testkit::TestDb;
use chrono::{DateTime, Utc};
use concert_client::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Answered, AppOptions, assert_error, assert_error_code, eventually, json_ok, msg, spawn_app,
    spawn_app_with, token_of,
};

backend_tests! {
    a_hold_answers_201_with_its_reservation,
    tokens_are_checked_first_invalid_then_expired_then_waiting,
    the_token_is_judged_before_the_body,
    unknown_sessions_and_seats_are_404_session_first,
    wrong_types_and_missing_fields_are_400,
    a_taken_seat_is_409_and_the_hold_limit_too,
    hundreds_racing_for_one_seat_get_exactly_one_201,
    an_expired_hold_frees_the_seat_and_a_late_payment_is_410,
}

async fn a_hold_answers_201_with_its_reservation(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    let before = Utc::now();
    let response = app.api.hold(&token, 1, 4).await;
    let body = json_ok(response);
    assert!(body["reservationId"].as_i64().unwrap() >= 1);
    assert_eq!(body["sessionId"], 1);
    assert_eq!(body["seatNumber"], 4);
    assert_eq!(body["price"], 10000);
    let expires_at = body["expiresAt"].as_str().unwrap();
    assert!(expires_at.ends_with('Z'), "UTC: {expires_at}");
    let expires_at: DateTime<Utc> = expires_at.parse().expect("RFC 3339");
    let ttl = expires_at - before;
    assert!(
        ttl > chrono::Duration::minutes(4)
            && ttl <= chrono::Duration::minutes(5) + chrono::Duration::seconds(1),
        "{ttl}"
    );
    app.stop().await;
}

async fn tokens_are_checked_first_invalid_then_expired_then_waiting(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    assert_error(
        app.api.hold("garbage", 1, 1).await,
        403,
        "INVALID_TOKEN",
        msg::INVALID_TOKEN,
    );
    let missing = app
        .request(Method::POST, "/concert/reservation")
        .json(&json!({"sessionId": 1, "seatNumber": 1}))
        .send()
        .await
        .unwrap();
    assert_error(missing, 403, "INVALID_TOKEN", msg::INVALID_TOKEN);
    // The first user pays, which ends their admission: their token is now expired.
    let first = app.admitted("First").await;
    let waiting = token_of(&app.join("Second").await);
    app.api.charge(&first, 10_000).await.unwrap();
    let reservation = app.hold_ok(&first, 1, 1).await;
    assert_eq!(
        app.api.pay(&first, reservation, None).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.api.hold(&first, 1, 2).await,
        401,
        "TOKEN_EXPIRED",
        msg::TOKEN_EXPIRED,
    );
    let third = token_of(&app.join("Third").await);
    assert_error(
        app.api.hold(&third, 1, 2).await,
        403,
        "STILL_WAITING",
        msg::STILL_WAITING,
    );
    // Second was admitted by First's payment.
    assert_eq!(
        app.api.hold(&waiting, 1, 2).await.status(),
        StatusCode::CREATED
    );
    app.stop().await;
}

async fn the_token_is_judged_before_the_body(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let send = |token: String, body: &'static str| {
        app.request(Method::POST, "/concert/reservation")
            .header("Authorization", token)
            .body(body)
            .send()
    };
    assert_error(
        send("bad".into(), "{oops").await.unwrap(),
        403,
        "INVALID_TOKEN",
        msg::INVALID_TOKEN,
    );
    let admitted = app.admitted("First").await;
    let waiting = token_of(&app.join("Second").await);
    assert_error(
        send(waiting, "{oops").await.unwrap(),
        403,
        "STILL_WAITING",
        msg::STILL_WAITING,
    );
    assert_error_code(
        send(admitted, "{oops").await.unwrap(),
        400,
        "MALFORMED_JSON",
    );
    app.stop().await;
}

async fn unknown_sessions_and_seats_are_404_session_first(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    for (session, seat) in [(999, 1), (0, 1), (-5, 1), (999, 0), (999, 51)] {
        assert_error(
            app.api.hold(&token, session, seat).await,
            404,
            "SESSION_NOT_FOUND",
            msg::SESSION_NOT_FOUND,
        );
    }
    for seat in [0, -1, 51, 1001, i64::MAX] {
        assert_error(
            app.api.hold(&token, 1, seat).await,
            404,
            "SEAT_NOT_FOUND",
            msg::SEAT_NOT_FOUND,
        );
    }
    app.stop().await;
}

async fn wrong_types_and_missing_fields_are_400(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    let send = |body: Value| {
        app.request(Method::POST, "/concert/reservation")
            .header("Authorization", &token)
            .json(&body)
            .send()
    };
    for body in [
        json!({"sessionId": "1", "seatNumber": 4}),
        json!({"sessionId": 1, "seatNumber": 4.0}),
        json!({"sessionId": 1, "seatNumber": null}),
        json!({"sessionId": true, "seatNumber": 4}),
    ] {
        assert_error_code(send(body).await.unwrap(), 400, "INVALID_FIELD");
    }
    assert_error_code(
        send(json!({"sessionId": 1})).await.unwrap(),
        400,
        "MISSING_FIELD",
    );
    assert_error_code(send(json!(4)).await.unwrap(), 400, "INVALID_BODY");
    app.stop().await;
}

async fn a_taken_seat_is_409_and_the_hold_limit_too(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_holds_per_user = 2;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let cat = app.admitted("HappyCat").await;
    let dog = app.admitted("HappyDog").await;
    app.hold_ok(&cat, 1, 1).await;
    assert_error(
        app.api.hold(&dog, 1, 1).await,
        409,
        "SEAT_ALREADY_RESERVED",
        msg::SEAT_ALREADY_RESERVED,
    );
    assert_error(
        app.api.hold(&cat, 1, 1).await,
        409,
        "SEAT_ALREADY_RESERVED",
        msg::SEAT_ALREADY_RESERVED,
    );
    app.hold_ok(&cat, 1, 2).await;
    assert_error(
        app.api.hold(&cat, 1, 3).await,
        409,
        "HOLD_LIMIT_EXCEEDED",
        msg::HOLD_LIMIT_EXCEEDED,
    );
    // The limit is per session.
    app.hold_ok(&cat, 2, 3).await;
    app.stop().await;
}

async fn hundreds_racing_for_one_seat_get_exactly_one_201(db: TestDb) {
    const FANS: usize = 200;
    let mut options = AppOptions::default();
    options.engine.max_active = FANS;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let tokens = futures::future::join_all((0..FANS).map(|n| {
        let app = &app;
        async move { app.admitted_eventually(&format!("fan{n}")).await }
    }))
    .await;
    let statuses =
        futures::future::join_all(tokens.iter().map(|token| app.api.hold(token, 3, 7))).await;
    let mut created = 0;
    for response in statuses {
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_error(
                response,
                409,
                "SEAT_ALREADY_RESERVED",
                msg::SEAT_ALREADY_RESERVED,
            ),
            other => panic!("unexpected {other}: {response:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.available(3).await, 49);
    app.stop().await;
}

async fn an_expired_hold_frees_the_seat_and_a_late_payment_is_410(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.hold_ttl = Duration::from_secs(2);
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let token = app.admitted("HappyCat").await;
    app.api.charge(&token, 10_000).await.unwrap();
    // The 201 says the seat is held; no check of the seat list here, which a slow
    // machine could reach only after the two seconds.
    let reservation = app.hold_ok(&token, 1, 9).await;
    eventually(Duration::from_secs(15), || async { !app.seats(1).await[8] }).await;
    assert_eq!(app.available(1).await, 50);
    assert_error(
        app.api.pay(&token, reservation, None).await,
        410,
        "RESERVATION_EXPIRED",
        msg::RESERVATION_EXPIRED,
    );
    // The seat can be held again, by anyone.
    let other = app.admitted("HappyDog").await;
    app.hold_ok(&other, 1, 9).await;
    app.stop().await;
}
