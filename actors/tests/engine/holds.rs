//! Holds: the contract's checks in order, conflicts, the per-user limit, release,
//! and expiry at the exact TTL (under tokio's paused clock).

use std::time::Duration;

use actors::backend_tests;
use actors::domain::{ChargeAmount, SeatNumber, SessionId};
use actors::store::ReservationStatus;
use actors::testkit::TestDb;
use actors::{EngineConfig, EngineError};

use crate::common::*;

backend_tests! {
    conflicting_hold_is_refused,
    hold_checks_follow_the_contract_order,
    per_user_hold_limit,
    release_frees_the_seat,
    #[paused] hold_expires_at_the_exact_ttl,
    #[paused] restart_keeps_holds_and_their_deadlines,
    #[paused] a_taken_seat_is_refused_without_waiting_for_its_session,
    #[paused] a_hold_past_its_deadline_is_not_refused_from_the_board,
}

/// A seat goes to the first hold; the second gets 409 and the seat map shows it taken.
async fn conflicting_hold_is_refused(db: TestDb) {
    let session = session(&db, 50).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;

    let hold = hold_as(&app.engine, &alice, session.id, 4).await.unwrap();
    assert_eq!(hold.seat_number, SeatNumber(4));
    assert_eq!(hold.price, session.price);
    assert_eq!(
        hold_as(&app.engine, &bob, session.id, 4).await,
        Err(EngineError::SeatAlreadyReserved)
    );
    let seats = app.engine.seats(session.id).await.unwrap();
    assert_eq!(seats.taken.iter().filter(|t| **t).count(), 1);
    assert!(seats.taken[3]);
    let row = db
        .store
        .reservation(hold.reservation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.status,
        ReservationStatus::Held,
        "the hold was written through"
    );
    let listed = app.engine.sessions(session.concert_id).unwrap();
    assert_eq!(listed[0].available, 49);
}

/// Session, then seat, are checked before the seat's state; the token before all.
async fn hold_checks_follow_the_contract_order(db: TestDb) {
    let session = session(&db, 10).await;
    let app = start(&db, one_at_a_time()).await;
    let alice = admitted(&app.engine, "alice").await;
    let waiting = join(&app.engine, "bob").await;

    assert_eq!(
        hold_as(&app.engine, &waiting, session.id, 1).await,
        Err(EngineError::StillWaiting)
    );
    assert_eq!(
        hold_as(&app.engine, &alice, SessionId(9_999), 1).await,
        Err(EngineError::SessionNotFound)
    );
    for seat in [11, 0, -1, 1_001, i64::MAX] {
        assert_eq!(
            hold_as(&app.engine, &alice, session.id, seat).await,
            Err(EngineError::SeatNotFound),
            "seat {seat}"
        );
    }
    assert_eq!(
        hold_as(&app.engine, &alice, SessionId(9_999), 0).await,
        Err(EngineError::SessionNotFound),
        "the session is checked before the seat"
    );
    assert!(hold_as(&app.engine, &alice, session.id, 10).await.is_ok());
}

/// A user may hold at most `max_holds_per_user` seats of one session at once.
async fn per_user_hold_limit(db: TestDb) {
    let session = session(&db, 10).await;
    let app = start(
        &db,
        EngineConfig {
            max_holds_per_user: 2,
            ..config()
        },
    )
    .await;
    let alice = admitted(&app.engine, "alice").await;
    for seat in [1, 2] {
        hold_as(&app.engine, &alice, session.id, i64::from(seat))
            .await
            .unwrap();
    }
    assert_eq!(
        hold_as(&app.engine, &alice, session.id, 3).await,
        Err(EngineError::HoldLimitExceeded)
    );
    let bob = admitted(&app.engine, "bob").await;
    assert!(hold_as(&app.engine, &bob, session.id, 3).await.is_ok());
}

/// Releasing a hold frees its seat and gives the user's quota back.
async fn release_frees_the_seat(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(
        &db,
        EngineConfig {
            max_holds_per_user: 1,
            ..config()
        },
    )
    .await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    assert_eq!(
        release_as(&app.engine, &bob, hold.reservation_id).await,
        Err(EngineError::ReservationNotFound),
        "only the holder may release"
    );
    release_as(&app.engine, &alice, hold.reservation_id)
        .await
        .unwrap();
    let row = db
        .store
        .reservation(hold.reservation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ReservationStatus::Released);
    hold_as(&app.engine, &bob, session.id, 1).await.unwrap();
    hold_as(&app.engine, &alice, session.id, 2).await.unwrap();
}

