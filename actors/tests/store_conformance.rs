//! The store conformance suite: every `Store` promise, checked on SQLite always and
//! on Postgres when `DATABASE_URL` names one (see `actors::testkit`).
//!
//! Each test runs twice, as `<name>::sqlite` and `<name>::postgres`.

use std::sync::Arc;

use actors::backend_tests;
use actors::domain::{ChargeAmount, ConcertId, IdempotencyKey, Points, QueueToken, SeatNumber};
use actors::store::{
    NewPayment, NewSession, ReservationRow, ReservationStatus, SessionRow, Store, StoreError,
    TokenRow, TokenState, WriteOp, WriteOutcome,
};
use actors::testkit::{
    TestDb, execute_raw, new_hold, query_i64, reopen, seed_session, session_date, user,
};
use chrono::{DateTime, TimeZone, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

/// A fixed instant plus `secs` seconds.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn points(n: i64) -> ChargeAmount {
    ChargeAmount::parse(n).unwrap()
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

/// Holds `seat` for `who` and returns the stored reservation.
async fn hold(store: &dyn Store, session: &SessionRow, seat: u32, who: &str) -> ReservationRow {
    store
        .insert_hold(&new_hold(session, seat, &user(who), at(0)))
        .await
        .expect("hold a free seat")
}

/// The payment of `reservation` by its holder, at its price.
fn payment(reservation: &ReservationRow, idempotency_key: Option<&str>) -> NewPayment {
    NewPayment {
        reservation_id: reservation.id,
        user_id: reservation.user_id.clone(),
        amount: reservation.price,
        idempotency_key: idempotency_key.map(key),
        paid_at: at(60),
    }
}

fn waiting(who: &str, seq: i64) -> TokenRow {
    TokenRow {
        token: QueueToken::generate(),
        user_id: user(who),
        seq,
        state: TokenState::Waiting,
        issued_at: at(seq),
        admitted_at: None,
    }
}

/// A waiting token with a fixed value, so that two databases can be given the same one.
fn waiting_as(n: u128, who: &str, seq: i64) -> TokenRow {
    TokenRow {
        token: QueueToken(Uuid::from_u128(n)),
        ..waiting(who, seq)
    }
}

/// Another fresh database on `db`'s backend.
async fn twin(db: &TestDb) -> TestDb {
    match db.store.backend() {
        "sqlite" => actors::testkit::sqlite().await,
        _ => actors::testkit::postgres()
            .await
            .expect("Postgres runs this test, so it is there"),
    }
}

/// The answers to one set-up's ops, applied as one batch on `db` and one op at a
/// time on a twin database that got the same set-up.
struct BatchedAndAlone {
    ops: Vec<WriteOp>,
    batched: Vec<Result<WriteOutcome, StoreError>>,
    one_by_one: Vec<Result<WriteOutcome, StoreError>>,
    single: TestDb,
}

/// Runs `setup` on `db` and on a twin, then applies its ops both ways.
async fn batched_and_alone(
    db: &TestDb,
    setup: for<'a> fn(&'a dyn Store) -> BoxFuture<'a, Vec<WriteOp>>,
) -> BatchedAndAlone {
    let ops = setup(&*db.store).await;
    let batched = db.store.apply_batch(&ops).await.expect("the batch commits");
    let single = twin(db).await;
    assert_eq!(
        setup(&*single.store).await,
        ops,
        "both databases get the same batch"
    );
    let one_by_one = apply_each(&*single.store, &ops).await;
    BatchedAndAlone {
        ops,
        batched,
        one_by_one,
        single,
    }
}

/// What each op answers alone ([`Store::apply`], which every typed write method
/// is), one after the other, each in its own transaction.
async fn apply_each(store: &dyn Store, ops: &[WriteOp]) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut answers = Vec::with_capacity(ops.len());
    for op in ops {
        answers.push(store.apply(op.clone()).await);
    }
    answers
}

/// Sets up a session, wallets, holds (one paid), a token, and returns a batch that
/// mixes writes that commit with writes the store refuses, some refused or allowed
/// only because of an earlier op of the same batch. Deterministic: two fresh
/// databases get equal batches.
async fn mixed_batch(store: &dyn Store) -> Vec<WriteOp> {
    let session = seed_session(store, 10, 300).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    store
        .charge(&user("bob"), points(100), at(0))
        .await
        .unwrap();
    store
        .charge(&user("carol"), points(1000), at(0))
        .await
        .unwrap();
    let alices = hold(store, &session, 1, "alice").await;
    let bobs = hold(store, &session, 2, "bob").await;
    let carols = hold(store, &session, 3, "carol").await;
    store
        .commit_payment(&payment(&carols, Some("k")))
        .await
        .unwrap();
    let daves = hold(store, &session, 4, "dave").await; // dave never charged
    let erin = waiting_as(1, "erin", 1);
    store
        .insert_tokens(std::slice::from_ref(&erin))
        .await
        .unwrap();
    let end = |id, status, secs| WriteOp::EndHold {
        id,
        status,
        at: at(secs),
    };
    vec![
        /* 0 */ WriteOp::InsertHold(new_hold(&session, 5, &user("frank"), at(10))),
        /* 1 */ WriteOp::InsertHold(new_hold(&session, 1, &user("frank"), at(10))),
        /* 2 */ WriteOp::CommitPayment(payment(&alices, Some("a"))),
        /* 3 */ WriteOp::CommitPayment(payment(&bobs, None)),
        /* 4 */ WriteOp::CommitPayment(payment(&carols, Some("k2"))),
        /* 5 */ WriteOp::CommitPayment(payment(&daves, None)),
        /* 6 */ WriteOp::InsertHold(new_hold(&session, 5, &user("gina"), at(11))),
        /* 7 */
        WriteOp::Charge {
            user: user("bob"),
            amount: points(500),
            at: at(20),
        },
        /* 8 */ WriteOp::CommitPayment(payment(&bobs, Some("b"))),
        /* 9 */ end(daves.id, ReservationStatus::Released, 30),
        /* 10 */ end(daves.id, ReservationStatus::Expired, 31),
        /* 11 */ end(carols.id, ReservationStatus::Held, 32),
        /* 12 */ WriteOp::InsertTokens(vec![waiting_as(2, "erin", 2)]),
        /* 13 */ WriteOp::InsertTokens(vec![waiting_as(3, "gina", 3)]),
        /* 14 */
        WriteOp::AdmitTokens {
            tokens: vec![erin.token],
            at: at(40),
        },
        /* 15 */
        WriteOp::EndTokens {
            tokens: vec![erin.token],
            state: TokenState::Waiting,
            at: at(41),
        },
        /* 16 */ WriteOp::InsertHold(new_hold(&session, 11, &user("gina"), at(42))),
        /* 17 */
        WriteOp::Charge {
            user: user("dave"),
            amount: points(50),
            at: at(43),
        },
    ]
}

