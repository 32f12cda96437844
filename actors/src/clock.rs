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
    pub fn utc_at(&self, at: Instant) -> DateTime<Utc> {
        let elapsed = at.saturating_duration_since(self.origin);
        let exact =
            self.origin_utc + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX);
        exact
            .duration_trunc(chrono::Duration::microseconds(1))
            .unwrap_or(exact)
    }

    /// The tokio instant of a UTC instant; instants before the anchor map to the anchor,
    /// which is when this process first could have acted on them.
    pub fn instant_at(&self, at: DateTime<Utc>) -> Instant {
        let since = (at - self.origin_utc).to_std().unwrap_or(Duration::ZERO);
        self.origin + since
    }
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
}
