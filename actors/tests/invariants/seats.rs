//! Seats and sessions: a seat live twice, an oversold session, a seat out of range,
//! missing seat rows, a reservation of no session.

use actors::backend_tests;
use actors::invariants::Code;
use actors::testkit::TestDb;

use crate::fixture::*;

backend_tests! {
    a_seat_held_twice_is_reported,
    an_oversold_session_is_reported,
    a_seat_out_of_range_is_reported,
    missing_seat_rows_are_reported,
    a_reservation_of_no_session_is_reported,
}

/// Two live reservations of one seat. The unique partial index refuses the second.
async fn a_seat_held_twice_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let second = reservation_sql(&f, 2, "bob", "held", 30);
    refused(&db, &second).await;
    without(&db, Relax::Index("reservations_one_live_per_seat"), &second).await;
    assert_codes(&db, &[Code::SeatDoubleBooked]).await;
}

/// More live reservations than seats. With one live reservation per seat row, this
/// takes seat rows beyond the seat count (here, the session shrunk under its
/// reservations), so the seats out of range and the seat rows are reported too.
async fn an_oversold_session_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE sessions SET seat_count = 1 WHERE id = {}",
            f.session.id.0
        )],
    )
    .await;
    assert_codes(
        &db,
        &[
            Code::SessionOversold,
            Code::SeatOutOfRange,
            Code::SeatRowsMismatch,
        ],
    )
    .await;
}

/// A reservation of a seat beyond the seat count (the seat check against `seats` only
/// lets it in through an extra seat row, which is reported too).
async fn a_seat_out_of_range_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let seat_11 = reservation_sql(&f, 11, "bob", "released", 40);
    refused(&db, &seat_11).await;
    plant(
        &db,
        &[
            format!(
                "INSERT INTO seats (session_id, seat_number) VALUES ({}, 11)",
                f.session.id.0
            ),
            seat_11,
        ],
    )
    .await;
    assert_codes(&db, &[Code::SeatOutOfRange, Code::SeatRowsMismatch]).await;
}

/// A session missing one of its seat rows. (Postgres refuses to delete a seat at
/// all: the seat check of new reservations relies on seats staying.)
async fn missing_seat_rows_are_reported(db: TestDb) {
    let f = fixture(&db).await;
    let delete = format!(
        "DELETE FROM seats WHERE session_id = {} AND seat_number = 10",
        f.session.id.0
    );
    without(
        &db,
        Relax::Trigger("seats DISABLE TRIGGER seats_are_permanent"),
        &delete,
    )
    .await;
    assert_codes(&db, &[Code::SeatRowsMismatch]).await;
}

/// A reservation of a session that does not exist. The seat check refuses it (on
/// SQLite, the foreign key to `seats`).
async fn a_reservation_of_no_session_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let orphan = reservation_sql(&f, 1, "bob", "released", 40)
        .replace(&format!("VALUES ({},", f.session.id.0), "VALUES (999,");
    refused(&db, &orphan).await;
    without(
        &db,
        Relax::ForeignKeys("reservations DISABLE TRIGGER reservations_seat_exists"),
        &orphan,
    )
    .await;
    assert_codes(&db, &[Code::UnknownSession]).await;
}
