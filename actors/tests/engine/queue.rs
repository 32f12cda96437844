//! The waiting room: FIFO order, exact positions, admission as places open,
//! admission TTL, idle eviction, the rate cap, and a restart keeping it all.

use std::num::NonZeroU32;
use std::time::Duration;

use actors::backend_tests;
use actors::testkit::{TestDb, user};
use actors::waiting_room::TOKEN_WRITES_IN_FLIGHT;
use actors::{CallerStatus, EngineConfig};

use crate::common::*;

backend_tests! {
    admits_up_to_max_active_then_queues_in_order,
    one_live_token_per_user,
    #[paused] admission_ttl_admits_the_next_in_line,
    #[paused] idle_waiters_are_evicted,
    #[paused] rate_cap_spaces_admissions,
    concurrent_joins_get_distinct_places,
    #[paused] joins_during_a_token_write_share_the_next_one,
    #[paused] a_poll_is_answered_while_the_waiting_room_waits_on_a_write,
    #[paused] a_token_being_evicted_is_not_told_it_waits,
    restart_keeps_the_line_and_admissions,
}

/// Under max-active 3, the first three are admitted and the next wait at 1, 2, 3.
async fn admits_up_to_max_active_then_queues_in_order(db: TestDb) {
    let app = start(
        &db,
        EngineConfig {
            max_active: 3,
            ..config()
        },
    )
    .await;
    let mut tickets = Vec::new();
    for n in 0..6 {
        tickets.push(
            app.engine
                .queue(None, Some(user(&format!("u{n}"))))
                .await
                .unwrap(),
        );
    }
    let positions: Vec<usize> = tickets.iter().map(|t| t.position.unwrap()).collect();
    assert_eq!(positions, vec![0, 0, 0, 1, 2, 3]);
    assert!(tickets[..3].iter().all(|t| t.admitted));
    assert!(tickets[3..].iter().all(|t| !t.admitted));
    assert_eq!(app.engine.queue_counts().await.unwrap(), (3, 3));
}

/// One live token per user; a poll with the token answers the same token; an
/// unknown token gets a new one for the named (or a generated) user.
async fn one_live_token_per_user(db: TestDb) {
    let app = start(&db, one_at_a_time()).await;
    let first = app.engine.queue(None, Some(user("cat"))).await.unwrap();
    let again = app.engine.queue(None, Some(user("cat"))).await.unwrap();
    assert_eq!(again.token, first.token);
    let polled = app
        .engine
        .queue(Some(&first.token.to_string()), None)
        .await
        .unwrap();
    assert_eq!(polled.token, first.token);

    let stranger = app.engine.queue(Some("not-a-token"), None).await.unwrap();
    assert_ne!(stranger.token, first.token);
    assert_eq!(
        stranger.position.unwrap(),
        1,
        "a new token joins at the back"
    );
    let unknown = actors::domain::QueueToken::generate().to_string();
    let named = app
        .engine
        .queue(Some(&unknown), Some(user("dog")))
        .await
        .unwrap();
    assert_eq!(named.user_id, user("dog"));
    assert_eq!(named.position.unwrap(), 2);
}

/// When an admission's TTL passes, its token expires (and stays known as
/// expired) and the first waiter is admitted; positions only shrink.
async fn admission_ttl_admits_the_next_in_line(db: TestDb) {
    let ttl = Duration::from_secs(600);
    let config = EngineConfig {
        max_active: 2,
        active_ttl: ttl,
        waiting_idle: Duration::from_secs(3600),
        admitted_idle: Duration::from_secs(3600),
        ..config()
    };
    let app = start(&db, config).await;
    let first = admitted(&app.engine, "a").await;
    tokio::time::advance(Duration::from_secs(60)).await;
    let second = admitted(&app.engine, "b").await;
    let third = join(&app.engine, "c").await;
    let fourth = join(&app.engine, "d").await;
    let position = |caller: &actors::Caller| {
        let (engine, token) = (app.engine.clone(), caller.token.to_string());
        async move {
            engine
                .queue(Some(&token), None)
                .await
                .unwrap()
                .position
                .unwrap()
        }
    };
    assert_eq!((position(&third).await, position(&fourth).await), (1, 2));

    tokio::time::advance(ttl - Duration::from_secs(60)).await;
    settle().await;
    assert_eq!(
        reidentify(&app.engine, &first).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        reidentify(&app.engine, &second).await.status,
        CallerStatus::Admitted
    );
    assert_eq!(
        reidentify(&app.engine, &third).await.status,
        CallerStatus::Admitted
    );
    assert_eq!(position(&fourth).await, 1);

    let renewed = app
        .engine
        .queue(Some(&first.token.to_string()), None)
        .await
        .unwrap();
    assert_ne!(
        renewed.token, first.token,
        "an expired token gets a new one"
    );
    assert_eq!(renewed.user_id, first.user_id, "for the same user");
    assert_eq!(renewed.position.unwrap(), 2, "at the back of the line");
}

