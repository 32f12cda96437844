//! Three nodes of one cluster: their environment, which one owns, and a random pick.

use std::time::Duration;

use actors::testkit::{TestDb, query_i64};
use uuid::Uuid;

use crate::support::{ADMIN_KEY, Api, Scratch, Server, free_port};

/// The lease TTL the nodes run with (the default): failover takes about this.
pub const LEASE_TTL: &str = "3s";

/// A cluster's settings: one database, one bucket, a node id each.
pub struct Cluster {
    pub db: TestDb,
    pub nats_url: String,
    pub bucket: String,
    pub nodes: Vec<Option<Node>>,
}

/// One running node.
pub struct Node {
    pub id: String,
    pub server: Server,
    pub api: Api,
}

impl Cluster {
    /// The environment of node `id`.
    pub fn env(&self, id: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CONCERT_NATS_URL", self.nats_url.clone()),
            ("CONCERT_NODE_ID", id.to_owned()),
            ("CONCERT_LEASE_BUCKET", self.bucket.clone()),
            ("CONCERT_LEASE_TTL", LEASE_TTL.into()),
            ("CONCERT_DEMO", "false".into()),
            ("CONCERT_ADMIN_KEY", ADMIN_KEY.into()),
            ("CONCERT_MAX_ACTIVE", "1000".into()),
            ("CONCERT_MAX_HOLDS_PER_USER", "1000".into()),
            ("CONCERT_HOLD_TTL", "10m".into()),
            ("CONCERT_ACTIVE_TTL", "10m".into()),
            ("CONCERT_WAITING_IDLE", "10m".into()),
            ("CONCERT_ADMITTED_IDLE", "10m".into()),
            // A worker of the load buys seat after seat with one token.
            ("CONCERT_EXPIRE_TOKEN_ON_PAYMENT", "false".into()),
        ]
    }

    /// Starts `count` nodes on `db`, each on its own port and log in `scratch`.
    pub async fn start(db: TestDb, nats_url: String, count: usize, scratch: &Scratch) -> Self {
        let mut cluster = Cluster::new(db, nats_url);
        for n in 0..count {
            let url = cluster.nats_url.clone();
            cluster.add(&format!("node-{n}"), &url, scratch).await;
        }
        cluster
    }

    /// A cluster of no node yet, on a lease bucket of its own.
    pub fn new(db: TestDb, nats_url: String) -> Self {
        let bucket = format!(
            "test_cluster_{}",
            &Uuid::new_v4().simple().to_string()[..12]
        );
        Cluster {
            db,
            nats_url,
            bucket,
            nodes: Vec::new(),
        }
    }

    /// Starts node `id`, reaching NATS at `nats_url` (the cluster's, or a proxy's).
    pub async fn add(&mut self, id: &str, nats_url: &str, scratch: &Scratch) -> Api {
        self.add_with(id, nats_url, &[], scratch).await
    }

    /// [`Cluster::add`] with `extra` settings on top of the cluster's (they win).
    pub async fn add_with(
        &mut self,
        id: &str,
        nats_url: &str,
        extra: &[(&'static str, String)],
        scratch: &Scratch,
    ) -> Api {
        let node = self.spawn(id, nats_url, extra, scratch).await;
        let api = node.api.clone();
        self.nodes.push(Some(node));
        api
    }

    /// Starts node `id` with its metrics listener on a free port, and gives the port:
    /// for the tests that read what a node counted.
    pub async fn add_with_metrics(&mut self, id: &str, scratch: &Scratch) -> u16 {
        let port = free_port();
        let metrics = [("CONCERT_METRICS_ADDR", format!("127.0.0.1:{port}"))];
        let url = self.nats_url.clone();
        self.add_with(id, &url, &metrics, scratch).await;
        port
    }

    /// Starts node `id` again (same id, same log, the cluster's NATS), as a supervisor
    /// restarting the process would, in the slot a [`Cluster::kill`] emptied (the
    /// drills kill one node at a time).
    pub async fn restart(&mut self, id: &str, scratch: &Scratch) -> Api {
        let url = self.nats_url.clone();
        let node = self.spawn(id, &url, &[], scratch).await;
        let api = node.api.clone();
        let slot = self
            .nodes
            .iter_mut()
            .find(|slot| slot.is_none())
            .expect("a killed node's slot");
        *slot = Some(node);
        api
    }

    async fn spawn(
        &self,
        id: &str,
        nats_url: &str,
        extra: &[(&'static str, String)],
        scratch: &Scratch,
    ) -> Node {
        let mut env = self.env(id);
        env.push(("CONCERT_NATS_URL", nats_url.to_owned()));
        env.extend_from_slice(extra);
        // The last setting of a key wins: keep only that one.
        let mut seen = std::collections::HashSet::new();
        env.reverse();
        env.retain(|(key, _)| seen.insert(*key));
        let server = Server::start(&self.db.url, &env, &scratch.path(id)).await;
        let api = Api::new(&server.base, Duration::from_secs(20));
        Node {
            id: id.to_owned(),
            server,
            api,
        }
    }

    /// The engine's epoch recorded in Postgres (0 before the first claim), whoever
    /// holds it, live or killed.
    pub async fn epoch(&self) -> i64 {
        query_i64(
            &self.db,
            "SELECT COALESCE((SELECT epoch FROM owner_epochs WHERE thing = 'engine'), 0)",
        )
        .await
        .expect("read the engine's epoch")
    }

    /// The live nodes' clients.
    pub fn live(&self) -> Vec<Api> {
        self.nodes.iter().flatten().map(|n| n.api.clone()).collect()
    }

    /// The node Postgres records as the engine's owner, and its epoch (one read each,
    /// so the pair is never torn by a claim in between).
    pub async fn owner(&self) -> Option<(String, i64)> {
        for node in self.nodes.iter().flatten() {
            let sql = format!(
                "SELECT COALESCE((SELECT epoch FROM owner_epochs \
                 WHERE thing = 'engine' AND node = '{}'), 0)",
                node.id
            );
            if let Ok(epoch @ 1..) = query_i64(&self.db, &sql).await {
                return Some((node.id.clone(), epoch));
            }
        }
        None
    }

    /// Waits (at most 30 s) until some node owns the engine and every node serves
    /// through it (the owner records its claim before its engine has started).
    pub async fn wait_for_owner(&self) -> (String, i64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(owner) = self.owner().await {
                let mut serving = true;
                for api in self.live() {
                    serving &= api.sessions(1).await.status().is_some_and(|s| s != 503);
                }
                if serving {
                    return owner;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no node owned the engine within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9` of node `id`.
    pub async fn kill(&mut self, id: &str) {
        let slot = self
            .nodes
            .iter_mut()
            .find(|n| n.as_ref().is_some_and(|n| n.id == id))
            .expect("a running node of that id");
        let node = slot.take().unwrap();
        node.server.kill().await;
    }
}
