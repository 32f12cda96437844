//! Admissions not wasted: an admitted token that makes no request for the
//! admitted-idle time loses its admission, and the next in line is admitted.

use std::time::Duration;

use actors::backend_tests;
use actors::store::TokenState;
use actors::testkit::TestDb;
use actors::{CallerStatus, EngineConfig};

use crate::common::*;

backend_tests! {
    #[paused] an_idle_admission_ends_and_admits_the_next,
    #[paused] a_token_that_keeps_acting_keeps_its_admission,
    #[paused] a_late_request_is_told_expired_only_once_the_end_is_stored,
    #[paused] a_restart_gives_admissions_a_fresh_allowance,
}

const IDLE: Duration = Duration::from_secs(120);

/// One place, a long TTL and patient waiters: only idleness ends an admission.
fn one_place() -> EngineConfig {
    EngineConfig {
        max_active: 1,
        active_ttl: Duration::from_secs(3600),
        waiting_idle: Duration::from_secs(3600),
        admitted_idle: IDLE,
        ..config()
    }
}

/// Nobody asks: the sweep ends the silent admission (its end is stored) and admits
/// the first waiter; the silent token is expired from then on.
async fn an_idle_admission_ends_and_admits_the_next(db: TestDb) {
    let app = start(&db, one_place()).await;
    let silent = admitted(&app.engine, "silent").await;
    let next = join(&app.engine, "next").await;
    assert_eq!(next.status, CallerStatus::Waiting);

    tokio::time::advance(IDLE - Duration::from_secs(10)).await;
    settle().await;
    app.engine.queue_counts().await.unwrap(); // after the sweeps due by now
    let row = db.store.token(silent.token).await.unwrap().unwrap();
    assert_eq!(row.state, TokenState::Admitted, "not idle yet");

    // No request at all: a sweep (every 15 s here) is what ends it.
    tokio::time::advance(Duration::from_secs(25)).await;
    settle().await;
    app.engine.queue_counts().await.unwrap();
    let stored = db.store.token(silent.token).await.unwrap().unwrap();
    assert_eq!(stored.state, TokenState::Expired, "its end is stored");
    let next_row = db.store.token(next.token).await.unwrap().unwrap();
    assert_eq!(next_row.state, TokenState::Admitted, "the next is admitted");
    assert_eq!(
        reidentify(&app.engine, &silent).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        reidentify(&app.engine, &next).await.status,
        CallerStatus::Admitted
    );
}

/// Requests of any kind (a token check, as holds and payments make; a poll; a
/// balance) each keep the admission for another idle time, over many of them.
async fn a_token_that_keeps_acting_keeps_its_admission(db: TestDb) {
    let app = start(&db, one_place()).await;
    let active = admitted(&app.engine, "active").await;
    let next = join(&app.engine, "next").await;
    for round in 0..12 {
        tokio::time::advance(IDLE - Duration::from_secs(10)).await;
        settle().await;
        match round % 3 {
            0 => {
                let caller = reidentify(&app.engine, &active).await;
                assert_eq!(caller.status, CallerStatus::Admitted, "round {round}");
            }
            1 => {
                let ticket = app
                    .engine
                    .queue(Some(&active.token.to_string()), None)
                    .await
                    .unwrap();
                assert_eq!((ticket.token, ticket.admitted), (active.token, true));
            }
            _ => {
                let caller = reidentify(&app.engine, &active).await;
                balance_of(&app.engine, &caller).await.unwrap();
            }
        }
    }
    // 12 × 110 s: far past the idle time, and past it between no two requests.
    assert_eq!(
        reidentify(&app.engine, &active).await.status,
        CallerStatus::Admitted
    );
    assert_eq!(
        reidentify(&app.engine, &next).await.status,
        CallerStatus::Waiting
    );
}

/// A request after the idle time, before any sweep ran, is not let through: its
/// token is told it expired, and by then the end is stored and the next admitted.
async fn a_late_request_is_told_expired_only_once_the_end_is_stored(db: TestDb) {
    let config = EngineConfig {
        // Sweeps every 15 s; the idle time ends between two of them (60 s and 75 s).
        admitted_idle: Duration::from_secs(70),
        ..one_place()
    };
    let app = start(&db, config).await;
    let late = admitted(&app.engine, "late").await;
    let next = join(&app.engine, "next").await;
    tokio::time::advance(Duration::from_secs(62)).await;
    settle().await;
    app.engine.queue_counts().await.unwrap();
    // Not idle at the sweep of 60 s: it stays.
    assert_eq!(
        db.store.token(late.token).await.unwrap().unwrap().state,
        TokenState::Admitted
    );
    tokio::time::advance(Duration::from_secs(9)).await;
    // At 71 s, no sweep since 60 s.
    assert_eq!(
        reidentify(&app.engine, &late).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        db.store.token(late.token).await.unwrap().unwrap().state,
        TokenState::Expired,
        "stored before it was told"
    );
    assert_eq!(
        reidentify(&app.engine, &next).await.status,
        CallerStatus::Admitted
    );
}

/// Last-seen is not stored: a restart gives every restored admission a fresh idle
/// allowance, as it gives waiters (and the admission still ends once idle).
async fn a_restart_gives_admissions_a_fresh_allowance(db: TestDb) {
    let app = start(&db, one_place()).await;
    let quiet = admitted(&app.engine, "quiet").await;
    tokio::time::advance(IDLE - Duration::from_secs(20)).await;
    app.engine.shutdown().await;

    let again = start_on(actors::testkit::reopen(&db).await, one_place(), app.clock).await;
    tokio::time::advance(IDLE - Duration::from_secs(20)).await;
    settle().await;
    assert_eq!(
        reidentify(&again.engine, &quiet).await.status,
        CallerStatus::Admitted,
        "200 s without a request, but only 100 s since the restart"
    );
    tokio::time::advance(IDLE + Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(
        reidentify(&again.engine, &quiet).await.status,
        CallerStatus::Expired
    );
}
