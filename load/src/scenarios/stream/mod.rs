//! `stream`: as many open queue streams as the descriptor limit allows, the server's
//! memory per stream, and how long an admission takes to reach its stream.
//!
//! 1. Pause the site room (nobody is admitted while streams open), issue N tokens.
//! 2. Read the server's VmRSS, open one `GET /concert/wating/stream?token=…` per token
//!    on a ramp (`--open-at-once` connecting at once), hold them for `--duration`, read
//!    VmRSS again: memory per stream = growth / streams open.
//! 3. Resume, then R rounds: raise `maxActive` by K, time each admitted stream's last
//!    `queue` event (isProcessing true) from the re-rate (p50 / p99).
//! 4. Put the room's limits and pause state back, close the streams.

pub mod admit;
#[cfg(test)]
mod fake;
pub mod fleet;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use concert_client::routes::{self, Room};

use super::{Ctx, setup};
use crate::procfs;
use crate::report::ScenarioReport;
use fleet::{Counters, Fleet, FleetSettings};

/// Descriptors this process keeps for itself besides the streams: setup connections
/// (`-c`), the admin calls, stdio.
const CLIENT_RESERVED: u64 = 200;
/// The issue's aims: memory per stream (100,000 streams in 1 GiB) and p99.
const AIM_BYTES_PER_STREAM: f64 = 1024.0 * 1024.0 * 1024.0 / 100_000.0;
const AIM_P99_MS: f64 = 1000.0;

/// Runs the stream scenario.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let key = ctx
        .opts
        .admin_key
        .clone()
        .filter(|k| !k.is_empty())
        .context("stream pauses and re-rates the site room: pass --admin-key (or CONCERT_ADMIN_KEY) equal to the server's")?;
    let driver = ctx.driver.clone();
    let mut notes = Vec::new();
    let (soft, hard) = procfs::raise_nofile().unwrap_or((0, 0));
    let mut want = ctx.sizes.streams;
    let fit = soft.saturating_sub(CLIENT_RESERVED);
    if soft > 0 && want > fit {
        notes.push(format!(
            "{want} streams asked, {fit} fit under this process's descriptor limit ({soft})"
        ));
        want = fit;
    }
    let target = driver.target();
    let pid = ctx
        .opts
        .server_pid
        .or_else(|| procfs::pid_listening_on(target.addr.port()));
    if pid.is_none() {
        notes.push("server pid not found (pass --server-pid): no memory figures".into());
    }

    let found = admit::admin(
        &driver,
        routes::room_status(&key, Room::Site),
        "GET /admin/room",
    )
    .await?;
    admit::admin(&driver, routes::pause_room(&key, Room::Site), "pause").await?;
    let result = measure(ctx, &key, want, pid, &mut notes).await;
    let restored = admit::restore(&driver, &key, &found).await;
    let mut report = result?;
    restored.context("putting the site room back as found")?;
    report.figure("nofile_soft", soft as f64);
    report.figure("nofile_hard", hard as f64);
    for n in notes {
        report.note(n);
    }
    Ok(report)
}

async fn measure(
    ctx: &mut Ctx,
    key: &str,
    want: u64,
    pid: Option<u32>,
    notes: &mut Vec<String>,
) -> Result<ScenarioReport> {
    let driver = ctx.driver.clone();
    let setup_timeout = ctx.sizes.setup_timeout;
    let prefix = format!("{}-s", ctx.run_id);
    eprintln!("stream: issuing {want} tokens (room paused)");
    let issued = setup::issue_tokens(&driver, "stream-setup", &prefix, want, setup_timeout).await?;
    let tokens: Vec<String> = issued
        .tickets
        .into_iter()
        .filter(|t| !t.is_processing)
        .map(|t| t.token)
        .collect();
    if tokens.is_empty() {
        bail!("no waiting token to stream (all admitted, or none issued)");
    }
    if (tokens.len() as u64) < want {
        notes.push(format!("{} of {want} tokens waiting", tokens.len()));
    }

    let rss_before = pid.and_then(procfs::rss_bytes);
    let self_before = procfs::rss_bytes(std::process::id());
    eprintln!("stream: opening {} streams", tokens.len());
    let settings = FleetSettings {
        addr: driver.target().addr,
        host: driver.target().host_header.clone(),
        open_at_once: ctx.sizes.open_at_once,
        open_timeout: ctx.opts.request_timeout,
    };
    let ramp_start = Instant::now();
    let mut fleet = Fleet::launch(settings, &tokens);
    let bar = driver.progress().phase(
        "streams",
        tokens.len() as u64,
        setup_timeout,
        fleet.counters.attempts.clone(),
    );
    let all_tried = fleet.wait_opened(ramp_start + setup_timeout).await;
    bar.finish();
    let ramp = ramp_start.elapsed();
    let c = fleet.counters.clone();
    let open_after_ramp = Counters::get(&c.open_now);
    if !all_tried {
        notes.push(format!(
            "the ramp hit the setup bound ({setup_timeout:?}) after {} of {} opens",
            Counters::get(&c.attempts),
            tokens.len()
        ));
    }

    eprintln!(
        "stream: {open_after_ramp} open; holding for {:?}",
        ctx.sizes.duration
    );
    let mut min_open = open_after_ramp;
    let hold_end = Instant::now() + ctx.sizes.duration;
    while Instant::now() < hold_end {
        tokio::time::sleep(Duration::from_millis(250).min(hold_end - Instant::now())).await;
        min_open = min_open.min(Counters::get(&c.open_now));
    }
    let open_after_hold = Counters::get(&c.open_now);
    let rss_after = pid.and_then(procfs::rss_bytes);
    let self_after = procfs::rss_bytes(std::process::id());

    eprintln!(
        "stream: {} admission rounds of {}",
        ctx.sizes.admit_rounds, ctx.sizes.admit
    );
    let rounds = admit::run_rounds(
        &driver,
        key,
        &mut fleet,
        ctx.sizes.admit_rounds,
        ctx.sizes.admit,
    )
    .await;
    let summary = fleet.opens.lock().expect("no panics").summary(ramp);
    fleet.close().await;
    let rounds = rounds?;

    let mut report = ScenarioReport::new("stream", "open_streams", open_after_hold as f64, summary);
    let opened = Counters::get(&c.opened);
    report
        .figure("streams_wanted", want as f64)
        .figure("streams_tried", tokens.len() as f64)
        .figure("streams_opened", opened as f64)
        .figure("open_after_ramp", open_after_ramp as f64)
        .figure("open_min_during_hold", min_open as f64)
        .figure("ramp_s", ramp.as_secs_f64())
        .figure("opens_per_s", opened as f64 / ramp.as_secs_f64().max(1e-9))
        .figure(
            "admitted_at_open",
            Counters::get(&c.admitted_at_open) as f64,
        )
        .figure("ended_by_server", Counters::get(&c.ended_by_server) as f64)
        .figure("expired", Counters::get(&c.expired) as f64)
        .figure("read_errors", Counters::get(&c.read_errors) as f64)
        .figure("position_updates", Counters::get(&c.updates) as f64);
    memory(
        &mut report,
        "server",
        rss_before,
        rss_after,
        open_after_hold,
    );
    memory(
        &mut report,
        "client",
        self_before,
        self_after,
        open_after_hold,
    );
    admissions(&mut report, &rounds);

    let tried = tokens.len() as u64;
    report.check(
        "every stream opened",
        opened == tried,
        format!("{opened} of {tried} streams got their first event"),
    );
    let dropped = opened.saturating_sub(Counters::get(&c.admitted_at_open) + open_after_hold);
    report.check(
        "every stream stayed open while held",
        dropped == 0,
        format!("{dropped} streams ended during the hold"),
    );
    report.check(
        "every admission reached its stream",
        rounds.received == rounds.expected,
        format!(
            "{} of {} admission events within {:?} a round",
            rounds.received,
            rounds.expected,
            admit::ROUND_TIMEOUT
        ),
    );
    aims(&mut report, open_after_hold, want);
    Ok(report)
}

