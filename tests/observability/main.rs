//! Observability (issue 13): the metrics the `concert` binary exports on its own
//! listener after a scripted sale, that the public port does not serve them, and its
//! JSON logs. Each test runs the real binary in a child process: the metrics recorder
//! is process-wide, so a process of its own is the one way a test sees only its own
//! counts. Like `tests/api`, every test runs on SQLite, and on Postgres when
//! `DATABASE_URL=postgres://…` is set. (`/ready` during a database outage is a drill:
//! `tests/drills/ready.rs`.)

#[path = "../safety/binary.rs"]
#[allow(dead_code)] // shared with tests/safety; not every helper is used here
mod binary;
mod logs;
mod metrics;
mod scrape;
