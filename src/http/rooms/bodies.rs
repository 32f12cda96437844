//! The bodies of the room routes: the schedule and re-rate requests, read field by
//! field with the contract's strictness, and the room's status as JSON.

use std::num::NonZeroU32;

use actors::engine::{RoomSchedule, RoomState, RoomStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::extract::{Fields, FromJson};

/// The largest `maxActive` and `admissionRate` taken: far above what one node serves
/// (see `docs/operations.md`), low enough that a typo of a few extra digits is refused.
pub const MAX_ROOM_LIMIT: u32 = 1_000_000;

const TIME_RULE: &str = "RFC 3339 형식의 시각이어야 합니다 (예: 2024-07-01T12:00:00Z).";
const PRE_QUEUE_RULE: &str = "opensAt 이전이거나 같은 시각이어야 합니다.";
const MAX_ACTIVE_RULE: &str = "1 이상 1000000 이하의 정수여야 합니다.";
const RATE_RULE: &str = "1 이상 1000000 이하의 정수, 또는 제한 없음(null)이어야 합니다.";

/// The body of `PUT /admin/concerts/{concertId}/room`: the on-sale's schedule.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"preQueueOpensAt": "2024-07-01T11:30:00Z", "opensAt": "2024-07-01T12:00:00Z", "maxActive": 100, "admissionRate": 50}))]
pub struct ScheduleRequest {
    /// When joins start to enter the pre-queue (RFC 3339); absent or null: at once. At
    /// most `opensAt`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub pre_queue_opens_at: Option<String>,
    /// When the pre-queue is drawn (a random place each) and admissions start (RFC
    /// 3339); a time already past opens the room at once.
    #[schema(value_type = String, format = DateTime)]
    pub opens_at: String,
    /// Tokens admitted at once, 1 to 1,000,000; absent or null: the server's `--max-active`.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_active: Option<u32>,
    /// Admissions per second, 1 to 1,000,000; absent or null: the server's
    /// `--admission-rate` (change it to unlimited with `PATCH`).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub admission_rate: Option<u32>,
}

impl FromJson for RoomSchedule {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        let opens_at = time(fields.string("opensAt", TIME_RULE)?, "opensAt")?;
        let pre_queue_opens_at = match fields.optional("preQueueOpensAt") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(time(text, "preQueueOpensAt")?),
            Some(_) => return Err(ApiError::invalid_field("preQueueOpensAt", TIME_RULE)),
        };
        if pre_queue_opens_at.is_some_and(|pre| pre > opens_at) {
            return Err(ApiError::invalid_field("preQueueOpensAt", PRE_QUEUE_RULE));
        }
        let max_active = match fields.optional("maxActive") {
            None | Some(Value::Null) => None,
            Some(_) => Some(max_active(fields)?),
        };
        let admission_rate = match fields.optional("admissionRate") {
            None | Some(Value::Null) => None,
            Some(_) => Some(admission_rate(fields)?),
        };
        Ok(RoomSchedule {
            pre_queue_opens_at,
            opens_at,
            max_active,
            admission_rate,
        })
    }
}

/// The body of `PATCH …/room`: live limits. At least one field; an absent one is left as
/// it is.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"maxActive": 200, "admissionRate": null}))]
pub struct RerateRequest {
    /// Tokens admitted at once, 1 to 1,000,000. Raising it admits at once as many as fit;
    /// lowering it ends no admission (the room admits again once under it).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_active: Option<u32>,
    /// Admissions per second, 1 to 1,000,000; null: unlimited.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub admission_rate: Option<u32>,
}

/// What a re-rate changes: `None` leaves a limit as it is; `Some(None)` is an unlimited
/// admission rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rerate {
    /// The new `maxActive`.
    pub max_active: Option<u32>,
    /// The new `admissionRate`.
    pub admission_rate: Option<Option<NonZeroU32>>,
}

