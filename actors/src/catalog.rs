//! Concerts and their sessions, kept in memory: they change only through the
//! admin routes, and reading them must not cost a store round trip per request.
//! Each session's seats (how many are free, which are taken) are published here by
//! its SessionActor on a [`SeatBoard`], so the session list is answered without
//! asking every actor, and a hold on a taken seat is refused without asking one.

use std::sync::Arc;

use chrono::NaiveDate;
use dashmap::DashMap;

use crate::domain::{ConcertId, SessionId};
use crate::session::board::SeatBoard;
use crate::store::{Catalog as StoredCatalog, SessionRow};

/// A session as the session list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session.
    pub session_id: SessionId,
    /// Its date.
    pub date: NaiveDate,
    /// Seats neither held nor sold.
    pub available: usize,
}

/// A known session and its published seats.
#[derive(Debug, Clone)]
pub struct SessionEntry {
    /// The session as stored.
    pub row: SessionRow,
    /// Its seats as its actor last published them.
    pub board: Arc<SeatBoard>,
}

/// Every concert and session.
#[derive(Debug, Default)]
pub struct Catalog {
    concerts: DashMap<ConcertId, Vec<SessionId>>,
    sessions: DashMap<SessionId, SessionEntry>,
}

impl Catalog {
    /// The catalog as stored.
    pub fn from_store(stored: StoredCatalog) -> Self {
        let catalog = Self::default();
        for concert in stored.concerts {
            catalog.add_concert(concert.id);
        }
        for session in stored.sessions {
            catalog.add_session(session);
        }
        catalog
    }

    /// True when there is no concert at all.
    pub fn is_empty(&self) -> bool {
        self.concerts.is_empty()
    }

    /// Records a (stored) concert.
    pub fn add_concert(&self, id: ConcertId) {
        self.concerts.entry(id).or_default();
    }

    /// True if the concert exists.
    pub fn has_concert(&self, id: ConcertId) -> bool {
        self.concerts.contains_key(&id)
    }

    /// Records a (stored) session; its board starts with every seat free.
    pub fn add_session(&self, row: SessionRow) -> SessionEntry {
        let entry = SessionEntry {
            board: Arc::new(SeatBoard::new(row.seat_count.0 as usize)),
            row,
        };
        self.concerts
            .entry(entry.row.concert_id)
            .or_default()
            .push(entry.row.id);
        self.sessions.insert(entry.row.id, entry.clone());
        entry
    }

    /// A session, if it exists.
    pub fn session(&self, id: SessionId) -> Option<SessionEntry> {
        self.sessions.get(&id).map(|entry| entry.clone())
    }

    /// Every session.
    pub fn sessions(&self) -> Vec<SessionEntry> {
        self.sessions.iter().map(|entry| entry.clone()).collect()
    }

    /// The sessions of a concert by date, then id; `None` if the concert does not exist.
    pub fn sessions_of(&self, concert: ConcertId) -> Option<Vec<SessionSummary>> {
        let ids = self.concerts.get(&concert)?.clone();
        let mut summaries: Vec<SessionSummary> = ids
            .into_iter()
            .filter_map(|id| self.session(id))
            .map(|entry| SessionSummary {
                session_id: entry.row.id,
                date: entry.row.date,
                available: entry.board.available(),
            })
            .collect();
        summaries.sort_by_key(|s| (s.date, s.session_id));
        Some(summaries)
    }
}
