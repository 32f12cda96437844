//! What an operator sees of a room (`GET /admin/concerts/{id}/room`): its state, its
//! line and admissions, its durable counters, its recent pace and its settings.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};

use super::schedule::{Phase, RoomSettings};
use crate::domain::RoomId;

/// A room's state as reported: its phase, or `Paused` whenever the paused flag is set
/// (a paused room still takes joins and still draws; it only admits nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomState {
    /// Before the pre-queue opens: joins answer `RoomNotOpen`.
    Scheduled,
    /// The pre-queue is open and has not been drawn: tokens have no place yet.
    PreQueue,
    /// Drawn (or the site room): FIFO, admitting.
    Open,
    /// An operator paused admissions.
    Paused,
}

impl RoomState {
    /// The reported state of a room in `phase`.
    pub fn of(phase: Phase, paused: bool) -> Self {
        match (paused, phase) {
            (true, _) => RoomState::Paused,
            (false, Phase::Scheduled) => RoomState::Scheduled,
            (false, Phase::PreQueue) => RoomState::PreQueue,
            (false, Phase::Open) => RoomState::Open,
        }
    }

    /// `scheduled`, `prequeue`, `open` or `paused`: the name the admin API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomState::Scheduled => "scheduled",
            RoomState::PreQueue => "prequeue",
            RoomState::Open => "open",
            RoomState::Paused => "paused",
        }
    }
}

/// A room's status, as its actor reports it after every admin message.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomStatus {
    /// The room.
    pub room: RoomId,
    /// Its state.
    pub state: RoomState,
    /// Tokens in line (the pre-queue included).
    pub waiting: usize,
    /// Tokens admitted now.
    pub admitted: usize,
    /// Admissions ever made in this room (durable).
    pub admitted_total: u64,
    /// Idle waiters ever evicted from this room's line (durable).
    pub evicted_total: u64,
    /// Admissions over the last 10 s, divided by 10 (in memory: 0 after a restart).
    pub admissions_per_second: f64,
    /// When the pre-queue opens (`None` for the site room).
    pub pre_queue_opens_at: Option<DateTime<Utc>>,
    /// When the room draws and opens (`None` for the site room).
    pub opens_at: Option<DateTime<Utc>>,
    /// Admitted at once at most.
    pub max_active: u32,
    /// Admissions per second at most; `None`: unlimited.
    pub admission_rate: Option<NonZeroU32>,
}

/// What the room's line contributes to its status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Counts {
    pub waiting: usize,
    pub admitted: usize,
    pub admitted_total: u64,
    pub evicted_total: u64,
    pub admissions_per_second: f64,
}

impl RoomStatus {
    /// The status of a room with these settings and counts, at `now`.
    pub(super) fn new(settings: &RoomSettings, counts: Counts, now: DateTime<Utc>) -> Self {
        Self {
            room: settings.room,
            state: RoomState::of(settings.phase(now), settings.paused),
            waiting: counts.waiting,
            admitted: counts.admitted,
            admitted_total: counts.admitted_total,
            evicted_total: counts.evicted_total,
            admissions_per_second: counts.admissions_per_second,
            pre_queue_opens_at: settings.pre_queue_opens_at,
            opens_at: settings.opens_at,
            max_active: settings.max_active,
            admission_rate: settings.admission_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_overrides_every_phase() {
        for phase in [Phase::Scheduled, Phase::PreQueue, Phase::Open] {
            assert_eq!(RoomState::of(phase, true), RoomState::Paused);
        }
        assert_eq!(RoomState::of(Phase::PreQueue, false).as_str(), "prequeue");
    }
}
