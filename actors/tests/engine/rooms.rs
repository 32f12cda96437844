//! Rooms through the façade: a concert's room admits to that concert only, the
//! site-wide room to concerts without a room, a poll names its room, and concert
//! rooms are supervised and restored like every other actor.

use actors::backend_tests;
use actors::domain::{ConcertId, RoomId};
use actors::engine::{FaultTarget, RoomSchedule, RoomState};
use actors::store::SessionRow;
use actors::testkit::{TestDb, user};
use actors::{Caller, CallerStatus, Engine, EngineError};
use chrono::{Duration as Days, Utc};

use crate::common::*;

backend_tests! {
    a_concert_room_admits_to_its_concert_only,
    a_poll_names_an_existing_room,
    a_token_of_another_room_joins_the_named_room_as_its_user,
    a_user_has_one_live_token_per_room,
    a_payment_ends_the_admission_in_the_room_that_admitted_it,
    concert_rooms_are_restored_after_a_restart,
    a_failed_concert_room_is_restarted,
}

/// Opens `concert`'s room now: no pre-queue, admissions at once.
async fn open_room(engine: &Engine, concert: ConcertId, max_active: u32) {
    let schedule = RoomSchedule {
        pre_queue_opens_at: None,
        opens_at: Utc::now() - Days::seconds(1),
        max_active: Some(max_active),
        admission_rate: None,
    };
    let status = engine
        .schedule_room(concert, schedule)
        .await
        .expect("the room opens");
    assert_eq!(status.room, RoomId::Concert(concert));
}

/// `name`'s caller in `concert`'s room.
async fn join_room(engine: &Engine, concert: ConcertId, name: &str) -> Caller {
    let named = user(name);
    let ticket = engine
        .queue_in(Some(concert), None, move || {
            Ok::<_, EngineError>(Some(named))
        })
        .await
        .expect("a token of the concert's room");
    engine
        .identify(Some(&ticket.token.to_string()))
        .await
        .expect("the token is known")
}

/// Two concerts of one session each: the first gets a room, the second none.
async fn two_concerts(db: &TestDb) -> (SessionRow, SessionRow) {
    (session(db, 10).await, session(db, 10).await)
}

async fn a_concert_room_admits_to_its_concert_only(db: TestDb) {
    let (with_room, without) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 10).await;
    let in_room = join_room(&app.engine, with_room.concert_id, "fan").await;
    assert_eq!(in_room.room, RoomId::Concert(with_room.concert_id));
    assert_eq!(in_room.status, CallerStatus::Admitted);
    let site = admitted(&app.engine, "other").await;
    assert_eq!(site.room, RoomId::Site);

    hold_as(&app.engine, &in_room, with_room.id, 1)
        .await
        .expect("the room's token holds on its concert");
    assert_eq!(
        hold_as(&app.engine, &in_room, without.id, 1).await,
        Err(EngineError::WrongRoom),
        "a concert room's token on a concert without a room"
    );
    assert_eq!(
        hold_as(&app.engine, &site, with_room.id, 2).await,
        Err(EngineError::WrongRoom),
        "a site token on a concert with a room of its own"
    );
    hold_as(&app.engine, &site, without.id, 2)
        .await
        .expect("a site token holds on a concert without a room");
}

async fn a_poll_names_an_existing_room(db: TestDb) {
    let (with_room, without) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 10).await;
    let poll = |concert| {
        app.engine
            .queue_in(Some(concert), None, || Ok::<_, EngineError>(None))
    };
    assert_eq!(
        poll(without.concert_id).await.map(|t| t.token),
        Err(EngineError::RoomNotFound)
    );
    assert_eq!(
        poll(ConcertId(9_999)).await.map(|t| t.token),
        Err(EngineError::ConcertNotFound)
    );
    assert_eq!(
        app.engine
            .room_status(RoomId::Concert(without.concert_id))
            .await
            .map(|s| s.room),
        Err(EngineError::RoomNotFound)
    );
}

async fn a_token_of_another_room_joins_the_named_room_as_its_user(db: TestDb) {
    let (with_room, _) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 10).await;
    let site = join(&app.engine, "fan").await;
    let site_token = site.token.to_string();

    let moved = app
        .engine
        .queue_in(Some(with_room.concert_id), Some(&site_token), || {
            Ok::<_, EngineError>(None)
        })
        .await
        .expect("the user joins the concert's room");
    assert_ne!(moved.token, site.token, "a token of the named room");
    assert_eq!(moved.user_id, site.user_id, "for the old token's user");
    let polled = app
        .engine
        .queue(Some(&site_token), None)
        .await
        .expect("the site token is still live");
    assert_eq!(
        polled.token, site.token,
        "without a room named, the token's own"
    );
}

async fn a_user_has_one_live_token_per_room(db: TestDb) {
    let (with_room, _) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 10).await;
    let first = join_room(&app.engine, with_room.concert_id, "fan").await;
    let again = join_room(&app.engine, with_room.concert_id, "fan").await;
    assert_eq!(first.token, again.token, "one live token in the room");
    let site = join(&app.engine, "fan").await;
    assert_ne!(site.token, first.token, "and one in the site-wide room");
}

async fn a_payment_ends_the_admission_in_the_room_that_admitted_it(db: TestDb) {
    let (with_room, _) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 1).await;
    let first = join_room(&app.engine, with_room.concert_id, "first").await;
    let second = join_room(&app.engine, with_room.concert_id, "second").await;
    assert_eq!(
        second.status,
        CallerStatus::Waiting,
        "one admission at a time"
    );

    let hold = hold_as(&app.engine, &first, with_room.id, 1).await.unwrap();
    charge_to(&app.engine, &first, actors::domain::ChargeAmount(10_000))
        .await
        .unwrap();
    pay_as(&app.engine, &first, hold.reservation_id, None)
        .await
        .expect("the payment");
    assert_eq!(
        reidentify(&app.engine, &first).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        reidentify(&app.engine, &second).await.status,
        CallerStatus::Admitted,
        "the room's next in line took the place"
    );
}

async fn concert_rooms_are_restored_after_a_restart(db: TestDb) {
    let (with_room, _) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 3).await;
    let fan = join_room(&app.engine, with_room.concert_id, "fan").await;
    app.engine
        .pause_room(RoomId::Concert(with_room.concert_id))
        .await
        .unwrap();
    app.engine.shutdown().await;

    let app = start(&db, config()).await;
    let status = app
        .engine
        .room_status(RoomId::Concert(with_room.concert_id))
        .await
        .expect("the room is back");
    assert_eq!((status.state, status.max_active), (RoomState::Paused, 3));
    let again = reidentify(&app.engine, &fan).await;
    assert_eq!(again.room, RoomId::Concert(with_room.concert_id));
    assert_eq!(again.status, CallerStatus::Admitted);
}

async fn a_failed_concert_room_is_restarted(db: TestDb) {
    let (with_room, _) = two_concerts(&db).await;
    let app = start(&db, config()).await;
    open_room(&app.engine, with_room.concert_id, 10).await;
    let room = RoomId::Concert(with_room.concert_id);
    let fan = join_room(&app.engine, with_room.concert_id, "fan").await;
    assert_eq!(
        app.engine
            .inject_fault(FaultTarget::WaitingRoom(room))
            .await,
        Err(EngineError::ActorFailed)
    );
    let status = eventually("the room's restart", || async {
        app.engine.room_status(room).await.ok()
    })
    .await;
    assert_eq!(status.admitted, 1);
    assert_eq!(
        reidentify(&app.engine, &fan).await.status,
        CallerStatus::Admitted
    );
}
