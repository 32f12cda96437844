//! Read replicas of the rooms' lines, on a node that does not own them (cluster
//! mode, `docs/scale-out.md`, "The line on every node").
//!
//! A replica is a [`Room`] of its own that replays, in order, the changes its owner's
//! room recorded (`changes.rs`): the same methods with the same arguments, so a poll
//! of it answers what the owner's answered when it had made the same changes
//! (position, admitted, pre-queue), and positions only shrink as they do there. What
//! depends on the clock is the replica's own: an admission's TTL and the recent
//! admissions behind the wait estimate start when the replica applies them, within
//! a delivery of the owner's.
//!
//! What a replica does not answer (its caller asks the owner instead): a room it has
//! no whole picture of yet, a token it does not hold (just joined, or unknown), one
//! being written (joining, leaving), and an admission past its TTL. A poll answered
//! here does not reach the owner, so the caller reports the token to the owner as seen
//! (see `Engine::touch_tokens`), or the owner would evict it as idle.
//!
//! Each room's replica carries the [`StreamSignals`] a queue stream waits on, as the
//! owner's published room does (`engine::replica_streams`): the version is bumped
//! after each applied batch that may move someone (not a join at the back), and a
//! watched token's admission is signalled when it is applied.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::IdMap;
use tokio::time::Instant;

use super::changes::LineChange;
use super::room::{Room, RoomConfig, Ticket};
use super::signals::StreamSignals;
use crate::domain::{QueueToken, RoomId};
use crate::engine::{Look, TicketSource};

/// Every room's replica on this node.
pub struct LineReplicas {
    config: RoomConfig,
    rooms: IdMap<RoomId, Arc<ReplicaRoom>>,
}

/// One room's replica: its line (`None` until pictured whole) and what wakes the
/// queue streams served from it.
#[derive(Default)]
pub(crate) struct ReplicaRoom {
    line: RwLock<Option<Room>>,
    /// True once a change other than a picture's parts followed the last picture's
    /// `Reset`: the picture is whole (its parts may come in several messages and carry
    /// no end), so a token it does not hold has ended. Written under `line`'s lock.
    whole: AtomicBool,
    signals: StreamSignals,
}

impl TicketSource for ReplicaRoom {
    fn signals(&self) -> &StreamSignals {
        &self.signals
    }

    /// What [`LineReplicas::poll`] answers; a room not pictured (or not whole yet), a
    /// token being written or an admission past its TTL is undecided (the owner's next
    /// change decides it), a token the whole picture does not hold has ended.
    fn look(&self, token: QueueToken, now: Instant) -> Look {
        let Ok(line) = self.line.read() else {
            return Look::Undecided;
        };
        let Some(room) = line.as_ref() else {
            return Look::Undecided;
        };
        if room.admission_is_over(token, now) {
            return Look::Undecided;
        }
        match room.poll(token, now) {
            Some(ticket) => Look::Ticket(ticket),
            None if room.holds(token) || !self.whole.load(Ordering::Relaxed) => {
                Look::Undecided
            }
            None => Look::Ended,
        }
    }
}

impl LineReplicas {
    /// No room yet; `config` is the engine's (the same on every node).
    pub fn new(config: RoomConfig) -> Self {
        Self {
            config,
            rooms: IdMap::default(),
        }
    }

