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

use chrono::{DateTime, Utc};

use super::db::Db;
use super::{CheckError, Limits};

/// What the engine wrote, oldest first: started at, max active, max holds per user.
const RECORDED: &str = "SELECT started_at, CAST(max_active AS BIGINT), \
        CAST(max_holds_per_user AS BIGINT) \
     FROM engine_limits ORDER BY started_at, id";

/// Every recorded start, and the flags for what came before them.
#[derive(Debug, Clone)]
pub(super) struct LimitsInForce {
    flags: Limits,
    /// By `started_at`, ascending.
    recorded: Vec<(DateTime<Utc>, Limits)>,
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
        Ok(Self {
            flags: *flags,
            recorded,
        })
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
}
