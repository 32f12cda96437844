//! The catalog and holds: sessions need their concert, a seat has one live hold,
//! ended holds free it.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    catalog_round_trips,
    create_session_on_a_missing_concert_is_not_found,
    a_second_live_hold_on_a_seat_is_seat_taken,
    a_seat_outside_the_seat_count_is_refused,
    an_ended_hold_frees_its_seat,
    end_hold_on_a_row_not_held_returns_false,
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
