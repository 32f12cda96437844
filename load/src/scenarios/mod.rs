//! The scenarios, what each needs from the server, and the order `all` runs them in.

pub mod bare;
pub mod baseline;
pub mod burst;
pub mod classic;
pub mod hot_seat;
pub mod poll;
pub mod setup;
pub mod spread;
pub mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, bail};

use crate::cli::{Options, Scenario, Sizes};
use crate::driver::Driver;
use crate::report::ScenarioReport;

/// Fewest admitted users that can take all 50 seats of a session under the server's
/// default limit of 4 live holds per user per session.
pub const MIN_USERS: usize = 13;

/// State shared by the scenarios of one invocation.
pub struct Ctx {
    /// Sends the HTTP load.
    pub driver: Driver,
    /// Resolved sizes and bounds.
    pub sizes: Sizes,
    /// The command line.
    pub opts: Options,
    /// Prefix of every user id this run creates.
    pub run_id: String,
    /// Tokens burst (or an earlier round's poll) issued, reused by poll in the same run.
    pub issued: Vec<String>,
    /// Sends the bare phases, to the bare server (`None`: `--bare off`).
    pub bare: Option<Driver>,
    users: Option<Arc<Vec<String>>>,
}

impl Ctx {
    /// A context for one invocation.
    pub fn new(driver: Driver, sizes: Sizes, opts: Options, run_id: String) -> Self {
        Self {
            driver,
            sizes,
            opts,
            run_id,
            issued: Vec::new(),
            bare: None,
            users: None,
        }
    }

    /// The admitted users' tokens, issued and admitted on first use and shared by
    /// hot-seat and spread (so the server needs CONCERT_MAX_ACTIVE ≥ users, not twice that).
    pub async fn users(&mut self, report: &mut ScenarioReport) -> Result<Arc<Vec<String>>> {
        if let Some(u) = &self.users {
            return Ok(u.clone());
        }
        let want = self.sizes.users;
        let prefix = format!("{}-u", self.run_id);
        let (tokens, nearest) =
            setup::admitted_users(&self.driver, &prefix, want, self.sizes.setup_timeout).await?;
        let nearest = nearest.map_or("-".to_string(), |p| p.to_string());
        let hint = format!(
            "start the server on a fresh database with CONCERT_MAX_ACTIVE ≥ {want} (tokens \
             of earlier runs keep their places: admitted ones for CONCERT_ACTIVE_TTL, waiting \
             ones ahead in line)"
        );
        if tokens.len() < MIN_USERS {
            bail!(
                "only {} of {want} users admitted (nearest waiting place {nearest}): {hint}",
                tokens.len()
            );
        }
        if (tokens.len() as u64) < want {
            report.note(format!(
                "only {} of {want} users admitted (nearest waiting place {nearest}); went on with them: {hint}",
                tokens.len()
            ));
        }
        let tokens = Arc::new(tokens);
        self.users = Some(tokens.clone());
        Ok(tokens)
    }
}

/// Where baseline runs in a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baselines {
    /// Not at all: no ratios to baseline.
    None,
    /// Once, first.
    First,
    /// Before every HTTP scenario (classic talks to Postgres, not the server).
    Each,
}

/// The scenarios `scenario` stands for, in the order they run.
///
/// `all` runs the admitted-user scenarios before burst and poll: those two leave up to
/// a million tokens waiting in line, and users issued after them would never be admitted.
/// With `bare`, a bare phase runs right before every HTTP scenario (the two alternate,
/// so drift over the run moves both); the whole plan is repeated `rounds` times.
pub fn plan(
    scenario: Scenario,
    baselines: Baselines,
    classic: bool,
    bare: bool,
    rounds: u32,
) -> Vec<Scenario> {
    use Scenario::*;
    let body = match scenario {
        Baseline => vec![Baseline],
        Bare => return vec![Bare],
        // Alone: it pauses and re-rates the site room, and holds every descriptor.
        Stream => return vec![Stream],
        Classic => return vec![Classic],
        // /health is one of the guard's figures: its baseline is in the body.
        Guard => vec![Baseline, HotSeat, Poll],
        Spread if classic => vec![Spread, Classic],
        All if classic => vec![HotSeat, Spread, Classic, Burst, Poll],
        All => vec![HotSeat, Spread, Burst, Poll],
        other => vec![other],
    };
    let body = match baselines {
        _ if matches!(scenario, Baseline | Guard) => body,
        Baselines::None => body,
        Baselines::First => std::iter::once(Baseline).chain(body).collect(),
        Baselines::Each => body
            .into_iter()
            .flat_map(|s| {
                if s == Classic {
                    vec![s]
                } else {
                    vec![Baseline, s]
                }
            })
            .collect(),
    };
    let body: Vec<Scenario> = if bare {
        body.into_iter()
            .flat_map(|s| if s == Classic { vec![s] } else { vec![Bare, s] })
            .collect()
    } else {
        body
    };
    let rounds = rounds.max(1) as usize;
    body.iter()
        .copied()
        .cycle()
        .take(body.len() * rounds)
        .collect()
}

/// Runs one scenario. Besides its own checks, every request of the measured phase must
/// have been answered: a figure measured over refused connections or timeouts is no figure.
pub async fn run(scenario: Scenario, ctx: &mut Ctx) -> Result<ScenarioReport> {
    let mut report = run_only(scenario, ctx).await?;
    let m = &report.measured;
    let detail = format!(
        "{} of {} requests failed: {:?}",
        m.errors, m.requests, m.error_kinds
    );
    report.check("every request answered", m.errors == 0, detail);
    Ok(report)
}

