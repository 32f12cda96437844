//! `spread`: admitted users hold seats across many fresh sessions (default 2,000 × 50),
//! every seat requested exactly once in a seeded random order. Nothing contends on a
//! seat, so this measures how many holds per second the server can commit when the
//! work is spread over many SessionActors — the case group commit is for.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use concert_client::routes;

use super::{Ctx, setup};
use crate::client::{Req, Requests};
use crate::driver::{Bounds, Workload};
use crate::report::ScenarioReport;

struct Spread {
    requests: Requests,
    tokens: Arc<Vec<String>>,
    sessions: Vec<i64>,
    order: Vec<(u32, u32)>,
}

impl Workload for Spread {
    type Local = ();

    fn request(&self, index: u64, _rng: &mut fastrand::Rng) -> Req {
        let (s, seat) = self.order[index as usize];
        let token = &self.tokens[setup::holder(s, seat, self.tokens.len())];
        self.requests.of(routes::hold(
            token,
            self.sessions[s as usize],
            i64::from(seat),
        ))
    }
}

/// Runs spread.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let mut pending =
        ScenarioReport::new("spread", "committed_holds_per_s", 0.0, Default::default());
    let setup_start = Instant::now();
    let users = ctx.users(&mut pending).await?;
    let (count, seats) = (ctx.sizes.sessions, ctx.sizes.seats);
    eprintln!("spread: creating {count} sessions of {seats} seats");
    let title = format!("concert-load {} spread", ctx.run_id);
    let sessions = setup::create_sessions(
        &ctx.driver,
        ctx.opts.admin_key.as_deref(),
        &title,
        count,
        seats,
        ctx.sizes.setup_timeout,
    )
    .await?;

    let setup_s = setup_start.elapsed().as_secs_f64();
    let order = setup::seat_order(count, seats, ctx.opts.seed);
    let work = Arc::new(Spread {
        requests: ctx.driver.requests.clone(),
        tokens: users.clone(),
        sessions,
        order,
    });
    let bounds = Bounds {
        requests: count * u64::from(seats),
        duration: ctx.sizes.duration,
    };
    let outcome = ctx.driver.run("spread", bounds, work).await?;
    let m = outcome.summary();
    let mut report = ScenarioReport::new(
        "spread",
        "committed_holds_per_s",
        m.status_rate(201),
        m.clone(),
    );
    report.notes = pending.notes;
    report
        .figure("users", users.len() as f64)
        .figure("setup_s", setup_s)
        .figure("sessions", count as f64)
        .figure("seats_per_session", f64::from(seats))
        .figure("holds_committed", m.status(201) as f64)
        .figure("reconnects", outcome.reconnects as f64);
    report.nodes = outcome.node_reports();
    // Each seat of a fresh session is asked for once, by a user under the per-user
    // limit: a 4xx is the server's mistake, not contention. (A 503 is overload: noted.)
    let refused: u64 = (400..500).map(|s| m.status(s)).sum();
    let unavailable: u64 = (500..600).map(|s| m.status(s)).sum();
    report.check(
        "no hold refused",
        refused == 0,
        format!("{refused} 4xx of {} answers: {:?}", m.answers, m.statuses),
    );
    if unavailable > 0 {
        report.note(format!(
            "{unavailable} answers were 5xx (overload or timeout)"
        ));
    }
    Ok(report)
}
