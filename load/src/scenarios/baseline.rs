//! `baseline`: the same connections on `GET /health`, a route that touches no actor and
//! no database. Its throughput is what the server's HTTP stack (and the generator, on
//! the same 2 cores) can do at all; every other HTTP figure is divided by it.

use std::sync::Arc;

use anyhow::Result;

use super::Ctx;
use concert_client::routes;

use crate::client::{Req, Requests};
use crate::driver::{Bounds, Workload};
use crate::report::ScenarioReport;

struct Health(Requests);

impl Workload for Health {
    type Local = ();

    fn request(&self, _index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.0.of(routes::health())
    }
}

/// Runs the baseline.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let bounds = Bounds {
        requests: ctx.sizes.requests,
        duration: ctx.sizes.duration,
    };
    let outcome = ctx
        .driver
        .run(
            "baseline",
            bounds,
            Arc::new(Health(ctx.driver.requests.clone())),
        )
        .await?;
    let m = outcome.summary();
    let mut report = ScenarioReport::new("baseline", "ok_per_s", m.status_rate(200), m);
    report.figure("reconnects", outcome.reconnects as f64);
    report.nodes = outcome.node_reports();
    Ok(report)
}
