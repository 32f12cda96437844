//! How a cluster node starts: Postgres only; the single-node lock in shared mode.

use actors::testkit;

use crate::nodes::Cluster;
use crate::support::{Scratch, Server, start_refused};

/// A SQLite file cannot be shared by nodes: cluster mode refuses it at start, saying
/// so, before it even reaches NATS (the URL here leads nowhere).
#[tokio::test]
async fn cluster_mode_refuses_sqlite() {
    let scratch = Scratch::new("cluster-sqlite");
    let db = format!("sqlite:{}", scratch.path("concert.db").display());
    let env = [("CONCERT_NATS_URL", "nats://127.0.0.1:1".to_owned())];
    let (status, log) = start_refused(&db, &env, &scratch.path("node.log")).await;
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("cluster mode needs DATABASE_URL=postgres://"),
        "the refusal names the fix: {log}"
    );
}

/// A single node refuses a database another node holds (its lock); cluster nodes
/// share it by design: both serve, and exactly one owns the engine.
#[tokio::test]
async fn cluster_nodes_share_one_database() {
    let Some(nats_url) = testkit::nats_url("cluster_nodes_share_one_database") else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("cluster-share");
    let cluster = Cluster::start(db, nats_url, 2, &scratch).await;
    let (owner, _) = cluster.wait_for_owner().await;
    for api in cluster.live() {
        assert_eq!(api.health().await.status(), Some(200));
        let listed = api.sessions(1).await;
        // Both answer the engine's routes: the owner itself, the other by forwarding
        // (no concert 1 here: the contract's 404, from the owner's engine).
        assert_eq!(listed.status(), Some(404), "{listed:?} (owner {owner})");
    }
}

/// A single node and a cluster never serve one database together: cluster nodes hold
/// the single node's lock in shared mode, so whichever comes second refuses to start.
#[tokio::test]
async fn a_single_node_and_a_cluster_refuse_each_other() {
    let Some(nats_url) = testkit::nats_url("a_single_node_and_a_cluster_refuse_each_other") else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("cluster-exclusive");
    // A cluster first: a single node is refused.
    let cluster = Cluster::start(db, nats_url.clone(), 1, &scratch).await;
    let (status, log) = start_refused(&cluster.db.url, &[], &scratch.path("single.log")).await;
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("another concert node is serving this database"),
        "{log}"
    );

    // A single node first (on a database of its own): a cluster node is refused.
    let Some(other) = testkit::postgres().await else {
        return;
    };
    let single = Server::start(&other.url, &[], &scratch.path("single-2.log")).await;
    let late = Cluster {
        db: other,
        nats_url,
        bucket: cluster.bucket.clone(),
        nodes: Vec::new(),
    };
    let (status, log) = start_refused(
        &late.db.url,
        &late.env("node-late"),
        &scratch.path("late.log"),
    )
    .await;
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("another concert node is serving this database"),
        "{log}"
    );
    single.kill().await;
}
