//! A session's holds share one expiry timer: holding seats arms no timer per hold,
//! and each hold still expires at its own deadline (under tokio's paused clock).

use std::time::Duration;

use actors::EngineConfig;
use actors::backend_tests;
use actors::testkit::TestDb;

use crate::common::*;

backend_tests! {
    #[paused] holds_share_one_expiry_timer_and_each_expires_on_time,
}

/// Twenty holds in one session, a second apart, leave at most one timer task
/// pending (one task per hold before, each waiting out the TTL); then each seat is
/// still held a millisecond before its own deadline and free at it.
async fn holds_share_one_expiry_timer_and_each_expires_on_time(db: TestDb) {
    let session = session(&db, 20).await;
    let ttl = Duration::from_secs(300);
    let app = start(
        &db,
        EngineConfig {
            hold_ttl: ttl,
            ..config()
        },
    )
    .await;
    let mut users = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        users.push(admitted(&app.engine, name).await);
    }
    settle().await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = tasks();
    for seat in 1..=20 {
        let user = &users[(seat as usize - 1) / 4]; // The default limit: four each.
        hold_as(&app.engine, user, session.id, seat).await.unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
    }
    settle().await;
    assert!(
        tasks() <= before + 1,
        "twenty holds left {} more tasks alive",
        tasks() - before
    );

    // Seat n was held at t = n - 1 s: its deadline is then plus the TTL.
    tokio::time::advance(ttl - Duration::from_secs(20) - Duration::from_millis(1)).await;
    for seat in 1..=20 {
        settle().await;
        let taken = app.engine.seats(session.id).await.unwrap().taken;
        assert!(taken[seat - 1], "seat {seat} is held until its deadline");
        assert_eq!(
            taken.iter().filter(|t| **t).count(),
            21 - seat,
            "seats before {seat} are free"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        settle().await;
        assert!(
            !app.engine.seats(session.id).await.unwrap().taken[seat - 1],
            "seat {seat} is free at its deadline"
        );
        tokio::time::advance(Duration::from_secs(1) - Duration::from_millis(1)).await;
    }
}
