//! Actor-level tests: message sequences sent through the engine façade to the
//! real actors over a real store, on SQLite always and on Postgres when
//! `DATABASE_URL` names one. Time-dependent tests run under tokio's paused clock.

mod admitted_idle;
mod charges;
mod common;
mod faulty_store;
mod hold_expiry;
mod holds;
mod lost_replies;
mod payments;
mod queue;
mod readiness;
mod replication;
mod rooms;
mod streams;
mod supervision;
mod token_pruning;
mod wallets;
