//! Cluster mode (stage 1) against the real `concert` binary: three nodes on one fresh
//! Postgres database and one NATS (a lease bucket of the test's own).
//!
//! Needs `DATABASE_URL=postgres://…` (the engine's test kit makes a fresh database;
//! `REQUIRE_POSTGRES=1` turns a skip into a failure) and `NATS_URL` (with JetStream;
//! `REQUIRE_NATS=1` likewise). The refusal of SQLite needs neither.
//!
//! - `start`: cluster mode refuses SQLite; nodes share one database (the single-node lock
//!   in shared mode), which a single node and a cluster never do.
//! - `failover`: the contract's purchase with every request sent to a random node;
//!   `kill -9` of the owner under a mixed load: another node owns within 5 s, nothing
//!   acknowledged is lost, no seat is sold twice, `concert check` is clean.
//! - `nats_cut`: the owner cut off from NATS stops serving at its lease's deadline, the
//!   other node owns, and the cut node serves again by itself once NATS is back.
//! - `replica`: polls answered on every node from its replica of the line, agreeing with
//!   the owner within a second, across an admission and a failover.

mod failover;
mod nats_cut;
mod nodes;
// The drills' TCP proxy, here between a node and NATS.
#[allow(dead_code)]
#[path = "../drills/proxy.rs"]
mod proxy;
mod replica;
mod start;
// The drills' toolbox (the binary as a child process, the typed client wrapped, `concert
// check`); not all of it is used here.
#[allow(dead_code)]
#[path = "../drills/support.rs"]
mod support;
