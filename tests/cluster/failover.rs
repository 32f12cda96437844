//! The purchase on any node, and a failover under load: see the target's docs.

use std::time::Duration;

use actors::testkit;

use crate::audit::audit;
use crate::kill::{FAILOVER_BOUND, kill};
use crate::load::{Live, Load, Mix, admitted};
use crate::nodes::Cluster;
use crate::support::{ALONE, Rng, Scratch, say};

const SEATS: u32 = 400;
const PRICE: i64 = 100;
const MIX: Mix = Mix {
    buyers: 6,
    liners: 1,
};

/// The contract's purchase (queue, wait admitted, hold, charge, pay), each request sent
/// to a random node.
async fn purchase(live: &Live, rng: &mut Rng, session: i64) {
    let token = admitted(live, rng, "buyer").await;
    let held = live.pick(rng).hold(&token, session, 1).await;
    let reservation = held.ok().unwrap_or_else(|| panic!("hold: {held:?}"))["reservationId"]
        .as_i64()
        .unwrap();
    let charged = live.pick(rng).charge(&token, PRICE).await;
    assert!(charged.ok().is_some(), "charge: {charged:?}");
    let balance = live.pick(rng).balance(&token).await;
    assert_eq!(
        balance.ok().map(|b| b["balance"].as_i64()),
        Some(Some(PRICE)),
        "{balance:?}"
    );
    let paid = live.pick(rng).pay(&token, reservation, "buyer-1").await;
    assert_eq!(
        paid.ok().unwrap()["reservationId"].as_i64(),
        Some(reservation)
    );
    let again = live.pick(rng).pay(&token, reservation, "buyer-1").await;
    assert_eq!(
        again.ok().map(|b| b["paymentId"].clone()),
        paid.ok().map(|b| b["paymentId"].clone()),
        "the same key on another node replays the same payment"
    );
}

#[tokio::test]
async fn a_purchase_on_any_node_and_a_failover_under_load() {
    let Some(nats_url) = testkit::nats_url("a_purchase_on_any_node_and_a_failover_under_load")
    else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let _alone = ALONE.lock().await;
    let scratch = Scratch::new("cluster-failover");
    let seed = Rng::seed("cluster failover");
    let mut rng = Rng::new(seed);
    let mut cluster = Cluster::start(db, nats_url, 3, &scratch).await;
    let (first_owner, _) = cluster.wait_for_owner().await;
    let live = Live::of(&cluster);
    let (_, sessions) = live.pick(&mut rng).add_concert(SEATS, PRICE, 1).await;
    let session = sessions[0];

    purchase(&live, &mut rng, session).await;

    let load = Load::start(seed, &live, session, SEATS, &MIX);
    load.flowing(Duration::from_secs(2), MIX.buyers as usize)
        .await;
    // The owner dies: no release, no last word.
    let failover = kill(&mut cluster, &live, &load, &first_owner).await;
    let (new_owner, _) = cluster.owner().await.expect("a new owner");
    let (first_epoch, new_epoch) = failover.epochs;
    say(format!(
        "cluster failover: {first_owner} (epoch {first_epoch}) killed; {new_owner} \
         (epoch {new_epoch}) recorded its claim after {:?}; a write sent after the kill \
         was acknowledged after {:?}",
        failover.claimed_after.unwrap(),
        failover.written_after
    ));
    assert!(new_epoch > first_epoch);
    failover.assert_within(FAILOVER_BOUND);
    // Load after the failover.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let book = load.stop().await;
    say(format!(
        "cluster failover: {}",
        audit(&cluster, &book).await
    ));
}
