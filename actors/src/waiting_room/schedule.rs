//! A room's settings: its schedule (when the pre-queue opens, when the room opens and
//! draws), its limits (max-active, admission rate) and the paused flag. The actor owns
//! them, writes every change through (`Store::save_room`) before it takes effect, and
//! the pure [`Room`](super::room::Room) reads them to decide phases and admissions.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};

use crate::domain::{InvalidValue, RoomId};
use crate::store::RoomRow;

/// The most tokens a room may admit at once, whatever an operator asks for: the
/// admitted set lives in memory, and a figure past this is a typo, not a plan.
pub const MAX_ROOM_ACTIVE: u32 = 1_000_000;
/// The highest admission rate (per second) an operator may set.
pub const MAX_ADMISSION_RATE: u32 = 1_000_000;
/// How far ahead a room may be scheduled: past it the timers (and the operator) lose
/// track, and a year is more than any on-sale is announced ahead.
pub const MAX_SCHEDULE_AHEAD: chrono::Duration = chrono::Duration::days(366);

/// An on-sale schedule, as an operator writes it (`PUT /admin/concerts/{id}/room`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSchedule {
    /// When the pre-queue opens; `None`: when the schedule is written (at once).
    pub pre_queue_opens_at: Option<DateTime<Utc>>,
    /// When the pre-queue is drawn and the room opens (in the past: at once).
    pub opens_at: DateTime<Utc>,
    /// Admitted at once; `None`: the engine's flag.
    pub max_active: Option<u32>,
    /// Admissions per second; `None`: the engine's flag.
    pub admission_rate: Option<NonZeroU32>,
}

impl RoomSchedule {
    /// A schedule whose rules hold: the pre-queue opens no later than the room,
    /// max-active and the rate are within `1..=` their limits.
    pub fn parse(
        pre_queue_opens_at: Option<DateTime<Utc>>,
        opens_at: DateTime<Utc>,
        max_active: Option<i64>,
        admission_rate: Option<i64>,
    ) -> Result<Self, InvalidValue> {
        if pre_queue_opens_at.is_some_and(|pre| pre > opens_at) {
            return Err(InvalidValue(
                "preQueueOpensAt must not be after opensAt".into(),
            ));
        }
        Ok(Self {
            pre_queue_opens_at,
            opens_at,
            max_active: max_active.map(parse_max_active).transpose()?,
            admission_rate: admission_rate.map(parse_admission_rate).transpose()?,
        })
    }

    /// The schedule's own rules, for one built field by field (the actor checks it
    /// again before writing it): [`RoomSchedule::parse`]'s, and `opens_at` within
    /// [`MAX_SCHEDULE_AHEAD`] of `now`.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), InvalidValue> {
        Self::parse(
            self.pre_queue_opens_at,
            self.opens_at,
            self.max_active.map(i64::from),
            self.admission_rate.map(|rate| i64::from(rate.get())),
        )?;
        if self.opens_at > now + MAX_SCHEDULE_AHEAD {
            return Err(InvalidValue(
                "opensAt must be within a year from now".into(),
            ));
        }
        Ok(())
    }
}

/// Accepts a max-active of `1..=MAX_ROOM_ACTIVE`.
pub fn parse_max_active(value: i64) -> Result<u32, InvalidValue> {
    match u32::try_from(value) {
        Ok(n) if (1..=MAX_ROOM_ACTIVE).contains(&n) => Ok(n),
        _ => Err(InvalidValue(format!(
            "maxActive must be an integer from 1 to {MAX_ROOM_ACTIVE}"
        ))),
    }
}

/// Accepts an admission rate of `1..=MAX_ADMISSION_RATE` per second.
pub fn parse_admission_rate(value: i64) -> Result<NonZeroU32, InvalidValue> {
    match u32::try_from(value).ok().and_then(NonZeroU32::new) {
        Some(rate) if rate.get() <= MAX_ADMISSION_RATE => Ok(rate),
        _ => Err(InvalidValue(format!(
            "admissionRate must be an integer from 1 to {MAX_ADMISSION_RATE}"
        ))),
    }
}

/// Where a room is in its life (paused or not: that is a flag beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the pre-queue opens: joins are refused (`RoomNotOpen`).
    Scheduled,
    /// The pre-queue is open: joins get a token with no place until the draw.
    PreQueue,
    /// Drawn (or never scheduled: the site room): FIFO, admissions.
    Open,
}

