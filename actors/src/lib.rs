//! The concert reservation engine: actors, domain and store. No HTTP.
//!
//! Thousands of people press "hold" on the same fifty seats in the same second.
//! Each piece of contended state has exactly one owner, an actor that handles one
//! message at a time and writes every change through to the database before it
//! answers. No locks order the changes to seats, balances or the line (the line's
//! owner publishes it behind a lock that lets polls read it, with itself the only
//! writer); the database's constraints stand behind the actors in case one of them is
//! ever wrong.
//!
//! # Map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`engine`] | the façade the HTTP layer calls: `queue`, `identify`, `hold`, `pay`, … |
//! | [`waiting_room`] | the WaitingRoom actor: tokens, FIFO line, admission, eviction; the room it publishes for polls |
//! | [`session`] | one SessionActor per concert session: its seat map, holds, expiry, sale |
//! | [`wallet`] | one Wallet actor per active user: charges and payment debits |
//! | [`supervisor`] | spawns and restarts the actors above; a meltdown stops the engine |
//! | [`registry`] | where the engine finds running actors, and what the WaitingRoom publishes |
//! | [`catalog`] | concerts and sessions in memory, with each session's published seat board |
//! | [`mailbox`] | the bounded intake in front of every actor (overload is a 503, not a queue) |
//! | [`store`] | the `Store` trait the actors write through; Postgres and SQLite backends; group commit |
//! | [`invariants`] | `concert check`: every invariant verified from the database alone |
//! | [`domain`] | ids and validated values every layer shares |
//! | [`error`] | `EngineError`: every outcome a client can see other than success |
//! | [`clock`] | ties timers (tokio time) to timestamps (UTC), so paused-clock tests drive both |
//! | `testkit` (feature) | fresh SQLite/Postgres databases per test, `backend_tests!`, fixtures |
//!
//! # Life of a request
//!
//! A poll: `Engine::queue` reads the token's ticket from the room the WaitingRoom
//! publishes; only a new user, or a token it cannot answer, sends a message.
//! A hold: `Engine::identify` finds the token among the admissions the WaitingRoom
//! publishes (or asks the WaitingRoom); `Engine::hold` checks the token is admitted,
//! refuses a seat the session's board shows taken, and sends `SessionMsg::Hold` to the
//! session's actor,
//! which checks the seat, inserts the reservation row, records the hold, sets its
//! expiry timer and replies. A payment: the SessionActor asks the user's Wallet to
//! commit debit, payment and sale in one transaction, marks the seat sold, and the
//! engine ends the caller's admission so the next in line is admitted.
//! `docs/architecture.md` tells the whole story.

pub mod catalog;
pub mod clock;
pub mod domain;
pub mod engine;
pub mod error;
pub mod invariants;
pub mod mailbox;
pub mod registry;
pub mod session;
pub mod store;
pub mod supervisor;
pub mod waiting_room;
pub mod wallet;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use engine::{
    Caller, CallerStatus, Engine, EngineConfig, EngineMonitor, EngineStop, WalletView,
};
pub use error::{EngineError, EngineResult};
