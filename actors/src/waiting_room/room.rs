//! The waiting room's state machine: who holds which token, who waits where,
//! who is admitted until when. Pure: the actor around it does the I/O and timers,
//! and passes the time in, so every rule here is testable without a runtime.
//!
//! Why one file of ~850 lines (its unit tests are the last ~270): the room is one state
//! machine whose rules (join, poll, draw, admit, evict, end) are read together; the
//! line's order statistics are in `line.rs`, the settings and phases in `schedule.rs`,
//! the recent admissions in `pace.rs` and what polls read in `published.rs`.
//!
//! A room with a schedule has a pre-queue: until it draws, its tokens wait with no
//! place (polls answer none) and nobody is admitted; the draw puts the waiters then in
//! line in the drawn order, and from then on the line is FIFO.
//!
//! Memory is the constraint at a million waiting tokens: each waiter is stored
//! once, in the [`Line`], and the two indexes over it (by token, by user) are
//! `hashbrown::HashTable`s of bare slot numbers that hash and compare through
//! the line, so neither copies a token or a user id. Admitted tokens (at most
//! max-active) live in an ordinary map.
//!
//! Polls read the room without the actor (see `published.rs`): the methods a poll
//! needs ([`Room::poll`], [`Room::identify`]) take `&self`, and the one thing a poll
//! changes, a waiter's last-seen second, is an atomic.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::changes::{ChangeLog, LineChange, WaiterStage as Stage, whole_picture};
use super::line::{Line, Slot};
use super::pace::Pace;
use super::schedule::{RoomSettings, Totals};
use super::status::{Counts, RoomStatus};
use crate::domain::{QueueToken, RoomId, UserId};
use crate::store::{TokenRow, TokenState};

/// The engine-wide rules of admission, the same in every room. Each room's own
/// limits, schedule and pause are its [`RoomSettings`].
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Most tokens admitted at once, for a room whose settings do not say (the site
    /// room's first row, a schedule without `maxActive`).
    pub max_active: usize,
    /// How long an admitted token may act.
    pub active_ttl: Duration,
    /// A waiting token unpolled this long loses its place.
    pub waiting_idle: Duration,
    /// An admitted token that makes no request this long loses its admission.
    pub admitted_idle: Duration,
    /// Ended tokens' rows are deleted this long after they ended.
    pub token_retention: Duration,
    /// At most this many admissions per second, if set, for a room whose settings
    /// do not say (as `max_active`).
    pub admission_rate_per_sec: Option<NonZeroU32>,
}

impl RoomConfig {
    /// The default limits: (max-active, admission rate).
    pub fn default_limits(&self) -> (u32, Option<NonZeroU32>) {
        let max_active = u32::try_from(self.max_active).unwrap_or(u32::MAX).max(1);
        (max_active, self.admission_rate_per_sec)
    }
}


/// What a token is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveStatus {
    /// In line.
    Waiting,
    /// Admitted: may hold and pay.
    Admitted,
}

/// A live token and its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The token's user.
    pub user_id: UserId,
    /// Waiting or admitted.
    pub status: LiveStatus,
}

/// The answer to a queue poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The token.
    pub token: QueueToken,
    /// Its user.
    pub user_id: UserId,
    /// 1-based place among waiting tokens; 0 once admitted; `None` in the pre-queue
    /// (before the room draws, nobody has a place).
    pub position: Option<usize>,
    /// When the room opens (and draws), while the token is in its pre-queue.
    pub opens_at: Option<DateTime<Utc>>,
    /// The room the token waits in.
    pub room: RoomId,
    /// True once admitted.
    pub admitted: bool,
    /// Seconds until admission at the recent admission rate; `None` when unknown.
    pub estimated_wait_seconds: Option<u64>,
}

/// A waiting token, stored once, in its slot of the line.
#[derive(Debug)]
struct Waiter {
    token: QueueToken,
    user_id: UserId,
    /// Whole seconds since the room's epoch, rounded up: eviction may come up to a
    /// second late, never early, and the field takes 4 bytes instead of 16. Atomic,
    /// because polls record themselves under the published room's read lock.
    last_seen_secs: AtomicU32,
    stage: Stage,
}

impl Waiter {
    /// Records a poll at `seen` (seconds since the epoch); never moves back.
    fn seen_at(&self, seen: u32) {
        self.last_seen_secs.fetch_max(seen, Ordering::Relaxed);
    }

    fn last_seen(&self) -> u32 {
        self.last_seen_secs.load(Ordering::Relaxed)
    }
}

