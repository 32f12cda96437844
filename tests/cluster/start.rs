//! How a cluster node starts: Postgres only; no single-node lock.

use actors::testkit;

use crate::nodes::Cluster;
use crate::support::{Scratch, start_refused};

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
async fn cluster_nodes_share_one_database_without_the_lock() {
    let Some(nats_url) = testkit::nats_url("cluster_nodes_share_one_database_without_the_lock")
    else {
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
