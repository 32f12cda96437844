//! One node per database (issue 15, part 6): a node started without cluster mode holds
//! a lock on its database (a Postgres advisory lock, a lock file beside a SQLite file),
//! and a second node on the same database refuses to start, saying why and what to do.
//!
//! - a second node exits non-zero with the message, and the first serves on;
//! - `concert check` runs beside the live node (it never takes the lock);
//! - after `kill -9` of the holder, a new node starts (the lock died with it);
//! - Postgres: when the lock's connection dies, the node takes the lock again and
//!   serves on; when another node took it meanwhile, the node stops (exits non-zero).

use std::time::{Duration, Instant};

use actors::backend_tests;
use actors::testkit::{self, TestDb, execute_raw};

use crate::support::{Api, Scratch, Server, concert_check, start_refused, token_of};

/// What every node here runs with.
fn env() -> Vec<(&'static str, String)> {
    vec![
        ("CONCERT_DEMO", "false".into()),
        ("RUST_LOG", "info".into()),
    ]
}

/// A write reaches the database: a new user joins (a token row) and charges.
async fn writes(server: &Server, user: &str) {
    let api = Api::new(&server.base, Duration::from_secs(10));
    let joined = api.join(user).await;
    let token = joined
        .ok()
        .and_then(token_of)
        .unwrap_or_else(|| panic!("join {user}: {joined:?}"));
    let charged = api.charge(&token, 100).await;
    assert!(charged.ok().is_some(), "charge {user}: {charged:?}");
}

backend_tests! {
    a_second_node_refuses_to_start_and_a_killed_holder_leaves_no_lock,
}

async fn a_second_node_refuses_to_start_and_a_killed_holder_leaves_no_lock(db: TestDb) {
    let scratch = Scratch::new("single-node");
    let first = Server::start(&db.url, &env(), &scratch.path("first.log")).await;
    writes(&first, "before").await;

    let (status, log) = start_refused(&db.url, &env(), &scratch.path("second.log")).await;
    assert!(!status.success(), "the second node exited {status}: {log}");
    assert!(
        log.contains("another concert node is serving this database (")
            && log.contains("run one node per database, or several in cluster mode (--nats-url, see docs/scale-out.md)"),
        "{log}"
    );
    let lock = if db.store.backend() == "postgres" {
        format!(
            "postgres advisory lock {} is held by server pid",
            actors::node_lock::ADVISORY_LOCK_KEY
        )
    } else {
        "concert.db.lock is held by pid ".to_owned()
    };
    assert!(log.contains(&lock), "wanted {lock:?} in: {log}");

    // The first node was not disturbed, and the read-only check runs beside it.
    writes(&first, "after-the-refusal").await;
    let (clean, report, _) = concert_check(&db.url, &env()).await;
    assert!(clean, "concert check beside a live node: {report}");

    // kill -9: no shutdown ran, yet the lock is gone with the process (or its session).
    first.kill().await;
    let started = Instant::now();
    let third = Server::start(&db.url, &env(), &scratch.path("third.log")).await;
    writes(&third, "after-the-kill").await;
    println!(
        "single node ({}): a new node served {:?} after the holder's kill -9",
        db.store.backend(),
        started.elapsed()
    );
    third.kill().await;
}

/// The sessions of a node's lock connection on `db`, ended (as an operator, a
/// database restart or a cut link would end them). How many were ended.
async fn end_lock_sessions(db: &TestDb) -> u64 {
    execute_raw(
        db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name LIKE 'concert-node-lock %'",
    )
    .await
    .expect("end the lock's session")
}

/// Waits (at most 30 s) until the server's log has `line`.
async fn log_says(server: &Server, line: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        if log.contains(line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {line:?} after 30 s in: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_lock_connection_dies_takes_the_lock_again_and_serves_on() {
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("single-node-retake");
    let server = Server::start(&db.url, &env(), &scratch.path("server.log")).await;
    assert_eq!(end_lock_sessions(&db).await, 1, "one lock session per node");
    log_says(&server, "the database lock's connection is gone").await;
    log_says(&server, "the database lock is held again: writes resume").await;
    writes(&server, "after-the-retake").await;
    // Held for real: a second node is still refused.
    let (status, log) = start_refused(&db.url, &env(), &scratch.path("second.log")).await;
    assert!(
        !status.success() && log.contains("another concert node"),
        "{log}"
    );
    server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_lock_another_took_stops() {
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("single-node-taken");
    let mut server = Server::start(&db.url, &env(), &scratch.path("server.log")).await;
    // Another node takes the lock in the moment the first one's connection is gone
    // (ending the first's session each time, until the taker is first).
    let deadline = Instant::now() + Duration::from_secs(30);
    let _taker = loop {
        end_lock_sessions(&db).await;
        if let Ok(lock) = actors::NodeLock::acquire(&db.url).await {
            break lock;
        }
        assert!(Instant::now() < deadline, "could not take the lock in 30 s");
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.exited() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node still runs 30 s after its lock was taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!status.success(), "exited {status}");
    log_says(&server, "the database lock was lost to another node").await;
}