/// Batch answers with every reservation id set to 0.
fn without_ids(
    results: &[Result<WriteOutcome, StoreError>],
) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut results = results.to_vec();
    for result in &mut results {
        if let Ok(WriteOutcome::Hold(row)) = result {
            row.id = actors::domain::ReservationId(0);
        }
    }
    results
}

/// Everything a batch may have changed, for comparing two databases.
async fn state_of(db: &TestDb) -> Vec<i64> {
    let mut state = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM reservations WHERE status = 'held'",
        "SELECT COUNT(*) FROM reservations WHERE status = 'paid'",
        "SELECT COUNT(*) FROM reservations WHERE status = 'released'",
        "SELECT COUNT(*) FROM payments",
        "SELECT COUNT(*) FROM ledger",
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger",
        "SELECT COUNT(*) FROM wallets",
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM wallets",
        "SELECT COUNT(*) FROM queue_tokens WHERE state = 'waiting'",
        "SELECT COUNT(*) FROM queue_tokens WHERE state = 'admitted'",
    ] {
        state.push(count(db, sql).await);
    }
    state
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    query_i64(db, sql).await.expect(sql)
}

async fn status(store: &dyn Store, reservation: &ReservationRow) -> ReservationStatus {
    store
        .reservation(reservation.id)
        .await
        .unwrap()
        .expect("the reservation exists")
        .status
}

backend_tests! {
    catalog_round_trips,
    create_session_on_a_missing_concert_is_not_found,
    a_second_live_hold_on_a_seat_is_seat_taken,
    a_seat_outside_the_seat_count_is_refused,
    an_ended_hold_frees_its_seat,
    end_hold_on_a_row_not_held_returns_false,
    charges_add_up_and_are_ledgered,
    commit_payment_debits_records_and_sells,
    insufficient_balance_writes_nothing,
    paying_twice_conflicts_and_debits_once,
    only_the_holder_can_pay_a_held_reservation,
    an_idempotency_key_is_unique_per_user,
    payments_are_found_by_key_and_by_reservation,
    a_free_seat_is_paid_without_a_wallet,
    instants_round_trip_to_the_microsecond,
    tokens_are_inserted_admitted_ended_and_listed_in_order,
    a_second_live_token_for_a_user_conflicts,
    ended_tokens_are_pruned_oldest_first_in_bounded_batches,
    thousands_of_tokens_go_in_one_call,
    a_restart_sees_everything_committed,
    concurrent_holds_on_one_seat_take_it_once,
    concurrent_payments_of_one_reservation_debit_once,
    the_database_refuses_a_negative_balance_even_with_raw_sql,
    the_database_refuses_a_second_live_reservation_even_with_raw_sql,
    a_batch_commits_what_it_can_and_answers_each_op_as_its_own_method,
    a_run_of_holds_is_answered_as_one_hold_at_a_time,
    a_batch_of_only_holds_is_answered_as_one_hold_at_a_time,
    a_run_of_new_tokens_is_answered_as_one_token_at_a_time,
    an_empty_batch_answers_nothing,
    a_batch_of_refusals_commits_nothing,
    a_large_batch_commits_every_op,
    #[paused] store_calls_take_no_test_time,
}

async fn catalog_round_trips(db: TestDb) {
    let store = &*db.store;
    assert_eq!(store.catalog().await.unwrap(), Default::default());
    let first = seed_session(store, 10, 500).await;
    let second = seed_session(store, 1000, 0).await;
    assert_eq!(first.date, session_date());
    assert_eq!((first.seat_count.0, first.price), (10, Points(500)));
    assert_eq!((second.seat_count.0, second.price), (1000, Points(0)));

    let catalog = store.catalog().await.unwrap();
    let concert_ids: Vec<_> = catalog.concerts.iter().map(|c| c.id).collect();
    assert_eq!(concert_ids, vec![first.concert_id, second.concert_id]);
    assert!(catalog.concerts.iter().all(|c| c.title == "Test concert"));
    assert_eq!(catalog.sessions, vec![first.clone(), second.clone()]);

    // A restart reads the same catalog.
    assert_eq!(reopen(&db).await.catalog().await.unwrap(), catalog);
}