/// A waiting token not polled for the idle time loses its place; one that polls keeps it.
async fn idle_waiters_are_evicted(db: TestDb) {
    let idle = Duration::from_secs(60);
    let app = start(
        &db,
        EngineConfig {
            max_active: 1,
            waiting_idle: idle,
            ..config()
        },
    )
    .await;
    let _admitted = admitted(&app.engine, "a").await;
    let silent = join(&app.engine, "silent").await;
    let polling = join(&app.engine, "polling").await;
    for _ in 0..6 {
        tokio::time::advance(Duration::from_secs(15)).await;
        settle().await;
        app.engine
            .queue(Some(&polling.token.to_string()), None)
            .await
            .unwrap();
    }
    settle().await;
    assert_eq!(
        reidentify(&app.engine, &silent).await.status,
        CallerStatus::Expired
    );
    let ticket = app
        .engine
        .queue(Some(&polling.token.to_string()), None)
        .await
        .unwrap();
    assert_eq!((ticket.token, ticket.position.unwrap()), (polling.token, 1));
}

/// With a rate cap of 2 per second, places open but admissions come two a second.
async fn rate_cap_spaces_admissions(db: TestDb) {
    let config = EngineConfig {
        max_active: 10,
        admission_rate_per_sec: NonZeroU32::new(2),
        ..config()
    };
    let app = start(&db, config).await;
    for n in 0..5 {
        app.engine
            .queue(None, Some(user(&format!("u{n}"))))
            .await
            .unwrap();
    }
    assert_eq!(app.engine.queue_counts().await.unwrap(), (3, 2));
    tokio::time::advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(app.engine.queue_counts().await.unwrap(), (1, 4));
}

/// Two hundred users join at once: five are admitted, the others get the
/// places 1 to 195, each exactly once; a user asking twice at once gets one token.
async fn concurrent_joins_get_distinct_places(db: TestDb) {
    let app = start(
        &db,
        EngineConfig {
            max_active: 5,
            ..config()
        },
    )
    .await;
    let answers = join_at_once(&app.engine, 200).await;
    let mut positions: Vec<_> = answers
        .into_iter()
        .map(|a| a.unwrap().position.unwrap())
        .collect();
    positions.sort_unstable();
    let mut expected = vec![0; 5];
    expected.extend(1..=195);
    assert_eq!(positions, expected);

    let twice = (0..10).map(|_| {
        let engine = app.engine.clone();
        tokio::spawn(async move { engine.queue(None, Some(user("eager"))).await })
    });
    let mut tokens = Vec::new();
    for join in twice {
        tokens.push(join.await.unwrap().unwrap().token);
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "one live token per user");
}

