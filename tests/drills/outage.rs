//! The database outage drill (Postgres only): the server reaches Postgres through a
//! proxy ([`crate::proxy`]) that takes the database away for ten seconds under load.
//!
//! Proves, with the server's request timeout at 6 s and its call timeout at 2 s:
//! - every request is answered within the request timeout: no hang, no 500, no panic;
//!   every error (the 503s above all) has the contract's shape;
//! - requests that need the database fail with 503 while it is away;
//! - once it is back, the server recovers by itself (a fresh user can join and
//!   charge) within a bounded time, and the load is served again;
//! - nothing is half-written (`concert check` passes), every acknowledged write is in
//!   the store, and the actors agree with the store: every seat shown free can be
//!   held, every seat shown taken cannot, each balance shown is the store's, each
//!   token's admission is the store's.
//!
//! Why one file of ~600 lines: the two failures (a cut, a flapping link) run one drill
//! whose load, bookkeeping and checks are read together; the proxy is in `proxy.rs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actors::domain::{ReservationId, SessionId};
use actors::store::{ReservationStatus, TokenState};
use actors::testkit::{self, TestDb, query_i64};
use serde_json::Value;

use crate::proxy::{Mode, Proxy};
use crate::support::{
    ADMIN_KEY, Answer, Api, Rng, Scratch, Server, charges_missing_from_the_ledger, concert_check,
    contract_error, ms, queue_state, say, tail, token_of,
};

const USERS: u64 = 12;
const SEATS: u32 = 300;
const PRICE: i64 = 100;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(6);
const OUTAGE: Duration = Duration::from_secs(10);
/// Load before the outage, and after recovery.
const CALM: Duration = Duration::from_secs(3);
/// The service must be back this long after the database is.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// One flap of [`Failure::LostCommitReplies`]: a commit's reply lost, then down, then up.
const LOSING_REPLIES: Duration = Duration::from_millis(100);
const FLAP_DOWN: Duration = Duration::from_millis(1200);
const FLAP_UP: Duration = Duration::from_millis(500);
/// Past the request timeout, a client calls it a hang.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(12);

fn server_env() -> Vec<(&'static str, String)> {
    vec![
        ("CONCERT_DEMO", "false".into()),
        ("CONCERT_ADMIN_KEY", ADMIN_KEY.into()),
        // Everyone admitted at once, holds and admissions outlast the drill, so the
        // seat map and the tokens can be compared with the store exactly.
        ("CONCERT_MAX_ACTIVE", "1000".into()),
        ("CONCERT_MAX_HOLDS_PER_USER", "1000".into()),
        ("CONCERT_HOLD_TTL", "10m".into()),
        ("CONCERT_ACTIVE_TTL", "10m".into()),
        ("CONCERT_WAITING_IDLE", "10m".into()),
        ("CONCERT_ADMITTED_IDLE", "10m".into()),
        (
            "CONCERT_REQUEST_TIMEOUT",
            format!("{}s", REQUEST_TIMEOUT.as_secs()),
        ),
        ("CONCERT_CALL_TIMEOUT", "2s".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

/// When a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Before = 0,
    Outage = 1,
    After = 2,
}

#[derive(Debug)]
struct Sample {
    phase: Phase,
    route: &'static str,
    sent: Instant,
    answer: Answer,
}

#[derive(Debug, Default)]
struct Acked {
    holds: Vec<(i64, String)>,
    charges: BTreeMap<String, Vec<i64>>,
    payments: Vec<(i64, Value)>,
}

struct Load {
    api: Api,
    phase: AtomicU8,
    stop: AtomicBool,
    samples: Mutex<Vec<Sample>>,
    acked: Mutex<Acked>,
    session: i64,
}

impl Load {
    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::SeqCst) {
            0 => Phase::Before,
            1 => Phase::Outage,
            _ => Phase::After,
        }
    }

    fn record(&self, phase: Phase, route: &'static str, answer: &Answer) {
        self.samples.lock().unwrap().push(Sample {
            phase,
            route,
            sent: Instant::now() - answer.elapsed(),
            answer: answer.clone(),
        });
    }
}

