//! Supervision drills: a test-only fault makes an actor panic in the middle of a
//! sequence; the caller of that message gets an error, the supervisor restarts the
//! actor from the store, and nothing acknowledged before the crash is lost.

use std::sync::Arc;
use std::time::Duration;

use actors::backend_tests;
use actors::clock::Clock;
use actors::domain::{ChargeAmount, Points, RoomId};
use actors::engine::FaultTarget;
use actors::testkit::TestDb;
use actors::{Caller, CallerStatus, EngineConfig, EngineError};

use crate::common::*;
use crate::faulty_store::FaultyStore;

backend_tests! {
    session_crash_keeps_acknowledged_holds,
    wallet_crash_keeps_acknowledged_charges,
    waiting_room_crash_keeps_the_line,
    a_restoring_waiting_room_answers_no_poll_from_its_old_room,
    an_admitted_token_holds_while_the_waiting_room_restores,
    shutdown_is_not_a_failure,
    meltdown_stops_the_engine,
    sessions_start_while_the_line_is_read,
}

/// A session actor crashes between two holds: the holds acknowledged before are
/// still there after its restart, and the seat map works on.
async fn session_crash_keeps_acknowledged_holds(db: TestDb) {
    let session = session(&db, 10).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;
    charge_to(&app.engine, &alice, ChargeAmount(10_000))
        .await
        .unwrap();
    let held = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    hold_as(&app.engine, &alice, session.id, 2).await.unwrap();

    assert_eq!(
        app.engine
            .inject_fault(FaultTarget::Session(session.id))
            .await,
        Err(EngineError::ActorFailed),
        "the crashing message's caller gets an error, not a hang"
    );
    let seats = eventually("the session actor to restart", || async {
        app.engine.seats(session.id).await.ok()
    })
    .await;
    assert_eq!(
        &seats.taken[..3],
        &[true, true, false],
        "holds rebuilt from the store"
    );
    assert_eq!(
        hold_as(&app.engine, &bob, session.id, 1).await,
        Err(EngineError::SeatAlreadyReserved)
    );
    let paid = pay_as(&app.engine, &alice, held.reservation_id, None)
        .await
        .unwrap();
    assert_eq!(paid.balance_after, Points(0));
}

/// A wallet crashes between charges: every acknowledged charge is in the balance.
async fn wallet_crash_keeps_acknowledged_charges(db: TestDb) {
    let app = start(&db, config()).await;
    let alice = join(&app.engine, "alice").await;
    for amount in [100, 200, 300] {
        charge_to(&app.engine, &alice, ChargeAmount(amount))
            .await
            .unwrap();
    }
    assert_eq!(
        app.engine
            .inject_fault(FaultTarget::Wallet(alice.user_id.clone()))
            .await,
        Err(EngineError::ActorFailed)
    );
    let balance = eventually("a new wallet", || async {
        charge_to(&app.engine, &alice, ChargeAmount(400)).await.ok()
    })
    .await;
    assert_eq!(balance.balance, Points(1_000));
}

/// The waiting room crashes: admissions, tokens and places survive its restart.
async fn waiting_room_crash_keeps_the_line(db: TestDb) {
    let app = start(&db, one_at_a_time()).await;
    let first = join(&app.engine, "first").await;
    let second = join(&app.engine, "second").await;
    let third = join(&app.engine, "third").await;
    assert_eq!(
        app.engine
            .inject_fault(FaultTarget::WaitingRoom(RoomId::Site))
            .await,
        Err(EngineError::ActorFailed)
    );
    eventually("the waiting room to restart", || async {
        app.engine.queue_counts().await.ok()
    })
    .await;
    let again = app
        .engine
        .identify(Some(&first.token.to_string()))
        .await
        .unwrap();
    assert_eq!(again.status, CallerStatus::Admitted);
    let tickets = [&second, &third].map(|caller| {
        let (engine, token) = (app.engine.clone(), caller.token.to_string());
        async move { engine.queue(Some(&token), None).await.unwrap() }
    });
    let [second_ticket, third_ticket] = tickets;
    let (second_ticket, third_ticket) = (second_ticket.await, third_ticket.await);
    assert_eq!(
        (second_ticket.token, second_ticket.position.unwrap()),
        (second.token, 1)
    );
    assert_eq!(
        (third_ticket.token, third_ticket.position.unwrap()),
        (third.token, 2)
    );
}

/// An engine with room for one admission, `first` admitted and `second` waiting;
/// then the waiting room crashes, and its restore waits until the test lets it go on
/// (`faulty.hold_restores(false)`).
async fn crashed_while_restoring(db: &TestDb) -> (Arc<FaultyStore>, Running, Caller, Caller) {
    let config = EngineConfig {
        max_active: 1,
        ..config()
    };
    let (faulty, app) = start_faulty(db, config).await;
    let first = join(&app.engine, "first").await;
    let second = join(&app.engine, "second").await;
    assert_eq!(
        (first.status, second.status),
        (CallerStatus::Admitted, CallerStatus::Waiting)
    );
    faulty.hold_restores(true);
    let restoring = faulty.restore_started();
    assert_eq!(
        app.engine
            .inject_fault(FaultTarget::WaitingRoom(RoomId::Site))
            .await,
        Err(EngineError::ActorFailed)
    );
    restoring.await;
    (faulty, app, first, second)
}