/// A room's settings, as stored in its `rooms` row (counters aside), and as its
/// line's replicas receive them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomSettings {
    /// The room.
    pub room: RoomId,
    /// When the pre-queue opens; `None` for the site room.
    pub pre_queue_opens_at: Option<DateTime<Utc>>,
    /// When the room draws and opens; `None` for the site room (always open).
    pub opens_at: Option<DateTime<Utc>>,
    /// When the pre-queue was drawn; `None` before.
    pub drawn_at: Option<DateTime<Utc>>,
    /// Admitted at once.
    pub max_active: u32,
    /// Admissions per second; `None`: unlimited.
    pub admission_rate: Option<NonZeroU32>,
    /// Admissions stopped by an operator.
    pub paused: bool,
}

impl RoomSettings {
    /// A room that is open from the start, with these limits: the site room's first row.
    pub fn always_open(room: RoomId, max_active: u32, admission_rate: Option<NonZeroU32>) -> Self {
        Self {
            room,
            pre_queue_opens_at: None,
            opens_at: None,
            drawn_at: None,
            max_active,
            admission_rate,
            paused: false,
        }
    }

    /// The phase at `now`.
    pub fn phase(&self, now: DateTime<Utc>) -> Phase {
        if self.is_open() {
            Phase::Open
        } else if self.pre_queue_opens_at.is_some_and(|pre| now < pre) {
            Phase::Scheduled
        } else {
            Phase::PreQueue
        }
    }

    /// True once drawn, or if the room never had a schedule: its line is FIFO, and
    /// only then does anyone get a place or an admission.
    pub fn is_open(&self) -> bool {
        self.drawn_at.is_some() || self.opens_at.is_none()
    }

    /// When the room is to draw, if it has yet to.
    pub fn draw_due_at(&self) -> Option<DateTime<Utc>> {
        self.opens_at.filter(|_| !self.is_open())
    }

    /// A concert's room as `schedule` sets it at `now`: the pre-queue opens at `now`
    /// (or at the opening, if that has passed) unless the schedule says when; limits it leaves out are the engine's defaults
    /// (a PUT replaces the whole schedule).
    pub fn scheduled(
        room: RoomId,
        schedule: &RoomSchedule,
        defaults: (u32, Option<NonZeroU32>),
        now: DateTime<Utc>,
    ) -> Result<Self, InvalidValue> {
        schedule.check(now)?;
        Ok(Self {
            room,
            // An opening already past has no pre-queue before it (the room draws at
            // once); the row's rule `pre_queue_opens_at <= opens_at` holds either way.
            pre_queue_opens_at: Some(
                schedule
                    .pre_queue_opens_at
                    .unwrap_or(now)
                    .min(schedule.opens_at),
            ),
            opens_at: Some(schedule.opens_at),
            drawn_at: None,
            max_active: schedule.max_active.unwrap_or(defaults.0),
            admission_rate: schedule.admission_rate.or(defaults.1),
            paused: false,
        })
    }

    /// These settings rescheduled (see [`RoomSettings::scheduled`]); the paused flag
    /// stays. Refused once drawn: the order is decided.
    pub fn rescheduled(
        &self,
        schedule: &RoomSchedule,
        defaults: (u32, Option<NonZeroU32>),
        now: DateTime<Utc>,
    ) -> Result<Self, Rescheduling> {
        if self.drawn_at.is_some() {
            return Err(Rescheduling::AlreadyOpen);
        }
        let scheduled = Self::scheduled(self.room, schedule, defaults, now);
        Ok(Self {
            paused: self.paused,
            ..scheduled.map_err(Rescheduling::Invalid)?
        })
    }
}

/// A room's durable counters, as stored in its row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Admissions ever made.
    pub admitted: u64,
    /// Idle waiters ever evicted.
    pub evicted: u64,
}

impl RoomSettings {
    /// The settings and counters of a stored row.
    pub fn from_row(row: &RoomRow) -> (Self, Totals) {
        let settings = Self {
            room: row.room,
            pre_queue_opens_at: row.pre_queue_opens_at,
            opens_at: row.opens_at,
            drawn_at: row.drawn_at,
            max_active: row.max_active,
            admission_rate: row.admission_rate,
            paused: row.paused,
        };
        let totals = Totals {
            admitted: row.admitted_total,
            evicted: row.evicted_total,
        };
        (settings, totals)
    }

