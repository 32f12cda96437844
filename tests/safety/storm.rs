//! The on-sale minute: 10,000 hold requests from 1,000 admitted users on the 50 seats of
//! one session. Exactly 50 are held, no seat twice, and every other request is told the
//! seat is taken, in the contract's words.

use std::collections::BTreeSet;
use std::time::Instant;

use actors::backend_tests;
use actors::testkit::TestDb;

use concert_client::routes;

use crate::helpers::{AppOptions, msg, spawn_app_with};
use crate::invariants::{self, count};
use crate::support::{self, Answer, error_body};

const USERS: usize = 1_000;
const REQUESTS: usize = 10_000;
const SEATS: i64 = 50;
/// Requests in flight at once (and connections open).
const IN_FLIGHT: usize = 256;

/// The seat request `i` asks for: each user asks for 10 different seats, and each seat is
/// asked for 200 times, spread over the whole run.
fn seat_of(i: usize) -> i64 {
    ((i / USERS * 13 + i * 37) % SEATS as usize) as i64 + 1
}

backend_tests! {
    ten_thousand_holds_from_a_thousand_users_hold_each_of_fifty_seats_once,
}

async fn ten_thousand_holds_from_a_thousand_users_hold_each_of_fifty_seats_once(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_active = USERS;
    // High enough that a lucky user is never refused for their hold count: every
    // refusal below is about the seat.
    options.engine.max_holds_per_user = 50;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let client = support::client(&app.address, IN_FLIGHT);
    let started = Instant::now();
    let tokens = support::admitted_crowd(&client, "fan", USERS, 64).await;
    let admitted_in = started.elapsed();

    let hold = |i: usize| Answer::call(&client, routes::hold(&tokens[i % USERS], 1, seat_of(i)));
    let started = Instant::now();
    let answers = support::concurrently(IN_FLIGHT, (0..REQUESTS).map(hold)).await;
    let elapsed = started.elapsed();
    let tally = support::tally(&answers);
    eprintln!(
        "storm[{}]: {USERS} users admitted in {admitted_in:.1?}; {REQUESTS} holds in {elapsed:.1?} \
         ({} holds/s, {IN_FLIGHT} in flight): {tally:?}",
        db.store.backend(),
        support::per_second(REQUESTS, elapsed),
    );

    let held: Vec<&Answer> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(
        held.len(),
        SEATS as usize,
        "exactly one hold per seat: {tally:?}"
    );
    let seats: BTreeSet<i64> = held
        .iter()
        .map(|a| a.body["seatNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seats,
        (1..=SEATS).collect(),
        "no seat twice, every seat once"
    );
    let taken = error_body(409, "SEAT_ALREADY_RESERVED", msg::SEAT_ALREADY_RESERVED);
    for refused in answers.iter().filter(|a| a.status != 201) {
        assert_eq!(
            (refused.status, &refused.body),
            (409, &taken),
            "every other answer: seat taken"
        );
    }

    // What the server shows and what the database holds agree with the 201s.
    assert!(app.seats(1).await.iter().all(|&reserved| reserved));
    assert_eq!(app.available(1).await, 0);
    let ids: Vec<String> = held
        .iter()
        .map(|a| a.body["reservationId"].to_string())
        .collect();
    let live = "SELECT COUNT(*) FROM reservations WHERE session_id = 1 AND status = 'held'";
    assert_eq!(count(&db, live).await, SEATS);
    let acknowledged = format!("{live} AND id IN ({})", ids.join(", "));
    assert_eq!(
        count(&db, &acknowledged).await,
        SEATS,
        "every 201 is a live hold"
    );
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}
