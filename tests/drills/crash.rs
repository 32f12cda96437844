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

/// Kills per backend (the twenty; not sized down).
const KILLS: usize = 20;
/// Simulated users.
const USERS: u64 = 16;
/// Admitted at once: most users wait, so the line has positions to keep.
const MAX_ACTIVE: usize = 4;
/// Seats per session, sessions, price.
const SEATS: u32 = 1000;
const SESSIONS: usize = 2;
const PRICE: i64 = 1000;
/// Load runs this long (at most) before the kill, chosen at random.
const LONGEST_LOAD_MS: u64 = 1500;
/// A client gives up on a request after this (a hang is a failure, not a lost answer).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

fn server_env() -> Vec<(&'static str, String)> {
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
async fn sigkill_under_load_loses_nothing_acknowledged(db: TestDb) {
    drill(&db).await;
}

// ---- what the clients were told ----

#[derive(Debug, Clone)]
struct Hold {
    id: i64,
    session: i64,
    seat: i64,
    user: String,
}

#[derive(Debug, Clone)]
struct Paid {
    user: String,
    token: String,
    key: String,
    reservation: i64,
    body: Value,
}

#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    ok: u64,
    refused: u64,
    unavailable: u64,
    lost: u64,
}

/// Every acknowledged write, and every problem the clients saw.
#[derive(Debug, Default)]
struct Book {
    tokens: Vec<(String, String)>,
    admitted: HashSet<String>,
    holds: Vec<Hold>,
    charges: BTreeMap<String, Vec<i64>>,
    payments: Vec<Paid>,
    /// Payments acknowledged since the last restart: replayed after the next one.
    to_replay: Vec<Paid>,
    /// Each waiting token's last position seen.
    last_position: HashMap<String, i64>,
    position_checks: u64,
    problems: Vec<String>,
    stats: Stats,
}

impl Book {
    fn count(&mut self, answer: &Answer) {
        self.stats.requests += 1;
        match answer.status() {
            Some(200..=299) => self.stats.ok += 1,
            Some(503) => self.stats.unavailable += 1,
            Some(_) => self.stats.refused += 1,
            None => self.stats.lost += 1,
        }
    }

    /// Flags an answer outside `allowed` (a 503 and a lost request are always
    /// allowed: the server is being killed), and any error outside the contract's shape.
    fn expect(&mut self, what: &str, answer: &Answer, allowed: &[u16]) {
        self.count(answer);
        if let Answer::Lost {
            timed_out: true,
            error,
            ..
        } = answer
        {
            self.problems.push(format!(
                "{what}: no answer within {CLIENT_TIMEOUT:?}: {error}"
            ));
        }
        let Answer::Http { status, body, .. } = answer else {
            return;
        };
        if *status >= 400 && !contract_error(*status, body) {
            self.problems.push(format!(
                "{what}: {status} not in the contract's shape: {body}"
            ));
        }
        if *status != 503 && !allowed.contains(status) {
            self.problems
                .push(format!("{what}: unexpected {status}: {body}"));
        }
    }

    /// A queue answer for `user`: its token is acknowledged; its position must not
    /// have grown since the last one seen.
    fn observe(&mut self, user: &str, body: &Value) -> Option<(String, bool)> {
        let token = token_of(body)?;
        if body["userId"] != user {
            self.problems.push(format!(
                "a queue answer for {user} names another user: {body}"
            ));
        }
        let (admitted, position) = queue_state(body);
        if admitted {
            self.admitted.insert(token.clone());
            self.last_position.remove(&token);
        } else {
            self.position_checks += 1;
            if let Some(&last) = self.last_position.get(&token)
                && position > last
            {
                self.problems.push(format!(
                    "{user}'s waiting token went from position {last} to {position}"
                ));
            }
            self.last_position.insert(token.clone(), position);
        }
        Some((token, admitted))
    }
}

// ---- the simulated users ----

struct User {
    name: String,
    rng: Rng,
    token: Option<String>,
    /// A payment whose answer was lost: (reservation, key, token), retried with the key.
    pending: Option<(i64, String, String)>,
    charges: i64,
    keys: u64,
    balance: i64,
}

