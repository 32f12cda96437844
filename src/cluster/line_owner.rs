//! The owner's side of the line's replicas: it publishes its rooms' changes to the
//! stream (numbered within its term, stamped with its epoch), pictures its rooms whole
//! when a replica asks (at most every [`REPUBLISH_EVERY`]), and takes the polls the
//! replicas answered as seen, so their tokens keep their places.

use std::time::Duration;

use actors::Engine;
use actors::engine::{LineBatch, LineSink};
use async_nats::jetstream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::line_wire::{self, LineSubjects, MESSAGE_BYTES};
use crate::server::AbortOnDrop;

/// Batches of changes the engine may hand over before the publisher takes them; past
/// it a room's batch is dropped and its next is a whole picture (`LineSink`).
pub const LINE_BATCHES: usize = 4096;
/// The least time between two whole pictures asked for by replicas: every node may be
/// asking, and a picture costs the owner a pass over each line.
const REPUBLISH_EVERY: Duration = Duration::from_millis(500);

/// The engine's sink for a new term, and what the publisher reads.
pub fn sink() -> (LineSink, mpsc::Receiver<LineBatch>) {
    LineSink::bounded(LINE_BATCHES)
}

/// The owner's line tasks for one term; they stop when this is dropped.
pub struct OwnerLine {
    _tasks: Vec<AbortOnDrop>,
}

/// Starts publishing `batches` as the owner at `epoch`, and answering the replicas.
pub async fn start(
    nats: &async_nats::Client,
    subjects: &LineSubjects,
    epoch: u64,
    batches: mpsc::Receiver<LineBatch>,
    engine: Engine,
) -> Result<OwnerLine, async_nats::SubscribeError> {
    let mut resync = nats.subscribe(subjects.resync.clone()).await?;
    let mut seen = nats.subscribe(subjects.seen.clone()).await?;
    let js = jetstream::new(nats.clone());
    let limit = MESSAGE_BYTES.min(nats.server_info().max_payload / 2);
    let publishing = tokio::spawn(publish(js, subjects.changes.clone(), epoch, batches, limit));
    let republisher = engine.clone();
    let republishing = tokio::spawn(async move {
        let mut asked = resync.next().await.is_some();
        while asked {
            republisher.republish_lines();
            tokio::time::sleep(REPUBLISH_EVERY).await;
            // Asks that came meanwhile (perhaps from a node that started following
            // after those pictures) get one more, at once; then wait for the next.
            asked = false;
            while let Some(Some(_)) = futures::FutureExt::now_or_never(resync.next()) {
                asked = true;
            }
            if !asked {
                asked = resync.next().await.is_some();
            }
        }
    });
    let touching = tokio::spawn(async move {
        while let Some(message) = seen.next().await {
            engine.touch_tokens(&line_wire::decode_seen(&message.payload));
        }
    });
    Ok(OwnerLine {
        _tasks: [publishing, republishing, touching]
            .into_iter()
            .map(AbortOnDrop)
            .collect(),
    })
}

/// Publishes the batches in order, as many as are waiting packed into each message
/// (up to `limit` bytes), each message acknowledged before the next is sent. A message
/// that fails is lost: its number is skipped, so the replicas see the gap and ask for
/// whole pictures.
async fn publish(
    js: jetstream::Context,
    subject: String,
    epoch: u64,
    mut batches: mpsc::Receiver<LineBatch>,
    limit: usize,
) {
    let mut number = 0u64;
    let mut payload = Vec::with_capacity(limit);
    while let Some(first) = batches.recv().await {
        let mut next = Some(first);
        while let Some(batch) = next.take().or_else(|| batches.try_recv().ok()) {
            for change in &batch.changes {
                let start = payload.len();
                line_wire::encode_change(batch.room, change, &mut payload);
                if start > 0 && payload.len() > limit {
                    let rest = payload.split_off(start);
                    send(&js, &subject, epoch, &mut number, &payload).await;
                    payload = rest;
                }
            }
        }
        if !payload.is_empty() {
            send(&js, &subject, epoch, &mut number, &payload).await;
            payload.clear();
        }
    }
}

async fn send(
    js: &jetstream::Context,
    subject: &str,
    epoch: u64,
    number: &mut u64,
    payload: &[u8],
) {
    let headers = line_wire::headers(epoch, *number);
    *number += 1;
    let sent = js
        .publish_with_headers(subject.to_owned(), headers, payload.to_vec().into())
        .await;
    let acked = match sent {
        Ok(ack) => ack.await.map(drop).map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = acked {
        tracing::warn!(%error, "a line message was not published; replicas will resync");
    }
}
