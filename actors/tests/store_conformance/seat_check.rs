//! The database's own seat check: whatever writes `reservations` (the store's one-row
//! and batched inserts, or any SQL at all), a reservation of a seat that does not
//! exist is refused by the schema, and a seat a reservation names cannot be taken away.
//! Raw SQL on purpose: these hold even when the engine and the store are wrong.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    a_reservation_of_a_seat_that_does_not_exist_is_refused,
    a_multi_row_insert_with_one_missing_seat_writes_nothing,
    a_reservation_cannot_move_to_a_seat_that_does_not_exist,
    a_seat_a_reservation_names_cannot_be_taken_away,
}

/// An instant as an SQL literal both backends read back as that instant.
fn lit(secs: i64) -> String {
    format!(
        "'{}'",
        at(secs).to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
    )
}

/// One `VALUES` row of a held reservation of `seat` in `session`.
fn row(session: i64, seat: i64, who: &str) -> String {
    format!(
        "({session}, {seat}, '{who}', 500, 'held', {}, {})",
        lit(0),
        lit(300)
    )
}

/// An insert of these rows into `reservations`, as one statement.
fn insert(rows: &[String]) -> String {
    format!(
        "INSERT INTO reservations \
         (session_id, seat_number, user_id, price, status, held_at, expires_at) VALUES {}",
        rows.join(", ")
    )
}

async fn reservations(db: &TestDb) -> i64 {
    count(db, "SELECT COUNT(*) FROM reservations").await
}

async fn a_reservation_of_a_seat_that_does_not_exist_is_refused(db: TestDb) {
    let session = seed_session(&*db.store, 10, 500).await;
    let id = session.id.0;
    for (seat_session, seat) in [(id, 11), (id, 0), (id, -1), (999_999, 1)] {
        let sql = insert(&[row(seat_session, seat, "alice")]);
        assert!(
            execute_raw(&db, &sql).await.is_err(),
            "the schema accepted `{sql}`"
        );
    }
    assert_eq!(reservations(&db).await, 0);
    // The check refuses only what is missing: the session's last seat goes in.
    execute_raw(&db, &insert(&[row(id, 10, "alice")]))
        .await
        .expect("seat 10 of 10 exists");
    assert_eq!(reservations(&db).await, 1);
}

/// The batched path's shape: many rows in one statement. One missing seat refuses
/// the whole statement, so none of its rows is written.
async fn a_multi_row_insert_with_one_missing_seat_writes_nothing(db: TestDb) {
    let session = seed_session(&*db.store, 10, 500).await;
    let other = seed_session(&*db.store, 5, 500).await;
    let (id, other_id) = (session.id.0, other.id.0);
    let rows = [
        row(id, 1, "alice"),
        row(other_id, 1, "bob"),
        // Seat 6 exists in the first session, not in the second.
        row(other_id, 6, "carol"),
        row(id, 2, "dave"),
    ];
    let sql = insert(&rows);
    assert!(
        execute_raw(&db, &sql).await.is_err(),
        "the schema accepted `{sql}`"
    );
    assert_eq!(reservations(&db).await, 0);

    let rows = [
        row(id, 1, "alice"),
        row(other_id, 1, "bob"),
        row(id, 6, "carol"),
        row(other_id, 5, "dave"),
    ];
    assert_eq!(execute_raw(&db, &insert(&rows)).await, Ok(4));
}

async fn a_reservation_cannot_move_to_a_seat_that_does_not_exist(db: TestDb) {
    let session = seed_session(&*db.store, 10, 500).await;
    let held = hold(&*db.store, &session, 1, "alice").await;
    for set in ["seat_number = 11", "session_id = 999999"] {
        let sql = format!("UPDATE reservations SET {set} WHERE id = {}", held.id.0);
        assert!(
            execute_raw(&db, &sql).await.is_err(),
            "the schema accepted `{sql}`"
        );
    }
    let sql = format!(
        "SELECT COUNT(*) FROM reservations WHERE id = {} AND session_id = {} AND seat_number = 1",
        held.id.0, session.id.0
    );
    assert_eq!(count(&db, &sql).await, 1);
}

/// What would let a checked seat vanish before (or after) its reservation commits.
async fn a_seat_a_reservation_names_cannot_be_taken_away(db: TestDb) {
    let session = seed_session(&*db.store, 10, 500).await;
    hold(&*db.store, &session, 1, "alice").await;
    let id = session.id.0;
    for sql in [
        format!("DELETE FROM seats WHERE session_id = {id} AND seat_number = 1"),
        format!("UPDATE seats SET seat_number = 11 WHERE session_id = {id} AND seat_number = 1"),
    ] {
        assert!(
            execute_raw(&db, &sql).await.is_err(),
            "the schema accepted `{sql}`"
        );
    }
    let sql = format!("SELECT COUNT(*) FROM seats WHERE session_id = {id}");
    assert_eq!(count(&db, &sql).await, 10);
}
