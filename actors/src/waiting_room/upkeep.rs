//! The WaitingRoom's upkeep, on its timers: idle waiters evicted, idle admissions
//! ended (each write-through, the next in line admitted), and ended tokens pruned
//! once past their retention, in bounded batches.

use std::time::Duration;

use ractor::ActorRef;
use tokio::time::Instant;

use super::{WaitingRoom, WaitingRoomMsg, WaitingRoomState};
use crate::store::TokenState;

/// How many idle tokens one sweep evicts at most (one store write).
pub(super) const EVICTIONS_PER_SWEEP: usize = 10_000;
/// How many ended tokens' rows one prune deletes at most (one bounded `DELETE`);
/// a full batch is followed by another, queued behind the messages waiting.
const PRUNED_PER_BATCH: u32 = 1_000;

impl WaitingRoom {
    /// Evicts idle waiters: found with a read (polls go on meanwhile), then those
    /// still idle start leaving, so that no poll answers them while the eviction is
    /// written.
    pub(super) async fn sweep(&self, now: Instant) {
        let idle = self.room().read().idle_waiting(now, EVICTIONS_PER_SWEEP);
        if idle.is_empty() {
            return;
        }
        let leaving = self.room().write().start_leaving(&idle, now);
        if leaving.is_empty() {
            return;
        }
        match self
            .store
            .end_tokens(self.room, &leaving, TokenState::Evicted, self.clock.utc_at(now))
            .await
        {
            Ok(()) => {
                tracing::debug!(evicted = leaving.len(), "idle waiters evicted");
                self.room().write().evict(&leaving);
                self.published.moved();
            }
            Err(error) => {
                tracing::warn!(%error, "eviction not stored; next sweep retries");
                self.room().write().stay(&leaving);
                self.published.moved();
            }
        }
    }

    /// Ends the admissions whose tokens made no request for the admitted-idle time,
    /// in one store write, and admits as many waiters. They are marked ending first
    /// (no request gets through meanwhile); if the write fails they stay so, and the
    /// next sweep, or the actor asked about one of them, writes the end again.
    pub(super) async fn end_idle_admissions(
        &self,
        myself: &ActorRef<WaitingRoomMsg>,
        state: &mut WaitingRoomState,
        now: Instant,
    ) {
        let idle = self
            .published
            .claim_idle_admissions(now, EVICTIONS_PER_SWEEP);
        if idle.is_empty() {
            return;
        }
        let at = self.clock.utc_at(now);
        if let Err(error) = self.store.end_tokens(self.room, &idle, TokenState::Expired, at).await {
            tracing::warn!(%error, "idle admissions' end not stored; next sweep retries");
            return;
        }
        tracing::debug!(ended = idle.len(), "idle admissions ended");
        {
            let mut room = self.room().write();
            for token in &idle {
                room.end_admission(*token);
            }
        }
        for token in &idle {
            self.published.withdraw_admission(*token);
        }
        self.published.moved();
        self.admit_ready(myself, state).await;
    }

    /// Deletes one batch of ended tokens past their retention; another follows at
    /// once (behind the messages already queued) while batches come back full.
    pub(super) async fn prune(&self, myself: &ActorRef<WaitingRoomMsg>, now: Instant) {
        let retention = chrono::Duration::from_std(self.config.token_retention)
            .unwrap_or(chrono::Duration::MAX);
        let Some(ended_before) = self.clock.utc_at(now).checked_sub_signed(retention) else {
            return;
        };
        match self.store.prune_tokens(ended_before, PRUNED_PER_BATCH).await {
            Ok(pruned) => {
                tracing::debug!(pruned, "ended tokens pruned");
                if pruned == u64::from(PRUNED_PER_BATCH) {
                    let _ = myself.cast(WaitingRoomMsg::Prune);
                }
            }
            Err(error) => tracing::warn!(%error, "ended tokens not pruned; next prune retries"),
        }
    }
}

/// How often idle tokens are looked for: a quarter of the idle time, within 1 s to 15 s.
pub(super) fn sweep_period(idle: Duration) -> Duration {
    (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
}

/// How often ended tokens past their retention are pruned: a 24th of it, within
/// 1 s to 1 h (so rows outlive their retention by at most that, and a day's worth
/// of ended tokens is deleted in 24 rounds of batches rather than all at once).
pub(super) fn prune_period(retention: Duration) -> Duration {
    (retention / 24).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}