struct Ctx {
    api: Api,
    book: Arc<Mutex<Book>>,
    sessions: Vec<i64>,
    stop: Arc<AtomicBool>,
}

impl Ctx {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().expect("the book")
    }
}

async fn run_user(mut user: User, ctx: Arc<Ctx>) -> User {
    while !ctx.stop.load(Ordering::SeqCst) {
        step(&mut user, &ctx).await;
        let pause = user.rng.between(5, 40);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    user
}

async fn step(user: &mut User, ctx: &Ctx) {
    if let Some((reservation, key, token)) = user.pending.clone() {
        let answer = ctx.api.pay(&token, reservation, &key).await;
        let mut book = ctx.book();
        // A retry with the key: the first payment's answer if it committed, else a
        // payment now, or a refusal of this token or hold. Never a second payment.
        book.expect("payment retry", &answer, &[200, 401, 402, 403, 410]);
        match answer.status() {
            Some(200) => {
                let body = answer.ok().cloned().unwrap_or_default();
                user.balance = body["balance"].as_i64().unwrap_or(0);
                record_payment(&mut book, &user.name, &token, &key, reservation, body);
                user.pending = None;
            }
            Some(503) | None => {}
            Some(_) => user.pending = None,
        }
        return;
    }

    let Some(token) = user.token.clone() else {
        let answer = ctx.api.join(&user.name).await;
        let mut book = ctx.book();
        book.expect("join", &answer, &[200]);
        if let Some(body) = answer.ok()
            && let Some((token, _)) = book.observe(&user.name, body)
        {
            book.tokens.push((user.name.clone(), token.clone()));
            user.token = Some(token);
        }
        return;
    };

    let answer = ctx.api.poll(&token).await;
    let admitted = {
        let mut book = ctx.book();
        book.expect("poll", &answer, &[200]);
        let Some(body) = answer.ok() else { return };
        let Some((current, admitted)) = book.observe(&user.name, body) else {
            return;
        };
        if current != token {
            // The old token ended (admission over): a new one was issued at the back.
            book.tokens.push((user.name.clone(), current.clone()));
            user.token = Some(current);
        }
        admitted
    };
    let token = user.token.clone().unwrap_or(token);
    if admitted {
        admitted_step(user, ctx, &token).await;
    } else if user.rng.chance(0.15) {
        charge(user, ctx, &token).await;
    }
}

async fn charge(user: &mut User, ctx: &Ctx, token: &str) {
    // Unique per user, so that each acknowledged charge can be found in the ledger.
    user.charges += 1;
    let amount = 3000 + user.charges;
    let answer = ctx.api.charge(token, amount).await;
    let mut book = ctx.book();
    book.expect("charge", &answer, &[200, 403]);
    if let Some(body) = answer.ok() {
        user.balance = body["balance"].as_i64().unwrap_or(0);
        book.charges
            .entry(user.name.clone())
            .or_default()
            .push(amount);
    }
}

async fn admitted_step(user: &mut User, ctx: &Ctx, token: &str) {
    if user.balance < PRICE {
        charge(user, ctx, token).await;
        return;
    }
    let session = ctx.sessions[user.rng.between(0, ctx.sessions.len() as u64 - 1) as usize];
    let seat = user.rng.between(1, SEATS.into()) as i64;
    let answer = ctx.api.hold(token, session, seat).await;
    let reservation = {
        let mut book = ctx.book();
        // 401: the admission ran out meanwhile; 409: taken, or the hold limit.
        book.expect("hold", &answer, &[201, 401, 409]);
        let Some(body) = answer.ok() else { return };
        let Some(id) = body["reservationId"].as_i64() else {
            book.problems.push(format!("a hold without an id: {body}"));
            return;
        };
        book.holds.push(Hold {
            id,
            session,
            seat,
            user: user.name.clone(),
        });
        id
    };
    if !user.rng.chance(0.7) {
        return; // left to expire
    }
    user.keys += 1;
    let key = format!("{}-pay-{}", user.name, user.keys);
    let answer = ctx.api.pay(token, reservation, &key).await;
    let mut book = ctx.book();
    book.expect("payment", &answer, &[200, 401, 402, 410]);
    match answer.status() {
        Some(200) => {
            let body = answer.ok().cloned().unwrap_or_default();
            user.balance = body["balance"].as_i64().unwrap_or(0);
            record_payment(&mut book, &user.name, token, &key, reservation, body);
        }
        Some(402) => user.balance = 0,
        Some(503) | None => user.pending = Some((reservation, key, token.to_owned())),
        _ => {}
    }
}

fn record_payment(
    book: &mut Book,
    user: &str,
    token: &str,
    key: &str,
    reservation: i64,
    body: Value,
) {
    if body["reservationId"] != reservation {
        book.problems.push(format!(
            "payment of {reservation} answered for another: {body}"
        ));
    }
    let paid = Paid {
        user: user.to_owned(),
        token: token.to_owned(),
        key: key.to_owned(),
        reservation,
        body,
    };
    book.payments.push(paid.clone());
    book.to_replay.push(paid);
}

// ---- the drill ----

#[derive(Debug, Default)]
struct Figures {
    startups: Vec<Duration>,
    loads: Vec<Duration>,
    checks: Vec<Duration>,
    verified: u64,
    replays: u64,
    snapshots: u64,
    snapshot_tokens: u64,
    snapshot_retries: u64,
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

/// Everything a restarted server must still know; the problems found.
async fn verify(
    db: &TestDb,
    api: &Api,
    book: &Mutex<Book>,
    users: &[User],
    (concert, sessions): (i64, &[i64]),
    previous_snapshot: &mut Vec<String>,
    figures: &mut Figures,
) -> Vec<String> {
    let (tokens, admitted, holds, charges, payments, replays) = {
        let mut book = book.lock().unwrap();
        let replays = std::mem::take(&mut book.to_replay);
        (
            book.tokens.clone(),
            book.admitted.clone(),
            book.holds.clone(),
            book.charges.clone(),
            book.payments.clone(),
            replays,
        )
    };
    let store = &db.store;
    let mut problems = Vec::new();

    // Tokens, and the admissions clients were told of.
    for (user, token) in &tokens {
        let parsed = QueueToken::parse(token).expect("a token the server issued");
        match store.token(parsed).await.expect("read a token") {
            None => problems.push(format!("token of {user} acknowledged but not stored")),
            Some(row) => {
                if row.user_id.as_str() != user {
                    problems.push(format!("token of {user} stored for {}", row.user_id));
                }
                if row.state == TokenState::Evicted {
                    problems.push(format!("token #{} of {user} was evicted", row.seq));
                }
                let ever_admitted = matches!(row.state, TokenState::Admitted | TokenState::Expired);
                if admitted.contains(token) && !(ever_admitted && row.admitted_at.is_some()) {
                    problems.push(format!(
                        "token #{} of {user} was answered admitted but is stored {:?}",
                        row.seq, row.state
                    ));
                }
            }
        }
    }

    // Holds, whatever became of them.
    for hold in &holds {
        match store
            .reservation(ReservationId(hold.id))
            .await
            .expect("read a reservation")
        {
            Some(row)
                if row.session_id.0 == hold.session
                    && i64::from(row.seat_number.0) == hold.seat
                    && row.user_id.as_str() == hold.user => {}
            other => problems.push(format!("hold {hold:?} acknowledged; stored: {other:?}")),
        }
    }

    // Payments: the same payment, and the reservation sold.
    for paid in &payments {
        let reservation = ReservationId(paid.reservation);
        let row = store
            .payment_for_reservation(reservation)
            .await
            .expect("read a payment");
        let same = row.as_ref().is_some_and(|row| {
            paid.body["paymentId"] == row.id.0
                && paid.body["amount"] == row.amount.0
                && paid.body["balance"] == row.balance_after.0
                && row.idempotency_key.as_ref().map(|k| k.as_str()) == Some(paid.key.as_str())
        });
        if !same {
            problems.push(format!(
                "payment {} acknowledged; stored: {row:?}",
                paid.body
            ));
        }
        let status = store
            .reservation(reservation)
            .await
            .expect("read a reservation")
            .map(|r| r.status);
        if status != Some(ReservationStatus::Paid) {
            problems.push(format!(
                "reservation {} paid but stored {status:?}",
                paid.reservation
            ));
        }
    }

    // Charges: each acknowledged amount once in the user's ledger (amounts are unique).
    problems.extend(charges_missing_from_the_ledger(db, &charges).await);
    figures.verified += (tokens.len()
        + holds.len()
        + payments.len()
        + charges.values().map(Vec::len).sum::<usize>()) as u64;

    // A payment acknowledged before the crash, retried with its key: the same answer.
    for paid in &replays {
        let answer = api.pay(&paid.token, paid.reservation, &paid.key).await;
        figures.replays += 1;
        if answer.ok() != Some(&paid.body) {
            problems.push(format!(
                "replay of {}'s payment with key {}: {answer:?}, first answer {}",
                paid.user, paid.key, paid.body
            ));
        }
    }

    // The concert and sessions the admin routes created (answered 201).
    let listed = api.sessions(concert).await;
    let ids: Vec<i64> = listed
        .ok()
        .and_then(|b| b["sessions"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["sessionId"].as_i64())
        .collect();
    if ids != sessions {
        problems.push(format!(
            "concert {concert} lists {listed:?}, created {sessions:?}"
        ));
    }

    // The seat maps agree with the store.
    for &session in sessions {
        let live = store
            .live_reservations(SessionId(session))
            .await
            .expect("read live reservations");
        let answer = api.seats(session).await;
        let Some(list) = answer.ok().and_then(|b| b["seatList"].as_array().cloned()) else {
            problems.push(format!("seats of {session}: {answer:?}"));
            continue;
        };
        let taken: Vec<bool> = list
            .iter()
            .map(|s| s["isReservation"].as_bool().unwrap_or(false))
            .collect();
        let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
        let mut live_seats = HashSet::new();
        for row in &live {
            let seat = row.seat_number.0 as usize;
            live_seats.insert(seat);
            let must_be_taken = row.status == ReservationStatus::Paid || row.expires_at > soon;
            if must_be_taken && !taken.get(seat - 1).copied().unwrap_or(false) {
                problems.push(format!(
                    "session {session} seat {seat} is {:?} in the store but shown free",
                    row.status
                ));
            }
        }
        for (index, &is_taken) in taken.iter().enumerate() {
            if is_taken && !live_seats.contains(&(index + 1)) {
                problems.push(format!(
                    "session {session} seat {} is shown taken but has no live reservation",
                    index + 1
                ));
            }
        }
    }

    // Balances: what a user is shown is the store's ledger sum.
    for user in users {
        let Some(token) = &user.token else { continue };
        let answer = api.balance(token).await;
        let Some(shown) = answer.ok().and_then(|b| b["balance"].as_i64()) else {
            continue; // the token's admission ended: no balance for it
        };
        let stored = query_i64(
            db,
            &format!(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger \
                 WHERE user_id = '{}'",
                user.name
            ),
        )
        .await
        .expect("sum a ledger");
        if shown != stored {
            problems.push(format!(
                "{} is shown {shown} points; the ledger holds {stored}",
                user.name
            ));
        }
    }

    problems.extend(snapshot(db, api, book, users, previous_snapshot, figures).await);
    problems
}

/// Polls every waiting user's token twice in a row until both passes agree (nothing
/// was admitted meanwhile), then checks the line: positions distinct, in the order
/// of issue (`seq`), and in the same relative order as the previous snapshot.
async fn snapshot(
    db: &TestDb,
    api: &Api,
    book: &Mutex<Book>,
    users: &[User],
    previous: &mut Vec<String>,
    figures: &mut Figures,
) -> Vec<String> {
    let waiting: Vec<(&str, String)> = {
        let book = book.lock().unwrap();
        users
            .iter()
            .filter_map(|u| Some((u.name.as_str(), u.token.clone()?)))
            .filter(|(_, token)| book.last_position.contains_key(token))
            .collect()
    };
    let mut problems = Vec::new();
    let mut agreed = None;
    for _ in 0..10 {
        let mut passes = Vec::new();
        for _ in 0..2 {
            let mut pass = Vec::new();
            for (user, token) in &waiting {
                let answer = api.poll(token).await;
                let mut book = book.lock().unwrap();
                book.expect("snapshot poll", &answer, &[200]);
                if let Some(body) = answer.ok()
                    && let Some((current, admitted)) = book.observe(user, body)
                {
                    if current != *token {
                        book.tokens.push(((*user).to_owned(), current.clone()));
                    }
                    pass.push((
                        token.clone(),
                        current == *token && !admitted,
                        queue_state(body).1,
                    ));
                }
            }
            passes.push(pass);
        }
        if passes[0] == passes[1] {
            agreed = passes.pop();
            break;
        }
        figures.snapshot_retries += 1;
    }
    problems.extend(std::mem::take(&mut book.lock().unwrap().problems));
    let Some(pass) = agreed else {
        return problems; // the line kept moving; the per-poll checks still ran
    };
    let mut line: Vec<(i64, String)> = pass
        .into_iter()
        .filter(|(_, still_waiting, _)| *still_waiting)
        .map(|(token, _, position)| (position, token))
        .collect();
    line.sort();
    figures.snapshots += 1;
    figures.snapshot_tokens += line.len() as u64;
    if line.windows(2).any(|w| w[0].0 == w[1].0) {
        problems.push(format!("two waiting tokens share a position: {line:?}"));
    }
    let mut last_seq = i64::MIN;
    for (position, token) in &line {
        let row = db
            .store
            .token(QueueToken::parse(token).unwrap())
            .await
            .expect("read a token");
        let seq = row.map_or(i64::MAX, |r| r.seq);
        if seq <= last_seq {
            problems.push(format!(
                "the line is not in issue order: the token at position {position} has seq \
                 {seq}, the one before it {last_seq}"
            ));
        }
        last_seq = seq;
    }
    let now: Vec<String> = line.into_iter().map(|(_, token)| token).collect();
    let kept: Vec<&String> = previous.iter().filter(|t| now.contains(t)).collect();
    let in_now: Vec<&String> = now.iter().filter(|t| previous.contains(t)).collect();
    if kept != in_now {
        problems.push("waiting tokens changed their relative order across the restart".into());
    }
    *previous = now;
    problems
}

fn report(drill: &str, seed: u64, book: &Book, f: &Figures, took: Duration, check: &str) {
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let avg = |v: &[Duration]| v.iter().sum::<Duration>() / (v.len().max(1) as u32);
    let s = &book.stats;
    let charges: usize = book.charges.values().map(Vec::len).sum();
    say(format!(
        "{drill}: seed {seed}: {KILLS} SIGKILLs in {:.1} s; {} requests: {} 2xx, {} 4xx, \
         {} 503, {} lost to kills; acknowledged: {} tokens, {} admissions, {} holds, {charges} \
         charges, {} payments; {} acknowledged writes re-verified after restarts, {} payments \
         replayed by key; {} positions checked, {} line snapshots ({} tokens, {} retried); \
         restart to /health avg {} max {}; load before kill avg {}; concert check avg {} max {}; \
         final check: {check}",
        took.as_secs_f64(),
        s.requests,
        s.ok,
        s.refused,
        s.unavailable,
        s.lost,
        book.tokens.len(),
        book.admitted.len(),
        book.holds.len(),
        book.payments.len(),
        f.verified,
        f.replays,
        book.position_checks,
        f.snapshots,
        f.snapshot_tokens,
        f.snapshot_retries,
        ms(avg(&f.startups)),
        ms(max(&f.startups)),
        ms(avg(&f.loads)),
        ms(avg(&f.checks)),
        ms(max(&f.checks)),
    ));
}
