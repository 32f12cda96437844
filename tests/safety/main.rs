//! Safety suites over HTTP (issue 4): the contended paths under real concurrency, the
//! bounded intake under a flood, hostile input, and access control. Like `tests/api`,
//! every suite runs on SQLite, and on Postgres when `DATABASE_URL=postgres://…` is set.
//!
//! Each suite prints the figures `docs/reliability.md` quotes (`cargo test --test safety
//! -- --nocapture` shows them) and ends with [`invariants::assert_holds`]: `concert
//! check` on its database, which must pass whatever happened over HTTP.

#[path = "../api/helpers.rs"]
#[allow(dead_code)] // shared with tests/api; not every helper is used here
mod helpers;

mod binary;
mod invariants;
mod support;

mod access;
mod charges;
mod hostile;
mod idempotency;
mod overload;
mod payments;
mod storm;
