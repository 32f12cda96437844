//! Counting what came back: a latency histogram, a count per HTTP status and per failure.
//!
//! Every worker records into its own [`Recorder`] (no sharing on the hot path); the
//! recorders are merged once the load stops.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tracks exactly, in microseconds (larger ones saturate).
const MAX_TRACKED_US: u64 = 120_000_000;

/// One worker's (or a merged) record of answers and failures.
#[derive(Debug, Clone)]
pub struct Recorder {
    latency_us: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<&'static str, u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            // 3 significant figures: 0.1% resolution at any scale, about 200 KB per histogram.
            latency_us: Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
        }
    }
}

impl Recorder {
    /// Records an HTTP answer and how long it took.
    pub fn answer(&mut self, status: u16, latency: Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(us);
        *self.statuses.entry(status).or_default() += 1;
    }

    /// Records a request that got no HTTP answer. Its latency is not recorded: it would
    /// mix timeouts into the distribution of served requests.
    pub fn failure(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Adds another recorder's counts to this one.
    pub fn merge(&mut self, other: &Recorder) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms share bounds");
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        for (k, n) in &other.errors {
            *self.errors.entry(k).or_default() += n;
        }
    }

    /// The figures over a measured interval of `elapsed`.
    pub fn summary(&self, elapsed: Duration) -> Summary {
        let answers: u64 = self.statuses.values().sum();
        let errors: u64 = self.errors.values().sum();
        let secs = elapsed.as_secs_f64();
        let ms = |q: f64| {
            if answers == 0 {
                0.0
            } else {
                self.latency_us.value_at_quantile(q) as f64 / 1000.0
            }
        };
        Summary {
            requests: answers + errors,
            answers,
            errors,
            elapsed_s: secs,
            throughput_per_s: if secs > 0.0 {
                answers as f64 / secs
            } else {
                0.0
            },
            latency_ms: Latency {
                p50: ms(0.50),
                p99: ms(0.99),
                p999: ms(0.999),
                max: if answers == 0 {
                    0.0
                } else {
                    self.latency_us.max() as f64 / 1000.0
                },
                mean: if answers == 0 {
                    0.0
                } else {
                    self.latency_us.mean() / 1000.0
                },
            },
            statuses: self
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            error_kinds: self
                .errors
                .iter()
                .map(|(k, n)| (k.to_string(), *n))
                .collect(),
        }
    }
}

/// Latency percentiles of answered requests, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest answer.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// What one measured load phase did.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    /// Requests sent (answered + failed).
    pub requests: u64,
    /// Requests that got an HTTP answer, whatever its status.
    pub answers: u64,
    /// Requests that got no answer (see `error_kinds`).
    pub errors: u64,
    /// Length of the measured interval, in seconds.
    pub elapsed_s: f64,
    /// Answers per second over the interval.
    pub throughput_per_s: f64,
    /// Latency of the answers.
    pub latency_ms: Latency,
    /// Count of answers per HTTP status (keys are the status as a string, for JSON).
    pub statuses: BTreeMap<String, u64>,
    /// Count of failures per kind (`connect`, `io`, `timeout`).
    pub error_kinds: BTreeMap<String, u64>,
}

impl Summary {
    /// Answers with this status.
    pub fn status(&self, status: u16) -> u64 {
        self.statuses.get(&status.to_string()).copied().unwrap_or(0)
    }

    /// Answers with this status per second.
    pub fn status_rate(&self, status: u16) -> f64 {
        if self.elapsed_s > 0.0 {
            self.status(status) as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count), `None` when
/// empty. Rounds of one figure are summarised by it: one disturbed round moves a mean,
/// not a median.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[0.7]), Some(0.7));
        // Odd: the middle one, whatever the order; one wild round does not move it.
        assert_eq!(median(&[0.9, 0.1, 0.8]), Some(0.8));
        assert_eq!(median(&[0.8, 0.81, 9.0]), Some(0.81));
        // Even: the mean of the middle two.
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        // A ratio over a zero baseline (NaN, infinity) is no figure: left out.
        assert_eq!(median(&[f64::NAN, 0.5, f64::INFINITY]), Some(0.5));
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut r = Recorder::default();
        // 1..=1000 ms, one each: p50 = 500, p99 = 990, p99.9 = 999.
        for i in 1..=1000 {
            r.answer(200, ms(i));
        }
        let s = r.summary(Duration::from_secs(2));
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.002;
        assert!(close(s.latency_ms.p50, 500.0), "{}", s.latency_ms.p50);
        assert!(close(s.latency_ms.p99, 990.0), "{}", s.latency_ms.p99);
        assert!(close(s.latency_ms.p999, 999.0), "{}", s.latency_ms.p999);
        assert!(close(s.latency_ms.max, 1000.0));
        assert!(close(s.latency_ms.mean, 500.5));
        assert_eq!(s.answers, 1000);
        assert_eq!(s.throughput_per_s, 500.0);
    }

    #[test]
    fn merge_adds_statuses_errors_and_latencies() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        a.answer(201, ms(1));
        a.answer(409, ms(2));
        b.answer(409, ms(3));
        b.failure("timeout");
        b.failure("io");
        b.failure("io");
        a.merge(&b);
        let s = a.summary(Duration::from_secs(1));
        assert_eq!((s.requests, s.answers, s.errors), (6, 3, 3));
        assert_eq!(s.status(201), 1);
        assert_eq!(s.status(409), 2);
        assert_eq!(s.error_kinds["io"], 2);
        assert_eq!(s.error_kinds["timeout"], 1);
        assert!((s.latency_ms.max - 3.0).abs() < 0.01);
        assert_eq!(s.status_rate(409), 2.0);
    }

    #[test]
    fn empty_and_huge_are_safe() {
        let s = Recorder::default().summary(Duration::ZERO);
        assert_eq!(s.throughput_per_s, 0.0);
        assert_eq!(s.latency_ms, Latency::default());
        let mut r = Recorder::default();
        r.answer(200, Duration::from_secs(3600));
        r.answer(200, Duration::ZERO);
        assert!(r.summary(Duration::from_secs(1)).latency_ms.max >= 119_000.0);
    }
}
