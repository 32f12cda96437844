//! Administration: adding concerts and sessions (each session's actor starts at once),
//! and the demo data.

use chrono::NaiveDate;

use super::Engine;
use crate::domain::{ConcertId, ConcertTitle, Points, SeatCount, SessionId};
use crate::error::{EngineError, EngineResult};
use crate::store::{NewSession, StoreError};
use crate::supervisor::SupervisorMsg;

/// A new session of a concert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// The day of the performance.
    pub date: NaiveDate,
    /// Seats numbered `1..=seat_count`.
    pub seat_count: SeatCount,
    /// The price of every seat.
    pub price: Points,
}

impl Engine {
    /// Adds a concert.
    pub async fn create_concert(&self, title: &ConcertTitle) -> EngineResult<ConcertId> {
        let row = self.inner.store.create_concert(title).await?;
        self.inner.catalog.add_concert(row.id, &row.title);
        Ok(row.id)
    }

    /// Adds a session to a concert and starts its actor.
    pub async fn create_session(
        &self,
        concert: ConcertId,
        spec: &SessionSpec,
    ) -> EngineResult<SessionId> {
        let session = NewSession {
            concert_id: concert,
            date: spec.date,
            seat_count: spec.seat_count,
            price: spec.price,
        };
        let row = match self.inner.store.create_session(&session).await {
            Err(StoreError::NotFound) => return Err(EngineError::ConcertNotFound),
            other => other?,
        };
        let id = row.id;
        let entry = self.inner.catalog.add_session(row);
        self.inner
            .supervisor
            .ask(
                |reply| SupervisorMsg::StartSession { entry, reply },
                self.inner.config.call_timeout,
            )
            .await?;
        Ok(id)
    }

    /// On a store with no concert, adds the demo: concert 1 with six sessions dated
    /// 2024-07-03 to 2024-07-08, 50 seats each. True if it was added.
    pub async fn seed_demo(&self) -> EngineResult<bool> {
        if !self.inner.catalog.is_empty() {
            return Ok(false);
        }
        let title = ConcertTitle::parse("Demo concert").expect("a valid title");
        let concert = self.create_concert(&title).await?;
        let first = NaiveDate::from_ymd_opt(2024, 7, 3).expect("a valid date");
        for day in 0..6 {
            let session = SessionSpec {
                date: first + chrono::Days::new(day),
                seat_count: SeatCount(50),
                price: Points(10_000),
            };
            self.create_session(concert, &session).await?;
        }
        Ok(true)
    }
}
