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
//!
//! Each entry also carries its token's last request, as a waiter does: an admitted
//! token that makes no request for the admitted-idle time is over here at once (its
//! next request goes to the actor, which writes the end before answering), and the
//! actor's sweep ends it (see [`AdmittedEntry`]). A restart publishes the restored
//! admissions with a fresh allowance: last-seen is not persisted, as for waiters.
//!
//! Last, the signals that wake open queue streams ([`StreamSignals`]): a version the
//! actor bumps after each change that moves positions, and per watched token the
//! signal of its admission.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use crate::IdMap;
use tokio::time::Instant;

use super::room::{Identity, Room, Ticket};
use super::signals::StreamSignals;
use super::status::RoomState;
use crate::domain::{QueueToken, UserId};

/// A room as the public concert list shows it: its state and when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPoster {
    /// Its state at the time asked.
    pub state: RoomState,
    /// When it draws and opens (`None` for the site-wide room).
    pub opens_at: Option<DateTime<Utc>>,
}

/// See the module docs.
#[derive(Default)]
pub struct PublishedRoom {
    room: RwLock<Option<Room>>,
    /// Admitted tokens, their users, when their admission ends at the latest and
    /// when they last made a request. At most max-active entries.
    admitted: IdMap<QueueToken, AdmittedEntry>,
    /// What wakes open queue streams.
    signals: StreamSignals,
}

/// A published admission. Over when its TTL has passed, or when its token made no
/// request for `idle_secs`; once over it never comes back (a late request does not
/// revive it), so the actor ending it never races a request it let through.
#[derive(Debug)]
pub(super) struct AdmittedEntry {
    user_id: UserId,
    until: Instant,
    /// The zero of `last_seen_secs`: when the admission was published.
    since: Instant,
    /// The admitted-idle time in whole seconds, rounded up.
    idle_secs: u32,
    /// Seconds from `since` to the last request, rounded up, and compared with the
    /// time now rounded down (so the end comes up to two seconds late, never early);
    /// [`ENDING`] once the actor is ending it for idleness. An atomic: requests
    /// record themselves without the actor.
    last_seen_secs: AtomicU32,
}

/// `last_seen_secs` of an admission the sweep found idle and is ending.
const ENDING: u32 = u32::MAX;

impl AdmittedEntry {
    fn new(user_id: UserId, until: Instant, now: Instant, admitted_idle: Duration) -> Self {
        Self {
            user_id,
            until,
            since: now,
            idle_secs: u32::try_from(admitted_idle.as_secs().max(1)).unwrap_or(ENDING - 1),
            last_seen_secs: AtomicU32::new(0),
        }
    }

    /// Whole seconds from `since` to `now`: rounded up to record a request, down to
    /// judge idleness.
    fn secs_at(&self, now: Instant, round_up: bool) -> u32 {
        let since = now.saturating_duration_since(self.since);
        let up = round_up && since.subsec_nanos() > 0;
        u32::try_from(since.as_secs() + u64::from(up)).unwrap_or(ENDING - 1)
    }

    fn idle_at(&self, seen: u32, now: u32) -> bool {
        seen == ENDING || now.saturating_sub(seen) >= self.idle_secs
    }

    /// True if the admission is over at `now` (its TTL passed, or its token idle).
    fn is_over(&self, now: Instant) -> bool {
        let seen = self.last_seen_secs.load(Ordering::Relaxed);
        self.until <= now || self.idle_at(seen, self.secs_at(now, false))
    }

    /// A request at `now`: true (and recorded) if the admission is still on. An idle
    /// one is not revived: the check and the record are one atomic step.
    fn touch(&self, now: Instant) -> bool {
        if self.until <= now {
            return false;
        }
        let (at, seen_now) = (self.secs_at(now, false), self.secs_at(now, true));
        self.last_seen_secs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seen| {
                (!self.idle_at(seen, at)).then_some(seen.max(seen_now))
            })
            .is_ok()
    }

    /// The sweep's claim on an idle admission: true if it was idle (and is now
    /// marked ending, so no request gets through any more), or already ending.
    fn claim_if_idle(&self, now: Instant) -> bool {
        let at = self.secs_at(now, false);
        self.last_seen_secs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seen| {
                self.idle_at(seen, at).then_some(ENDING)
            })
            .is_ok()
    }
}

impl PublishedRoom {
    /// What wakes the room's open queue streams.
    pub(crate) fn signals(&self) -> &StreamSignals {
        &self.signals
    }

    /// Tells the streams that positions may have moved (see [`StreamSignals::moved`]).
    pub(super) fn moved(&self) {
        self.signals.moved();
    }

