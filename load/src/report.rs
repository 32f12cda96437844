//! Results: one [`ScenarioReport`] per scenario, the ratios between them, the human table
//! on stdout and the JSON summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::reference::{self, Comparison, Verdict};
use crate::stats::{Summary, median};

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

/// One node's share of a scenario's measured phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeReport {
    /// The node's URL as given.
    pub url: String,
    /// Connections pinned to it.
    pub connections: usize,
    /// Its answers over the phase's interval.
    pub measured: Summary,
}

/// Everything one scenario measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioReport {
    /// Scenario name (`baseline`, `burst`, …).
    pub name: String,
    /// The headline figure.
    pub primary: Figure,
    /// `primary` divided by baseline's (`GET /health`), when baseline ran before it.
    pub ratio_to_baseline: Option<f64>,
    /// `primary` divided by the bare server's, measured just before it.
    pub ratio_to_bare: Option<f64>,
    /// The measured phase: counts, throughput, latencies, statuses, errors.
    pub measured: Summary,
    /// The measured phase per node, when several were loaded (`--target` repeated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeReport>,
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
            ratio_to_bare: None,
            measured,
            nodes: Vec::new(),
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
    /// The nodes loaded, in `--target` order (the first also took the setup requests).
    pub targets: Vec<String>,
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
    /// `<figure>_over_bare`, `<figure>_over_baseline` and `spread_over_classic`: the
    /// median over the rounds (`health` is baseline's `GET /health`).
    pub ratios: BTreeMap<String, f64>,
    /// Each ratio's value in every round, in the order measured.
    pub ratio_rounds: BTreeMap<String, Vec<f64>>,
    /// The ratios beside the reference table (`--reference`), when one was given.
    pub reference: Vec<Comparison>,
    /// True when every check passed and no scenario failed.
    pub ok: bool,
    /// Failed checks and scenarios that could not run.
    pub failures: Vec<String>,
}

impl RunReport {
    /// Fills in the ratios and the verdict from the scenarios.
    pub fn finish(&mut self) {
        // Each scenario is divided by the nearest bare run and the nearest baseline run
        // before it: with rounds, the ones of its own round.
        let mut bare = None;
        let mut baseline = None;
        let mut rounds: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut spreads = Vec::new();
        let mut classics = Vec::new();
        for s in &mut self.scenarios {
            let value = Some(s.primary.value).filter(|v| *v > 0.0);
            match s.name.as_str() {
                "bare" => {
                    bare = value;
                    continue;
                }
                "classic" => {
                    classics.extend(value);
                    continue;
                }
                "stream" => continue,
                "spread" => spreads.push(s.primary.value),
                _ => {}
            }
            let key = ratio_key(&s.name);
            if let Some(b) = bare {
                let r = s.primary.value / b;
                s.ratio_to_bare = Some(r);
                rounds
                    .entry(format!("{key}_over_bare"))
                    .or_default()
                    .push(r);
            }
            if s.name == "baseline" {
                baseline = value;
            } else if let Some(b) = baseline {
                let r = s.primary.value / b;
                s.ratio_to_baseline = Some(r);
                rounds
                    .entry(format!("{key}_over_baseline"))
                    .or_default()
                    .push(r);
            }
        }
        // Each spread against the classic run right after it (same round).
        for (spread, classic) in spreads.iter().zip(&classics) {
            rounds
                .entry("spread_over_classic".to_string())
                .or_default()
                .push(spread / classic);
        }
        self.ratios = rounds
            .iter()
            .filter_map(|(k, v)| median(v).map(|m| (k.clone(), m)))
            .collect();
        self.ratio_rounds = rounds;
        for s in &self.scenarios {
            for c in s.checks.iter().filter(|c| !c.ok) {
                self.failures
                    .push(format!("{}: {} ({})", s.name, c.name, c.detail));
            }
        }
        self.ok = self.failures.is_empty();
    }

