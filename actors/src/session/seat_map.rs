//! A session's seat map as a pure state machine: which seat is free, held (until
//! when, by whom) or sold. The SessionActor wraps it with I/O and timers; the
//! model-based tests drive it directly.

// hashbrown's map with its default hasher (foldhash), not std's SipHash: a committed
// hold hashed into these maps about six times (check, hold, growth), ~1,700
// instructions of SipHash per hold (callgrind, `spread`, issue 16). Keys are
// reservation ids the store hands out and user ids with a live hold here, so each
// map is bounded by the seat count; foldhash is seeded per process.
use hashbrown::HashMap;

use tokio::time::Instant;

use crate::domain::{ReservationId, SeatNumber, UserId};
use crate::error::EngineError;
use crate::store::{ReservationRow, ReservationStatus, SessionRow};

/// A seat, as the seat map lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seat {
    Free,
    Held(ReservationId),
    Sold(ReservationId),
}

/// A seat as [`SeatMap::drain_changed`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatState {
    /// Neither held nor sold.
    Free,
    /// Held; free again at this deadline unless paid.
    HeldUntil(Instant),
    /// Sold.
    Sold,
}

/// A live hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The seat held.
    pub seat: SeatNumber,
    /// Who holds it.
    pub user_id: UserId,
    /// When it ends unless paid.
    pub deadline: Instant,
}

/// One session's seats.
#[derive(Debug)]
pub struct SeatMap {
    session: SessionRow,
    seats: Vec<Seat>,
    holds: HashMap<ReservationId, Hold>,
    holds_per_user: HashMap<UserId, u32>,
    free: usize,
    /// Seats changed since the last [`SeatMap::drain_changed`], by index, so that the
    /// board is told about a hold's one seat instead of rewriting all of them (a
    /// rewrite converted every held seat's deadline to UTC after each change: ~6% of
    /// the server's CPU in `spread`). Bounded: past one entry per seat it is replaced
    /// by `all_changed`.
    changed: Vec<usize>,
    /// Every seat is to be reported (a new or restored map).
    all_changed: bool,
}

impl SeatMap {
    /// An empty seat map for `session`.
    pub fn new(session: SessionRow) -> Self {
        let count = session.seat_count.0 as usize;
        Self {
            session,
            seats: vec![Seat::Free; count],
            holds: HashMap::new(),
            holds_per_user: HashMap::new(),
            free: count,
            changed: Vec::new(),
            all_changed: true,
        }
    }

    /// Rebuilds the map from the store's live reservations, with each hold's deadline.
    pub fn restore(
        session: SessionRow,
        live: Vec<ReservationRow>,
        deadline_of: impl Fn(&ReservationRow) -> Instant,
    ) -> Self {
        let mut map = Self::new(session);
        for row in live {
            match row.status {
                ReservationStatus::Held => {
                    let deadline = deadline_of(&row);
                    map.hold(row.id, row.seat_number, row.user_id, deadline);
                }
                ReservationStatus::Paid => map.mark_sold(row.id, row.seat_number),
                ReservationStatus::Expired | ReservationStatus::Released => {}
            }
        }
        map
    }

    /// The session this map belongs to.
    pub fn session(&self) -> &SessionRow {
        &self.session
    }

    /// Seats neither held nor sold.
    pub fn available(&self) -> usize {
        self.free
    }

    /// For each seat from 1, whether it is held or sold.
    pub fn taken(&self) -> Vec<bool> {
        self.seats.iter().map(|seat| *seat != Seat::Free).collect()
    }

    /// Seats held (including any past their deadline not yet expired).
    pub fn held(&self) -> usize {
        self.holds.len()
    }

    /// Seats sold.
    pub fn sold(&self) -> usize {
        self.seats.len() - self.free - self.holds.len()
    }

    /// Calls `visit` with the index and state of each seat changed since the last
    /// call (every seat, the first time), then forgets them. A seat changed twice may
    /// be visited twice, each time with its current state.
    pub fn drain_changed(&mut self, mut visit: impl FnMut(usize, SeatState)) {
        let mut changed = std::mem::take(&mut self.changed);
        if std::mem::take(&mut self.all_changed) {
            (0..self.seats.len()).for_each(|index| visit(index, self.seat_state(index)));
        } else {
            changed
                .iter()
                .for_each(|&index| visit(index, self.seat_state(index)));
        }
        changed.clear();
        // The buffer is kept: a change is then no allocation.
        self.changed = changed;
    }

