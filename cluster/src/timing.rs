//! The lease arithmetic: when a holder renews, and the local deadline by which it must
//! have stopped serving, so that it stops before any other node can claim what it held.
//!
//! # Why the holder stops first
//!
//! A holder sends a claim or a renewal at `t_send` (its own monotonic clock, tokio's
//! `Instant`). JetStream stamps the message when it stores it, at `t_store >= t_send`
//! in real time, and expires it — letting another node `create` the key — once its age
//! on the server's clock passes the bucket's `max_age` (= `lease_ttl`). The holder's
//! deadline is `t_send + lease_ttl - safety_margin` on its own clock.
//!
//! Let `ρ` bound the rate error of either clock (the holder's monotonic clock, the
//! server's wall clock): a second measured is `1 ± ρ` real seconds. Then, in real time,
//!
//! - the holder has stopped by `t_send + (ttl - margin) / (1 - ρ) + stop`, where `stop`
//!   is how long an action that checked the deadline may run past it;
//! - the key expires no earlier than `t_store + ttl / (1 + ρ) >= t_send + ttl / (1 + ρ)`.
//!
//! So the holder stops first when `(ttl - margin) / (1 - ρ) + stop <= ttl / (1 + ρ)`,
//! that is `margin >= ttl · 2ρ / (1 + ρ) + (1 - ρ) · stop`, which
//! `margin >= 2ρ · ttl + stop` implies. [`LeaseTiming::new`] refuses a margin below
//! that with `ρ` = [`MAX_CLOCK_RATE_ERROR_PPM`] (twice NTP's 500 ppm slew limit; a
//! crystal is specified to ±100 ppm) and `stop` = [`MIN_STOP_ALLOWANCE`].
//!
//! What the margin cannot cover: a holder paused mid-write (GC-free, but a VM or a
//! SIGSTOP can pause it) whose write lands after the deadline, and a server whose wall
//! clock *steps* forward (NTP steps only past 128 ms of offset, at boot). Both are why
//! every write also carries the epoch and Postgres refuses a stale one (`fence`).
//! A server that expires the key *later* than `max_age` (it sweeps on a timer) only
//! delays the next claim: failover takes `lease_ttl` plus that lag.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::ClusterError;

/// The bound on either clock's rate error that the margin must absorb, in parts per million.
pub const MAX_CLOCK_RATE_ERROR_PPM: u32 = 1_000;

/// The least time the margin leaves between the holder's deadline and the earliest
/// expiry, for the holder's own checks to see the deadline (a timer firing late, a
/// scheduler's delay).
pub const MIN_STOP_ALLOWANCE: Duration = Duration::from_millis(100);

/// The shortest TTL accepted: JetStream sweeps expired messages on a timer, and a TTL
/// near its granularity makes failover no faster, only renewals more frequent.
pub const MIN_LEASE_TTL: Duration = Duration::from_secs(1);

/// The longest TTL accepted: failover takes at least a TTL.
pub const MAX_LEASE_TTL: Duration = Duration::from_secs(600);

/// A lease's TTL and safety margin, validated against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    lease_ttl: Duration,
    safety_margin: Duration,
}

impl LeaseTiming {
    /// Accepts a TTL of [`MIN_LEASE_TTL`] ..= [`MAX_LEASE_TTL`] and a margin of at least
    /// [`LeaseTiming::min_safety_margin`] and at most half the TTL (the first renewal is
    /// sent at a third of it: a margin past half would leave a renewal almost no time to
    /// land before the deadline).
    pub fn new(lease_ttl: Duration, safety_margin: Duration) -> Result<Self, ClusterError> {
        if !(MIN_LEASE_TTL..=MAX_LEASE_TTL).contains(&lease_ttl) {
            return Err(ClusterError::Invalid(format!(
                "lease_ttl must be {MIN_LEASE_TTL:?} to {MAX_LEASE_TTL:?}, got {lease_ttl:?}"
            )));
        }
        let least = Self::min_safety_margin(lease_ttl);
        if safety_margin < least || safety_margin > lease_ttl / 2 {
            return Err(ClusterError::Invalid(format!(
                "the lease safety margin must be {least:?} to {:?} for a lease_ttl of {lease_ttl:?}, got {safety_margin:?}",
                lease_ttl / 2
            )));
        }
        Ok(Self {
            lease_ttl,
            safety_margin,
        })
    }

