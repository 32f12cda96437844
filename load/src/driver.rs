//! The load loop: C workers, each with its own keep-alive connection, sending requests
//! back to back until a count bound or a time bound is reached, whichever comes first.
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
}

impl<L> Outcome<L> {
    /// The figures of this phase.
    pub fn summary(&self) -> Summary {
        self.recorder.summary(self.elapsed)
    }
}

/// Runs load phases against one target.
#[derive(Clone)]
pub struct Driver {
    target: Arc<Target>,
    /// Request builder for this target.
    pub requests: Requests,
    connections: usize,
    request_timeout: Duration,
    seed: u64,
    progress: Progress,
}

impl Driver {
    /// A driver with `connections` workers per phase.
    pub fn new(
        target: Target,
        connections: usize,
        request_timeout: Duration,
        seed: u64,
        progress: Progress,
    ) -> Self {
        Self {
            requests: Requests::new(&target),
            target: Arc::new(target),
            connections,
            request_timeout,
            seed,
            progress,
        }
    }

    /// The server under load.
    pub fn target(&self) -> &Target {
        &self.target
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
        for (w, conn) in conns.into_iter().enumerate() {
            let ctx = WorkerCtx {
                workload: workload.clone(),
                next: next.clone(),
                done: done.clone(),
                max: bounds.requests,
                deadline,
                timeout: self.request_timeout,
                seed: phase_seed.wrapping_add((w as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            };
            tasks.spawn(worker(ctx, conn));
        }

        let mut recorder = Recorder::default();
        let mut locals = Vec::with_capacity(workers);
        let mut reconnects = 0;
        let mut last = start;
        while let Some(joined) = tasks.join_next().await {
            let (rec, local, rc, finished) = joined?;
            recorder.merge(&rec);
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
        })
    }

    /// Sends one request on a fresh connection (setup steps such as creating a concert).
    pub async fn send_one(&self, req: Req, timeout: Duration) -> Result<(StatusCode, Bytes)> {
        let mut conn = self.open(1).await?.pop().expect("one connection");
        conn.send(req, timeout.min(self.request_timeout))
            .await
            .map_err(|f| anyhow::anyhow!("{} failed: {}", self.target.url, f.name()))
    }

    async fn open(&self, n: usize) -> Result<Vec<Conn>> {
        let mut set = JoinSet::new();
        for _ in 0..n {
            let target = self.target.clone();
            set.spawn(async move { Conn::open(target).await });
        }
        let mut conns = Vec::with_capacity(n);
        while let Some(c) = set.join_next().await {
            if let Ok(conn) = c? {
                conns.push(conn);
            }
        }
        if conns.is_empty() {
            bail!(
                "cannot connect to {} (is the server running? `cargo run --release` in the workspace)",
                self.target.url
            );
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