async fn create_session_on_a_missing_concert_is_not_found(db: TestDb) {
    let session = NewSession {
        concert_id: ConcertId(999_999),
        date: session_date(),
        seat_count: actors::domain::SeatCount(10),
        price: Points(100),
    };
    assert_eq!(
        db.store.create_session(&session).await,
        Err(StoreError::NotFound)
    );
    assert!(db.store.catalog().await.unwrap().sessions.is_empty());
    assert_eq!(count(&db, "SELECT COUNT(*) FROM seats").await, 0);
}

async fn a_second_live_hold_on_a_seat_is_seat_taken(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 500).await;
    let alice = hold(store, &session, 3, "alice").await;
    assert_eq!(alice.status, ReservationStatus::Held);
    assert_eq!(
        (alice.session_id, alice.seat_number, alice.price),
        (session.id, SeatNumber(3), Points(500))
    );
    assert_eq!((alice.held_at, alice.expires_at), (at(0), at(300)));

    let bob = new_hold(&session, 3, &user("bob"), at(1));
    assert_eq!(store.insert_hold(&bob).await, Err(StoreError::SeatTaken));
    assert_eq!(
        store.live_reservations(session.id).await.unwrap(),
        vec![alice]
    );
}

async fn a_seat_outside_the_seat_count_is_refused(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 500).await;
    let outside = new_hold(&session, 11, &user("alice"), at(0));
    assert_eq!(store.insert_hold(&outside).await, Err(StoreError::NotFound));
    let mut elsewhere = new_hold(&session, 1, &user("alice"), at(0));
    elsewhere.session_id = actors::domain::SessionId(999_999);
    assert_eq!(
        store.insert_hold(&elsewhere).await,
        Err(StoreError::NotFound)
    );
    assert!(
        store
            .live_reservations(session.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The last seat is inside.
    hold(store, &session, 10, "alice").await;
}

async fn an_ended_hold_frees_its_seat(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 500).await;
    let first = hold(store, &session, 1, "alice").await;
    assert!(
        store
            .end_hold(first.id, ReservationStatus::Expired, at(300))
            .await
            .unwrap()
    );
    assert_eq!(status(store, &first).await, ReservationStatus::Expired);
    assert!(
        store
            .live_reservations(session.id)
            .await
            .unwrap()
            .is_empty()
    );

    let second = hold(store, &session, 1, "bob").await;
    assert!(
        store
            .end_hold(second.id, ReservationStatus::Released, at(301))
            .await
            .unwrap()
    );
    assert_eq!(status(store, &second).await, ReservationStatus::Released);
    let third = hold(store, &session, 1, "carol").await;
    assert_eq!(
        store.live_reservations(session.id).await.unwrap(),
        vec![third]
    );
}

async fn end_hold_on_a_row_not_held_returns_false(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 0).await;
    let expired = hold(store, &session, 1, "alice").await;
    assert!(
        store
            .end_hold(expired.id, ReservationStatus::Expired, at(300))
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_hold(expired.id, ReservationStatus::Released, at(301))
            .await
            .unwrap()
    );
    assert_eq!(status(store, &expired).await, ReservationStatus::Expired);

    let paid = hold(store, &session, 2, "alice").await;
    store.commit_payment(&payment(&paid, None)).await.unwrap();
    assert!(
        !store
            .end_hold(paid.id, ReservationStatus::Expired, at(300))
            .await
            .unwrap()
    );
    assert_eq!(status(store, &paid).await, ReservationStatus::Paid);

    let missing = actors::domain::ReservationId(999_999);
    assert!(
        !store
            .end_hold(missing, ReservationStatus::Expired, at(300))
            .await
            .unwrap()
    );

    let held = hold(store, &session, 3, "alice").await;
    assert!(matches!(
        store
            .end_hold(held.id, ReservationStatus::Paid, at(300))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(status(store, &held).await, ReservationStatus::Held);
}

async fn charges_add_up_and_are_ledgered(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    assert_eq!(store.balance(&alice).await.unwrap(), Points(0));
    assert_eq!(
        store.charge(&alice, points(100), at(0)).await.unwrap(),
        Points(100)
    );
    assert_eq!(
        store.charge(&alice, points(250), at(1)).await.unwrap(),
        Points(350)
    );
    assert_eq!(store.balance(&alice).await.unwrap(), Points(350));
    assert_eq!(store.balance(&user("bob")).await.unwrap(), Points(0));

    let charges = "SELECT COUNT(*) FROM ledger WHERE user_id = 'alice' AND kind = 'charge'";
    assert_eq!(count(&db, charges).await, 2);
    let sum = "SELECT CAST(SUM(amount) AS BIGINT) FROM ledger WHERE user_id = 'alice'";
    assert_eq!(count(&db, sum).await, 350);
}

async fn commit_payment_debits_records_and_sells(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 300).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    let reservation = hold(store, &session, 4, "alice").await;

    let paid = store
        .commit_payment(&payment(&reservation, Some("k1")))
        .await
        .unwrap();
    assert_eq!(paid.reservation_id, reservation.id);
    assert_eq!(paid.user_id, user("alice"));
    assert_eq!((paid.session_id, paid.date), (session.id, session_date()));
    assert_eq!(paid.seat_number, SeatNumber(4));
    assert_eq!(
        (paid.amount, paid.balance_after),
        (Points(300), Points(700))
    );
    assert_eq!(paid.idempotency_key, Some(key("k1")));
    assert_eq!(paid.paid_at, at(60));

    assert_eq!(store.balance(&user("alice")).await.unwrap(), Points(700));
    assert_eq!(status(store, &reservation).await, ReservationStatus::Paid);
    let live = store.live_reservations(session.id).await.unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].status, ReservationStatus::Paid);

    let debit = format!(
        "SELECT amount FROM ledger WHERE kind = 'payment' AND payment_id = {}",
        paid.id
    );
    assert_eq!(count(&db, &debit).await, -300);
    let sum = "SELECT CAST(SUM(amount) AS BIGINT) FROM ledger WHERE user_id = 'alice'";
    assert_eq!(count(&db, sum).await, 700);
}

