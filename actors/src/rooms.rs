//! The directory of waiting rooms: every room that exists (the site-wide one, and each
//! concert's that an operator scheduled) and what its WaitingRoom publishes.
//!
//! A room exists from the moment its row is stored until the process ends (rooms are
//! never deleted); its actor may be down meanwhile (being restarted), and then its
//! published room is withdrawn and its requests answer 503, as for a session.
//!
//! Why a directory of its own: which concert has a room decides which tokens may act on
//! it (a concert with a room takes only its room's tokens, one without takes the
//! site-wide room's), and a poll carries only its token, so it is looked for in every
//! room. Rooms are few (one per concert on sale, at most [`MAX_ROOMS`]); the site-wide
//! room is looked at first, without the map.

use std::sync::Arc;

use crate::IdMap;

use crate::domain::{ConcertId, RoomId};
use crate::waiting_room::PublishedRoom;

/// The most concert rooms one engine keeps: each is an actor with its own timers, and a
/// poll may look through all of them.
pub const MAX_ROOMS: usize = 256;

/// Every room and its published state.
#[derive(Default)]
pub struct RoomDirectory {
    site: Arc<PublishedRoom>,
    concerts: IdMap<ConcertId, Arc<PublishedRoom>>,
}

impl RoomDirectory {
    /// The site-wide room and the stored concert rooms.
    pub fn new(concert_rooms: impl IntoIterator<Item = ConcertId>) -> Self {
        let directory = Self::default();
        for concert in concert_rooms {
            directory.add(concert);
        }
        directory
    }

    /// A room's published state, if the room exists.
    pub fn get(&self, room: RoomId) -> Option<Arc<PublishedRoom>> {
        match room {
            RoomId::Site => Some(self.site.clone()),
            RoomId::Concert(concert) => self.concerts.get(&concert).map(|entry| entry.clone()),
        }
    }

    /// Adds a concert's room (or finds it): its published state, empty until its actor
    /// restores it.
    pub fn add(&self, concert: ConcertId) -> Arc<PublishedRoom> {
        self.concerts.entry(concert).or_default().clone()
    }

    /// How many concert rooms exist.
    pub fn concert_rooms(&self) -> usize {
        self.concerts.len()
    }

    /// Every room: the site-wide one first.
    pub fn ids(&self) -> Vec<RoomId> {
        let mut ids = vec![RoomId::Site];
        ids.extend(
            self.concerts
                .iter()
                .map(|entry| RoomId::Concert(*entry.key())),
        );
        ids
    }

    /// The room whose tokens may act on `concert`: its own if it has one, else the
    /// site-wide room.
    pub fn serving(&self, concert: ConcertId) -> RoomId {
        if self.concerts.contains_key(&concert) {
            RoomId::Concert(concert)
        } else {
            RoomId::Site
        }
    }

    /// The first answer `look` finds, looking in `first` (if it exists), then the
    /// site-wide room, then every concert room.
    pub fn find<T>(
        &self,
        first: Option<RoomId>,
        look: impl Fn(RoomId, &PublishedRoom) -> Option<T>,
    ) -> Option<T> {
        if let Some(room) = first
            && let Some(published) = self.get(room)
            && let Some(found) = look(room, &published)
        {
            return Some(found);
        }
        if first != Some(RoomId::Site)
            && let Some(found) = look(RoomId::Site, &self.site)
        {
            return Some(found);
        }
        self.concerts.iter().find_map(|entry| {
            let room = RoomId::Concert(*entry.key());
            (Some(room) != first)
                .then(|| look(room, entry.value()))
                .flatten()
        })
    }
}
