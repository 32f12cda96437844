//! Shared by the tests: NATS's URL or a skip (the test kit's policy), a bucket of their
//! own, nodes on it, and a TCP proxy to cut a node off from NATS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster::{BucketName, LeaseConfig, LeaseTiming, Leases, NodeId};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// `NATS_URL`, or `None` after saying the test is skipped; panics under `REQUIRE_NATS=1`
/// (the engine's test kit holds the policy; this names the running test for it).
pub fn nats_url() -> Option<String> {
    let test = std::thread::current()
        .name()
        .unwrap_or("a cluster test")
        .to_owned();
    actors::testkit::nats_url(&test)
}

/// A lease bucket of the test's own, deleted when dropped (panicking tests included).
pub struct Bucket {
    pub name: BucketName,
    url: String,
}

impl Bucket {
    pub fn new(url: &str) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            name: BucketName::parse(&format!("test_leases_{}", &id[..12])).unwrap(),
            url: url.to_owned(),
        }
    }

    /// A node on this bucket with these timings and at most `max_leases` leases.
    pub async fn node(&self, node: &str, timing: LeaseTiming, max_leases: usize) -> Leases {
        self.node_at(&self.url.clone(), node, timing, max_leases)
            .await
    }

    /// The same, reaching NATS at `url` (a proxy's).
    pub async fn node_at(
        &self,
        url: &str,
        node: &str,
        timing: LeaseTiming,
        max_leases: usize,
    ) -> Leases {
        let config = LeaseConfig {
            bucket: self.name.clone(),
            node: NodeId::parse(node).unwrap(),
            timing,
            max_leases,
        };
        Leases::connect(url, config)
            .await
            .unwrap_or_else(|e| panic!("node {node} on {url}: {e}"))
    }
}

impl Drop for Bucket {
    fn drop(&mut self) {
        let (url, bucket) = (self.url.clone(), self.name.to_string());
        // On its own thread and runtime: a drop cannot await, and may run on a runtime.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(client) = async_nats::connect(url).await {
                    let _ = async_nats::jetstream::new(client)
                        .delete_key_value(bucket)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Lease timings for a test: short, so a test lasts seconds.
pub fn timing(lease_ttl_ms: u64, safety_margin_ms: u64) -> LeaseTiming {
    LeaseTiming::new(
        Duration::from_millis(lease_ttl_ms),
        Duration::from_millis(safety_margin_ms),
    )
    .unwrap()
}

/// A TCP proxy in front of NATS; `cut` closes every connection and stops listening,
/// so the node behind it can neither talk to NATS nor reconnect.
pub struct Proxy {
    pub url: String,
    accept: JoinHandle<()>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(nats_url: &str) -> Self {
        let target = nats_url
            .trim_start_matches("nats://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("nats://{}", listener.local_addr().unwrap());
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let kept = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                kept.lock().unwrap().push(link);
            }
        });
        Self { url, accept, links }
    }

    pub fn cut(&self) {
        self.accept.abort();
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}
