//! The owner cut off from NATS (not from Postgres): it loses the engine's lease at its
//! deadline and stops serving; the other node owns after the TTL; the cut node never
//! answers from its stale engine, and serves again (by forwarding) once NATS is back.

use std::time::{Duration, Instant};

use actors::testkit;

use crate::nodes::Cluster;
use crate::proxy::{Mode, Proxy};
use crate::support::{ALONE, Scratch, concert_check, queue_state, say, token_of};

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
    let target = nats_url.trim_start_matches("nats://").trim_end_matches('/');
    let proxy = Proxy::start(target.to_owned()).await;
    let mut cluster = Cluster::new(db, nats_url.clone());
    // node-0 alone first, so it owns; it reaches NATS through the proxy.
    let cut = cluster
        .add("node-0", &format!("nats://{}", proxy.addr), &scratch)
        .await;
    let (owner, first_epoch) = cluster.wait_for_owner().await;
    assert_eq!(owner, "node-0");
    let direct = cluster.add("node-1", &nats_url, &scratch).await;
    cluster.wait_for_owner().await;

    let (_, sessions) = direct.add_concert(10, 100, 1).await;
    let session = sessions[0];
    let joined = direct.join("cutuser").await;
    let token = token_of(joined.ok().expect("joined")).unwrap();
    assert!(
        queue_state(direct.poll(&token).await.ok().unwrap()).0,
        "admitted"
    );
    assert!(direct.hold(&token, session, 1).await.ok().is_some());

    proxy.set(Mode::Down);
    let cut_at = Instant::now();
    let (new_owner, new_epoch) = loop {
        if let Some((owner, epoch)) = cluster.owner().await
            && owner == "node-1"
        {
            break (owner, epoch);
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(30),
            "node-1 did not take over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    say(format!(
        "cluster NATS cut: node-0 (epoch {first_epoch}) cut off; {new_owner} (epoch \
         {new_epoch}) claimed after {:?}",
        cut_at.elapsed()
    ));
    assert!(new_epoch > first_epoch);

    // The new owner serves, from Postgres: the token and the first hold are there.
    let held = loop {
        let answer = direct.hold(&token, session, 2).await;
        if answer.status() != Some(503) {
            break answer;
        }
        assert!(
            cut_at.elapsed() < Duration::from_secs(30),
            "node-1 never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(held.ok().is_some(), "{held:?}");
    assert_eq!(direct.hold(&token, session, 1).await.status(), Some(409));
    // The cut node has stopped its engine: it never answers a write from it.
    let stale = cut.hold(&token, session, 3).await;
    assert!(
        stale.ok().is_none(),
        "a cut-off node must not serve: {stale:?}"
    );

    proxy.set(Mode::Up);
    let up_at = Instant::now();
    let back = loop {
        let answer = cut.hold(&token, session, 4).await;
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
    let (clean, report, _) = concert_check(&cluster.db.url, &cluster.env("check")).await;
    assert!(clean, "concert check: {report}");
}