    /// Seat `index` (from 0): free, held until its deadline, or sold.
    fn seat_state(&self, index: usize) -> SeatState {
        match self.seats[index] {
            Seat::Free => SeatState::Free,
            // A held seat always has its hold (`assert_consistent`); were it missing,
            // "free" sends a request to the actor rather than refusing it.
            Seat::Held(id) => self
                .holds
                .get(&id)
                .map_or(SeatState::Free, |hold| SeatState::HeldUntil(hold.deadline)),
            Seat::Sold(_) => SeatState::Sold,
        }
    }

    /// Live holds, with their deadlines.
    pub fn holds(&self) -> impl Iterator<Item = (ReservationId, &Hold)> {
        self.holds.iter().map(|(id, hold)| (*id, hold))
    }

    /// The contract's checks for a new hold, in its order: seat exists, seat free,
    /// the user below the per-user limit.
    pub fn check_hold(
        &self,
        seat: SeatNumber,
        user_id: &UserId,
        max_holds_per_user: u32,
    ) -> Result<(), EngineError> {
        match seat.index().and_then(|i| self.seats.get(i)) {
            None => Err(EngineError::SeatNotFound),
            Some(Seat::Held(_) | Seat::Sold(_)) => Err(EngineError::SeatAlreadyReserved),
            Some(Seat::Free)
                if self.holds_per_user.get(user_id).copied().unwrap_or(0) >= max_holds_per_user =>
            {
                Err(EngineError::HoldLimitExceeded)
            }
            Some(Seat::Free) => Ok(()),
        }
    }

    /// Records a (stored) hold.
    pub fn hold(
        &mut self,
        id: ReservationId,
        seat: SeatNumber,
        user_id: UserId,
        deadline: Instant,
    ) {
        let slot = self.slot_mut(seat);
        assert_eq!(*slot, Seat::Free, "a seat is held only when free");
        *slot = Seat::Held(id);
        self.free -= 1;
        // The user's id is copied only for a user's first hold here.
        match self.holds_per_user.get_mut(&user_id) {
            Some(count) => *count += 1,
            None => {
                self.holds_per_user.insert(user_id.clone(), 1);
            }
        }
        self.holds.insert(
            id,
            Hold {
                seat,
                user_id,
                deadline,
            },
        );
    }

