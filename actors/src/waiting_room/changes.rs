//! The line's changes, as its read replicas on other nodes receive them (cluster
//! mode, `docs/scale-out.md`, "The line on every node").
//!
//! Why the room records them itself: every change of the line is one of the room's
//! own methods (join, confirm, admit, evict, …), each called by the actor once its
//! write is decided, under the published room's write lock. Recording there, in call
//! order, cannot miss a change or reorder two, and a replica that applies the same
//! calls in the same order to a room of its own answers every poll as the owner does
//! (`replica.rs`). A change that rewrites the whole line (the draw), or a batch the
//! sink could not take, is sent as a whole picture instead: a [`LineChange::Reset`]
//! followed by the waiters (front first) and the admissions, in bounded chunks.
//!
//! Off by default: a room records nothing unless its actor has a [`LineSink`] (a
//! single node pays one branch per change). The sink is bounded; when it is full the
//! batch is dropped and the room's next batch is a whole picture, so a slow
//! publisher costs the replicas freshness, never the owner memory or the actor time.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::schedule::{RoomSettings, Totals};
use crate::domain::{QueueToken, RoomId, UserId};

/// The most tokens one change carries, so that one change stays well under a NATS
/// message (1 MB by default) whatever the room's size.
pub const TOKENS_PER_CHANGE: usize = 1024;

/// Where a waiter is in its life (see `room.rs`): a replica answers only `Waiting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WaiterStage {
    /// Its row is being written: it holds its place, but is not answered yet.
    Joining,
    /// Stored and in line.
    Waiting,
    /// Its eviction is being written.
    Leaving,
}

/// One change of a room's line: the room method it replays, with its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "camelCase")]
pub enum LineChange {
    /// A whole picture starts: whatever the replica had of the room is replaced by an
    /// empty line with these settings; `Waiters` and `Admissions` follow.
    Reset {
        /// The room's settings.
        settings: RoomSettings,
        /// Its counters.
        totals: Totals,
    },
    /// Part of a whole picture: waiters at the back of the line, in line order.
    Waiters {
        /// Token, user and stage of each.
        waiters: Vec<(QueueToken, UserId, WaiterStage)>,
    },
    /// Part of a whole picture: admitted tokens and their users.
    Admissions {
        /// Token and user of each.
        admissions: Vec<(QueueToken, UserId)>,
    },
    /// A new token took its place at the back (its row is being written).
    Joined {
        /// The token.
        token: QueueToken,
        /// Its user.
        user_id: UserId,
    },
    /// A joining token's row is committed.
    Confirmed {
        /// The token.
        token: QueueToken,
    },
    /// A joining token's row could not be written: it never existed.
    Abandoned {
        /// The token.
        token: QueueToken,
    },
    /// Waiters admitted (stored), front first.
    Admitted {
        /// The tokens.
        tokens: Vec<QueueToken>,
    },
    /// An admission's end is stored.
    AdmissionEnded {
        /// The token.
        token: QueueToken,
    },
    /// Idle waiters whose eviction is being written.
    Leaving {
        /// The tokens.
        tokens: Vec<QueueToken>,
    },
    /// Leaving waiters whose eviction was not stored: they wait again.
    Stayed {
        /// The tokens.
        tokens: Vec<QueueToken>,
    },
    /// Leaving waiters whose eviction is stored.
    Evicted {
        /// The tokens.
        tokens: Vec<QueueToken>,
    },
    /// New settings are stored (a schedule, a pause, a re-rate).
    Settings {
        /// The settings.
        settings: RoomSettings,
    },
}

/// The changes one message of a room's actor made, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineBatch {
    /// The room.
    pub room: RoomId,
    /// Its changes.
    pub changes: Vec<LineChange>,
}

/// Where the rooms' actors hand their changes (bounded; see the module docs).
#[derive(Debug, Clone)]
pub struct LineSink(mpsc::Sender<LineBatch>);

impl LineSink {
    /// A sink that holds at most `batches` batches, and what reads it.
    pub fn bounded(batches: usize) -> (Self, mpsc::Receiver<LineBatch>) {
        let (sender, receiver) = mpsc::channel(batches.max(1));
        (Self(sender), receiver)
    }

    /// True if a batch can be handed over now.
    pub(super) fn has_room(&self) -> bool {
        !self.0.is_closed() && self.0.capacity() > 0
    }

    /// Hands a batch over; false if the sink is full or closed (the batch is lost).
    pub(super) fn offer(&self, batch: LineBatch) -> bool {
        self.0.try_send(batch).is_ok()
    }
}

/// The changes a room records while it has a sink: see the module docs.
#[derive(Debug, Default)]
pub(super) struct ChangeLog {
    changes: Vec<LineChange>,
    /// The next batch is a whole picture (the draw, a lost batch, a replica asking).
    whole: bool,
}

impl ChangeLog {
    /// A log whose first batch is a whole picture (a replica knows nothing yet).
    pub(super) fn starting() -> Self {
        Self {
            changes: Vec::new(),
            whole: true,
        }
    }

    /// Records a change (dropped if a whole picture is due anyway).
    pub(super) fn push(&mut self, change: LineChange) {
        if !self.whole {
            self.changes.push(change);
        }
    }

    /// Records a change of many tokens, in bounded chunks.
    pub(super) fn push_tokens(
        &mut self,
        tokens: &[QueueToken],
        change: impl Fn(Vec<QueueToken>) -> LineChange,
    ) {
        for chunk in tokens.chunks(TOKENS_PER_CHANGE) {
            self.push(change(chunk.to_vec()));
        }
    }

    /// The next batch is a whole picture.
    pub(super) fn want_whole(&mut self) {
        self.whole = true;
        self.changes = Vec::new();
    }

    /// The changes recorded since the last call, or `None` if a whole picture is due
    /// (the caller makes it).
    pub(super) fn take(&mut self) -> Option<Vec<LineChange>> {
        if std::mem::take(&mut self.whole) {
            return None;
        }
        Some(std::mem::take(&mut self.changes))
    }
}

/// A whole picture of a line: the reset, then the waiters front first and the
/// admissions, each in chunks of at most [`TOKENS_PER_CHANGE`].
pub(super) fn whole_picture(
    settings: &RoomSettings,
    totals: Totals,
    waiters: impl Iterator<Item = (QueueToken, UserId, WaiterStage)>,
    admissions: impl Iterator<Item = (QueueToken, UserId)>,
) -> Vec<LineChange> {
    let mut changes = vec![LineChange::Reset {
        settings: settings.clone(),
        totals,
    }];
    let mut chunk = Vec::new();
    for waiter in waiters {
        chunk.push(waiter);
        if chunk.len() == TOKENS_PER_CHANGE {
            changes.push(LineChange::Waiters {
                waiters: std::mem::take(&mut chunk),
            });
        }
    }
    if !chunk.is_empty() {
        changes.push(LineChange::Waiters { waiters: chunk });
    }
    let mut chunk = Vec::new();
    for admission in admissions {
        chunk.push(admission);
        if chunk.len() == TOKENS_PER_CHANGE {
            changes.push(LineChange::Admissions {
                admissions: std::mem::take(&mut chunk),
            });
        }
    }
    if !chunk.is_empty() {
        changes.push(LineChange::Admissions { admissions: chunk });
    }
    changes
}
