//! The rooms' statements: reading rooms, saving a room's settings with its limit
//! history, and the draw. Compiled once per backend (see the store's module docs):
//! `super` is `postgres` or `sqlite`; how a draw's many tokens are bound is the
//! backend's own (`tokens::draw`).

use chrono::{DateTime, Utc};

use super::{Db, tokens};
use crate::domain::{QueueToken, RoomId};
use crate::store::common::{micros, store_error};
use crate::store::rooms::{ROOM_COLUMNS, RoomRecord};
use crate::store::{RoomRow, StoreError};

/// A connection of this backend (a transaction derefs to one).
type Conn = <Db as sqlx::Database>::Connection;

/// [`Store::rooms`](crate::store::Store::rooms).
pub(super) async fn all(pool: &sqlx::Pool<Db>) -> Result<Vec<RoomRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {ROOM_COLUMNS} FROM rooms ORDER BY room_id"));
    let records: Vec<RoomRecord> = sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .map_err(store_error)?;
    records.into_iter().map(RoomRow::try_from).collect()
}

/// [`Store::room`](crate::store::Store::room).
pub(super) async fn one(
    pool: &sqlx::Pool<Db>,
    room: RoomId,
) -> Result<Option<RoomRow>, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ROOM_COLUMNS} FROM rooms WHERE room_id = $1"
    ));
    let record: Option<RoomRecord> = sqlx::query_as(sql)
        .bind(room.as_i64())
        .fetch_optional(pool)
        .await
        .map_err(store_error)?;
    record.map(RoomRow::try_from).transpose()
}

/// [`Store::save_room`](crate::store::Store::save_room), inside the caller's write
/// transaction: the upsert, then a `room_limits` row unless the room's latest one
/// already says this `max_active` (so a row that is new, or whose limit changed,
/// gets one, and a pause or a reschedule adds none).
pub(super) async fn save(
    conn: &mut Conn,
    row: &RoomRow,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let room = row.room.as_i64();
    let max_active = i64::from(row.max_active);
    sqlx::query(
        "INSERT INTO rooms (room_id, pre_queue_opens_at, opens_at, drawn_at, max_active, \
                            admission_rate, paused, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (room_id) DO UPDATE SET \
             pre_queue_opens_at = excluded.pre_queue_opens_at, opens_at = excluded.opens_at, \
             drawn_at = excluded.drawn_at, max_active = excluded.max_active, \
             admission_rate = excluded.admission_rate, paused = excluded.paused, \
             updated_at = excluded.updated_at",
    )
    .bind(room)
    .bind(row.pre_queue_opens_at.map(micros))
    .bind(row.opens_at.map(micros))
    .bind(row.drawn_at.map(micros))
    .bind(max_active)
    .bind(row.admission_rate.map(|rate| i64::from(rate.get())))
    .bind(row.paused)
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    sqlx::query(
        "INSERT INTO room_limits (room_id, max_active, since) SELECT $1, $2, $3 \
         WHERE NOT EXISTS (SELECT 1 FROM room_limits WHERE id = \
             (SELECT MAX(id) FROM room_limits WHERE room_id = $1) AND max_active = $2)",
    )
    .bind(room)
    .bind(max_active)
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// [`Store::draw_room`](crate::store::Store::draw_room), inside the caller's write
/// transaction, which undoes the new seqs if the room's row refuses the draw.
pub(super) async fn draw(
    conn: &mut Conn,
    room: RoomId,
    drawn: &[(QueueToken, i64)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let renumbered = tokens::draw(conn, room, drawn).await?;
    if renumbered != drawn.len() as u64 {
        return Err(StoreError::Conflict(format!(
            "a draw of {} tokens found {renumbered} of them waiting in {room}",
            drawn.len()
        )));
    }
    let done =
        sqlx::query("UPDATE rooms SET drawn_at = $2 WHERE room_id = $1 AND drawn_at IS NULL")
            .bind(room.as_i64())
            .bind(micros(at))
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let stored: Option<i64> = sqlx::query_scalar("SELECT room_id FROM rooms WHERE room_id = $1")
        .bind(room.as_i64())
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
    Err(match stored {
        None => StoreError::NotFound,
        Some(_) => StoreError::Conflict(format!("{room} has drawn already")),
    })
}
