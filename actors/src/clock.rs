//! One clock for timers and timestamps, so that tokio's paused clock drives both.
//!
//! Timers (hold expiry, admission TTL, idle eviction) run on tokio's monotonic
//! clock; rows carry wall-clock instants. [`Clock`] ties the two together at
//! start-up: the wall time of an instant is the start's wall time plus the
//! monotonic time since. In a test under `tokio::time::pause`, advancing tokio's
//! clock therefore advances the timestamps written to the store as well.

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use tokio::time::Instant;

/// Maps tokio instants to UTC and back.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin_utc: DateTime<Utc>,
    origin: Instant,
}

impl Clock {
    /// A clock anchored at this moment.
    pub fn start() -> Self {
        Self {
            origin_utc: Utc::now(),
            origin: Instant::now(),
        }
    }

    /// Now, on tokio's clock.
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// Now, as a UTC instant.
    pub fn now_utc(&self) -> DateTime<Utc> {
        self.utc_at(Instant::now())
    }

    /// The UTC instant of a tokio instant, to the microsecond: the precision both
    /// stores keep, so an instant read back equals the instant written.
    ///
    /// Counted in integer nanoseconds: a committed hold converts three or four
    /// instants, and chrono's `Duration` addition and `duration_trunc` cost ~440
    /// instructions each where this costs ~100 (callgrind, `spread`, issue 16). The
    /// result is the same (`utc_at_matches_chrono_arithmetic`); past the year 2262
    /// (nanoseconds overflow an `i64`) chrono's arithmetic answers.
    pub fn utc_at(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = at.saturating_duration_since(self.origin);
        i64::try_from(elapsed.as_nanos())
            .ok()
            .zip(self.origin_utc.timestamp_nanos_opt())
            .and_then(|(elapsed, origin)| origin.checked_add(elapsed))
            .and_then(|nanos| DateTime::from_timestamp_micros(nanos.div_euclid(1_000)))
            .unwrap_or_else(|| chrono_utc_at(self.origin_utc, elapsed))
    }

    /// The tokio instant of a UTC instant; instants before the anchor map to the anchor,
    /// which is when this process first could have acted on them.
    pub fn instant_at(&self, at: DateTime<Utc>) -> Instant {
        let since = (at - self.origin_utc).to_std().unwrap_or(Duration::ZERO);
        self.origin + since
    }
}

/// [`Clock::utc_at`] in chrono's arithmetic: the anchor plus `elapsed`, rounded down
/// to the microsecond.
fn chrono_utc_at(origin_utc: DateTime<Utc>, elapsed: Duration) -> DateTime<Utc> {
    let exact = origin_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX);
    exact
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap_or(exact)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_time_follows_tokio_time() {
        let clock = Clock::start();
        let before = clock.now_utc();
        tokio::time::advance(Duration::from_secs(300)).await;
        assert_eq!(clock.now_utc() - before, chrono::Duration::seconds(300));
        let in_a_minute = clock.now_utc() + chrono::Duration::seconds(60);
        let back = clock.instant_at(in_a_minute);
        let expected = clock.now() + Duration::from_secs(60);
        assert!(
            back <= expected && expected - back < Duration::from_micros(1),
            "a round trip keeps the microsecond"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn utc_at_matches_chrono_arithmetic() {
        let clock = Clock::start();
        // Anchors with and without a sub-microsecond part, offsets that cross a
        // microsecond, a second and a day.
        for origin_utc in [clock.origin_utc, DateTime::from_timestamp_nanos(1_796_678_125_123_456_789)] {
            let clock = Clock { origin_utc, ..clock };
            for nanos in [0, 1, 210, 999, 1_000, 543_211, 999_999_999, 86_400_000_000_001] {
                let elapsed = Duration::from_nanos(nanos);
                assert_eq!(
                    clock.utc_at(clock.origin + elapsed),
                    chrono_utc_at(origin_utc, elapsed),
                    "{origin_utc} + {nanos} ns"
                );
            }
        }
    }
}
