//! The engine's façade: the typed async calls the HTTP layer (and anyone else) makes.
//!
//! Each call turns into messages to the actors that own the state (the waiting
//! room for tokens, a SessionActor for seats, a Wallet for points) and returns
//! their answer, in types of its own: nothing from the store or the actors'
//! internals crosses it. The engine keeps no state of its own beyond the directory
//! of running actors, what the waiting room publishes, and the in-memory catalog.
//!
//! | file | calls |
//! | --- | --- |
//! | `start` | [`Database::open`], [`ClusterDatabase`] (cluster mode's fenced views), [`Engine::start`], [`Engine::shutdown`], [`EngineMonitor`] |
//! | `config` | [`EngineConfig`] |
//! | `queue` | [`Engine::queue`] (the poll), [`Engine::identify`]: a token to its [`Caller`] |
//! | `concerts` | [`Engine::concerts`] (the public list), [`Engine::sessions`], [`Engine::seats`], [`Engine::seat_totals`] |
//! | `reservations` | [`Engine::hold`], [`Engine::release`], [`Engine::pay`] |
//! | `wallet` | [`Engine::balance`], [`Engine::charge`] |
//! | `admin` | [`Engine::create_concert`], [`Engine::create_session`], [`Engine::seed_demo`]; [`check`] (`concert check`) |
//! | `rooms` | the on-sale's controls: [`Engine::schedule_room`], [`Engine::pause_room`], [`Engine::resume_room`], [`Engine::rerate_room`], [`Engine::room_status`] |
//! | `readiness` | [`Engine::readiness`]: the database answers and every actor is up ([`NotReady`] says why not) |
//! | `replication` | the line's read replicas: [`EngineConfig::line_replicas`], [`Engine::republish_lines`], [`Engine::touch_tokens`] |
//! | `replica_streams` | queue streams served from a node's replica of the line: [`ReplicaStreams`], [`EngineConfig::replica_streams`] |
//! | `streams` | [`Engine::queue_stream`], [`Engine::seat_stream`]: the push routes' watches ([`QueueWatch`], [`SeatWatch`]), the cap on open streams, [`Engine::open_streams`] |
//! | `faults` (testkit) | `Engine::inject_fault`, `Engine::running_wallets` |
//!
//! Holds and payments need an admitted token, the wallet a live one, and a token is
//! judged once: the caller resolves it ([`Engine::identify`], then [`Caller::admitted`],
//! [`Caller::live`] or [`Payer::new`]) before reading the request's body, and the call
//! takes the resulting proof ([`Admitted`], [`Live`], [`Payer`]).

mod admin;
mod concerts;
mod config;
#[cfg(feature = "testkit")]
mod faults;
mod queue;
mod queue_watch;
mod readiness;
mod replica_streams;
mod replication;
mod reservations;
mod rooms;
mod start;
mod streams;
mod wallet;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use self::admin::SessionSpec;
pub use self::concerts::{CONCERT_PAGE_LIMIT, ConcertListing};
pub use self::config::EngineConfig;
#[cfg(feature = "testkit")]
pub use self::faults::FaultTarget;
pub use self::queue::{Admitted, Caller, CallerStatus, Live};
pub(crate) use self::queue_watch::{Look, TicketSource};
pub use self::queue_watch::{QueueEvent, QueueWatch};
pub use self::readiness::{NotReady, READY_DB_TIMEOUT};
pub use self::replica_streams::{ReplicaStreams, SeenHook};
pub use self::reservations::{Payer, PaymentReceipt};
pub use self::start::{ClusterDatabase, Database, EngineMonitor, EngineStop, OpenError};
pub use self::streams::{SeatEvent, SeatWatch, StreamCount};
pub use self::wallet::WalletView;
pub use crate::catalog::{ConcertSummary, SeatTotals, SessionSummary};
pub use crate::invariants::{CheckError, Code, Limits, Report, Tally, Violation, check};
pub use crate::session::board::{SEAT_CHANGES_CAPACITY, SeatChange};
pub use crate::session::{HoldReceipt, SeatsView};
pub use crate::waiting_room::{
    LineBatch, LineChange, LineReplicas, LineSink, RoomPoster, RoomSchedule, RoomState, RoomStatus,
    TOKENS_PER_CHANGE, Ticket, WaiterStage,
};

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::domain::{RoomId, SessionId, UserId};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::{Mailbox, Reply};
use crate::registry::Registry;
use crate::rooms::RoomDirectory;
use crate::session::SessionMsg;
use crate::store::Store;
use crate::supervisor::SupervisorMsg;
use crate::waiting_room::WaitingRoomMsg;
use crate::wallet::WalletMsg;

/// The engine. Cheap to clone; every clone talks to the same actors.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    shutting_down: Arc<AtomicBool>,
    /// For reads no actor owns: expired tokens, reservations, payments by key.
    store: Arc<dyn Store>,
    config: EngineConfig,
    registry: Arc<Registry>,
    /// Every waiting room's line and admissions, for polls and token checks.
    rooms: Arc<RoomDirectory>,
    catalog: Arc<Catalog>,
    supervisor: Mailbox<SupervisorMsg>,
    /// The open streams: their count, cap and closing signal.
    streams: streams::Streams,
}

impl Engine {
    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The longest an engine call can take before it answers (a payment waits for its
    /// session, which waits for the wallet): a request timeout should be longer.
    pub fn longest_call(&self) -> Duration {
        self.inner.config.call_timeout * 2
    }

    /// A room's mailbox: 404 if the room does not exist, 503 if its actor is down
    /// (being restarted).
    fn waiting_room(&self, room: RoomId) -> EngineResult<Mailbox<WaitingRoomMsg>> {
        match self.inner.registry.waiting_room(room) {
            Some(mailbox) => Ok(mailbox),
            None if self.inner.rooms.get(room).is_some() => Err(EngineError::ActorFailed),
            None => Err(EngineError::RoomNotFound),
        }
    }

    /// A session's mailbox: 404 if the session does not exist, 503 if its actor is
    /// down (being restarted).
    fn session(&self, id: SessionId) -> EngineResult<Mailbox<SessionMsg>> {
        match self.inner.registry.session(id) {
            Some(mailbox) => Ok(mailbox),
            None if self.inner.catalog.session(id).is_some() => Err(EngineError::ActorFailed),
            None => Err(EngineError::SessionNotFound),
        }
    }

    /// The user's running wallet, spawned by the supervisor if needed.
    async fn wallet(&self, user_id: &UserId) -> EngineResult<Mailbox<WalletMsg>> {
        if let Some(wallet) = self.inner.registry.wallet(user_id) {
            return Ok(wallet);
        }
        let user_id = user_id.clone();
        self.inner
            .supervisor
            .ask(
                |reply| SupervisorMsg::Wallet { user_id, reply },
                self.inner.config.call_timeout,
            )
            .await
    }

    /// Asks the user's wallet; if the wallet stopped (idle) before the request
    /// reached it, nothing was done, so one more try with a fresh wallet is safe.
    async fn ask_wallet<T: Send + 'static>(
        &self,
        user_id: &UserId,
        build: impl Fn(Reply<T>) -> WalletMsg,
    ) -> EngineResult<T> {
        let timeout = self.inner.config.call_timeout;
        let first = self.wallet(user_id).await?.ask(&build, timeout).await;
        match first {
            Err(EngineError::Unreachable) => self.wallet(user_id).await?.ask(&build, timeout).await,
            other => other,
        }
    }
}
