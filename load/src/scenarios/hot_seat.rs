//! `hot-seat`: U admitted users storm one fresh session of 50 seats with holds, each
//! request a random user and a random seat. Exactly 50 requests may win (201); every
//! other answer should be a 409. Anything else is a correctness failure, not a slow run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use concert_client::{Hold, Seats, decode, routes};
use hyper::StatusCode;

use super::{Ctx, setup};
use crate::client::{Req, Requests};
use crate::driver::{Bounds, Workload};
use crate::report::ScenarioReport;

/// Seats in the stormed session (the figure).
pub const HOT_SEATS: u32 = 50;

struct Storm {
    requests: Requests,
    tokens: Arc<Vec<String>>,
    session: i64,
}

impl Workload for Storm {
    /// Seat numbers of the holds this worker won.
    type Local = Vec<u32>;

    fn request(&self, _index: u64, rng: &mut fastrand::Rng) -> Req {
        let token = &self.tokens[rng.usize(..self.tokens.len())];
        let seat = rng.u32(1..=HOT_SEATS);
        self.requests
            .of(routes::hold(token, self.session, i64::from(seat)))
    }

    fn observe(&self, local: &mut Vec<u32>, _index: u64, status: StatusCode, body: &Bytes) {
        if status == StatusCode::CREATED {
            // 0 marks a 201 whose body did not parse; the check below then fails loudly.
            local.push(decode::<Hold>(status, body).map_or(0, |h| h.seat_number));
        }
    }
}

/// Runs the storm and verifies its winners.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let mut pending =
        ScenarioReport::new("hot-seat", "hold_answers_per_s", 0.0, Default::default());
    let setup_start = Instant::now();
    let users = ctx.users(&mut pending).await?;
    let title = format!("concert-load {} hot-seat", ctx.run_id);
    let session = setup::create_sessions(
        &ctx.driver,
        ctx.opts.admin_key.as_deref(),
        &title,
        1,
        HOT_SEATS,
        ctx.sizes.setup_timeout,
    )
    .await?[0];

    let setup_s = setup_start.elapsed().as_secs_f64();
    let work = Arc::new(Storm {
        requests: ctx.driver.requests.clone(),
        tokens: users.clone(),
        session,
    });
    let bounds = Bounds {
        requests: ctx.sizes.requests,
        duration: ctx.sizes.duration,
    };
    let outcome = ctx.driver.run("hot-seat", bounds, work).await?;
    let m = outcome.summary();
    let decided = m.status_rate(201) + m.status_rate(409);
    let mut report = ScenarioReport::new("hot-seat", "hold_answers_per_s", decided, m.clone());
    report.notes = pending.notes;

    let mut per_seat: BTreeMap<u32, u32> = BTreeMap::new();
    for seat in outcome.locals.iter().flatten() {
        *per_seat.entry(*seat).or_default() += 1;
    }
    let winners = m.status(201);
    let twice: Vec<u32> = per_seat
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    let valid = per_seat.keys().all(|s| (1..=HOT_SEATS).contains(s));
    report
        .figure("users", users.len() as f64)
        .figure("setup_s", setup_s)
        .figure("session_id", session as f64)
        .figure("winners", winners as f64)
        .figure("distinct_seats_won", per_seat.len() as f64)
        .figure("reconnects", outcome.reconnects as f64);
    report.nodes = outcome.node_reports();
    report.check(
        "exactly 50 winners",
        winners == u64::from(HOT_SEATS),
        format!("{winners} holds answered 201"),
    );
    report.check(
        "no seat won twice",
        twice.is_empty() && valid && per_seat.len() as u64 == winners,
        format!(
            "{} distinct seats; won more than once: {twice:?}",
            per_seat.len()
        ),
    );

    let req = ctx.driver.requests.of(routes::seats(session));
    let (status, body) = ctx.driver.send_one(req, ctx.opts.request_timeout).await?;
    let taken = if status == StatusCode::OK {
        let map = decode::<Seats>(status, &body).context("GET /concert/seat body")?;
        map.seat_list.iter().filter(|s| s.is_reservation).count()
    } else {
        0
    };
    report.check(
        "seat map shows all 50 taken",
        taken == HOT_SEATS as usize,
        format!("GET /concert/seat/{session}: {status}, {taken} taken"),
    );
    let others = m.answers - m.status(201) - m.status(409);
    if others > 0 {
        report.note(format!(
            "{others} answers were neither 201 nor 409: {:?}",
            m.statuses
        ));
    }
    Ok(report)
}
