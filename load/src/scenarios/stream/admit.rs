//! Admission rounds: raise the site room's `maxActive` by K through `PATCH /admin/room`
//! and time each admitted stream's last `queue` event from that call.
//!
//! The room admits inside the re-rate, before it answers (`admit_ready` runs before the
//! reply), so the call's answer is a slightly late start (an event can even beat it:
//! counted, latency 0) and the moment it was sent an early one; both are reported. The
//! room is paused while the streams open, so nobody is admitted until a round says so.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use concert_client::routes::{self, Room};
use concert_client::{Call, Rerate, RoomStatus, decode};
use hdrhistogram::Histogram;

use super::fleet::{Counters, Fleet};
use crate::driver::Driver;

/// How long a round waits for its events at most.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(15);
/// Pause between rounds, so one round's wave of position updates (at most one a second
/// per stream) is over before the next admission.
const ROUND_GAP: Duration = Duration::from_millis(1500);

/// What the rounds measured.
pub struct Rounds {
    /// Rounds run.
    pub rounds: u64,
    /// Admissions the rounds asked for (K a round, fewer when fewer streams were open).
    pub expected: u64,
    /// Admission events that arrived within their round.
    pub received: u64,
    /// Re-rate answered → event, microseconds (0 when the event came first).
    pub from_answer_us: Histogram<u64>,
    /// Re-rate sent → event, microseconds.
    pub from_sent_us: Histogram<u64>,
    /// The round's first event → each event, microseconds: how the fan-out to the
    /// admitted streams spreads, whatever the re-rate's own time.
    pub spread_us: Histogram<u64>,
    /// Events that arrived before their re-rate's answer.
    pub before_answer: u64,
    /// Events outside any round (e.g. the one admission a resume may make).
    pub unattributed: u64,
    /// The slowest re-rate call, microseconds.
    pub rerate_max_us: u64,
    /// Tokens waiting in the room besides the open streams when the rounds began (an
    /// earlier run's, ahead in line: they take the rounds' admissions).
    pub others_waiting: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds")
}

/// One admin call on the site room.
pub async fn admin(driver: &Driver, call: Call<RoomStatus>, what: &str) -> Result<RoomStatus> {
    let (status, body) = driver
        .send_one(driver.requests.of(call), Duration::from_secs(10))
        .await?;
    decode::<RoomStatus>(status, &body).with_context(|| format!("{what} answered {status}"))
}

/// Re-rates the site room.
pub async fn rerate(driver: &Driver, key: &str, rerate: Rerate) -> Result<RoomStatus> {
    admin(
        driver,
        routes::rerate_room(key, Room::Site, &rerate),
        "PATCH /admin/room",
    )
    .await
}

/// Puts the room back as it was found: its limits, and paused only if it was.
pub async fn restore(driver: &Driver, key: &str, found: &RoomStatus) -> Result<()> {
    let limits = Rerate {
        max_active: Some(found.max_active),
        admission_rate: Some(found.admission_rate),
    };
    rerate(driver, key, limits).await?;
    let call = if found.state == "paused" {
        routes::pause_room(key, Room::Site)
    } else {
        routes::resume_room(key, Room::Site)
    };
    admin(driver, call, "pause/resume").await?;
    Ok(())
}

/// Resumes the paused room at its current admissions (so the resume admits no one, or
/// one when none is admitted), then runs `count` rounds of `per_round` admissions.
pub async fn run_rounds(
    driver: &Driver,
    key: &str,
    fleet: &mut Fleet,
    count: u64,
    per_round: u64,
) -> Result<Rounds> {
    let now = admin(
        driver,
        routes::room_status(key, Room::Site),
        "GET /admin/room",
    )
    .await?;
    let hold = Rerate {
        max_active: Some(u32::try_from(now.admitted.max(1)).unwrap_or(u32::MAX)),
        // Unlimited: a rate would spread a round's admissions and time the rate instead.
        admission_rate: Some(None),
    };
    rerate(driver, key, hold).await?;
    let resumed = admin(driver, routes::resume_room(key, Room::Site), "resume").await?;
    let others_waiting = resumed
        .waiting
        .saturating_sub(Counters::get(&fleet.counters.open_now));
    tokio::time::sleep(ROUND_GAP).await;

    let mut out = Rounds {
        rounds: 0,
        expected: 0,
        received: 0,
        from_answer_us: histogram(),
        from_sent_us: histogram(),
        spread_us: histogram(),
        before_answer: 0,
        unattributed: 0,
        rerate_max_us: 0,
        others_waiting,
    };
    for _ in 0..count {
        while fleet.admissions.try_recv().is_ok() {
            out.unattributed += 1;
        }
        let open = Counters::get(&fleet.counters.open_now);
        let expected = per_round.min(open);
        if expected == 0 {
            break;
        }
        let room = admin(
            driver,
            routes::room_status(key, Room::Site),
            "GET /admin/room",
        )
        .await?;
        let raise = Rerate {
            max_active: Some(u32::try_from(room.admitted + per_round).unwrap_or(u32::MAX)),
            admission_rate: None,
        };
        let sent = Instant::now();
        rerate(driver, key, raise).await?;
        let answered = Instant::now();
        out.rerate_max_us = out.rerate_max_us.max(micros(answered - sent));
        out.rounds += 1;
        out.expected += expected;
        let deadline = tokio::time::Instant::from_std(answered + ROUND_TIMEOUT);
        let mut got = 0;
        let mut first = None;
        while got < expected {
            let Ok(Some(event)) = tokio::time::timeout_at(deadline, fleet.admissions.recv()).await
            else {
                break;
            };
            got += 1;
            let first = *first.get_or_insert(event.at);
            out.spread_us
                .saturating_record(micros(event.at.saturating_duration_since(first)));
            out.from_sent_us
                .saturating_record(micros(event.at.saturating_duration_since(sent)));
            if event.at < answered {
                out.before_answer += 1;
            }
            out.from_answer_us
                .saturating_record(micros(event.at.saturating_duration_since(answered)));
        }
        out.received += got;
        tokio::time::sleep(ROUND_GAP).await;
    }
    while fleet.admissions.try_recv().is_ok() {
        out.unattributed += 1;
    }
    Ok(out)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}
