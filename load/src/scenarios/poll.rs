//! `poll`: with N tokens waiting, C connections poll random ones for a duration.
//!
//! This is the on-sale minute's steady state: everyone in line asking "where am I?".
//! Setup takes the tokens from `--tokens-file` and from a burst earlier in the same run,
//! and issues the rest with the burst machinery.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Result, bail};
use bytes::Bytes;
use concert_client::routes;
use hyper::StatusCode;

use super::{Ctx, burst, setup};
use crate::client::{Req, Requests};
use crate::driver::{Bounds, Workload};
use crate::procfs::rss_bytes;
use crate::report::ScenarioReport;

struct PollRandom {
    requests: Requests,
    tokens: Arc<Vec<String>>,
    seed: u64,
}

impl PollRandom {
    /// The token request `index` polls: a hash of the index rather than a draw from the
    /// worker's generator, so that [`Workload::observe`] can tell which token was asked.
    fn pick(&self, index: u64) -> &str {
        let n = self.tokens.len() as u64;
        &self.tokens[(splitmix64(index ^ self.seed) % n) as usize]
    }
}

/// Per worker: answers that carried another token than the one polled.
#[derive(Default)]
struct Reissued(u64);

impl Workload for PollRandom {
    type Local = Reissued;

    fn request(&self, index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.requests.of(routes::poll(self.pick(index)))
    }

    fn observe(&self, local: &mut Reissued, index: u64, status: StatusCode, body: &Bytes) {
        // A live token is answered with itself; another token in the answer means the
        // polled one was evicted or expired and the server issued a new one. A substring
        // search keeps JSON parsing off the hot path.
        if status == StatusCode::OK && !token_in(body, self.pick(index)) {
            local.0 += 1;
        }
    }
}

/// Whether `body` contains `token`.
fn token_in(body: &[u8], token: &str) -> bool {
    memchr::memmem::find(body, token.as_bytes()).is_some()
}

/// A well-mixed 64-bit hash (SplitMix64's finalizer).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Runs the poll scenario.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let want = ctx.sizes.poll_tokens as usize;
    let mut tokens = match &ctx.opts.tokens_file {
        Some(path) => burst::load_tokens(path)?,
        None => Vec::new(),
    };
    let from_file = tokens.len().min(want);
    tokens.extend(ctx.issued.iter().cloned());
    tokens.truncate(want);
    let before_setup = tokens.len();
    let rss_before = ctx.opts.server_pid.and_then(rss_bytes);

    let missing = want.saturating_sub(tokens.len()) as u64;
    let setup_start = Instant::now();
    let mut setup_rate = None;
    if missing > 0 {
        eprintln!("poll: issuing {missing} tokens to reach {want} waiting");
        let prefix = format!("{}-p", ctx.run_id);
        let issued = setup::issue_tokens(
            &ctx.driver,
            "poll-setup",
            &prefix,
            missing,
            ctx.sizes.setup_timeout,
        )
        .await?;
        setup_rate = Some(issued.outcome.summary().status_rate(200));
        let new: Vec<String> = issued.tickets.into_iter().map(|t| t.token).collect();
        // A later round (--rounds) polls the same line instead of growing it.
        ctx.issued.extend(new.iter().cloned());
        tokens.extend(new);
    }
    let setup_s = setup_start.elapsed().as_secs_f64();
    let issued_in_setup = tokens.len() - before_setup;
    let rss_after = ctx.opts.server_pid.and_then(rss_bytes);
    if tokens.is_empty() {
        bail!("no tokens to poll");
    }
    if let (Some(path), true) = (&ctx.opts.save_tokens, missing > 0) {
        burst::save_tokens(path, &tokens)?;
    }

    let tokens = Arc::new(tokens);
    let work = Arc::new(PollRandom {
        requests: ctx.driver.requests.clone(),
        tokens: tokens.clone(),
        seed: ctx.opts.seed,
    });
    let bounds = Bounds {
        requests: ctx.sizes.requests,
        duration: ctx.sizes.duration,
    };
    let outcome = ctx.driver.run("poll", bounds, work).await?;
    let m = outcome.summary();
    let reissued: u64 = outcome.locals.iter().map(|r| r.0).sum();

    let mut report = ScenarioReport::new("poll", "polls_per_s", m.status_rate(200), m);
    report
        .figure("tokens", tokens.len() as f64)
        .figure("tokens_from_file", from_file as f64)
        .figure("tokens_issued_in_setup", issued_in_setup as f64)
        .figure("setup_s", setup_s)
        .figure("reconnects", outcome.reconnects as f64);
    report.nodes = outcome.node_reports();
    if let Some(rate) = setup_rate {
        report.figure("setup_tokens_per_s", rate);
    }
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        report.figure("server_rss_before_setup_bytes", before as f64);
        report.figure("server_rss_after_setup_bytes", after as f64);
        if issued_in_setup > 0 {
            // Crude (allocator slack, other caches), but it is the figure the memory
            // target is stated in: RSS growth over the tokens added.
            report.figure(
                "server_rss_growth_per_issued_token_bytes",
                (after as f64 - before as f64) / issued_in_setup as f64,
            );
        }
    }
    report.figure("reissued", reissued as f64);
    if reissued > 0 {
        report.note(format!(
            "{reissued} polls were answered with a new token (the polled one was evicted or \
             expired): run the server with a huge CONCERT_WAITING_IDLE (e.g. 24h)"
        ));
    }
    if tokens.len() < want {
        report.note(format!(
            "polled among {} tokens, not {want} (setup bound reached)",
            tokens.len()
        ));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_checks() {
        let body = br#"{"watingNumber":3,"token":"abc-123","isProcessing":false}"#;
        assert!(token_in(body, "abc-123"));
        assert!(!token_in(body, "abc-124"));
    }

    #[test]
    fn picks_spread_over_all_tokens_reproducibly() {
        let tokens: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        let p = PollRandom {
            requests: Requests::new(&crate::target::Target::parse("http://127.0.0.1:1").unwrap()),
            tokens: Arc::new(tokens),
            seed: 5,
        };
        let mut seen = [0u32; 10];
        for i in 0..10_000 {
            seen[p.pick(i).parse::<usize>().unwrap()] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
        assert_eq!(p.pick(42), p.pick(42));
    }
}
