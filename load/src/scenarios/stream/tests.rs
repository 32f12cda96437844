//! The stream scenario end to end against the fake server: streams opened and held,
//! admissions timed, the room put back as it was found; and a server's stream cap seen.

use std::net::SocketAddr;

use clap::Parser;

use super::fake::{self, KEY};
use crate::cli::Cli;
use crate::driver::Driver;
use crate::progress::Progress;
use crate::report::ScenarioReport;
use crate::scenarios::Ctx;
use crate::target::Target;

async fn run_against(addr: SocketAddr, streams: u64) -> ScenarioReport {
    let url = format!("http://{addr}");
    let cli = Cli::try_parse_from([
        "concert-load",
        "stream",
        "--url",
        &url,
        "--admin-key",
        KEY,
        "--streams",
        &streams.to_string(),
        "--admit",
        "5",
        "--admit-rounds",
        "3",
        "-d",
        "300ms",
        "--open-at-once",
        "7",
        "-c",
        "4",
        "--request-timeout",
        "5s",
        "--setup-timeout",
        "20s",
    ])
    .unwrap();
    let sizes = cli.opts.sizes();
    let target = Target::parse(&url).unwrap();
    let driver = Driver::new(
        vec![target],
        sizes.connections,
        cli.opts.request_timeout,
        1,
        Progress::new(false),
    );
    let mut ctx = Ctx::new(driver, sizes, cli.opts, "t".into());
    super::run(&mut ctx).await.unwrap()
}

fn figure(report: &ScenarioReport, name: &str) -> f64 {
    *report
        .figures
        .get(name)
        .unwrap_or_else(|| panic!("no figure {name}: {:?}", report.figures))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_holds_and_times_admissions_then_puts_the_room_back() {
    let (addr, fake) = fake::serve(1000).await;
    let report = run_against(addr, 40).await;
    assert!(report.checks.iter().all(|c| c.ok), "{:?}", report.checks);
    // The room was open with maxActive 2 and paused before any join: all 40 wait.
    assert_eq!(report.primary.value, 40.0);
    assert_eq!(figure(&report, "streams_opened"), 40.0);
    assert_eq!(figure(&report, "admitted_at_open"), 0.0);
    // The resume admits one (nobody was admitted), then 3 rounds of 5.
    assert_eq!(figure(&report, "admissions_outside_rounds"), 1.0);
    assert_eq!(figure(&report, "admissions_received"), 15.0);
    assert_eq!(figure(&report, "admission_rounds"), 3.0);
    let p99 = figure(&report, "admission_event_from_sent_p99_ms");
    assert!(p99 > 0.0 && p99 < 1000.0, "p99 {p99}");
    assert!(figure(&report, "server_rss_per_stream_bytes").is_finite());
    // Later streams moved up in line after each admission: position updates were read.
    assert!(figure(&report, "position_updates") > 0.0);
    assert_eq!(report.measured.statuses.get("200"), Some(&40));
    assert_eq!(fake.limits(), (2, false), "limits and pause state restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_refused_past_the_servers_cap_fail_the_open_check() {
    let (addr, _fake) = fake::serve(10).await;
    let report = run_against(addr, 16).await;
    assert_eq!(report.primary.value, 10.0);
    assert_eq!(report.measured.statuses.get("503"), Some(&6));
    let opened = report
        .checks
        .iter()
        .find(|c| c.name == "every stream opened")
        .unwrap();
    assert!(!opened.ok, "{opened:?}");
}
