//! The holds' expiry timer: one per session, not one per hold.
//!
//! Each hold used to arm a timer of its own (ractor's `send_after`: a spawned task
//! and a tokio sleep per hold, ~2,000 instructions of a committed hold's ~68,000 in
//! the server, callgrind, `spread`, issue 16; and as many pending tasks as holds
//! taken within one TTL). Here a session keeps its holds' deadlines in order and at
//! most one timer armed, at the earliest: every hold has the same TTL, so a new
//! hold's deadline is after the pending ones and arms nothing. When the timer fires
//! the actor expires each hold whose deadline has passed, still at its exact TTL,
//! and arms the timer at the next deadline.
//!
//! Bounded as the timers were: one entry per hold taken within one TTL (a hold paid
//! or released early leaves its entry until its deadline, skipped then).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tokio::time::Instant;

use crate::domain::ReservationId;

/// A session's pending deadlines and its armed timer (see the module docs).
#[derive(Debug, Default)]
pub struct Expiries {
    /// Holds by deadline, earliest first.
    queue: BinaryHeap<Reverse<(Instant, ReservationId)>>,
    /// When the timer armed last fires, until it has fired.
    armed: Option<Instant>,
}

impl Expiries {
    /// The deadlines of a restored map's holds, in any order; no timer armed yet.
    pub fn restore(holds: impl Iterator<Item = (Instant, ReservationId)>) -> Self {
        Self {
            queue: holds.map(Reverse).collect(),
            armed: None,
        }
    }

    /// Queues hold `id`'s deadline. `Some(at)`: arm a timer for `at` (none fires earlier).
    #[must_use]
    pub fn push(&mut self, deadline: Instant, id: ReservationId) -> Option<Instant> {
        self.queue.push(Reverse((deadline, id)));
        self.timer_at(deadline)
    }

    /// Called with a timer's instant when it fires: that timer is no longer armed.
    /// (A timer armed before a resync may fire after it: it is no one's, and ignored.)
    pub fn fired(&mut self, at: Instant) {
        if self.armed == Some(at) {
            self.armed = None;
        }
    }

    /// The next hold whose deadline is at or before `now`, taken off the queue.
    pub fn pop_due(&mut self, now: Instant) -> Option<ReservationId> {
        let Reverse((deadline, id)) = *self.queue.peek()?;
        (deadline <= now).then(|| {
            self.queue.pop();
            id
        })
    }

    /// Puts back a hold whose expiry could not be written, and asks for a timer at
    /// `retry_at` (or earlier, if one is armed earlier).
    #[must_use]
    pub fn retry(&mut self, id: ReservationId, retry_at: Instant) -> Option<Instant> {
        self.queue.push(Reverse((retry_at, id)));
        self.timer_at(retry_at)
    }

    /// The timer the queue needs now: `Some(at)` if nothing is armed at or before its
    /// earliest deadline.
    #[must_use]
    pub fn next_timer(&mut self) -> Option<Instant> {
        let Reverse((deadline, _)) = *self.queue.peek()?;
        self.timer_at(deadline)
    }

    /// `Some(at)` if a timer for `at` is needed (none is armed at or before it); it
    /// is then counted as armed.
    #[must_use]
    pub fn timer_at(&mut self, at: Instant) -> Option<Instant> {
        match self.armed {
            Some(armed) if armed <= at => None,
            _ => {
                self.armed = Some(at);
                Some(at)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(n: i64) -> ReservationId {
        ReservationId::parse(n).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn one_timer_for_holds_in_deadline_order() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut expiries = Expiries::default();
        assert_eq!(expiries.push(t0 + 10 * s, id(1)), Some(t0 + 10 * s));
        assert_eq!(expiries.push(t0 + 11 * s, id(2)), None, "a later deadline");
        assert_eq!(expiries.push(t0 + 12 * s, id(3)), None);
        assert_eq!(expiries.pop_due(t0 + 9 * s), None, "nothing due yet");

        expiries.fired(t0 + 10 * s);
        assert_eq!(expiries.pop_due(t0 + 11 * s), Some(id(1)));
        assert_eq!(expiries.pop_due(t0 + 11 * s), Some(id(2)));
        assert_eq!(expiries.pop_due(t0 + 11 * s), None);
        assert_eq!(expiries.next_timer(), Some(t0 + 12 * s));
        assert_eq!(expiries.next_timer(), None, "already armed");
    }

    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_or_a_retry_arms_again() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut expiries = Expiries::default();
        assert!(expiries.push(t0 + 10 * s, id(1)).is_some());
        // Restored holds come in any order.
        assert_eq!(expiries.push(t0 + 5 * s, id(2)), Some(t0 + 5 * s));
        expiries.fired(t0 + 10 * s); // Not the armed one: nothing changes.
        assert_eq!(expiries.next_timer(), None);

        expiries.fired(t0 + 5 * s);
        assert_eq!(expiries.pop_due(t0 + 5 * s), Some(id(2)));
        // Its write failed: back in the queue, due again at the retry.
        assert_eq!(expiries.retry(id(2), t0 + 6 * s), Some(t0 + 6 * s));
        assert_eq!(expiries.next_timer(), None);
        expiries.fired(t0 + 6 * s);
        assert_eq!(expiries.pop_due(t0 + 6 * s), Some(id(2)));
        assert_eq!(expiries.next_timer(), Some(t0 + 10 * s));
    }
}