impl FromJson for Rerate {
    fn from_json(fields: &Fields) -> Result<Self, ApiError> {
        let max_active = match fields.optional("maxActive") {
            None => None,
            Some(_) => Some(max_active(fields)?),
        };
        let admission_rate = match fields.optional("admissionRate") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(_) => Some(Some(admission_rate(fields)?)),
        };
        // An empty (or misspelt) body would change nothing and answer 200: say so instead.
        if max_active.is_none() && admission_rate.is_none() {
            return Err(ApiError::missing_field("maxActive | admissionRate"));
        }
        Ok(Rerate {
            max_active,
            admission_rate,
        })
    }
}

fn time(text: &str, field: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid_field(field, TIME_RULE))
}

fn max_active(fields: &Fields) -> Result<u32, ApiError> {
    let value = fields.integer("maxActive", MAX_ACTIVE_RULE)?;
    u32::try_from(value)
        .ok()
        .filter(|v| (1..=MAX_ROOM_LIMIT).contains(v))
        .ok_or_else(|| ApiError::invalid_field("maxActive", MAX_ACTIVE_RULE))
}

fn admission_rate(fields: &Fields) -> Result<NonZeroU32, ApiError> {
    let value = fields.integer("admissionRate", RATE_RULE)?;
    u32::try_from(value)
        .ok()
        .filter(|v| *v <= MAX_ROOM_LIMIT)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| ApiError::invalid_field("admissionRate", RATE_RULE))
}

/// A room's state and counters (`docs/operations.md` says what each means).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RoomStatus, example = json!({"room": "concert-7", "concertId": 7, "state": "prequeue", "waiting": 1200, "admitted": 0, "admittedTotal": 0, "evictedTotal": 3, "admissionsPerSecond": 0.0, "preQueueOpensAt": "2024-07-01T11:30:00.000Z", "opensAt": "2024-07-01T12:00:00.000Z", "maxActive": 100, "admissionRate": 50}))]
pub struct RoomStatusResponse {
    /// `site` or `concert-N`.
    pub room: String,
    /// The concert whose room this is; null for the site-wide room.
    pub concert_id: Option<i64>,
    /// `scheduled` (joins refused until the pre-queue opens), `prequeue` (joins wait
    /// without a place until the draw), `open` (drawn; FIFO), or `paused` (admissions
    /// stopped, whatever the phase).
    #[schema(value_type = String, pattern = "^(scheduled|prequeue|open|paused)$")]
    pub state: &'static str,
    /// Tokens in line (the pre-queue included).
    pub waiting: usize,
    /// Tokens admitted now.
    pub admitted: usize,
    /// Admissions since the room was created (durable).
    pub admitted_total: u64,
    /// Idle waiters evicted since the room was created (durable).
    pub evicted_total: u64,
    /// Admissions per second over the last 10 seconds.
    pub admissions_per_second: f64,
    /// When the pre-queue opens (RFC 3339, UTC); null for the site-wide room.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub pre_queue_opens_at: Option<String>,
    /// When the room opens (RFC 3339, UTC); null for the site-wide room (always open).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub opens_at: Option<String>,
    /// Tokens admitted at once.
    pub max_active: u32,
    /// Admissions per second; null: unlimited.
    pub admission_rate: Option<u32>,
}

