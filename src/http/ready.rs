//! `GET /ready`: readiness, for a load balancer or an orchestrator. 200 when the
//! engine can take traffic (the database answers, every actor is up), 503 `NOT_READY`
//! with the reason otherwise. `/health` is liveness: it asks the engine nothing.

use actors::Engine;
use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};

/// The body of `GET /ready` when ready.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"status": "ready"}))]
pub struct Ready {
    /// Always `ready`.
    pub status: &'static str,
}

/// Readiness: the database answers a trivial query within 800 ms and every waiting
/// room, session actor and the supervisor are up.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "ops",
    responses(
        (status = 200, description = "Ready to take traffic.", body = Ready),
        (status = 503, description = "`NOT_READY`, with the `reason` (the database does not answer, an actor is being restarted, the server is shutting down); or `OVERLOADED`.", body = ErrorBody,
         example = json!({"errorCode": 503, "msg": "서비스가 아직 요청을 받을 준비가 되지 않았습니다.", "error": "NOT_READY", "reason": "database: pool timed out while waiting for an open connection"})),
    )
)]
pub async fn ready(State(engine): State<Engine>) -> Result<Json<Ready>, ApiError> {
    match engine.readiness().await {
        Ok(()) => Ok(Json(Ready { status: "ready" })),
        Err(reason) => Err(ApiError::not_ready(reason.to_string())),
    }
}