    /// `2ρ · ttl + stop`: the least margin for which the holder stops before the key
    /// expires (see the module docs).
    pub fn min_safety_margin(lease_ttl: Duration) -> Duration {
        lease_ttl * (2 * MAX_CLOCK_RATE_ERROR_PPM) / 1_000_000 + MIN_STOP_ALLOWANCE
    }

    /// The TTL: the bucket's `max_age`.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    /// The margin.
    pub fn safety_margin(&self) -> Duration {
        self.safety_margin
    }

    /// How long after a successful claim or renewal's send the next renewal is sent:
    /// a third of the TTL, so two more tries fit before the deadline.
    pub fn renew_every(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// How long to wait before trying again after a renewal failed for a passing reason
    /// (NATS reconnecting, a timeout): often enough to land before the deadline.
    pub fn retry_every(&self) -> Duration {
        self.lease_ttl / 20
    }

    /// The deadline of a claim or renewal sent at `sent_at`: by then the holder has
    /// stopped serving unless a later renewal succeeded.
    pub fn deadline(&self, sent_at: Instant) -> Instant {
        sent_at + self.lease_ttl - self.safety_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_covers_both_clocks_drift_and_the_stop_allowance() {
        let ttl = Duration::from_secs(10);
        // 2 × 1000 ppm × 10 s = 20 ms, plus 100 ms.
        assert_eq!(
            LeaseTiming::min_safety_margin(ttl),
            Duration::from_millis(120)
        );
        assert!(LeaseTiming::new(ttl, Duration::from_millis(119)).is_err());
        assert!(LeaseTiming::new(ttl, Duration::from_millis(120)).is_ok());
        assert!(LeaseTiming::new(ttl, Duration::from_millis(5_001)).is_err());
        assert!(LeaseTiming::new(Duration::from_millis(999), Duration::from_millis(200)).is_err());
    }

    /// The inequality of the module docs, checked in real numbers at the worst case:
    /// the holder's clock slow by ρ, the server's fast by ρ, the store at the send.
    #[test]
    fn at_the_least_margin_the_holder_stops_before_the_key_expires() {
        let rho = f64::from(MAX_CLOCK_RATE_ERROR_PPM) / 1e6;
        for ttl_ms in [1_000u64, 3_000, 10_000, 60_000, 600_000] {
            let ttl = Duration::from_millis(ttl_ms);
            let timing = LeaseTiming::new(ttl, LeaseTiming::min_safety_margin(ttl)).unwrap();
            let t0 = Instant::now();
            let to_deadline = (timing.deadline(t0) - t0).as_secs_f64();
            let stopped_by = to_deadline / (1.0 - rho) + MIN_STOP_ALLOWANCE.as_secs_f64();
            let expires_at = ttl.as_secs_f64() / (1.0 + rho);
            assert!(
                stopped_by <= expires_at,
                "ttl {ttl:?}: stopped by {stopped_by} s, expires at {expires_at} s"
            );
        }
    }

    #[test]
    fn renewals_come_three_times_a_ttl_and_the_deadline_is_the_ttl_less_the_margin() {
        let timing = LeaseTiming::new(Duration::from_secs(3), Duration::from_millis(750)).unwrap();
        assert_eq!(timing.renew_every(), Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(timing.deadline(t0) - t0, Duration::from_millis(2_250));
        assert!(timing.renew_every() < timing.deadline(t0) - t0);
    }
}
