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
//! The crate's public surface is the façade, the domain and the errors; everything
//! else is the engine's inside, private to the crate (the `testkit` feature opens
//! some of it to the crate's own tests and benches).
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`engine`] | **public**: the façade: `start`, `queue`, `identify`, `hold`, `pay`, …, the types they answer, and `concert check` |
//! | [`domain`] | **public**: ids and validated values every layer shares |
//! | [`error`] | **public**: `EngineError`: every outcome a client can see other than success |
//! | [`metrics`] | **public**: the names of the metrics the engine emits (the `metrics` facade), and where each is emitted |
//! | [`node_lock`] | **public**: the lock a single node holds on its database (one node per database), and the gate that stops its writes when the lock is lost |
//! | `waiting_room` | one WaitingRoom actor per room: tokens, the pre-queue and its draw, FIFO line, admission, pause, eviction; the room and admissions it publishes |
//! | `rooms` | the directory of rooms (site-wide, and each concert's on sale) and what each publishes |
//! | `session` | one SessionActor per concert session: its seat map, holds, expiry, sale |
//! | `wallet` | one Wallet actor per active user: charges and payment debits |
//! | `supervisor` | spawns and restarts the actors above; a meltdown stops the engine |
//! | `registry` | the directory of running actors' mailboxes, which the supervisor keeps |
//! | `catalog` | concerts and sessions in memory, with each session's published seat board |
//! | `mailbox` | the bounded intake in front of every actor (overload is a 503, not a queue) |
//! | `store` | the `Store` trait the actors write through; Postgres and SQLite backends; group commit |
//! | `invariants` | `concert check`: every invariant verified from the database alone |
//! | `clock` | ties timers (tokio time) to timestamps (UTC), so paused-clock tests drive both |
//! | `testkit` (feature) | fresh SQLite/Postgres databases per test, `backend_tests!`, fixtures |
//!
//! # Life of a request
//!
//! A poll: `Engine::queue_in` reads the token's ticket from the room its WaitingRoom
//! publishes; only a new user, or a token it cannot answer, sends a message.
//! A hold: the caller resolves its token once (`Engine::identify`, which finds it
//! among the admissions the WaitingRoom publishes, and `Caller::admitted`), then
//! makes one call, `Engine::hold`, which refuses a seat the session's board shows
//! taken and sends `SessionMsg::Hold` to the session's actor; the actor checks the
//! seat and the caller's limit, writes the reservation through group commit, queues
//! its deadline for the session's expiry timer and replies. A payment: the SessionActor asks the user's Wallet
//! to commit debit, payment and sale in one transaction, marks the seat sold, and
//! the engine ends the caller's admission so the next in line is admitted.
//! `docs/architecture.md` tells the whole story.
//!
//! # Several nodes
//!
//! The `concert-cluster` crate (`cluster/`) builds on the ids of [`domain`]: a session,
//! a room or a wallet is a thing one node owns by a lease, and its writes are to carry the
//! lease's epoch, which Postgres checks (`owner_epochs`, migration 0006). Here, a
//! [`ClusterDatabase`] hands the engine a store whose every write first runs that check
//! ([`Fence`], [`check_epoch`]: the statement's one home); a single node's write paths
//! are unchanged (`docs/scale-out.md`).

pub mod domain;
pub mod engine;
pub mod error;
pub mod metrics;
pub mod node_lock;

/// Declares the engine's inside: private to the crate, opened to the crate's own
/// tests and benches by the `testkit` feature (store conformance, fault-injecting
/// stores, paused clocks). Nothing outside the crate builds on them.
macro_rules! internal {
    ($($module:ident),* $(,)?) => {
        $(
            #[cfg(feature = "testkit")]
            pub mod $module;
            #[cfg(not(feature = "testkit"))]
            mod $module;
        )*
    };
}

internal!(clock, invariants, store, waiting_room);

mod catalog;
mod mailbox;

/// A concurrent map keyed by what the engine itself issued (ids, tokens): foldhash
/// (hashbrown's default, seeded per process), not SipHash, which cost a refused hold
/// ~900 instructions over its lookups (docs/performance.md, "Fourth pass"). A map keyed
/// by what a client chooses (a user id, an address) keeps SipHash.
pub(crate) type IdMap<K, V> = dashmap::DashMap<K, V, hashbrown::DefaultHashBuilder>;
mod registry;
mod rooms;
mod session;
mod supervisor;
mod wallet;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use engine::{
    Admitted, Caller, CallerStatus, ClusterDatabase, Database, Engine, EngineConfig, EngineMonitor,
    EngineStop, Live, Payer, WalletView,
};
pub use error::{EngineError, EngineResult};
pub use node_lock::{LockError, NodeLock};
pub use store::fence::{Fence, check_epoch};