/// Joins that arrive while token writes are committing share the next write:
/// a burst of joins costs a few inserts, not one per token.
async fn joins_during_a_token_write_share_the_next_one(db: TestDb) {
    let (faulty, app) = start_faulty(
        &db,
        EngineConfig {
            max_active: 5,
            ..config()
        },
    )
    .await;
    faulty.set_token_delay(Duration::from_millis(50));
    let answers = join_at_once(&app.engine, 100).await;
    let mut positions: Vec<_> = answers
        .into_iter()
        .map(|a| a.unwrap().position.unwrap())
        .collect();
    positions.sort_unstable();
    let mut expected = vec![0; 5];
    expected.extend(1..=95);
    assert_eq!(positions, expected, "every join answered, each place once");
    let writes = faulty.token_writes();
    assert!(
        writes <= TOKEN_WRITES_IN_FLIGHT + 1,
        "100 joins took {writes} token writes; the first ones run alone, the rest share one"
    );
    assert_eq!(
        db.store
            .live_tokens(actors::domain::RoomId::Site)
            .await
            .unwrap()
            .len(),
        100,
        "every row stored"
    );
}

/// A poll of a waiting token is answered from the room the WaitingRoom
/// publishes: at once, even while the actor itself waits on a slow write.
async fn a_poll_is_answered_while_the_waiting_room_waits_on_a_write(db: TestDb) {
    let ttl = Duration::from_secs(600);
    let config = EngineConfig {
        max_active: 1,
        active_ttl: ttl,
        waiting_idle: Duration::from_secs(3600),
        ..config()
    };
    let (faulty, app) = start_faulty(&db, config).await;
    let _first = admitted(&app.engine, "a").await;
    let _second = join(&app.engine, "b").await;
    let third = join(&app.engine, "c").await;

    // The first admission's end is written for 10 s: the actor waits on it.
    faulty.set_token_update_delay(Duration::from_secs(10));
    let started = faulty.token_update_started();
    tokio::time::advance(ttl).await;
    started.await;

    let asked = tokio::time::Instant::now();
    let ticket = app
        .engine
        .queue(Some(&third.token.to_string()), None)
        .await
        .unwrap();
    assert_eq!(
        asked.elapsed(),
        Duration::ZERO,
        "answered without waiting for the actor"
    );
    assert_eq!((ticket.token, ticket.position.unwrap()), (third.token, 2));
}

/// While a waiter's eviction is being written, a poll of it is not answered
/// "you wait" from the published room: it waits for the actor, and gets a new
/// token once the eviction is stored.
async fn a_token_being_evicted_is_not_told_it_waits(db: TestDb) {
    let config = EngineConfig {
        max_active: 1,
        active_ttl: Duration::from_secs(3600),
        waiting_idle: Duration::from_secs(60),
        ..config()
    };
    let (faulty, app) = start_faulty(&db, config).await;
    let _admitted = admitted(&app.engine, "a").await;
    let idle = join(&app.engine, "idle").await;

    // Shorter than a call's timeout: the poll waits for it, then is answered.
    faulty.set_token_update_delay(Duration::from_secs(1));
    let started = faulty.token_update_started();
    tokio::time::advance(Duration::from_secs(61)).await;
    started.await;

    let ticket = app
        .engine
        .queue(Some(&idle.token.to_string()), None)
        .await
        .unwrap();
    assert_ne!(ticket.token, idle.token, "evicted: a new token");
    assert_eq!(
        (&ticket.user_id, ticket.position.unwrap()),
        (&idle.user_id, 1)
    );
    assert_eq!(
        reidentify(&app.engine, &idle).await.status,
        CallerStatus::Expired
    );
}

/// A restart keeps every admission and every waiter's token and place.
async fn restart_keeps_the_line_and_admissions(db: TestDb) {
    let config = EngineConfig {
        max_active: 2,
        ..config()
    };
    let app = start(&db, config.clone()).await;
    let mut callers = Vec::new();
    for n in 0..5 {
        callers.push(join(&app.engine, &format!("u{n}")).await);
    }
    app.engine.shutdown().await;

    let again = start_on(actors::testkit::reopen(&db).await, config, app.clock).await;
    for (n, caller) in callers.iter().enumerate() {
        let ticket = again
            .engine
            .queue(Some(&caller.token.to_string()), None)
            .await
            .unwrap();
        assert_eq!(ticket.token, caller.token, "u{n} keeps its token");
        let expected = if n < 2 { 0 } else { n - 1 };
        assert_eq!(ticket.position.unwrap(), expected, "u{n}'s place");
        assert_eq!(ticket.admitted, n < 2, "u{n}'s admission");
    }
}
