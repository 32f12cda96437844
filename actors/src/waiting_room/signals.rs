//! What wakes a room's open queue streams, published beside the room.
//!
//! A version counter ([`StreamSignals::subscribe`]) that the actor bumps after each
//! change that moves positions or ends tokens (admissions, evictions, ends, the draw,
//! abandoned joins, settings, a restore or withdrawal): open queue streams wait on it
//! and then read their tickets from the published room, so one change wakes every
//! stream without a message per stream, and a burst of changes wakes each stream once
//! (a `watch` keeps only the latest version). Joins at the back move nobody and do not
//! bump it.
//!
//! A stream that just sent a place stops listening to the version until its next
//! second; its own admission reaches it meanwhile through a signal of its token's
//! ([`StreamSignals::watch_token`]), set when the admission is published: one signal
//! per admitted token that is watched, so a busy line costs each stream about one read
//! a second, not one per change.

use crate::IdMap;
use tokio::sync::watch;

use crate::domain::QueueToken;

/// See the module docs.
#[derive(Default)]
pub struct StreamSignals {
    /// The room's version.
    changes: watch::Sender<u64>,
    /// The tokens open streams watch, each with the signal of its admission. An entry
    /// lives while a stream of its token is open: bounded by the streams' cap.
    watched: IdMap<QueueToken, watch::Sender<()>>,
}

impl StreamSignals {
    /// The room's version, for a stream to wait on: it changes after every change that
    /// may move a waiter's position or end its token.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Positions may have moved. Only the actor calls this, after the change is
    /// published (never under the room's lock: woken streams read the room at once).
    pub(super) fn moved(&self) {
        self.changes
            .send_modify(|version| *version = version.wrapping_add(1));
    }

    /// The signal of `token`'s admission, for a stream of it; give it back with
    /// [`StreamSignals::unwatch_token`] when the stream ends.
    pub(crate) fn watch_token(&self, token: QueueToken) -> watch::Receiver<()> {
        self.watched
            .entry(token)
            .or_insert_with(|| watch::Sender::new(()))
            .subscribe()
    }

    /// A stream of `token` ends (it still holds its receiver): the entry goes with the
    /// token's last stream.
    pub(crate) fn unwatch_token(&self, token: QueueToken) {
        self.watched
            .remove_if(&token, |_, signal| signal.receiver_count() <= 1);
    }

    /// `token`'s admission is published: wakes its streams, if any.
    pub(super) fn admitted(&self, token: QueueToken) {
        if let Some(signal) = self.watched.get(&token) {
            signal.send_replace(());
        }
    }
}
