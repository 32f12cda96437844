//! The room routes as the operator meets them: the key, the refusals, rescheduling, and
//! pause, resume and re-rate seen in the status and in admissions.

use std::time::Duration;

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::Method;
use concert_client::{Rerate, Room, RoomSchedule};
use serde_json::json;

use super::isolation::ROOM_NOT_FOUND;
use super::{admin, admitted_in, at, concert_with_session, open_room, schedule, status};
use crate::helpers::{
    ADMIN_KEY, AppOptions, assert_error, assert_error_code, eventually, json_ok, msg, spawn_app,
    spawn_app_with,
};

const ADMIN_KEY_INVALID: &str = "관리자 키가 올바르지 않습니다.";
const ADMIN_DISABLED: &str = "관리자 기능이 비활성화되어 있습니다.";
const ROOM_ALREADY_OPEN: &str = "이미 열린 대기실의 일정은 바꿀 수 없습니다.";

/// Every room route, with a body it would accept.
fn routes() -> Vec<(Method, &'static str, Option<serde_json::Value>)> {
    let schedule = json!({"opensAt": "2030-01-01T00:00:00Z"});
    let rerate = json!({"maxActive": 5});
    vec![
        (Method::PUT, "/admin/concerts/1/room", Some(schedule)),
        (Method::GET, "/admin/concerts/1/room", None),
        (
            Method::PATCH,
            "/admin/concerts/1/room",
            Some(rerate.clone()),
        ),
        (Method::POST, "/admin/concerts/1/room/pause", None),
        (Method::POST, "/admin/concerts/1/room/resume", None),
        (Method::GET, "/admin/room", None),
        (Method::PATCH, "/admin/room", Some(rerate)),
        (Method::POST, "/admin/room/pause", None),
        (Method::POST, "/admin/room/resume", None),
    ]
}

backend_tests! {
    room_routes_are_401_without_the_key_and_403_without_one_configured,
    room_routes_refuse_bad_bodies_and_rooms_that_do_not_exist,
    a_room_is_rescheduled_until_it_opens_then_409,
    pause_resume_and_rerate_show_in_the_status_and_in_admissions,
    the_site_room_is_paused_and_rerated_like_a_concerts,
}

async fn room_routes_are_401_without_the_key_and_403_without_one_configured(db: TestDb) {
    let app = spawn_app(&db).await;
    for (method, path, body) in routes() {
        for key in [None, Some("wrong"), Some("")] {
            let answer = admin(&app, method.clone(), path, key, body.clone()).await;
            assert_error(answer, 401, "ADMIN_KEY_INVALID", ADMIN_KEY_INVALID);
        }
    }
    // Nothing was scheduled or paused by the refused calls.
    assert_eq!(status(&app, Room::Site).await.state, "open");
    app.stop().await;

    let mut options = AppOptions::default();
    options.http.admin_key = None;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    for (method, path, body) in routes() {
        let answer = admin(&app, method, path, Some(ADMIN_KEY), body).await;
        assert_error(answer, 403, "ADMIN_DISABLED", ADMIN_DISABLED);
    }
    app.stop().await;
}

