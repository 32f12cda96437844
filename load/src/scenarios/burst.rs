//! `burst`: N new tokens as fast as possible, one distinct user id each. The contract
//! makes every 200 durable (committed before the answer), so 200s per second is the
//! durable-token rate.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, Result};

use super::{Ctx, setup};
use crate::report::ScenarioReport;

/// Runs the burst; the tokens are kept in `ctx.issued` for a poll in the same run.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let want = ctx.sizes.burst_tokens;
    let prefix = format!("{}-b", ctx.run_id);
    let issued =
        setup::issue_tokens(&ctx.driver, "burst", &prefix, want, ctx.sizes.duration).await?;
    let m = issued.outcome.summary();
    let tokens: Vec<String> = issued.tickets.iter().map(|t| t.token.clone()).collect();
    let distinct = tokens.iter().collect::<HashSet<_>>().len();

    let mut report = ScenarioReport::new("burst", "tokens_per_s", m.status_rate(200), m);
    report
        .figure("tokens_requested", want as f64)
        .figure("tokens_issued", tokens.len() as f64)
        .figure(
            "admitted_at_issue",
            issued.tickets.iter().filter(|t| t.is_processing).count() as f64,
        )
        .figure(
            "line_length_seen",
            issued
                .tickets
                .iter()
                .filter_map(|t| t.waiting_number)
                .max()
                .unwrap_or(0) as f64,
        )
        .figure("reconnects", issued.outcome.reconnects as f64);
    report.nodes = issued.outcome.node_reports();
    report.check(
        "one token per user",
        distinct == tokens.len(),
        format!("{distinct} distinct of {}", tokens.len()),
    );
    if (tokens.len() as u64) < want {
        report.note(format!(
            "issued {} of {want} within the {:?} bound",
            tokens.len(),
            ctx.sizes.duration
        ));
    }
    if let Some(path) = &ctx.opts.save_tokens {
        save_tokens(path, &tokens)?;
        report.note(format!("tokens saved to {}", path.display()));
    }
    ctx.issued = tokens;
    Ok(report)
}

/// Writes tokens one per line (the format `--tokens-file` reads).
pub fn save_tokens(path: &Path, tokens: &[String]) -> Result<()> {
    let mut text = String::with_capacity(tokens.len() * 37);
    for t in tokens {
        text.push_str(t);
        text.push('\n');
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads tokens written by [`save_tokens`], skipping blank lines.
pub fn load_tokens(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_file_round_trip() {
        let path =
            std::env::temp_dir().join(format!("concert-load-test-{}.txt", std::process::id()));
        let tokens = vec!["a-1".to_string(), "b-2".to_string()];
        save_tokens(&path, &tokens).unwrap();
        std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + "\n  \n").unwrap();
        assert_eq!(load_tokens(&path).unwrap(), tokens);
        std::fs::remove_file(path).unwrap();
    }
}
