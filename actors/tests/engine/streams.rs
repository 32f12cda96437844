//! The push side: queue streams (a token's place, pushed as it moves) and seat
//! streams (a session's seat map, pushed per change), under tokio's paused clock, so
//! "at once" means "before the clock moved" and every delay is exact.

use std::time::Duration;

use actors::backend_tests;
use actors::domain::ConcertId;
use actors::engine::{QueueEvent, QueueWatch, RoomSchedule, SeatChange, SeatEvent, Ticket};
use actors::testkit::{TestDb, user};
use actors::{Caller, CallerStatus, Engine, EngineConfig, EngineError};
use tokio::time::Instant;

use crate::common::*;

backend_tests! {
    #[paused] the_first_event_is_the_polls_ticket_at_once,
    #[paused] a_position_moves_after_an_admission_ahead_at_most_once_a_second,
    #[paused] the_admission_is_said_at_once_and_is_the_last_event,
    #[paused] a_token_evicted_while_unread_gets_expired_last,
    #[paused] an_open_stream_keeps_its_token_in_line_until_it_closes,
    #[paused] a_quiet_stream_sends_keep_alives,
    #[paused] a_pre_queue_token_hears_no_place_then_its_drawn_place,
    #[paused] streams_past_the_cap_are_refused_until_one_closes,
    #[paused] a_stream_of_an_unknown_or_ended_token_is_refused,
    #[paused] the_seat_stream_sends_the_list_then_each_change,
    a_seat_stream_that_falls_behind_ends,
}

const TTL: Duration = Duration::from_secs(30);

/// `max_active` places, admissions that last [`TTL`], patient waiters.
fn places(max_active: usize) -> EngineConfig {
    EngineConfig {
        max_active,
        active_ttl: TTL,
        waiting_idle: Duration::from_secs(600),
        admitted_idle: Duration::from_secs(600),
        ..config()
    }
}

/// [`places`] where only the test ends admissions (an hour's TTL), and waiters
/// unpolled for `waiting_idle` are evicted.
fn held_places(max_active: usize, waiting_idle: Duration) -> EngineConfig {
    EngineConfig {
        active_ttl: Duration::from_secs(3600),
        waiting_idle,
        ..places(max_active)
    }
}

async fn stream_of(engine: &Engine, caller: &Caller) -> QueueWatch {
    engine
        .queue_stream(Some(&caller.token.to_string()))
        .await
        .expect("a live token's stream opens")
}

/// The next event other than a keep-alive, which must be a ticket.
async fn ticket(watch: &mut QueueWatch) -> Ticket {
    loop {
        match watch.next().await {
            Some(QueueEvent::Ticket(ticket)) => return ticket,
            Some(QueueEvent::KeepAlive) => {}
            other => panic!("expected a ticket, got {other:?}"),
        }
    }
}

async fn the_first_event_is_the_polls_ticket_at_once(db: TestDb) {
    let app = start(&db, places(1)).await;
    let _first = admitted(&app.engine, "first").await;
    let second = join(&app.engine, "second").await;
    let mut watch = stream_of(&app.engine, &second).await;
    let opened_at = Instant::now();
    let first_event = ticket(&mut watch).await;
    assert_eq!(Instant::now(), opened_at, "sent before the clock moved");
    let polled = app
        .engine
        .queue(Some(&second.token.to_string()), None)
        .await
        .unwrap();
    assert_eq!(first_event, polled, "exactly what a poll answers");
    assert_eq!(first_event.position, Some(1));
}

async fn a_position_moves_after_an_admission_ahead_at_most_once_a_second(db: TestDb) {
    let app = start(&db, places(2)).await;
    let start = Instant::now();
    admitted(&app.engine, "a1").await;
    tokio::time::advance(Duration::from_millis(200)).await;
    admitted(&app.engine, "a2").await;
    join(&app.engine, "w1").await;
    join(&app.engine, "w2").await;
    let w3 = join(&app.engine, "w3").await;
    let mut watch = stream_of(&app.engine, &w3).await;
    assert_eq!(ticket(&mut watch).await.position, Some(3));

    // a1's admission ends at TTL: w1 is admitted, w3 moves up at once.
    let moved = ticket(&mut watch).await;
    assert_eq!(moved.position, Some(2));
    assert_eq!(
        Instant::now() - start,
        TTL,
        "as soon as the admission ahead"
    );
    // a2's ends 200 ms later: w3's next place waits for its second.
    let again = ticket(&mut watch).await;
    assert_eq!(again.position, Some(1));
    assert_eq!(
        Instant::now() - start,
        TTL + Duration::from_secs(1),
        "one position event a second at most"
    );
}

