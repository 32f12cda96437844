//! The ownership loop of stage 1: every node is a candidate for the one `engine`
//! lease; the winner records its epoch in Postgres, starts the engine on a store fenced
//! at that epoch (rebuilt from Postgres, as at any start), answers the requests the
//! other nodes forward, and stops the engine the moment the lease is lost, then is a
//! candidate again. The fence is the backstop: a write still in flight after the lease
//! is lost is refused by Postgres once the next owner has claimed.

use std::sync::Arc;
use std::time::Duration;

use actors::{ClusterDatabase, Engine, EngineMonitor, EngineStop, Fence};
use cluster::fence::{fence_claim, max_epoch};
use cluster::{ClusterError, Lease, LeaseStatus, Leases, NodeId, Thing};
use sqlx::Connection;
use tokio::sync::watch;
use tower::Layer;

use super::line_wire::LineSubjects;
use super::{answer, line_owner};
use crate::http::{self, latency::LatencyWindow};
use crate::server::{AbortOnDrop, Settings};

/// The engine this node runs while it owns it, and the router over it.
#[derive(Clone)]
pub struct Term {
    /// The single node's router over this term's engine, without its `observe`: this
    /// node's public router, which observed the request, sends its own requests here.
    pub router: http::Routes,
    /// This term's engine.
    pub engine: Engine,
}

/// What the loop needs; see the module docs.
pub struct Ownership {
    pub leases: Leases,
    pub nats: async_nats::Client,
    /// The subject the owner answers forwarded requests on.
    pub subject: String,
    /// Where the owner publishes its rooms' lines for the replicas.
    pub line_subjects: LineSubjects,
    pub database: ClusterDatabase,
    pub database_url: String,
    pub node: NodeId,
    pub settings: Settings,
    /// How long a candidate waits between claims while another node owns.
    pub claim_every: Duration,
    /// How long the owner gives one forwarded request.
    pub forward_timeout: Duration,
    /// This node's window of HTTP latency, fed by its public router's `observe`: each
    /// term's `/admin/stats` reads it.
    pub latency: Arc<LatencyWindow>,
}

/// How a term ended.
enum Ended {
    /// Another node owns (or the claim failed): try again later.
    NotWon,
    /// The lease was lost or the engine failed: a candidate again at once.
    Over,
    /// The node is shutting down.
    Shutdown,
}

/// A term's running parts, stopped together by [`Serving::stop`].
struct Serving {
    term: Term,
    answering: AbortOnDrop,
    line: line_owner::OwnerLine,
}

impl Serving {
    /// Stops answering forwarded requests, then the engine, then the line's tasks (last,
    /// so that what the engine commits while it stops can still go out).
    async fn stop(self) {
        let Serving {
            term,
            answering,
            line,
        } = self;
        drop(answering);
        term.engine.shutdown().await;
        drop(line);
    }
}

