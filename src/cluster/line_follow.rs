//! Every node's side of the line's replicas: it follows the owner's changes on the
//! stream into its [`LineReplicas`], answers queue polls and serves queue streams
//! (SSE) from them, and reports the tokens it answered to the owner (which would
//! otherwise evict them as idle).
//!
//! Decided (`docs/scale-out.md`, "The line on every node"):
//! - A poll the replica cannot answer (a room not pictured yet, a token it does not
//!   hold — just joined, unknown, being written — or a poll that names a user or
//!   carries no token: it may issue one) is forwarded to the owner, as before.
//! - A gap (a message number skipped, a consumer recreated) or a new owner's term
//!   joined midway makes the node forget its pictures (polls forward meanwhile) and ask
//!   the owner for whole pictures at once, then every second until it has them; a new
//!   owner's term starts with them anyway. Messages of an older epoch than the newest
//!   seen are dropped: a stale owner cannot move a replica.
//! - The report of answered polls is bounded ([`MAX_SEEN`] tokens a second): past it a
//!   poll is forwarded, so the owner still sees it.
//! - A queue stream whose token the replica answers is served here
//!   ([`ReplicaStreams`]): the owner's events and wire format, each look at the ticket
//!   reported as a poll (past [`MAX_SEEN`] a look goes unreported that second; the
//!   stream looks again within a third of the idle time). Any other queue stream is
//!   the owner's, as before (503 `STREAM_NOT_HERE` on this node).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actors::domain::{QueueToken, RoomId};
use actors::engine::{EngineConfig, LineReplicas, ReplicaStreams, StreamCount};
use async_nats::jetstream::{self, consumer};
use axum::body::Body;
use axum::extract::Query;
use axum::http::{HeaderValue, Method, Request, Response};
use axum::response::IntoResponse;
use futures::StreamExt;
use tokio::time::Instant;

use super::line_wire::{self, LineSubjects, SEEN_PER_MESSAGE};
use crate::http::error::ApiError;
use crate::http::queue::{QueueAnswer, QueueQuery};
use crate::http::streams::{StreamQuery, StreamSettings, event_stream};

/// The header a poll answered from this node's replica carries: the node's id.
pub const REPLICA_HEADER: &str = "x-concert-replica";
/// Tokens whose polls were answered here, reported each [`REPORT_EVERY`], at most.
pub const MAX_SEEN: usize = 65_536;
/// How often answered polls are reported, and missing pictures asked for again.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// This node's replicas and what it owes the owner.
pub struct LineFollower {
    replicas: LineReplicas,
    /// The queue streams served from `replicas`.
    streams: ReplicaStreams,
    node: HeaderValue,
    /// Tokens answered since the last report.
    seen: Mutex<HashSet<QueueToken>>,
    /// (epoch, next message number) of the term followed; epoch 0: none yet.
    position: Mutex<(u64, u64)>,
}

impl LineFollower {
    /// A follower with empty replicas, by the engine's rules (`config`).
    pub fn new(config: &EngineConfig, node: &str) -> Self {
        Self {
            replicas: config.line_replicas(),
            streams: config.replica_streams(),
            node: HeaderValue::from_str(node).unwrap_or(HeaderValue::from_static("node")),
            seen: Mutex::new(HashSet::new()),
            position: Mutex::new((0, 0)),
        }
    }

    /// The queue poll's answer from the replica, if it can give one (see the module
    /// docs); `None`: forward it.
    pub fn answer(&self, request: &Request<Body>) -> Option<Response<Body>> {
        let path = request.uri().path();
        if request.method() != Method::GET
            || !matches!(path, "/concert/wating" | "/concert/waiting")
            || request.headers().contains_key("x-user-id")
        {
            return None;
        }
        let Query(query) = Query::<QueueQuery>::try_from_uri(request.uri()).ok()?;
        if query.user_id.is_some() {
            return None;
        }
        let asked = query.concert().ok()?.map(RoomId::Concert);
        let header = request.headers().get("authorization")?.to_str().ok()?;
        let token = QueueToken::parse(header).ok()?;
        let ticket = self.replicas.poll(asked, token, Instant::now())?;
        if !self.saw(token) {
            return None;
        }
        Some(self.served_here(QueueAnswer::from(ticket).into_response()))
    }

    /// The queue stream served from the replica, if it holds the stream's token (see
    /// the module docs); `None`: the owner's.
    pub fn stream(
        self: &Arc<Self>,
        request: &Request<Body>,
        settings: StreamSettings,
    ) -> Option<Response<Body>> {
        let path = request.uri().path();
        if request.method() != Method::GET
            || !matches!(path, "/concert/wating/stream" | "/concert/waiting/stream")
        {
            return None;
        }
        // As the owner's route reads it: the header wins over `?token=`.
        let header = request.headers().get("authorization");
        let token = match header {
            Some(header) => QueueToken::parse(header.to_str().ok()?).ok()?,
            None => {
                let Query(query) = Query::<StreamQuery>::try_from_uri(request.uri()).ok()?;
                QueueToken::parse(query.token.as_deref()?).ok()?
            }
        };
        let follower = self.clone();
        let seen = Arc::new(move |token| {
            follower.saw(token);
        });
        let response = match self.streams.open(&self.replicas, token, seen)? {
            Ok(watch) => event_stream(watch, settings),
            Err(error) => ApiError::from(error).into_response(),
        };
        Some(self.served_here(response))
    }

