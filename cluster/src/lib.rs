//! Several concert nodes on NATS JetStream and Postgres (issue 15): the foundation.
//!
//! Each SessionActor, WaitingRoom and Wallet of the engine must run on exactly one
//! node at a time. A node owns such a [`Thing`] while it holds a [`Lease`] on a
//! JetStream KV key, and every write it makes for it carries the lease's [`Epoch`],
//! which Postgres checks: a node that lost its lease cannot write once another has
//! claimed it. `docs/scale-out.md` tells the whole design and which parts are built.
//!
//! # Map
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`config`] | `ClusterArgs` (command line and environment), `LeaseConfig`, `BucketName` |
//! | [`timing`] | the lease arithmetic: renewal period, deadline, the safety margin's lower bound |
//! | [`leases`] | `Leases`: opens the bucket, claims a thing (KV `create`; its revision is the epoch) |
//! | [`lease`] | `Lease`: a held lease — its epoch, status (`Held`/`Lost`/`Released`), release |
//! | `renewal` | the task that renews one lease, keeps its deadline and releases it |
//! | `lease_kv` | the KV calls a renewal makes, as a trait (JetStream's; an in-memory one in tests) |
//! | [`fence`] | Postgres: `fence_claim` (an epoch only moves forward), `check_epoch` in a write's transaction |
//! | [`thing`] | `Thing`: a session, a room or a wallet, and its key (`session.7`, `room.site`, `wallet.<user>`) |
//! | [`node`], [`epoch`] | the `NodeId` and `Epoch` newtypes |
//! | [`error`] | `ClusterError`, the crate's one error type |
//!
//! # Life of an owned thing
//!
//! `Leases::claim` creates the key (refused if another node holds it) →
//! `fence::fence_claim` records the epoch in `owner_epochs` (refused if a newer claim
//! is recorded) → the actor is rebuilt from Postgres → each write runs
//! `fence::check_epoch` in its transaction → the holder serves while `Lease::is_held`
//! and stops on `Lease::ended` → `Lease::release` (or dropping it) deletes the key if
//! it is still ours, or it expires by itself a TTL after the last renewal.

pub mod config;
pub mod epoch;
pub mod error;
pub mod fence;
pub mod lease;
mod lease_kv;
pub mod leases;
pub mod node;
mod renewal;
pub mod thing;
pub mod timing;

pub use config::{BucketName, ClusterArgs, LeaseConfig};
pub use epoch::Epoch;
pub use error::ClusterError;
pub use lease::{Lease, LeaseStatus, LostReason};
pub use leases::Leases;
pub use node::NodeId;
pub use thing::Thing;
pub use timing::LeaseTiming;
