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
//!   `kill -9` of the owner under a mixed load: another node owns within the bound
//!   (`kill::FAILOVER_BOUND`), nothing acknowledged is lost, no seat is sold twice,
//!   `concert check` is clean.
//! - `churn`: a kill and a restart every ~5 s for about a minute under the mixed load
//!   (the owner three times out of four): each failover timed (p50/p90/max printed) and
//!   within the bound; the same audit.
//! - `nats_cut`: the owner cut off from NATS stops serving at its lease's deadline, the
//!   other node owns, and the cut node serves again by itself once NATS is back.
//! - `replica`: polls answered on every node from its replica of the line, agreeing with
//!   the owner within a second, across an admission and a failover.
//! - `replica_stream`: a queue stream (SSE) on a node that does not own the engine is
//!   served from its replica: its place, then its admission as the last event.
//! - `observe`: each request counted once, by the node the client talked to: polls
//!   answered from a non-owner's replica there, a forwarded charge there and not again
//!   by the owner, a charge sent to the owner once by the owner.
//! - `stale_write`: the same cut, the owner kept serving past its lease by a test fault
//!   (`CONCERT_TEST_IGNORE_LEASE_LOSS`, debug builds only): once the other node fenced a
//!   newer epoch, its hold and charge are refused by Postgres (503, "fenced") and
//!   nothing of theirs is written; the new owner's land.
//!
//! Their tools: `nodes` (a cluster's processes: start, kill, restart, who owns), `load`
//! (the live nodes, the mixed load through them and its book of acknowledgements),
//! `kill` (one `kill -9` under the load, timed), `audit` (the book against Postgres),
//! `partition` (two nodes, the owner's NATS behind a proxy, the cut).

mod audit;
mod churn;
mod failover;
mod kill;
mod load;
mod nats_cut;
mod nodes;
mod observe;
mod partition;
// The drills' TCP proxy, here between a node and NATS.
#[allow(dead_code)]
#[path = "../drills/proxy.rs"]
mod proxy;
mod replica;
mod replica_stream;
mod stale_write;
mod start;
// The drills' toolbox (the binary as a child process, the typed client wrapped, `concert
// check`); not all of it is used here.
#[allow(dead_code)]
#[path = "../drills/support.rs"]
mod support;