fn memory(
    report: &mut ScenarioReport,
    who: &str,
    before: Option<u64>,
    after: Option<u64>,
    open: u64,
) {
    let (Some(before), Some(after)) = (before, after) else {
        return;
    };
    report.figure(&format!("{who}_rss_before_bytes"), before as f64);
    report.figure(&format!("{who}_rss_after_bytes"), after as f64);
    if open > 0 {
        // Crude (allocator slack, caches warmed by the opens), but it is the figure the
        // aim is stated in: resident growth over the streams held.
        let per = (after as f64 - before as f64) / open as f64;
        report.figure(&format!("{who}_rss_per_stream_bytes"), per.round());
    }
}

fn admissions(report: &mut ScenarioReport, r: &admit::Rounds) {
    let ms = |h: &hdrhistogram::Histogram<u64>, q: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(q) as f64 / 1000.0
        }
    };
    report
        .figure("admission_rounds", r.rounds as f64)
        .figure("admissions_expected", r.expected as f64)
        .figure("admissions_received", r.received as f64)
        .figure("admission_event_p50_ms", ms(&r.from_answer_us, 0.5))
        .figure("admission_event_p99_ms", ms(&r.from_answer_us, 0.99))
        .figure("admission_event_max_ms", ms(&r.from_answer_us, 1.0))
        .figure("admission_event_from_sent_p50_ms", ms(&r.from_sent_us, 0.5))
        .figure(
            "admission_event_from_sent_p99_ms",
            ms(&r.from_sent_us, 0.99),
        )
        .figure("admission_event_spread_p50_ms", ms(&r.spread_us, 0.5))
        .figure("admission_event_spread_p99_ms", ms(&r.spread_us, 0.99))
        .figure("admission_events_before_answer", r.before_answer as f64)
        .figure("admissions_outside_rounds", r.unattributed as f64)
        .figure("rerate_max_ms", r.rerate_max_us as f64 / 1000.0)
        .figure("others_waiting", r.others_waiting as f64);
    if r.others_waiting > 0 {
        report.note(format!(
            "{} other tokens were waiting when the rounds began (an earlier run's, ahead in \
             line: they take the admissions): run on a fresh database",
            r.others_waiting
        ));
    }
}

/// Notes on the issue's aims (not checks: they are goals to report against).
fn aims(report: &mut ScenarioReport, open: u64, want: u64) {
    let get = |k: &str| report.figures.get(k).copied();
    let mut notes = Vec::new();
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    notes.push(format!(
        "aim open streams ≥ the descriptor limit less a margin ({want}): {} ({open})",
        verdict(open >= want)
    ));
    if let Some(per) = get("server_rss_per_stream_bytes") {
        notes.push(format!(
            "aim ≤ {:.0} bytes/stream (100,000 in 1 GiB): {} ({per:.0})",
            AIM_BYTES_PER_STREAM,
            verdict(per <= AIM_BYTES_PER_STREAM)
        ));
    }
    if let Some(p99) = get("admission_event_from_sent_p99_ms") {
        notes.push(format!(
            "aim admission→event p99 < {AIM_P99_MS:.0} ms: {} ({p99:.1} ms from the re-rate sent)",
            verdict(p99 < AIM_P99_MS)
        ));
    }
    for n in notes {
        report.note(n);
    }
}
