//! `GET /concert/session/{concertId}` and `GET /concert/seat/{sessionId}` on the demo data.

use actors::backend_tests;
use actors::testkit::TestDb;
use serde_json::json;

use crate::helpers::{assert_error, json_ok, msg, spawn_app};

backend_tests! {
    the_demo_concert_lists_six_sessions_by_date,
    an_unknown_concert_is_404,
    the_seat_list_has_every_seat_in_order,
    a_hold_shows_in_the_seat_list_and_the_count,
    an_unknown_session_has_no_date,
    non_numeric_and_out_of_range_path_ids_are_400,
}

async fn the_demo_concert_lists_six_sessions_by_date(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = json_ok(app.get("/concert/session/1").await);
    let dates = [
        "2024-07-03",
        "2024-07-04",
        "2024-07-05",
        "2024-07-06",
        "2024-07-07",
        "2024-07-08",
    ];
    let sessions: Vec<_> = dates
        .iter()
        .zip(1..)
        .map(|(date, id)| json!({"sessionId": id, "date": date, "abailable": 50}))
        .collect();
    assert_eq!(body, json!({"concertId": 1, "sessions": sessions}));
    app.stop().await;
}

async fn an_unknown_concert_is_404(db: TestDb) {
    let app = spawn_app(&db).await;
    let response = app.get("/concert/session/999").await;
    assert_error(response, 404, "CONCERT_NOT_FOUND", msg::CONCERT_NOT_FOUND);
    app.stop().await;
}

async fn the_seat_list_has_every_seat_in_order(db: TestDb) {
    let app = spawn_app(&db).await;
    let body = json_ok(app.get("/concert/seat/2").await);
    let seats: Vec<_> = (1..=50)
        .map(|n| json!({"seatNumber": n, "isReservation": false}))
        .collect();
    assert_eq!(
        body,
        json!({"sessionId": 2, "date": "2024-07-04", "seatList": seats})
    );
    app.stop().await;
}

async fn a_hold_shows_in_the_seat_list_and_the_count(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("HappyCat").await;
    app.hold_ok(&token, 2, 7).await;
    let seats = app.seats(2).await;
    assert!(seats[6], "seat 7 is taken");
    assert_eq!(seats.iter().filter(|taken| **taken).count(), 1);
    assert_eq!(app.available(2).await, 49);
    assert_eq!(app.available(1).await, 50);
    app.stop().await;
}

async fn an_unknown_session_has_no_date(db: TestDb) {
    let app = spawn_app(&db).await;
    let response = app.get("/concert/seat/999").await;
    assert_error(response, 404, "SESSION_NOT_FOUND", msg::DATE_NOT_FOUND);
    app.stop().await;
}

async fn non_numeric_and_out_of_range_path_ids_are_400(db: TestDb) {
    let app = spawn_app(&db).await;
    let invalid = "경로의 ID가 올바르지 않습니다: 1 이상의 정수여야 합니다.";
    for id in [
        "abc",
        "0",
        "-1",
        "1.5",
        "+1",
        "%201",
        "9223372036854775808",
        "99999999999999999999999",
    ] {
        for route in ["/concert/session", "/concert/seat"] {
            let response = app.get(&format!("{route}/{id}")).await;
            assert_error(response, 400, "INVALID_PATH_ID", invalid);
        }
    }
    // The largest id is well-formed, just unknown.
    let response = app.get("/concert/seat/9223372036854775807").await;
    assert_error(response, 404, "SESSION_NOT_FOUND", msg::DATE_NOT_FOUND);
    app.stop().await;
}
