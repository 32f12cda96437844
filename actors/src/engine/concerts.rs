//! What a visitor reads without a token: the concert list, a concert's sessions and a
//! session's seats.

use super::{Engine, SeatTotals, SeatsView, SessionSummary};
use crate::catalog::ConcertSummary;
use crate::domain::{ConcertId, RoomId, SessionId};
use crate::error::{EngineError, EngineResult};
use crate::session::SessionMsg;
use crate::waiting_room::RoomPoster;

/// The most concerts one page of the list carries: the page is a poster for people,
/// and the answer's size must not grow with the catalog.
pub const CONCERT_PAGE_LIMIT: usize = 500;

/// A concert in the public list: its summary and, if it has a room of its own, the
/// room's state and opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertListing {
    /// The concert, its title and its number of sessions.
    pub summary: ConcertSummary,
    /// Its own room; `None` when it has none (its buyers wait in the site-wide room)
    /// or while the room's actor is being restarted.
    pub room: Option<RoomPoster>,
}

impl Engine {
    /// Up to `limit` (at most [`CONCERT_PAGE_LIMIT`]) concerts with ids above `after`,
    /// by id: from the in-memory catalog and the published rooms, no actor asked.
    pub fn concerts(&self, after: Option<ConcertId>, limit: usize) -> Vec<ConcertListing> {
        let now = self.inner.clock.now_utc();
        self.inner
            .catalog
            .concerts_after(after, limit.min(CONCERT_PAGE_LIMIT))
            .into_iter()
            .map(|summary| {
                let room = self
                    .inner
                    .rooms
                    .get(RoomId::Concert(summary.concert_id))
                    .and_then(|room| room.poster(now));
                ConcertListing { summary, room }
            })
            .collect()
    }

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

    /// Every session's seats added up (holds, sales, sold-out sessions), as the
    /// sessions last published them: counters read, no actor asked.
    pub fn seat_totals(&self) -> SeatTotals {
        self.inner.catalog.seat_totals()
    }
}
