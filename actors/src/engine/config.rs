//! Every tunable of the engine, with the contract's defaults.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::store::Limits;
use crate::waiting_room::{LineSink, RoomConfig};

/// Every tunable of the engine. The defaults are the contract's.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Life of an unpaid hold.
    pub hold_ttl: Duration,
    /// How long an admitted token may act.
    pub active_ttl: Duration,
    /// Admitted tokens at once.
    pub max_active: usize,
    /// A waiting token unpolled this long is evicted.
    pub waiting_idle: Duration,
    /// An admitted token that makes no request this long loses its admission.
    pub admitted_idle: Duration,
    /// Ended tokens' rows are deleted this long after they ended.
    pub token_retention: Duration,
    /// Live holds per user per session.
    pub max_holds_per_user: u32,
    /// A payment ends the payer's admission.
    pub expire_token_on_payment: bool,
    /// At most this many admissions per second, if set.
    pub admission_rate_per_sec: Option<NonZeroU32>,
    /// Requests queued at one actor at most; past it, 503.
    pub mailbox_capacity: usize,
    /// How long a caller waits for an actor's answer.
    pub call_timeout: Duration,
    /// A wallet stops after this long without a message.
    pub wallet_idle: Duration,
    /// Commit the actors' writes together (see `store::group_commit`); off, each
    /// write is its own transaction.
    pub group_commit: bool,
    /// Actor restarts allowed within `restart_window` before the engine gives up.
    pub max_restarts: usize,
    /// See `max_restarts`.
    pub restart_window: Duration,
    /// Queue and seat streams open at once, both kinds together; past it, 503.
    /// Each holds a connection and a small task (see `Engine::queue_stream`).
    pub max_streams: usize,
    /// A stream with nothing to say sends a keep-alive this often, so proxies and
    /// clients see it alive (and a gone client is noticed by the failed write).
    pub stream_keep_alive: Duration,
    /// Where the rooms hand the changes of their lines, for read replicas on other
    /// nodes (cluster mode); `None` (the default): nothing is recorded.
    pub line_sink: Option<LineSink>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            hold_ttl: Duration::from_secs(5 * 60),
            active_ttl: Duration::from_secs(10 * 60),
            max_active: 100,
            waiting_idle: Duration::from_secs(60),
            admitted_idle: Duration::from_secs(2 * 60),
            token_retention: Duration::from_secs(7 * 24 * 3600),
            max_holds_per_user: 4,
            expire_token_on_payment: true,
            admission_rate_per_sec: None,
            mailbox_capacity: 4096,
            call_timeout: Duration::from_secs(5),
            wallet_idle: Duration::from_secs(60),
            group_commit: true,
            max_restarts: 20,
            restart_window: Duration::from_secs(10),
            max_streams: 10_000,
            stream_keep_alive: Duration::from_secs(15),
            line_sink: None,
        }
    }
}

impl EngineConfig {
    /// The limits the data must respect, as the store records them for `concert check`.
    pub fn limits(&self) -> Limits {
        Limits {
            max_active: self.max_active as u64,
            max_holds_per_user: self.max_holds_per_user.into(),
        }
    }

    /// The rules every room shares, and the limits of a room that names none.
    pub(crate) fn room_config(&self) -> RoomConfig {
        RoomConfig {
            max_active: self.max_active,
            admission_rate_per_sec: self.admission_rate_per_sec,
            active_ttl: self.active_ttl,
            waiting_idle: self.waiting_idle,
            admitted_idle: self.admitted_idle,
            token_retention: self.token_retention,
        }
    }
}
