//! The store conformance suite: every `Store` promise, checked on SQLite always and
//! on Postgres when `DATABASE_URL` names one (see `actors::testkit`).
//!
//! Each test runs twice, as `<name>::sqlite` and `<name>::postgres`.

mod support;

mod batches;
mod catalog_and_holds;
mod draw;
mod indexes;
mod money;
mod races;
mod room_migration;
mod rooms;
mod seat_check;
mod tokens;
