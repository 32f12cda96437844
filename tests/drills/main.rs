//! Drills against the real `concert` binary (`CARGO_BIN_EXE_concert`), each on a fresh
//! database: SQLite always, Postgres when `DATABASE_URL` names one (the test kit's
//! `postgres()`; `REQUIRE_POSTGRES=1` turns a skip into a failure).
//!
//! - `crash`: twenty SIGKILLs under a mixed load; nothing acknowledged is lost.
//! - `outage`: Postgres unreachable for ten seconds under load (Postgres only).
//! - `ready`: `GET /ready` 503 while Postgres is away, 200 once it is back (Postgres only).
//! - `single_node`: a second node on one database refuses to start; the lock survives
//!   neither `kill -9` nor a lost connection unnoticed (Postgres).
//! - `slow_clients`: 2,000 trickled bodies and 2,000 idle connections beside a normal client.
//!
//! Each drill prints its seed (`DRILL_SEED=<n>` replays its choices) and its figures,
//! which `docs/reliability.md` quotes.

mod crash;
mod outage;
mod proxy;
mod ready;
mod single_node;
mod slow_clients;
mod support;
