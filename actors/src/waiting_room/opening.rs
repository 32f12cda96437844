//! The room's opening: at `opens_at` (a timer; at once at start if it has passed)
//! the pre-queue is drawn and the room opens.
//!
//! The draw takes every stored waiter at that moment (the whole line is the
//! pre-queue), so a token whose row is still being written when the timer fires is
//! waited for: new writes hold until those report back, and then the draw is made.
//! The drawn order is written as new seqs (after every seq issued so far) with the
//! room's `drawn_at`, in one transaction, before anyone is told a place or admitted;
//! a restart then rebuilds the line in the drawn order. Rows not yet written when
//! the draw is stored joined after it: they are numbered after the drawn ones.

use chrono::{DateTime, Utc};
use ractor::ActorRef;
use tokio::time::Instant;

use super::{RETRY_AFTER, WaitingRoom, WaitingRoomMsg, WaitingRoomState, draw};
use crate::domain::QueueToken;

impl WaitingRoom {
    /// Sets a timer for the draw at `opens_at` (at once if it has passed). A timer
    /// left from an earlier schedule finds the draw not due, or made, and does nothing.
    pub(super) fn set_draw_timer(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        opens_at: DateTime<Utc>,
        now: Instant,
    ) {
        let at = self.clock.instant_at(opens_at);
        if at <= now {
            // Straight into the mailbox: drawn before any message sent after this one.
            let _ = myself.cast(WaitingRoomMsg::Open);
        } else {
            myself.send_after(at - now, || WaitingRoomMsg::Open);
        }
    }

    /// Draws the pre-queue if the opening has come and the room has not drawn.
    pub(super) async fn draw(&self, myself: &ActorRef<WaitingRoomMsg>, state: &mut WaitingRoomState) {
        let now = self.clock.now();
        let due = self
            .room()
            .read()
            .settings()
            .draw_due_at()
            .is_some_and(|opens_at| self.clock.instant_at(opens_at) <= now);
        if !due {
            state.draw_pending = false;
            return;
        }
        if state.token_writes > 0 {
            state.draw_pending = true;
            return;
        }
        state.draw_pending = false;
        let drawn = draw::draw(self.room().read().pre_queue());
        let seqs: Vec<(QueueToken, i64)> = {
            let mut room = self.room().write();
            drawn.iter().map(|token| (*token, room.take_seq())).collect()
        };
        let at = self.clock.utc_at(now);
        match self.store.draw_room(self.room, &seqs, at).await {
            Ok(()) => {
                {
                    let mut room = self.room().write();
                    room.apply_draw(&drawn, at);
                    for row in &mut state.unwritten {
                        row.seq = room.take_seq();
                    }
                }
                self.published.moved();
                tracing::info!(room = %self.room, drawn = drawn.len(), "pre-queue drawn; room open");
                self.admit_ready(myself, state).await;
            }
            Err(error) => {
                // Nothing was drawn (all or none); the pre-queue waits, and takes in
                // whoever joins meanwhile.
                tracing::warn!(room = %self.room, %error, "draw not stored; retrying");
                myself.send_after(RETRY_AFTER, || WaitingRoomMsg::Open);
            }
        }
        self.write_tokens(myself, state);
    }
}
