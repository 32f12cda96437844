//! A queue stream's watch: one token's ticket, pushed as it changes, read from the
//! room its WaitingRoom publishes (never a message to the actor once open), or on a
//! node that does not own the engine, from its replica of the room's line (see
//! `replica_streams`): both are a [`TicketSource`], with the same signals.
//!
//! The stream waits on the room's version (bumped by the actor after each change
//! that moves positions or ends tokens), its token's admission signal, a position
//! tick, its keep-alive and a touch timer, whichever comes first:
//! - on its admission signal it reads its ticket at once, and says the admission;
//! - on a new version it reads its ticket: an end is said at once; a new position (or
//!   the draw's place) if a second has passed since the last event it sent, else at
//!   that second, and until then it does not listen to the version (one read and at
//!   most one event a second per stream, however fast the line moves; an estimate's
//!   drift alone is no change);
//! - every third of the waiting-idle time it reads its ticket anyway, which records
//!   a poll: a watched token is never evicted as idle. Once the stream closes, the
//!   token is idle from its last look, and evicted after the idle time as usual;
//! - after a keep-alive period with nothing sent, a keep-alive.
//!
//! The stream ends after its token's admission (the admitted ticket is its last
//! event), its end (expired or evicted), or the engine's shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::Engine;
use super::streams::StreamSlot;
use crate::clock::Clock;
use crate::domain::{QueueToken, RoomId};
use crate::error::{EngineError, EngineResult};
use crate::waiting_room::{PublishedRoom, StreamSignals, Ticket, WaitingRoomMsg};

/// A stream sends a new position at most this often (an admission or an end at once).
pub const POSITION_EVERY: Duration = Duration::from_secs(1);

/// How often a queue stream speaks when nothing happens, and looks at its token.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// A keep-alive after this long without an event.
    pub keep_alive: Duration,
    /// A look (which counts as a poll) at least this often.
    pub touch_every: Duration,
}

/// What a queue stream says next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// The token's ticket, exactly as a poll answers it; the last event if admitted.
    Ticket(Ticket),
    /// Nothing to say for a keep-alive period.
    KeepAlive,
    /// The token ended (its admission expired, or it was evicted): the last event.
    Expired(EngineError),
}

/// Where a queue stream reads its ticket, and what wakes it.
pub(crate) trait TicketSource: Send + Sync {
    /// The version and the admission signals the stream waits on.
    fn signals(&self) -> &StreamSignals;
    /// The token's ticket now, as a poll reads it.
    fn look(&self, token: QueueToken, now: Instant) -> Look;
}

impl TicketSource for PublishedRoom {
    fn signals(&self) -> &StreamSignals {
        PublishedRoom::signals(self)
    }

    fn look(&self, token: QueueToken, now: Instant) -> Look {
        // As a poll, this keeps the token in line.
        if let Some(ticket) = self.poll(token, now) {
            return Look::Ticket(ticket);
        }
        if self.is_up() && !self.holds(token) {
            Look::Ended
        } else {
            Look::Undecided
        }
    }
}

/// One token's place in line, live: see the module docs and [`Engine::queue_stream`].
pub struct QueueWatch {
    token: QueueToken,
    source: Arc<dyn TicketSource>,
    changes: watch::Receiver<u64>,
    /// The token's admission signal.
    admission: watch::Receiver<()>,
    closing: watch::Receiver<bool>,
    clock: Clock,
    timing: Timing,
    /// The ticket to send first, at once.
    first: Option<Ticket>,
    /// The last ticket sent, and when.
    last: Option<Ticket>,
    last_sent_at: Instant,
    /// The room changed (or the place moved) within the second after the last event:
    /// look (and send) at that second; the version is not listened to meanwhile.
    pending: bool,
    next_keep_alive_at: Instant,
    next_look_at: Instant,
    done: bool,
    _slot: StreamSlot,
}

/// What a look at the room found.
pub(crate) enum Look {
    Ticket(Ticket),
    /// The room is up (pictured) and no longer holds the token.
    Ended,
    /// Being written (leaving, an admission ending) or the room is down (not pictured):
    /// the version is bumped once that is decided.
    Undecided,
}

/// Why the stream woke.
enum Wake {
    Closing,
    Admitted,
    Changed,
    RoomGone,
    Timer,
}

impl QueueWatch {
    pub(super) fn new(
        first: Ticket,
        source: Arc<dyn TicketSource>,
        clock: Clock,
        timing: Timing,
        closing: watch::Receiver<bool>,
        slot: StreamSlot,
    ) -> Self {
        let mut changes = source.signals().subscribe();
        let mut admission = source.signals().watch_token(first.token);
        // The first ticket was read before these subscriptions: look once more at
        // once, so an admission or a change in between is not missed.
        changes.mark_changed();
        admission.mark_changed();
        let now = clock.now();
        Self {
            token: first.token,
            source,
            changes,
            admission,
            closing,
            clock,
            timing,
            first: Some(first),
            last: None,
            last_sent_at: now,
            pending: false,
            next_keep_alive_at: now + timing.keep_alive,
            next_look_at: now + timing.touch_every,
            done: false,
            _slot: slot,
        }
    }

