//! Queue streams served from this node's replica of the line (cluster mode, on a node
//! that does not own the engine; `docs/scale-out.md`, "The line on every node").
//!
//! The same [`QueueWatch`] as the owner's stream, reading the room's replica instead of
//! the published room: the same events, pace and end. What differs:
//! - only a token the replica answers a poll for is followed here (else the caller
//!   answers as before: the owner's stream, or none);
//! - each look at the ticket goes to the caller's `seen` (which reports it to the
//!   owner as a poll answered here), or the owner would evict a watched token as idle;
//! - the cap is a count of this node's own, at the engine's `max_streams`, and the
//!   streams end with [`ReplicaStreams::close`] (the node's drain).

use std::sync::Arc;

use tokio::time::Instant;

use super::EngineConfig;
use super::queue_watch::{Look, QueueWatch, TicketSource, Timing};
use super::streams::{StreamCount, Streams};
use crate::clock::Clock;
use crate::domain::QueueToken;
use crate::error::EngineResult;
use crate::waiting_room::{LineReplicas, ReplicaRoom, StreamSignals};

/// A node's queue streams served from its replicas: their cap, pace and end.
pub struct ReplicaStreams {
    streams: Streams,
    timing: Timing,
}

/// What a stream served here reports of each look: the token, as a poll answered here.
pub type SeenHook = Arc<dyn Fn(QueueToken) + Send + Sync>;

impl EngineConfig {
    /// No replica stream open yet; the cap and pace are this engine's streams'.
    pub fn replica_streams(&self) -> ReplicaStreams {
        ReplicaStreams {
            streams: Streams::new(self.max_streams),
            timing: self.stream_timing(),
        }
    }
}

impl ReplicaStreams {
    /// A queue stream of `token` from `replicas`, its first ticket read now. `None`:
    /// no replica answers the token's poll (a room not pictured, a token it does not
    /// hold or being written); `Some(Err(Overloaded))` past the cap.
    pub fn open(
        &self,
        replicas: &LineReplicas,
        token: QueueToken,
        seen: SeenHook,
    ) -> Option<EngineResult<QueueWatch>> {
        let (room, first) = replicas.find(None, token, Instant::now())?;
        let slot = match self.streams.take_slot() {
            Ok(slot) => slot,
            Err(error) => return Some(Err(error)),
        };
        seen(token);
        Some(Ok(QueueWatch::new(
            first,
            Arc::new(Reported { room, seen }),
            Clock::start(),
            self.timing,
            self.streams.closing(),
            slot,
        )))
    }

    /// Ends every open stream (the node's drain); streams opened afterwards end at once.
    pub fn close(&self) {
        self.streams.close();
    }

    /// The open streams' counter.
    pub fn open_streams(&self) -> StreamCount {
        self.streams.count()
    }
}

/// A room's replica whose every look is reported as seen.
struct Reported {
    room: Arc<ReplicaRoom>,
    seen: SeenHook,
}

impl TicketSource for Reported {
    fn signals(&self) -> &StreamSignals {
        self.room.signals()
    }

    fn look(&self, token: QueueToken, now: Instant) -> Look {
        (self.seen)(token);
        self.room.look(token, now)
    }
}

#[cfg(test)]
#[path = "replica_streams_tests.rs"]
mod tests;
