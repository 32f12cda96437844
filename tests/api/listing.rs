//! `GET /concert/list`: the public concert list the visitor's page starts from. Titles
//! by id, no token, a bounded page with a cursor, and each concert's own room (its state
//! and opening) when it has one.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::{ConcertListItem, ConcertRoom, NewSession, RoomSchedule};
use futures::StreamExt;

use crate::helpers::{ADMIN_KEY, TestApp, assert_error, json_ok, spawn_app};
use crate::rooms::{at, concert_with_session, open_room, schedule};

backend_tests! {
    the_list_shows_titles_by_id_to_anyone,
    the_list_shows_each_concert_room_and_when_it_opens,
    the_list_is_bounded_and_pages_by_cursor,
    a_bad_cursor_or_limit_is_400,
}

const INVALID_QUERY: &str = "쿼리 문자열이 올바르지 않습니다.";

async fn list(app: &TestApp, after: Option<i64>, limit: Option<u32>) -> Vec<ConcertListItem> {
    app.api.concerts(after, limit).await.expect("a page").0
}

fn ids(page: &[ConcertListItem]) -> Vec<i64> {
    page.iter().map(|item| item.concert_id).collect()
}

async fn the_list_shows_titles_by_id_to_anyone(db: TestDb) {
    let app = spawn_app(&db).await;
    concert_with_session(&app, "IU 2024 콘서트").await;
    app.api
        .create_concert(ADMIN_KEY, "No dates yet")
        .await
        .unwrap();
    // A plain GET: no Authorization, no admin key.
    let body = json_ok(app.get("/concert/list").await);
    assert_eq!(
        body,
        serde_json::json!([
            {"concertId": 1, "title": "Demo concert", "sessionCount": 6, "room": null},
            {"concertId": 2, "title": "IU 2024 콘서트", "sessionCount": 1, "room": null},
            {"concertId": 3, "title": "No dates yet", "sessionCount": 0, "room": null},
        ])
    );
    // A session added later counts at once (the list reads the in-memory catalog).
    let session = NewSession {
        date: "2024-10-01".into(),
        seat_count: 5,
        price: 0,
    };
    app.api
        .create_session(ADMIN_KEY, 3, &session)
        .await
        .unwrap();
    assert_eq!(list(&app, None, None).await[2].session_count, 1);
    app.stop().await;
}

async fn the_list_shows_each_concert_room_and_when_it_opens(db: TestDb) {
    let app = spawn_app(&db).await;
    let (later, _) = concert_with_session(&app, "Later").await;
    let (drawing, _) = concert_with_session(&app, "Pre-queue").await;
    let (open, _) = concert_with_session(&app, "Open").await;
    let opens_at = at(3600);
    let body = RoomSchedule {
        pre_queue_opens_at: Some(at(1800)),
        opens_at: opens_at.clone(),
        ..RoomSchedule::default()
    };
    schedule(&app, later, body).await;
    let body = RoomSchedule {
        opens_at: opens_at.clone(),
        ..RoomSchedule::default()
    };
    schedule(&app, drawing, body).await;
    let opened = open_room(&app, open, 5).await;

    let page = list(&app, None, None).await;
    let room = |id: i64| {
        page.iter()
            .find(|x| x.concert_id == id)
            .unwrap()
            .room
            .clone()
    };
    assert_eq!(room(1), None, "the demo concert has no room of its own");
    let expect = |state: &str, opens_at: &str| {
        Some(ConcertRoom {
            state: state.into(),
            opens_at: Some(opens_at.into()),
        })
    };
    assert_eq!(room(later), expect("scheduled", &opens_at));
    assert_eq!(room(drawing), expect("prequeue", &opens_at));
    assert_eq!(
        room(open),
        expect("open", opened.opens_at.as_deref().unwrap())
    );
    app.api
        .pause_room(ADMIN_KEY, concert_client::Room::Concert(open))
        .await
        .unwrap();
    assert_eq!(
        list(&app, Some(open - 1), Some(1)).await[0]
            .room
            .as_ref()
            .unwrap()
            .state,
        "paused"
    );
    app.stop().await;
}

async fn the_list_is_bounded_and_pages_by_cursor(db: TestDb) {
    let app = spawn_app(&db).await;
    // 501 more after the demo's: 502 in all, more than one page of 500.
    let created: Vec<i64> = futures::stream::iter(0..501)
        .map(|n| {
            let api = app.api.clone();
            async move {
                let title = format!("Concert {n:03}");
                api.create_concert(ADMIN_KEY, &title)
                    .await
                    .unwrap()
                    .concert_id
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(created.len(), 501);

    let first = list(&app, None, None).await;
    assert_eq!(
        ids(&first),
        (1..=500).collect::<Vec<_>>(),
        "500 at most, by id"
    );
    let second = list(&app, Some(500), None).await;
    assert_eq!(ids(&second), vec![501, 502], "the rest, after the cursor");
    assert!(list(&app, Some(502), None).await.is_empty());
    assert_eq!(ids(&list(&app, Some(1), Some(2)).await), vec![2, 3]);
    assert_eq!(
        ids(&list(&app, Some(0), Some(1)).await),
        vec![1],
        "0: from the start"
    );
    assert_eq!(
        ids(&list(&app, Some(499), Some(500)).await),
        vec![500, 501, 502]
    );
    // A cursor past any id, or between ids that exist, still answers in order.
    assert!(list(&app, Some(i64::MAX), None).await.is_empty());
    app.stop().await;
}

async fn a_bad_cursor_or_limit_is_400(db: TestDb) {
    let app = spawn_app(&db).await;
    for query in [
        "after=-1",
        "after=abc",
        "after=",
        "after=%2B1",
        "after=9223372036854775808",
        "limit=0",
        "limit=501",
        "limit=-5",
        "limit=1.5",
    ] {
        let path = format!("/concert/list?{query}");
        assert_error(app.get(&path).await, 400, "INVALID_QUERY", INVALID_QUERY);
    }
    app.stop().await;
}
