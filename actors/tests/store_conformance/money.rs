//! Charges and payments: the ledger, one debit per payment, idempotency keys, and instants.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    charges_add_up_and_are_ledgered,
    commit_payment_debits_records_and_sells,
    insufficient_balance_writes_nothing,
    paying_twice_conflicts_and_debits_once,
    only_the_holder_can_pay_a_held_reservation,
    an_idempotency_key_is_unique_per_user,
    payments_are_found_by_key_and_by_reservation,
    a_free_seat_is_paid_without_a_wallet,
    instants_round_trip_to_the_microsecond,
    a_charge_key_names_one_charge,
    a_payment_records_the_token_that_paid,
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

fn charge_key(source: ChargeSource, text: &str) -> ChargeKey {
    ChargeKey {
        source,
        key: key(text),
    }
}

/// A keyed charge is found by its key with its balance; a second charge under the key
/// (whatever its amount) is refused with nothing written, alone in a batch too; the
/// operator's keys are apart from the user's.
async fn a_charge_key_names_one_charge(db: TestDb) {
    let store = &*db.store;
    let alice = user("alice");
    let topup = charge_key(ChargeSource::Charge, "k");
    store.charge(&alice, points(5), at(0)).await.unwrap();
    let charged = store
        .keyed_charge(&alice, points(100), at(1), Some(topup.clone()))
        .await;
    assert_eq!(charged, Ok(Points(105)));
    let found = store.charge_by_key(&alice, &topup).await.unwrap();
    assert_eq!(
        found,
        Some(KeyedChargeRow {
            amount: Points(100),
            balance_after: Points(105),
        })
    );
    let again = store
        .keyed_charge(&alice, points(100), at(2), Some(topup.clone()))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.balance(&alice).await.unwrap(), Points(105));
    let charges = "SELECT COUNT(*) FROM ledger WHERE user_id = 'alice'";
    assert_eq!(count(&db, charges).await, 2, "nothing written");

    let credit = charge_key(ChargeSource::Credit, "k");
    assert_eq!(store.charge_by_key(&alice, &credit).await.unwrap(), None);
    assert_eq!(
        store.charge_by_key(&user("bob"), &topup).await.unwrap(),
        None
    );
    let batch = [
        WriteOp::Charge {
            user: alice.clone(),
            amount: points(1),
            at: at(3),
            key: Some(topup),
        },
        WriteOp::Charge {
            user: alice.clone(),
            amount: points(7),
            at: at(3),
            key: Some(credit),
        },
    ];
    let answers = store.apply_batch(&batch).await.unwrap();
    assert!(
        matches!(answers[0], Err(StoreError::Conflict(_))),
        "{answers:?}"
    );
    assert_eq!(answers[1], Ok(WriteOutcome::Balance(Points(112))));
    assert_eq!(store.balance(&alice).await.unwrap(), Points(112));
}

/// The token that paid is stored with the payment and read back with it.
async fn a_payment_records_the_token_that_paid(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 100).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    let held = hold(store, &session, 1, "alice").await;
    let token = QueueToken(Uuid::new_v4());
    let paid = store
        .commit_payment(&NewPayment {
            paid_with_token: Some(token),
            ..payment(&held, Some("k"))
        })
        .await
        .unwrap();
    assert_eq!(paid.paid_with_token, Some(token));
    let found = store.payment_by_key(&user("alice"), &key("k")).await;
    assert_eq!(found.unwrap().map(|p| p.paid_with_token), Some(Some(token)));
}
