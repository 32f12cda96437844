//! Issuing tokens: a join takes its place in line at once, its row joins the next
//! batch write, and its answer goes out when that write reports back (pipelined:
//! at most [`TOKEN_WRITES_IN_FLIGHT`] writes at a time, each of up to
//! [`TOKENS_PER_WRITE`] rows).

use ractor::ActorRef;
use tokio::time::Instant;

use super::writes::write_batch;
use super::{
    TOKEN_WRITES_IN_FLIGHT, TOKENS_PER_WRITE, Ticket, WaitingRoom, WaitingRoomMsg,
    WaitingRoomState,
};
use crate::domain::{QueueToken, UserId};
use crate::error::EngineError;
use crate::mailbox::Reply;
use crate::store::{StoreError, TokenRow, TokenState};

impl WaitingRoom {
    /// Answers with the user's live token, or issues a new one: its place is taken
    /// now, its row written with the next batch, its answer sent when that reports.
    pub(super) fn join(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        user_id: UserId,
        reply: Reply<Ticket>,
    ) {
        let now = self.clock.now();
        let live = self.room().read().live_token_of(&user_id);
        if let Some(token) = live {
            match state.joining.get_mut(&token) {
                Some(waiting) => waiting.push(reply),
                None => {
                    let room = self.room().read();
                    room.touch(token, now);
                    self.published.touch_admission(token, now);
                    reply.send(room.ticket(token, now).ok_or(EngineError::ActorFailed));
                }
            }
            return;
        }
        let token = QueueToken::generate();
        let seq = {
            let mut room = self.room().write();
            room.join(token, user_id.clone());
            room.take_seq()
        };
        let row = TokenRow {
            token,
            user_id,
            room: self.room,
            seq,
            state: TokenState::Waiting,
            issued_at: self.clock.utc_at(now),
            admitted_at: None,
        };
        state.joining.insert(token, vec![reply]);
        state.unwritten.push(row);
        self.write_tokens(myself, state);
    }

    /// Starts writes of the unwritten rows while fewer than
    /// [`TOKEN_WRITES_IN_FLIGHT`] run: each a task of its own that reports back
    /// with [`WaitingRoomMsg::Stored`].
    /// None start while a draw waits for the writes in flight (see `opening.rs`).
    pub(super) fn write_tokens(&self, myself: &ActorRef<WaitingRoomMsg>, state: &mut WaitingRoomState) {
        while state.token_writes < TOKEN_WRITES_IN_FLIGHT
            && !state.unwritten.is_empty()
            && !state.draw_pending
        {
            let take = state.unwritten.len().min(TOKENS_PER_WRITE);
            let rows: Vec<TokenRow> = state.unwritten.drain(..take).collect();
            state.token_writes += 1;
            let (store, myself) = (self.store.clone(), myself.clone());
            tokio::spawn(async move {
                let outcomes = write_batch(&*store, &rows).await;
                let stored = rows.iter().map(|row| row.token).zip(outcomes).collect();
                // If the actor died meanwhile, the rows (if written) are restored on restart.
                let _ = myself.cast(WaitingRoomMsg::Stored(stored));
            });
        }
    }

    /// A joining token's write reported back: answer its users, after admitting it
    /// if a place is free (one `Admit`, queued behind other joins, admits them all).
    pub(super) fn stored(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        token: QueueToken,
        result: Result<(), StoreError>,
        now: Instant,
    ) {
        match result {
            Ok(()) => {
                let free_places = {
                    let mut room = self.room().write();
                    room.confirm(token, now);
                    room.free_places(now)
                };
                if free_places > 0 {
                    state.to_answer.push(token);
                    if !state.admit_queued {
                        state.admit_queued = myself.cast(WaitingRoomMsg::Admit).is_ok();
                    }
                } else {
                    self.wake_when_rate_cap_reopens(myself, state, now);
                    self.answer(state, token, now);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "token not stored");
                self.room().write().abandon(token);
                self.published.moved();
                for reply in state.joining.remove(&token).unwrap_or_default() {
                    reply.send(Err(error.clone().into()));
                }
            }
        }
    }

    /// Sends a stored token's ticket to everyone who asked for it while it joined.
    pub(super) fn answer(&self, state: &mut WaitingRoomState, token: QueueToken, now: Instant) {
        let ticket = self.room().read().ticket(token, now);
        for reply in state.joining.remove(&token).unwrap_or_default() {
            reply.send(ticket.clone().ok_or(EngineError::ActorFailed));
        }
    }
}
