//! Payments: the one-transaction sale, insufficient funds, duplicates, idempotency
//! keys, ownership, and a hold that cannot expire while its payment is in flight.

use std::time::Duration;

use actors::backend_tests;
use actors::domain::{ChargeAmount, IdempotencyKey, Points, SeatNumber};
use actors::store::ReservationStatus;
use actors::testkit::TestDb;
use actors::{CallerStatus, EngineConfig, EngineError};

use crate::common::*;

fn key(text: &str) -> Option<IdempotencyKey> {
    Some(IdempotencyKey::parse(text).unwrap())
}

backend_tests! {
    payment_sells_the_seat_and_admits_the_next,
    insufficient_balance_writes_nothing,
    concurrent_payments_debit_once,
    idempotency_key_replays_the_first_payment,
    a_replayed_payment_ends_the_admission,
    a_replay_with_a_fresh_token_leaves_it_admitted,
    another_users_reservation_is_not_found,
    #[paused] hold_cannot_expire_while_its_payment_is_in_flight,
}

/// A payment debits the price, records the payment, sells the seat and ends the
/// payer's admission, which admits the next in line.
async fn payment_sells_the_seat_and_admits_the_next(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, one_at_a_time()).await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = join(&app.engine, "bob").await;
    assert_eq!(bob.status, CallerStatus::Waiting);

    charge_to(&app.engine, &alice, ChargeAmount(15_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 3).await.unwrap();
    let paid = pay_as(&app.engine, &alice, hold.reservation_id, None)
        .await
        .unwrap();
    assert_eq!(paid.amount, Points(10_000));
    assert_eq!(paid.balance_after, Points(5_000));
    assert_eq!(
        (paid.session_id, paid.seat_number, paid.date),
        (session.id, SeatNumber(3), session.date)
    );

    let row = db
        .store
        .reservation(hold.reservation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ReservationStatus::Paid);
    assert_eq!(
        db.store.balance(&alice.user_id).await.unwrap(),
        Points(5_000)
    );
    assert!(
        app.engine.seats(session.id).await.unwrap().taken[2],
        "sold seats stay taken"
    );
    assert_eq!(
        reidentify(&app.engine, &alice).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        reidentify(&app.engine, &bob).await.status,
        CallerStatus::Admitted
    );
}

/// Short of points: 402, and nothing is written; after a charge the same hold pays.
async fn insufficient_balance_writes_nothing(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(9_999))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    assert_eq!(
        pay_as(&app.engine, &alice, hold.reservation_id, None).await,
        Err(EngineError::InsufficientBalance)
    );
    assert_eq!(
        db.store.balance(&alice.user_id).await.unwrap(),
        Points(9_999)
    );
    assert_eq!(
        db.store
            .payment_for_reservation(hold.reservation_id)
            .await
            .unwrap(),
        None
    );
    charge_to(&app.engine, &alice, ChargeAmount(1))
        .await
        .unwrap();
    let paid = pay_as(&app.engine, &alice, hold.reservation_id, None)
        .await
        .unwrap();
    assert_eq!(paid.balance_after, Points(0));
}

