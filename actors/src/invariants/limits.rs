//! The limits in force over time. A database served with `CONCERT_MAX_HOLDS_PER_USER=50`
//! and checked with the default flags must not read as violations: each engine records
//! the limits it starts with (`engine_limits`, written before it serves), and each hold
//! and admission is judged by the row recorded latest at or before it. Before the first
//! row (a database older than the table, or history made before it was added), the
//! check's own flags stand in.
//!
//! Rows are ordered by `started_at`, the engine's clock at its start, the same clock
//! that stamps `held_at` and `admitted_at`: a wall clock set back across a restart
//! would judge the old engine's last instants by the new engine's limits.
//!
//! Since rooms (migration 0005), each room's `max_active` has a history of its own
//! (`room_limits`, one row per change, written with the change): a room's admissions
//! are judged by its row latest at or before them, and by the engine's record (or
//! the flags) only before its first row (tokens older than rooms).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::db::Db;
use super::{CheckError, Limits};

/// What the engine wrote, oldest first: started at, max active, max holds per user.
const RECORDED: &str = "SELECT started_at, CAST(max_active AS BIGINT), \
        CAST(max_holds_per_user AS BIGINT) \
     FROM engine_limits ORDER BY started_at, id";

/// Each room's `max_active` history, oldest first: room, since, max active.
const ROOM_RECORDED: &str = "SELECT CAST(room_id AS BIGINT), since, CAST(max_active AS BIGINT) \
     FROM room_limits ORDER BY room_id, since, id";

/// Every recorded start, each room's limit history, and the flags for what came
/// before them.
#[derive(Debug, Clone)]
pub(super) struct LimitsInForce {
    flags: Limits,
    /// By `started_at`, ascending.
    recorded: Vec<(DateTime<Utc>, Limits)>,
    /// By room id; each by `since`, ascending.
    rooms: HashMap<i64, Vec<(DateTime<Utc>, u64)>>,
}

impl LimitsInForce {
    /// Reads the recorded starts; `flags` judge what none of them covers.
    pub(super) async fn read(db: &mut Db, flags: &Limits) -> Result<Self, CheckError> {
        let rows: Vec<(DateTime<Utc>, i64, i64)> = if db.has_table("engine_limits").await? {
            db.rows(RECORDED).await?
        } else {
            Vec::new()
        };
        // A limit below zero (only a hand-edited row has one) allows nothing.
        let limit = |value: i64| u64::try_from(value).unwrap_or(0);
        let recorded = rows
            .into_iter()
            .map(|(started_at, max_active, max_holds)| {
                let limits = Limits {
                    max_active: limit(max_active),
                    max_holds_per_user: limit(max_holds),
                };
                (started_at, limits)
            })
            .collect();
        let room_rows: Vec<(i64, DateTime<Utc>, i64)> = if db.has_table("room_limits").await? {
            db.rows(ROOM_RECORDED).await?
        } else {
            Vec::new()
        };
        let mut rooms: HashMap<i64, Vec<(DateTime<Utc>, u64)>> = HashMap::new();
        for (room, since, max_active) in room_rows {
            rooms.entry(room).or_default().push((since, limit(max_active)));
        }
        Ok(Self {
            flags: *flags,
            recorded,
            rooms,
        })
    }

    /// The `max_active` of room `room` (its `room_id`) in force at `at`: its own row
    /// latest at or before it, or before its first row, the engine's ([`Self::at`]).
    pub(super) fn room_max_active(&self, room: i64, at: DateTime<Utc>) -> u64 {
        let history = self.rooms.get(&room).map_or(&[][..], Vec::as_slice);
        match history.partition_point(|(since, _)| *since <= at) {
            0 => self.at(at).max_active,
            later => history[later - 1].1,
        }
    }

    /// The limits in force at `at`: recorded latest at or before it, or the flags.
    pub(super) fn at(&self, at: DateTime<Utc>) -> &Limits {
        match self
            .recorded
            .partition_point(|(started_at, _)| *started_at <= at)
        {
            0 => &self.flags,
            later => &self.recorded[later - 1].1,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    fn limits(max_active: u64, max_holds_per_user: u64) -> Limits {
        Limits {
            max_active,
            max_holds_per_user,
        }
    }

    #[test]
    fn each_instant_is_judged_by_the_latest_start_at_or_before_it() {
        let history = LimitsInForce {
            flags: limits(1, 1),
            recorded: vec![(at(10), limits(50, 50)), (at(20), limits(4, 4))],
            rooms: HashMap::new(),
        };
        assert_eq!(
            history.at(at(9)),
            &limits(1, 1),
            "before any start: the flags"
        );
        assert_eq!(history.at(at(10)), &limits(50, 50));
        assert_eq!(history.at(at(19)), &limits(50, 50));
        assert_eq!(history.at(at(20)), &limits(4, 4));
        assert_eq!(history.at(at(1000)), &limits(4, 4));
    }

    #[test]
    fn a_room_is_judged_by_its_own_history_and_by_the_engine_before_it() {
        let history = LimitsInForce {
            flags: limits(1, 1),
            recorded: vec![(at(10), limits(50, 50))],
            rooms: HashMap::from([(7, vec![(at(20), 3), (at(30), 2)])]),
        };
        assert_eq!(history.room_max_active(7, at(15)), 50, "before its first row");
        assert_eq!(history.room_max_active(7, at(20)), 3);
        assert_eq!(history.room_max_active(7, at(29)), 3);
        assert_eq!(history.room_max_active(7, at(30)), 2);
        assert_eq!(history.room_max_active(0, at(30)), 50, "a room without rows");
        assert_eq!(history.room_max_active(0, at(5)), 1, "before any record: the flags");
    }
}
