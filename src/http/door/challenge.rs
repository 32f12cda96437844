//! `GET /concert/wating/challenge`: a proof-of-work challenge for a new queue token.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::Door;

/// A challenge to answer in `X-Pow` when asking for a new token.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"challenge": "20.1800000120.00112233445566778899aabbccddeeff.0f1e2d3c4b5a69788796a5b4c3d2e1f0", "bits": 20, "expiresInSeconds": 120}))]
pub struct ChallengeResponse {
    /// The challenge: send `X-Pow: <challenge>:<nonce>`.
    pub challenge: String,
    /// Leading zero bits `SHA-256("<challenge>:<nonce>")` must have (0: no proof is asked).
    pub bits: u8,
    /// Seconds the challenge may be answered in; each is good for one new token.
    pub expires_in_seconds: u64,
}

/// Issues a proof-of-work challenge. Needed only when the server asks for proofs
/// (`bits` > 0); a nonce is any 1 to 32 of `A-Z a-z 0-9`.
#[utoipa::path(
    get,
    path = "/concert/wating/challenge",
    tag = "queue",
    responses((status = 200, description = "A fresh challenge", body = ChallengeResponse))
)]
pub async fn challenge(State(door): State<Arc<Door>>) -> Json<ChallengeResponse> {
    let issued = door.pow().issue();
    Json(ChallengeResponse {
        challenge: issued.challenge,
        bits: issued.bits,
        expires_in_seconds: issued.expires_in_seconds,
    })
}
