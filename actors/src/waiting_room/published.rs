//! The room, published: the WaitingRoom actor is its only writer, and polls read
//! it without a message to the actor.
//!
//! Why: at a million waiting tokens polling once a second, a round trip to the one
//! actor everyone talks to (a mailbox send, a wake-up of the worker it sleeps on,
//! a oneshot back) costs more than the poll's own work (two cache misses and a
//! prefix sum). So the actor keeps its [`Room`] here, behind a read-write lock,
//! and a poll of a waiting or admitted token is answered under the read lock.
//!
//! What keeps the actor's guarantees:
//! - Every change is still the actor's, made after its write is committed (write
//!   through), so a poll sees only committed state, and positions only shrink.
//! - A poll's one effect, the waiter's last-seen second, is an atomic the sweep
//!   reads. A waiter whose eviction is being written is *leaving*: a poll of it is
//!   not answered here but sent to the actor, which answers once the eviction is
//!   decided (so no token is told "you wait" while it is being evicted).
//! - Joining tokens, unknown tokens, new users and admissions past their time
//!   (whose end the actor is about to write) go to the actor as before, and wait
//!   behind whatever it is doing.
//! - Nobody holds the lock across an `.await`, and the actor's writes are short
//!   (a join, an admission, a batch of evictions); the sweep's scan of the line is a
//!   read, so polls go on meanwhile.
//! - While the actor is down (between a failure and its restart's restore) the
//!   room is withdrawn and polls go to the mailbox, which answers 503 as before.
//!   A panic while writing poisons the lock; a poisoned room is not read.
//!
//! Beside the room, the admitted tokens and their users, in a map of their own: every
//! hold and payment checks its token there without taking the room's lock. The actor
//! inserts an admission once it is stored and removes it once its end is stored.
//! These admissions are *not* withdrawn with the room when the actor fails: they were
//! stored before being published, so the restart restores the same ones (and replaces
//! the map), and meanwhile an admitted token keeps holding and paying. Each entry
//! carries its admission's end, so one that ran out while the actor was down is over
//! here too.

use std::ops::{Deref, DerefMut};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use dashmap::DashMap;
use tokio::time::Instant;

use super::room::{Identity, Room, Ticket};
use crate::domain::{QueueToken, UserId};

/// See the module docs.
#[derive(Default)]
pub struct PublishedRoom {
    room: RwLock<Option<Room>>,
    /// Admitted tokens, their users and when their admission ends at the latest.
    /// At most max-active entries.
    admitted: DashMap<QueueToken, (UserId, Instant)>,
}

impl PublishedRoom {
    /// The user of an admitted token, if it is admitted at `now` (an admission whose
    /// TTL has passed is over even before the actor has stored its end).
    pub fn admitted_user(&self, token: QueueToken, now: Instant) -> Option<UserId> {
        self.admitted
            .get(&token)
            .filter(|entry| entry.1 > now)
            .map(|entry| entry.0.clone())
    }

    /// Publishes a stored admission, which ends at `until` at the latest.
    pub(super) fn publish_admission(&self, token: QueueToken, user: UserId, until: Instant) {
        self.admitted.insert(token, (user, until));
    }

    /// Withdraws an admission whose end is stored.
    pub(super) fn withdraw_admission(&self, token: QueueToken) {
        self.admitted.remove(&token);
    }

    /// A poll answered from the room, if it can be: a live token that is neither
    /// joining nor leaving, nor admitted past its time (the actor is about to
    /// end that admission). `None` means "ask the actor".
    pub fn poll(&self, token: QueueToken, now: Instant) -> Option<Ticket> {
        let published = self.room.read().ok()?;
        let room = published.as_ref()?;
        if room.admission_is_over(token, now) {
            return None;
        }
        room.poll(token, now)
    }

    /// The user and status of a live token, if the room can tell (as for
    /// [`PublishedRoom::poll`]).
    pub fn identify(&self, token: QueueToken, now: Instant) -> Option<Identity> {
        let published = self.room.read().ok()?;
        let room = published.as_ref()?;
        if room.admission_is_over(token, now) {
            return None;
        }
        room.identify(token)
    }

    /// Publishes a restored room and its admissions (the actor's `pre_start`),
    /// replacing the admissions published before a failure.
    pub(super) fn install(&self, room: Room) {
        self.admitted.clear();
        for (token, user, until) in room.admissions() {
            self.admitted.insert(token, (user, until));
        }
        let old = {
            let mut published = self.room.write().unwrap_or_else(PoisonError::into_inner);
            self.room.clear_poison();
            published.replace(room)
        };
        // A million waiters take a while to free: not under the lock.
        drop(old);
    }

    /// Withdraws the room (its actor is down); polls go to the mailbox meanwhile.
    /// The admissions stay (see the module docs).
    pub(crate) fn withdraw(&self) {
        let old = self
            .room
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(old);
    }

    /// The room, for the actor to read.
    pub(super) fn read(&self) -> RoomRef<'_> {
        RoomRef(self.room.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The room, for the actor to change.
    pub(super) fn write(&self) -> RoomMut<'_> {
        RoomMut(self.room.write().unwrap_or_else(PoisonError::into_inner))
    }
}

const INSTALLED: &str = "the waiting room installs its room before it handles a message";

/// The published room, read-locked.
pub(super) struct RoomRef<'a>(RwLockReadGuard<'a, Option<Room>>);

impl Deref for RoomRef<'_> {
    type Target = Room;

    fn deref(&self) -> &Room {
        self.0.as_ref().expect(INSTALLED)
    }
}

/// The published room, write-locked.
pub(super) struct RoomMut<'a>(RwLockWriteGuard<'a, Option<Room>>);

impl Deref for RoomMut<'_> {
    type Target = Room;

    fn deref(&self) -> &Room {
        self.0.as_ref().expect(INSTALLED)
    }
}

impl DerefMut for RoomMut<'_> {
    fn deref_mut(&mut self) -> &mut Room {
        self.0.as_mut().expect(INSTALLED)
    }
}