async fn run_only(scenario: Scenario, ctx: &mut Ctx) -> Result<ScenarioReport> {
    match scenario {
        Scenario::Bare => bare::run(ctx).await,
        Scenario::Baseline => baseline::run(ctx).await,
        Scenario::Burst => burst::run(ctx).await,
        Scenario::Poll => poll::run(ctx).await,
        Scenario::HotSeat => hot_seat::run(ctx).await,
        Scenario::Spread => spread::run(ctx).await,
        Scenario::Classic => classic::run(ctx).await,
        Scenario::Stream => stream::run(ctx).await,
        Scenario::All | Scenario::Guard => bail!("`{}` is a plan, not a scenario", scenario.name()),
    }
}

/// The server settings the planned scenarios assume, as environment variables.
pub fn expected_server(steps: &[Scenario], sizes: &Sizes) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let needs_users = steps
        .iter()
        .any(|s| matches!(s, Scenario::HotSeat | Scenario::Spread));
    let http = steps
        .iter()
        .any(|s| !matches!(s, Scenario::Classic | Scenario::Bare));
    if !http {
        return env;
    }
    env.insert(
        "DATABASE_URL".into(),
        "postgres://…/<fresh scratch database>".into(),
    );
    if steps.contains(&Scenario::Poll) || steps.contains(&Scenario::Burst) {
        // Tokens must stay waiting while setup issues the rest and the poll runs.
        env.insert("CONCERT_WAITING_IDLE".into(), "24h".into());
    }
    if steps.contains(&Scenario::Stream) {
        let streams = sizes.streams;
        env.insert(
            "CONCERT_MAX_STREAMS".into(),
            format!("{} or more", streams + 100),
        );
        env.insert(
            "CONCERT_MAX_CONNECTIONS".into(),
            format!(
                "{} or more (lowered to fit the descriptor limit)",
                streams + 200
            ),
        );
        env.insert(
            "CONCERT_MAX_CONNECTIONS_PER_IP".into(),
            "0 (no cap: every stream comes from 127.0.0.1)".into(),
        );
        env.insert("CONCERT_WAITING_IDLE".into(), "24h".into());
        env.insert("CONCERT_ADMITTED_IDLE".into(), "24h".into());
        env.insert("CONCERT_ADMIN_KEY".into(), "<same as --admin-key>".into());
        return env;
    }
    if needs_users {
        env.insert("CONCERT_MAX_ACTIVE".into(), sizes.users.to_string());
        // Users are admitted once, at setup: they must stay admitted through phases
        // that do not use them.
        env.insert("CONCERT_ADMITTED_IDLE".into(), "24h".into());
        env.insert("CONCERT_ADMIN_KEY".into(), "<same as --admin-key>".into());
        env.insert(
            "CONCERT_MAX_HOLDS_PER_USER".into(),
            "4 (default) or more".into(),
        );
    } else if steps.contains(&Scenario::Poll) {
        env.insert(
            "CONCERT_MAX_ACTIVE".into(),
            "100 (default; small, so tokens stay waiting)".into(),
        );
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scenario::*;

    #[test]
    fn plans() {
        use Baselines::{Each, First};
        let plan4 = |s, b, c| plan(s, b, c, false, 1);
        assert_eq!(plan4(Poll, First, false), vec![Baseline, Poll]);
        assert_eq!(plan4(Poll, Baselines::None, false), vec![Poll]);
        assert_eq!(plan4(Spread, First, true), vec![Baseline, Spread, Classic]);
        assert_eq!(plan4(Classic, First, true), vec![Classic]);
        assert_eq!(plan4(Baseline, Each, false), vec![Baseline]);
        assert_eq!(plan4(Stream, First, false), vec![Stream]);
        assert_eq!(
            plan4(All, First, true),
            vec![Baseline, HotSeat, Spread, Classic, Burst, Poll]
        );
        assert_eq!(
            plan4(All, Baselines::None, false),
            vec![HotSeat, Spread, Burst, Poll]
        );
        assert_eq!(
            plan4(All, Each, true),
            vec![
                Baseline, HotSeat, Baseline, Spread, Classic, Baseline, Burst, Baseline, Poll
            ]
        );
    }

    #[test]
    fn bare_before_every_http_scenario_and_rounds_alternate() {
        assert_eq!(
            plan(Poll, Baselines::First, false, true, 1),
            vec![Bare, Baseline, Bare, Poll]
        );
        // Classic talks to Postgres, not HTTP: no bare phase before it.
        assert_eq!(
            plan(Spread, Baselines::None, true, true, 1),
            vec![Bare, Spread, Classic]
        );
        assert_eq!(
            plan(Guard, Baselines::First, false, true, 2),
            vec![
                Bare, Baseline, Bare, HotSeat, Bare, Poll, Bare, Baseline, Bare, HotSeat, Bare,
                Poll
            ]
        );
        assert_eq!(
            plan(Baseline, Baselines::Each, false, true, 3),
            vec![Bare, Baseline, Bare, Baseline, Bare, Baseline]
        );
        assert_eq!(plan(Bare, Baselines::First, false, true, 2), vec![Bare]);
        assert_eq!(plan(Stream, Baselines::First, false, true, 2), vec![Stream]);
        assert_eq!(
            plan(Guard, Baselines::None, false, false, 1),
            vec![Baseline, HotSeat, Poll]
        );
    }
}