/// Twenty concurrent payments of one hold: one succeeds, nineteen get 409, one debit.
async fn concurrent_payments_debit_once(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(
        &db,
        EngineConfig {
            expire_token_on_payment: false,
            ..config()
        },
    )
    .await;
    let alice = admitted(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(100_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    let attempts = (0..20).map(|_| {
        let (engine, alice) = (app.engine.clone(), alice.clone());
        tokio::spawn(async move { pay_as(&engine, &alice, hold.reservation_id, None).await })
    });
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(
        outcomes
            .iter()
            .filter(|o| o.is_err())
            .all(|o| *o == Err(EngineError::AlreadyPaid))
    );
    assert_eq!(
        db.store.balance(&alice.user_id).await.unwrap(),
        Points(90_000)
    );
}

/// A retry with the same key answers the first payment, even after the payment
/// ended the admission; the key with another reservation is refused; another
/// user's identical key is another key.
async fn idempotency_key_replays_the_first_payment(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;
    for caller in [&alice, &bob] {
        charge_to(&app.engine, caller, ChargeAmount(50_000))
            .await
            .unwrap();
    }
    let first_hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    let second_hold = hold_as(&app.engine, &alice, session.id, 2).await.unwrap();
    let first = pay_as(&app.engine, &alice, first_hold.reservation_id, key("k-1"))
        .await
        .unwrap();

    let alice = reidentify(&app.engine, &alice).await;
    assert_eq!(
        alice.status,
        CallerStatus::Expired,
        "the payment ended the admission"
    );
    let again = pay_as(&app.engine, &alice, first_hold.reservation_id, key("k-1"))
        .await
        .unwrap();
    assert_eq!(again, first, "the same answer");
    assert_eq!(
        db.store.balance(&alice.user_id).await.unwrap(),
        Points(40_000),
        "one debit"
    );
    assert_eq!(
        pay_as(&app.engine, &alice, second_hold.reservation_id, key("k-1")).await,
        Err(EngineError::IdempotencyKeyReused)
    );
    assert_eq!(
        pay_as(&app.engine, &alice, second_hold.reservation_id, key("k-2")).await,
        Err(EngineError::TokenExpired),
        "a new key needs an admitted token"
    );
    let bobs_hold = hold_as(&app.engine, &bob, session.id, 3).await.unwrap();
    assert!(
        pay_as(&app.engine, &bob, bobs_hold.reservation_id, key("k-1"))
            .await
            .is_ok()
    );
}

/// A payment that committed just before a crash (its admission never ended): the
/// retry with its key answers it, and ends the admission, admitting the next.
async fn a_replayed_payment_ends_the_admission(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, one_at_a_time()).await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = join(&app.engine, "bob").await;
    charge_to(&app.engine, &alice, ChargeAmount(10_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    let first = db
        .store
        .commit_payment(&actors::store::NewPayment {
            reservation_id: hold.reservation_id,
            user_id: alice.user_id.clone(),
            amount: hold.price,
            idempotency_key: key("before-the-crash"),
            paid_with_token: Some(alice.token),
            paid_at: app.clock.now_utc(),
        })
        .await
        .unwrap();
    assert_eq!(
        reidentify(&app.engine, &alice).await.status,
        CallerStatus::Admitted
    );

    let replay = pay_as(
        &app.engine,
        &alice,
        hold.reservation_id,
        key("before-the-crash"),
    )
    .await;
    assert_eq!(replay, Ok(first.into()));
    assert_eq!(
        reidentify(&app.engine, &alice).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        reidentify(&app.engine, &bob).await.status,
        CallerStatus::Admitted
    );
}

/// A payment ended the payer's admission; the user came back with a fresh token and
/// replays the payment with it: the first answer, and the fresh admission stands (only
/// the token that paid has its admission ended).
async fn a_replay_with_a_fresh_token_leaves_it_admitted(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(10_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    let first = pay_as(&app.engine, &alice, hold.reservation_id, key("k-1"))
        .await
        .unwrap();
    assert_eq!(
        reidentify(&app.engine, &alice).await.status,
        CallerStatus::Expired
    );
    let fresh = admitted(&app.engine, "alice").await;
    assert_ne!(fresh.token, alice.token);

    let replay = pay_as(&app.engine, &fresh, hold.reservation_id, key("k-1")).await;
    assert_eq!(replay, Ok(first));
    assert_eq!(
        reidentify(&app.engine, &fresh).await.status,
        CallerStatus::Admitted,
        "the fresh token's admission is not the one that paid"
    );
}

/// Another user's reservation is not found, and pays nothing.
async fn another_users_reservation_is_not_found(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    let mallory = admitted(&app.engine, "mallory").await;
    charge_to(&app.engine, &mallory, ChargeAmount(50_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    assert_eq!(
        pay_as(&app.engine, &mallory, hold.reservation_id, None).await,
        Err(EngineError::ReservationNotFound)
    );
    assert_eq!(
        pay_as(
            &app.engine,
            &mallory,
            actors::domain::ReservationId(424_242),
            None
        )
        .await,
        Err(EngineError::ReservationNotFound)
    );
    assert_eq!(
        db.store.balance(&mallory.user_id).await.unwrap(),
        Points(50_000)
    );
}

/// The hold's deadline passes while its payment is committing: the payment wins,
/// because the expiry timer's message waits behind the payment in the actor.
async fn hold_cannot_expire_while_its_payment_is_in_flight(db: TestDb) {
    let session = session(&db, 5).await;
    let config = EngineConfig {
        hold_ttl: Duration::from_secs(2),
        call_timeout: Duration::from_secs(10),
        ..config()
    };
    let (slow, app) = start_faulty(&db, config).await;
    slow.set_payment_delay(Duration::from_secs(3));
    let alice = admitted(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(10_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &alice, session.id, 1).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;

    let paid = pay_as(&app.engine, &alice, hold.reservation_id, None).await;
    assert!(
        paid.is_ok(),
        "the payment started before the deadline: {paid:?}"
    );
    assert!(
        app.clock.now_utc() > hold.expires_at,
        "the deadline passed meanwhile"
    );
    settle().await;
    let row = db
        .store
        .reservation(hold.reservation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, ReservationStatus::Paid);
    assert!(app.engine.seats(session.id).await.unwrap().taken[0]);
}
