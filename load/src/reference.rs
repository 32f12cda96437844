//! The regression guard: this run's ratios against the reference table in
//! `docs/performance.md` (`--reference`), each flagged when it fell more than
//! [`TOLERANCE`] below its reference.
//!
//! The reference is read from the document itself, so the table a reader sees is the
//! one the guard checks: the table whose head is `| ratio | reference | …`, each row's
//! first cell a ratio's key in backticks (`` `poll_over_bare` ``) and its second a
//! number. Other tables (a reading's rounds, say) may name the same keys. Ratios, not
//! rates: a slow day moves the bare server as much as the real one.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::Serialize;

/// How far below its reference a ratio may fall before it is flagged: runs of one
/// binary spread by about ±0.05 here (docs/performance.md), so 10% is a change.
pub const TOLERANCE: f64 = 0.10;

/// The reference ratios found in a Markdown document, by key.
pub fn parse(markdown: &str) -> Result<BTreeMap<String, f64>> {
    let mut found = BTreeMap::new();
    let mut in_reference = false;
    for (line_no, line) in markdown.lines().enumerate() {
        let Some(row) = line.trim().strip_prefix('|') else {
            // A table ends at the first line that is not a row.
            in_reference = false;
            continue;
        };
        let mut cells = row.split('|').map(str::trim);
        let (Some(first), Some(second)) = (cells.next(), cells.next()) else {
            continue;
        };
        if first.eq_ignore_ascii_case("ratio") && second.eq_ignore_ascii_case("reference") {
            in_reference = true;
            continue;
        }
        if !in_reference {
            continue;
        }
        let Some(key) = first
            .strip_prefix('`')
            .and_then(|k| k.strip_suffix('`'))
            .filter(|k| is_ratio_key(k))
        else {
            continue;
        };
        let Ok(value) = second.trim_matches('*').parse::<f64>() else {
            continue;
        };
        if found.insert(key.to_string(), value).is_some() {
            bail!("reference {key} given twice (line {})", line_no + 1);
        }
    }
    Ok(found)
}

/// `<figure>_over_<yardstick>`, in lower case, digits and underscores.
fn is_ratio_key(key: &str) -> bool {
    key.contains("_over_")
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// How one ratio compares with its reference.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within the tolerance below (or anywhere above, up to the tolerance above).
    Ok,
    /// More than the tolerance below its reference: a regression to look at.
    Fell,
    /// More than the tolerance above: better, or a reference to update.
    Rose,
    /// In the reference but not measured by this run (another scenario was run).
    NotMeasured,
}

/// One ratio beside its reference.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    /// The ratio's key, e.g. `poll_over_bare`.
    pub key: String,
    /// The reference table's value.
    pub reference: f64,
    /// This run's value.
    pub measured: Option<f64>,
    /// `measured / reference - 1` (−0.12: 12% below).
    pub change: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Every reference ratio beside this run's, in key order.
pub fn compare(
    reference: &BTreeMap<String, f64>,
    measured: &BTreeMap<String, f64>,
    tolerance: f64,
) -> Vec<Comparison> {
    reference
        .iter()
        .map(|(key, &want)| {
            let got = measured.get(key).copied();
            let change = got.map(|g| g / want - 1.0).filter(|c| c.is_finite());
            let verdict = match change {
                None => Verdict::NotMeasured,
                Some(c) if c < -tolerance => Verdict::Fell,
                Some(c) if c > tolerance => Verdict::Rose,
                Some(_) => Verdict::Ok,
            };
            Comparison {
                key: key.clone(),
                reference: want,
                measured: got,
                change,
                verdict,
            }
        })
        .collect()
}

impl Comparison {
    /// One line of the guard's output.
    pub fn line(&self) -> String {
        let verdict = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Fell => "FELL more than 10% below the reference",
            Verdict::Rose => "rose more than 10% above (update the table?)",
            Verdict::NotMeasured => "not measured by this run",
        };
        match (self.measured, self.change) {
            (Some(m), Some(c)) => format!(
                "{:<26} {m:>6.3} vs {:>6.3} ({:+5.1}%)  {verdict}",
                self.key,
                self.reference,
                c * 100.0
            ),
            _ => format!(
                "{:<26}      - vs {:>6.3}           {verdict}",
                self.key, self.reference
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# Performance

| figure | measured |
| --- | --- |
| `health_over_bare` | 0.75 |

| ratio | reference | what |
| --- | --- | --- |
| `health_over_bare` | 0.80 | the middleware |
| `poll_over_bare` | **0.60** | poll |
| `hot-seat` | 0.73 | a scenario's name: not a key |
| `burst_over_bare` | – | no number: not a reference |
| `poll` at 1,000,000 | 0.97 | not a key either |

| ratio | round 1 |
| --- | --- |
| `poll_over_bare` | 0.50 |
";

    fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn reads_only_the_reference_tables_ratio_rows_with_numbers() {
        let r = parse(DOC).unwrap();
        assert_eq!(
            r,
            map(&[("health_over_bare", 0.80), ("poll_over_bare", 0.60)])
        );
    }

    #[test]
    fn a_key_given_twice_is_an_error() {
        let doc = "| ratio | reference |\n| `poll_over_bare` | 0.6 |\n| `poll_over_bare` | 0.7 |\n";
        assert!(parse(doc).is_err());
    }

    #[test]
    fn flags_a_fall_of_more_than_the_tolerance() {
        let reference = map(&[
            ("a_over_bare", 0.80),
            ("b_over_bare", 0.80),
            ("c_over_bare", 0.80),
            ("d_over_bare", 0.50),
            ("e_over_bare", 0.50),
        ]);
        let measured = map(&[
            ("a_over_bare", 0.73), // 8.75% below: within
            ("b_over_bare", 0.70), // 12.5% below: flagged
            ("c_over_bare", 0.95), // 18.75% above
            ("d_over_bare", 0.45), // exactly 10% below: not more than 10%
            ("x_over_bare", 0.10), // no reference: not compared
        ]);
        let c = compare(&reference, &measured, TOLERANCE);
        let verdicts: Vec<(&str, Verdict)> =
            c.iter().map(|c| (c.key.as_str(), c.verdict)).collect();
        assert_eq!(
            verdicts,
            vec![
                ("a_over_bare", Verdict::Ok),
                ("b_over_bare", Verdict::Fell),
                ("c_over_bare", Verdict::Rose),
                ("d_over_bare", Verdict::Ok),
                ("e_over_bare", Verdict::NotMeasured),
            ]
        );
        let b = &c[1];
        assert!((b.change.unwrap() + 0.125).abs() < 1e-9);
        assert!(b.line().contains("FELL") && b.line().contains("-12.5%"));
        assert!(c[4].line().contains("not measured"));
    }
}
