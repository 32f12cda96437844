//! The push side of the façade: a queue stream (a token's place, pushed as it moves)
//! and a seat stream (a session's seat map, pushed per change), each opened with one
//! call that hands the HTTP layer a watch to forward, and the cap on open streams.
//!
//! Why watches, not messages: at tens of thousands of open streams, a message per
//! stream per change would put the WaitingRoom's (or a SessionActor's) work in
//! proportion to its audience. Instead each actor publishes: the WaitingRoom bumps a
//! version that every queue stream waits on and then reads its own ticket from the
//! published room (see `queue_watch`); a SessionActor sends each seat change once on
//! a bounded broadcast beside its board. Actors stay the only writers; a stream only
//! reads.
//!
//! Bounds: at most `max_streams` open at once (both kinds; past it `Overloaded`, a
//! 503), each holding a [`StreamSlot`] until its watch is dropped; a seat stream that
//! falls [`SEAT_CHANGES_CAPACITY`](crate::session::board::SEAT_CHANGES_CAPACITY)
//! changes behind ends (its client reconnects and reads the whole list again); the
//! HTTP layer drops a reader that does not take what is sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::queue_watch::QueueWatch;
use super::{Engine, SeatsView};
use crate::domain::SessionId;
use crate::error::{EngineError, EngineResult};
use crate::session::board::SeatChange;

/// The open streams: how many, the most allowed, and the signal that ends them all.
pub(super) struct Streams {
    open: StreamCount,
    max: usize,
    closing: watch::Sender<bool>,
}

/// The number of open streams (queue and seat together), to export as a gauge
/// (`concert_sse_streams`). Cheap to clone; every clone reads the same counter.
#[derive(Debug, Clone, Default)]
pub struct StreamCount(Arc<AtomicUsize>);

impl StreamCount {
    /// Streams open now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One open stream's place under the cap, given back when its watch is dropped.
#[derive(Debug)]
pub(super) struct StreamSlot(StreamCount);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Streams {
    pub(super) fn new(max: usize) -> Self {
        Self {
            open: StreamCount::default(),
            max,
            closing: watch::Sender::new(false),
        }
    }

    /// A place for one more stream, or `Overloaded` at the cap.
    pub(super) fn take_slot(&self) -> EngineResult<StreamSlot> {
        let max = self.max;
        (self.open.0)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .map(|_| StreamSlot(self.open.clone()))
            .map_err(|_| EngineError::Overloaded)
    }

    /// The open streams' counter.
    pub(super) fn count(&self) -> StreamCount {
        self.open.clone()
    }

    /// The signal that ends every stream, for one more.
    pub(super) fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every open stream; streams opened afterwards end at once.
    pub(super) fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// What a seat stream says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatEvent {
    /// The whole seat list (first, and only first).
    Seats(SeatsView),
    /// One seat changed.
    Seat(SeatChange),
    /// Nothing changed for a keep-alive period.
    KeepAlive,
}

/// A session's seat map, live: see [`Engine::seat_stream`].
#[derive(Debug)]
pub struct SeatWatch {
    first: Option<SeatsView>,
    changes: broadcast::Receiver<SeatChange>,
    keep_alive: Duration,
    closing: watch::Receiver<bool>,
    _slot: StreamSlot,
}

impl SeatWatch {
    /// The next event: the whole list first, then each change, or a keep-alive after
    /// a quiet period. `None` ends the stream: the reader fell too far behind (it
    /// reconnects and reads the list again), the session is gone, or the engine is
    /// shutting down.
    pub async fn next(&mut self) -> Option<SeatEvent> {
        if let Some(first) = self.first.take() {
            return Some(SeatEvent::Seats(first));
        }
        let quiet_until = Instant::now() + self.keep_alive;
        tokio::select! {
            biased;
            _ = self.closing.wait_for(|closing| *closing) => None,
            change = self.changes.recv() => match change {
                Ok(change) => Some(SeatEvent::Seat(change)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "seat stream fell behind; ended");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
            () = tokio::time::sleep_until(quiet_until) => Some(SeatEvent::KeepAlive),
        }
    }
}

impl Engine {
    /// Opens a queue stream for the token in `authorization`: its ticket at once,
    /// then as it moves (see [`QueueWatch`]). Answers as the poll would for a token it
    /// cannot follow: 403 `InvalidToken` for a missing, malformed or unknown one (a
    /// stream never issues a token), 401 `TokenExpired` for an ended one, 503
    /// `Overloaded` past the cap of open streams.
    pub async fn queue_stream(&self, authorization: Option<&str>) -> EngineResult<QueueWatch> {
        let slot = self.inner.streams.take_slot()?;
        let (room, ticket) = self.live_ticket(authorization).await?;
        let published = self
            .inner
            .rooms
            .get(room)
            .ok_or(EngineError::RoomNotFound)?;
        Ok(QueueWatch::new(
            ticket,
            published,
            self.inner.clock,
            self.inner.config.stream_timing(),
            self.inner.streams.closing(),
            slot,
        ))
    }

    /// Opens a seat stream on a session: its whole seat list at once (as
    /// [`Engine::seats`] answers it), then each change. 404 `SessionNotFound`, or
    /// 503 `Overloaded` past the cap of open streams.
    pub async fn seat_stream(&self, session: SessionId) -> EngineResult<SeatWatch> {
        let slot = self.inner.streams.take_slot()?;
        let board = self
            .inner
            .catalog
            .session(session)
            .ok_or(EngineError::SessionNotFound)?
            .board;
        // Listening before the list is read: a change made meanwhile is sent after
        // the list (at worst twice), never lost.
        let changes = board.subscribe();
        let first = self.seats(session).await?;
        Ok(SeatWatch {
            first: Some(first),
            changes,
            keep_alive: self.inner.config.stream_keep_alive,
            closing: self.inner.streams.closing(),
            _slot: slot,
        })
    }

    /// The open streams' counter, for a gauge.
    pub fn open_streams(&self) -> StreamCount {
        self.inner.streams.open.clone()
    }

    /// Ends every open stream (a shutdown: an open stream would otherwise hold its
    /// connection, and the graceful drain, until the grace period ran out). Streams
    /// opened afterwards end at once.
    pub fn close_streams(&self) {
        self.inner.streams.close();
    }
}

impl super::EngineConfig {
    /// How often a queue stream speaks when nothing happens, and looks at its token.
    pub(super) fn stream_timing(&self) -> super::queue_watch::Timing {
        let config = self;
        super::queue_watch::Timing {
            keep_alive: config.stream_keep_alive,
            // Three looks per idle time: the token is never idle while watched.
            touch_every: (config.waiting_idle / 3)
                .clamp(Duration::from_millis(100), config.stream_keep_alive),
        }
    }
}