async fn the_admission_is_said_at_once_and_is_the_last_event(db: TestDb) {
    let app = start(&db, places(1)).await;
    let start = Instant::now();
    admitted(&app.engine, "ahead").await;
    let next = join(&app.engine, "next").await;
    // The admission ahead ends 300 ms after the stream's first event: the admission
    // is not held back to the position events' second.
    tokio::time::advance(TTL - Duration::from_millis(300)).await;
    let mut watch = stream_of(&app.engine, &next).await;
    assert_eq!(ticket(&mut watch).await.position, Some(1));
    let admission = ticket(&mut watch).await;
    assert!(admission.admitted);
    assert_eq!(admission.position, Some(0));
    assert_eq!(Instant::now() - start, TTL, "at once");
    assert_eq!(
        watch.next().await,
        None,
        "the stream ends after the admission"
    );
}

async fn a_token_evicted_while_unread_gets_expired_last(db: TestDb) {
    let idle = Duration::from_secs(20);
    let app = start(&db, held_places(1, idle)).await;
    admitted(&app.engine, "ahead").await;
    let waiter = join(&app.engine, "waiter").await;
    let mut watch = stream_of(&app.engine, &waiter).await;
    ticket(&mut watch).await;
    // Nobody reads the stream (as when its sends are stuck on a slow client): the
    // token is not looked at, and is evicted as idle.
    tokio::time::advance(idle * 2).await;
    settle().await;
    app.engine.queue_counts().await.unwrap();
    assert_eq!(
        reidentify(&app.engine, &waiter).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        watch.next().await,
        Some(QueueEvent::Expired(EngineError::TokenExpired))
    );
    assert_eq!(watch.next().await, None, "expired is the last event");
}

async fn an_open_stream_keeps_its_token_in_line_until_it_closes(db: TestDb) {
    let idle = Duration::from_secs(20);
    let app = start(&db, held_places(1, idle)).await;
    admitted(&app.engine, "ahead").await;
    let waiter = join(&app.engine, "waiter").await;
    let mut watch = stream_of(&app.engine, &waiter).await;
    // A connected client: its stream is read all along. The waiter makes no request.
    let reading = tokio::spawn(async move { while watch.next().await.is_some() {} });
    tokio::time::sleep(idle * 5).await;
    assert_eq!(
        reidentify(&app.engine, &waiter).await.status,
        CallerStatus::Waiting,
        "five idle times later, still in line"
    );
    reading.abort();
    let _ = reading.await;
    tokio::time::sleep(idle * 2).await;
    assert_eq!(
        reidentify(&app.engine, &waiter).await.status,
        CallerStatus::Expired,
        "evicted once its stream closed"
    );
}

async fn a_quiet_stream_sends_keep_alives(db: TestDb) {
    let app = start(&db, places(1)).await;
    admitted(&app.engine, "ahead").await;
    let waiter = join(&app.engine, "waiter").await;
    let mut watch = stream_of(&app.engine, &waiter).await;
    ticket(&mut watch).await;
    let opened_at = Instant::now();
    assert_eq!(watch.next().await, Some(QueueEvent::KeepAlive));
    let keep_alive = app.engine.config().stream_keep_alive;
    assert_eq!(Instant::now() - opened_at, keep_alive);
    assert_eq!(watch.next().await, Some(QueueEvent::KeepAlive));
    assert_eq!(Instant::now() - opened_at, keep_alive * 2);
}

async fn a_pre_queue_token_hears_no_place_then_its_drawn_place(db: TestDb) {
    let concert = session(&db, 10).await.concert_id;
    let app = start(&db, places(10)).await;
    let opens_in = Duration::from_secs(60);
    let schedule = RoomSchedule {
        pre_queue_opens_at: Some(app.clock.now_utc() - chrono::Duration::seconds(1)),
        opens_at: app.clock.now_utc() + chrono::Duration::from_std(opens_in).unwrap(),
        max_active: Some(1),
        admission_rate: None,
    };
    app.engine.schedule_room(concert, schedule).await.unwrap();
    let mut watches = Vec::new();
    for name in ["p1", "p2", "p3"] {
        let token = join_room(&app.engine, concert, name).await;
        watches.push(app.engine.queue_stream(Some(&token)).await.unwrap());
    }
    let start = Instant::now();
    let mut places = Vec::new();
    for watch in &mut watches {
        let first = ticket(watch).await;
        assert_eq!(first.position, None, "no place in the pre-queue");
        assert!(first.opens_at.is_some());
    }
    for watch in &mut watches {
        let drawn = ticket(watch).await;
        assert_eq!(drawn.opens_at, None);
        places.push(drawn.position.expect("a drawn place"));
    }
    assert!(
        Instant::now() - start <= opens_in + Duration::from_secs(1),
        "{:?}",
        Instant::now() - start
    );
    // The first drawn is admitted right after the draw (one place): a stream read
    // before that hears place 1, one read after it the admission (0), the others
    // their places behind.
    assert!(places.iter().all(|&place| place <= 3), "{places:?}");
}

