//! Concerts and their sessions, kept in memory: they change only through the
//! admin routes, and reading them must not cost a store round trip per request.
//! Each session's seats (how many are free, which are taken) are published here by
//! its SessionActor on a [`SeatBoard`], so the session list is answered without
//! asking every actor, and a hold on a taken seat is refused without asking one.
//! The same boards give the operator's totals (holds, sales, sold-out sessions) by
//! adding up counters, never by asking an actor.

use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::IdMap;
use chrono::NaiveDate;

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

/// A concert as the public list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertSummary {
    /// The concert.
    pub concert_id: ConcertId,
    /// Its title.
    pub title: Arc<str>,
    /// How many dated sessions it has.
    pub session_count: usize,
}

/// Every session's seats added up, as their actors last published them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeatTotals {
    /// Sessions in the catalog.
    pub sessions: usize,
    /// Seats held now (a hold past its deadline counts until its actor frees it).
    pub held: usize,
    /// Seats sold.
    pub sold: usize,
    /// Sessions whose every seat is sold (a held seat may still come back).
    pub sold_out_sessions: usize,
}

/// A concert: its title and its sessions' ids.
#[derive(Debug, Clone)]
struct ConcertEntry {
    title: Arc<str>,
    sessions: Vec<SessionId>,
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
    concerts: IdMap<ConcertId, ConcertEntry>,
    sessions: IdMap<SessionId, SessionEntry>,
}

impl Catalog {
    /// The catalog as stored.
    pub fn from_store(stored: StoredCatalog) -> Self {
        let catalog = Self::default();
        for concert in stored.concerts {
            catalog.add_concert(concert.id, &concert.title);
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
    pub fn add_concert(&self, id: ConcertId, title: &str) {
        self.concerts.entry(id).or_insert_with(|| ConcertEntry {
            title: Arc::from(title),
            sessions: Vec::new(),
        });
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
        // The store refuses a session of an unknown concert, so the concert is here;
        // `or_insert_with` only keeps a bug from losing the session.
        self.concerts
            .entry(entry.row.concert_id)
            .or_insert_with(|| ConcertEntry {
                title: Arc::from(""),
                sessions: Vec::new(),
            })
            .sessions
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
        let ids = self.concerts.get(&concert)?.sessions.clone();
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

    /// Up to `limit` concerts with ids above `after`, by id. One pass over the concerts
    /// keeping the `limit` lowest ids (a heap), so a page costs O(n log limit) and holds
    /// `limit` entries however many concerts there are.
    pub fn concerts_after(&self, after: Option<ConcertId>, limit: usize) -> Vec<ConcertSummary> {
        let mut lowest: BinaryHeap<ConcertId> = BinaryHeap::with_capacity(limit + 1);
        for entry in self.concerts.iter() {
            let id = *entry.key();
            if after.is_some_and(|after| id <= after) {
                continue;
            }
            lowest.push(id);
            if lowest.len() > limit {
                lowest.pop();
            }
        }
        let ids = lowest.into_sorted_vec();
        ids.into_iter()
            .filter_map(|id| {
                let entry = self.concerts.get(&id)?;
                Some(ConcertSummary {
                    concert_id: id,
                    title: entry.title.clone(),
                    session_count: entry.sessions.len(),
                })
            })
            .collect()
    }

    /// Every session's published seats, added up.
    pub fn seat_totals(&self) -> SeatTotals {
        let mut totals = SeatTotals::default();
        for entry in self.sessions.iter() {
            let counts = entry.board.counts();
            totals.sessions += 1;
            totals.held += counts.held;
            totals.sold += counts.sold;
            if counts.sold == entry.row.seat_count.0 as usize {
                totals.sold_out_sessions += 1;
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_the_lowest_ids_after_the_cursor_in_order() {
        let catalog = Catalog::default();
        for id in [5, 1, 3, 2, 4] {
            catalog.add_concert(ConcertId(id), &format!("Concert {id}"));
        }
        let ids =
            |page: Vec<ConcertSummary>| page.iter().map(|c| c.concert_id.0).collect::<Vec<_>>();
        assert_eq!(ids(catalog.concerts_after(None, 2)), [1, 2]);
        assert_eq!(
            ids(catalog.concerts_after(Some(ConcertId(2)), 10)),
            [3, 4, 5]
        );
        assert_eq!(
            ids(catalog.concerts_after(Some(ConcertId(5)), 10)),
            Vec::<i64>::new()
        );
        assert!(catalog.concerts_after(None, 0).is_empty());
        let first = &catalog.concerts_after(Some(ConcertId(3)), 1)[0];
        assert_eq!((&*first.title, first.session_count), ("Concert 4", 0));
    }
}
