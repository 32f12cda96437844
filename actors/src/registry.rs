//! Where the engine finds the running actors: one mailbox per session, per active
//! wallet, and the waiting room's. The supervisor writes it as it spawns and
//! restarts actors; the engine only reads it. It also holds what the waiting room
//! publishes for the hot paths (admissions, the room itself), which only that
//! actor writes.

use std::sync::RwLock;

use dashmap::DashMap;
use ractor::ActorId;
use tokio::time::Instant;

use crate::domain::{QueueToken, SessionId, UserId};
use crate::mailbox::Mailbox;
use crate::session::SessionMsg;
use crate::waiting_room::{PublishedRoom, WaitingRoomMsg};
use crate::wallet::WalletMsg;

/// The running actors, by what they own.
#[derive(Default)]
pub struct Registry {
    /// The admitted tokens and their users, published by the WaitingRoom (it inserts
    /// an admission once stored, removes it once its end is stored), so that the
    /// hot path (every hold and payment checks its token) needs no round trip to the
    /// one actor everyone talks to. At most max-active entries.
    admitted: DashMap<QueueToken, (UserId, Instant)>,
    sessions: DashMap<SessionId, Mailbox<SessionMsg>>,
    wallets: DashMap<UserId, Mailbox<WalletMsg>>,
    waiting_room: RwLock<Option<Mailbox<WaitingRoomMsg>>>,
    /// The waiting room's line and admissions, published by its actor for polls.
    room: PublishedRoom,
}

impl Registry {
    /// The user of an admitted token, if it is admitted at `now` (an admission whose
    /// TTL has passed is over even before the waiting room has stored its end).
    pub fn admitted_user(&self, token: QueueToken, now: Instant) -> Option<UserId> {
        self.admitted
            .get(&token)
            .filter(|entry| entry.1 > now)
            .map(|entry| entry.0.clone())
    }

    /// Publishes a stored admission, which ends at `until` at the latest.
    pub fn publish_admission(&self, token: QueueToken, user: UserId, until: Instant) {
        self.admitted.insert(token, (user, until));
    }

    /// Withdraws an admission whose end is stored.
    pub fn withdraw_admission(&self, token: QueueToken) {
        self.admitted.remove(&token);
    }

    /// Replaces every published admission (a restarted WaitingRoom's).
    pub fn republish_admissions(
        &self,
        admitted: impl Iterator<Item = (QueueToken, UserId, Instant)>,
    ) {
        self.admitted.clear();
        for (token, user, until) in admitted {
            self.admitted.insert(token, (user, until));
        }
    }

    /// The mailbox of a session's actor, if it runs.
    pub fn session(&self, id: SessionId) -> Option<Mailbox<SessionMsg>> {
        self.sessions.get(&id).map(|entry| entry.clone())
    }

    /// Records (or replaces) a session's actor.
    pub fn set_session(&self, id: SessionId, mailbox: Mailbox<SessionMsg>) {
        self.sessions.insert(id, mailbox);
    }

    /// Forgets a session's actor (it is down and being restarted).
    pub fn forget_session(&self, id: SessionId) {
        self.sessions.remove(&id);
    }

    /// The mailbox of a user's wallet, if one runs and still takes messages.
    pub fn wallet(&self, user: &UserId) -> Option<Mailbox<WalletMsg>> {
        self.wallets
            .get(user)
            .map(|entry| entry.clone())
            .filter(|mailbox| !mailbox.is_closed())
    }

    /// Records a user's wallet.
    pub fn set_wallet(&self, user: UserId, mailbox: Mailbox<WalletMsg>) {
        self.wallets.insert(user, mailbox);
    }

    /// Forgets a user's wallet if it is still the actor `id` (a newer one stays).
    pub fn forget_wallet(&self, user: &UserId, id: ActorId) {
        self.wallets
            .remove_if(user, |_, mailbox| mailbox.actor().get_id() == id);
    }

    /// Wallets running now.
    pub fn wallet_count(&self) -> usize {
        self.wallets.len()
    }

    /// The waiting room's published room (see [`PublishedRoom`]).
    pub fn room(&self) -> &PublishedRoom {
        &self.room
    }

    /// The waiting room's mailbox, if it runs.
    pub fn waiting_room(&self) -> Option<Mailbox<WaitingRoomMsg>> {
        self.waiting_room
            .read()
            .expect("registry lock is never held across a panic")
            .clone()
    }

    /// Records (or clears) the waiting room's actor.
    pub fn set_waiting_room(&self, mailbox: Option<Mailbox<WaitingRoomMsg>>) {
        *self
            .waiting_room
            .write()
            .expect("registry lock is never held across a panic") = mailbox;
    }
}
