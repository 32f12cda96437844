//! A waiting room's stored settings and counters ([`RoomRow`]), and the record
//! both SQL backends decode its row into.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};

use super::StoreError;
use super::common::invalid;
use crate::domain::RoomId;

/// The columns of a [`RoomRecord`], in its order.
pub(super) const ROOM_COLUMNS: &str = "room_id, pre_queue_opens_at, opens_at, drawn_at, \
     max_active, admission_rate, paused, admitted_total, evicted_total";

/// A room as stored: its schedule, its live settings, and its durable counters.
/// [`Store::save_room`](super::Store::save_room) writes everything but the counters,
/// which only admissions and evictions move (in the transaction that makes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// Which room.
    pub room: RoomId,
    /// When joins start being taken into the pre-queue; `None` for the site room.
    pub pre_queue_opens_at: Option<DateTime<Utc>>,
    /// When the pre-queue is drawn and admissions start; `None` for the site room
    /// (always open).
    pub opens_at: Option<DateTime<Utc>>,
    /// When the pre-queue was shuffled ([`Store::draw_room`](super::Store::draw_room));
    /// `None` before.
    pub drawn_at: Option<DateTime<Utc>>,
    /// Admitted tokens at once (at least 1: the schema refuses 0).
    pub max_active: u32,
    /// Admissions per second; `None` = unlimited.
    pub admission_rate: Option<NonZeroU32>,
    /// Whether admissions are paused (joins, polls and evictions go on).
    pub paused: bool,
    /// Tokens ever admitted in this room.
    pub admitted_total: u64,
    /// Waiting tokens ever evicted from this room for not polling.
    pub evicted_total: u64,
}

#[derive(sqlx::FromRow)]
pub(super) struct RoomRecord {
    room_id: i64,
    pre_queue_opens_at: Option<DateTime<Utc>>,
    opens_at: Option<DateTime<Utc>>,
    drawn_at: Option<DateTime<Utc>>,
    max_active: i64,
    admission_rate: Option<i64>,
    paused: bool,
    admitted_total: i64,
    evicted_total: i64,
}

impl TryFrom<RoomRecord> for RoomRow {
    type Error = StoreError;
    fn try_from(r: RoomRecord) -> Result<Self, StoreError> {
        let count = |what: &str, n: i64| u64::try_from(n).map_err(|e| invalid(what, e));
        let admission_rate = r
            .admission_rate
            .map(|rate| {
                u32::try_from(rate)
                    .ok()
                    .and_then(NonZeroU32::new)
                    .ok_or_else(|| invalid("admission rate", rate))
            })
            .transpose()?;
        Ok(RoomRow {
            room: room_of(r.room_id)?,
            pre_queue_opens_at: r.pre_queue_opens_at,
            opens_at: r.opens_at,
            drawn_at: r.drawn_at,
            max_active: u32::try_from(r.max_active).map_err(|e| invalid("max active", e))?,
            admission_rate,
            paused: r.paused,
            admitted_total: count("admitted total", r.admitted_total)?,
            evicted_total: count("evicted total", r.evicted_total)?,
        })
    }
}

/// A stored `room_id` as the room it names.
pub(super) fn room_of(room_id: i64) -> Result<RoomId, StoreError> {
    RoomId::from_i64(room_id).ok_or_else(|| invalid("room id", room_id))
}
