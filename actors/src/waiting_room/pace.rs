//! The room's recent admissions, for its rate cap, its wait estimates and its
//! reported admissions per second.
//!
//! Kept as batches (one entry per admission write, with how many it admitted), so a
//! burst of thousands of admissions costs a few entries, and the counts stay exact
//! whatever the rate (a log of single instants capped at a few hundred would
//! undercount any rate above its cap).

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;

/// How far back admissions are kept: the wait estimate's window.
pub(super) const ESTIMATE_WINDOW: Duration = Duration::from_secs(300);
/// How many recent admissions the wait estimate looks at, at most.
const RECENT_ADMISSIONS: u64 = 256;
/// The window of the reported admissions per second.
const PER_SECOND_WINDOW: Duration = Duration::from_secs(10);
/// The most batches kept: past it the two oldest merge (dated the later), which
/// keeps every count and moves only the oldest admissions' times, a little later.
const MAX_BATCHES: usize = 4096;

/// See the module docs.
#[derive(Debug, Default)]
pub(super) struct Pace {
    /// (when, how many), oldest first, times never decreasing.
    batches: VecDeque<(Instant, u64)>,
    /// The latest [`RECENT_ADMISSIONS`] or so: how many, and the oldest one's time.
    /// Summed when admissions are recorded, not on every poll: each poll's wait
    /// estimate reads it, and a line admitting one at a time keeps hundreds of batches
    /// (~3,700 instructions a poll when the sum walked them; issue 16).
    recent: Option<(u64, Instant)>,
}

impl Pace {
    /// Records `count` admissions at `now`.
    pub(super) fn record(&mut self, now: Instant, count: usize) {
        if count == 0 {
            return;
        }
        let count = count as u64;
        match self.batches.back_mut() {
            Some((at, n)) if *at == now => *n += count,
            _ => self.batches.push_back((now, count)),
        }
        let keep_from = now.checked_sub(ESTIMATE_WINDOW);
        while self
            .batches
            .front()
            .is_some_and(|(at, _)| keep_from.is_some_and(|from| *at < from))
        {
            self.batches.pop_front();
        }
        while self.batches.len() > MAX_BATCHES {
            let (_, oldest) = self.batches.pop_front().expect("more than MAX_BATCHES");
            if let Some((_, next)) = self.batches.front_mut() {
                *next += oldest;
            }
        }
        self.recent = self.recent_since(None);
    }

    /// The latest [`RECENT_ADMISSIONS`] or so made at or after `start` (all kept ones
    /// if `None`): how many, and the oldest one's time; `None` if none.
    fn recent_since(&self, start: Option<Instant>) -> Option<(u64, Instant)> {
        let (mut count, mut oldest) = (0u64, None);
        for (at, n) in self.batches.iter().rev() {
            if count >= RECENT_ADMISSIONS || start.is_some_and(|start| *at < start) {
                break;
            }
            count += n;
            oldest = Some(*at);
        }
        Some((count, oldest?))
    }

    /// Admissions made after `now - window`.
    pub(super) fn within(&self, now: Instant, window: Duration) -> u64 {
        let from = now.checked_sub(window);
        self.batches
            .iter()
            .rev()
            .take_while(|(at, _)| from.is_none_or(|from| *at > from))
            .map(|(_, n)| n)
            .sum()
    }

    /// Admissions over the last 10 s, divided by 10.
    pub(super) fn per_second(&self, now: Instant) -> f64 {
        self.within(now, PER_SECOND_WINDOW) as f64 / PER_SECOND_WINDOW.as_secs_f64()
    }

    /// When `rate` per second next allows an admission: a second after the
    /// rate-th latest admission (`None` if fewer were ever made).
    pub(super) fn reopens_at(&self, rate: NonZeroU32) -> Option<Instant> {
        let mut seen = 0;
        for (at, n) in self.batches.iter().rev() {
            seen += n;
            if seen >= u64::from(rate.get()) {
                return Some(*at + Duration::from_secs(1));
            }
        }
        None
    }

