//! The waiting room's state machine: who holds which token, who waits where,
//! who is admitted until when. Pure: the actor around it does the I/O and timers,
//! and passes the time in, so every rule here is testable without a runtime.
//!
//! Why one file of ~740 lines (its unit tests are the last ~170): the room is one state
//! machine whose rules (join, poll, admit, evict, end) are read together; the line's
//! order statistics are in `line.rs` and what polls read in `published.rs`.
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

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use hashbrown::{DefaultHashBuilder, HashTable};

use super::line::{Line, Slot};
use crate::domain::{QueueToken, UserId};
use crate::store::{TokenRow, TokenState};

/// The rules of admission.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// Most tokens admitted at once.
    pub max_active: usize,
    /// How long an admitted token may act.
    pub active_ttl: Duration,
    /// A waiting token unpolled this long loses its place.
    pub waiting_idle: Duration,
    /// An admitted token that makes no request this long loses its admission.
    pub admitted_idle: Duration,
    /// Ended tokens' rows are deleted this long after they ended.
    pub token_retention: Duration,
    /// At most this many admissions per second, if set.
    pub admission_rate_per_sec: Option<NonZeroU32>,
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
    /// 1-based place among waiting tokens; 0 once admitted.
    pub position: usize,
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

/// Where a waiter is in its life; only a `Waiting` one is answered by a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Its row is still being written: it holds its place but is not yet live.
    Joining,
    /// Stored and in line.
    Waiting,
    /// Idle, and its eviction is being written: a poll now must wait for the
    /// actor, which answers it once the eviction is decided.
    Leaving,
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

/// How many recent admissions the wait estimate looks at.
const RECENT_ADMISSIONS: usize = 256;
/// How far back the wait estimate looks.
const ESTIMATE_WINDOW: Duration = Duration::from_secs(300);

