//! Results: one [`ScenarioReport`] per scenario, the ratios between them, the human table
//! on stdout and the JSON summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::Summary;

/// A scenario's headline figure, the one its ratios are computed from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figure {
    /// What it counts, e.g. `tokens_per_s`.
    pub name: String,
    /// Its value.
    pub value: f64,
}

/// A pass/fail verification (a failed one makes the process exit non-zero).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// The observed values.
    pub detail: String,
}

/// Everything one scenario measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioReport {
    /// Scenario name (`baseline`, `burst`, …).
    pub name: String,
    /// The headline figure.
    pub primary: Figure,
    /// `primary` divided by baseline's, when baseline ran in the same invocation.
    pub ratio_to_baseline: Option<f64>,
    /// The measured phase: counts, throughput, latencies, statuses, errors.
    pub measured: Summary,
    /// Scenario-specific figures (setup sizes and rates, memory, …).
    pub figures: BTreeMap<String, f64>,
    /// Verifications.
    pub checks: Vec<Check>,
    /// Anything worth knowing about the run (warnings, oddities).
    pub notes: Vec<String>,
}

impl ScenarioReport {
    /// A report whose headline figure is `primary_name` = `primary`.
    pub fn new(name: &str, primary_name: &str, primary: f64, measured: Summary) -> Self {
        Self {
            name: name.to_string(),
            primary: Figure {
                name: primary_name.to_string(),
                value: primary,
            },
            ratio_to_baseline: None,
            measured,
            figures: BTreeMap::new(),
            checks: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a scenario-specific figure.
    pub fn figure(&mut self, name: &str, value: f64) -> &mut Self {
        self.figures.insert(name.to_string(), value);
        self
    }

    /// Adds a verification.
    pub fn check(&mut self, name: &str, ok: bool, detail: String) -> &mut Self {
        self.checks.push(Check {
            name: name.to_string(),
            ok,
            detail,
        });
        self
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) -> &mut Self {
        self.notes.push(note.into());
        self
    }
}

/// The whole invocation: settings, every scenario, the ratios.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunReport {
    /// Always `concert-load`.
    pub tool: &'static str,
    /// This binary's version.
    pub version: &'static str,
    /// The scenario asked for.
    pub scenario: String,
    /// Server URL.
    pub url: String,
    /// Connections per phase.
    pub connections: usize,
    /// Generator worker threads.
    pub threads: usize,
    /// Random seed.
    pub seed: u64,
    /// Whether this was a `--quick` smoke run.
    pub quick: bool,
    /// Prefix of the user ids created.
    pub run_id: String,
    /// Wall-clock start, seconds since the Unix epoch.
    pub started_unix_s: u64,
    /// Server settings the scenarios assume.
    pub expected_server: BTreeMap<String, String>,
    /// Each scenario, in the order run.
    pub scenarios: Vec<ScenarioReport>,
    /// `<scenario>_over_baseline` and `spread_over_classic`.
    pub ratios: BTreeMap<String, f64>,
    /// True when every check passed and no scenario failed.
    pub ok: bool,
    /// Failed checks and scenarios that could not run.
    pub failures: Vec<String>,
}

impl RunReport {
    /// Fills in the ratios and the verdict from the scenarios.
    pub fn finish(&mut self) {
        // Each HTTP scenario is divided by the nearest baseline run before it (with
        // --baseline-each, the one just before it; else the only one).
        let classic = self
            .scenarios
            .iter()
            .find(|s| s.name == "classic")
            .map(|s| s.primary.value)
            .filter(|v| *v > 0.0);
        let mut baseline = None;
        let mut ratios = BTreeMap::new();
        for s in &mut self.scenarios {
            match s.name.as_str() {
                "baseline" => {
                    baseline = Some(s.primary.value).filter(|v| *v > 0.0);
                    continue;
                }
                "classic" => continue,
                _ => {}
            }
            if let Some(b) = baseline {
                let r = s.primary.value / b;
                s.ratio_to_baseline = Some(r);
                ratios.insert(format!("{}_over_baseline", s.name.replace('-', "_")), r);
            }
            if s.name == "spread"
                && let Some(c) = classic
            {
                ratios.insert("spread_over_classic".to_string(), s.primary.value / c);
            }
        }
        self.ratios = ratios;
        for s in &self.scenarios {
            for c in s.checks.iter().filter(|c| !c.ok) {
                self.failures
                    .push(format!("{}: {} ({})", s.name, c.name, c.detail));
            }
        }
        self.ok = self.failures.is_empty();
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<9} {:>9} {:>9} {:>10} {:<22} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6}  statuses",
            "scenario",
            "requests",
            "answers/s",
            "headline",
            "",
            "p50 ms",
            "p99 ms",
            "p99.9ms",
            "max ms",
            "errors",
            "/base"
        );
        for s in &self.scenarios {
            let m = &s.measured;
            let statuses: Vec<String> =
                m.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let _ = writeln!(
                out,
                "{:<9} {:>9} {:>9.0} {:>10.0} {:<22} {:>7.2} {:>7.2} {:>7.2} {:>7.1} {:>6} {:>6}  {}",
                s.name,
                m.requests,
                m.throughput_per_s,
                s.primary.value,
                s.primary.name,
                m.latency_ms.p50,
                m.latency_ms.p99,
                m.latency_ms.p999,
                m.latency_ms.max,
                m.errors,
                s.ratio_to_baseline
                    .map_or("-".to_string(), |r| format!("{r:.3}")),
                statuses.join(" "),
            );
        }
        for s in &self.scenarios {
            let figures: Vec<String> = s
                .figures
                .iter()
                .map(|(k, v)| format!("{k}={}", fmt_num(*v)))
                .collect();
            if !figures.is_empty() {
                let _ = writeln!(out, "  {}: {}", s.name, figures.join("  "));
            }
            if !s.measured.error_kinds.is_empty() {
                let _ = writeln!(out, "  {}: errors {:?}", s.name, s.measured.error_kinds);
            }
            for c in &s.checks {
                let verdict = if c.ok { "ok" } else { "FAILED" };
                let _ = writeln!(
                    out,
                    "  {}: check {} {verdict}: {}",
                    s.name, c.name, c.detail
                );
            }
            for n in &s.notes {
                let _ = writeln!(out, "  {}: note: {n}", s.name);
            }
        }
        for (k, v) in &self.ratios {
            let _ = writeln!(out, "ratio {k} = {v:.3}");
        }
        for f in &self.failures {
            let _ = writeln!(out, "failed: {f}");
        }
        let _ = writeln!(
            out,
            "{}",
            if self.ok {
                "result: ok"
            } else {
                "result: FAILED"
            }
        );
        out
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Recorder;
    use std::time::Duration;

    fn summary(status: u16, n: u64, secs: u64) -> Summary {
        let mut r = Recorder::default();
        for _ in 0..n {
            r.answer(status, Duration::from_millis(1));
        }
        r.summary(Duration::from_secs(secs))
    }

    fn run(scenarios: Vec<ScenarioReport>) -> RunReport {
        let mut r = RunReport {
            tool: "concert-load",
            version: "0",
            scenario: "all".into(),
            url: "http://127.0.0.1:8080".into(),
            connections: 4,
            threads: 1,
            seed: 1,
            quick: true,
            run_id: "r".into(),
            started_unix_s: 0,
            expected_server: BTreeMap::new(),
            scenarios,
            ratios: BTreeMap::new(),
            ok: false,
            failures: vec![],
        };
        r.finish();
        r
    }

    #[test]
    fn ratios_and_verdict() {
        let base = ScenarioReport::new("baseline", "answers_per_s", 1000.0, summary(200, 1000, 1));
        let mut hot = ScenarioReport::new("hot-seat", "answers_per_s", 700.0, summary(409, 700, 1));
        hot.check("winners", false, "49 of 50".into());
        let spread = ScenarioReport::new(
            "spread",
            "committed_holds_per_s",
            500.0,
            summary(201, 500, 1),
        );
        let classic = ScenarioReport::new(
            "classic",
            "committed_holds_per_s",
            100.0,
            Summary::default(),
        );
        let r = run(vec![base, hot, spread, classic]);
        assert_eq!(r.ratios["hot_seat_over_baseline"], 0.7);
        assert_eq!(r.ratios["spread_over_baseline"], 0.5);
        assert_eq!(r.ratios["spread_over_classic"], 5.0);
        assert!(!r.ratios.contains_key("classic_over_baseline"));
        assert_eq!(r.scenarios[1].ratio_to_baseline, Some(0.7));
        assert!(!r.ok);
        assert_eq!(r.failures, vec!["hot-seat: winners (49 of 50)".to_string()]);
        let table = r.table();
        assert!(table.contains("failed: hot-seat: winners (49 of 50)"));
        assert!(table.contains("result: FAILED"));
    }

    #[test]
    fn each_scenario_uses_the_nearest_baseline_before_it() {
        let r = run(vec![
            ScenarioReport::new("baseline", "ok_per_s", 1000.0, Summary::default()),
            ScenarioReport::new("burst", "tokens_per_s", 100.0, Summary::default()),
            ScenarioReport::new("baseline", "ok_per_s", 500.0, Summary::default()),
            ScenarioReport::new("poll", "polls_per_s", 400.0, Summary::default()),
        ]);
        assert_eq!(r.ratios["burst_over_baseline"], 0.1);
        assert_eq!(r.ratios["poll_over_baseline"], 0.8);
    }

    #[test]
    fn json_summary_shape() {
        let mut burst = ScenarioReport::new("burst", "tokens_per_s", 2.0, summary(200, 4, 2));
        burst.figure("tokens_issued", 4.0);
        let r = run(vec![burst]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["tool"], "concert-load");
        assert_eq!(v["ok"], true);
        assert!(v["ratios"].as_object().unwrap().is_empty());
        let s = &v["scenarios"][0];
        assert_eq!(s["name"], "burst");
        assert_eq!(s["primary"]["name"], "tokens_per_s");
        assert_eq!(s["primary"]["value"], 2.0);
        assert!(s["ratio_to_baseline"].is_null());
        assert_eq!(s["figures"]["tokens_issued"], 4.0);
        let m = &s["measured"];
        assert_eq!(m["requests"], 4);
        assert_eq!(m["statuses"]["200"], 4);
        assert_eq!(m["throughput_per_s"], 2.0);
        for key in ["p50", "p99", "p999", "max", "mean"] {
            assert!(m["latency_ms"][key].is_f64(), "{key}");
        }
        assert!(m["error_kinds"].is_object());
    }
}