struct User {
    name: String,
    token: String,
    rng: Rng,
    charges: i64,
    keys: u64,
}

/// How the database goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Connections cut and refused for the whole outage.
    Cut,
    /// A flapping link that fails right after a commit: again and again, a `COMMIT`
    /// reaches Postgres but its reply is lost, then connections are cut and refused
    /// for a while, then the link is back for a moment.
    LostCommitReplies,
}

/// Postgres unreachable for ten seconds under load: fast 503s, a clean database, the
/// actors in agreement with the store, and recovery on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_for_ten_seconds_under_load() {
    drill(Failure::Cut).await;
}

/// The same with a link that flaps for ten seconds, each time losing the reply to a
/// `COMMIT` that Postgres carried out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_whose_reply_is_lost_on_a_flapping_link() {
    drill(Failure::LostCommitReplies).await;
}

async fn drill(failure: Failure) {
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let drill = format!("outage drill, {failure:?} (postgres)");
    let seed = Rng::seed(&drill);
    let scratch = Scratch::new("outage");
    let env = server_env();
    let target = reqwest::Url::parse(&db.url).expect("a Postgres URL");
    let proxy = Proxy::start(format!(
        "{}:{}",
        target.host_str().unwrap_or("127.0.0.1"),
        target.port().unwrap_or(5432)
    ))
    .await;
    let mut via_proxy = target.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();

    let mut server = Server::start(via_proxy.as_str(), &env, &scratch.path("server.log")).await;
    let api = Api::new(&server.base, CLIENT_TIMEOUT);
    let (_, sessions) = api.add_concert(SEATS, PRICE, 1).await;
    let session = sessions[0];

    let mut users = Vec::new();
    for i in 0..USERS {
        let name = format!("outage-{i:02}");
        let answer = api.join(&name).await;
        let body = answer
            .ok()
            .unwrap_or_else(|| panic!("join {name}: {answer:?}"));
        assert!(queue_state(body).0, "everyone is admitted at once: {body}");
        users.push(User {
            token: token_of(body).unwrap(),
            name,
            rng: Rng::fork(seed, i + 1),
            charges: 0,
            keys: 0,
        });
    }

    let load = Arc::new(Load {
        api: api.clone(),
        phase: AtomicU8::new(Phase::Before as u8),
        stop: AtomicBool::new(false),
        samples: Mutex::new(Vec::new()),
        acked: Mutex::new(Acked::default()),
        session,
    });
    let workers: Vec<_> = users
        .into_iter()
        .map(|user| tokio::spawn(work(user, load.clone())))
        .collect();

    // Calm, then the outage, then the database back.
    tokio::time::sleep(CALM).await;
    load.phase.store(Phase::Outage as u8, Ordering::SeqCst);
    let outage_started = Instant::now();
    match failure {
        Failure::Cut => {
            proxy.set(Mode::Down);
            tokio::time::sleep(OUTAGE).await;
        }
        Failure::LostCommitReplies => {
            while outage_started.elapsed() < OUTAGE {
                let lost = proxy.lost_commits.load(Ordering::SeqCst);
                proxy.set(Mode::LoseCommitReplies);
                let armed = Instant::now();
                while proxy.lost_commits.load(Ordering::SeqCst) == lost
                    && armed.elapsed() < Duration::from_secs(2)
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                // Let the swallowed commit's caller wait on its reply a moment.
                tokio::time::sleep(LOSING_REPLIES).await;
                proxy.set(Mode::Down);
                tokio::time::sleep(FLAP_DOWN).await;
                proxy.set(Mode::Up);
                tokio::time::sleep(FLAP_UP).await;
            }
        }
    }
    load.phase.store(Phase::After as u8, Ordering::SeqCst);
    proxy.set(Mode::Up);
    let restored = Instant::now();
    let outage = outage_started.elapsed();

    // Recovery: a fresh user can join and charge (a token insert and a ledger write).
    let mut probes = 0;
    let recovery = loop {
        probes += 1;
        let answer = api.join(&format!("probe-{probes}")).await;
        let charged = match answer.ok().and_then(token_of) {
            Some(token) => api.charge(&token, 1).await.ok().is_some(),
            None => false,
        };
        if charged {
            break restored.elapsed();
        }
        assert!(
            restored.elapsed() < RECOVERY_BOUND,
            "{drill}, seed {seed}: not recovered {RECOVERY_BOUND:?} after the database came back; \
             last answer {answer:?}\n{}",
            tail(&server.log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(CALM).await;
    load.stop.store(true, Ordering::SeqCst);
    let mut users = Vec::new();
    for worker in workers {
        users.push(
            tokio::time::timeout(CLIENT_TIMEOUT * 2, worker)
                .await
                .expect("a worker stops")
                .expect("a worker"),
        );
    }
    assert!(
        server.exited().is_none(),
        "the server died: {}",
        tail(&server.log)
    );

    let samples = std::mem::take(&mut *load.samples.lock().unwrap());
    let mut problems = answers(&samples, restored + recovery);
    let (passed, check, _) = concert_check(&db.url, &env).await;
    if !passed {
        problems.push(format!("concert check after the outage:\n{check}"));
    }
    let acked = std::mem::take(&mut *load.acked.lock().unwrap());
    problems.extend(acknowledged(&db, &acked).await);
    problems.extend(agreement(&db, &api, session, &users).await);
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    if log.contains("panicked") {
        problems.push("the server log shows a panic".into());
    }
    assert!(
        problems.is_empty(),
        "{drill}, seed {seed}: {problems:#?}\n{}",
        tail(&server.log)
    );

    let count = |phase: Phase, pred: &dyn Fn(&Answer) -> bool| {
        samples
            .iter()
            .filter(|s| s.phase == phase && pred(&s.answer))
            .count()
    };
    let during_503: Vec<Duration> = samples
        .iter()
        .filter(|s| s.phase == Phase::Outage && s.answer.status() == Some(503))
        .map(|s| s.answer.elapsed())
        .collect();
    let slowest = samples
        .iter()
        .map(|s| s.answer.elapsed())
        .max()
        .unwrap_or_default();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.answer.status() == Some(503)) {
        let code = s
            .answer
            .body()
            .map_or("?".into(), |b| b["error"].to_string());
        *codes.entry(code).or_default() += 1;
    }
    say(format!(
        "{drill}: seed {seed}: database away {:.1} s ({} connections cut, {} refused, {} commit \
         replies lost); {} requests: before {} ({} 2xx), during {} ({} 2xx, {} 503), after {} ({} \
         2xx, {} 503); 503 codes {codes:?}; 503 latency during the outage median {} max {}; \
         slowest answer {}; recovered {} after the database returned ({probes} probes); \
         final check: {}",
        outage.as_secs_f64(),
        proxy.cut.load(Ordering::SeqCst),
        proxy.refused.load(Ordering::SeqCst),
        proxy.lost_commits.load(Ordering::SeqCst),
        samples.len(),
        count(Phase::Before, &|_| true),
        count(Phase::Before, &|a| a.ok().is_some()),
        count(Phase::Outage, &|_| true),
        count(Phase::Outage, &|a| a.ok().is_some()),
        count(Phase::Outage, &|a| a.status() == Some(503)),
        count(Phase::After, &|_| true),
        count(Phase::After, &|a| a.ok().is_some()),
        count(Phase::After, &|a| a.status() == Some(503)),
        ms(median(during_503.clone())),
        ms(during_503.iter().max().copied().unwrap_or_default()),
        ms(slowest),
        ms(recovery),
        check.trim(),
    ));
    server.kill().await;
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

/// One user's load: a mix of every route, each answer recorded with its phase.
async fn work(mut user: User, load: Arc<Load>) -> User {
    while !load.stop.load(Ordering::SeqCst) {
        let phase = load.phase();
        let roll = user.rng.between(0, 99);
        let api = &load.api;
        match roll {
            0..=14 => {
                let answer = api.poll(&user.token).await;
                load.record(phase, "poll", &answer);
            }
            15..=39 => {
                user.charges += 1;
                let amount = 1000 + user.charges;
                let answer = api.charge(&user.token, amount).await;
                load.record(phase, "charge", &answer);
                if answer.ok().is_some() {
                    let mut acked = load.acked.lock().unwrap();
                    acked
                        .charges
                        .entry(user.name.clone())
                        .or_default()
                        .push(amount);
                }
            }
            40..=69 => {
                let seat = user.rng.between(1, SEATS.into()) as i64;
                let answer = api.hold(&user.token, load.session, seat).await;
                load.record(phase, "hold", &answer);
                let id = answer.ok().and_then(|b| b["reservationId"].as_i64());
                if let Some(id) = id {
                    load.acked
                        .lock()
                        .unwrap()
                        .holds
                        .push((id, user.name.clone()));
                    if user.rng.chance(0.5) {
                        user.keys += 1;
                        let key = format!("{}-{}", user.name, user.keys);
                        let phase = load.phase();
                        let answer = api.pay(&user.token, id, &key).await;
                        load.record(phase, "pay", &answer);
                        if let Some(body) = answer.ok() {
                            load.acked.lock().unwrap().payments.push((id, body.clone()));
                            // The payment ended this token's admission: take a new place
                            // (everyone is admitted at once).
                            let again = api.join(&user.name).await;
                            load.record(load.phase(), "join", &again);
                            if let Some(token) = again.ok().and_then(token_of) {
                                user.token = token;
                            }
                        }
                    }
                }
            }
            70..=84 => {
                let answer = api.balance(&user.token).await;
                load.record(phase, "balance", &answer);
            }
            _ => {
                let answer = api.seats(load.session).await;
                load.record(phase, "seats", &answer);
            }
        }
        // A token whose answer was lost may have ended; a poll finds the live one.
        if user.rng.chance(0.05) {
            let answer = api.join(&user.name).await;
            load.record(load.phase(), "join", &answer);
            if let Some(token) = answer.ok().and_then(token_of) {
                user.token = token;
            }
        }
        let pause = user.rng.between(10, 50);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    user
}

/// Every answer: in time, in the contract's shape, no 5xx but 503, 503s while the
/// database was away, and none for a request sent once the service had recovered.
fn answers(samples: &[Sample], recovered: Instant) -> Vec<String> {
    let mut problems = Vec::new();
    let mut outage_503 = 0;
    for s in samples {
        match &s.answer {
            Answer::Lost { error, elapsed, .. } => problems.push(format!(
                "{} ({:?}): no answer after {}: {error}",
                s.route,
                s.phase,
                ms(*elapsed)
            )),
            Answer::Http {
                status,
                body,
                elapsed,
            } => {
                if *elapsed > REQUEST_TIMEOUT + Duration::from_secs(1) {
                    problems.push(format!(
                        "{} ({:?}): answered {status} after {}, past the request timeout",
                        s.route,
                        s.phase,
                        ms(*elapsed)
                    ));
                }
                if *status >= 500 && *status != 503 {
                    problems.push(format!("{} ({:?}): {status}: {body}", s.route, s.phase));
                }
                if *status >= 400 && !contract_error(*status, body) {
                    problems.push(format!(
                        "{} ({:?}): {status} not in the contract's shape: {body}",
                        s.route, s.phase
                    ));
                }
                if *status == 503 && s.phase == Phase::Outage {
                    outage_503 += 1;
                }
                if *status == 503 && s.sent > recovered {
                    problems.push(format!(
                        "{}: 503 for a request sent after recovery: {body}",
                        s.route
                    ));
                }
            }
        }
    }
    if outage_503 == 0 {
        problems.push("no request failed while the database was away".into());
    }
    problems
}

/// Every acknowledged hold, charge and payment is in the store.
async fn acknowledged(db: &TestDb, acked: &Acked) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, user) in &acked.holds {
        let row = db
            .store
            .reservation(ReservationId(*id))
            .await
            .expect("read a hold");
        if row.as_ref().is_none_or(|r| r.user_id.as_str() != user) {
            problems.push(format!("hold {id} of {user} acknowledged; stored {row:?}"));
        }
    }
    for (reservation, body) in &acked.payments {
        let row = db
            .store
            .payment_for_reservation(ReservationId(*reservation))
            .await
            .expect("read a payment");
        if row.as_ref().is_none_or(|p| body["paymentId"] != p.id.0) {
            problems.push(format!("payment {body} acknowledged; stored {row:?}"));
        }
    }
    problems.extend(charges_missing_from_the_ledger(db, &acked.charges).await);
    problems
}

/// The actors agree with the store: seats (shown and tried), balances, admissions.
async fn agreement(db: &TestDb, api: &Api, session: i64, users: &[User]) -> Vec<String> {
    let mut problems = Vec::new();

    // The seat map, as shown, against the store's live reservations.
    let live: HashMap<usize, ReservationStatus> = db
        .store
        .live_reservations(SessionId(session))
        .await
        .expect("read live reservations")
        .into_iter()
        .map(|r| (r.seat_number.0 as usize, r.status))
        .collect();
    let answer = api.seats(session).await;
    let shown: Vec<bool> = answer
        .ok()
        .and_then(|b| b["seatList"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|s| s["isReservation"].as_bool().unwrap_or(false))
        .collect();
    if shown.len() != SEATS as usize {
        problems.push(format!("the seat list after recovery: {answer:?}"));
        return problems;
    }
    for (index, &taken) in shown.iter().enumerate() {
        let seat = index + 1;
        if taken != live.contains_key(&seat) {
            problems.push(format!(
                "seat {seat}: shown {}, stored {:?}",
                if taken { "taken" } else { "free" },
                live.get(&seat)
            ));
        }
    }

    // Tried: every seat shown free can be held, every seat shown taken cannot.
    let probe = api.join("outage-seat-probe").await;
    let Some(token) = probe.ok().and_then(token_of) else {
        problems.push(format!(
            "a probe user cannot join after recovery: {probe:?}"
        ));
        return problems;
    };
    for (index, &taken) in shown.iter().enumerate() {
        let seat = index as i64 + 1;
        let answer = api.hold(&token, session, seat).await;
        let expected = if taken { 409 } else { 201 };
        if answer.status() != Some(expected) {
            problems.push(format!(
                "seat {seat} shown {}: a hold answered {answer:?}",
                if taken { "taken" } else { "free" }
            ));
        }
    }

    // Balances and admissions: what each user is shown is what the store holds.
    for user in users {
        let stored = query_i64(
            db,
            &format!(
                "SELECT CAST(COALESCE((SELECT balance FROM wallets WHERE user_id = '{}'), 0) \
                 AS BIGINT)",
                user.name
            ),
        )
        .await
        .expect("read a balance");
        let joined = api.join(&user.name).await;
        let Some(body) = joined.ok() else {
            problems.push(format!(
                "{} cannot take a place after recovery: {joined:?}",
                user.name
            ));
            continue;
        };
        let token = token_of(body).unwrap_or_default();
        let row = db
            .store
            .token(actors::domain::QueueToken::parse(&token).expect("a token"))
            .await
            .expect("read a token");
        let admitted_in_store = row.as_ref().map(|r| r.state) == Some(TokenState::Admitted);
        if queue_state(body).0 != admitted_in_store {
            problems.push(format!(
                "{}'s token is shown {body}, stored {row:?}",
                user.name
            ));
        }
        let balance = api.balance(&token).await;
        match balance.ok().and_then(|b| b["balance"].as_i64()) {
            Some(shown) if shown == stored => {}
            _ => problems.push(format!(
                "{} is shown {balance:?}; the store holds {stored}",
                user.name
            )),
        }
    }
    problems
}
