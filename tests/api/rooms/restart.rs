//! What the operator set, and where each visitor stands, across a restart on the same
//! database: a paused room stays paused, a re-rate stays, the pre-queue stays a
//! pre-queue, and a room token still acts on its concert only.

use std::time::Duration;

use actors::backend_tests;
use actors::testkit::{self, TestDb};
use concert_client::{Rerate, Room, RoomSchedule};

use super::isolation::WRONG_ROOM;
use super::{admitted_in, at, concert_with_session, open_room, schedule, status};
use crate::helpers::{ADMIN_KEY, AppOptions, assert_error, eventually, spawn_app_with};

fn options() -> AppOptions {
    let mut options = AppOptions::default();
    options.engine.max_active = 1;
    options
}

backend_tests! {
    rooms_keep_their_controls_lines_and_reach_across_a_restart,
}

async fn rooms_keep_their_controls_lines_and_reach_across_a_restart(db: TestDb) {
    let app = spawn_app_with(db.store.clone(), &db.url, options()).await;
    let (two, two_session) = concert_with_session(&app, "Two").await;
    let (three, _) = concert_with_session(&app, "Three").await;
    let (four, _) = concert_with_session(&app, "Four").await;
    // Concert 2: open, Ann admitted, Ben waiting; paused and raised to 2 (Ben still waits).
    open_room(&app, two, 1).await;
    let ann = admitted_in(&app, two, "Ann").await;
    let ben = app.api.join_room(two, "Ben").await.unwrap().token;
    app.api
        .pause_room(ADMIN_KEY, Room::Concert(two))
        .await
        .unwrap();
    let raise = Rerate {
        max_active: Some(2),
        admission_rate: Some(Some(7)),
    };
    app.api
        .rerate_room(ADMIN_KEY, Room::Concert(two), &raise)
        .await
        .unwrap();
    // Concert 3: in its pre-queue; concert 4: scheduled, pre-queue not open yet.
    let three_opens = at(3_600);
    schedule(
        &app,
        three,
        RoomSchedule {
            opens_at: three_opens.clone(),
            ..RoomSchedule::default()
        },
    )
    .await;
    let cy = app.api.join_room(three, "Cy").await.unwrap().token;
    let four_schedule = RoomSchedule {
        pre_queue_opens_at: Some(at(3_600)),
        opens_at: at(7_200),
        ..RoomSchedule::default()
    };
    schedule(&app, four, four_schedule.clone()).await;
    // The site room, paused too.
    app.api.pause_room(ADMIN_KEY, Room::Site).await.unwrap();
    let before = [
        status(&app, Room::Site).await,
        status(&app, Room::Concert(two)).await,
        status(&app, Room::Concert(three)).await,
        status(&app, Room::Concert(four)).await,
    ];
    app.stop().await;

    let app = spawn_app_with(testkit::reopen(&db).await, &db.url, options()).await;
    let after = [
        status(&app, Room::Site).await,
        status(&app, Room::Concert(two)).await,
        status(&app, Room::Concert(three)).await,
        status(&app, Room::Concert(four)).await,
    ];
    for (before, after) in before.iter().zip(&after) {
        // Everything but the in-memory rate of the last ten seconds.
        assert_eq!(
            (
                &before.state,
                before.waiting,
                before.admitted,
                before.admitted_total,
                before.evicted_total
            ),
            (
                &after.state,
                after.waiting,
                after.admitted,
                after.admitted_total,
                after.evicted_total
            ),
            "{}",
            before.room
        );
        assert_eq!(
            (
                &before.pre_queue_opens_at,
                &before.opens_at,
                before.max_active,
                before.admission_rate
            ),
            (
                &after.pre_queue_opens_at,
                &after.opens_at,
                after.max_active,
                after.admission_rate
            ),
            "{}",
            before.room
        );
    }
    assert_eq!(
        after.iter().map(|s| s.state.as_str()).collect::<Vec<_>>(),
        ["paused", "paused", "prequeue", "scheduled"]
    );
    assert_eq!(
        (
            after[1].max_active,
            after[1].admission_rate,
            after[1].admitted_total
        ),
        (2, Some(7), 1)
    );
    // Ben still waits, first in line; Cy is still in the pre-queue; concert 4 still refuses.
    let ben_now = app.api.poll_room(two, &ben).await.unwrap();
    assert_eq!(
        (ben_now.token.as_str(), ben_now.waiting_number),
        (ben.as_str(), Some(1))
    );
    let cy_now = app.poll(&cy).await;
    assert_eq!(
        (cy_now.waiting_number, cy_now.opens_at),
        (None, Some(three_opens))
    );
    let refused = app.api.join_room(four, "Dee").await.unwrap_err();
    assert_eq!(
        refused.api().unwrap().opens_at,
        Some(four_schedule.opens_at)
    );
    // Ann's admission still reaches concert 2 only.
    app.hold_ok(&ann, two_session, 1).await;
    assert_error(
        app.api.hold(&ann, 1, 1).await,
        403,
        "WRONG_ROOM",
        WRONG_ROOM,
    );
    // Resumed, the kept raise admits Ben at once.
    app.api
        .resume_room(ADMIN_KEY, Room::Concert(two))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        app.api.poll_room(two, &ben).await.unwrap().is_processing
    })
    .await;
    assert_eq!(status(&app, Room::Concert(two)).await.admitted_total, 2);
    app.stop().await;
}
