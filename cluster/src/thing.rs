//! `Thing`: what a node can own — one actor of the engine — and its key, the same text
//! in the lease bucket and in Postgres's `owner_epochs.thing`.

use std::fmt;

use actors::domain::{ConcertId, RoomId, SessionId, UserId};

use crate::error::ClusterError;

/// One actor that runs on exactly one node at a time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Thing {
    /// The whole engine, on one node at a time (stage 1 of cluster mode).
    Engine,
    /// A concert session's SessionActor: its seats, holds and sales.
    Session(SessionId),
    /// A room's WaitingRoom: its line and admissions.
    Room(RoomId),
    /// A user's Wallet: charges and payment debits.
    Wallet(UserId),
}

impl Thing {
    /// The key: `engine`, `session.<id>`, `room.site`, `room.<concert id>` or `wallet.<user id>`.
    /// Every character is one a KV key allows (a user id is `A-Z a-z 0-9 _ -`).
    pub fn key(&self) -> String {
        self.to_string()
    }

    /// The thing a key names; the inverse of [`Thing::key`].
    pub fn parse(key: &str) -> Result<Self, ClusterError> {
        let invalid = || ClusterError::Invalid(format!("not a lease key: {key:?}"));
        if key == "engine" {
            return Ok(Thing::Engine);
        }
        let (kind, id) = key.split_once('.').ok_or_else(invalid)?;
        let number = || id.parse::<i64>().map_err(|_| invalid());
        match kind {
            "session" => Ok(Thing::Session(
                SessionId::parse(number()?).map_err(|_| invalid())?,
            )),
            "room" if id == "site" => Ok(Thing::Room(RoomId::Site)),
            "room" => Ok(Thing::Room(RoomId::Concert(
                ConcertId::parse(number()?).map_err(|_| invalid())?,
            ))),
            "wallet" => Ok(Thing::Wallet(UserId::parse(id).map_err(|_| invalid())?)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for Thing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Thing::Engine => f.write_str("engine"),
            Thing::Session(id) => write!(f, "session.{id}"),
            Thing::Room(RoomId::Site) => f.write_str("room.site"),
            Thing::Room(RoomId::Concert(id)) => write!(f, "room.{id}"),
            Thing::Wallet(user) => write!(f, "wallet.{user}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_its_thing_and_back() {
        let things = [
            Thing::Engine,
            Thing::Session(SessionId(7)),
            Thing::Room(RoomId::Site),
            Thing::Room(RoomId::Concert(ConcertId(3))),
            Thing::Wallet(UserId::parse("Happy_Cat-1").unwrap()),
        ];
        let keys: Vec<String> = things.iter().map(Thing::key).collect();
        assert_eq!(
            keys,
            [
                "engine",
                "session.7",
                "room.site",
                "room.3",
                "wallet.Happy_Cat-1"
            ]
        );
        for (thing, key) in things.iter().zip(&keys) {
            assert_eq!(&Thing::parse(key).unwrap(), thing);
        }
        for bad in [
            "session",
            "session.0",
            "room.x",
            "wallet.a.b",
            "seat.1",
            "room.-2",
        ] {
            assert!(Thing::parse(bad).is_err(), "{bad}");
        }
    }
}
