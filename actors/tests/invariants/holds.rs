//! Reservations over time: timestamps against their status, a hold expired early,
//! a user over the hold limit, a payment after the deadline.

use std::collections::BTreeSet;

use actors::backend_tests;
use actors::invariants::Code;
use actors::testkit::TestDb;

use crate::fixture::*;

backend_tests! {
    reservation_timestamps_against_their_status_are_reported,
    a_hold_expired_early_is_reported,
    more_live_holds_than_the_limit_are_reported,
    a_payment_after_the_deadline_is_reported,
}

/// A released hold without its end time, a held one with one, a deadline before the hold.
async fn reservation_timestamps_against_their_status_are_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[
            format!(
                "UPDATE reservations SET ended_at = NULL WHERE id = {}",
                f.released.id.0
            ),
            format!(
                "UPDATE reservations SET ended_at = {} WHERE id = {}",
                lit(at(6)),
                f.held.id.0
            ),
        ],
    )
    .await;
    let report = run(&db).await;
    assert_eq!(report.codes(), BTreeSet::from([Code::ReservationLifecycle]));
    assert_eq!(report.violations.len(), 2, "{:#?}", report.violations);
}

/// A hold expired before its deadline.
async fn a_hold_expired_early_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE reservations SET ended_at = {} WHERE id = {}",
            lit(at(-400)),
            f.expired.id.0
        )],
    )
    .await;
    assert_codes(&db, &[Code::HoldExpiredEarly]).await;
}

/// A third live hold of alice's in the session (the limit is two), while a hold
/// she paid, one that ran out and one given up do not count.
async fn more_live_holds_than_the_limit_are_reported(db: TestDb) {
    let f = fixture(&db).await;
    // bob: an expired hold (seat 4) and a released one (seat 3) end before these.
    plant(
        &db,
        &[
            reservation_sql(&f, 5, "bob", "held", 30),
            reservation_sql(&f, 6, "bob", "held", 31),
        ],
    )
    .await;
    assert_codes(&db, &[]).await;
    // alice: seat 2 held at 3 s, until 303 s.
    plant(
        &db,
        &[
            reservation_sql(&f, 7, "alice", "held", 40),
            reservation_sql(&f, 8, "alice", "released", 41),
        ],
    )
    .await;
    let report = run(&db).await;
    assert_eq!(report.codes(), BTreeSet::from([Code::HoldLimitExceeded]));
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
}

/// A payment timestamped after its hold's deadline.
async fn a_payment_after_the_deadline_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE payments SET paid_at = {} WHERE id = {}",
            lit(at(1 + 300 + 2)),
            f.paid
        )],
    )
    .await;
    assert_codes(&db, &[Code::PaidAfterExpiry]).await;
}
