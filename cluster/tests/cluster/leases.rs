//! Leases on JetStream KV: one holder at a time, epochs that grow, renewals that keep a
//! lease past its TTL, and a holder that stops before anyone else can claim.

use std::time::Duration;

use actors::domain::{RoomId, SessionId, UserId};
use cluster::{ClusterError, LeaseStatus, LostReason, Thing};
use tokio::time::Instant;

use crate::support::{Bucket, Proxy, nats_url, timing};

fn session(id: i64) -> Thing {
    Thing::Session(SessionId(id))
}

#[tokio::test]
async fn of_two_nodes_claiming_one_thing_exactly_one_wins() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let a = bucket.node("node-a", timing(3_000, 750), 10).await;
    let b = bucket.node("node-b", timing(3_000, 750), 10).await;
    let thing = Thing::Room(RoomId::Site);

    let (from_a, from_b) = tokio::join!(a.claim(&thing), b.claim(&thing));
    let (winner, loser, lost) = match (from_a, from_b) {
        (Ok(lease), Err(err)) => ("node-a", lease, err),
        (Err(err), Ok(lease)) => ("node-b", lease, err),
        (a, b) => panic!("exactly one claim must win: {a:?} / {b:?}"),
    };
    match lost {
        ClusterError::Taken { thing: t, holder } => {
            assert_eq!(t, thing);
            assert_eq!(
                holder.as_deref(),
                Some(winner),
                "the loser learns who holds it"
            );
        }
        other => panic!("the loser is told the thing is taken, not {other:?}"),
    }
    assert!(loser.is_held());
    // The winner's own node cannot claim it twice either.
    let again = if winner == "node-a" { &a } else { &b };
    assert!(matches!(
        again.claim(&thing).await,
        Err(ClusterError::Taken { .. })
    ));
    loser.release().await.unwrap();
}

#[tokio::test]
async fn the_epoch_grows_with_every_claim_after_a_release() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let a = bucket.node("node-a", timing(3_000, 750), 10).await;
    let b = bucket.node("node-b", timing(3_000, 750), 10).await;
    let thing = Thing::Wallet(UserId::parse("HappyCat").unwrap());

    let first = a.claim(&thing).await.unwrap();
    let e1 = first.epoch();
    first.release().await.unwrap();

    let second = b.claim(&thing).await.unwrap();
    let e2 = second.epoch();
    assert!(e2 > e1, "{e2} > {e1}");
    // Dropping a lease releases it too (without waiting): the next claim needs no TTL.
    drop(second);
    let third = loop {
        match a.claim(&thing).await {
            Ok(lease) => break lease,
            Err(ClusterError::Taken { .. }) => tokio::task::yield_now().await,
            Err(other) => panic!("{other}"),
        }
    };
    assert!(third.epoch() > e2);
    // Released well before the 3 s TTL could have freed the key.
    assert!(a.held() == 1 && b.held() == 0);
    third.release().await.unwrap();
}

#[tokio::test]
async fn renewals_keep_a_lease_past_its_ttl() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let a = bucket.node("node-a", timing(1_000, 300), 10).await;
    let b = bucket.node("node-b", timing(1_000, 300), 10).await;
    let thing = session(1);

    let lease = a.claim(&thing).await.unwrap();
    let LeaseStatus::Held { deadline: first } = lease.status() else {
        panic!("held at first")
    };
    // Three TTLs: without renewals the key would have expired twice over.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert!(lease.is_held(), "{:?}", lease.status());
    let LeaseStatus::Held { deadline: now } = lease.status() else {
        panic!("still held")
    };
    assert!(now > first, "each renewal moves the deadline");
    assert!(matches!(
        b.claim(&thing).await,
        Err(ClusterError::Taken { holder: Some(h), .. }) if h == "node-a"
    ));
    lease.release().await.unwrap();
    assert!(b.claim(&thing).await.is_ok());
}

/// The arithmetic, on a real server: a holder whose renewals stop learns it lost the
/// lease at its deadline (claim sent + TTL − margin), and the other node, trying all
/// along, can claim only after the TTL: there is no instant when both would serve.
#[tokio::test]
async fn a_stalled_holder_stops_before_another_node_can_claim() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let ttl = Duration::from_millis(1_000);
    let margin = Duration::from_millis(300);
    let a = bucket.node("node-a", timing(1_000, 300), 10).await;
    let b = bucket.node("node-b", timing(1_000, 300), 10).await;
    let thing = session(2);

    let claim_sent = Instant::now();
    let stalled = a.claim(&thing).await.unwrap();
    stalled.pause_renewals();
    // B tries every 20 ms from the start, while A still holds the lease.
    let contender = {
        let thing = thing.clone();
        tokio::spawn(async move {
            loop {
                match b.claim(&thing).await {
                    Ok(lease) => break (lease, Instant::now()),
                    Err(ClusterError::Taken { holder, .. }) => {
                        assert_ne!(holder.as_deref(), Some("node-b"));
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(other) => panic!("{other}"),
                }
            }
        })
    };
    let status = stalled.ended().await;
    let lost_at = Instant::now();
    assert_eq!(status, LeaseStatus::Lost(LostReason::Deadline));
    assert!(!stalled.is_held());
    // The renewal task publishes it too, for holders that watch the status.
    let mut watch = stalled.watch();
    let published = tokio::time::timeout(
        margin,
        watch.wait_for(|s| matches!(s, LeaseStatus::Lost(_))),
    )
    .await
    .is_ok_and(|seen| seen.is_ok());
    assert!(published, "the renewal task publishes the loss");
    assert_eq!(stalled.status(), LeaseStatus::Lost(LostReason::Deadline));
    assert!(
        lost_at >= claim_sent + ttl - margin,
        "lost at its deadline, not before"
    );

    let (claimed, claimed_at) = contender.await.unwrap();
    assert!(claimed.epoch() > stalled.epoch());
    // A stopped (at its deadline) before B could claim; B could claim only after the
    // TTL counted from A's claim (less what both clocks' rates may differ in a second).
    assert!(lost_at < claimed_at);
    assert!(
        claimed_at - claim_sent >= ttl - Duration::from_millis(5),
        "the key outlived its TTL: claimed after {:?}",
        claimed_at - claim_sent
    );
    eprintln!(
        "lease arithmetic: A lost at +{:?}, B claimed at +{:?} (TTL {ttl:?}, margin {margin:?})",
        lost_at - claim_sent,
        claimed_at - claim_sent
    );
    // A's release now is refused: the key is B's, and stays B's — B's next renewal (its
    // compare-and-set on its own revision) lands.
    let mut renewals = claimed.watch();
    renewals.borrow_and_update();
    assert!(matches!(
        stalled.release().await,
        Err(ClusterError::NotHeld { .. })
    ));
    renewals.changed().await.unwrap();
    assert!(
        matches!(*renewals.borrow(), LeaseStatus::Held { .. }),
        "B renewed: {:?}",
        claimed.status()
    );
    assert!(claimed.is_held());
    claimed.release().await.unwrap();
}