    /// Compares the ratios with the reference table: a ratio that fell more than the
    /// tolerance below its reference is a failure of the run.
    pub fn compare_with(&mut self, table: &BTreeMap<String, f64>) {
        self.reference = reference::compare(table, &self.ratios, reference::TOLERANCE);
        for c in &self.reference {
            if c.verdict == Verdict::Fell {
                self.failures.push(format!("regression: {}", c.line()));
            }
        }
        self.ok = self.failures.is_empty();
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if self.targets.len() > 1 {
            let _ = writeln!(
                out,
                "nodes (connections round-robin; setup on the first): {}",
                self.targets.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "{:<9} {:>9} {:>9} {:>10} {:<22} {:>7} {:>7} {:>7} {:>7} {:>6} {:>6} {:>6}  statuses",
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
            "/base",
            "/bare"
        );
        for s in &self.scenarios {
            let m = &s.measured;
            let statuses: Vec<String> =
                m.statuses.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            let _ = writeln!(
                out,
                "{:<9} {:>9} {:>9.0} {:>10.0} {:<22} {:>7.2} {:>7.2} {:>7.2} {:>7.1} {:>6} {:>6} {:>6}  {}",
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
                fmt_ratio(s.ratio_to_baseline),
                fmt_ratio(s.ratio_to_bare),
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
            for n in &s.nodes {
                let m = &n.measured;
                let _ = writeln!(
                    out,
                    "  {} @ {}: {} connections, {:.0} answers/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                    s.name,
                    n.url,
                    n.connections,
                    m.throughput_per_s,
                    m.latency_ms.p50,
                    m.latency_ms.p99,
                    m.errors
                );
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
            let rounds = &self.ratio_rounds[k];
            if rounds.len() > 1 {
                let each: Vec<String> = rounds.iter().map(|r| format!("{r:.3}")).collect();
                let _ = writeln!(
                    out,
                    "ratio {k} = {v:.3} (median of {}: {})",
                    rounds.len(),
                    each.join(", ")
                );
            } else {
                let _ = writeln!(out, "ratio {k} = {v:.3}");
            }
        }
        if !self.reference.is_empty() {
            let _ = writeln!(
                out,
                "against the reference table (flagged: more than {:.0}% below):",
                reference::TOLERANCE * 100.0
            );
            for c in &self.reference {
                let _ = writeln!(out, "  {}", c.line());
            }
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

/// A ratio's key for a scenario: baseline's figure is `GET /health`'s.
fn ratio_key(scenario: &str) -> String {
    match scenario {
        "baseline" => "health".to_string(),
        other => other.replace('-', "_"),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".to_string(), |r| format!("{r:.3}"))
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
            targets: vec!["http://127.0.0.1:8080".into()],
            connections: 4,
            threads: 1,
            seed: 1,
            quick: true,
            run_id: "r".into(),
            started_unix_s: 0,
            expected_server: BTreeMap::new(),
            scenarios,
            ratios: BTreeMap::new(),
            ratio_rounds: BTreeMap::new(),
            reference: vec![],
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
    fn nodes_are_named_in_the_table_and_the_json() {
        let mut poll = ScenarioReport::new("poll", "polls_per_s", 300.0, summary(200, 300, 1));
        poll.nodes = vec![
            NodeReport {
                url: "http://127.0.0.1:1".into(),
                connections: 2,
                measured: summary(200, 200, 1),
            },
            NodeReport {
                url: "http://127.0.0.1:2".into(),
                connections: 1,
                measured: summary(200, 100, 1),
            },
        ];
        let mut r = run(vec![poll]);
        r.targets = vec!["http://127.0.0.1:1".into(), "http://127.0.0.1:2".into()];
        let table = r.table();
        assert!(
            table.starts_with("nodes (connections round-robin; setup on the first): http://127.0.0.1:1, http://127.0.0.1:2\n")
                && table.contains("poll @ http://127.0.0.1:1: 2 connections, 200 answers/s")
                && table.contains("poll @ http://127.0.0.1:2: 1 connections, 100 answers/s"),
            "{table}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["scenarios"][0]["nodes"][1]["url"],
            "http://127.0.0.1:2"
        );
        // A run against one node keeps its JSON as it was: no `nodes` key.
        let one = run(vec![ScenarioReport::new(
            "poll",
            "polls_per_s",
            1.0,
            summary(200, 1, 1),
        )]);
        assert!(
            serde_json::to_value(&one).unwrap()["scenarios"][0]
                .get("nodes")
                .is_none()
        );
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

    fn primary(name: &str, value: f64) -> ScenarioReport {
        ScenarioReport::new(name, "per_s", value, Summary::default())
    }

    #[test]
    fn every_figure_over_the_bare_run_before_it_median_of_rounds() {
        // Three rounds of bare, health, bare, poll; the bare server slows down in round 2
        // (a busy minute) and the real one with it: the ratios hold.
        let r = run(vec![
            primary("bare", 1000.0),
            primary("baseline", 800.0),
            primary("bare", 1000.0),
            primary("poll", 600.0),
            primary("bare", 500.0),
            primary("baseline", 420.0),
            primary("bare", 500.0),
            primary("poll", 250.0),
            primary("bare", 1000.0),
            primary("baseline", 780.0),
            primary("bare", 900.0),
            primary("poll", 990.0), // one wild round
        ]);
        assert_eq!(r.ratio_rounds["health_over_bare"], vec![0.8, 0.84, 0.78]);
        assert_eq!(r.ratios["health_over_bare"], 0.8);
        assert_eq!(r.ratio_rounds["poll_over_bare"], vec![0.6, 0.5, 1.1]);
        assert_eq!(r.ratios["poll_over_bare"], 0.6);
        // Against /health of its own round too: 600/800, 250/420, 990/780.
        assert_eq!(r.ratio_rounds["poll_over_baseline"].len(), 3);
        assert_eq!(r.ratios["poll_over_baseline"], 0.75);
        assert!(!r.ratios.contains_key("bare_over_bare"));
        assert!(!r.ratios.contains_key("health_over_baseline"));
        assert_eq!(r.scenarios[3].ratio_to_bare, Some(0.6));
        assert_eq!(r.scenarios[1].ratio_to_baseline, None);
        let table = r.table();
        assert!(table.contains("ratio poll_over_bare = 0.600 (median of 3: 0.600, 0.500, 1.100)"));
    }

    #[test]
    fn no_bare_run_no_bare_ratio() {
        let r = run(vec![primary("baseline", 800.0), primary("poll", 600.0)]);
        assert_eq!(r.scenarios[1].ratio_to_bare, None);
        assert!(r.ratios.keys().all(|k| !k.ends_with("_over_bare")));
        assert_eq!(r.ratios["poll_over_baseline"], 0.75);
    }

    #[test]
    fn spread_over_the_classic_run_of_its_round() {
        let r = run(vec![
            primary("spread", 500.0),
            primary("classic", 100.0),
            primary("spread", 300.0),
            primary("classic", 150.0),
        ]);
        assert_eq!(r.ratio_rounds["spread_over_classic"], vec![5.0, 2.0]);
        assert_eq!(r.ratios["spread_over_classic"], 3.5);
    }

    #[test]
    fn a_ratio_fallen_below_the_reference_fails_the_run() {
        let mut r = run(vec![
            primary("bare", 1000.0),
            primary("baseline", 700.0),
            primary("bare", 1000.0),
            primary("poll", 600.0),
        ]);
        assert!(r.ok);
        let table: BTreeMap<String, f64> = [("health_over_bare", 0.80), ("poll_over_bare", 0.62)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        r.compare_with(&table);
        assert!(!r.ok);
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].starts_with("regression: health_over_bare"));
        let text = r.table();
        assert!(text.contains("FELL") && text.contains("result: FAILED"));
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