async fn insufficient_balance_writes_nothing(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 300).await;
    store
        .charge(&user("alice"), points(100), at(0))
        .await
        .unwrap();
    let short = hold(store, &session, 1, "alice").await;
    assert_eq!(
        store.commit_payment(&payment(&short, Some("k"))).await,
        Err(StoreError::InsufficientBalance)
    );
    assert_eq!(store.balance(&user("alice")).await.unwrap(), Points(100));
    assert_eq!(status(store, &short).await, ReservationStatus::Held);
    assert_eq!(store.payment_for_reservation(short.id).await.unwrap(), None);

    // A user who never charged has nothing, and gets no wallet row from trying.
    let broke = hold(store, &session, 2, "bob").await;
    assert_eq!(
        store.commit_payment(&payment(&broke, None)).await,
        Err(StoreError::InsufficientBalance)
    );
    assert_eq!(status(store, &broke).await, ReservationStatus::Held);

    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 0);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM ledger").await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM wallets WHERE user_id = 'bob'").await,
        0
    );
}

async fn paying_twice_conflicts_and_debits_once(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 300).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    let reservation = hold(store, &session, 1, "alice").await;
    store
        .commit_payment(&payment(&reservation, Some("first")))
        .await
        .unwrap();

    for again in [
        payment(&reservation, Some("second")),
        payment(&reservation, None),
    ] {
        assert!(matches!(
            store.commit_payment(&again).await,
            Err(StoreError::Conflict(_))
        ));
    }
    assert_eq!(store.balance(&user("alice")).await.unwrap(), Points(700));
    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM ledger WHERE kind = 'payment'").await,
        1
    );
}

async fn only_the_holder_can_pay_a_held_reservation(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 300).await;
    store
        .charge(&user("bob"), points(1000), at(0))
        .await
        .unwrap();
    let alices = hold(store, &session, 1, "alice").await;
    let mut by_bob = payment(&alices, None);
    by_bob.user_id = user("bob");
    assert_eq!(
        store.commit_payment(&by_bob).await,
        Err(StoreError::Conflict("reservation not held".into()))
    );
    let expired = hold(store, &session, 2, "bob").await;
    store
        .end_hold(expired.id, ReservationStatus::Expired, at(300))
        .await
        .unwrap();
    assert_eq!(
        store.commit_payment(&payment(&expired, None)).await,
        Err(StoreError::Conflict("reservation not held".into()))
    );
    assert_eq!(store.balance(&user("bob")).await.unwrap(), Points(1000));
    assert_eq!(status(store, &alices).await, ReservationStatus::Held);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 0);
}

async fn an_idempotency_key_is_unique_per_user(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 100).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    store
        .charge(&user("bob"), points(1000), at(0))
        .await
        .unwrap();
    let first = hold(store, &session, 1, "alice").await;
    let second = hold(store, &session, 2, "alice").await;
    let bobs = hold(store, &session, 3, "bob").await;

    store
        .commit_payment(&payment(&first, Some("same")))
        .await
        .unwrap();
    assert!(matches!(
        store.commit_payment(&payment(&second, Some("same"))).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(status(store, &second).await, ReservationStatus::Held);
    assert_eq!(store.balance(&user("alice")).await.unwrap(), Points(900));

    // Another user may use the same key.
    store
        .commit_payment(&payment(&bobs, Some("same")))
        .await
        .unwrap();
    assert_eq!(store.balance(&user("bob")).await.unwrap(), Points(900));
}

async fn payments_are_found_by_key_and_by_reservation(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 100).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    let keyed = hold(store, &session, 1, "alice").await;
    let keyless = hold(store, &session, 2, "alice").await;
    let unpaid = hold(store, &session, 3, "alice").await;

    let with_key = store
        .commit_payment(&payment(&keyed, Some("k")))
        .await
        .unwrap();
    let without = store
        .commit_payment(&payment(&keyless, None))
        .await
        .unwrap();
    assert_eq!(without.idempotency_key, None);

    assert_eq!(
        store
            .payment_by_key(&user("alice"), &key("k"))
            .await
            .unwrap(),
        Some(with_key.clone())
    );
    assert_eq!(
        store.payment_by_key(&user("bob"), &key("k")).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .payment_by_key(&user("alice"), &key("other"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.payment_for_reservation(keyed.id).await.unwrap(),
        Some(with_key)
    );
    assert_eq!(
        store.payment_for_reservation(keyless.id).await.unwrap(),
        Some(without)
    );
    assert_eq!(
        store.payment_for_reservation(unpaid.id).await.unwrap(),
        None
    );
}

async fn a_free_seat_is_paid_without_a_wallet(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 0).await;
    let reservation = hold(store, &session, 1, "newcomer").await;
    let paid = store
        .commit_payment(&payment(&reservation, None))
        .await
        .unwrap();
    assert_eq!((paid.amount, paid.balance_after), (Points(0), Points(0)));
    assert_eq!(store.balance(&user("newcomer")).await.unwrap(), Points(0));
    assert_eq!(status(store, &reservation).await, ReservationStatus::Paid);
    let debit = "SELECT amount FROM ledger WHERE user_id = 'newcomer' AND kind = 'payment'";
    assert_eq!(count(&db, debit).await, 0);
}

async fn instants_round_trip_to_the_microsecond(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 0).await;
    let mut fine = new_hold(&session, 1, &user("alice"), at(0));
    fine.held_at += chrono::Duration::nanoseconds(123_456_789);
    let written = store.insert_hold(&fine).await.unwrap();
    assert_eq!(
        written.held_at,
        at(0) + chrono::Duration::microseconds(123_456)
    );
    assert_eq!(store.reservation(written.id).await.unwrap(), Some(written));
}