/// The same with the network: a node cut off from NATS (its connection closed, no
/// reconnect possible) cannot renew; it learns it lost the lease at its deadline, and
/// the other node claims only after the TTL.
#[tokio::test]
async fn a_holder_cut_off_from_nats_stops_before_another_node_can_claim() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let ttl = Duration::from_millis(1_500);
    let proxy = Proxy::start(&url).await;
    let a = bucket
        .node_at(&proxy.url, "node-a", timing(1_500, 400), 10)
        .await;
    let b = bucket.node("node-b", timing(1_500, 400), 10).await;
    let thing = session(3);

    let claim_sent = Instant::now();
    let lease = a.claim(&thing).await.unwrap();
    proxy.cut();
    let status = lease.ended().await;
    let lost_at = Instant::now();
    assert_eq!(status, LeaseStatus::Lost(LostReason::Deadline));

    let claimed = loop {
        match b.claim(&thing).await {
            Ok(lease) => break lease,
            Err(ClusterError::Taken { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("{other}"),
        }
    };
    let claimed_at = Instant::now();
    assert!(lost_at < claimed_at);
    assert!(claimed_at - claim_sent >= ttl - Duration::from_millis(5));
    assert!(claimed.epoch() > lease.epoch());
    claimed.release().await.unwrap();
}

#[tokio::test]
async fn a_node_holds_at_most_its_limit_of_leases() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let a = bucket.node("node-a", timing(3_000, 750), 2).await;

    let one = a.claim(&session(1)).await.unwrap();
    let _two = a.claim(&session(2)).await.unwrap();
    assert!(matches!(
        a.claim(&session(3)).await,
        Err(ClusterError::TooManyLeases { limit: 2 })
    ));
    one.release().await.unwrap();
    // The slot is freed when the renewal task ends, just after the release answers.
    let three = loop {
        match a.claim(&session(3)).await {
            Ok(lease) => break lease,
            Err(ClusterError::TooManyLeases { .. }) => tokio::task::yield_now().await,
            Err(other) => panic!("{other}"),
        }
    };
    assert!(three.is_held());
}

#[tokio::test]
async fn nodes_that_disagree_on_the_ttl_are_refused() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let _first = bucket.node("node-a", timing(3_000, 750), 10).await;
    let config = cluster::LeaseConfig {
        bucket: bucket.name.clone(),
        node: cluster::NodeId::parse("node-b").unwrap(),
        timing: timing(5_000, 750),
        max_leases: 10,
    };
    match cluster::Leases::connect(&url, config).await {
        Err(ClusterError::Bucket { problem, .. }) => {
            assert!(problem.contains("max_age"), "{problem}")
        }
        Err(other) => panic!("refused for the TTL, not {other}"),
        Ok(_) => panic!("a node with another TTL must be refused"),
    }
}

/// A release is a compare-and-set on the holder's last revision: when the key was
/// deleted under it (by an operator) and another node claimed it since, the release
/// is refused and the other node's lease stands.
#[tokio::test]
async fn a_release_deletes_the_key_only_if_it_is_still_ours() {
    let Some(url) = nats_url() else { return };
    let bucket = Bucket::new(&url);
    let a = bucket.node("node-a", timing(3_000, 750), 10).await;
    let b = bucket.node("node-b", timing(3_000, 750), 10).await;
    let thing = session(4);
    let lease_a = a.claim(&thing).await.unwrap();

    let operator = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap())
        .get_key_value(bucket.name.to_string())
        .await
        .unwrap();
    operator.delete(thing.key()).await.unwrap();
    let lease_b = b.claim(&thing).await.unwrap();

    assert!(matches!(
        lease_a.release().await,
        Err(ClusterError::NotHeld { .. })
    ));
    let entry = operator.entry(thing.key()).await.unwrap().unwrap();
    assert_eq!(
        (entry.value.as_ref(), entry.operation),
        (&b"node-b"[..], async_nats::jetstream::kv::Operation::Put),
        "B's claim is still the key's value"
    );
    assert!(lease_b.is_held());
    lease_b.release().await.unwrap();
}