/// An admitted token.
#[derive(Debug)]
struct Admission {
    user_id: UserId,
    until: Instant,
}

/// Every live token, the line, and the admitted set.
pub struct Room {
    config: RoomConfig,
    /// The room's own limits, schedule and pause, as stored.
    settings: RoomSettings,
    /// As stored: each write that admits or evicts adds to its room's counters.
    totals: Totals,
    /// The zero of `Waiter::last_seen_secs`.
    epoch: Instant,
    line: Line<Waiter>,
    /// Slots of waiting tokens, found by token.
    by_token: HashTable<Slot>,
    /// Slots of waiting tokens, found by user.
    by_user: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    admitted: HashMap<QueueToken, Admission>,
    admitted_users: HashMap<UserId, QueueToken>,
    next_seq: i64,
    pace: Pace,
    /// The changes recorded for the line's replicas, if anyone replicates it
    /// (`changes.rs`).
    log: Option<ChangeLog>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("waiting", &self.line.len())
            .field("admitted", &self.admitted.len())
            .field("next_seq", &self.next_seq)
            .field("settings", &self.settings)
            .finish()
    }
}

impl Room {
    /// A room rebuilt from its settings and its live tokens (in `seq` order: join
    /// order before the draw, drawn order after it) at `now`. Waiting tokens get a
    /// fresh idle allowance, since polls are not persisted. Returns the room and the
    /// admitted tokens whose time ran out while down.
    pub fn restore(
        config: RoomConfig,
        (settings, totals): (RoomSettings, Totals),
        live: Vec<TokenRow>,
        max_seq: i64,
        now: Instant,
        admitted_until: impl Fn(&TokenRow) -> Instant,
    ) -> (Self, Vec<QueueToken>) {
        let mut room = Self {
            config,
            settings,
            totals,
            epoch: now,
            line: Line::new(),
            by_token: HashTable::with_capacity(live.len()),
            by_user: HashTable::with_capacity(live.len()),
            hasher: DefaultHashBuilder::default(),
            admitted: HashMap::new(),
            admitted_users: HashMap::new(),
            next_seq: max_seq + 1,
            pace: Pace::default(),
            log: None,
        };
        let mut overdue = Vec::new();
        for row in live {
            match row.state {
                // Straight in as waiting (no join then confirm: one lookup less per
                // token, a million of them at a restart).
                TokenState::Waiting => room.push_restored(row.token, row.user_id, Stage::Waiting, now),
                TokenState::Admitted => {
                    let until = admitted_until(&row);
                    if until <= now {
                        overdue.push(row.token);
                    } else {
                        room.admitted_users.insert(row.user_id.clone(), row.token);
                        let user_id = row.user_id;
                        room.admitted
                            .insert(row.token, Admission { user_id, until });
                    }
                }
                TokenState::Expired | TokenState::Evicted => {}
            }
        }
        (room, overdue)
    }

