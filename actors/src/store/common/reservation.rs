//! A reservation as both backends' rows decode it, read by position.
//!
//! Every committed hold decodes one of these (the `RETURNING` of its insert), and
//! `sqlx::FromRow`'s derive finds each column by name: a SipHash lookup in the row's
//! column map per column, ~2,000 instructions per row of the eight, about 3% of a
//! committed hold's server CPU (callgrind, `spread`, issue 16). Every query that
//! decodes a record selects [`RESERVATION_COLUMNS`], so the position of each column
//! is known; a debug build checks each name all the same.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{StoreError, invalid, price, reservation_id, seat, user};
use crate::domain::SessionId;
use crate::store::{ReservationRow, ReservationStatus};

/// The columns of a [`ReservationRecord`], in the order its decoder reads them.
pub(in crate::store) const RESERVATION_COLUMNS: &str =
    "id, session_id, seat_number, user_id, price, status, held_at, expires_at";

pub(in crate::store) struct ReservationRecord {
    pub(in crate::store) id: i64,
    pub(in crate::store) session_id: i64,
    pub(in crate::store) seat_number: i32,
    pub(in crate::store) user_id: String,
    pub(in crate::store) price: i64,
    pub(in crate::store) status: String,
    pub(in crate::store) held_at: DateTime<Utc>,
    pub(in crate::store) expires_at: DateTime<Utc>,
}

impl<'r, R: Row> sqlx::FromRow<'r, R> for ReservationRecord
where
    usize: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    DateTime<Utc>: Decode<'r, R::Database> + Type<R::Database>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        #[cfg(debug_assertions)]
        {
            use sqlx::Column;
            let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
            debug_assert_eq!(names.join(", "), RESERVATION_COLUMNS, "select RESERVATION_COLUMNS");
        }
        Ok(Self {
            id: row.try_get(0)?,
            session_id: row.try_get(1)?,
            seat_number: row.try_get(2)?,
            user_id: row.try_get(3)?,
            price: row.try_get(4)?,
            status: row.try_get(5)?,
            held_at: row.try_get(6)?,
            expires_at: row.try_get(7)?,
        })
    }
}

impl TryFrom<ReservationRecord> for ReservationRow {
    type Error = StoreError;
    fn try_from(r: ReservationRecord) -> Result<Self, StoreError> {
        Ok(ReservationRow {
            id: reservation_id(r.id)?,
            session_id: SessionId::parse(r.session_id).map_err(|e| invalid("session id", e))?,
            seat_number: seat(r.seat_number)?,
            user_id: user(&r.user_id)?,
            price: price(r.price)?,
            status: ReservationStatus::from_db(&r.status)?,
            held_at: r.held_at,
            expires_at: r.expires_at,
        })
    }
}
