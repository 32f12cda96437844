//! The crash drill: a mixed load against the real binary, SIGKILLed at random moments
//! twenty times and restarted on the same database each time.
//!
//! Each of 16 simulated users loops on its own: join the line, poll, charge while
//! waiting, and once admitted charge, hold a seat and (mostly) pay it with an
//! `Idempotency-Key`; a payment whose answer was lost is retried with the same key.
//! Every 2xx answer is written down. After each kill, `concert check` must pass on
//! the dead server's database; after each restart, before new load:
//! - every acknowledged write is in the store: tokens (and their admissions), holds
//!   (whatever became of them since: sale or expiry), charges (each by its unique
//!   amount), payments (same id, amount and balance);
//! - a payment acknowledged before the crash, retried with its key, answers the very
//!   same body, and the balance a user is shown equals the store's ledger;
//! - the seat map the server shows agrees with the store (sold seats taken, seats
//!   with no live reservation free);
//! - no waiting token was lost, the position of each never grew (checked on every
//!   poll, across restarts), and a quiet snapshot of all waiting tokens is in issue
//!   order and in the same relative order as the snapshot before.

mod book;
mod users;
mod verify;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actors::backend_tests;
use actors::domain::{QueueToken, ReservationId, SessionId};
use actors::store::{ReservationStatus, TokenState};
use actors::testkit::{TestDb, query_i64};
use serde_json::Value;

use crate::support::{
    ADMIN_KEY, Answer, Api, Rng, Scratch, Server, charges_missing_from_the_ledger, concert_check,
    contract_error, ms, queue_state, say, tail, token_of,
};

use book::*;
use users::*;
use verify::*;

/// Kills per backend (the twenty; not sized down).
pub(super) const KILLS: usize = 20;
/// Simulated users.
pub(super) const USERS: u64 = 16;
/// Admitted at once: most users wait, so the line has positions to keep.
pub(super) const MAX_ACTIVE: usize = 4;
/// Seats per session, sessions, price.
pub(super) const SEATS: u32 = 1000;
pub(super) const SESSIONS: usize = 2;
pub(super) const PRICE: i64 = 1000;
/// Load runs this long (at most) before the kill, chosen at random.
pub(super) const LONGEST_LOAD_MS: u64 = 1500;
/// A client gives up on a request after this (a hang is a failure, not a lost answer).
pub(super) const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

pub(super) fn server_env() -> Vec<(&'static str, String)> {
    vec![
        ("CONCERT_DEMO", "false".into()),
        ("CONCERT_ADMIN_KEY", ADMIN_KEY.into()),
        ("CONCERT_MAX_ACTIVE", MAX_ACTIVE.to_string()),
        ("CONCERT_MAX_HOLDS_PER_USER", "4".into()),
        // Short enough that holds expire and admissions end within the drill.
        ("CONCERT_HOLD_TTL", "2s".into()),
        ("CONCERT_ACTIVE_TTL", "3s".into()),
        // Long enough that no waiting token is evicted: a lost token is then a bug.
        ("CONCERT_WAITING_IDLE", "10m".into()),
        ("CONCERT_ADMITTED_IDLE", "10m".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

backend_tests! {
    sigkill_under_load_loses_nothing_acknowledged,
}

/// Twenty SIGKILLs under load: nothing acknowledged is lost, `concert check`
/// passes after every kill, and the line keeps its order.
pub(super) async fn sigkill_under_load_loses_nothing_acknowledged(db: TestDb) {
    drill(&db).await;
}

// ---- the drill ----

#[derive(Debug, Default)]
struct Figures {
    pub(super) startups: Vec<Duration>,
    pub(super) loads: Vec<Duration>,
    pub(super) checks: Vec<Duration>,
    pub(super) verified: u64,
    pub(super) replays: u64,
    pub(super) snapshots: u64,
    pub(super) snapshot_tokens: u64,
    pub(super) snapshot_retries: u64,
}

async fn drill(db: &TestDb) {
    let backend = db.store.backend();
    let drill = format!("crash drill ({backend})");
    let seed = Rng::seed(&drill);
    let mut rng = Rng::new(seed);
    let scratch = Scratch::new(&format!("crash-{backend}"));
    let env = server_env();
    let book = Arc::new(Mutex::new(Book::default()));
    let mut users: Vec<User> = (0..USERS)
        .map(|i| User {
            name: format!("drill-{i:02}"),
            rng: Rng::fork(seed, i + 1),
            token: None,
            pending: None,
            charges: 0,
            keys: 0,
            balance: 0,
        })
        .collect();
    let mut sessions = Vec::new();
    let mut concert = 0;
    let mut figures = Figures::default();
    let mut previous_snapshot: Vec<String> = Vec::new();
    let started = Instant::now();

    for kill in 0..=KILLS {
        let log = scratch.path(&format!("server-{kill:02}.log"));
        let server = Server::start(&db.url, &env, &log).await;
        figures.startups.push(server.startup);
        let api = Api::new(&server.base, CLIENT_TIMEOUT);
        if kill == 0 {
            (concert, sessions) = api.add_concert(SEATS, PRICE, SESSIONS).await;
        } else {
            let problems = verify(
                db,
                &api,
                &book,
                &users,
                (concert, &sessions),
                &mut previous_snapshot,
                &mut figures,
            )
            .await;
            assert!(
                problems.is_empty(),
                "{drill}, seed {seed}, after kill {kill}: {problems:#?}\n{}",
                tail(&server.log)
            );
        }
        if kill == KILLS {
            server.kill().await;
            break;
        }

        // Load, then a SIGKILL at a random moment of it.
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Arc::new(Ctx {
            api: api.clone(),
            book: book.clone(),
            sessions: sessions.clone(),
            stop: stop.clone(),
        });
        let tasks: Vec<_> = users
            .drain(..)
            .map(|user| tokio::spawn(run_user(user, ctx.clone())))
            .collect();
        let load_for = Duration::from_millis(rng.between(0, LONGEST_LOAD_MS));
        tokio::time::sleep(load_for).await;
        figures.loads.push(load_for);
        server.kill().await;
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            let user = tokio::time::timeout(CLIENT_TIMEOUT * 2, task)
                .await
                .expect("a user stops once the server is gone")
                .expect("a user task");
            users.push(user);
        }
        {
            let book = book.lock().unwrap();
            assert!(
                book.problems.is_empty(),
                "{drill}, seed {seed}, kill {}: {:#?}",
                kill + 1,
                book.problems
            );
        }

        let (passed, output, took) = concert_check(&db.url, &env).await;
        figures.checks.push(took);
        assert!(
            passed,
            "{drill}, seed {seed}: concert check after kill {}:\n{output}",
            kill + 1
        );
    }

    let (passed, output, took) = concert_check(&db.url, &env).await;
    figures.checks.push(took);
    assert!(
        passed,
        "{drill}, seed {seed}: final concert check:\n{output}"
    );
    report(
        &drill,
        seed,
        &book.lock().unwrap(),
        &figures,
        started.elapsed(),
        output.trim(),
    );
}
