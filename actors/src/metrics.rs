//! The engine's metrics: names, labels, and where each is emitted.
//!
//! Emitted through the `metrics` facade. Without a recorder installed (the library, the
//! tests, `concert check`) every macro is a no-op that costs a relaxed atomic load; the
//! server installs a Prometheus recorder before it starts the engine (`concert`'s
//! `metrics` module). Handles the hot paths use repeatedly (a room's gauges) are
//! registered once, when their actor starts, so an update is an atomic store; a handle
//! registered before a recorder was installed stays a no-op.
//!
//! Every label has a bounded set of values: `room` is one of at most `MAX_ROOMS + 1`
//! rooms, `outcome` one of [`outcome`]'s names, `actor` one of three kinds.
//! `docs/operations.md` lists every metric with its meaning and the alerts worth setting.

use std::sync::OnceLock;
use std::time::Duration;

use crate::IdMap;
use metrics::{Counter, Gauge, counter, histogram};

use crate::domain::RoomId;
use crate::error::{EngineError, EngineResult};
use crate::waiting_room::Totals;

/// Gauge, by `room`: tokens waiting in line (the pre-queue included).
pub const ROOM_WAITING: &str = "concert_room_waiting";
/// Gauge, by `room`: tokens admitted now.
pub const ROOM_ADMITTED: &str = "concert_room_admitted";
/// Counter, by `room`: admissions stored.
pub const ROOM_ADMISSIONS: &str = "concert_room_admissions_total";
/// Counter, by `room`: idle waiters evicted.
pub const ROOM_EVICTIONS: &str = "concert_room_evictions_total";
/// Counter, by `outcome`: holds the engine answered.
pub const HOLDS: &str = "concert_holds_total";
/// Counter, by `outcome`: payments the engine answered (an idempotent replay is `ok`).
pub const PAYMENTS: &str = "concert_payments_total";
/// Counter: seats sold (each sale once, replays not counted).
pub const SEATS_SOLD: &str = "concert_seats_sold_total";
/// Counter, by `actor` (`waiting_room`, `session`, `wallet`): actors that failed and
/// were restarted (or, for a wallet, forgotten to be spawned afresh).
pub const ACTOR_RESTARTS: &str = "concert_actor_restarts_total";
/// Counter: requests refused at a full actor mailbox (answered 503 `OVERLOADED`).
pub const MAILBOX_REJECTIONS: &str = "concert_mailbox_rejections_total";
/// Histogram: writes committed per group-commit batch.
pub const STORE_BATCH_SIZE: &str = "concert_store_batch_size";
/// Histogram, seconds: time to commit one group-commit batch.
pub const STORE_COMMIT_SECONDS: &str = "concert_store_commit_seconds";

/// Every engine metric and what it means, for the exporter's `# HELP` lines.
pub const DESCRIPTIONS: &[(&str, &str)] = &[
    (
        ROOM_WAITING,
        "Tokens waiting in the room's line, pre-queue included.",
    ),
    (ROOM_ADMITTED, "Tokens admitted in the room now."),
    (ROOM_ADMISSIONS, "Admissions stored by the room."),
    (ROOM_EVICTIONS, "Idle waiters evicted from the room's line."),
    (HOLDS, "Holds answered by the engine, by outcome."),
    (
        PAYMENTS,
        "Payments answered by the engine, by outcome (replays count as ok).",
    ),
    (SEATS_SOLD, "Seats sold."),
    (
        ACTOR_RESTARTS,
        "Actors that failed and were restarted, by kind.",
    ),
    (
        MAILBOX_REJECTIONS,
        "Requests refused at a full actor mailbox (503 OVERLOADED).",
    ),
    (STORE_BATCH_SIZE, "Writes per group-commit batch."),
    (
        STORE_COMMIT_SECONDS,
        "Time to commit one group-commit batch, in seconds.",
    ),
];

/// A room's gauges and counters, registered once by its WaitingRoom. The counters follow
/// the room's stored totals: each observation adds what they grew by since the last.
pub(crate) struct RoomMetrics {
    waiting: Gauge,
    admitted: Gauge,
    admissions: Counter,
    evictions: Counter,
    seen: Totals,
}

