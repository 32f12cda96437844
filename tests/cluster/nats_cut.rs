//! The owner cut off from NATS (not from Postgres): it loses the engine's lease at its
//! deadline and stops serving; the other node owns after the TTL; the cut node never
//! answers from its stale engine, and serves again (by forwarding) once NATS is back.

use std::time::{Duration, Instant};

use actors::testkit;

use crate::partition::Partition;
use crate::proxy::Mode;
use crate::support::{ALONE, Scratch, concert_check, say};

#[tokio::test]
async fn an_owner_cut_off_from_nats_stops_and_the_cluster_recovers() {
    let Some(nats_url) =
        testkit::nats_url("an_owner_cut_off_from_nats_stops_and_the_cluster_recovers")
    else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let _alone = ALONE.lock().await;
    let scratch = Scratch::new("cluster-nats-cut");
    let p = Partition::start(db, &nats_url, &[], &scratch).await;
    let (new_epoch, claimed_after) = p.cut_and_wait_for_node_1().await;
    say(format!(
        "cluster NATS cut: node-0 (epoch {}) cut off; node-1 (epoch {new_epoch}) claimed \
         after {claimed_after:?}",
        p.first_epoch
    ));

    // The new owner serves, from Postgres: the token and the first hold are there.
    let held = p.hold_on_node_1(2).await;
    assert!(held.ok().is_some(), "{held:?}");
    assert_eq!(
        p.direct.hold(&p.token, p.session, 1).await.status(),
        Some(409)
    );
    // The cut node has stopped its engine: it never answers a write from it.
    let stale = p.cut.hold(&p.token, p.session, 3).await;
    assert!(
        stale.ok().is_none(),
        "a cut-off node must not serve: {stale:?}"
    );

    p.proxy.set(Mode::Up);
    let up_at = Instant::now();
    let back = loop {
        let answer = p.cut.hold(&p.token, p.session, 4).await;
        if answer.ok().is_some() {
            break up_at.elapsed();
        }
        assert!(
            up_at.elapsed() < Duration::from_secs(60),
            "node-0 did not recover: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    say(format!(
        "cluster NATS cut: node-0 served again {back:?} after NATS came back"
    ));
    let (clean, report, _) = concert_check(&p.cluster.db.url, &p.cluster.env("check")).await;
    assert!(clean, "concert check: {report}");
}
