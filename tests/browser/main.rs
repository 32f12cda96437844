//! The visitor's page and the dashboard, tested in a real browser: each test starts the app
//! in-process (like the API tests) and runs one Playwright script (`tests/browser/*.mjs`,
//! `playwright-core` driving Debian's Chromium) against it; the script's exit status is
//! the verdict and its screenshots land in `target/browser-screenshots/`.
//!
//! Without Chromium or the npm tooling (`npm ci` in `tests/browser/`) each test prints
//! "skipped: no browser" and passes, like the Postgres tests without `DATABASE_URL`;
//! `REQUIRE_BROWSER=1` (set by `.ci/run`) turns that skip into a failure.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use actors::backend_tests;
use actors::testkit::TestDb;

use helpers::{ADMIN_KEY, AppOptions, spawn_app_with};

/// A script that has not finished in this time has hung (each takes a few seconds).
const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

fn here() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// The browser to drive: `CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Whether the browser and the tooling are here; a skip line (or a failure under
/// `REQUIRE_BROWSER=1`) when not.
fn browser_ready() -> bool {
    let missing = if !chromium().exists() {
        Some(format!("{} is missing", chromium().display()))
    } else if std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        Some("node is not on PATH".to_owned())
    } else if !here().join("node_modules/playwright-core").exists() {
        Some("tests/browser/node_modules is missing (npm ci)".to_owned())
    } else {
        None
    };
    let Some(why) = missing else { return true };
    let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    assert!(!required, "REQUIRE_BROWSER=1 but {why}");
    println!("skipped: no browser ({why})");
    false
}

/// Runs `script` against `address`; panics with its output unless it exits 0.
async fn run_script(script: &str, address: &str, db: &TestDb, extra: &[(&str, &str)]) {
    let backend = if db.url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let name = script.trim_end_matches(".mjs");
    let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/browser-screenshots")
        .join(format!("{name}-{backend}"));
    std::fs::create_dir_all(&shots).expect("the screenshot folder");
    let mut command = tokio::process::Command::new("node");
    command
        .arg(here().join(script))
        .arg(address)
        .env("CHROMIUM", chromium())
        .env("SCREENSHOTS", &shots)
        .env("ADMIN_KEY", ADMIN_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in extra {
        command.env(key, value);
    }
    let child = command.spawn().expect("node runs");
    let output = tokio::time::timeout(SCRIPT_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in {SCRIPT_LIMIT:?}"))
        .expect("the script's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

backend_tests! {
    a_visitor_waits_is_admitted_holds_charges_pays_and_sees_the_receipt,
    a_phone_sized_keyboard_only_purchase,
    an_expired_hold_counts_down_and_frees_the_seat,
    the_operator_schedules_pauses_and_resumes_a_room,
}

async fn a_visitor_waits_is_admitted_holds_charges_pays_and_sees_the_receipt(db: TestDb) {
    if !browser_ready() {
        return;
    }
    // Two admitted at a time: the script's first buyer and the watching browser keep the
    // visitor waiting until the buyer pays.
    let mut options = AppOptions::default();
    options.engine.max_active = 2;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    run_script("purchase.mjs", &app.address, &db, &[]).await;
    app.stop().await;
}

async fn a_phone_sized_keyboard_only_purchase(db: TestDb) {
    if !browser_ready() {
        return;
    }
    let app = spawn_app_with(db.store.clone(), &db.url, AppOptions::default()).await;
    run_script("keyboard.mjs", &app.address, &db, &[]).await;
    app.stop().await;
}

async fn an_expired_hold_counts_down_and_frees_the_seat(db: TestDb) {
    if !browser_ready() {
        return;
    }
    let mut options = AppOptions::default();
    options.engine.hold_ttl = Duration::from_secs(4);
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    run_script("expiry.mjs", &app.address, &db, &[]).await;
    app.stop().await;
}

async fn the_operator_schedules_pauses_and_resumes_a_room(db: TestDb) {
    if !browser_ready() {
        return;
    }
    let app = spawn_app_with(db.store.clone(), &db.url, AppOptions::default()).await;
    run_script("dashboard.mjs", &app.address, &db, &[]).await;
    app.stop().await;
}