impl Ownership {
    /// Runs until `shutdown` turns true, publishing the current term (or `None`).
    pub async fn run(
        self,
        current: watch::Sender<Option<Term>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let ended = self.term(&current, &mut shutdown).await;
            current.send_replace(None);
            match ended {
                Ended::Shutdown => return,
                Ended::Over => {}
                Ended::NotWon => {
                    tokio::select! {
                        () = tokio::time::sleep(self.claim_every) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    /// One attempt to own, and the term if it is won.
    async fn term(
        &self,
        current: &watch::Sender<Option<Term>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended {
        let lease = match self.leases.claim(&Thing::Engine).await {
            Ok(lease) => lease,
            Err(ClusterError::Taken { .. }) => return Ended::NotWon,
            Err(error) => {
                tracing::warn!(%error, "claiming the engine failed; retrying");
                return Ended::NotWon;
            }
        };
        let epoch = lease.epoch();
        tracing::info!(epoch = epoch.get(), "engine lease won; starting the engine");
        let (serving, monitor) = match self.start_serving(&lease).await {
            Ok(started) => started,
            Err(why) => {
                tracing::warn!(%why, "releasing the lease");
                let _ = lease.release().await;
                return Ended::NotWon;
            }
        };
        if !lease.is_held() {
            // Started too slowly: the deadline passed before serving anything.
            serving.stop().await;
            return Ended::Over;
        }
        current.send_replace(Some(serving.term.clone()));
        tracing::info!(epoch = epoch.get(), "owner: serving the engine");
        let ended = tokio::select! {
            status = lease_ended(&lease) => {
                tracing::warn!(?status, "engine lease lost: stopping the engine now");
                Ended::Over
            }
            stop = monitor.stopped() => {
                if stop == EngineStop::Failed {
                    tracing::error!("the engine's supervisor stopped; giving up ownership");
                }
                Ended::Over
            }
            _ = shutdown.changed() => Ended::Shutdown,
        };
        // No request reaches the engine from here on, local or forwarded.
        current.send_replace(None);
        serving.stop().await;
        if !matches!(lease.status(), LeaseStatus::Lost(_)) {
            let _ = lease.release().await;
        }
        ended
    }

    /// All a term serves with: its epoch recorded, the engine started on the database
    /// fenced at that epoch, forwarded requests answered and the line published. On a
    /// failure, what had started is stopped before the reason returns: the one place a
    /// half-started term is taken down.
    async fn start_serving(&self, lease: &Lease) -> Result<(Serving, EngineMonitor), String> {
        self.record_epoch(lease)
            .await
            .map_err(|error| format!("recording the epoch failed: {error}"))?;
        let epoch = lease.epoch();
        let fence = Fence::new(Thing::Engine.key(), epoch.as_i64());
        // The rooms record their lines' changes for the other nodes' replicas.
        let (line_sink, line_batches) = line_owner::sink();
        let mut config = self.settings.engine.clone();
        config.line_sink = Some(line_sink);
        let (engine, monitor) = Engine::start(self.database.fenced(fence), config)
            .await
            .map_err(|error| format!("the engine did not start: {error}"))?;
        if self.settings.demo && matches!(engine.seed_demo().await, Ok(true)) {
            tracing::info!("demo concert created (id 1, six sessions 2024-07-03..08, 50 seats)");
        }
        let http = &self.settings.http;
        let router = http::unobserved(engine.clone(), http, self.latency.clone());
        // Forwarded requests were observed by the node that received them: this layer
        // only gives them their span, a `debug` line and the panic guard (`Observed`).
        let forwarded = http::observe_layer(http, self.latency.clone()).layer(router.clone());
        let attached = async {
            let answering = answer::start(
                &self.nats,
                &self.subject,
                forwarded,
                self.settings.http.max_in_flight,
                self.forward_timeout,
            )
            .await
            .map_err(|error| format!("cannot answer forwarded requests: {error}"))?;
            // Aborted if the line below cannot start, or when the term stops.
            let answering = AbortOnDrop(answering);
            let line = line_owner::start(
                &self.nats,
                &self.line_subjects,
                epoch.get(),
                line_batches,
                engine.clone(),
            )
            .await
            .map_err(|error| format!("cannot publish the line: {error}"))?;
            Ok::<_, String>((answering, line))
        };
        match attached.await {
            Ok((answering, line)) => Ok((
                Serving {
                    term: Term { router, engine },
                    answering,
                    line,
                },
                monitor,
            )),
            Err(why) => {
                engine.shutdown().await;
                Err(why)
            }
        }
    }

    /// Records the lease's epoch in Postgres; a bucket behind the recorded epochs (made
    /// anew) is moved past them first, and the claim tried again on the next round.
    async fn record_epoch(&self, lease: &Lease) -> Result<(), ClusterError> {
        let mut conn = sqlx::PgConnection::connect(&self.database_url).await?;
        match fence_claim(&mut conn, &Thing::Engine, lease.epoch(), &self.node).await {
            Err(ClusterError::Fenced { .. }) => {
                if let Some(floor) = max_epoch(&mut conn).await? {
                    self.leases.resume_after(floor).await?;
                }
                Err(ClusterError::Invalid(
                    "the lease bucket was behind the recorded epochs; moved past them".into(),
                ))
            }
            other => other,
        }
    }
}

/// The lease's end, as the loop sees it. Under the test-only fault
/// `CONCERT_TEST_IGNORE_LEASE_LOSS=1` the loss is logged and never returned: the node
/// keeps serving its engine past its lease, as a node whose stop is slow or broken
/// would, so a drill (`tests/cluster/stale_write.rs`) can show its writes refused by
/// the next owner's fence rather than merely never sent.
async fn lease_ended(lease: &Lease) -> LeaseStatus {
    let status = lease.ended().await;
    if ignores_lease_loss() {
        tracing::error!(
            ?status,
            "test fault CONCERT_TEST_IGNORE_LEASE_LOSS: the engine lease is lost, \
             and this node keeps serving (its writes must meet the fence)"
        );
        std::future::pending::<()>().await;
    }
    status
}

/// Whether the fault above is on. Compiled in only with debug assertions: `cargo
/// test` builds the binary that way, so the drill needs no flag (a cargo feature would
/// have to be named on every test run, or the drill would skip unseen), while a
/// release build, what operators run, cannot be told to serve without its lease.
#[cfg(debug_assertions)]
fn ignores_lease_loss() -> bool {
    std::env::var("CONCERT_TEST_IGNORE_LEASE_LOSS").is_ok_and(|v| v == "1")
}

#[cfg(not(debug_assertions))]
fn ignores_lease_loss() -> bool {
    false
}