    /// The `seq` for the next token issued; never reused, even if its write fails.
    pub fn take_seq(&mut self) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// The room's settings, as stored.
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }

    /// The room's counters, as stored.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Takes settings already stored (a schedule, a pause, a re-rate). A lowered
    /// max-active ends no admission: those past it are honoured until they end.
    pub fn set_settings(&mut self, settings: RoomSettings) {
        debug_assert_eq!(settings.room, self.settings.room, "one room's settings");
        self.record(|| LineChange::Settings {
            settings: settings.clone(),
        });
        self.settings = settings;
    }

    /// The room's status at `now` (`now_utc` on the wall clock).
    pub fn status(&self, now: Instant, now_utc: DateTime<Utc>) -> RoomStatus {
        let counts = Counts {
            waiting: self.line.len(),
            admitted: self.admitted.len(),
            admitted_total: self.totals.admitted,
            evicted_total: self.totals.evicted,
            admissions_per_second: self.pace.per_second(now),
        };
        RoomStatus::new(&self.settings, counts, now_utc)
    }

    /// True if the token is this room's at all: in line at any stage (joining,
    /// waiting, leaving) or admitted (even past its time, until its end is stored).
    pub fn holds(&self, token: QueueToken) -> bool {
        self.admitted.contains_key(&token) || self.slot_of(token).is_some()
    }

    /// The pre-queue to draw: every stored waiter, in line order. (Before the draw
    /// the whole line is the pre-queue; the actor lets joining tokens' writes
    /// finish first.)
    pub fn pre_queue(&self) -> Vec<QueueToken> {
        self.line
            .iter()
            .filter(|(_, waiter)| waiter.stage == Stage::Waiting)
            .map(|(_, waiter)| waiter.token)
            .collect()
    }

    /// Takes a stored draw made at `at`: the `drawn` tokens (the pre-queue, in drawn
    /// order) go to the front of the line in that order, the rest (tokens that
    /// joined since) stay behind them in their order, and the room is open.
    /// O(n): the line and its indexes are rebuilt once.
    pub fn apply_draw(&mut self, drawn: &[QueueToken], at: DateTime<Utc>) {
        let mut rest = Vec::with_capacity(self.line.len().saturating_sub(drawn.len()));
        let mut by_token = HashMap::with_capacity(drawn.len());
        let drawn_set: std::collections::HashSet<QueueToken> = drawn.iter().copied().collect();
        for waiter in std::mem::take(&mut self.line).into_waiters() {
            if drawn_set.contains(&waiter.token) {
                by_token.insert(waiter.token, waiter);
            } else {
                rest.push(waiter);
            }
        }
        self.by_token.clear();
        self.by_user.clear();
        let in_order = drawn.iter().filter_map(|token| by_token.remove(token));
        for waiter in in_order.chain(rest) {
            self.push_waiter(waiter);
        }
        self.settings.drawn_at = Some(at);
        // The whole line moved: its replicas get it whole.
        if let Some(log) = &mut self.log {
            log.want_whole();
        }
    }

    /// Waiting tokens (joining ones included).
    pub fn waiting(&self) -> usize {
        self.line.len()
    }

    /// Admitted tokens.
    pub fn admitted(&self) -> usize {
        self.admitted.len()
    }

    /// The user's live token, if any.
    pub fn live_token_of(&self, user: &UserId) -> Option<QueueToken> {
        if let Some(token) = self.admitted_users.get(user) {
            return Some(*token);
        }
        let slot = self.slot_of_user(user)?;
        self.line.get(slot).map(|waiter| waiter.token)
    }

    /// The user and status of a live (stored) token.
    pub fn identify(&self, token: QueueToken) -> Option<Identity> {
        if let Some(admission) = self.admitted.get(&token) {
            return Some(Identity {
                user_id: admission.user_id.clone(),
                status: LiveStatus::Admitted,
            });
        }
        let waiter = self.waiter(token)?;
        (waiter.stage == Stage::Waiting).then(|| Identity {
            user_id: waiter.user_id.clone(),
            status: LiveStatus::Waiting,
        })
    }

    /// True while the token's row is being written.
    pub fn is_joining(&self, token: QueueToken) -> bool {
        self.waiter(token)
            .is_some_and(|waiter| waiter.stage == Stage::Joining)
    }

    /// A poll: the token's ticket if it is live and stored, and, for a waiting token,
    /// the record that it was asked about, which keeps it in line. One hash lookup:
    /// at a million waiters each one is a cache miss. `None` for a token that is
    /// joining or leaving, too: the actor answers those once their write is decided.
    pub fn poll(&self, token: QueueToken, now: Instant) -> Option<Ticket> {
        if self.admitted.contains_key(&token) {
            return self.ticket(token, now);
        }
        let slot = self.slot_of(token)?;
        let waiter = self.line.get(slot)?;
        if waiter.stage == Stage::Waiting {
            waiter.seen_at(self.secs_since_epoch(now));
        }
        self.waiting_ticket(token, slot, now)
    }

    /// Records that the token was asked about, which keeps a waiting token in line.
    pub fn touch(&self, token: QueueToken, now: Instant) {
        if let Some(waiter) = self.waiter(token) {
            waiter.seen_at(self.secs_since_epoch(now));
        }
    }

    /// What a poll of this token answers, if it is live (and stored).
    pub fn ticket(&self, token: QueueToken, now: Instant) -> Option<Ticket> {
        if let Some(admission) = self.admitted.get(&token) {
            return Some(Ticket {
                token,
                user_id: admission.user_id.clone(),
                position: Some(0),
                opens_at: None,
                room: self.settings.room,
                admitted: true,
                estimated_wait_seconds: Some(0),
            });
        }
        self.waiting_ticket(token, self.slot_of(token)?, now)
    }

    /// The ticket of the waiting token in `slot`; `None` while its row is being
    /// written (joining or leaving).
    fn waiting_ticket(&self, token: QueueToken, slot: Slot, now: Instant) -> Option<Ticket> {
        let waiter = self.line.get(slot)?;
        if waiter.stage != Stage::Waiting {
            return None;
        }
        let user_id = waiter.user_id.clone();
        let room = self.settings.room;
        if !self.settings.is_open() {
            return Some(Ticket {
                token,
                user_id,
                position: None,
                opens_at: self.settings.opens_at,
                room,
                admitted: false,
                estimated_wait_seconds: None,
            });
        }
        let position = self.line.position(slot)?;
        Some(Ticket {
            token,
            user_id,
            position: Some(position),
            opens_at: None,
            room,
            admitted: false,
            estimated_wait_seconds: self.pace.estimate_wait_seconds(position, now),
        })
    }

    /// Puts a newly issued token at the back of the line while its row is written.
    /// Its place is taken now, so tokens issued later stand behind it whichever
    /// write commits first.
    pub fn join(&mut self, token: QueueToken, user_id: UserId) {
        debug_assert!(
            self.live_token_of(&user_id).is_none(),
            "one live token per user"
        );
        self.record(|| LineChange::Joined {
            token,
            user_id: user_id.clone(),
        });
        self.push_waiter(Waiter {
            token,
            user_id,
            last_seen_secs: AtomicU32::new(0),
            stage: Stage::Joining,
        });
    }

    /// Puts a waiter at the back of the line and in both indexes.
    fn push_waiter(&mut self, waiter: Waiter) {
        let token_hash = self.hasher.hash_one(waiter.token);
        let user_hash = self.hasher.hash_one(&waiter.user_id);
        let slot = self.line.push(waiter);
        let (line, hasher) = (&self.line, &self.hasher);
        self.by_token.insert_unique(token_hash, slot, |s| {
            hasher.hash_one(line.get(*s).expect("indexed slots are occupied").token)
        });
        self.by_user.insert_unique(user_hash, slot, |s| {
            hasher.hash_one(&line.get(*s).expect("indexed slots are occupied").user_id)
        });
    }

    /// The joining token's row is committed: it waits like any other.
    pub fn confirm(&mut self, token: QueueToken, now: Instant) {
        let seen = self.secs_since_epoch(now);
        if let Some(slot) = self.slot_of(token)
            && let Some(waiter) = self.line.get_mut(slot)
        {
            waiter.stage = Stage::Waiting;
            *waiter.last_seen_secs.get_mut() = seen;
            self.record(|| LineChange::Confirmed { token });
        }
    }

    /// The joining token's row could not be written: it never existed. The tokens
    /// behind it move up (positions only shrink).
    pub fn abandon(&mut self, token: QueueToken) {
        if self.is_joining(token) {
            self.take_waiter(token);
            self.record(|| LineChange::Abandoned { token });
        }
    }

    /// The waiting tokens that may be admitted now, front first: as many as there
    /// are free places, within the rate cap, and none past a token still joining
    /// (admission is strictly in line order).
    pub fn admission_candidates(&self, now: Instant) -> Vec<QueueToken> {
        self.line
            .iter()
            .take_while(|(_, waiter)| waiter.stage == Stage::Waiting)
            .take(self.free_places(now))
            .map(|(_, waiter)| waiter.token)
            .collect()
    }

    /// How many tokens could be admitted now: free places, within the rate cap;
    /// none before the draw or while paused.
    pub fn free_places(&self, now: Instant) -> usize {
        if self.settings.paused || !self.settings.is_open() {
            return 0;
        }
        let free = self.max_active().saturating_sub(self.admitted.len());
        let budget = match self.settings.admission_rate {
            Some(rate) => {
                let in_last_second = self.pace.within(now, Duration::from_secs(1));
                u64::from(rate.get()).saturating_sub(in_last_second) as usize
            }
            None => usize::MAX,
        };
        free.min(budget)
    }

    /// When the rate cap next allows an admission, if it is what holds waiters back.
    pub fn rate_cap_reopens_at(&self) -> Option<Instant> {
        let rate = self.settings.admission_rate?;
        if self.settings.paused
            || !self.settings.is_open()
            || self.line.is_empty()
            || self.admitted.len() >= self.max_active()
        {
            return None;
        }
        self.pace.reopens_at(rate)
    }

    fn max_active(&self) -> usize {
        self.settings.max_active as usize
    }

    /// Moves (already stored) admissions from the line to the admitted set.
    pub fn admit(&mut self, tokens: &[QueueToken], now: Instant) {
        self.admit_waiters(tokens, now);
        // A restart may bring back more admissions than a lowered max-active allows;
        // they are honoured until they end, but no admission is ever added past the cap.
        assert!(
            tokens.is_empty() || self.admitted.len() <= self.max_active(),
            "admitted tokens exceed max-active"
        );
    }

    /// Moves admissions from the line to the admitted set (no cap checked: a
    /// replica takes what its owner did).
    pub(super) fn admit_waiters(&mut self, tokens: &[QueueToken], now: Instant) {
        let mut admitted = Vec::with_capacity(tokens.len());
        for token in tokens {
            let Some(waiter) = self.take_waiter(*token) else {
                continue;
            };
            admitted.push(waiter.token);
            self.admit_user(waiter.token, waiter.user_id, now);
        }
        self.pace.record(now, admitted.len());
        self.totals.admitted += admitted.len() as u64;
        if let Some(log) = &mut self.log {
            log.push_tokens(&admitted, |tokens| LineChange::Admitted { tokens });
        }
    }

    /// An admission, from `now` for the active TTL.
    pub(super) fn admit_user(&mut self, token: QueueToken, user_id: UserId, now: Instant) {
        let until = now + self.config.active_ttl;
        self.admitted_users.insert(user_id.clone(), token);
        self.admitted.insert(token, Admission { user_id, until });
    }

    /// True if the token is admitted and its time is up at `now`.
    pub fn admission_is_over(&self, token: QueueToken, now: Instant) -> bool {
        self.admitted.get(&token).is_some_and(|a| a.until <= now)
    }

    /// True if the token is admitted.
    pub fn is_admitted(&self, token: QueueToken) -> bool {
        self.admitted.contains_key(&token)
    }

    /// Forgets an admitted token whose (already stored) admission ended.
    pub fn end_admission(&mut self, token: QueueToken) {
        if let Some(admission) = self.admitted.remove(&token) {
            self.admitted_users.remove(&admission.user_id);
            self.record(|| LineChange::AdmissionEnded { token });
        }
    }

    /// Waiting tokens not asked about for the idle time, front first, at most `limit`.
    /// A read: it scans the line while polls go on; [`Room::start_leaving`] then
    /// takes those that are still idle.
    pub fn idle_waiting(&self, now: Instant, limit: usize) -> Vec<QueueToken> {
        self.line
            .iter()
            .filter(|(_, waiter)| self.is_idle(waiter, now))
            .map(|(_, waiter)| waiter.token)
            .take(limit)
            .collect()
    }

    fn is_idle(&self, waiter: &Waiter, now: Instant) -> bool {
        let idle_secs = self.config.waiting_idle.as_secs_f64().ceil() as u32;
        waiter.stage == Stage::Waiting
            && self
                .secs_since_epoch(now)
                .saturating_sub(waiter.last_seen())
                >= idle_secs
    }

    /// Of `tokens`, those still idle at `now` start leaving: from here on a poll
    /// does not answer them (it waits for the actor), so none is told it waits while
    /// its eviction is written. Returns them; the others were polled meanwhile.
    pub fn start_leaving(&mut self, tokens: &[QueueToken], now: Instant) -> Vec<QueueToken> {
        let idle: Vec<QueueToken> = tokens
            .iter()
            .copied()
            .filter(|token| self.waiter(*token).is_some_and(|w| self.is_idle(w, now)))
            .collect();
        self.mark_leaving(&idle);
        idle
    }

    /// These waiters start leaving (their eviction is being written).
    pub(super) fn mark_leaving(&mut self, tokens: &[QueueToken]) {
        for token in tokens {
            if let Some(slot) = self.slot_of(*token)
                && let Some(waiter) = self.line.get_mut(slot)
            {
                waiter.stage = Stage::Leaving;
            }
        }
        if let Some(log) = &mut self.log {
            log.push_tokens(tokens, |tokens| LineChange::Leaving { tokens });
        }
    }

    /// The eviction of these leaving tokens was not stored: they wait again.
    pub fn stay(&mut self, tokens: &[QueueToken]) {
        for token in tokens {
            if let Some(slot) = self.slot_of(*token)
                && let Some(waiter) = self.line.get_mut(slot)
                && waiter.stage == Stage::Leaving
            {
                waiter.stage = Stage::Waiting;
            }
        }
        if let Some(log) = &mut self.log {
            log.push_tokens(tokens, |tokens| LineChange::Stayed { tokens });
        }
    }

    /// Forgets leaving tokens whose eviction is stored (and counts them, as the
    /// store did in the same write).
    pub fn evict(&mut self, tokens: &[QueueToken]) {
        for token in tokens {
            if self
                .waiter(*token)
                .is_some_and(|waiter| waiter.stage == Stage::Leaving)
            {
                self.take_waiter(*token);
                self.totals.evicted += 1;
            }
        }
        if let Some(log) = &mut self.log {
            log.push_tokens(tokens, |tokens| LineChange::Evicted { tokens });
        }
    }

    /// Every admitted token, its user and the end of its admission.
    pub fn admissions(&self) -> impl Iterator<Item = (QueueToken, UserId, Instant)> + '_ {
        self.admitted
            .iter()
            .map(|(token, a)| (*token, a.user_id.clone(), a.until))
    }

    /// Every admitted token and when its admission ends.
    pub fn admitted_deadlines(&self) -> impl Iterator<Item = (QueueToken, Instant)> + '_ {
        self.admitted.iter().map(|(token, a)| (*token, a.until))
    }

    /// From now on, records every change for the line's replicas; the first batch
    /// is a whole picture.
    pub fn record_changes(&mut self) {
        self.log = Some(ChangeLog::starting());
    }

    /// The next batch of changes is a whole picture (a batch was lost, or a replica
    /// asked for one). Nothing if no change is recorded.
    pub fn want_whole_picture(&mut self) {
        if let Some(log) = &mut self.log {
            log.want_whole();
        }
    }

    /// The changes recorded since the last call (a whole picture if one is due);
    /// nothing if no change is recorded.
    pub fn take_changes(&mut self) -> Vec<LineChange> {
        let Some(log) = &mut self.log else {
            return Vec::new();
        };
        if let Some(changes) = log.take() {
            return changes;
        }
        let waiters = self
            .line
            .iter()
            .map(|(_, w)| (w.token, w.user_id.clone(), w.stage));
        let admissions = self.admissions().map(|(token, user, _)| (token, user));
        whole_picture(&self.settings, self.totals, waiters, admissions)
    }

    /// An empty room with these settings: a replica's, after a whole picture's reset.
    pub(super) fn empty(config: RoomConfig, settings: RoomSettings, totals: Totals, now: Instant) -> Self {
        Self::restore(config, (settings, totals), Vec::new(), 0, now, |_| now).0
    }

    /// Puts a waiter of a whole picture at the back, in its stage (a replica's).
    pub(super) fn push_restored(&mut self, token: QueueToken, user_id: UserId, stage: Stage, now: Instant) {
        let seen = self.secs_since_epoch(now);
        self.push_waiter(Waiter {
            token,
            user_id,
            last_seen_secs: AtomicU32::new(seen),
            stage,
        });
    }

    fn record(&mut self, change: impl FnOnce() -> LineChange) {
        if let Some(log) = &mut self.log {
            log.push(change());
        }
    }

    /// Seconds since the epoch, rounded up (see `Waiter::last_seen_secs`).
    fn secs_since_epoch(&self, now: Instant) -> u32 {
        let since = now.saturating_duration_since(self.epoch);
        u32::try_from(since.as_secs() + u64::from(since.subsec_nanos() > 0)).unwrap_or(u32::MAX)
    }

    fn slot_of(&self, token: QueueToken) -> Option<Slot> {
        let line = &self.line;
        self.by_token
            .find(self.hasher.hash_one(token), |s| {
                line.get(*s).is_some_and(|w| w.token == token)
            })
            .copied()
    }

    fn slot_of_user(&self, user: &UserId) -> Option<Slot> {
        let line = &self.line;
        self.by_user
            .find(self.hasher.hash_one(user), |s| {
                line.get(*s).is_some_and(|w| w.user_id == *user)
            })
            .copied()
    }

    fn waiter(&self, token: QueueToken) -> Option<&Waiter> {
        self.line.get(self.slot_of(token)?)
    }

    /// Takes a waiting token out of the line and both indexes.
    fn take_waiter(&mut self, token: QueueToken) -> Option<Waiter> {
        let slot = self.slot_of(token)?;
        let user_hash = self.hasher.hash_one(&self.line.get(slot)?.user_id);
        if let Ok(entry) = self
            .by_token
            .find_entry(self.hasher.hash_one(token), |s| *s == slot)
        {
            entry.remove();
        }
        if let Ok(entry) = self.by_user.find_entry(user_hash, |s| *s == slot) {
            entry.remove();
        }
        self.line.remove(slot)
    }
}

// The room's unit tests are a file of their own (they outgrew this one).
#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;
