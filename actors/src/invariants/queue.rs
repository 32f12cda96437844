//! The waiting rooms: in each room, admitted tokens within the `max_active` in force,
//! one live token per user, each token's timestamps agreeing with its state, and the
//! line served in order.
//!
//! Every token belongs to a room (`queue_tokens.room_id`, migration 0005; a database
//! from before it has only the site room, 0): limits, lines and seqs are per room.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::CheckError;
use super::db::Db;
use super::limits::LimitsInForce;
use super::report::{Code, Violation};
use crate::domain::RoomId;

pub(super) async fn tokens(
    db: &mut Db,
    limits: &LimitsInForce,
    out: &mut Vec<Violation>,
) -> Result<(), CheckError> {
    // The room of a token, as the query reads it: its column, or before rooms, the
    // site room for every token.
    let has_rooms = db.has_table("rooms").await?;
    let room = |alias: &str| {
        if has_rooms {
            format!("CAST({alias}room_id AS BIGINT)")
        } else {
            "CAST(0 AS BIGINT)".to_owned()
        }
    };
    admitted_within_limits(db, limits, &room(""), out).await?;

    let rows: Vec<(i64, String, i64, i64, i64)> = db
        .rows(AssertSqlSafe(format!(
            "SELECT {room}, user_id, COUNT(*), CAST(MIN(seq) AS BIGINT), \
                    CAST(MAX(seq) AS BIGINT) \
             FROM queue_tokens WHERE state IN ('waiting', 'admitted') \
             GROUP BY {room}, user_id HAVING COUNT(*) > 1 ORDER BY 1, 2",
            room = room("")
        )))
        .await?;
    for (room, user, count, first, last) in rows {
        out.push(Violation::new(
            Code::TokenLiveTwice,
            format!(
                "user {user} has {count} live tokens in {} (seq {first}..={last})",
                name(room)
            ),
        ));
    }

    let rows: Vec<(i64, i64, String, String, i64, i64)> = db
        .rows(AssertSqlSafe(format!(
            "SELECT {room}, CAST(seq AS BIGINT), user_id, state, \
                    CAST(CASE WHEN admitted_at IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                    CAST(CASE WHEN ended_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
             FROM queue_tokens WHERE NOT ( \
                (state = 'waiting' AND admitted_at IS NULL AND ended_at IS NULL) \
             OR (state = 'admitted' AND admitted_at IS NOT NULL AND ended_at IS NULL) \
             OR (state = 'expired' AND admitted_at IS NOT NULL AND ended_at IS NOT NULL) \
             OR (state = 'evicted' AND admitted_at IS NULL AND ended_at IS NOT NULL)) \
             ORDER BY 1, 2",
            room = room("")
        )))
        .await?;
    for (room, seq, user, state, admitted_at, ended_at) in rows {
        let has = |flag: i64| if flag == 1 { "with" } else { "without" };
        out.push(Violation::new(
            Code::TokenLifecycle,
            format!(
                "token #{seq} of {user} in {} is {state} {} admitted_at and {} ended_at",
                name(room),
                has(admitted_at),
                has(ended_at)
            ),
        ));
    }

    // A drawn pre-queue is renumbered after every seq of its room, and admissions
    // start only after the draw: within a room, seq order is still the order served.
    let rows: Vec<(i64, i64, String, i64)> = db
        .rows(AssertSqlSafe(format!(
            "SELECT {w_room}, CAST(w.seq AS BIGINT), w.user_id, CAST(a.last AS BIGINT) \
             FROM queue_tokens w JOIN \
                  (SELECT {room} AS room, MAX(seq) AS last FROM queue_tokens \
                   WHERE admitted_at IS NOT NULL GROUP BY {room}) a \
               ON {w_room} = a.room \
             WHERE w.state = 'waiting' AND w.seq < a.last ORDER BY 1, 2",
            room = room(""),
            w_room = room("w.")
        )))
        .await?;
    for (room, seq, user, last) in rows {
        out.push(Violation::new(
            Code::QueueOrder,
            format!(
                "token #{seq} of {user} is still waiting in {}, but token #{last}, \
                 after it in line, has been admitted",
                name(room)
            ),
        ));
    }
    Ok(())
}

/// Per room: tokens only leave the admitted set after their admission, so every
/// token admitted now was admitted, and still is, at the latest admission among
/// them: the count now is at most the count then, which the room's limit in force
/// then bounds. (A limit lowered later keeps the tokens admitted before it, and
/// admits none until below.)
async fn admitted_within_limits(
    db: &mut Db,
    limits: &LimitsInForce,
    room: &str,
    out: &mut Vec<Violation>,
) -> Result<(), CheckError> {
    let admitted: Vec<(i64, DateTime<Utc>)> = db
        .rows(AssertSqlSafe(format!(
            "SELECT {room}, admitted_at FROM queue_tokens WHERE state = 'admitted'"
        )))
        .await?;
    let mut rooms: BTreeMap<i64, (u64, DateTime<Utc>)> = BTreeMap::new();
    for (room, admitted_at) in admitted {
        let (count, latest) = rooms.entry(room).or_insert((0, admitted_at));
        *count += 1;
        *latest = (*latest).max(admitted_at);
    }
    for (room, (count, latest)) in rooms {
        let max_active = limits.room_max_active(room, latest);
        if count > max_active {
            out.push(Violation::new(
                Code::AdmittedOverLimit,
                format!(
                    "{count} tokens are admitted in {}; at most {max_active} may be",
                    name(room)
                ),
            ));
        }
    }
    Ok(())
}

/// A room's name in a message: `site`, `concert-N` (or the raw id of a bad row).
fn name(room: i64) -> String {
    RoomId::from_i64(room).map_or_else(|| format!("room {room}"), |room| room.to_string())
}
