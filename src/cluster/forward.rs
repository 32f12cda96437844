//! The forwarding node's side: a request for the engine, received by a node that does
//! not own it, goes to the owner over NATS request/reply and its answer comes back as
//! is. Bounded: the wait by the forward timeout, and the forwards in flight by a cap
//! (past it 503 `OVERLOADED`). The body is this node's `observe`'s to read, within the
//! body limit and timeout (413/408 as on a single node), before the request is routed
//! here: forwarding takes the bytes already in memory, and the owner reads it no more.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::RequestErrorKind;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;

use super::wire;
use crate::http::error::ApiError;

/// Sends requests to the owner.
pub struct Forwarder {
    pub nats: async_nats::Client,
    pub subject: String,
    pub timeout: Duration,
    pub permits: Arc<Semaphore>,
}

impl Forwarder {
    /// Forwards `request` to the owner and answers what it answered, or a 503 saying
    /// why it could not (no owner, owner too slow, too many forwards in flight).
    pub async fn forward(&self, request: Request<Body>) -> Response<Body> {
        let Ok(_permit) = self.permits.clone().try_acquire_owned() else {
            return ApiError::overloaded().into_response();
        };
        let (parts, body) = request.into_parts();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0);
        // In memory already (see the module docs): this takes it, waiting for nothing.
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => return ApiError::body_unreadable().into_response(),
        };
        let payload = wire::encode_request(&parts.method, &parts.uri, peer, &parts.headers, &body);
        let sent = self.nats.request(self.subject.clone(), payload);
        match tokio::time::timeout(self.timeout, sent).await {
            Ok(Ok(message)) => wire::decode_response(message.payload)
                .unwrap_or_else(|| ApiError::owner_unreachable().into_response()),
            Ok(Err(error)) if error.kind() == RequestErrorKind::NoResponders => {
                ApiError::no_owner().into_response()
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "forwarding to the owner failed");
                ApiError::owner_unreachable().into_response()
            }
            Err(_) => ApiError::owner_unreachable().into_response(),
        }
    }
}