/// Every live token, the line, and the admitted set.
pub struct Room {
    config: RoomConfig,
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
    recent_admissions: VecDeque<Instant>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("waiting", &self.line.len())
            .field("admitted", &self.admitted.len())
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

impl Room {
    /// A room rebuilt from the store's live tokens (in `seq` order) at `now`.
    /// Waiting tokens get a fresh idle allowance, since polls are not persisted.
    /// Returns the room and the admitted tokens whose time ran out while down.
    pub fn restore(
        config: RoomConfig,
        live: Vec<TokenRow>,
        max_seq: i64,
        now: Instant,
        admitted_until: impl Fn(&TokenRow) -> Instant,
    ) -> (Self, Vec<QueueToken>) {
        let mut room = Self {
            config,
            epoch: now,
            line: Line::new(),
            by_token: HashTable::with_capacity(live.len()),
            by_user: HashTable::with_capacity(live.len()),
            hasher: DefaultHashBuilder::default(),
            admitted: HashMap::new(),
            admitted_users: HashMap::new(),
            next_seq: max_seq + 1,
            recent_admissions: VecDeque::new(),
        };
        let mut overdue = Vec::new();
        for row in live {
            match row.state {
                TokenState::Waiting => {
                    room.join(row.token, row.user_id);
                    room.confirm(row.token, now);
                }
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
                position: 0,
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
        let position = self.line.position(slot)?;
        Some(Ticket {
            token,
            user_id: waiter.user_id.clone(),
            position,
            admitted: false,
            estimated_wait_seconds: self.estimate_wait_seconds(position, now),
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
        let token_hash = self.hasher.hash_one(token);
        let user_hash = self.hasher.hash_one(&user_id);
        let slot = self.line.push(Waiter {
            token,
            user_id,
            last_seen_secs: AtomicU32::new(0),
            stage: Stage::Joining,
        });
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
        }
    }

    /// The joining token's row could not be written: it never existed. The tokens
    /// behind it move up (positions only shrink).
    pub fn abandon(&mut self, token: QueueToken) {
        if self.is_joining(token) {
            self.take_waiter(token);
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

    /// How many tokens could be admitted now: free places, within the rate cap.
    pub fn free_places(&self, now: Instant) -> usize {
        let free = self.config.max_active.saturating_sub(self.admitted.len());
        let budget = match self.config.admission_rate_per_sec {
            Some(rate) => {
                let second_ago = now.checked_sub(Duration::from_secs(1));
                let in_last_second = self
                    .recent_admissions
                    .iter()
                    .rev()
                    .take_while(|at| second_ago.is_none_or(|s| **at > s))
                    .count();
                (rate.get() as usize).saturating_sub(in_last_second)
            }
            None => usize::MAX,
        };
        free.min(budget)
    }

    /// When the rate cap next allows an admission, if it is what holds waiters back.
    pub fn rate_cap_reopens_at(&self) -> Option<Instant> {
        let rate = self.config.admission_rate_per_sec?;
        if self.line.is_empty() || self.admitted.len() >= self.config.max_active {
            return None;
        }
        let nth_latest = self
            .recent_admissions
            .iter()
            .rev()
            .nth(rate.get() as usize - 1)?;
        Some(*nth_latest + Duration::from_secs(1))
    }

    /// Moves (already stored) admissions from the line to the admitted set.
    pub fn admit(&mut self, tokens: &[QueueToken], now: Instant) {
        for token in tokens {
            let Some(waiter) = self.take_waiter(*token) else {
                continue;
            };
            let until = now + self.config.active_ttl;
            self.admitted_users
                .insert(waiter.user_id.clone(), waiter.token);
            let user_id = waiter.user_id;
            self.admitted
                .insert(waiter.token, Admission { user_id, until });
            self.recent_admissions.push_back(now);
        }
        while self.recent_admissions.len() > RECENT_ADMISSIONS {
            self.recent_admissions.pop_front();
        }
        // A restart may bring back more admissions than a lowered max-active allows;
        // they are honoured until they end, but no admission is ever added past the cap.
        assert!(
            tokens.is_empty() || self.admitted.len() <= self.config.max_active,
            "admitted tokens exceed max-active"
        );
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
        let mut leaving = Vec::with_capacity(tokens.len());
        for token in tokens {
            let Some(slot) = self.slot_of(*token) else {
                continue;
            };
            let idle = self.line.get(slot).is_some_and(|w| self.is_idle(w, now));
            if let (true, Some(waiter)) = (idle, self.line.get_mut(slot)) {
                waiter.stage = Stage::Leaving;
                leaving.push(*token);
            }
        }
        leaving
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
    }

    /// Forgets leaving tokens whose eviction is stored.
    pub fn evict(&mut self, tokens: &[QueueToken]) {
        for token in tokens {
            if self
                .waiter(*token)
                .is_some_and(|waiter| waiter.stage == Stage::Leaving)
            {
                self.take_waiter(*token);
            }
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

    fn estimate_wait_seconds(&self, position: usize, now: Instant) -> Option<u64> {
        // Admissions are recorded in time order: the recent ones are a suffix.
        let window_start = now.checked_sub(ESTIMATE_WINDOW);
        let recent = self
            .recent_admissions
            .iter()
            .rev()
            .take_while(|at| window_start.is_none_or(|start| **at >= start));
        let (count, oldest) = recent.fold((0usize, None), |(n, _), at| (n + 1, Some(*at)));
        let span = now
            .saturating_duration_since(oldest?)
            .max(Duration::from_secs(1));
        let per_second = count as f64 / span.as_secs_f64();
        Some((position as f64 / per_second).ceil() as u64)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn room(max_active: usize) -> Room {
        let config = RoomConfig {
            max_active,
            active_ttl: Duration::from_secs(600),
            waiting_idle: Duration::from_secs(60),
            admitted_idle: Duration::from_secs(120),
            token_retention: Duration::from_secs(7 * 86_400),
            admission_rate_per_sec: None,
        };
        Room::restore(config, Vec::new(), 0, Instant::now(), |_| Instant::now()).0
    }

    fn user(n: usize) -> UserId {
        UserId::parse(&format!("u{n}")).unwrap()
    }

    #[test]
    fn a_joining_token_holds_its_place_but_blocks_admission_behind_it() {
        let mut room = room(5);
        let now = Instant::now();
        let tokens: Vec<_> = (0..3).map(|_| QueueToken::generate()).collect();
        for (n, token) in tokens.iter().enumerate() {
            room.join(*token, user(n));
        }
        room.confirm(tokens[1], now);
        room.confirm(tokens[2], now);
        assert!(
            room.admission_candidates(now).is_empty(),
            "the first is still joining"
        );
        assert_eq!(
            room.ticket(tokens[0], now),
            None,
            "not answered before it is stored"
        );
        assert_eq!(room.ticket(tokens[2], now).unwrap().position, 3);

        room.abandon(tokens[0]);
        assert_eq!(
            room.ticket(tokens[2], now).unwrap().position,
            2,
            "positions shrink"
        );
        assert_eq!(room.live_token_of(&user(0)), None);
        assert_eq!(room.admission_candidates(now), vec![tokens[1], tokens[2]]);
    }

    #[test]
    fn admission_respects_max_active_and_ends_free_places() {
        let mut room = room(2);
        let now = Instant::now();
        let tokens: Vec<_> = (0..4).map(|_| QueueToken::generate()).collect();
        for (n, token) in tokens.iter().enumerate() {
            room.join(*token, user(n));
            room.confirm(*token, now);
        }
        let first = room.admission_candidates(now);
        assert_eq!(first, tokens[..2].to_vec());
        room.admit(&first, now);
        assert_eq!(room.free_places(now), 0);
        assert_eq!(room.ticket(tokens[3], now).unwrap().position, 2);
        room.end_admission(tokens[0]);
        assert_eq!(room.admission_candidates(now), vec![tokens[2]]);
        assert_eq!(
            room.identify(tokens[0]),
            None,
            "an ended admission is no longer live"
        );
    }

    #[test]
    fn the_wait_estimate_follows_the_recent_admission_rate() {
        let mut room = room(100);
        let start = Instant::now();
        let tokens: Vec<_> = (0..15).map(|_| QueueToken::generate()).collect();
        for (n, token) in tokens.iter().enumerate() {
            room.join(*token, user(n));
            room.confirm(*token, start);
        }
        assert_eq!(
            room.ticket(tokens[14], start)
                .unwrap()
                .estimated_wait_seconds,
            None
        );
        // Ten admissions over ten seconds: one a second.
        for (n, token) in tokens.iter().take(10).enumerate() {
            room.admit(&[*token], start + Duration::from_secs(n as u64 + 1));
        }
        let now = start + Duration::from_secs(11);
        let ticket = room.ticket(tokens[14], now).unwrap();
        assert_eq!(ticket.position, 5);
        assert_eq!(ticket.estimated_wait_seconds, Some(5));
        // Long after, the old admissions fall out of the window: unknown again.
        let much_later = now + ESTIMATE_WINDOW + Duration::from_secs(10);
        assert_eq!(
            room.ticket(tokens[14], much_later)
                .unwrap()
                .estimated_wait_seconds,
            None
        );
    }

    /// A room with three stored waiters who joined at `start`, in line order.
    fn three_waiting(start: Instant) -> (Room, Vec<QueueToken>) {
        let mut room = room(0);
        let tokens: Vec<_> = (0..3).map(|_| QueueToken::generate()).collect();
        for (n, token) in tokens.iter().enumerate() {
            room.join(*token, user(n));
            room.confirm(*token, start);
        }
        (room, tokens)
    }

    #[test]
    fn idle_waiters_are_found_front_first_and_polls_keep_them() {
        let start = Instant::now();
        let (mut room, tokens) = three_waiting(start);
        let later = start + Duration::from_secs(61);
        let polled = room.poll(tokens[1], start + Duration::from_secs(30));
        assert_eq!(polled.map(|t| (t.token, t.position)), Some((tokens[1], 2)));
        assert_eq!(room.idle_waiting(later, 10), vec![tokens[0], tokens[2]]);
        let leaving = room.start_leaving(&[tokens[0], tokens[2]], later);
        room.evict(&leaving);
        assert_eq!(room.ticket(tokens[1], later).unwrap().position, 1);
        assert_eq!(room.waiting(), 1);
    }

    /// The sweep finds idle waiters with a read, while polls go on; one polled
    /// between that read and `start_leaving` stays, and a leaving one is not
    /// answered by a poll (nor kept by it) until its eviction is decided.
    #[test]
    fn a_waiter_polled_after_the_scan_stays_and_a_leaving_one_is_not_answered() {
        let start = Instant::now();
        let (mut room, tokens) = three_waiting(start);
        let later = start + Duration::from_secs(61);
        let idle = room.idle_waiting(later, 10);
        assert_eq!(idle, tokens);
        assert!(
            room.poll(tokens[1], later).is_some(),
            "polled after the scan"
        );
        let leaving = room.start_leaving(&idle, later);
        assert_eq!(leaving, vec![tokens[0], tokens[2]]);

        assert_eq!(
            room.poll(tokens[0], later),
            None,
            "leaving: the actor answers"
        );
        assert_eq!(room.identify(tokens[0]), None);
        assert_eq!(
            room.ticket(tokens[1], later).unwrap().position,
            2,
            "still behind it"
        );

        // The eviction of one is stored, the other's write failed: it waits again,
        // and its failed eviction did not cost it its place.
        room.evict(&leaving[..1]);
        room.stay(&leaving[1..]);
        assert_eq!(room.poll(tokens[2], later).map(|t| t.position), Some(2));
        assert_eq!(room.poll(tokens[0], later), None);
        assert_eq!(room.waiting(), 2);
    }
}
