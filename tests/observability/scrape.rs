//! Reading Prometheus text: one sample per line, `name{label="value",…} number`.

use std::collections::BTreeMap;

/// One scrape of `/metrics`.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// Every sample: name, labels, value.
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
    /// The text as served.
    pub text: String,
}

impl Scrape {
    /// Parses Prometheus text (comments skipped).
    pub fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("`series value`");
                let value: f64 = value.parse().expect("a number");
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, labels.trim_end_matches('}')),
                    None => (series, ""),
                };
                let labels = labels
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
                        (key.to_owned(), value.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels, value)
            })
            .collect();
        Scrape {
            samples,
            text: text.to_owned(),
        }
    }

    /// The value of the sample `name` whose labels include `labels` (summed over the
    /// others); 0 if there is none.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| value)
            .sum()
    }

    /// True if some sample (or a histogram's `_bucket`/`_sum`/`_count`) is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|(n, _, _)| {
            n == name
                || n.strip_prefix(name)
                    .is_some_and(|rest| ["_bucket", "_sum", "_count"].contains(&rest))
        })
    }
}

/// `after - before` for one series.
pub fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    after.value(name, labels) - before.value(name, labels)
}
