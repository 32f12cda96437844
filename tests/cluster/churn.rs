//! The churn drill: three nodes under a mixed load sent to random live nodes for about
//! a minute; every ~5 s one node is killed (`kill -9`, the engine's owner three times
//! out of four, since killing a node that owns nothing costs nothing) and restarted.
//! Each failover is timed; afterwards the audit: nothing acknowledged lost, nothing
//! sold or charged twice, `concert check` clean.

use std::time::{Duration, Instant};

use actors::testkit;

use crate::audit::audit;
use crate::kill::{FAILOVER_BOUND, Failover, kill};
use crate::load::{Live, Load, Mix};
use crate::nodes::Cluster;
use crate::support::{ALONE, Rng, Scratch, say};

const SEATS: u32 = 1_000;
const PRICE: i64 = 100;
const MIX: Mix = Mix {
    buyers: 6,
    liners: 2,
};
/// How long the kills go on (the whole test, with starting and the audit, takes ~65 s).
const CHURN: Duration = Duration::from_secs(60);
/// From one kill to the next, at least: a failover (~3.5 s) and a restart fit in it.
const PERIOD: Duration = Duration::from_secs(5);
/// Every `NON_OWNER_EVERY`th kill is of a node that does not own the engine.
const NON_OWNER_EVERY: usize = 4;

#[tokio::test]
async fn kills_and_restarts_every_few_seconds_lose_nothing() {
    let Some(nats_url) = testkit::nats_url("kills_and_restarts_every_few_seconds_lose_nothing")
    else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let _alone = ALONE.lock().await;
    let started = Instant::now();
    let scratch = Scratch::new("cluster-churn");
    let seed = Rng::seed("cluster churn");
    let mut rng = Rng::new(seed);
    let mut cluster = Cluster::start(db, nats_url, 3, &scratch).await;
    cluster.wait_for_owner().await;
    let live = Live::of(&cluster);
    let (_, sessions) = live.pick(&mut rng).add_concert(SEATS, PRICE, 1).await;
    let load = Load::start(seed, &live, sessions[0], SEATS, &MIX);
    load.flowing(Duration::from_secs(1), MIX.buyers as usize)
        .await;

    let churn_until = Instant::now() + CHURN;
    let mut failovers: Vec<Failover> = Vec::new();
    while Instant::now() < churn_until {
        let (owner, _) = cluster.owner().await.expect("an owner between kills");
        let victim = if (failovers.len() + 1).is_multiple_of(NON_OWNER_EVERY) {
            let others: Vec<String> = live.ids().into_iter().filter(|id| *id != owner).collect();
            others[rng.between(0, others.len() as u64 - 1) as usize].clone()
        } else {
            owner
        };
        let next_kill = Instant::now() + PERIOD;
        let failover = kill(&mut cluster, &live, &load, &victim).await;
        say(format!("cluster churn: {failover:?}"));
        failovers.push(failover);
        let api = cluster.restart(&victim, &scratch).await;
        live.insert(&victim, api);
        tokio::time::sleep_until(next_kill.into()).await;
    }
    let book = load.stop().await;

    let owned: Vec<&Failover> = failovers.iter().filter(|f| f.owned).collect();
    let claims: Vec<Duration> = owned.iter().filter_map(|f| f.claimed_after).collect();
    let writes: Vec<Duration> = owned.iter().map(|f| f.written_after).collect();
    let others: Vec<Duration> = failovers
        .iter()
        .filter(|f| !f.owned)
        .map(|f| f.written_after)
        .collect();
    say(format!(
        "cluster churn: {} kills in {:?} ({} of the owner); kill -> new owner's claim {}; \
         kill -> first write acknowledged {}; a non-owner's kill -> first write {}",
        failovers.len(),
        CHURN,
        owned.len(),
        percentiles(&claims),
        percentiles(&writes),
        percentiles(&others),
    ));
    assert!(
        owned.len() >= 6,
        "too few failovers to call it churn: {failovers:?}"
    );
    for failover in &failovers {
        failover.assert_within(FAILOVER_BOUND);
    }
    say(format!("cluster churn: {}", audit(&cluster, &book).await));
    say(format!(
        "cluster churn: the test took {:?}",
        started.elapsed()
    ));
}

/// `p50 / p90 / max` of `times` (nearest rank).
fn percentiles(times: &[Duration]) -> String {
    if times.is_empty() {
        return "(none)".into();
    }
    let mut sorted = times.to_vec();
    sorted.sort();
    let at =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    format!(
        "p50 {:.2} s / p90 {:.2} s / max {:.2} s",
        at(0.5).as_secs_f64(),
        at(0.9).as_secs_f64(),
        sorted[sorted.len() - 1].as_secs_f64()
    )
}