/// `prune_tokens` deletes ended tokens that ended before the cut-off, at most
/// `limit` a call, oldest end first; never a live token, nor one that ended later.
async fn ended_tokens_are_pruned_oldest_first_in_bounded_batches(db: TestDb) {
    let store = &*db.store;
    let rows: Vec<TokenRow> = (1..=5).map(|n| waiting(&format!("u{n}"), n)).collect();
    store.insert_tokens(&rows).await.unwrap();
    let token = |n: usize| rows[n].token;
    store
        .admit_tokens(&[token(0), token(1)], at(5))
        .await
        .unwrap();
    store
        .end_tokens(&[token(2)], TokenState::Evicted, at(10))
        .await
        .unwrap();
    store
        .end_tokens(&[token(0)], TokenState::Expired, at(20))
        .await
        .unwrap();
    store
        .end_tokens(&[token(3)], TokenState::Evicted, at(40))
        .await
        .unwrap();
    // Left live: token(1) admitted, token(4) waiting.

    assert_eq!(store.prune_tokens(at(30), 1).await.unwrap(), 1);
    assert_eq!(
        store.token(token(2)).await.unwrap(),
        None,
        "the oldest end first"
    );
    assert!(store.token(token(0)).await.unwrap().is_some());
    let op = WriteOp::PruneTokens {
        ended_before: at(30),
        limit: 10,
    };
    assert_eq!(store.apply(op).await.unwrap(), WriteOutcome::Pruned(1));
    assert_eq!(store.prune_tokens(at(30), 10).await.unwrap(), 0);
    assert!(
        store.token(token(3)).await.unwrap().is_some(),
        "ended later"
    );
    assert_eq!(store.prune_tokens(at(1_000), 10).await.unwrap(), 1);
    assert_eq!(
        store.live_tokens().await.unwrap().len(),
        2,
        "live tokens are never pruned"
    );
}

