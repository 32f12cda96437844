//! `concert-load`: the load generator for the concert engine's on-sale minute.
//!
//! Many keep-alive connections (one per worker, hyper's low-level HTTP/1.1 client),
//! every phase bounded by a request count *and* a duration, a progress line on a
//! terminal, and per scenario the throughput, latency p50 / p99 / p99.9, a count of
//! each HTTP status and of failures — as a table on stdout and, with `--json`, a JSON
//! summary that also holds every ratio.
//!
//! # Scenarios
//!
//! | scenario   | does | headline figure |
//! | ---------- | ---- | --------------- |
//! | `baseline` | C connections on `GET /health` | `ok_per_s`; every HTTP figure is divided by it |
//! | `burst`    | N new tokens, distinct user ids (`GET /concert/wating?userId=…`) | `tokens_per_s` (durable) |
//! | `poll`     | N waiting tokens (default 1,000,000), C connections poll random ones | `polls_per_s`, p99 |
//! | `hot-seat` | U admitted users storm one fresh 50-seat session with holds | `hold_answers_per_s`; exactly 50 winners or exit 1 |
//! | `spread`   | U admitted users hold every seat of S fresh sessions (2,000 × 50) once | `committed_holds_per_s` |
//! | `classic`  | the same holds as spread, one Postgres transaction each (`SELECT … FOR UPDATE`, `UPDATE`) | `committed_holds_per_s` |
//! | `stream`   | N queue streams (SSE) opened on a ramp and held, then R rounds admitting K each | `open_streams`; server RSS per stream; admission→event p50 / p99 |
//! | `all`      | baseline, hot-seat, spread (+ classic), burst, poll | all of the above |
//! | `bare`     | C connections on `GET /bare` of the bare server (`concert-bare`) | `ok_per_s`: the yardstick of `_over_bare` |
//! | `guard`    | baseline, hot-seat, poll (`scripts/perf --quick`) | their ratios to bare, against `--reference` |
//!
//! `stream` runs alone (it pauses and re-rates the site room and holds up to every
//! descriptor): it needs `--admin-key`; N defaults to the hard descriptor limit less 500;
//! the server's pid comes from `--server-pid` or is found by the port.
//!
//! Unless `--bare off`, a bare phase runs right before every HTTP scenario, on a bare
//! axum server (`concert-bare`: one route, a fixed poll-sized body, no middleware, the
//! server's runtime and allocator) that this process starts for the run (`--bare auto`)
//! or finds at `--bare <url>`; each report carries `ratio_to_bare`, and `health_over_bare`
//! (baseline's `/health`) is the middleware's cost. `--rounds N` runs the plan N times,
//! bare and real alternating, and reports each ratio as the median of its rounds;
//! `--reference docs/performance.md` flags (and fails on) a ratio more than 10% below
//! that document's reference table.
//!
//! Unless `--with-baseline false`, baseline runs first in the same invocation, and each
//! report carries `ratio_to_baseline`; with `--baseline-each` baseline runs again before
//! every HTTP scenario and each ratio uses the baseline just before it. Spread with
//! `--classic-db` also runs classic and reports `spread_over_classic`. The machine is
//! shared and noisy: compare ratios, not absolute figures.
//!
//! # The server it expects
//!
//! A fresh Postgres database (users admitted by an earlier run keep their places for
//! `CONCERT_ACTIVE_TTL`, and tokens of an earlier poll stay in line), for example:
//!
//! ```text
//! createdb -h 127.0.0.1 -U postgres concert_load
//! CONCERT_ADMIN_KEY=k CONCERT_MAX_ACTIVE=1000 CONCERT_WAITING_IDLE=24h CONCERT_ADMITTED_IDLE=24h \
//!   DATABASE_URL=postgres://postgres@127.0.0.1:5432/concert_load cargo run --release
//! ```
//!
//! - `poll`/`burst`: `CONCERT_WAITING_IDLE` huge, so tokens stay waiting; a small
//!   `CONCERT_MAX_ACTIVE`, so they stay *waiting* rather than admitted.
//! - `hot-seat`/`spread`: `CONCERT_MAX_ACTIVE` ≥ `--users`, `CONCERT_ADMIN_KEY` = `--admin-key`,
//!   and `CONCERT_ADMITTED_IDLE` huge, so users admitted at setup stay admitted.
//!   `all` runs these before burst and poll fill the line, and shares one set of users.
//!
//! Each invocation prints the settings its scenarios expect.
//!
//! # Several nodes
//!
//! `--target URL` (alias `--url`) repeated loads the nodes of a cluster: connection `i` is
//! pinned to node `i mod nodes` for the whole run, one-off setup requests (creating a
//! concert, admin calls) go to the first, and each scenario reports every node's share
//! (connections, answers/s, p50 / p99) beside the total (`scripts/cluster-bench`).
//!
//! # Examples
//!
//! ```text
//! concert-load all --quick --admin-key k --classic-db postgres://postgres@127.0.0.1/concert_load
//! concert-load guard -c 48 -d 3s --rounds 3 --admin-key k --reference docs/performance.md
//! concert-load poll -c 64 -d 20s --poll-tokens 1000000 --server-pid $(pgrep -n concert) --json poll.json
//! concert-load burst --burst-tokens 200000 --save-tokens tokens.txt
//! concert-load poll --tokens-file tokens.txt --poll-tokens 200000
//! concert-load spread --admin-key k --classic-db postgres://postgres@127.0.0.1/concert_load --seed 7
//! concert-load poll --target http://127.0.0.1:8081 --target http://127.0.0.1:8082 --target http://127.0.0.1:8083
//! concert-load stream --admin-key k --streams 19500 --admit 100 --admit-rounds 5 -d 10s --with-baseline false
//! ```
//!
//! Exit status: 0 when every scenario ran and every check held; 1 otherwise; 2 for a bad
//! command line or a refused target (only loopback hosts are ever loaded).