    /// The next event; `None` once the stream is over (after its last event, or at
    /// the engine's shutdown).
    pub async fn next(&mut self) -> Option<QueueEvent> {
        if self.done {
            return None;
        }
        if let Some(first) = self.first.take() {
            return Some(self.send(first, self.clock.now()));
        }
        loop {
            let due = self.last_sent_at + POSITION_EVERY;
            let mut wake_at = self.next_keep_alive_at.min(self.next_look_at);
            if self.pending {
                wake_at = wake_at.min(due);
            }
            // While a change waits for its second, the version is not listened to:
            // the look at that second sees every change made meanwhile.
            let listening = !self.pending;
            let wake = tokio::select! {
                biased;
                _ = self.closing.wait_for(|closing| *closing) => Wake::Closing,
                changed = self.admission.changed() => match changed {
                    Ok(()) => Wake::Admitted,
                    Err(_) => Wake::RoomGone,
                },
                changed = self.changes.changed(), if listening => match changed {
                    Ok(()) => Wake::Changed,
                    Err(_) => Wake::RoomGone,
                },
                () = tokio::time::sleep_until(wake_at) => Wake::Timer,
            };
            let urgent = match wake {
                Wake::Closing | Wake::RoomGone => {
                    self.done = true;
                    return None;
                }
                Wake::Admitted => true,
                Wake::Changed => {
                    self.pending = true;
                    false
                }
                Wake::Timer => false,
            };
            let now = self.clock.now();
            let due_now = now >= due;
            if urgent || (self.pending && due_now) || now >= self.next_look_at {
                self.next_look_at = now + self.timing.touch_every;
                // This look sees every change so far: whatever moved is sent now, or
                // at its second (pending until then).
                self.changes.borrow_and_update();
                match self.source.look(self.token, now) {
                    Look::Ended => {
                        self.done = true;
                        return Some(QueueEvent::Expired(EngineError::TokenExpired));
                    }
                    Look::Ticket(ticket) if ticket.admitted => return Some(self.send(ticket, now)),
                    Look::Ticket(ticket)
                        if self.last.as_ref().is_none_or(|last| moved(last, &ticket)) =>
                    {
                        self.pending = !due_now;
                        if due_now {
                            return Some(self.send(ticket, now));
                        }
                    }
                    // Nothing moved, or not decided yet (the actor bumps the version
                    // once it is): wait for the next change.
                    Look::Ticket(_) | Look::Undecided => self.pending &= !due_now,
                }
            }
            if now >= self.next_keep_alive_at {
                self.next_keep_alive_at = now + self.timing.keep_alive;
                return Some(QueueEvent::KeepAlive);
            }
        }
    }

    fn send(&mut self, ticket: Ticket, now: Instant) -> QueueEvent {
        self.done = ticket.admitted;
        self.last = Some(ticket.clone());
        self.last_sent_at = now;
        self.next_keep_alive_at = now + self.timing.keep_alive;
        QueueEvent::Ticket(ticket)
    }
}

/// True if the token's place changed: its position, or the pre-queue's draw. An
/// estimate that drifts as time passes is no change (else every stream would speak
/// every second); a change carries the estimate of its moment.
fn moved(last: &Ticket, now: &Ticket) -> bool {
    (last.position, last.admitted, last.opens_at) != (now.position, now.admitted, now.opens_at)
}

impl Drop for QueueWatch {
    fn drop(&mut self) {
        self.source.signals().unwatch_token(self.token);
    }
}

impl Engine {
    /// A live token's room and ticket, as a poll answers it, without issuing one:
    /// 403 for a missing, malformed or unknown token, 401 for an ended one.
    pub(super) async fn live_ticket(
        &self,
        authorization: Option<&str>,
    ) -> EngineResult<(RoomId, Ticket)> {
        let token = authorization
            .and_then(|header| QueueToken::parse(header).ok())
            .ok_or(EngineError::InvalidToken)?;
        let now = self.inner.clock.now();
        let published = self.inner.rooms.find(None, |room, published| {
            published.poll(token, now).map(|ticket| (room, ticket))
        });
        if let Some(found) = published {
            return Ok(found);
        }
        // Not answered there: being written (the actor answers once it is decided),
        // its room down, ended, or unknown (the store says).
        let holder = self.inner.rooms.find(None, |room, published| {
            published.holds(token).then_some(room)
        });
        let room = match holder {
            Some(room) => room,
            None => {
                let row = self
                    .inner
                    .store
                    .token(token)
                    .await?
                    .ok_or(EngineError::InvalidToken)?;
                if !row.state.is_live() {
                    return Err(EngineError::TokenExpired);
                }
                row.room
            }
        };
        let ticket = self
            .waiting_room(room)?
            .ask(
                |reply| WaitingRoomMsg::Poll { token, reply },
                self.inner.config.call_timeout,
            )
            .await?;
        ticket
            .map(|ticket| (room, ticket))
            .ok_or(EngineError::TokenExpired)
    }
}
