//! `bare`: the same connections on `GET /bare` of the bare server (`concert-bare`), a
//! route behind no middleware answering a fixed poll-sized body. It is what axum and
//! hyper answer at all on this machine in this minute; every HTTP figure is divided by
//! the bare phase run right before it. Also: starting the bare server for a run.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::Ctx;
use crate::client::{Req, Requests};
use crate::driver::{Bounds, Workload};
use crate::report::ScenarioReport;

/// The bare server's one route.
pub const PATH: &str = "/bare";

/// How long a started `concert-bare` may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(10);

struct Bare(Requests);

impl Workload for Bare {
    type Local = ();

    fn request(&self, _index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.0.get(PATH)
    }
}

/// Runs one bare phase.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let Some(driver) = &ctx.bare else {
        bail!("no bare server: run with --bare auto or --bare <url>");
    };
    let bounds = Bounds {
        requests: ctx.sizes.requests,
        duration: ctx.sizes.duration,
    };
    let outcome = driver
        .run("bare", bounds, Arc::new(Bare(driver.requests.clone())))
        .await?;
    let m = outcome.summary();
    let mut report = ScenarioReport::new("bare", "ok_per_s", m.status_rate(200), m);
    report.figure("reconnects", outcome.reconnects as f64);
    Ok(report)
}

/// A `concert-bare` started for this run; killed when dropped (and it exits on its own
/// when this process goes, as its standard input closes).
pub struct Started {
    /// Where it listens.
    pub url: String,
    _child: Child,
}

/// Starts `concert-bare` from this binary's directory on a free loopback port.
pub async fn start() -> Result<Started> {
    let exe = std::env::current_exe().context("locating concert-load")?;
    let bare = exe.with_file_name(format!("concert-bare{}", std::env::consts::EXE_SUFFIX));
    let mut child = Command::new(&bare)
        .args(["--addr", "127.0.0.1:0", "--until-stdin-closes"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} (build it: cargo build --release -p concert-load; or --bare off)",
                bare.display()
            )
        })?;
    let stdout = child.stdout.take().context("concert-bare's stdout")?;
    let mut line = String::new();
    tokio::time::timeout(START_TIMEOUT, BufReader::new(stdout).read_line(&mut line))
        .await
        .context("concert-bare did not say where it listens")??;
    let url = listening_url(&line)
        .with_context(|| format!("concert-bare said {line:?}, not where it listens"))?;
    Ok(Started { url, _child: child })
}

/// The URL in `concert-bare`'s first line, `listening on http://127.0.0.1:PORT`.
fn listening_url(line: &str) -> Option<String> {
    line.trim()
        .strip_prefix("listening on ")
        .filter(|url| url.starts_with("http://"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_line() {
        assert_eq!(
            listening_url("listening on http://127.0.0.1:40123\n").as_deref(),
            Some("http://127.0.0.1:40123")
        );
        assert_eq!(listening_url("error: address in use"), None);
        assert_eq!(listening_url("listening on 127.0.0.1:1"), None);
    }
}
