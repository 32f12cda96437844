//! TEMPORARY façade stub (issue 12, HTTP helper): the signatures of the brief's "Engine"
//! section with `todo!()` bodies, so the HTTP layer compiles before the lead's façade
//! lands. The lead replaces this file; `RoomStatus`, `RoomState` and `RoomSchedule` move
//! to `waiting_room/status.rs` and are re-exported from `actors::engine` as here.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};

use super::Engine;
use crate::domain::{ConcertId, RoomId, UserId};
use crate::error::{EngineError, EngineResult};
use crate::waiting_room::Ticket;

/// A room's state as the admin API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    /// Before the pre-queue opens: joins answer `RoomNotOpen`.
    Scheduled,
    /// The pre-queue is open; not drawn yet.
    PreQueue,
    /// Drawn: FIFO from here on.
    Open,
    /// The paused flag is set.
    Paused,
}

/// What `GET /admin/concerts/{id}/room` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomStatus {
    /// The room.
    pub room: RoomId,
    /// Its state.
    pub state: RoomState,
    /// Tokens in line.
    pub waiting: usize,
    /// Tokens admitted now.
    pub admitted: usize,
    /// Admissions ever.
    pub admitted_total: u64,
    /// Idle waiters evicted ever.
    pub evicted_total: u64,
    /// Admissions over the last 10 s / 10.
    pub admissions_per_second: f64,
    /// When the pre-queue opens.
    pub pre_queue_opens_at: Option<DateTime<Utc>>,
    /// When the room opens.
    pub opens_at: Option<DateTime<Utc>>,
    /// Admitted at once.
    pub max_active: u32,
    /// Admissions per second; `None` = unlimited.
    pub admission_rate: Option<NonZeroU32>,
}

/// A room's on-sale schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSchedule {
    /// When the pre-queue opens; `None`: at once.
    pub pre_queue_opens_at: Option<DateTime<Utc>>,
    /// When the pre-queue is drawn and the room opens.
    pub opens_at: DateTime<Utc>,
    /// Admitted at once; `None`: the engine flag.
    pub max_active: Option<u32>,
    /// Admissions per second; `None`: the engine flag.
    pub admission_rate: Option<NonZeroU32>,
}

impl Engine {
    /// The poll/join in a room.
    pub async fn queue_in<E: From<EngineError>>(
        &self,
        room: Option<ConcertId>,
        authorization: Option<&str>,
        gate: impl FnOnce() -> Result<Option<UserId>, E>,
    ) -> Result<Ticket, E> {
        let _ = (room, authorization, gate);
        todo!()
    }

    /// Schedules (or reschedules) a concert's room.
    pub async fn schedule_room(
        &self,
        concert: ConcertId,
        schedule: RoomSchedule,
    ) -> EngineResult<RoomStatus> {
        let _ = (concert, schedule);
        todo!()
    }

    /// Pauses admissions.
    pub async fn pause_room(&self, room: RoomId) -> EngineResult<RoomStatus> {
        let _ = room;
        todo!()
    }

    /// Resumes admissions.
    pub async fn resume_room(&self, room: RoomId) -> EngineResult<RoomStatus> {
        let _ = room;
        todo!()
    }

    /// Changes the limits live.
    pub async fn rerate_room(
        &self,
        room: RoomId,
        max_active: Option<u32>,
        admission_rate: Option<Option<NonZeroU32>>,
    ) -> EngineResult<RoomStatus> {
        let _ = (room, max_active, admission_rate);
        todo!()
    }

    /// The room's status.
    pub async fn room_status(&self, room: RoomId) -> EngineResult<RoomStatus> {
        let _ = room;
        todo!()
    }
}