    /// True while the room is published (its actor is up): a token it does not hold
    /// is then not live in it.
    pub(crate) fn is_up(&self) -> bool {
        self.room.read().is_ok_and(|room| room.is_some())
    }

    /// The user of an admitted token, if it is admitted at `now` (an admission whose
    /// TTL has passed, or whose token was idle too long, is over even before the
    /// actor has stored its end). This is a request by the token: it keeps the
    /// admission from going idle.
    pub fn admitted_user(&self, token: QueueToken, now: Instant) -> Option<UserId> {
        self.admitted
            .get(&token)
            .filter(|entry| entry.touch(now))
            .map(|entry| entry.user_id.clone())
    }

    /// Records a request of an admitted token made without the token (its user
    /// named), as a poll would.
    pub(super) fn touch_admission(&self, token: QueueToken, now: Instant) {
        if let Some(entry) = self.admitted.get(&token) {
            entry.touch(now);
        }
    }

    /// Records a poll answered elsewhere (a replica): the waiter keeps its place, the
    /// admission its activity. True if the room holds the token.
    pub fn touch(&self, token: QueueToken, now: Instant) -> bool {
        self.touch_admission(token, now);
        let in_line = self.room.read().is_ok_and(|published| {
            published.as_ref().is_some_and(|room| {
                room.touch(token, now);
                room.holds(token)
            })
        });
        in_line || self.admitted.contains_key(&token)
    }

    /// True if the token's published admission is over at `now` (the actor is to
    /// write its end before anyone is told so).
    pub(super) fn admission_is_over(&self, token: QueueToken, now: Instant) -> bool {
        self.admitted
            .get(&token)
            .is_some_and(|entry| entry.is_over(now))
    }

    /// The admissions whose tokens made no request for the admitted-idle time, at
    /// most `limit`, each marked ending so that no request gets through meanwhile.
    pub(super) fn claim_idle_admissions(&self, now: Instant, limit: usize) -> Vec<QueueToken> {
        self.admitted
            .iter()
            .filter(|entry| entry.claim_if_idle(now))
            .map(|entry| *entry.key())
            .take(limit)
            .collect()
    }

    /// Publishes a stored admission made at `now`, which ends at `until` at the
    /// latest, or sooner after `admitted_idle` without a request.
    pub(super) fn publish_admission(
        &self,
        token: QueueToken,
        user: UserId,
        until: Instant,
        now: Instant,
        admitted_idle: Duration,
    ) {
        let entry = AdmittedEntry::new(user, until, now, admitted_idle);
        self.admitted.insert(token, entry);
        self.signals.admitted(token);
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
        if let Some(entry) = self.admitted.get(&token)
            && !entry.touch(now)
        {
            return None;
        }
        if room.admission_is_over(token, now) {
            return None;
        }
        room.poll(token, now)
    }

    /// True if the token is this room's (see [`Room::holds`]): which room's actor to
    /// ask about a token that [`PublishedRoom::poll`] could not answer. While the
    /// actor is down only its admissions are known here.
    pub fn holds(&self, token: QueueToken) -> bool {
        self.admitted.contains_key(&token)
            || self
                .room
                .read()
                .ok()
                .is_some_and(|room| room.as_ref().is_some_and(|room| room.holds(token)))
    }

    /// The user and status of a live token, if the room can tell (as for
    /// [`PublishedRoom::poll`]).
    pub fn identify(&self, token: QueueToken, now: Instant) -> Option<Identity> {
        let published = self.room.read().ok()?;
        let room = published.as_ref()?;
        if room.admission_is_over(token, now) || self.admission_is_over(token, now) {
            return None;
        }
        room.identify(token)
    }

    /// The room's state and opening at `now`, read under the read lock (no message to
    /// the actor); `None` while the room is withdrawn (its actor is down).
    pub fn poster(&self, now: DateTime<Utc>) -> Option<RoomPoster> {
        let published = self.room.read().ok()?;
        let settings = published.as_ref()?.settings();
        Some(RoomPoster {
            state: RoomState::of(settings.phase(now), settings.paused),
            opens_at: settings.opens_at,
        })
    }

    /// Publishes a restored room and its admissions (the actor's `pre_start`),
    /// replacing the admissions published before a failure.
    /// Restored admissions get a fresh idle allowance from `now`.
    pub(super) fn install(&self, room: Room, now: Instant, admitted_idle: Duration) {
        self.admitted.clear();
        for (token, user, until) in room.admissions() {
            self.publish_admission(token, user, until, now, admitted_idle);
        }
        let old = {
            let mut published = self.room.write().unwrap_or_else(PoisonError::into_inner);
            self.room.clear_poison();
            published.replace(room)
        };
        // A million waiters take a while to free: not under the lock.
        drop(old);
        self.moved();
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
        self.moved();
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
