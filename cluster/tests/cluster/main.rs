//! The cluster crate against a real NATS (with JetStream) and a real Postgres.
//!
//! Tests that need NATS read `NATS_URL` and say "skipped: … needs NATS_URL" without it
//! (a failure under `REQUIRE_NATS=1`); those that need Postgres use the engine's test
//! kit (`DATABASE_URL`, `REQUIRE_POSTGRES=1`), which gives each a fresh database with
//! every migration applied. Each test makes its own lease bucket and deletes it.

mod fencing;
mod leases;
mod support;