impl RoomMetrics {
    /// The room's handles. `baseline` is the totals restored from the store: what was
    /// counted before this actor started is not counted again.
    pub(crate) fn new(room: RoomId, baseline: Totals) -> Self {
        let label = room.to_string();
        Self {
            waiting: metrics::gauge!(ROOM_WAITING, "room" => label.clone()),
            admitted: metrics::gauge!(ROOM_ADMITTED, "room" => label.clone()),
            admissions: counter!(ROOM_ADMISSIONS, "room" => label.clone()),
            evictions: counter!(ROOM_EVICTIONS, "room" => label),
            seen: baseline,
        }
    }

    /// After a change: the counts now and the totals as stored.
    pub(crate) fn observe(&mut self, waiting: usize, admitted: usize, totals: Totals) {
        self.waiting.set(waiting as f64);
        self.admitted.set(admitted as f64);
        if totals.admitted > self.seen.admitted {
            self.admissions
                .increment(totals.admitted - self.seen.admitted);
        }
        if totals.evicted > self.seen.evicted {
            self.evictions.increment(totals.evicted - self.seen.evicted);
        }
        self.seen = totals;
    }
}

/// Counts a hold's answer.
pub(crate) fn hold<T>(result: &EngineResult<T>) {
    static BY_OUTCOME: ByOutcome = ByOutcome::new(HOLDS);
    BY_OUTCOME.count(result_outcome(result));
}

/// Counts a payment's answer.
pub(crate) fn payment<T>(result: &EngineResult<T>) {
    static BY_OUTCOME: ByOutcome = ByOutcome::new(PAYMENTS);
    BY_OUTCOME.count(result_outcome(result));
}

/// A counter by `outcome`, each outcome's handle resolved once and kept: finding a
/// counter by its labels in the recorder's registry cost a hold about 1,000
/// instructions, more than all the rest of a refused hold's counting (issue 16). Bounded
/// by [`outcome`]'s names.
struct ByOutcome {
    name: &'static str,
    handles: OnceLock<IdMap<&'static str, Counter>>,
}

impl ByOutcome {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            handles: OnceLock::new(),
        }
    }

    fn count(&self, outcome: &'static str) {
        let handles = self.handles.get_or_init(IdMap::default);
        if let Some(counter) = handles.get(outcome) {
            counter.increment(1);
            return;
        }
        let counter = counter!(self.name, "outcome" => outcome);
        counter.increment(1);
        handles.insert(outcome, counter);
    }
}

/// Counts a seat sold.
pub(crate) fn seat_sold() {
    counter!(SEATS_SOLD).increment(1);
}

/// Counts an actor of this kind restarted after a failure.
pub(crate) fn actor_restarted(actor: &'static str) {
    counter!(ACTOR_RESTARTS, "actor" => actor).increment(1);
}

/// Counts a request refused at a full mailbox.
pub(crate) fn mailbox_rejected() {
    counter!(MAILBOX_REJECTIONS).increment(1);
}

/// Records a group-commit batch of `size` writes that took `commit` to apply.
pub(crate) fn store_batch(size: usize, commit: Duration) {
    histogram!(STORE_BATCH_SIZE).record(size as f64);
    histogram!(STORE_COMMIT_SECONDS).record(commit.as_secs_f64());
}

fn result_outcome<T>(result: &EngineResult<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => outcome(error),
    }
}

/// The `outcome` label of an engine answer: `ok`, or one name per refusal; the
/// infrastructure failures share `unavailable` (their detail is in the logs).
pub fn outcome(error: &EngineError) -> &'static str {
    match error {
        EngineError::SeatAlreadyReserved => "taken",
        EngineError::HoldLimitExceeded => "limit",
        EngineError::InsufficientBalance => "insufficient_balance",
        EngineError::ReservationExpired => "expired",
        EngineError::AlreadyPaid => "already_paid",
        EngineError::IdempotencyKeyReused => "key_reused",
        EngineError::SessionNotFound
        | EngineError::SeatNotFound
        | EngineError::ReservationNotFound
        | EngineError::ConcertNotFound
        | EngineError::RoomNotFound => "not_found",
        EngineError::WrongRoom => "wrong_room",
        EngineError::InvalidToken
        | EngineError::TokenExpired
        | EngineError::StillWaiting
        | EngineError::RoomNotOpen { .. }
        | EngineError::RoomAlreadyOpen => "not_admitted",
        EngineError::InvalidInput(_) => "invalid",
        EngineError::Overloaded => "overloaded",
        EngineError::StorageUnavailable
        | EngineError::ActorFailed
        | EngineError::Unreachable
        | EngineError::Timeout
        | EngineError::ShuttingDown => "unavailable",
    }
}