async fn room_routes_refuse_bad_bodies_and_rooms_that_do_not_exist(db: TestDb) {
    let app = spawn_app(&db).await;
    let key = Some(ADMIN_KEY);
    let put = |path: &'static str, body: serde_json::Value| {
        let app = &app;
        async move { admin(app, Method::PUT, path, key, Some(body)).await }
    };
    // Concert 1 exists and has no room: every route but PUT is 404 ROOM_NOT_FOUND.
    for (method, path, body) in routes().into_iter().skip(1).take(4) {
        let answer = admin(&app, method, path, key, body).await;
        assert_error(answer, 404, "ROOM_NOT_FOUND", ROOM_NOT_FOUND);
    }
    let unknown = put("/admin/concerts/999/room", json!({"opensAt": at(60)})).await;
    assert_error(unknown, 404, "CONCERT_NOT_FOUND", msg::CONCERT_NOT_FOUND);
    let unknown = admin(&app, Method::GET, "/admin/concerts/999/room", key, None).await;
    assert_error_code(unknown, 404, "CONCERT_NOT_FOUND");
    for bad in ["0", "x", "-1"] {
        let path = format!("/admin/concerts/{bad}/room/pause");
        let answer = admin(&app, Method::POST, &path, key, None).await;
        assert_error_code(answer, 400, "INVALID_PATH_ID");
    }
    for body in [
        json!({"opensAt": "soon"}),
        json!({"opensAt": "2030-01-01"}),
        json!({"opensAt": 1_900_000_000}),
        json!({"opensAt": at(60), "preQueueOpensAt": at(61)}),
        json!({"opensAt": at(60), "maxActive": 0}),
        json!({"opensAt": at(60), "maxActive": -3}),
        json!({"opensAt": at(60), "admissionRate": 0}),
        json!({"opensAt": at(60), "admissionRate": "10"}),
    ] {
        let answer = put("/admin/concerts/1/room", body.clone()).await;
        assert_error_code(answer, 400, "INVALID_FIELD");
    }
    let missing = put("/admin/concerts/1/room", json!({"maxActive": 5})).await;
    assert_error_code(missing, 400, "MISSING_FIELD");
    let malformed = admin(&app, Method::PUT, "/admin/concerts/1/room", key, None).await;
    assert_error_code(malformed, 400, "MALFORMED_JSON");
    // None of those made a room.
    let still_none = admin(&app, Method::GET, "/admin/concerts/1/room", key, None).await;
    assert_error(still_none, 404, "ROOM_NOT_FOUND", ROOM_NOT_FOUND);
    // The site-wide room is never scheduled, and a re-rate must change something.
    let site_put = put("/admin/room", json!({"opensAt": at(60)})).await;
    assert_error_code(site_put, 405, "METHOD_NOT_ALLOWED");
    for body in [
        json!({}),
        json!({"maxActive": 0}),
        json!({"maxactive": 5}),
        json!({"maxActive": null}),
    ] {
        let answer = admin(&app, Method::PATCH, "/admin/room", key, Some(body.clone())).await;
        assert_eq!(answer.status.as_u16(), 400, "{body}");
    }
    assert_eq!(status(&app, Room::Site).await.max_active, 100, "unchanged");
    app.stop().await;
}

async fn a_room_is_rescheduled_until_it_opens_then_409(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, _) = concert_with_session(&app, "Two").await;
    let first = RoomSchedule {
        pre_queue_opens_at: Some(at(1_800)),
        opens_at: at(3_600),
        max_active: Some(5),
        admission_rate: Some(2),
    };
    let scheduled = schedule(&app, two, first.clone()).await;
    assert_eq!(
        (
            scheduled.room.as_str(),
            scheduled.concert_id,
            scheduled.state.as_str()
        ),
        (format!("concert-{two}").as_str(), Some(two), "scheduled")
    );
    assert_eq!(scheduled.pre_queue_opens_at, first.pre_queue_opens_at);
    assert_eq!(scheduled.opens_at, Some(first.opens_at));
    assert_eq!(
        (scheduled.max_active, scheduled.admission_rate),
        (5, Some(2))
    );
    // Again, later, with the pre-queue open at once and the server's limits.
    let later = RoomSchedule {
        opens_at: at(7_200),
        ..RoomSchedule::default()
    };
    let moved = schedule(&app, two, later.clone()).await;
    assert_eq!(
        (moved.state.as_str(), moved.opens_at.clone()),
        ("prequeue", Some(later.opens_at))
    );
    assert_eq!((moved.max_active, moved.admission_rate), (100, None));
    assert_eq!(status(&app, Room::Concert(two)).await, moved);
    // Once it has drawn, its schedule is fixed.
    let opened = open_room(&app, two, 5).await;
    assert_eq!(opened.state, "open");
    let again = app
        .api
        .schedule_room(
            ADMIN_KEY,
            two,
            &RoomSchedule {
                opens_at: at(60),
                ..RoomSchedule::default()
            },
        )
        .await;
    assert_error(again, 409, "ROOM_ALREADY_OPEN", ROOM_ALREADY_OPEN);
    assert_eq!(
        status(&app, Room::Concert(two)).await.opens_at,
        opened.opens_at
    );
    app.stop().await;
}