async fn join_room(engine: &Engine, concert: ConcertId, name: &str) -> String {
    let named = user(name);
    let ticket = engine
        .queue_in(Some(concert), None, move || {
            Ok::<_, EngineError>(Some(named))
        })
        .await
        .expect("a token of the concert's room");
    ticket.token.to_string()
}

async fn streams_past_the_cap_are_refused_until_one_closes(db: TestDb) {
    let config = EngineConfig {
        max_streams: 2,
        ..places(1)
    };
    let row = session(&db, 10).await;
    let app = start(&db, config).await;
    admitted(&app.engine, "ahead").await;
    let waiter = join(&app.engine, "waiter").await;
    let queue = stream_of(&app.engine, &waiter).await;
    let seats = app.engine.seat_stream(row.id).await.unwrap();
    assert_eq!(app.engine.open_streams().get(), 2, "both kinds count");
    let refused = app.engine.seat_stream(row.id).await.err();
    assert_eq!(refused, Some(EngineError::Overloaded));
    let refused = app
        .engine
        .queue_stream(Some(&waiter.token.to_string()))
        .await
        .err();
    assert_eq!(refused, Some(EngineError::Overloaded));
    drop(queue);
    assert_eq!(app.engine.open_streams().get(), 1);
    let _again = stream_of(&app.engine, &waiter).await;
    drop(seats);
    assert_eq!(app.engine.open_streams().get(), 1);
}

async fn a_stream_of_an_unknown_or_ended_token_is_refused(db: TestDb) {
    let app = start(&db, places(1)).await;
    let refused = |token: Option<String>| {
        let engine = app.engine.clone();
        async move { engine.queue_stream(token.as_deref()).await.err() }
    };
    assert_eq!(refused(None).await, Some(EngineError::InvalidToken));
    assert_eq!(
        refused(Some("nope".into())).await,
        Some(EngineError::InvalidToken)
    );
    let unknown = "0b9f0c3e-5c1a-4a53-9a55-2f2f5a0a6c11".to_owned();
    assert_eq!(
        refused(Some(unknown)).await,
        Some(EngineError::InvalidToken)
    );
    let admitted = admitted(&app.engine, "ahead").await;
    tokio::time::advance(TTL + Duration::from_secs(1)).await;
    settle().await;
    app.engine.queue_counts().await.unwrap();
    assert_eq!(
        refused(Some(admitted.token.to_string())).await,
        Some(EngineError::TokenExpired)
    );
    assert_eq!(app.engine.open_streams().get(), 0, "no slot kept");
}

async fn the_seat_stream_sends_the_list_then_each_change(db: TestDb) {
    let row = session(&db, 5).await;
    let app = start(&db, places(2)).await;
    let holder = admitted(&app.engine, "holder").await;
    hold_as(&app.engine, &holder, row.id, 2).await.unwrap();
    let mut watch = app.engine.seat_stream(row.id).await.unwrap();
    let opened_at = Instant::now();
    match watch.next().await {
        Some(SeatEvent::Seats(view)) => {
            assert_eq!(view.taken, [false, true, false, false, false]);
        }
        other => panic!("expected the seat list, got {other:?}"),
    }
    assert_eq!(Instant::now(), opened_at, "at once");
    let other = admitted(&app.engine, "other").await;
    let held = hold_as(&app.engine, &other, row.id, 4).await.unwrap();
    assert_eq!(watch.next().await, Some(change(4, true)));
    release_as(&app.engine, &other, held.reservation_id)
        .await
        .unwrap();
    assert_eq!(watch.next().await, Some(change(4, false)));
    let quiet_at = Instant::now();
    assert_eq!(watch.next().await, Some(SeatEvent::KeepAlive));
    assert_eq!(
        Instant::now() - quiet_at,
        app.engine.config().stream_keep_alive
    );
}

fn change(seat: u32, is_reservation: bool) -> SeatEvent {
    SeatEvent::Seat(SeatChange {
        seat_number: actors::domain::SeatNumber(seat),
        is_reservation,
    })
}

/// More changes than the broadcast keeps, with the stream unread: it ends (its
/// client reconnects and reads the whole list) instead of anything growing.
async fn a_seat_stream_that_falls_behind_ends(db: TestDb) {
    let row = session(&db, 5).await;
    let app = start(&db, held_places(1, Duration::from_secs(600))).await;
    let holder = admitted(&app.engine, "holder").await;
    let mut watch = app.engine.seat_stream(row.id).await.unwrap();
    assert!(matches!(watch.next().await, Some(SeatEvent::Seats(_))));
    let changes = actors::engine::SEAT_CHANGES_CAPACITY + 2;
    for _ in 0..changes / 2 {
        let held = hold_as(&app.engine, &holder, row.id, 1).await.unwrap();
        release_as(&app.engine, &holder, held.reservation_id)
            .await
            .unwrap();
    }
    assert_eq!(watch.next().await, None, "a lagging reader is dropped");
}