    /// Applies a room's changes in order at `now`. Changes before the room's first
    /// whole picture (a reset) are skipped: there is nothing to apply them to.
    pub fn apply(&self, room: RoomId, changes: &[LineChange], now: Instant) {
        // Cloned out: the map's shard is not held while the changes apply, so polls
        // of the other rooms in it go on.
        let entry = self.rooms.entry(room).or_default().clone();
        {
            let mut replica = entry.line.write().unwrap_or_else(PoisonError::into_inner);
            for change in changes {
                if let LineChange::Reset { settings, totals } = change {
                    let (settings, totals) = (settings.clone(), *totals);
                    *replica = Some(Room::empty(self.config.clone(), settings, totals, now));
                    entry.whole.store(false, Ordering::Relaxed);
                } else if let Some(replica) = replica.as_mut() {
                    replay(replica, change, now);
                    if !matches!(
                        change,
                        LineChange::Waiters { .. } | LineChange::Admissions { .. }
                    ) {
                        entry.whole.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        // After the lock is let go: woken streams read the replica at once.
        for change in changes {
            match change {
                LineChange::Admitted { tokens } => {
                    tokens.iter().for_each(|token| entry.signals.admitted(*token));
                }
                LineChange::Admissions { admissions } => {
                    for (token, _) in admissions {
                        entry.signals.admitted(*token);
                    }
                }
                _ => {}
            }
        }
        if changes
            .iter()
            .any(|change| !matches!(change, LineChange::Joined { .. }))
        {
            entry.signals.moved();
        }
    }

    /// Forgets every room's line (a gap in the changes, a new owner): nothing is
    /// answered until each room's next whole picture. The rooms stay known, so
    /// [`LineReplicas::all_ready`] says a picture is wanted.
    pub fn forget(&self) {
        for entry in self.rooms.iter() {
            *entry.line.write().unwrap_or_else(PoisonError::into_inner) = None;
            entry.signals.moved();
        }
    }

    /// True if `room` has been pictured whole and is answered here.
    pub fn is_ready(&self, room: RoomId) -> bool {
        self.rooms
            .get(&room)
            .is_some_and(|entry| entry.line.read().is_ok_and(|room| room.is_some()))
    }

    /// True if every room this replica has heard of is pictured whole.
    pub fn all_ready(&self) -> bool {
        self.rooms
            .iter()
            .all(|entry| entry.line.read().is_ok_and(|room| room.is_some()))
    }

    /// A poll answered here, if it can be (see the module docs): in `asked` only, or
    /// in whichever room holds the token.
    pub fn poll(&self, asked: Option<RoomId>, token: QueueToken, now: Instant) -> Option<Ticket> {
        self.find(asked, token, now).map(|(_, ticket)| ticket)
    }

    /// The room replica that answers the token's poll, and its answer (as
    /// [`LineReplicas::poll`]): what a queue stream served here follows.
    pub(crate) fn find(
        &self,
        asked: Option<RoomId>,
        token: QueueToken,
        now: Instant,
    ) -> Option<(Arc<ReplicaRoom>, Ticket)> {
        let poll = |replica: &Arc<ReplicaRoom>| match replica.look(token, now) {
            Look::Ticket(ticket) => Some((replica.clone(), ticket)),
            Look::Ended | Look::Undecided => None,
        };
        match asked {
            Some(room) => poll(self.rooms.get(&room)?.value()),
            None => self.rooms.iter().find_map(|entry| poll(entry.value())),
        }
    }
}

/// Replays one change on a replica's room.
fn replay(room: &mut Room, change: &LineChange, now: Instant) {
    match change {
        LineChange::Reset { .. } => {}
        LineChange::Waiters { waiters } => {
            for (token, user_id, stage) in waiters {
                room.push_restored(*token, user_id.clone(), *stage, now);
            }
        }
        LineChange::Admissions { admissions } => {
            for (token, user_id) in admissions {
                room.admit_user(*token, user_id.clone(), now);
            }
        }
        LineChange::Joined { token, user_id } => {
            // A stale picture could hold the user already: never two tokens of one.
            if room.live_token_of(user_id).is_none() {
                room.join(*token, user_id.clone());
            }
        }
        LineChange::Confirmed { token } => room.confirm(*token, now),
        LineChange::Abandoned { token } => room.abandon(*token),
        LineChange::Admitted { tokens } => room.admit_waiters(tokens, now),
        LineChange::AdmissionEnded { token } => room.end_admission(*token),
        LineChange::Leaving { tokens } => room.mark_leaving(tokens),
        LineChange::Stayed { tokens } => room.stay(tokens),
        LineChange::Evicted { tokens } => room.evict(tokens),
        LineChange::Settings { settings } => {
            if settings.room == room.settings().room {
                room.set_settings(settings.clone());
            }
        }
    }
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
