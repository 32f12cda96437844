//! The waiting room's state machine: who holds which token, who waits where,
//! who is admitted until when. Pure: the actor around it does the I/O and timers,
//! and passes the time in, so every rule here is testable without a runtime.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;

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

#[derive(Debug)]
struct Entry {
    user_id: UserId,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// Issued, its row not yet committed: it holds its place in line, but nobody
    /// has been told about it and it cannot be admitted yet.
    Joining {
        slot: Slot,
    },
    Waiting {
        slot: Slot,
        last_seen: Instant,
    },
    Admitted {
        until: Instant,
    },
}

/// How many recent admissions the wait estimate looks at.
const RECENT_ADMISSIONS: usize = 256;
/// How far back the wait estimate looks.
const ESTIMATE_WINDOW: Duration = Duration::from_secs(300);

/// Every live token, the line, and the admitted set.
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    entries: HashMap<QueueToken, Entry>,
    by_user: HashMap<UserId, QueueToken>,
    line: Line,
    admitted: usize,
    next_seq: i64,
    recent_admissions: VecDeque<Instant>,
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
            entries: HashMap::with_capacity(live.len()),
            by_user: HashMap::with_capacity(live.len()),
            line: Line::new(),
            admitted: 0,
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
                        room.by_user.insert(row.user_id.clone(), row.token);
                        room.entries.insert(
                            row.token,
                            Entry {
                                user_id: row.user_id,
                                place: Place::Admitted { until },
                            },
                        );
                        room.admitted += 1;
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

    /// Waiting tokens.
    pub fn waiting(&self) -> usize {
        self.line.len()
    }

    /// Admitted tokens.
    pub fn admitted(&self) -> usize {
        self.admitted
    }

    /// The user's live token, if any.
    pub fn live_token_of(&self, user: &UserId) -> Option<QueueToken> {
        self.by_user.get(user).copied()
    }

    /// The user and status of a live (stored) token.
    pub fn identify(&self, token: QueueToken) -> Option<Identity> {
        let entry = self.entries.get(&token)?;
        let status = match entry.place {
            Place::Joining { .. } => return None,
            Place::Waiting { .. } => LiveStatus::Waiting,
            Place::Admitted { .. } => LiveStatus::Admitted,
        };
        Some(Identity {
            user_id: entry.user_id.clone(),
            status,
        })
    }

    /// True while the token's row is being written.
    pub fn is_joining(&self, token: QueueToken) -> bool {
        matches!(
            self.entries.get(&token),
            Some(Entry {
                place: Place::Joining { .. },
                ..
            })
        )
    }

    /// Records that the token was asked about, which keeps a waiting token in line.
    pub fn touch(&mut self, token: QueueToken, now: Instant) {
        if let Some(Entry {
            place: Place::Waiting { last_seen, .. },
            ..
        }) = self.entries.get_mut(&token)
        {
            *last_seen = now;
        }
    }

    /// What a poll of this token answers, if it is live (and stored).
    pub fn ticket(&self, token: QueueToken, now: Instant) -> Option<Ticket> {
        let entry = self.entries.get(&token)?;
        let (position, admitted) = match entry.place {
            Place::Joining { .. } => return None,
            Place::Waiting { slot, .. } => (self.line.position(slot)?, false),
            Place::Admitted { .. } => (0, true),
        };
        Some(Ticket {
            token,
            user_id: entry.user_id.clone(),
            position,
            admitted,
            estimated_wait_seconds: if admitted {
                Some(0)
            } else {
                self.estimate_wait_seconds(position, now)
            },
        })
    }

    /// Puts a newly issued token at the back of the line while its row is written.
    /// Its place is taken now, so tokens issued later stand behind it whichever
    /// write commits first.
    pub fn join(&mut self, token: QueueToken, user_id: UserId) {
        debug_assert!(
            !self.by_user.contains_key(&user_id),
            "one live token per user"
        );
        let slot = self.line.push(token);
        self.by_user.insert(user_id.clone(), token);
        self.entries.insert(
            token,
            Entry {
                user_id,
                place: Place::Joining { slot },
            },
        );
    }

    /// The joining token's row is committed: it waits like any other.
    pub fn confirm(&mut self, token: QueueToken, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&token)
            && let Place::Joining { slot } = entry.place
        {
            entry.place = Place::Waiting {
                slot,
                last_seen: now,
            };
        }
    }

    /// The joining token's row could not be written: it never existed. The tokens
    /// behind it move up (positions only shrink).
    pub fn abandon(&mut self, token: QueueToken) {
        if let Some(Entry {
            place: Place::Joining { slot },
            ..
        }) = self.entries.get(&token)
        {
            let slot = *slot;
            let entry = self.entries.remove(&token).expect("present");
            self.line.remove(slot);
            self.by_user.remove(&entry.user_id);
        }
    }

    /// The waiting tokens that may be admitted now, front first: as many as there
    /// are free places, within the rate cap, and none past a token still joining
    /// (admission is strictly in line order).
    pub fn admission_candidates(&self, now: Instant) -> Vec<QueueToken> {
        self.line
            .iter()
            .take_while(|(_, token)| !self.is_joining(*token))
            .take(self.free_places(now))
            .map(|(_, token)| token)
            .collect()
    }

    /// How many tokens could be admitted now: free places, within the rate cap.
    pub fn free_places(&self, now: Instant) -> usize {
        let free = self.config.max_active.saturating_sub(self.admitted);
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
        if self.line.is_empty() || self.admitted >= self.config.max_active {
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
            let Some(entry) = self.entries.get_mut(token) else {
                continue;
            };
            if let Place::Waiting { slot, .. } = entry.place {
                self.line.remove(slot);
                entry.place = Place::Admitted {
                    until: now + self.config.active_ttl,
                };
                self.admitted += 1;
                self.recent_admissions.push_back(now);
            }
        }
        while self.recent_admissions.len() > RECENT_ADMISSIONS {
            self.recent_admissions.pop_front();
        }
        // A restart may bring back more admissions than a lowered max-active allows;
        // they are honoured until they end, but no admission is ever added past the cap.
        assert!(
            tokens.is_empty() || self.admitted <= self.config.max_active,
            "admitted tokens exceed max-active"
        );
    }

    /// True if the token is admitted and its time is up at `now`.
    pub fn admission_is_over(&self, token: QueueToken, now: Instant) -> bool {
        matches!(
            self.entries.get(&token),
            Some(Entry { place: Place::Admitted { until }, .. }) if *until <= now
        )
    }

    /// True if the token is admitted.
    pub fn is_admitted(&self, token: QueueToken) -> bool {
        matches!(
            self.entries.get(&token),
            Some(Entry {
                place: Place::Admitted { .. },
                ..
            })
        )
    }

    /// Forgets an admitted token whose (already stored) admission ended.
    pub fn end_admission(&mut self, token: QueueToken) {
        if self.is_admitted(token) {
            let entry = self.entries.remove(&token).expect("checked above");
            self.by_user.remove(&entry.user_id);
            self.admitted -= 1;
        }
    }

    /// Waiting tokens not asked about for the idle time, front first, at most `limit`.
    pub fn idle_waiting(&self, now: Instant, limit: usize) -> Vec<QueueToken> {
        self.line
            .iter()
            .filter(|(_, token)| {
                matches!(
                    self.entries.get(token),
                    Some(Entry { place: Place::Waiting { last_seen, .. }, .. })
                        if now.saturating_duration_since(*last_seen) >= self.config.waiting_idle
                )
            })
            .map(|(_, token)| token)
            .take(limit)
            .collect()
    }

    /// Forgets waiting tokens whose (already stored) eviction happened.
    pub fn evict(&mut self, tokens: &[QueueToken]) {
        for token in tokens {
            if let Some(Entry {
                place: Place::Waiting { slot, .. },
                ..
            }) = self.entries.get(token)
            {
                let slot = *slot;
                let entry = self.entries.remove(token).expect("present");
                self.line.remove(slot);
                self.by_user.remove(&entry.user_id);
            }
        }
    }

    fn estimate_wait_seconds(&self, position: usize, now: Instant) -> Option<u64> {
        let window_start = now.checked_sub(ESTIMATE_WINDOW);
        let recent: Vec<&Instant> = self
            .recent_admissions
            .iter()
            .filter(|at| window_start.is_none_or(|start| **at >= start))
            .collect();
        let oldest = **recent.first()?;
        let span = now
            .saturating_duration_since(oldest)
            .max(Duration::from_secs(1));
        let per_second = recent.len() as f64 / span.as_secs_f64();
        Some((position as f64 / per_second).ceil() as u64)
    }

    /// Every admitted token and when its admission ends.
    pub fn admitted_deadlines(&self) -> impl Iterator<Item = (QueueToken, Instant)> + '_ {
        self.entries
            .iter()
            .filter_map(|(token, entry)| match entry.place {
                Place::Admitted { until } => Some((*token, until)),
                Place::Joining { .. } | Place::Waiting { .. } => None,
            })
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
    fn idle_waiters_are_found_front_first_and_polls_keep_them() {
        let mut room = room(0);
        let start = Instant::now();
        let tokens: Vec<_> = (0..3).map(|_| QueueToken::generate()).collect();
        for (n, token) in tokens.iter().enumerate() {
            room.join(*token, user(n));
            room.confirm(*token, start);
        }
        let later = start + Duration::from_secs(61);
        room.touch(tokens[1], start + Duration::from_secs(30));
        assert_eq!(room.idle_waiting(later, 10), vec![tokens[0], tokens[2]]);
        room.evict(&[tokens[0], tokens[2]]);
        assert_eq!(room.ticket(tokens[1], later).unwrap().position, 1);
        assert_eq!(room.waiting(), 1);
    }
}
