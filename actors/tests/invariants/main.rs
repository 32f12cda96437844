//! The waiting room: admitted tokens within `max_active`, one live token per user,
//! timestamps against states, the line served in order.
//!
//! One file per invariant group, as in `actors/src/invariants/`; [`limits`] covers
//! history judged by the limits the engine recorded when it was made.

mod fixture;
mod holds;
mod limits;
mod money;
mod payments;
mod queue;
mod rooms;
mod seats;

use actors::backend_tests;
use actors::invariants::check;
use actors::testkit::TestDb;

use crate::fixture::*;

backend_tests! {
    a_database_written_by_the_store_is_clean,
    a_missing_database_is_an_error_not_a_clean_report,
}

/// What the store writes through the engine's own calls breaks no invariant, and
/// the summary counts what was read.
async fn a_database_written_by_the_store_is_clean(db: TestDb) {
    fixture(&db).await;
    let report = run(&db).await;
    assert!(report.is_clean());
    let t = &report.tally;
    assert_eq!((t.sessions, t.reservations, t.held, t.paid), (1, 4, 1, 1));
    assert_eq!((t.payments, t.wallets, t.ledger_rows), (1, 2, 3));
    assert_eq!((t.tokens, t.waiting, t.admitted), (4, 1, 1));
    assert!(
        report.summary().ends_with("every invariant holds"),
        "{}",
        report.summary()
    );
}

/// A SQLite file that is not there is an error, and is not created.
async fn a_missing_database_is_an_error_not_a_clean_report(db: TestDb) {
    let missing = if is_sqlite(&db) {
        let dir = std::env::temp_dir().join(format!("concert-check-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("none.db").display());
        assert!(check(&url, &LIMITS).await.is_err());
        assert!(!dir.exists());
        return;
    } else {
        let (base, _) = db.url.rsplit_once('/').unwrap();
        format!("{base}/concert_check_no_such_database")
    };
    assert!(check(&missing, &LIMITS).await.is_err());
}
