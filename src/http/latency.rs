//! The last ten seconds of HTTP latency, in process, for the operator's dashboard
//! (`GET /admin/stats`): its p99 and its request rate, without a Prometheus server.
//!
//! Why not read the Prometheus histogram: the recorder keeps every request since the
//! start (a p99 over hours hides a bad minute), and it is optional (`--metrics-addr`).
//! Why not keep the durations: memory would grow with the traffic.
//!
//! So: a ring of [`WINDOW_SECS`] one-second slots, each a fixed array of counters, one
//! per latency bucket ([`BUCKET_BOUNDS_US`]). A request adds one to its bucket in the
//! slot of the current second: two atomic operations, no lock, no allocation. A slot
//! found holding an older second is claimed (compare-and-swap on its stamp) and
//! cleared first. The p99 is read as the upper bound of the bucket that holds the
//! 99th percentile, so it is exact to a bucket's width (buckets are ~1.5x apart).
//!
//! Approximate by design, for a chart: a request recorded while another thread clears
//! its slot may be lost, and one recorded late (its second already reused) is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How many seconds the window covers.
pub const WINDOW_SECS: u64 = 10;

/// Each bucket's upper bound, in microseconds; a duration above the last goes to the
/// overflow bucket, reported as the last bound. 100 µs to 30 s, about 1.5x apart.
const BUCKET_BOUNDS_US: [u64; 30] = [
    100, 150, 250, 400, 600, 1_000, 1_500, 2_500, 4_000, 6_000, 10_000, 15_000, 25_000, 40_000,
    60_000, 100_000, 150_000, 250_000, 400_000, 600_000, 1_000_000, 1_500_000, 2_500_000,
    4_000_000, 6_000_000, 10_000_000, 15_000_000, 20_000_000, 25_000_000, 30_000_000,
];
/// The bounded buckets and the overflow bucket.
const BUCKETS: usize = BUCKET_BOUNDS_US.len() + 1;

/// One second of requests.
struct Slot {
    /// The second (since the window's start) this slot counts, plus one; 0: unused.
    second: AtomicU64,
    counts: [AtomicU64; BUCKETS],
}

impl Slot {
    fn new() -> Self {
        Self {
            second: AtomicU64::new(0),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// What the window shows at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    /// The 99th percentile of the window's latencies, in milliseconds (a bucket's upper
    /// bound); `None` without a request in the window.
    pub p99_ms: Option<f64>,
    /// Requests answered in the window, per second of it.
    pub requests_per_second: f64,
}

/// See the module docs.
pub struct LatencyWindow {
    start: Instant,
    slots: [Slot; WINDOW_SECS as usize],
}

impl Default for LatencyWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for LatencyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyWindow").finish_non_exhaustive()
    }
}

impl LatencyWindow {
    /// An empty window starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            slots: std::array::from_fn(|_| Slot::new()),
        }
    }

    /// Counts one request that took `elapsed` and was answered at `now` (the caller's
    /// clock reading, which timed it too: one reading a request).
    pub fn record(&self, now: Instant, elapsed: Duration) {
        let stamp = now.saturating_duration_since(self.start).as_secs() + 1;
        let slot = &self.slots[(stamp % WINDOW_SECS) as usize];
        let seen = slot.second.load(Ordering::Acquire);
        if seen != stamp {
            if seen > stamp {
                // This request's second is gone already: too late to count.
                return;
            }
            // The first request of a new second clears what the slot held ten
            // seconds ago; the losers of the race count into the cleared slot.
            if slot
                .second
                .compare_exchange(seen, stamp, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                for count in &slot.counts {
                    count.store(0, Ordering::Relaxed);
                }
            }
        }
        slot.counts[bucket(elapsed)].fetch_add(1, Ordering::Relaxed);
    }

    /// The p99 and the rate over the last [`WINDOW_SECS`] seconds (the current one
    /// included, so a request shows at once).
    pub fn stats(&self) -> WindowStats {
        let since_start = self.start.elapsed();
        let stamp = since_start.as_secs() + 1;
        let mut counts = [0u64; BUCKETS];
        for slot in &self.slots {
            let second = slot.second.load(Ordering::Acquire);
            if second == 0 || second + WINDOW_SECS <= stamp || second > stamp {
                continue;
            }
            for (sum, count) in counts.iter_mut().zip(&slot.counts) {
                *sum += count.load(Ordering::Relaxed);
            }
        }
        let total: u64 = counts.iter().sum();
        // The window's length so far: nine whole seconds and the current one's part
        // (less while the server is younger than that).
        let window = since_start
            .min(Duration::from_secs(WINDOW_SECS - 1) + subsec(since_start))
            .as_secs_f64()
            .max(0.001);
        WindowStats {
            p99_ms: percentile(&counts, total, 0.99),
            requests_per_second: total as f64 / window,
        }
    }
}

