//! The owner's side of forwarding: it subscribes to the owner subject (in a queue
//! group, so one owner answers each request even while a stale one has not yet
//! unsubscribed), runs each forwarded request through its own router (the same
//! middleware, errors and idempotency as a request it received itself) and replies.
//! The node that received the request observed it: here it is marked so (`wire`), and
//! `observe` logs it at `debug` under the same request id, and counts it no more.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::response::IntoResponse;
use futures::StreamExt;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tower::ServiceExt;

use super::wire;
use crate::http;
use crate::http::error::ApiError;

/// Subscribes and answers until the task is aborted (the term's end), which drops the
/// subscription and so unsubscribes.
pub async fn start(
    nats: &async_nats::Client,
    subject: &str,
    router: http::App,
    max_in_flight: usize,
    forward_timeout: Duration,
) -> Result<JoinHandle<()>, async_nats::SubscribeError> {
    let mut subscription = nats
        .queue_subscribe(subject.to_owned(), "owner".to_owned())
        .await?;
    let nats = nats.clone();
    // The router sheds load past its own in-flight limit; this bounds the tasks
    // waiting for it, so a flood of forwards cannot pile up here either.
    let permits = Arc::new(Semaphore::new(max_in_flight));
    Ok(tokio::spawn(async move {
        while let Some(message) = subscription.next().await {
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            // A forwarded request carries no NATS headers (`wire`): one that does comes
            // from a node of an older version (`docs/scale-out.md`, "Mixed versions").
            let older = message.headers.is_some();
            let request = if older {
                None
            } else {
                wire::decode_request(message.payload)
            };
            let Some(request) = request else {
                if older {
                    tracing::warn!(
                        "a forwarded request from a node of an older version, not answered: \
                         run one version on every node"
                    );
                } else {
                    tracing::warn!("a message on the owner subject that is no forwarded request");
                }
                // An empty reply is no answer to either version, so the sender answers
                // 503 `OWNER_UNREACHABLE` now rather than after its forward timeout.
                if let Err(error) = nats.publish(reply, Bytes::new()).await {
                    tracing::warn!(%error, "could not reply to a forwarded request");
                }
                continue;
            };
            let nats = nats.clone();
            let router = router.clone();
            let permit = permits.clone().try_acquire_owned();
            tokio::spawn(async move {
                let response = match permit {
                    Ok(_permit) => router.oneshot(request).await.into_response(),
                    Err(_) => ApiError::overloaded().into_response(),
                };
                let (parts, body) = response.into_parts();
                // The answer's head travels in the payload too, so the payload is
                // measured whole: without NATS headers, `max_payload` bounds nothing else.
                let limit = nats.server_info().max_payload;
                // Bounded in time too: a response that never ends (a stream, which
                // the forwarding node never sends here) cannot hold the task.
                let answer = tokio::time::timeout(forward_timeout, body.collect())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|collected| collected.to_bytes())
                    .filter(|body| body.len() <= limit)
                    .map(|body| wire::encode_response(parts.status, &parts.headers, &body))
                    .filter(|payload| payload.len() <= limit);
                let payload = match answer {
                    Some(payload) => payload,
                    None => {
                        let (parts, body) = ApiError::internal().into_response().into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        wire::encode_response(parts.status, &parts.headers, &body)
                    }
                };
                if let Err(error) = nats.publish(reply, payload).await {
                    tracing::warn!(%error, "could not reply to a forwarded request");
                }
            });
        }
    }))
}
