//! The on-sale's controls: scheduling a concert's room, pausing, resuming and
//! re-rating any room, and its status. Each is one message to the room's actor, which
//! writes the change through before it answers; only a room's first schedule is the
//! supervisor's (it stores the room and starts its actor, once).

use std::num::NonZeroU32;

use super::Engine;
use crate::domain::{ConcertId, RoomId};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::Reply;
use crate::store::RoomRow;
use crate::supervisor::SupervisorMsg;
use crate::waiting_room::{RoomSchedule, RoomSettings, RoomStatus, Totals, WaitingRoomMsg};

impl Engine {
    /// Schedules a concert's on-sale: opens its room (from now on only its tokens act on
    /// the concert), or changes the schedule of a room that has not opened yet.
    pub async fn schedule_room(
        &self,
        concert: ConcertId,
        schedule: RoomSchedule,
    ) -> EngineResult<RoomStatus> {
        if !self.inner.catalog.has_concert(concert) {
            return Err(EngineError::ConcertNotFound);
        }
        let room = RoomId::Concert(concert);
        if self.inner.rooms.get(room).is_none() {
            let row = self.first_row(room, &schedule)?;
            let opened = self
                .inner
                .supervisor
                .ask(
                    |reply| SupervisorMsg::OpenRoom { row, reply },
                    self.inner.config.call_timeout,
                )
                .await?;
            if opened {
                return self.room_status(room).await;
            }
        }
        self.ask_room(room, |reply| WaitingRoomMsg::Schedule { schedule, reply })
            .await
    }

    /// Stops admissions (never the line: joins, polls and evictions go on).
    pub async fn pause_room(&self, room: RoomId) -> EngineResult<RoomStatus> {
        self.ask_room(room, |reply| WaitingRoomMsg::Pause { reply })
            .await
    }

    /// Starts admissions again, admitting at once as many as fit.
    pub async fn resume_room(&self, room: RoomId) -> EngineResult<RoomStatus> {
        self.ask_room(room, |reply| WaitingRoomMsg::Resume { reply })
            .await
    }

    /// Changes how many may be admitted at once and how many a second (`Some(None)`:
    /// no rate cap); `None` leaves a setting as it is.
    pub async fn rerate_room(
        &self,
        room: RoomId,
        max_active: Option<u32>,
        admission_rate: Option<Option<NonZeroU32>>,
    ) -> EngineResult<RoomStatus> {
        self.ask_room(room, |reply| WaitingRoomMsg::Rerate {
            max_active,
            admission_rate,
            reply,
        })
        .await
    }

    /// The room's state, counts, counters, schedule and settings.
    pub async fn room_status(&self, room: RoomId) -> EngineResult<RoomStatus> {
        self.ask_room(room, |reply| WaitingRoomMsg::Status { reply })
            .await
    }

    /// Every room, the site-wide one first.
    pub fn rooms(&self) -> Vec<RoomId> {
        self.inner.rooms.ids()
    }

    async fn ask_room(
        &self,
        room: RoomId,
        build: impl FnOnce(Reply<RoomStatus>) -> WaitingRoomMsg,
    ) -> EngineResult<RoomStatus> {
        if let Some(concert) = room.concert()
            && !self.inner.catalog.has_concert(concert)
        {
            return Err(EngineError::ConcertNotFound);
        }
        self.waiting_room(room)?
            .ask(build, self.inner.config.call_timeout)
            .await
    }

    /// A new room's row: the schedule, with the engine's flags where it names no
    /// setting, and a pre-queue that opens now unless it says when.
    fn first_row(&self, room: RoomId, schedule: &RoomSchedule) -> EngineResult<RoomRow> {
        let now = self.inner.clock.now_utc();
        let defaults = self.inner.config.room_config().default_limits();
        let settings = RoomSettings::scheduled(room, schedule, defaults, now)?;
        Ok(settings.to_row(Totals::default()))
    }
}