async fn tokens_are_inserted_admitted_ended_and_listed_in_order(db: TestDb) {
    let store = &*db.store;
    assert_eq!(store.max_token_seq().await.unwrap(), 0);
    let (one, two, three) = (waiting("u1", 1), waiting("u2", 2), waiting("u3", 3));
    // Written out of order, listed by seq.
    store
        .insert_tokens(&[two.clone(), three.clone(), one.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.live_tokens().await.unwrap(),
        vec![one.clone(), two.clone(), three.clone()]
    );
    assert_eq!(store.token(three.token).await.unwrap(), Some(three.clone()));
    assert_eq!(store.token(QueueToken::generate()).await.unwrap(), None);
    assert_eq!(store.max_token_seq().await.unwrap(), 3);

    store.admit_tokens(&[one.token], at(10)).await.unwrap();
    let admitted = store.token(one.token).await.unwrap().unwrap();
    assert_eq!(
        (admitted.state, admitted.admitted_at),
        (TokenState::Admitted, Some(at(10)))
    );
    // Only waiting tokens are admitted: a second admission changes nothing.
    store.admit_tokens(&[one.token], at(20)).await.unwrap();
    assert_eq!(
        store.token(one.token).await.unwrap(),
        Some(admitted.clone())
    );

    store
        .end_tokens(&[two.token], TokenState::Evicted, at(30))
        .await
        .unwrap();
    assert_eq!(
        store.live_tokens().await.unwrap(),
        vec![admitted, three.clone()]
    );
    // Only live tokens end, and an ended token is never admitted.
    store
        .end_tokens(&[two.token], TokenState::Expired, at(40))
        .await
        .unwrap();
    store.admit_tokens(&[two.token], at(40)).await.unwrap();
    assert_eq!(
        store.token(two.token).await.unwrap().unwrap().state,
        TokenState::Evicted
    );

    store
        .end_tokens(&[one.token, three.token], TokenState::Expired, at(50))
        .await
        .unwrap();
    assert!(store.live_tokens().await.unwrap().is_empty());
    assert_eq!(
        store.token(one.token).await.unwrap().unwrap().state,
        TokenState::Expired
    );
    assert_eq!(store.max_token_seq().await.unwrap(), 3);
    assert!(matches!(
        store
            .end_tokens(&[three.token], TokenState::Waiting, at(60))
            .await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_second_live_token_for_a_user_conflicts(db: TestDb) {
    let store = &*db.store;
    let first = waiting("alice", 1);
    store
        .insert_tokens(std::slice::from_ref(&first))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_tokens(&[waiting("alice", 2)]).await,
        Err(StoreError::Conflict(_))
    ));
    // All or none: bob's token in the refused batch is not written.
    let bob = waiting("bob", 3);
    assert!(matches!(
        store
            .insert_tokens(&[bob.clone(), waiting("alice", 4)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.token(bob.token).await.unwrap(), None);
    assert_eq!(store.live_tokens().await.unwrap(), vec![first.clone()]);

    // Once her token ends, alice may line up again.
    store
        .end_tokens(&[first.token], TokenState::Expired, at(10))
        .await
        .unwrap();
    store.insert_tokens(&[waiting("alice", 5)]).await.unwrap();
}

async fn thousands_of_tokens_go_in_one_call(db: TestDb) {
    let store = &*db.store;
    let tokens: Vec<TokenRow> = (1..=2500)
        .map(|seq| waiting(&format!("u{seq}"), seq))
        .collect();
    store.insert_tokens(&tokens).await.unwrap();
    assert_eq!(store.live_tokens().await.unwrap(), tokens);
    let all: Vec<QueueToken> = tokens.iter().map(|t| t.token).collect();
    store.admit_tokens(&all, at(5000)).await.unwrap();
    let live = store.live_tokens().await.unwrap();
    assert!(live.iter().all(|t| t.state == TokenState::Admitted));
    store
        .end_tokens(&all, TokenState::Expired, at(6000))
        .await
        .unwrap();
    assert!(store.live_tokens().await.unwrap().is_empty());
    assert_eq!(store.max_token_seq().await.unwrap(), 2500);
}

async fn a_restart_sees_everything_committed(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 100).await;
    store
        .charge(&user("alice"), points(500), at(0))
        .await
        .unwrap();
    let held = hold(store, &session, 1, "alice").await;
    let sold = hold(store, &session, 2, "alice").await;
    store
        .commit_payment(&payment(&sold, Some("k")))
        .await
        .unwrap();
    let token = waiting("alice", 7);
    store
        .insert_tokens(std::slice::from_ref(&token))
        .await
        .unwrap();

    let restarted = reopen(&db).await;
    let live = restarted.live_reservations(session.id).await.unwrap();
    assert_eq!(
        live.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![held.id, sold.id]
    );
    assert_eq!(
        restarted.balance(&user("alice")).await.unwrap(),
        Points(400)
    );
    assert_eq!(restarted.live_tokens().await.unwrap(), vec![token]);
    assert_eq!(restarted.max_token_seq().await.unwrap(), 7);
}

async fn concurrent_holds_on_one_seat_take_it_once(db: TestDb) {
    let session = seed_session(&*db.store, 10, 100).await;
    let attempts = (0..16).map(|i| {
        let store = Arc::clone(&db.store);
        let hold = new_hold(&session, 5, &user(&format!("u{i}")), at(i));
        tokio::spawn(async move { store.insert_hold(&hold).await })
    });
    let mut won = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Ok(_) => won += 1,
            Err(e) => assert_eq!(e, StoreError::SeatTaken),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(
        db.store.live_reservations(session.id).await.unwrap().len(),
        1
    );
}

async fn concurrent_payments_of_one_reservation_debit_once(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 100).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    let reservation = hold(store, &session, 1, "alice").await;
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&db.store);
            let pay = payment(&reservation, Some(&format!("key-{i}")));
            tokio::spawn(async move { store.commit_payment(&pay).await })
        })
        .collect();
    let mut paid = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => paid += 1,
            Err(e) => assert!(matches!(e, StoreError::Conflict(_)), "{e:?}"),
        }
    }
    assert_eq!(paid, 1);
    assert_eq!(store.balance(&user("alice")).await.unwrap(), Points(900));
}