mod cli;
mod client;
mod driver;
mod procfs;
mod progress;
mod reference;
mod report;
mod scenarios;
mod sse;
mod stats;
mod target;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::cli::{Bare, Cli};
use crate::driver::Driver;
use crate::progress::Progress;
use crate::report::RunReport;
use crate::scenarios::Ctx;
use crate::target::Target;

/// `--help`'s description, in addition to the options.
pub const LONG_ABOUT: &str = "\
Load generator for the concert reservation engine.

Scenarios: baseline (GET /health), burst (new tokens/s), poll (random polls among N waiting
tokens), hot-seat (U admitted users storm one 50-seat session; exactly 50 winners or exit 1),
spread (holds across many sessions; committed holds/s), classic (the same holds as one
Postgres transaction each, SELECT … FOR UPDATE then UPDATE), all (baseline, hot-seat, spread,
classic, burst, poll), stream (N queue streams held open: open streams, server memory per
stream, admission→event p50/p99; alone, with --admin-key), bare (the bare server alone),
guard (baseline, hot-seat, poll: scripts/perf --quick's set). A bare axum server
(concert-bare, started for the run unless --bare off or --bare <url>) is measured right
before every HTTP scenario, and every HTTP figure is reported as a ratio to it (baseline's
/health over bare is the middleware's cost). Baseline runs first unless --with-baseline
false (or before each HTTP scenario with --baseline-each), and every HTTP figure is also
reported as a ratio to it; spread is also divided by classic. --rounds N repeats the plan
and reports medians; --reference FILE flags ratios more than 10% below FILE's table. The
machine is noisy: compare ratios.

Every phase stops at a request count or a duration, whichever comes first. Only loopback
targets are accepted; --target repeated spreads the connections round-robin over the nodes
of a cluster (setup requests go to the first) and reports each node's share. Run the server on a fresh Postgres database, e.g.
  CONCERT_ADMIN_KEY=k CONCERT_MAX_ACTIVE=1000 CONCERT_WAITING_IDLE=24h CONCERT_ADMITTED_IDLE=24h \\
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/concert_load cargo run --release
then e.g.: concert-load all --quick --admin-key k --classic-db postgres://postgres@127.0.0.1/concert_load";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.opts.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the planned scenarios; `Ok(false)` when one failed or a check did not hold.
async fn run(cli: Cli) -> Result<bool> {
    let opts = cli.opts;
    let targets = target::parse_all(&opts.targets, opts.forwarded_for)?;
    let urls: Vec<String> = targets.iter().map(|t| t.url.clone()).collect();
    if let Some(db) = &opts.classic_db {
        target::classic_db(db)?;
    }
    let run_id = match &opts.run_id {
        Some(id) => valid_run_id(id)?,
        None => clock_run_id(),
    };
    let sizes = opts.sizes();
    let baselines = match (opts.with_baseline, opts.baseline_each) {
        (false, _) => scenarios::Baselines::None,
        (true, false) => scenarios::Baselines::First,
        (true, true) => scenarios::Baselines::Each,
    };
    let steps = scenarios::plan(
        cli.scenario,
        baselines,
        opts.classic_db.is_some(),
        opts.bare != Bare::Off,
        opts.rounds,
    );
    // Read before the load: a bad reference should not cost a whole run.
    let reference = match &opts.reference {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let table = reference::parse(&text)?;
            if table.is_empty() {
                bail!(
                    "no reference ratios (a table | ratio | reference |, rows | `key_over_bare` | 0.60 |) in {}",
                    path.display()
                );
            }
            Some(table)
        }
        None => None,
    };
    let expected = scenarios::expected_server(&steps, &sizes);

    let names: Vec<&str> = steps.iter().map(|s| s.name()).collect();
    eprintln!(
        "concert-load {}: {} against {} (run {run_id}, seed {})",
        env!("CARGO_PKG_VERSION"),
        names.join(", "),
        urls.join(" + "),
        opts.seed
    );
    if !expected.is_empty() {
        let env: Vec<String> = expected.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("expects the server started with: {}", env.join("  "));
    }

    let driver = Driver::new(
        targets,
        sizes.connections,
        opts.request_timeout,
        opts.seed,
        Progress::new(!opts.no_progress),
    );
    // The bare server, only if a bare phase is planned; a started one lives as long as
    // `_started` (this function).
    let mut _started = None;
    let bare_url = match (&opts.bare, steps.contains(&cli::Scenario::Bare)) {
        (_, false) | (Bare::Off, _) => None,
        (Bare::Url(url), true) => Some(url.clone()),
        (Bare::Auto, true) => {
            let started = scenarios::bare::start().await?;
            let url = started.url.clone();
            _started = Some(started);
            Some(url)
        }
    };
    if let Some(url) = &bare_url {
        eprintln!("bare server (GET {}) at {url}", scenarios::bare::PATH);
    }
    let bare_driver = match &bare_url {
        Some(url) => Some(Driver::new(
            vec![Target::parse(url)?],
            sizes.connections,
            opts.request_timeout,
            opts.seed,
            Progress::new(!opts.no_progress),
        )),
        None => None,
    };
    let mut report = RunReport {
        tool: "concert-load",
        version: env!("CARGO_PKG_VERSION"),
        scenario: cli.scenario.name().to_string(),
        targets: urls,
        connections: sizes.connections,
        threads: opts.threads,
        seed: opts.seed,
        quick: opts.quick,
        run_id: run_id.clone(),
        started_unix_s: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        expected_server: expected,
        scenarios: Vec::new(),
        ratios: Default::default(),
        ratio_rounds: Default::default(),
        reference: Vec::new(),
        ok: false,
        failures: Vec::new(),
    };
    let json = opts.json.clone();
    let mut ctx = Ctx::new(driver, sizes, opts, run_id);
    ctx.bare = bare_driver;
    for step in steps {
        eprintln!("== {}", step.name());
        match scenarios::run(step, &mut ctx).await {
            Ok(r) => report.scenarios.push(r),
            Err(e) => {
                eprintln!("{}: {e:#}", step.name());
                report.failures.push(format!("{}: {e:#}", step.name()));
            }
        }
    }
    report.finish();
    if let Some(table) = &reference {
        report.compare_with(table);
    }
    print!("{}", report.table());
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("summary written to {}", path.display());
    }
    Ok(report.ok)
}

/// A run id must fit in user ids (`A-Z a-z 0-9 _ -`, at most 64 with our suffixes).
fn valid_run_id(id: &str) -> Result<String> {
    if id.is_empty()
        || id.len() > 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        bail!("--run-id must be 1 to 32 of A-Z a-z 0-9 _ -");
    }
    Ok(id.to_string())
}

/// A run id from the clock (milliseconds, base 36): distinct for every run.
fn clock_run_id() -> String {
    let mut ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut digits = Vec::new();
    while ms > 0 {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(ms % 36) as usize]);
        ms /= 36;
    }
    digits.reverse();
    format!("r{}", String::from_utf8(digits).expect("ascii"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids() {
        assert!(valid_run_id("bench-1_a").is_ok());
        assert!(valid_run_id("").is_err());
        assert!(valid_run_id("a b").is_err());
        assert!(valid_run_id(&"x".repeat(33)).is_err());
        let id = clock_run_id();
        assert!(valid_run_id(&id).is_ok() && id.starts_with('r') && id.len() > 5);
    }

    #[test]
    fn help_renders() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("hot-seat") && help.contains("--classic-db"));
    }
}
