//! The load loop: C workers, each with its own keep-alive connection, sending requests
//! back to back until a count bound or a time bound is reached, whichever comes first.
//! With several targets (the nodes of a cluster), connection `i` is pinned to node
//! `i mod nodes` for its whole life, and each node's answers are also counted apart.
//!
//! It is a closed loop: each connection has one request outstanding, so latencies are the
//! service time under C concurrent requests (no coordinated-omission correction; the
//! throughput is what the server sustains at that concurrency).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use hyper::StatusCode;
use tokio::task::JoinSet;

use crate::client::{Conn, Failure, Req, Requests};
use crate::progress::Progress;
use crate::report::NodeReport;
use crate::stats::{Recorder, Summary};
use crate::target::Target;

/// Both bounds of a load phase: it stops at whichever is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most requests to send.
    pub requests: u64,
    /// Longest time to keep sending.
    pub duration: Duration,
}

/// What a phase sends and what it keeps from the answers.
pub trait Workload: Send + Sync + 'static {
    /// Per-worker state the answers are folded into (merged by the caller afterwards).
    type Local: Default + Send + 'static;

    /// The request numbered `index` (0, 1, 2, … across all workers).
    fn request(&self, index: u64, rng: &mut fastrand::Rng) -> Req;

    /// Looks at an answer. Called on the worker, so keep it cheap.
    fn observe(&self, _local: &mut Self::Local, _index: u64, _status: StatusCode, _body: &Bytes) {}
}

/// What a phase did: merged counts, the measured interval and every worker's state.
pub struct Outcome<L> {
    /// All workers' answers and failures.
    pub recorder: Recorder,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Each worker's [`Workload::Local`].
    pub locals: Vec<L>,
    /// Connections reopened after a failure or a server-side close.
    pub reconnects: u64,
    /// Per node, in `--target` order: its URL, its connections and its answers.
    pub nodes: Vec<NodeOutcome>,
}

/// One node's share of a phase.
pub struct NodeOutcome {
    /// The node's URL as given.
    pub url: String,
    /// Connections pinned to it.
    pub connections: usize,
    /// Its answers and failures.
    pub recorder: Recorder,
}

impl<L> Outcome<L> {
    /// The figures of this phase.
    pub fn summary(&self) -> Summary {
        self.recorder.summary(self.elapsed)
    }

    /// Each node's figures over the phase's interval, when there is more than one node
    /// (with one, they are [`Outcome::summary`]'s).
    pub fn node_reports(&self) -> Vec<NodeReport> {
        if self.nodes.len() < 2 {
            return Vec::new();
        }
        self.nodes
            .iter()
            .map(|n| NodeReport {
                url: n.url.clone(),
                connections: n.connections,
                measured: n.recorder.summary(self.elapsed),
            })
            .collect()
    }
}

/// The node connection `index` is pinned to, of `nodes`: round-robin, so the nodes'
/// shares of any number of connections differ by at most one.
pub fn node_of(index: usize, nodes: usize) -> usize {
    index % nodes.max(1)
}

/// Runs load phases against one target, or spread over several.
#[derive(Clone)]
pub struct Driver {
    /// Never empty; the first also takes the one-off requests ([`Driver::send_one`]).
    targets: Arc<[Arc<Target>]>,
    /// Request builder for this target.
    pub requests: Requests,
    connections: usize,
    request_timeout: Duration,
    seed: u64,
    progress: Progress,
}

impl Driver {
    /// A driver with `connections` workers per phase, pinned round-robin to `targets`
    /// (at least one).
    pub fn new(
        targets: Vec<Target>,
        connections: usize,
        request_timeout: Duration,
        seed: u64,
        progress: Progress,
    ) -> Self {
        assert!(!targets.is_empty(), "a driver needs a target");
        Self {
            requests: Requests::new(&targets[0]),
            targets: targets.into_iter().map(Arc::new).collect(),
            connections,
            request_timeout,
            seed,
            progress,
        }
    }

    /// The server under load; with several, the first (the one setup requests go to).
    pub fn target(&self) -> &Target {
        &self.targets[0]
    }

    /// The configured number of connections.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// The progress display, for phases that do not go through [`Driver::run`].
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Runs one phase. Connections are opened before the clock starts, so connection
    /// setup is not part of the measured interval.
    pub async fn run<W: Workload>(
        &self,
        label: &str,
        bounds: Bounds,
        workload: Arc<W>,
    ) -> Result<Outcome<W::Local>> {
        let workers = (self.connections as u64).min(bounds.requests).max(1) as usize;
        let conns = self.open(workers).await?;

        let next = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicU64::new(0));
        let bar = self
            .progress
            .phase(label, bounds.requests, bounds.duration, done.clone());
        let start = Instant::now();
        let deadline = start + bounds.duration;
        // Each phase gets its own random stream, reproducible from --seed and the label.
        let phase_seed = self.seed ^ fnv1a(label.as_bytes());