async fn the_database_refuses_a_negative_balance_even_with_raw_sql(db: TestDb) {
    let refused = execute_raw(
        &db,
        "INSERT INTO wallets (user_id, balance) VALUES ('raw', -1)",
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    db.store
        .charge(&user("alice"), points(10), at(0))
        .await
        .unwrap();
    let overdraft = execute_raw(
        &db,
        "UPDATE wallets SET balance = balance - 11 WHERE user_id = 'alice'",
    )
    .await;
    assert!(overdraft.is_err(), "{overdraft:?}");
    assert_eq!(db.store.balance(&user("alice")).await.unwrap(), Points(10));
    // The same statement within the balance goes through: the refusal was the CHECK.
    let debit = execute_raw(
        &db,
        "UPDATE wallets SET balance = balance - 10 WHERE user_id = 'alice'",
    )
    .await;
    assert_eq!(debit, Ok(1));
}

async fn the_database_refuses_a_second_live_reservation_even_with_raw_sql(db: TestDb) {
    let session = seed_session(&*db.store, 10, 100).await;
    hold(&*db.store, &session, 1, "alice").await;
    let insert = |seat: u32, status: &str| {
        format!(
            "INSERT INTO reservations \
             (session_id, seat_number, user_id, price, status, held_at, expires_at) \
             VALUES ({}, {seat}, 'raw', 100, '{status}', \
             '2024-07-01T10:00:00+00:00', '2024-07-01T10:05:00+00:00')",
            session.id
        )
    };
    for status in ["held", "paid"] {
        let refused = execute_raw(&db, &insert(1, status)).await;
        assert!(
            refused.is_err(),
            "a second {status} reservation: {refused:?}"
        );
    }
    // History is not live: an expired row on the same seat is fine.
    assert_eq!(execute_raw(&db, &insert(1, "expired")).await, Ok(1));
    // Nor can raw SQL reserve a seat the session lacks.
    assert!(execute_raw(&db, &insert(11, "held")).await.is_err());
    assert_eq!(
        db.store.live_reservations(session.id).await.unwrap().len(),
        1
    );
}

async fn a_batch_commits_what_it_can_and_answers_each_op_as_its_own_method(db: TestDb) {
    // The same ops, one transaction each, on a twin database.
    let BatchedAndAlone {
        ops,
        batched,
        one_by_one,
        single,
    } = batched_and_alone(&db, |store| mixed_batch(store).boxed()).await;
    assert_eq!(batched, one_by_one);

    // And the answers are the ones the ops call for, in order.
    assert_eq!(batched.len(), ops.len());
    let ok = |i: usize| {
        batched[i]
            .as_ref()
            .unwrap_or_else(|e| panic!("op {i}: {e:?}"))
            .clone()
    };
    let WriteOutcome::Hold(franks) = ok(0) else {
        panic!("op 0: {:?}", batched[0])
    };
    assert_eq!(
        (franks.seat_number, franks.user_id.clone()),
        (SeatNumber(5), user("frank"))
    );
    assert_eq!(batched[1], Err(StoreError::SeatTaken));
    let WriteOutcome::Payment(alices) = ok(2) else {
        panic!("op 2: {:?}", batched[2])
    };
    assert_eq!(alices.balance_after, Points(700));
    assert_eq!(batched[3], Err(StoreError::InsufficientBalance));
    assert!(
        matches!(batched[4], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[4]
    );
    assert_eq!(batched[5], Err(StoreError::InsufficientBalance));
    assert_eq!(
        batched[6],
        Err(StoreError::SeatTaken),
        "op 0 of the same batch took it"
    );
    assert_eq!(ok(7), WriteOutcome::Balance(Points(600)));
    let WriteOutcome::Payment(bobs) = ok(8) else {
        panic!("op 8: {:?}", batched[8])
    };
    assert_eq!(bobs.balance_after, Points(300), "op 7's charge paid for it");
    assert_eq!(ok(9), WriteOutcome::HoldEnded(true));
    assert_eq!(ok(10), WriteOutcome::HoldEnded(false));
    assert!(
        matches!(batched[11], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[11]
    );
    assert!(
        matches!(batched[12], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[12]
    );
    assert_eq!(ok(13), WriteOutcome::Done);
    assert_eq!(ok(14), WriteOutcome::Done);
    assert!(
        matches!(batched[15], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[15]
    );
    assert_eq!(batched[16], Err(StoreError::NotFound));
    assert_eq!(ok(17), WriteOutcome::Balance(Points(50)));

    // A refused op left nothing behind: dave's failed payment made no wallet row
    // of its own (op 17 made the one there is), erin kept her one token.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM wallets WHERE user_id = 'dave'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM queue_tokens WHERE user_id = 'erin'"
        )
        .await,
        1
    );
    assert_eq!(state_of(&db).await, state_of(&single).await);

    // Committed: a restart sees it.
    let restarted = reopen(&db).await;
    assert_eq!(restarted.balance(&user("bob")).await.unwrap(), Points(300));
    assert_eq!(
        restarted
            .live_reservations(franks.session_id)
            .await
            .unwrap()
            .len(),
        4
    );
}

async fn a_run_of_holds_is_answered_as_one_hold_at_a_time(db: TestDb) {
    // Consecutive holds (Postgres writes them with one statement): free seats, a
    // seat taken before, one seat twice in the run, and a run with a seat the
    // session lacks (which fails such a statement as a whole).
    async fn setup(store: &dyn Store) -> Vec<WriteOp> {
        let session = seed_session(store, 10, 300).await;
        hold(store, &session, 1, "alice").await;
        let h = |seat, who: &str| WriteOp::InsertHold(new_hold(&session, seat, &user(who), at(5)));
        vec![
            h(2, "bob"),
            h(1, "bob"),
            h(3, "bob"),
            h(3, "carol"),
            h(4, "carol"),
            h(2, "dave"),
            WriteOp::Charge {
                user: user("bob"),
                amount: points(10),
                at: at(6),
            },
            h(5, "erin"),
            h(11, "erin"),
            h(6, "erin"),
            h(5, "frank"),
        ]
    }
    let BatchedAndAlone {
        batched,
        one_by_one,
        single,
        ..
    } = batched_and_alone(&db, |store| setup(store).boxed()).await;
    // Equal but for the ids: a run Postgres rolls back (the one with seat 11)
    // used up sequence values, so later ids skip some. Ids still ascend in order.
    assert_eq!(without_ids(&batched), without_ids(&one_by_one));
    let ids: Vec<_> = batched
        .iter()
        .filter_map(|r| match r {
            Ok(WriteOutcome::Hold(row)) => Some(row.id),
            _ => None,
        })
        .collect();
    assert!(ids.is_sorted(), "{ids:?}");

    let won: Vec<bool> = batched.iter().map(Result::is_ok).collect();
    assert_eq!(
        won,
        [
            true, false, true, false, true, false, true, true, false, true, false
        ]
    );
    assert_eq!(batched[1], Err(StoreError::SeatTaken));
    assert_eq!(batched[3], Err(StoreError::SeatTaken));
    assert_eq!(batched[8], Err(StoreError::NotFound));
    let WriteOutcome::Hold(carols) = batched[4].clone().unwrap() else {
        panic!()
    };
    assert_eq!(
        (carols.seat_number, carols.user_id),
        (SeatNumber(4), user("carol"))
    );
    assert_eq!(state_of(&db).await, state_of(&single).await);
}

/// A batch of nothing but holds (Postgres commits it as one statement, without a
/// transaction): a seat the session lacks fails that statement, and the batch
/// is then answered hold by hold, as if each were written alone.
async fn a_batch_of_only_holds_is_answered_as_one_hold_at_a_time(db: TestDb) {
    async fn setup(store: &dyn Store) -> Vec<WriteOp> {
        let session = seed_session(store, 10, 300).await;
        hold(store, &session, 1, "alice").await;
        let h = |seat, who: &str| WriteOp::InsertHold(new_hold(&session, seat, &user(who), at(5)));
        vec![
            h(2, "bob"),
            h(1, "bob"),
            h(11, "carol"),
            h(2, "dave"),
            h(3, "dave"),
        ]
    }
    let BatchedAndAlone {
        batched,
        one_by_one,
        single,
        ..
    } = batched_and_alone(&db, |store| setup(store).boxed()).await;
    assert_eq!(without_ids(&batched), without_ids(&one_by_one));
    let won: Vec<bool> = batched.iter().map(Result::is_ok).collect();
    assert_eq!(won, [true, false, false, false, true]);
    assert_eq!(batched[2], Err(StoreError::NotFound));
    assert_eq!(state_of(&db).await, state_of(&single).await);

    // Without the missing seat, the same kind of batch goes in whole.
    let session = seed_session(&*db.store, 5, 300).await;
    let ops: Vec<WriteOp> = (1..=5)
        .map(|seat| WriteOp::InsertHold(new_hold(&session, seat, &user("erin"), at(6))))
        .collect();
    let answers = db.store.apply_batch(&ops).await.unwrap();
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(
        db.store.live_reservations(session.id).await.unwrap().len(),
        5
    );
}

/// Consecutive token inserts (Postgres writes them with one statement): one that
/// conflicts (a second live token for a user) is refused alone; the others commit.
async fn a_run_of_new_tokens_is_answered_as_one_token_at_a_time(db: TestDb) {
    let store = &*db.store;
    store.insert_tokens(&[waiting("alice", 1)]).await.unwrap();
    let (bob, carol) = (waiting("bob", 3), waiting("carol", 4));
    let ops = vec![
        WriteOp::InsertTokens(vec![bob.clone()]),
        WriteOp::InsertTokens(vec![waiting("alice", 2)]),
        WriteOp::InsertTokens(vec![carol.clone()]),
    ];
    let answers = store.apply_batch(&ops).await.unwrap();
    assert_eq!(answers[0], Ok(WriteOutcome::Done));
    assert!(
        matches!(answers[1], Err(StoreError::Conflict(_))),
        "{:?}",
        answers[1]
    );
    assert_eq!(answers[2], Ok(WriteOutcome::Done));
    let live: Vec<_> = store
        .live_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.user_id)
        .collect();
    assert_eq!(live, vec![user("alice"), user("bob"), user("carol")]);
}

async fn an_empty_batch_answers_nothing(db: TestDb) {
    assert_eq!(db.store.apply_batch(&[]).await, Ok(Vec::new()));
}

async fn a_batch_of_refusals_commits_nothing(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 300).await;
    let taken = hold(store, &session, 1, "alice").await;
    let before = state_of(&db).await;
    let ops = [
        WriteOp::InsertHold(new_hold(&session, 1, &user("bob"), at(1))),
        WriteOp::CommitPayment(payment(&taken, None)),
        WriteOp::InsertHold(new_hold(&session, 99, &user("bob"), at(1))),
    ];
    assert_eq!(
        store.apply_batch(&ops).await,
        Ok(vec![
            Err(StoreError::SeatTaken),
            Err(StoreError::InsufficientBalance),
            Err(StoreError::NotFound),
        ])
    );
    assert_eq!(state_of(&db).await, before);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM wallets").await, 0);
}

async fn a_large_batch_commits_every_op(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 500, 10).await;
    let ops: Vec<WriteOp> = (1..=500)
        .map(|seat| {
            WriteOp::InsertHold(new_hold(&session, seat, &user(&format!("u{seat}")), at(0)))
        })
        .chain((1..=100).map(|i| WriteOp::Charge {
            user: user(&format!("u{i}")),
            amount: points(i),
            at: at(1),
        }))
        .collect();
    let results = store.apply_batch(&ops).await.unwrap();
    assert_eq!(results.len(), 600);
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(WriteOutcome::Hold(row)) => assert_eq!(row.seat_number, SeatNumber(i as u32 + 1)),
            Ok(WriteOutcome::Balance(balance)) => assert_eq!(*balance, Points(i as i64 - 499)),
            other => panic!("op {i}: {other:?}"),
        }
    }
    assert_eq!(
        store.live_reservations(session.id).await.unwrap().len(),
        500
    );
}

async fn store_calls_take_no_test_time(db: TestDb) {
    let start = tokio::time::Instant::now();
    let alarm = tokio::spawn(tokio::time::sleep(std::time::Duration::from_secs(300)));
    let session = seed_session(&*db.store, 10, 100).await;
    for seat in 1..=5 {
        hold(&*db.store, &session, seat, "alice").await;
    }
    db.store
        .charge(&user("alice"), points(10), at(0))
        .await
        .unwrap();
    let _ = reopen(&db)
        .await
        .live_reservations(session.id)
        .await
        .unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    assert!(!alarm.is_finished());
    // The test's own timers still run on the paused clock.
    alarm.await.unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(300));
}