    /// The row to store (`save_room` leaves the counters alone; they are here for
    /// the row to be whole).
    pub fn to_row(&self, totals: Totals) -> RoomRow {
        RoomRow {
            room: self.room,
            pre_queue_opens_at: self.pre_queue_opens_at,
            opens_at: self.opens_at,
            drawn_at: self.drawn_at,
            max_active: self.max_active,
            admission_rate: self.admission_rate,
            paused: self.paused,
            admitted_total: totals.admitted,
            evicted_total: totals.evicted,
        }
    }
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rescheduling {
    /// The room has drawn.
    AlreadyOpen,
    /// The schedule breaks a rule.
    Invalid(InvalidValue),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ConcertId;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    const DEFAULTS: (u32, Option<NonZeroU32>) = (10, None);

    fn concert_room() -> RoomSettings {
        RoomSettings::always_open(RoomId::Concert(ConcertId(7)), 10, None)
    }

    #[test]
    fn a_schedule_opens_its_pre_queue_no_later_than_the_room() {
        assert!(RoomSchedule::parse(Some(at(10)), at(5), None, None).is_err());
        assert!(RoomSchedule::parse(Some(at(5)), at(5), Some(1), Some(1)).is_ok());
        assert!(RoomSchedule::parse(None, at(5), Some(0), None).is_err());
        assert!(RoomSchedule::parse(None, at(5), None, Some(0)).is_err());
        let too_many = i64::from(MAX_ROOM_ACTIVE) + 1;
        assert!(RoomSchedule::parse(None, at(5), Some(too_many), None).is_err());
        let far = RoomSchedule::parse(None, at(0) + MAX_SCHEDULE_AHEAD * 2, None, None).unwrap();
        assert!(far.check(at(0)).is_err(), "more than a year ahead");
    }

    #[test]
    fn phases_follow_the_schedule_and_the_draw() {
        let schedule = RoomSchedule::parse(Some(at(10)), at(20), None, None).unwrap();
        let mut room = concert_room().rescheduled(&schedule, DEFAULTS, at(0)).unwrap();
        assert_eq!(room.phase(at(9)), Phase::Scheduled);
        assert_eq!(room.phase(at(10)), Phase::PreQueue);
        assert_eq!(room.phase(at(30)), Phase::PreQueue, "not drawn yet");
        assert_eq!(room.draw_due_at(), Some(at(20)));
        room.drawn_at = Some(at(20));
        assert_eq!(room.phase(at(30)), Phase::Open);
        assert_eq!(room.draw_due_at(), None);
        assert_eq!(
            room.rescheduled(&schedule, DEFAULTS, at(30)),
            Err(Rescheduling::AlreadyOpen)
        );
    }

    #[test]
    fn a_schedule_defaults_the_pre_queue_to_now_and_limits_to_the_engine_flags() {
        let rate = NonZeroU32::new(3);
        let first = RoomSchedule::parse(None, at(20), Some(4), Some(3)).unwrap();
        let mut room = concert_room().rescheduled(&first, DEFAULTS, at(1)).unwrap();
        assert_eq!(room.pre_queue_opens_at, Some(at(1)));
        assert_eq!((room.max_active, room.admission_rate), (4, rate));
        room.paused = true;
        let second = RoomSchedule::parse(None, at(40), None, None).unwrap();
        let room = room.rescheduled(&second, DEFAULTS, at(2)).unwrap();
        assert_eq!((room.max_active, room.admission_rate), DEFAULTS);
        assert_eq!(room.opens_at, Some(at(40)));
        assert!(room.paused, "a reschedule keeps the pause");
    }

    #[test]
    fn an_opening_in_the_past_opens_the_pre_queue_no_later_than_it() {
        let past = RoomSchedule::parse(None, at(-30), None, None).unwrap();
        let room = RoomSettings::scheduled(concert_room().room, &past, DEFAULTS, at(0)).unwrap();
        assert_eq!(room.pre_queue_opens_at, Some(at(-30)));
        assert_eq!(room.phase(at(0)), Phase::PreQueue, "until it draws, at once");
        assert_eq!(room.draw_due_at(), Some(at(-30)));
    }

    #[test]
    fn the_site_room_is_always_open() {
        let site = RoomSettings::always_open(RoomId::Site, 5, None);
        assert_eq!(site.phase(at(0)), Phase::Open);
        assert_eq!(site.draw_due_at(), None);
    }
}
