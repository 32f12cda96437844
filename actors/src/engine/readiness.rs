//! Readiness: may this engine take traffic now? The database answers a trivial query
//! within a short timeout, the supervisor runs, and every room's WaitingRoom and every
//! session's actor is up (registered and taking messages). Liveness (the process
//! answers at all) is the HTTP layer's `/health`, which asks the engine nothing.
//!
//! Why each: a load balancer should stop sending a replica requests it can only
//! answer 503 — the database away, a room or session restarting — and send them again
//! once it recovers by itself; a stopped supervisor never recovers (the process exits).
//! Wallets are not checked: they start on demand and stop when idle.

use std::time::Duration;

use super::Engine;
use crate::domain::{RoomId, SessionId};
use crate::store::StoreError;

/// How long the database's trivial query may take before the engine is not ready:
/// far below a probe's usual timeout (1 s), well above a healthy round trip.
pub const READY_DB_TIMEOUT: Duration = Duration::from_millis(800);

/// Why the engine is not ready; its `Display` is the reason an operator reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The database did not answer its trivial query in time, or refused it.
    #[error("database: {0}")]
    Database(String),
    /// The supervisor has stopped: the engine will not recover.
    #[error("supervisor: stopped")]
    SupervisorStopped,
    /// A room's WaitingRoom is down (being restarted).
    #[error("waiting room {0}: down")]
    WaitingRoomDown(RoomId),
    /// A session's actor is down (being restarted).
    #[error("session {0}: down")]
    SessionDown(SessionId),
    /// The engine is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

impl Engine {
    /// Ready (`Ok`) when the database answers and every actor is up; else the first
    /// reason found. The actors are looked at first: no query while one is known down.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        let inner = &self.inner;
        if inner
            .shutting_down
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Err(NotReady::ShuttingDown);
        }
        if inner.supervisor.is_closed() {
            return Err(NotReady::SupervisorStopped);
        }
        for room in inner.rooms.ids() {
            if inner
                .registry
                .waiting_room(room)
                .is_none_or(|m| m.is_closed())
            {
                return Err(NotReady::WaitingRoomDown(room));
            }
        }
        for entry in inner.catalog.sessions() {
            let id = entry.row.id;
            if inner.registry.session(id).is_none_or(|m| m.is_closed()) {
                return Err(NotReady::SessionDown(id));
            }
        }
        match tokio::time::timeout(READY_DB_TIMEOUT, inner.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(StoreError::Unavailable(detail))) => Err(NotReady::Database(detail)),
            Ok(Err(other)) => Err(NotReady::Database(other.to_string())),
            Err(_) => Err(NotReady::Database(format!(
                "no answer within {} ms",
                READY_DB_TIMEOUT.as_millis()
            ))),
        }
    }
}