    /// Holds whose deadline has passed (their expiry message may still be queued)
    /// and that stand in the way of `user_id` holding `seat`: the seat's own hold,
    /// and the user's holds that would count against the limit.
    pub fn overdue_in_the_way(
        &self,
        seat: SeatNumber,
        user_id: &UserId,
        now: Instant,
    ) -> Vec<ReservationId> {
        self.holds
            .iter()
            .filter(|(_, hold)| hold.deadline <= now)
            .filter(|(_, hold)| hold.seat == seat || hold.user_id == *user_id)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The live hold `id`, if there is one.
    pub fn get(&self, id: ReservationId) -> Option<&Hold> {
        self.holds.get(&id)
    }

    /// True if `id` is a live hold whose deadline has passed at `now`.
    pub fn is_overdue(&self, id: ReservationId, now: Instant) -> bool {
        self.holds.get(&id).is_some_and(|hold| hold.deadline <= now)
    }

    /// Frees the seat of a (stored) expired or released hold.
    pub fn end_hold(&mut self, id: ReservationId) -> Option<Hold> {
        let hold = self.drop_hold(id)?;
        *self.slot_mut(hold.seat) = Seat::Free;
        self.free += 1;
        Some(hold)
    }

    /// Turns a (stored) paid hold into a sale.
    pub fn sell(&mut self, id: ReservationId) -> Option<Hold> {
        let hold = self.drop_hold(id)?;
        *self.slot_mut(hold.seat) = Seat::Sold(id);
        Some(hold)
    }

    /// The seat's entry, to change it; only for seats already checked (held, sold, or
    /// about to be). Every change goes through here, so here it is recorded.
    fn slot_mut(&mut self, seat: SeatNumber) -> &mut Seat {
        let index = seat.index().expect("seat numbers start at 1");
        if !self.all_changed {
            if self.changed.len() < self.seats.len() {
                self.changed.push(index);
            } else {
                self.changed.clear();
                self.all_changed = true;
            }
        }
        &mut self.seats[index]
    }

    fn drop_hold(&mut self, id: ReservationId) -> Option<Hold> {
        let hold = self.holds.remove(&id)?;
        if let Some(count) = self.holds_per_user.get_mut(&hold.user_id) {
            *count -= 1;
            if *count == 0 {
                self.holds_per_user.remove(&hold.user_id);
            }
        }
        Some(hold)
    }

    fn mark_sold(&mut self, id: ReservationId, seat: SeatNumber) {
        let slot = self.slot_mut(seat);
        assert_eq!(*slot, Seat::Free, "a seat is sold at most once");
        *slot = Seat::Sold(id);
        self.free -= 1;
    }

    /// Checks the map's own invariants: counts agree with the seats. Debug builds
    /// check after every change; release builds skip the O(seats) scan.
    #[cfg(debug_assertions)]
    pub fn assert_consistent(&self) {
        let free = self.seats.iter().filter(|s| **s == Seat::Free).count();
        let held = self
            .seats
            .iter()
            .filter(|s| matches!(s, Seat::Held(_)))
            .count();
        assert_eq!(free, self.free, "free count matches the seats");
        assert_eq!(
            held,
            self.holds.len(),
            "every held seat has exactly one hold"
        );
        assert_eq!(
            self.holds_per_user
                .values()
                .map(|n| *n as usize)
                .sum::<usize>(),
            held,
            "per-user counts add up to the holds"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConcertId, Points, SeatCount, SessionId};

    fn map(seats: u32) -> SeatMap {
        SeatMap::new(SessionRow {
            id: SessionId(1),
            concert_id: ConcertId(1),
            date: chrono::NaiveDate::from_ymd_opt(2024, 7, 3).unwrap(),
            seat_count: SeatCount(seats),
            price: Points(10_000),
        })
    }

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    #[test]
    fn checks_follow_the_contract_order() {
        let mut seats = map(3);
        let now = Instant::now();
        assert_eq!(
            seats.check_hold(SeatNumber(4), &user("a"), 1),
            Err(EngineError::SeatNotFound)
        );
        seats.hold(ReservationId(1), SeatNumber(1), user("a"), now);
        assert_eq!(
            seats.check_hold(SeatNumber(1), &user("b"), 1),
            Err(EngineError::SeatAlreadyReserved)
        );
        assert_eq!(
            seats.check_hold(SeatNumber(2), &user("a"), 1),
            Err(EngineError::HoldLimitExceeded)
        );
        assert_eq!(seats.check_hold(SeatNumber(2), &user("b"), 1), Ok(()));
        seats.assert_consistent();
    }

    #[test]
    fn sold_seats_do_not_count_against_the_hold_limit() {
        let mut seats = map(3);
        seats.hold(ReservationId(1), SeatNumber(1), user("a"), Instant::now());
        seats.sell(ReservationId(1));
        assert_eq!(seats.check_hold(SeatNumber(2), &user("a"), 1), Ok(()));
        assert_eq!(seats.available(), 2);
        assert_eq!(seats.taken(), vec![true, false, false]);
        seats.assert_consistent();
    }

    #[test]
    fn ending_a_hold_frees_the_seat() {
        let mut seats = map(2);
        seats.hold(ReservationId(7), SeatNumber(2), user("a"), Instant::now());
        assert_eq!(seats.available(), 1);
        assert!(seats.end_hold(ReservationId(7)).is_some());
        assert!(seats.end_hold(ReservationId(7)).is_none());
        assert_eq!(seats.available(), 2);
        seats.assert_consistent();
    }

    fn drained(seats: &mut SeatMap) -> Vec<(usize, SeatState)> {
        let mut visited = Vec::new();
        seats.drain_changed(|index, state| visited.push((index, state)));
        visited
    }

    #[test]
    fn reports_every_seat_first_then_only_the_changed_ones() {
        let mut seats = map(4);
        let deadline = Instant::now();
        seats.hold(ReservationId(1), SeatNumber(2), user("a"), deadline);
        assert_eq!(
            drained(&mut seats),
            vec![
                (0, SeatState::Free),
                (1, SeatState::HeldUntil(deadline)),
                (2, SeatState::Free),
                (3, SeatState::Free),
            ],
            "a new map reports all its seats"
        );
        assert_eq!(drained(&mut seats), vec![], "nothing changed since");

        seats.hold(ReservationId(2), SeatNumber(4), user("b"), deadline);
        assert_eq!(
            drained(&mut seats),
            vec![(3, SeatState::HeldUntil(deadline))]
        );
        seats.sell(ReservationId(1));
        seats.end_hold(ReservationId(2));
        assert_eq!(
            drained(&mut seats),
            vec![(1, SeatState::Sold), (3, SeatState::Free)]
        );
        assert_eq!((seats.held(), seats.sold(), seats.available()), (0, 1, 3));
    }

    #[test]
    fn changes_beyond_one_per_seat_report_every_seat_once() {
        let mut seats = map(2);
        drained(&mut seats);
        for id in 1..=3 {
            seats.hold(ReservationId(id), SeatNumber(1), user("a"), Instant::now());
            seats.end_hold(ReservationId(id));
        }
        assert_eq!(
            drained(&mut seats),
            vec![(0, SeatState::Free), (1, SeatState::Free)],
            "six changes to a two-seat map: its two seats, not a growing list"
        );
    }
}