fn rfc3339(at: Option<DateTime<Utc>>) -> Option<String> {
    at.map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl From<RoomStatus> for RoomStatusResponse {
    fn from(status: RoomStatus) -> Self {
        Self {
            room: status.room.to_string(),
            concert_id: status.room.concert().map(|concert| concert.0),
            state: match status.state {
                RoomState::Scheduled => "scheduled",
                RoomState::PreQueue => "prequeue",
                RoomState::Open => "open",
                RoomState::Paused => "paused",
            },
            waiting: status.waiting,
            admitted: status.admitted,
            admitted_total: status.admitted_total,
            evicted_total: status.evicted_total,
            admissions_per_second: status.admissions_per_second,
            pre_queue_opens_at: rfc3339(status.pre_queue_opens_at),
            opens_at: rfc3339(status.opens_at),
            max_active: status.max_active,
            admission_rate: status.admission_rate.map(NonZeroU32::get),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: FromJson>(json: serde_json::Value) -> Result<T, ApiError> {
        crate::http::extract::JsonBody::<T>::from_bytes(json.to_string()).parse()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_schedule_needs_opens_at_and_takes_the_rest_as_optional() {
        let schedule: RoomSchedule =
            parse(serde_json::json!({"opensAt": "2030-01-01T12:00:00+09:00"})).unwrap();
        assert_eq!(
            schedule,
            RoomSchedule {
                pre_queue_opens_at: None,
                opens_at: at("2030-01-01T03:00:00Z"),
                max_active: None,
                admission_rate: None,
            }
        );
        let full: RoomSchedule = parse(serde_json::json!({
            "preQueueOpensAt": "2030-01-01T02:00:00Z", "opensAt": "2030-01-01T03:00:00Z",
            "maxActive": 100, "admissionRate": 50,
        }))
        .unwrap();
        assert_eq!(full.pre_queue_opens_at, Some(at("2030-01-01T02:00:00Z")));
        assert_eq!(
            (full.max_active, full.admission_rate),
            (Some(100), NonZeroU32::new(50))
        );
        let same: RoomSchedule = parse(serde_json::json!({
            "preQueueOpensAt": "2030-01-01T03:00:00Z", "opensAt": "2030-01-01T03:00:00Z",
        }))
        .unwrap();
        assert_eq!(same.pre_queue_opens_at, Some(same.opens_at));
        let missing = parse::<RoomSchedule>(serde_json::json!({"maxActive": 1})).unwrap_err();
        assert_eq!(missing.code(), "MISSING_FIELD");
    }

    #[test]
    fn bad_schedules_are_refused_field_by_field() {
        for body in [
            serde_json::json!({"opensAt": "tomorrow"}),
            serde_json::json!({"opensAt": "2030-01-01 12:00:00"}),
            serde_json::json!({"opensAt": 1_900_000_000}),
            serde_json::json!({"opensAt": null}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "preQueueOpensAt": "2030-01-01T03:00:01Z"}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "preQueueOpensAt": 5}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "maxActive": 0}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "maxActive": 1_000_001}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "maxActive": -1}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "maxActive": 1.5}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "admissionRate": 0}),
            serde_json::json!({"opensAt": "2030-01-01T03:00:00Z", "admissionRate": "5"}),
        ] {
            let error = parse::<RoomSchedule>(body.clone()).unwrap_err();
            assert_eq!(error.code(), "INVALID_FIELD", "{body}");
        }
    }

    #[test]
    fn a_rerate_tells_unlimited_from_unchanged() {
        let rate_only: Rerate = parse(serde_json::json!({"admissionRate": null})).unwrap();
        assert_eq!(
            (rate_only.max_active, rate_only.admission_rate),
            (None, Some(None))
        );
        let both: Rerate = parse(serde_json::json!({"maxActive": 7, "admissionRate": 3})).unwrap();
        assert_eq!(
            (both.max_active, both.admission_rate),
            (Some(7), Some(NonZeroU32::new(3)))
        );
        let nothing = parse::<Rerate>(serde_json::json!({"maxactive": 7})).unwrap_err();
        assert_eq!(nothing.code(), "MISSING_FIELD");
        for body in [
            serde_json::json!({"maxActive": 0}),
            serde_json::json!({"maxActive": null}),
            serde_json::json!({"admissionRate": 0}),
            serde_json::json!({"admissionRate": 1_000_001}),
        ] {
            let error = parse::<Rerate>(body.clone()).unwrap_err();
            assert_eq!(error.code(), "INVALID_FIELD", "{body}");
        }
    }
}
