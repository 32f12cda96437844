//! The room's settings, as the actor keeps them: read from the room's row at start,
//! changed by an operator (schedule, pause, resume, re-rate), each change written
//! through (`Store::save_room`) before it takes effect or is answered.

use std::num::NonZeroU32;

use ractor::{ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use super::schedule::{MAX_ADMISSION_RATE, Phase, Rescheduling, parse_max_active};
use super::{
    RoomSchedule, RoomSettings, RoomStatus, Totals, WaitingRoom, WaitingRoomMsg, WaitingRoomState,
};
use crate::domain::RoomId;
use crate::error::{EngineError, EngineResult};

impl WaitingRoom {
    /// The room's stored settings and counters. The site room's first start writes
    /// its row from the engine's defaults; a concert's room is stored when it is
    /// scheduled, before its actor first starts, so a missing row is a failure.
    pub(super) async fn stored_settings(
        &self,
    ) -> Result<(RoomSettings, Totals), ActorProcessingErr> {
        if let Some(row) = self.store.room(self.room).await? {
            return Ok(RoomSettings::from_row(&row));
        }
        if self.room != RoomId::Site {
            return Err(format!("room {} is not stored", self.room).into());
        }
        let (max_active, rate) = self.config.default_limits();
        let settings = RoomSettings::always_open(RoomId::Site, max_active, rate);
        let totals = Totals::default();
        let row = settings.to_row(totals);
        self.store.save_room(&row, self.clock.now_utc()).await?;
        tracing::info!(max_active, ?rate, "site room stored from the engine's flags");
        Ok((settings, totals))
    }

    /// Why a new token cannot be issued now: before the pre-queue opens, the room
    /// is not open (users with a live token still get it).
    pub(super) fn refusal_of_new_joins(&self, now: Instant) -> Option<EngineError> {
        let room = self.room().read();
        let settings = room.settings();
        let opens_at = settings.opens_at?;
        let scheduled = settings.phase(self.clock.utc_at(now)) == Phase::Scheduled;
        scheduled.then_some(EngineError::RoomNotOpen { opens_at })
    }

    /// The room's status now.
    pub(super) fn status(&self) -> RoomStatus {
        let now = self.clock.now();
        self.room().read().status(now, self.clock.utc_at(now))
    }

    /// Stores and takes a new schedule (the draw timer set for its opening).
    pub(super) async fn schedule(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        schedule: RoomSchedule,
    ) -> EngineResult<RoomStatus> {
        if self.room == RoomId::Site {
            return Err(EngineError::InvalidInput(
                "the site-wide room is always open: it has no schedule".into(),
            ));
        }
        let now = self.clock.now();
        let current = self.room().read().settings().clone();
        let defaults = self.config.default_limits();
        let settings = current
            .rescheduled(&schedule, defaults, self.clock.utc_at(now))
            .map_err(|refusal| match refusal {
                Rescheduling::AlreadyOpen => EngineError::RoomAlreadyOpen,
                Rescheduling::Invalid(invalid) => invalid.into(),
            })?;
        let draw_at = settings.draw_due_at();
        self.store_settings(settings).await?;
        tracing::info!(room = %self.room, ?schedule, "room scheduled");
        if let Some(opens_at) = draw_at {
            self.set_draw_timer(myself, opens_at, now);
        }
        Ok(self.status())
    }

    /// Stores and takes the paused flag; a resumed room admits at once.
    pub(super) async fn set_paused(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        paused: bool,
    ) -> EngineResult<RoomStatus> {
        let current = self.room().read().settings().clone();
        if current.paused != paused {
            self.store_settings(RoomSettings { paused, ..current }).await?;
            tracing::info!(room = %self.room, paused, "room paused or resumed");
        }
        if !paused {
            self.admit_ready(myself, state).await;
        }
        Ok(self.status())
    }

    /// Stores and takes new limits; a raise admits at once as many as fit. A lowered
    /// max-active ends no admission: those past it run out as they would have.
    pub(super) async fn rerate(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        max_active: Option<u32>,
        admission_rate: Option<Option<NonZeroU32>>,
    ) -> EngineResult<RoomStatus> {
        if let Some(max_active) = max_active {
            parse_max_active(i64::from(max_active))?;
        }
        if admission_rate.flatten().is_some_and(|rate| rate.get() > MAX_ADMISSION_RATE) {
            return Err(EngineError::InvalidInput(format!(
                "admissionRate must be an integer from 1 to {MAX_ADMISSION_RATE}"
            )));
        }
        let current = self.room().read().settings().clone();
        let settings = RoomSettings {
            max_active: max_active.unwrap_or(current.max_active),
            admission_rate: admission_rate.unwrap_or(current.admission_rate),
            ..current.clone()
        };
        if settings != current {
            let (max_active, rate) = (settings.max_active, settings.admission_rate);
            self.store_settings(settings).await?;
            tracing::info!(room = %self.room, max_active, ?rate, "room re-rated");
        }
        self.admit_ready(myself, state).await;
        Ok(self.status())
    }

    /// Writes the settings through, then takes them.
    async fn store_settings(&self, settings: RoomSettings) -> EngineResult<()> {
        let row = settings.to_row(self.room().read().totals());
        self.store.save_room(&row, self.clock.now_utc()).await?;
        self.room().write().set_settings(settings);
        self.published.moved();
        Ok(())
    }
}
