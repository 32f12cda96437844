//! `concert check`: reads a database and verifies every invariant the engine and the
//! schema promise, independent of any running actor.
//!
//! [`check`] opens its own connection to the `DATABASE_URL` (Postgres or SQLite), the
//! way the store opens its own (`store::Backend`, each backend's `connect_options`),
//! reads everything in one read-only snapshot (`REPEATABLE READ` on Postgres, one read
//! transaction on SQLite), so it may run beside a live server, and answers a
//! [`Report`]: every [`Violation`] found, each with a stable [`Code`] and a message
//! for people, and a tally of what was read for the one-line summary.
//!
//! The hold limit and `max_active` are the ones in force when each hold and admission
//! was made: every engine start records its [`Limits`] (`Store::record_limits`), and
//! the [`Limits`] passed to [`check`] (the flags) judge only history older than the
//! first record, as in a database served before the record existed (`limits`).
//! Admissions are judged per room, by the room's own `max_active` history
//! (`room_limits`, written with every change) where it has one.
//!
//! Most checks are one standard-SQL query that runs unchanged on both backends and
//! returns only the offending rows. Those that compare instants (the hold limit at
//! the moment of each hold, a hold expired early, a payment after expiry) read the
//! reservations and compare in Rust, so that Postgres' `TIMESTAMPTZ` and SQLite's
//! RFC 3339 text need no dialect.
//!
//! Several of these invariants are also constraints of the schema (a unique index,
//! a `CHECK`, a foreign key): the check verifies them anyway, because a database
//! restored from elsewhere, or a future migration, may not carry them.
//!
//! Tokens and idempotency keys are secrets of their users and never appear in a
//! message: tokens are named by their `seq` (their place in the order of issue).
//!
//! One file per invariant group: `seats` (seats and sessions), `holds`
//! (reservations over time), `payments`, `money` (wallets and the ledger),
//! `queue` (the waiting room); `limits` holds the limits in force over time,
//! `report` what is answered, and `db` the snapshot they all read.

use std::time::Duration;

mod db;
mod holds;
mod limits;
mod money;
mod payments;
mod queue;
mod report;
mod seats;

pub use crate::store::Limits;
use crate::store::{StoreError, UnknownBackend};
use db::Db;
use limits::LimitsInForce;
pub use report::{Code, Report, Tally, Violation};

/// How late a payment may be timestamped after its hold's deadline. The engine
/// checks the deadline and reads the clock for `paid_at` with no await in between,
/// so a real gap is microseconds; a second leaves room for a descheduled thread.
pub const PAYMENT_DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// Why the check could not run (as opposed to finding violations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The URL names neither Postgres nor SQLite: its scheme.
    #[error("{}", UnknownBackend(.0.clone()))]
    Url(String),
    /// The database could not be opened or read (missing file, no schema, …).
    #[error("database: {0}")]
    Database(String),
}

impl From<sqlx::Error> for CheckError {
    fn from(error: sqlx::Error) -> Self {
        CheckError::Database(error.to_string())
    }
}

impl From<StoreError> for CheckError {
    fn from(error: StoreError) -> Self {
        CheckError::Database(error.to_string())
    }
}

/// Reads the database at `url` in one snapshot and verifies every invariant.
/// Nothing is written; a SQLite file that does not exist is an error, not created.
/// `limits` (the flags) judge only the holds and admissions that no engine start
/// recorded its limits before (see `invariants/limits.rs`).
pub async fn check(url: &str, limits: &Limits) -> Result<Report, CheckError> {
    let mut db = Db::open(url).await?;
    db.begin_snapshot().await?;
    let result = run_checks(&mut db, limits).await;
    // Read-only: ending the snapshot cannot lose anything, and a failure to end it
    // does not change what was read.
    let _ = db.end_snapshot().await;
    db.close().await;
    result
}

async fn run_checks(db: &mut Db, flags: &Limits) -> Result<Report, CheckError> {
    let limits = LimitsInForce::read(db, flags).await?;
    let mut out = Vec::new();
    seats::seats(db, &mut out).await?;
    holds::holds(db, &limits, &mut out).await?;
    payments::payments(db, &mut out).await?;
    money::ledger(db, &mut out).await?;
    queue::tokens(db, &limits, &mut out).await?;
    out.sort_by_key(|v| v.code);
    Ok(Report {
        violations: out,
        tally: report::tally(db).await?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn codes_are_distinct_and_screaming_snake_case() {
        let names: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_url_of_another_database_is_refused() {
        let error = block_on(check("mysql://x", &Limits::default()));
        assert_eq!(error, Err(CheckError::Url("mysql".to_owned())));
        assert_eq!(
            error.unwrap_err().to_string(),
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got \"mysql\")"
        );
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }
}
