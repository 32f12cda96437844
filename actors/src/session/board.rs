//! A session's seats as its SessionActor last published them: how many are free,
//! and until when each is taken (held until its deadline, or sold).
//!
//! Readers are request handlers that must not wait for the actor: the session list
//! (`abailable`) and the hot-seat storm, where all but 50 of a herd's holds hit a
//! taken seat. A hold on a seat the board shows taken *now* is refused at once; any
//! other hold still goes to the actor, which alone decides. So the board may only
//! ever be stale in the safe direction for a refusal, which holds because:
//! - the actor publishes right after each change to its map, before it answers
//!   anything else: whoever saw a seat free (in an answer of the actor) reads the
//!   board after that publication;
//! - a hold is over at its deadline even while its expiry message waits in the
//!   mailbox (the actor frees such a seat for the next hold), so the board keeps
//!   each hold's deadline, not just a bit, and a seat past it reads as not taken.
//!
//! Beside the board, a bounded broadcast of its changes (a seat held, sold, released
//! or expired), sent once the board shows them, for the live seat maps
//! (`Engine::seat_stream`). The board outlives its actor's restarts, so the channel
//! does too: a stream keeps listening across a restart. A receiver that falls more
//! than [`SEAT_CHANGES_CAPACITY`] behind is told so (lagged) and dropped by its
//! stream; the channel never grows.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use super::seat_map::{SeatMap, SeatState};
use crate::clock::Clock;
use crate::domain::SeatNumber;

/// Free seats' entry: taken until the epoch.
const FREE: i64 = i64::MIN;
/// Sold seats' entry: taken for good.
const SOLD: i64 = i64::MAX;

/// Changes a seat stream may fall behind by before it is dropped (it then reconnects
/// and reads the whole list again). A hot-seat storm changes every seat of a session
/// within a second or two; sessions have at most 1,000 seats.
pub const SEAT_CHANGES_CAPACITY: usize = 1024;

/// One seat's change, as the live seat map shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatChange {
    /// The seat.
    pub seat_number: SeatNumber,
    /// Held or sold now (false: free again).
    pub is_reservation: bool,
}

/// How many of a board's seats are held and sold, as last published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeatCounts {
    /// Held (until a deadline; one past it counts until the actor frees the seat).
    pub held: usize,
    /// Sold.
    pub sold: usize,
}

/// See the module docs. Per seat, the UTC microsecond until which it is taken:
/// written only for the seats that changed, so a hold converts one deadline to UTC.
#[derive(Debug)]
pub struct SeatBoard {
    available: AtomicUsize,
    /// For the operator's totals, as the map counts them: reading them costs two
    /// loads instead of a pass over the seats.
    held: AtomicUsize,
    sold: AtomicUsize,
    taken_until_us: Box<[AtomicI64]>,
    changes: broadcast::Sender<SeatChange>,
}

impl SeatBoard {
    /// A board of `seat_count` free seats (at most 1,000: 8 bytes each).
    pub fn new(seat_count: usize) -> Self {
        Self {
            available: AtomicUsize::new(seat_count),
            held: AtomicUsize::new(0),
            sold: AtomicUsize::new(0),
            taken_until_us: (0..seat_count).map(|_| AtomicI64::new(FREE)).collect(),
            changes: broadcast::Sender::new(SEAT_CHANGES_CAPACITY),
        }
    }

    /// The changes published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SeatChange> {
        self.changes.subscribe()
    }

    /// Seats neither held nor sold.
    pub fn available(&self) -> usize {
        self.available.load(Ordering::Acquire)
    }

    /// Seats held and sold, as last published. Each is read on its own: a reader racing
    /// a publication may see one count before it and the other after (totals for a
    /// chart, not for a decision).
    pub fn counts(&self) -> SeatCounts {
        SeatCounts {
            held: self.held.load(Ordering::Acquire),
            sold: self.sold.load(Ordering::Acquire),
        }
    }

    /// Whether `seat` is held or sold at `now`; `None` when the session has no such seat.
    pub fn is_taken(&self, seat: SeatNumber, now: DateTime<Utc>) -> Option<bool> {
        let until = self.taken_until_us.get(seat.index()?)?;
        Some(until.load(Ordering::Acquire) > now.timestamp_micros())
    }

    /// Copies the seats the map changed since its last publication onto the board
    /// (all of them, the first time), then broadcasts each seat whose state (free,
    /// held, sold) changed. Only the session's actor calls this.
    pub fn publish(&self, map: &mut SeatMap, clock: &Clock) {
        // A change is a handful of seats; nobody listening costs no allocation.
        let listened = self.changes.receiver_count() > 0;
        let mut changed = Vec::new();
        map.drain_changed(|index, state| {
            let until = match state {
                SeatState::Free => FREE,
                SeatState::HeldUntil(deadline) => clock.utc_at(deadline).timestamp_micros(),
                SeatState::Sold => SOLD,
            };
            // The board was made for this session's seat count: every index is on it.
            let Some(entry) = self.taken_until_us.get(index) else {
                return;
            };
            let before = entry.swap(until, Ordering::AcqRel);
            if listened && kind(before) != kind(until) {
                changed.push(SeatChange {
                    seat_number: SeatNumber(index as u32 + 1),
                    is_reservation: until != FREE,
                });
            }
        });
        self.available.store(map.available(), Ordering::Release);
        self.held.store(map.held(), Ordering::Release);
        self.sold.store(map.sold(), Ordering::Release);
        for change in changed {
            // No receiver left: nobody to tell.
            let _ = self.changes.send(change);
        }
    }
}

/// Free, held or sold: a new deadline for a held seat is no change to a seat map.
fn kind(until: i64) -> u8 {
    match until {
        FREE => 0,
        SOLD => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConcertId, Points, ReservationId, SeatCount, SessionId, UserId};
    use crate::store::SessionRow;
    use std::time::Duration;
    use tokio::time::Instant;

    fn seat(n: i64) -> SeatNumber {
        SeatNumber::parse(n).unwrap()
    }

    #[test]
    fn shows_what_the_map_holds_after_publish() {
        let clock = Clock::start();
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
        let start = Instant::now();
        let deadline = start + Duration::from_secs(300);
        map.hold(ReservationId(1), seat(1), user.clone(), deadline);
        map.hold(ReservationId(2), seat(65), user, deadline);
        let now = clock.utc_at(start);
        assert_eq!(
            board.is_taken(seat(1), now),
            Some(false),
            "nothing published yet"
        );
        board.publish(&mut map, &clock);
        assert_eq!(board.is_taken(seat(1), now), Some(true));
        assert_eq!(board.is_taken(seat(2), now), Some(false));
        assert_eq!(board.is_taken(seat(65), now), Some(true));
        assert_eq!(board.is_taken(seat(71), now), None, "no such seat");
        assert_eq!(board.available(), 68);
        assert_eq!(board.counts(), SeatCounts { held: 2, sold: 0 });
        let at_deadline = clock.utc_at(deadline);
        assert_eq!(
            board.is_taken(seat(65), at_deadline),
            Some(false),
            "over at its deadline"
        );

        map.sell(ReservationId(1));
        map.end_hold(ReservationId(2));
        board.publish(&mut map, &clock);
        assert_eq!(
            board.is_taken(seat(1), at_deadline),
            Some(true),
            "sold stays taken"
        );
        assert_eq!(
            board.is_taken(seat(65), now),
            Some(false),
            "a released seat is free"
        );
        assert_eq!(board.available(), 69);
        assert_eq!(board.counts(), SeatCounts { held: 0, sold: 1 });
    }
}