    /// The queue streams served here, open now (for the stream gauge).
    pub fn open_streams(&self) -> StreamCount {
        self.streams.open_streams()
    }

    /// Ends the queue streams served here (the node's drain).
    pub fn close_streams(&self) {
        self.streams.close();
    }

    /// Records a poll of `token` answered here, for the next report; false if the
    /// report is full.
    fn saw(&self, token: QueueToken) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= MAX_SEEN && !seen.contains(&token) {
            return false;
        }
        seen.insert(token);
        true
    }

    /// `response`, marked as this node's.
    fn served_here(&self, mut response: Response<Body>) -> Response<Body> {
        response
            .headers_mut()
            .insert(REPLICA_HEADER, self.node.clone());
        response
    }

    /// Takes a message of the stream (see the module docs); true if it left this node
    /// wanting a whole picture it did not want before.
    fn take(&self, epoch: u64, number: u64, payload: &[u8]) -> bool {
        let wanted = !self.replicas.all_ready();
        self.apply(epoch, number, payload);
        !wanted && !self.replicas.all_ready()
    }

    fn apply(&self, epoch: u64, number: u64, payload: &[u8]) {
        let mut position = self.position.lock().unwrap_or_else(PoisonError::into_inner);
        let (followed, next) = *position;
        if epoch < followed {
            return;
        }
        if epoch > followed || number != next {
            if epoch > followed {
                tracing::info!(epoch, "the line's new owner");
            } else {
                tracing::warn!(number, expected = next, "line changes missed; resyncing");
            }
            self.replicas.forget();
        }
        *position = (epoch, number + 1);
        let Some(changes) = line_wire::decode_changes(payload) else {
            tracing::warn!("a line message that is not changes; resyncing");
            self.replicas.forget();
            return;
        };
        let now = Instant::now();
        for (room, change) in changes {
            self.replicas
                .apply(room, std::slice::from_ref(&change), now);
        }
    }

    /// The stream was followed anew (its consumer failed): changes may have been missed.
    fn restart(&self) {
        self.replicas.forget();
    }
}

/// Follows the stream until the task is aborted (with the node); reconnects on failure.
pub fn spawn(
    nats: async_nats::Client,
    subjects: LineSubjects,
    follower: Arc<LineFollower>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let following = {
        let (nats, subjects, follower) = (nats.clone(), subjects.clone(), follower.clone());
        tokio::spawn(async move {
            loop {
                if let Err(error) = follow(&nats, &subjects, &follower).await {
                    tracing::warn!(%error, "following the line's stream failed; again in 1 s");
                }
                follower.restart();
                tokio::time::sleep(REPORT_EVERY).await;
            }
        })
    };
    let reporting = tokio::spawn(async move {
        let mut every = tokio::time::interval(REPORT_EVERY);
        loop {
            every.tick().await;
            report(&nats, &subjects, &follower).await;
        }
    });
    vec![following, reporting]
}

async fn follow(
    nats: &async_nats::Client,
    subjects: &LineSubjects,
    follower: &LineFollower,
) -> Result<(), async_nats::Error> {
    let js = jetstream::new(nats.clone());
    let stream = match js.create_stream(subjects.stream_config()).await {
        Ok(stream) => stream,
        Err(_) => js.get_stream(&subjects.stream).await?,
    };
    let consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subjects.changes.clone(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    // Ask for whole pictures once following: a node (re)started while the line is
    // quiet has heard of no room, so `all_ready` holds on its empty replicas and the
    // report below would never ask; asked after subscribing, no picture is missed.
    let _ = nats
        .publish(subjects.resync.clone(), Default::default())
        .await;
    while let Some(message) = messages.next().await {
        let message = message?;
        match line_wire::epoch_and_number(message.headers.as_ref()) {
            Some((epoch, number)) => {
                if follower.take(epoch, number, &message.payload) {
                    // Not a second later: this node's polls are forwarded meanwhile.
                    let _ = nats
                        .publish(subjects.resync.clone(), Default::default())
                        .await;
                }
            }
            None => tracing::warn!("a line message without epoch or number"),
        }
    }
    Ok(())
}

/// Reports the polls answered since the last report, and asks for whole pictures
/// while some room has none.
async fn report(nats: &async_nats::Client, subjects: &LineSubjects, follower: &LineFollower) {
    let seen: Vec<QueueToken> = {
        let mut seen = follower.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.drain().collect()
    };
    for chunk in seen.chunks(SEEN_PER_MESSAGE) {
        let payload = line_wire::encode_seen(chunk);
        if let Err(error) = nats.publish(subjects.seen.clone(), payload).await {
            tracing::warn!(%error, "answered polls not reported");
        }
    }
    if !follower.replicas.all_ready() {
        let _ = nats
            .publish(subjects.resync.clone(), Default::default())
            .await;
    }
}