fn subsec(duration: Duration) -> Duration {
    Duration::from_nanos(u64::from(duration.subsec_nanos()))
}

/// The bucket of a duration: the first whose bound it does not exceed.
fn bucket(elapsed: Duration) -> usize {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    BUCKET_BOUNDS_US.partition_point(|&bound| bound < us)
}

/// The upper bound, in ms, of the bucket holding the `q` quantile; `None` if empty.
fn percentile(counts: &[u64; BUCKETS], total: u64, q: f64) -> Option<f64> {
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (index, count) in counts.iter().enumerate() {
        seen += count;
        if seen >= rank {
            let bound = BUCKET_BOUNDS_US[index.min(BUCKET_BOUNDS_US.len() - 1)];
            return Some(bound as f64 / 1000.0);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_duration_goes_to_the_first_bound_it_does_not_exceed() {
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(Duration::from_micros(100)), 0);
        assert_eq!(bucket(Duration::from_micros(101)), 1);
        assert_eq!(bucket(MS), 5);
        assert_eq!(bucket(Duration::from_secs(3600)), BUCKETS - 1);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_recorded_has_no_p99() {
        let window = LatencyWindow::new();
        tokio::time::advance(Duration::from_secs(1)).await;
        let stats = window.stats();
        assert_eq!(stats.p99_ms, None);
        assert_eq!(stats.requests_per_second, 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_p99_is_the_bucket_of_the_slowest_percent() {
        let window = LatencyWindow::new();
        for _ in 0..98 {
            window.record(Instant::now(), MS);
        }
        window.record(Instant::now(), Duration::from_millis(200));
        window.record(Instant::now(), Duration::from_millis(200));
        // 2 of 100 are slow: the 99th request is one of them.
        assert_eq!(window.stats().p99_ms, Some(250.0));
        for _ in 0..100 {
            window.record(Instant::now(), MS);
        }
        // 2 of 200: the 198th is fast.
        assert_eq!(window.stats().p99_ms, Some(1.0));
        window.record(Instant::now(), Duration::from_secs(3600));
        window.record(Instant::now(), Duration::from_secs(3600));
        window.record(Instant::now(), Duration::from_secs(3600));
        assert_eq!(
            window.stats().p99_ms,
            Some(30_000.0),
            "overflow: the last bound"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_forgets_after_ten_seconds_and_reports_the_rate() {
        let window = LatencyWindow::new();
        tokio::time::advance(Duration::from_secs(20)).await;
        for _ in 0..50 {
            window.record(Instant::now(), Duration::from_millis(500));
        }
        tokio::time::advance(Duration::from_millis(5_500)).await;
        for _ in 0..45 {
            window.record(Instant::now(), MS);
        }
        let stats = window.stats();
        assert_eq!(stats.p99_ms, Some(600.0), "both seconds are in the window");
        // Nine whole seconds and half of the current one.
        assert!(
            (stats.requests_per_second - 10.0).abs() < 1e-9,
            "95 over 9.5 seconds: {}",
            stats.requests_per_second
        );
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(window.stats().p99_ms, Some(1.0), "the slow second has left");
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(window.stats().p99_ms, None, "and then the fast one");
        // Second 40 takes the slot of second 20 (its 50 slow requests): cleared first.
        tokio::time::advance(Duration::from_secs(5)).await;
        window.record(Instant::now(), MS);
        let stats = window.stats();
        assert_eq!(stats.p99_ms, Some(1.0));
        assert!((stats.requests_per_second - 1.0 / 9.5).abs() < 1e-9);
    }
}