    /// Seconds until `position` more admissions at the recent pace (the latest
    /// [`RECENT_ADMISSIONS`] or so within [`ESTIMATE_WINDOW`]); `None` when unknown.
    pub(super) fn estimate_wait_seconds(&self, position: usize, now: Instant) -> Option<u64> {
        let window_start = now.checked_sub(ESTIMATE_WINDOW);
        let (count, oldest) = match self.recent {
            // All of them within the window: what walking the batches would find.
            Some((count, oldest)) if window_start.is_none_or(|start| oldest >= start) => {
                (count, oldest)
            }
            // Some have aged out since they were summed: the few left, walked.
            _ => self.recent_since(window_start)?,
        };
        let span = now
            .saturating_duration_since(oldest)
            .max(Duration::from_secs(1));
        let per_second = count as f64 / span.as_secs_f64();
        Some((position as f64 / per_second).ceil() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_stay_exact_past_any_cap_and_window() {
        let start = Instant::now();
        let mut pace = Pace::default();
        // 5,000 admissions in one second, in 1,000 writes: more than any log of
        // single instants would keep.
        for i in 0..1_000u64 {
            pace.record(start + Duration::from_millis(i), 5);
        }
        let now = start + Duration::from_millis(999);
        assert_eq!(pace.within(now, Duration::from_secs(1)), 5_000);
        assert_eq!(pace.per_second(now), 500.0);
        assert_eq!(pace.reopens_at(NonZeroU32::new(5).unwrap()), Some(now + Duration::from_secs(1)));
        let later = start + Duration::from_secs(11);
        assert_eq!(pace.per_second(later), 0.0, "out of the 10 s window");
    }

    /// The estimate as it was computed before [`Pace::recent`]: the batches walked on
    /// every call.
    fn walked(pace: &Pace, position: usize, now: Instant) -> Option<u64> {
        let window_start = now.checked_sub(ESTIMATE_WINDOW);
        let (mut count, mut oldest) = (0u64, None);
        for (at, n) in pace.batches.iter().rev() {
            if count >= RECENT_ADMISSIONS || window_start.is_some_and(|start| *at < start) {
                break;
            }
            count += n;
            oldest = Some(*at);
        }
        let span = now.saturating_duration_since(oldest?).max(Duration::from_secs(1));
        Some((position as f64 / (count as f64 / span.as_secs_f64())).ceil() as u64)
    }

    #[test]
    fn the_summed_estimate_is_the_walked_one_whatever_the_admissions_and_the_hour() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        for _ in 0..200 {
            let start = Instant::now();
            let mut pace = Pace::default();
            let mut now = start;
            for _ in 0..rng.random_range(0..600) {
                // Trickles, bursts and long pauses (past the 300 s window too).
                now += Duration::from_millis(match rng.random_range(0..10) {
                    0 => rng.random_range(0..400_000),
                    1..=3 => 0,
                    _ => rng.random_range(1..2_000),
                });
                pace.record(now, rng.random_range(0..20));
                let asked = now + Duration::from_millis(rng.random_range(0..400_000));
                let position = rng.random_range(1..100_000);
                assert_eq!(
                    pace.estimate_wait_seconds(position, asked),
                    walked(&pace, position, asked)
                );
            }
        }
    }

    #[test]
    fn merging_the_oldest_batches_keeps_the_total() {
        let start = Instant::now();
        let mut pace = Pace::default();
        for i in 0..(MAX_BATCHES as u64 + 100) {
            pace.record(start + Duration::from_micros(i + 1), 1);
        }
        assert_eq!(pace.batches.len(), MAX_BATCHES);
        let now = start + Duration::from_secs(1);
        assert_eq!(pace.within(now, Duration::from_secs(2)), MAX_BATCHES as u64 + 100);
    }
}