        let mut tasks = JoinSet::new();
        let mut nodes: Vec<NodeOutcome> = self
            .targets
            .iter()
            .map(|t| NodeOutcome {
                url: t.url.clone(),
                connections: 0,
                recorder: Recorder::default(),
            })
            .collect();
        for (w, (node, conn)) in conns.into_iter().enumerate() {
            nodes[node].connections += 1;
            let ctx = WorkerCtx {
                workload: workload.clone(),
                next: next.clone(),
                done: done.clone(),
                max: bounds.requests,
                deadline,
                timeout: self.request_timeout,
                seed: phase_seed.wrapping_add((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            };
            tasks.spawn(async move { (node, worker(ctx, conn).await) });
        }

        let mut recorder = Recorder::default();
        let mut locals = Vec::with_capacity(workers);
        let mut reconnects = 0;
        let mut last = start;
        while let Some(joined) = tasks.join_next().await {
            let (node, (rec, local, rc, finished)) = joined?;
            recorder.merge(&rec);
            nodes[node].recorder.merge(&rec);
            locals.push(local);
            reconnects += rc;
            last = last.max(finished);
        }
        bar.finish();
        Ok(Outcome {
            recorder,
            elapsed: last - start,
            locals,
            reconnects,
            nodes,
        })
    }

    /// Sends one request on a fresh connection to the first target (setup steps such as
    /// creating a concert).
    pub async fn send_one(&self, req: Req, timeout: Duration) -> Result<(StatusCode, Bytes)> {
        let (_, mut conn) = self.open(1).await?.pop().expect("one connection");
        conn.send(req, timeout.min(self.request_timeout))
            .await
            .map_err(|f| anyhow::anyhow!("{} failed: {}", self.target().url, f.name()))
    }

    /// Opens `n` connections, connection `i` to node [`node_of`]`(i)`; each comes with
    /// its node's index. Fails if a node that should get connections takes none.
    async fn open(&self, n: usize) -> Result<Vec<(usize, Conn)>> {
        let mut set = JoinSet::new();
        for i in 0..n {
            let node = node_of(i, self.targets.len());
            let target = self.targets[node].clone();
            set.spawn(async move { (node, Conn::open(target).await) });
        }
        let mut conns = Vec::with_capacity(n);
        while let Some(joined) = set.join_next().await {
            if let (node, Ok(conn)) = joined? {
                conns.push((node, conn));
            }
        }
        // Grouped by node, so that a worker's number (and its seed) does not depend on
        // which connection happened to open first.
        conns.sort_by_key(|(node, _)| *node);
        for (node, target) in self.targets.iter().enumerate().take(n) {
            if !conns.iter().any(|(k, _)| *k == node) {
                bail!(
                    "cannot connect to {} (is the server running? `cargo run --release` in the workspace)",
                    target.url
                );
            }
        }
        if conns.len() < n {
            eprintln!("warning: opened only {} of {n} connections", conns.len());
        }
        Ok(conns)
    }
}

struct WorkerCtx<W> {
    workload: Arc<W>,
    next: Arc<AtomicU64>,
    done: Arc<AtomicU64>,
    max: u64,
    deadline: Instant,
    timeout: Duration,
    seed: u64,
}

async fn worker<W: Workload>(
    ctx: WorkerCtx<W>,
    mut conn: Conn,
) -> (Recorder, W::Local, u64, Instant) {
    let mut rng = fastrand::Rng::with_seed(ctx.seed);
    let mut rec = Recorder::default();
    let mut local = W::Local::default();
    let mut now = Instant::now();
    while now < ctx.deadline {
        let index = ctx.next.fetch_add(1, Ordering::Relaxed);
        if index >= ctx.max {
            break;
        }
        let req = ctx.workload.request(index, &mut rng);
        match conn.send(req, ctx.timeout).await {
            Ok((status, body)) => {
                let t = Instant::now();
                rec.answer(status.as_u16(), t - now);
                ctx.workload.observe(&mut local, index, status, &body);
            }
            Err(f) => {
                rec.failure(f.name());
                if f == Failure::Connect {
                    // A server that is gone refuses at once: do not spin through the bound.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        ctx.done.fetch_add(1, Ordering::Relaxed);
        now = Instant::now();
    }
    (rec, local, conn.reconnects, Instant::now())
}

/// FNV-1a, to derive a stable per-phase seed from its label.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests;
