//! Concurrent writers, and what the schema refuses even to raw SQL.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    concurrent_holds_on_one_seat_take_it_once,
    concurrent_payments_of_one_reservation_debit_once,
    the_database_refuses_a_negative_balance_even_with_raw_sql,
    the_database_refuses_a_second_live_reservation_even_with_raw_sql,
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
