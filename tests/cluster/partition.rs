//! What the partition drills share: two nodes, the owner (node-0) reaching NATS through
//! a proxy the drill can cut while Postgres stays reachable, an admitted token with one
//! seat held, and the cut itself.

use std::time::{Duration, Instant};

use actors::testkit::TestDb;

use crate::nodes::Cluster;
use crate::proxy::{Mode, Proxy};
use crate::support::{Api, Scratch, queue_state, token_of};

/// Two nodes, node-0 the owner behind the proxy.
pub struct Partition {
    pub cluster: Cluster,
    /// Between node-0 and NATS.
    pub proxy: Proxy,
    /// node-0: the owner until cut off.
    pub cut: Api,
    /// node-1: reaches NATS directly.
    pub direct: Api,
    /// node-0's epoch.
    pub first_epoch: i64,
    /// A session of ten seats.
    pub session: i64,
    /// An admitted token; seat 1 is held with it.
    pub token: String,
}

impl Partition {
    /// Starts node-0 alone (so it owns) behind the proxy, with `cut_env` on top of the
    /// cluster's settings, then node-1, and takes a token and a hold through node-1.
    pub async fn start(
        db: TestDb,
        nats_url: &str,
        cut_env: &[(&'static str, String)],
        scratch: &Scratch,
    ) -> Self {
        let target = nats_url.trim_start_matches("nats://").trim_end_matches('/');
        let proxy = Proxy::start(target.to_owned()).await;
        let mut cluster = Cluster::new(db, nats_url.to_owned());
        let through_proxy = format!("nats://{}", proxy.addr);
        let cut = cluster
            .add_with("node-0", &through_proxy, cut_env, scratch)
            .await;
        let (owner, first_epoch) = cluster.wait_for_owner().await;
        assert_eq!(owner, "node-0");
        let direct = cluster.add("node-1", nats_url, scratch).await;
        cluster.wait_for_owner().await;

        let (_, sessions) = direct.add_concert(10, 100, 1).await;
        let session = sessions[0];
        let joined = direct.join("cutuser").await;
        let token = token_of(joined.ok().expect("joined")).unwrap();
        // Admitted at the join; this node's replica of the line may hold the token
        // one change behind (joined, not yet admitted) for a moment: it agrees with
        // the owner within a second (`docs/scale-out.md`, "The line on every node").
        let since = Instant::now();
        while !queue_state(direct.poll(&token).await.ok().unwrap()).0 {
            assert!(since.elapsed() < Duration::from_secs(1), "admitted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(direct.hold(&token, session, 1).await.ok().is_some());
        Partition {
            cluster,
            proxy,
            cut,
            direct,
            first_epoch,
            session,
            token,
        }
    }

    /// Cuts node-0 off from NATS and waits (at most 30 s) until node-1 has recorded
    /// its claim in Postgres: its epoch, and how long after the cut.
    pub async fn cut_and_wait_for_node_1(&self) -> (i64, Duration) {
        self.proxy.set(Mode::Down);
        let cut_at = Instant::now();
        loop {
            if let Some((owner, epoch)) = self.cluster.owner().await
                && owner == "node-1"
            {
                assert!(epoch > self.first_epoch);
                return (epoch, cut_at.elapsed());
            }
            assert!(
                cut_at.elapsed() < Duration::from_secs(30),
                "node-1 did not take over"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// node-1's hold of `seat`, retried while it answers 503 (its engine starting),
    /// at most 30 s.
    pub async fn hold_on_node_1(&self, seat: i64) -> crate::support::Answer {
        let started = Instant::now();
        loop {
            let answer = self.direct.hold(&self.token, self.session, seat).await;
            if answer.status() != Some(503) {
                return answer;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node-1 never served"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