/// While a crashed waiting room restores its line, no poll is answered from the
/// room it published before the crash (it is withdrawn: polls get an error);
/// once restored, the same token polls at the same place.
async fn a_restoring_waiting_room_answers_no_poll_from_its_old_room(db: TestDb) {
    let (faulty, app, _first, second) = crashed_while_restoring(&db).await;
    let token = second.token.to_string();
    let during = app.engine.queue(Some(&token), None).await;
    assert!(during.is_err(), "answered while restoring: {during:?}");

    faulty.hold_restores(false);
    let after = eventually("the waiting room to restore", || async {
        app.engine.queue(Some(&token), None).await.ok()
    })
    .await;
    assert_eq!((after.token, after.position.unwrap()), (second.token, 1));
}

/// The admissions the waiting room published outlive its failure (they are stored,
/// and its restart restores the same ones): while it restores, an admitted token is
/// still recognised and holds a seat, though a waiting token cannot be told apart
/// (503) until the line is back.
async fn an_admitted_token_holds_while_the_waiting_room_restores(db: TestDb) {
    let session = session(&db, 10).await;
    let (faulty, app, alice, bob) = crashed_while_restoring(&db).await;
    assert_eq!(reidentify(&app.engine, &alice).await, alice);
    let held = hold_as(&app.engine, &alice, session.id, 1).await;
    assert!(held.is_ok(), "no hold while restoring: {held:?}");
    assert_eq!(
        app.engine.identify(Some(&bob.token.to_string())).await,
        Err(EngineError::ActorFailed)
    );

    faulty.hold_restores(false);
    eventually("the waiting room to restore", || async {
        app.engine.queue_counts().await.ok()
    })
    .await;
    assert_eq!(reidentify(&app.engine, &alice).await, alice);
    assert_eq!(
        reidentify(&app.engine, &bob).await.status,
        CallerStatus::Waiting
    );
    let seats = app.engine.seats(session.id).await.unwrap();
    assert!(seats.taken[0], "the hold made while restoring stands");
}

/// At start the sessions rebuild while the waiting room still reads its line (their
/// rows are independent of it), so a restart takes the longer of the two rather
/// than their sum; once the line is read, the engine serves both.
async fn sessions_start_while_the_line_is_read(db: TestDb) {
    let mut sessions = Vec::new();
    for _ in 0..6 {
        sessions.push(session(&db, 5).await);
    }
    let faulty = FaultyStore::new(db.store.clone());
    faulty.hold_restores(true);
    let starting = tokio::spawn(start_on(faulty.clone(), config(), Clock::start()));
    // A bound, not a pause: the reads happen at once, or (started one after the
    // other, behind the held line) never.
    let read = tokio::time::timeout(
        Duration::from_secs(30),
        faulty.reservations_read(sessions.len()),
    )
    .await;
    assert!(read.is_ok(), "the sessions waited for the line's read");
    faulty.hold_restores(false);
    let app = starting.await.expect("the engine starts");
    for session in &sessions {
        let seats = app.engine.seats(session.id).await.unwrap();
        assert_eq!(
            seats.taken,
            vec![false; 5],
            "session {:?} serves",
            session.id
        );
    }
    let _ = join(&app.engine, "after-start").await;
}

/// A shutdown stops every actor for good: nothing is restarted, and the monitor
/// says it was a shutdown, not a failure.
async fn shutdown_is_not_a_failure(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(5))
        .await
        .unwrap();
    app.engine.shutdown().await;
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.monitor.stopped())
        .await
        .expect("the supervisor stops");
    assert_eq!(stopped, actors::EngineStop::Shutdown);
    assert!(
        app.engine.seats(session.id).await.is_err(),
        "no session actor was restarted"
    );
}

/// Children failing faster than the restart budget allows stop the engine.
async fn meltdown_stops_the_engine(db: TestDb) {
    let session = session(&db, 5).await;
    let config = EngineConfig {
        max_restarts: 2,
        restart_window: Duration::from_secs(60),
        ..config()
    };
    let app = start(&db, config).await;
    for _ in 0..3 {
        eventually("the session actor to run", || async {
            app.engine.seats(session.id).await.ok()
        })
        .await;
        assert_eq!(
            app.engine
                .inject_fault(FaultTarget::Session(session.id))
                .await,
            Err(EngineError::ActorFailed)
        );
    }
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.monitor.stopped())
        .await
        .expect("the supervisor stopped after the third restart in a minute");
    assert_eq!(stopped, actors::EngineStop::Failed);
}
