//! A scheduled on-sale as a visitor sees it: refused with `opensAt` before the
//! pre-queue, a token without a place in it, a place for everyone at `opensAt`.

use std::time::Duration;

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::{Room, RoomSchedule};
use serde_json::json;

use super::{at, concert_with_session, schedule, status};
use crate::helpers::{Answered, assert_error, eventually, json_ok, msg, spawn_app};

pub const ROOM_NOT_OPEN: &str = "아직 대기열이 열리지 않았습니다.";

backend_tests! {
    before_the_pre_queue_a_join_is_room_not_open_with_opens_at,
    the_pre_queue_answers_no_place_and_opens_at,
    at_opens_at_every_pre_queue_token_gets_a_place,
}

async fn before_the_pre_queue_a_join_is_room_not_open_with_opens_at(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, _) = concert_with_session(&app, "Two").await;
    let opens_at = at(7_200);
    let scheduled = schedule(
        &app,
        two,
        RoomSchedule {
            pre_queue_opens_at: Some(at(3_600)),
            opens_at: opens_at.clone(),
            ..RoomSchedule::default()
        },
    )
    .await;
    assert_eq!(scheduled.state, "scheduled");
    let (status_code, body) = app
        .get(&format!("/concert/wating?userId=Cat&concertId={two}"))
        .await
        .error_body();
    assert_eq!(status_code, 403);
    assert_eq!(
        body,
        json!({"errorCode": 403, "msg": ROOM_NOT_OPEN, "error": "ROOM_NOT_OPEN", "opensAt": opens_at})
    );
    // The typed client reads it too.
    let refused = app.api.join_room(two, "Cat").await.unwrap_err();
    assert_eq!(
        refused.api().unwrap().opens_at.as_deref(),
        Some(opens_at.as_str())
    );
    // Nobody was let in, nor into line.
    let after = status(&app, Room::Concert(two)).await;
    assert_eq!(
        (after.waiting, after.admitted, after.admitted_total),
        (0, 0, 0)
    );
    // The site-wide room is not affected.
    assert!(app.join("Cat").await.is_processing);
    app.stop().await;
}

async fn the_pre_queue_answers_no_place_and_opens_at(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, session) = concert_with_session(&app, "Two").await;
    let opens_at = at(3_600);
    let body = RoomSchedule {
        opens_at: opens_at.clone(),
        ..RoomSchedule::default()
    };
    // Without preQueueOpensAt, the pre-queue opens at once.
    let scheduled = schedule(&app, two, body).await;
    assert_eq!(scheduled.state, "prequeue");
    let joined = json_ok(
        app.get(&format!("/concert/wating?userId=Cat&concertId={two}"))
            .await,
    );
    let token = joined["token"].as_str().expect("a token").to_owned();
    assert_eq!(
        joined,
        json!({"watingNumber": null, "token": token, "isProcessing": false, "userId": "Cat",
               "estimatedWaitSeconds": null, "opensAt": opens_at})
    );
    // A poll answers the same, with or without concertId; the token cannot act yet.
    for polled in [
        app.api.poll_room(two, &token).await.unwrap(),
        app.poll(&token).await,
    ] {
        assert_eq!(
            (polled.token.as_str(), polled.waiting_number),
            (token.as_str(), None)
        );
        assert_eq!(polled.opens_at.as_deref(), Some(opens_at.as_str()));
    }
    let waiting = app.api.hold(&token, session, 1).await;
    assert_error(waiting, 403, "STILL_WAITING", msg::STILL_WAITING);
    let room = status(&app, Room::Concert(two)).await;
    assert_eq!(
        (room.state.as_str(), room.waiting, room.admitted),
        ("prequeue", 1, 0)
    );
    // Outside a pre-queue there is no opensAt at all.
    let site = json_ok(app.get("/concert/wating?userId=Cat").await);
    assert!(site.get("opensAt").is_none(), "{site}");
    assert_eq!(site["watingNumber"], 0, "{site}");
    app.stop().await;
}

/// The draw's timer, end to end: three tokens in the pre-queue, one place to admit.
/// (Its fairness is the engine's test; this one waits two real seconds for `opensAt`.)
async fn at_opens_at_every_pre_queue_token_gets_a_place(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, _) = concert_with_session(&app, "Two").await;
    let body = RoomSchedule {
        opens_at: at(2),
        max_active: Some(1),
        ..RoomSchedule::default()
    };
    schedule(&app, two, body).await;
    let mut tokens = Vec::new();
    for user in ["Ann", "Ben", "Cy"] {
        let ticket = app.api.join_room(two, user).await.unwrap();
        assert_eq!(ticket.waiting_number, None, "{user} joins the pre-queue");
        tokens.push(ticket.token);
    }
    let room = Room::Concert(two);
    eventually(Duration::from_secs(15), || async {
        status(&app, room).await.state == "open"
    })
    .await;
    let mut places = Vec::new();
    for token in &tokens {
        let ticket = app.poll(token).await;
        assert_eq!(ticket.opens_at, None, "drawn: {ticket:?}");
        places.push(ticket.waiting_number.expect("a place after the draw"));
    }
    places.sort_unstable();
    assert_eq!(places, [0, 1, 2], "one admitted, two in line behind");
    // A join after the draw stands behind every drawn token.
    let late = app.api.join_room(two, "Dee").await.unwrap();
    assert_eq!(late.waiting_number, Some(3));
    let after = status(&app, room).await;
    assert_eq!(
        (after.waiting, after.admitted, after.admitted_total),
        (3, 1, 1)
    );
    app.stop().await;
}