async fn pause_resume_and_rerate_show_in_the_status_and_in_admissions(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, _) = concert_with_session(&app, "Two").await;
    let room = Room::Concert(two);
    open_room(&app, two, 1).await;
    admitted_in(&app, two, "Ann").await;
    let ben = app.api.join_room(two, "Ben").await.unwrap();
    assert_eq!(ben.waiting_number, Some(1));

    let paused = app.api.pause_room(ADMIN_KEY, room).await.unwrap();
    assert_eq!(paused.state, "paused");
    // A raise while paused is kept but admits nobody; the line still takes joins.
    let raised = Rerate {
        max_active: Some(3),
        admission_rate: None,
    };
    let raised = app.api.rerate_room(ADMIN_KEY, room, &raised).await.unwrap();
    assert_eq!((raised.state.as_str(), raised.max_active), ("paused", 3));
    let cy = app.api.join_room(two, "Cy").await.unwrap();
    assert_eq!(cy.waiting_number, Some(2));
    assert!(!app.poll(&ben.token).await.is_processing, "paused");
    let now = status(&app, room).await;
    assert_eq!(
        (
            now.state.as_str(),
            now.max_active,
            now.waiting,
            now.admitted
        ),
        ("paused", 3, 2, 1)
    );

    let resumed = app.api.resume_room(ADMIN_KEY, room).await.unwrap();
    assert_eq!(resumed.state, "open");
    // Resuming admits at once as many as fit: Ben and Cy.
    eventually(Duration::from_secs(10), || async {
        let now = status(&app, room).await;
        (now.admitted, now.waiting) == (3, 0)
    })
    .await;
    assert!(app.poll(&cy.token).await.is_processing);
    let counted = status(&app, room).await;
    assert_eq!(counted.admitted_total, 3);
    assert!(counted.admissions_per_second > 0.0, "{counted:?}");

    // The admission rate: set, then unlimited (null).
    let rated = Rerate {
        max_active: None,
        admission_rate: Some(Some(4)),
    };
    let rated = app.api.rerate_room(ADMIN_KEY, room, &rated).await.unwrap();
    assert_eq!((rated.max_active, rated.admission_rate), (3, Some(4)));
    let raw = admin(
        &app,
        Method::PATCH,
        &format!("/admin/concerts/{two}/room"),
        Some(ADMIN_KEY),
        Some(json!({"admissionRate": null})),
    )
    .await;
    assert_eq!(json_ok(raw)["admissionRate"], serde_json::Value::Null);
    assert_eq!(status(&app, room).await.admission_rate, None);
    app.stop().await;
}

async fn the_site_room_is_paused_and_rerated_like_a_concerts(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let site = status(&app, Room::Site).await;
    assert_eq!(
        (site.room.as_str(), site.concert_id, site.state.as_str()),
        ("site", None, "open")
    );
    assert_eq!(
        (site.opens_at, site.pre_queue_opens_at, site.max_active),
        (None, None, 1)
    );
    app.admitted("Ann").await;
    let paused = app.api.pause_room(ADMIN_KEY, Room::Site).await.unwrap();
    assert_eq!(paused.state, "paused");
    let raised = Rerate {
        max_active: Some(2),
        admission_rate: None,
    };
    app.api
        .rerate_room(ADMIN_KEY, Room::Site, &raised)
        .await
        .unwrap();
    let ben = app.join("Ben").await;
    assert_eq!(
        ben.waiting_number,
        Some(1),
        "paused: Ben waits though a place is free"
    );
    app.api.resume_room(ADMIN_KEY, Room::Site).await.unwrap();
    eventually(Duration::from_secs(10), || async {
        app.poll(&ben.token).await.is_processing
    })
    .await;
    let after = status(&app, Room::Site).await;
    assert_eq!(
        (after.state.as_str(), after.admitted, after.max_active),
        ("open", 2, 2)
    );
    app.stop().await;
}
