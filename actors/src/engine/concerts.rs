//! What a visitor reads without a token: a concert's sessions and a session's seats.

use super::{Engine, SeatsView, SessionSummary};
use crate::domain::{ConcertId, SessionId};
use crate::error::{EngineError, EngineResult};
use crate::session::SessionMsg;

impl Engine {
    /// The sessions of a concert, by date then id.
    pub fn sessions(&self, concert: ConcertId) -> EngineResult<Vec<SessionSummary>> {
        self.inner
            .catalog
            .sessions_of(concert)
            .ok_or(EngineError::ConcertNotFound)
    }

    /// The seats of a session.
    pub async fn seats(&self, session: SessionId) -> EngineResult<SeatsView> {
        self.session(session)?
            .ask(
                |reply| SessionMsg::Seats { reply },
                self.inner.config.call_timeout,
            )
            .await
    }
}