/// A hold lasts exactly its TTL: taken a millisecond before, free at the deadline,
/// and a payment after the deadline gets 410.
async fn hold_expires_at_the_exact_ttl(db: TestDb) {
    let session = session(&db, 5).await;
    let ttl = Duration::from_secs(300);
    let app = start(
        &db,
        EngineConfig {
            hold_ttl: ttl,
            ..config()
        },
    )
    .await;
    let alice = admitted(&app.engine, "alice").await;
    let hold = hold_as(&app.engine, &alice, session.id, 2).await.unwrap();
    assert_eq!(
        hold.expires_at,
        app.clock.now_utc() + chrono::Duration::seconds(300)
    );

    tokio::time::advance(ttl - Duration::from_millis(1)).await;
    settle().await;
    assert!(
        app.engine.seats(session.id).await.unwrap().taken[1],
        "still held"
    );

    tokio::time::advance(Duration::from_millis(1)).await;
    settle().await;
    assert!(
        !app.engine.seats(session.id).await.unwrap().taken[1],
        "free at the deadline"
    );
    let row = db
        .store
        .reservation(hold.reservation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ReservationStatus::Expired);
    assert_eq!(
        pay_as(&app.engine, &alice, hold.reservation_id, None).await,
        Err(EngineError::ReservationExpired)
    );
}

/// A hold that ran out while the engine was down is expired on restart; one
/// that did not keeps its seat and expires on time.
async fn restart_keeps_holds_and_their_deadlines(db: TestDb) {
    let session = session(&db, 5).await;
    let config = EngineConfig {
        hold_ttl: Duration::from_secs(300),
        ..config()
    };
    let app = start(&db, config.clone()).await;
    let alice = admitted(&app.engine, "alice").await;
    let early = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    tokio::time::advance(Duration::from_secs(200)).await;
    let late = hold_as(&app.engine, &alice, session.id, 2).await.unwrap();
    app.engine.shutdown().await;

    tokio::time::advance(Duration::from_secs(150)).await;
    let again = start_on(actors::testkit::reopen(&db).await, config, app.clock).await;
    settle().await;
    let seats = again.engine.seats(session.id).await.unwrap();
    assert!(!seats.taken[0], "the early hold ran out while down");
    assert!(seats.taken[1], "the late hold still has 150 s");
    let status = |id| {
        let store = db.store.clone();
        async move { store.reservation(id).await.unwrap().unwrap().status }
    };
    assert_eq!(
        status(early.reservation_id).await,
        ReservationStatus::Expired
    );

    tokio::time::advance(Duration::from_secs(150)).await;
    settle().await;
    assert!(!again.engine.seats(session.id).await.unwrap().taken[1]);
    assert_eq!(
        status(late.reservation_id).await,
        ReservationStatus::Expired
    );
}

/// A hold on a seat the session has published as taken is refused at once, even
/// while the session's actor is busy (here: committing a slow payment); a hold on
/// a free seat still waits for the actor, which alone decides.
async fn a_taken_seat_is_refused_without_waiting_for_its_session(db: TestDb) {
    let session = session(&db, 5).await;
    let config = EngineConfig {
        call_timeout: Duration::from_secs(30),
        ..config()
    };
    let (slow, app) = start_faulty(&db, config).await;
    slow.set_payment_delay(Duration::from_secs(10));
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;
    charge_to(&app.engine, &alice, ChargeAmount(10_000))
        .await
        .unwrap();
    let held = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();

    let engine = app.engine.clone();
    let paying =
        tokio::spawn(async move { pay_as(&engine, &alice, held.reservation_id, None).await });
    slow.payment_started().await; // The session's actor now waits 10 s on the store.
    let start = tokio::time::Instant::now();
    assert_eq!(
        hold_as(&app.engine, &bob, session.id, 1).await,
        Err(EngineError::SeatAlreadyReserved)
    );
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "refused without waiting for the payment"
    );

    let free = hold_as(&app.engine, &bob, session.id, 2).await;
    assert!(free.is_ok(), "a free seat is the actor's to give: {free:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "it waited behind the payment"
    );
    assert!(paying.await.unwrap().is_ok());
}

/// A hold is over at its deadline even while its expiry waits behind other work in
/// the session's mailbox: the published board must not refuse that seat, the
/// actor gives it to the next hold.
async fn a_hold_past_its_deadline_is_not_refused_from_the_board(db: TestDb) {
    let session = session(&db, 5).await;
    let config = EngineConfig {
        hold_ttl: Duration::from_secs(5),
        call_timeout: Duration::from_secs(30),
        ..config()
    };
    let (slow, app) = start_faulty(&db, config).await;
    slow.set_payment_delay(Duration::from_secs(10));
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;
    let carol = admitted(&app.engine, "carol").await;
    hold_as(&app.engine, &carol, session.id, 1).await.unwrap();
    charge_to(&app.engine, &alice, ChargeAmount(10_000))
        .await
        .unwrap();
    let held = hold_as(&app.engine, &alice, session.id, 2).await.unwrap();
    let engine = app.engine.clone();
    let paying =
        tokio::spawn(async move { pay_as(&engine, &alice, held.reservation_id, None).await });
    slow.payment_started().await; // The actor is stuck until t = 10 s.
    tokio::time::advance(Duration::from_secs(6)).await; // Carol's hold is over; its expiry waits.

    let taken = hold_as(&app.engine, &bob, session.id, 1).await;
    assert!(
        taken.is_ok(),
        "carol's seat is free again at her deadline: {taken:?}"
    );
    assert!(paying.await.unwrap().is_ok());
}
