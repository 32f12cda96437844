//! Where the engine finds the running actors: one mailbox per session, per active
//! wallet, and per waiting room. Only a directory: the supervisor writes it as it
//! spawns, restarts and forgets actors; the engine reads it. The actors themselves
//! never see it (what the waiting room publishes for the hot paths is its own
//! [`PublishedRoom`](crate::waiting_room::PublishedRoom)).

use crate::IdMap;
use dashmap::DashMap;
use ractor::ActorId;

use crate::domain::{RoomId, SessionId, UserId};
use crate::mailbox::Mailbox;
use crate::session::SessionMsg;
use crate::waiting_room::WaitingRoomMsg;
use crate::wallet::WalletMsg;

/// The running actors, by what they own.
#[derive(Default)]
pub struct Registry {
    sessions: IdMap<SessionId, Mailbox<SessionMsg>>,
    wallets: DashMap<UserId, Mailbox<WalletMsg>>,
    waiting_rooms: IdMap<RoomId, Mailbox<WaitingRoomMsg>>,
}

impl Registry {
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
    #[cfg(feature = "testkit")]
    pub fn wallet_count(&self) -> usize {
        self.wallets.len()
    }

    /// A waiting room's mailbox, if its actor runs.
    pub fn waiting_room(&self, room: RoomId) -> Option<Mailbox<WaitingRoomMsg>> {
        self.waiting_rooms.get(&room).map(|entry| entry.clone())
    }

    /// Records (or replaces) a waiting room's actor.
    pub fn set_waiting_room(&self, room: RoomId, mailbox: Mailbox<WaitingRoomMsg>) {
        self.waiting_rooms.insert(room, mailbox);
    }

    /// Forgets a waiting room's actor (it is down and being restarted).
    pub fn forget_waiting_room(&self, room: RoomId) {
        self.waiting_rooms.remove(&room);
    }
}
