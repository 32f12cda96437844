//! A session's seats as its SessionActor last published them: how many are free,
//! and which are taken (held or sold).
//!
//! Readers are request handlers that must not wait for the actor: the session list
//! (`abailable`) and the hot-seat storm, where all but 50 of a herd's holds hit a
//! taken seat. A hold on a seat the board shows taken is refused at once; any other
//! hold still goes to the actor, which alone decides. So the board may only ever be
//! stale in the safe direction for a refusal, which holds because the actor
//! publishes right after each change to its map, before it answers anything else:
//! whoever saw a seat free (in an answer of the actor) reads the board after that
//! publication.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::seat_map::SeatMap;
use crate::domain::SeatNumber;

/// See the module docs. One bit per seat, 64 seats per word.
#[derive(Debug)]
pub struct SeatBoard {
    seat_count: usize,
    available: AtomicUsize,
    taken: Box<[AtomicU64]>,
}

impl SeatBoard {
    /// A board of `seat_count` free seats.
    pub fn new(seat_count: usize) -> Self {
        Self {
            seat_count,
            available: AtomicUsize::new(seat_count),
            taken: (0..seat_count.div_ceil(64))
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    /// Seats neither held nor sold.
    pub fn available(&self) -> usize {
        self.available.load(Ordering::Acquire)
    }

    /// Whether `seat` is held or sold; `None` when the session has no such seat.
    pub fn is_taken(&self, seat: SeatNumber) -> Option<bool> {
        let index = seat.index().filter(|i| *i < self.seat_count)?;
        let word = self.taken[index / 64].load(Ordering::Acquire);
        Some(word & (1 << (index % 64)) != 0)
    }

    /// Copies the map's state onto the board (a few words: at most 1,000 seats).
    /// Only the session's actor calls this.
    pub fn publish(&self, map: &SeatMap) {
        for (word, bits) in self.taken.iter().zip(map.taken_words()) {
            word.store(bits, Ordering::Release);
        }
        self.available.store(map.available(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConcertId, Points, ReservationId, SeatCount, SessionId, UserId};
    use crate::store::SessionRow;
    use tokio::time::Instant;

    fn seat(n: i64) -> SeatNumber {
        SeatNumber::parse(n).unwrap()
    }

    #[test]
    fn shows_what_the_map_holds_after_publish() {
        let row = SessionRow {
            id: SessionId(1),
            concert_id: ConcertId(1),
            date: chrono::NaiveDate::from_ymd_opt(2030, 7, 3).unwrap(),
            seat_count: SeatCount(70),
            price: Points(10),
        };
        let mut map = SeatMap::new(row);
        let board = SeatBoard::new(70);
        let user = UserId::parse("alice").unwrap();
        map.hold(ReservationId(1), seat(1), user.clone(), Instant::now());
        map.hold(ReservationId(2), seat(65), user, Instant::now());
        assert_eq!(
            board.is_taken(seat(1)),
            Some(false),
            "nothing published yet"
        );
        board.publish(&map);
        assert_eq!(board.is_taken(seat(1)), Some(true));
        assert_eq!(board.is_taken(seat(2)), Some(false));
        assert_eq!(board.is_taken(seat(65)), Some(true), "the second word");
        assert_eq!(board.available(), 68);
        assert_eq!(board.is_taken(seat(71)), None, "no such seat");
        map.sell(ReservationId(1));
        map.end_hold(ReservationId(2));
        board.publish(&map);
        assert_eq!(board.is_taken(seat(1)), Some(true), "sold stays taken");
        assert_eq!(
            board.is_taken(seat(65)),
            Some(false),
            "a released seat is free"
        );
        assert_eq!(board.available(), 69);
    }
}
