//! `ClusterError`: every way a lease or a fenced write can be refused or fail.

use crate::epoch::Epoch;
use crate::thing::Thing;

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A configuration value or an id that does not hold together (a TTL too short for
    /// its safety margin, an empty node id, …). Raised at start, never while serving.
    #[error("invalid cluster setting: {0}")]
    Invalid(String),

    /// Another node (or this one, through another handle) holds the lease.
    #[error("{thing} is leased by {}", holder.as_deref().unwrap_or("another node"))]
    Taken {
        /// The thing whose lease was asked for.
        thing: Thing,
        /// The holder's node id, when it could be read.
        holder: Option<String>,
    },

    /// This node already holds as many leases as `max_leases` allows.
    #[error("this node holds its limit of {limit} leases")]
    TooManyLeases {
        /// The limit in force.
        limit: usize,
    },

    /// The lease is not (or no longer) held by this node: lost, released, or never claimed.
    #[error("{thing} is not leased by this node")]
    NotHeld {
        /// The thing named.
        thing: Thing,
    },

    /// A write (or a claim) carried an epoch that is not the thing's current one in
    /// Postgres: another node has owned it since. The write must not happen.
    #[error("{thing}: epoch {ours} is fenced off (current: {})", current.map_or("none".to_owned(), |e| e.to_string()))]
    Fenced {
        /// The thing written.
        thing: Thing,
        /// The writer's epoch.
        ours: Epoch,
        /// The epoch Postgres holds for it; `None` when no node ever claimed it.
        current: Option<Epoch>,
    },

    /// The lease bucket exists with settings that break the lease arithmetic (another
    /// TTL, more history): every node of a cluster must agree on them.
    #[error("lease bucket {bucket}: {problem}")]
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// What is wrong with it.
        problem: String,
    },

    /// NATS or JetStream did not answer as asked (down, timed out, refused).
    #[error("nats: {0}")]
    Nats(String),

    /// Postgres refused or failed.
    #[error("postgres: {0}")]
    Database(#[from] sqlx::Error),
}

impl ClusterError {
    /// Wraps any NATS client error, keeping its message (the client's error types are
    /// many and generic; callers only ever log them or retry).
    pub(crate) fn nats(err: impl std::fmt::Display) -> Self {
        ClusterError::Nats(err.to_string())
    }
}
