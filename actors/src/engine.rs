//! The engine's façade: the typed async calls the HTTP handlers make.
//!
//! Each call turns into messages to the actors that own the state (the waiting
//! room for tokens, a SessionActor for seats, a Wallet for points) and returns
//! their answer. The engine keeps no state of its own beyond the registry of
//! running actors and the in-memory catalog of concerts and sessions.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ractor::Actor;
use tokio::task::JoinHandle;

use crate::catalog::{Catalog, SessionSummary};
use crate::clock::Clock;
use crate::domain::{
    ChargeAmount, ConcertId, ConcertTitle, IdempotencyKey, Points, QueueToken, ReservationId,
    SeatCount, SeatNumber, SessionId, UserId,
};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::Mailbox;
use crate::registry::Registry;
use crate::session::{HoldConfig, HoldReceipt, SeatsView, SessionMsg};
use crate::store::group_commit::{GroupCommit, GroupCommitSettings};
use crate::store::{Limits, NewSession, PaymentRow, ReservationStatus, SessionRow, Store};
use crate::supervisor::{Supervisor, SupervisorArgs, SupervisorMsg};
use crate::waiting_room::{LiveStatus, RoomConfig, Ticket, WaitingRoomMsg};
use crate::wallet::WalletMsg;

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
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            hold_ttl: Duration::from_secs(5 * 60),
            active_ttl: Duration::from_secs(10 * 60),
            max_active: 100,
            waiting_idle: Duration::from_secs(60),
            max_holds_per_user: 4,
            expire_token_on_payment: true,
            admission_rate_per_sec: None,
            mailbox_capacity: 4096,
            call_timeout: Duration::from_secs(5),
            wallet_idle: Duration::from_secs(60),
            group_commit: true,
            max_restarts: 20,
            restart_window: Duration::from_secs(10),
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
}

/// Where a caller's token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallerStatus {
    /// In line.
    Waiting,
    /// Admitted.
    Admitted,
    /// Admission over, or evicted from the line.
    Expired,
}

/// A request's token, resolved to its user and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token.
    pub token: QueueToken,
    /// Its user.
    pub user_id: UserId,
    /// Where the token stands.
    pub status: CallerStatus,
}

impl Caller {
    /// Holds and payments need an admitted token: 401 if expired, 403 if waiting.
    pub fn require_admitted(&self) -> EngineResult<()> {
        match self.status {
            CallerStatus::Admitted => Ok(()),
            CallerStatus::Waiting => Err(EngineError::StillWaiting),
            CallerStatus::Expired => Err(EngineError::TokenExpired),
        }
    }

    /// The wallet needs a live token, waiting or admitted: 403 otherwise.
    pub fn require_live(&self) -> EngineResult<()> {
        match self.status {
            CallerStatus::Expired => Err(EngineError::InvalidToken),
            CallerStatus::Waiting | CallerStatus::Admitted => Ok(()),
        }
    }
}

/// A user's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletView {
    /// The user.
    pub user_id: UserId,
    /// Points.
    pub balance: Points,
}

/// Why the engine stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineStop {
    /// [`Engine::shutdown`] was called.
    Shutdown,
    /// The supervisor gave up (children failed faster than its restart budget) or died:
    /// fatal for the process.
    Failed,
}

/// Resolves when the engine's supervisor stops.
pub struct EngineMonitor {
    supervisor: JoinHandle<()>,
    shutting_down: Arc<AtomicBool>,
}

impl EngineMonitor {
    /// Waits until the supervisor has stopped, and says why.
    pub async fn stopped(self) -> EngineStop {
        let _ = self.supervisor.await;
        if self.shutting_down.load(Ordering::SeqCst) {
            EngineStop::Shutdown
        } else {
            EngineStop::Failed
        }
    }
}

/// The engine. Cheap to clone; every clone talks to the same actors.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Clock,
    shutting_down: Arc<AtomicBool>,
    store: Arc<dyn Store>,
    config: EngineConfig,
    registry: Arc<Registry>,
    catalog: Arc<Catalog>,
    supervisor: Mailbox<SupervisorMsg>,
}

impl Engine {
    /// Reads the catalog and starts the supervisor, which starts the waiting room
    /// and one actor per session, each rebuilding its state from the store.
    pub async fn start(
        store: Arc<dyn Store>,
        config: EngineConfig,
    ) -> EngineResult<(Engine, EngineMonitor)> {
        Self::start_with_clock(store, config, Clock::start()).await
    }

    /// [`Engine::start`] with a given clock: tests that restart the engine under
    /// tokio's paused clock pass the same clock to both, so time runs on across
    /// the restart as it would on a real wall clock.
    pub async fn start_with_clock(
        store: Arc<dyn Store>,
        config: EngineConfig,
        clock: Clock,
    ) -> EngineResult<(Engine, EngineMonitor)> {
        // Before anything is served: every hold and admission this engine makes is
        // then judged by `concert check` against these limits, not the check's flags.
        store
            .record_limits(&config.limits(), clock.now_utc())
            .await?;
        let store = if config.group_commit {
            let settings = GroupCommitSettings::for_backend(store.backend());
            GroupCommit::wrap(store, settings)
        } else {
            store
        };
        let catalog = Arc::new(Catalog::from_store(store.catalog().await?));
        let registry = Arc::new(Registry::default());
        let args = SupervisorArgs {
            store: store.clone(),
            clock,
            registry: registry.clone(),
            catalog: catalog.clone(),
            room: RoomConfig {
                max_active: config.max_active,
                active_ttl: config.active_ttl,
                waiting_idle: config.waiting_idle,
                admission_rate_per_sec: config.admission_rate_per_sec,
            },
            holds: HoldConfig {
                hold_ttl: config.hold_ttl,
                max_holds_per_user: config.max_holds_per_user,
                wallet_timeout: config.call_timeout,
            },
            wallet_idle: config.wallet_idle,
            mailbox_capacity: config.mailbox_capacity,
            max_restarts: config.max_restarts,
            restart_window: config.restart_window,
        };
        let (supervisor, join) = Actor::spawn(None, Supervisor, args)
            .await
            .map_err(|error| {
                tracing::error!(%error, "engine could not start");
                EngineError::StorageUnavailable
            })?;
        let shutting_down = Arc::new(AtomicBool::new(false));
        let engine = Engine {
            inner: Arc::new(Inner {
                clock,
                shutting_down: shutting_down.clone(),
                store,
                supervisor: Mailbox::new(supervisor, config.mailbox_capacity),
                config,
                registry,
                catalog,
            }),
        };
        let monitor = EngineMonitor {
            supervisor: join,
            shutting_down,
        };
        Ok((engine, monitor))
    }

    /// Stops every actor and waits for them.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        // Told first, the supervisor takes its children's stopping for what it is.
        let _ = self
            .inner
            .supervisor
            .ask(
                |reply| SupervisorMsg::Shutdown { reply },
                self.inner.config.call_timeout,
            )
            .await;
        let supervisor = self.inner.supervisor.actor();
        supervisor
            .drain_children_and_wait(Some(self.inner.config.call_timeout))
            .await;
        supervisor.stop(Some("shutdown".into()));
    }

    /// The store the engine writes through.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The longest an engine call can take before it answers (a payment waits for its
    /// session, which waits for the wallet): a request timeout should be longer.
    pub fn longest_call(&self) -> Duration {
        self.inner.config.call_timeout * 2
    }

    // ---- the waiting room ----

    /// A queue poll: the live token's ticket, or a new token at the back of the line
    /// (for the named user, else the old token's user, else a generated one).
    pub async fn queue(
        &self,
        authorization: Option<&str>,
        user_id: Option<UserId>,
    ) -> EngineResult<Ticket> {
        let token = authorization.and_then(|header| QueueToken::parse(header).ok());
        // A live token's poll is answered from the published room, without a round
        // trip to the actor; anything else (a new token, a joining or leaving one)
        // is the actor's to answer.
        if let Some(token) = token
            && let Some(ticket) = self
                .inner
                .registry
                .room()
                .poll(token, self.inner.clock.now())
        {
            return Ok(ticket);
        }
        let room = self.waiting_room()?;
        let timeout = self.inner.config.call_timeout;
        let mut user_id = user_id;
        if let Some(token) = token {
            let polled = room.ask(|reply| WaitingRoomMsg::Poll { token, reply }, timeout);
            if let Some(ticket) = polled.await? {
                return Ok(ticket);
            }
            if user_id.is_none() {
                user_id = self.inner.store.token(token).await?.map(|row| row.user_id);
            }
        }
        let user_id = user_id.unwrap_or_else(UserId::generate);
        room.ask(|reply| WaitingRoomMsg::Join { user_id, reply }, timeout)
            .await
    }

    /// Resolves a request's `Authorization` header to its caller; 403 if the token is
    /// missing, malformed or unknown.
    pub async fn identify(&self, authorization: Option<&str>) -> EngineResult<Caller> {
        let token = authorization
            .and_then(|header| QueueToken::parse(header).ok())
            .ok_or(EngineError::InvalidToken)?;
        // Admitted tokens are published by the waiting room: no round trip to it.
        if let Some(user_id) = self
            .inner
            .registry
            .admitted_user(token, self.inner.clock.now())
        {
            return Ok(Caller {
                token,
                user_id,
                status: CallerStatus::Admitted,
            });
        }
        let identity = match self
            .inner
            .registry
            .room()
            .identify(token, self.inner.clock.now())
        {
            Some(identity) => Some(identity),
            None => {
                self.waiting_room()?
                    .ask(
                        |reply| WaitingRoomMsg::Identify { token, reply },
                        self.inner.config.call_timeout,
                    )
                    .await?
            }
        };
        if let Some(identity) = identity {
            return Ok(Caller {
                token,
                user_id: identity.user_id,
                status: match identity.status {
                    LiveStatus::Waiting => CallerStatus::Waiting,
                    LiveStatus::Admitted => CallerStatus::Admitted,
                },
            });
        }
        match self.inner.store.token(token).await? {
            Some(row) => Ok(Caller {
                token,
                user_id: row.user_id,
                status: CallerStatus::Expired,
            }),
            None => Err(EngineError::InvalidToken),
        }
    }

    /// (waiting, admitted) token counts.
    pub async fn queue_counts(&self) -> EngineResult<(usize, usize)> {
        self.waiting_room()?
            .ask(
                |reply| WaitingRoomMsg::Stats { reply },
                self.inner.config.call_timeout,
            )
            .await
    }

    // ---- concerts and seats ----

    /// The sessions of a concert, by date then id.
    pub fn sessions(&self, concert: ConcertId) -> EngineResult<Vec<SessionSummary>> {
        self.inner
            .catalog
            .sessions_of(concert)
            .ok_or(EngineError::ConcertNotFound)
    }

    /// The seats of a session.
    pub async fn seats(&self, session: SessionId) -> EngineResult<SeatsView> {
        self.session(session)?
            .ask(
                |reply| SessionMsg::Seats { reply },
                self.inner.config.call_timeout,
            )
            .await
    }

    // ---- wallets ----

    /// The caller's balance.
    pub async fn balance(&self, caller: &Caller) -> EngineResult<WalletView> {
        caller.require_live()?;
        let balance = self
            .ask_wallet(&caller.user_id, |reply| WalletMsg::Balance { reply })
            .await?;
        Ok(WalletView {
            user_id: caller.user_id.clone(),
            balance,
        })
    }

    /// Adds points to the caller's wallet.
    pub async fn charge(&self, caller: &Caller, amount: ChargeAmount) -> EngineResult<WalletView> {
        caller.require_live()?;
        let balance = self
            .ask_wallet(&caller.user_id, |reply| WalletMsg::Charge { amount, reply })
            .await?;
        Ok(WalletView {
            user_id: caller.user_id.clone(),
            balance,
        })
    }

    // ---- holds and payments ----

    /// Holds a seat for the caller, in the contract's order of checks: token, session,
    /// seat number (any integer: one the session lacks is "no such seat"), seat free,
    /// the caller's hold limit.
    pub async fn hold(
        &self,
        caller: &Caller,
        session: SessionId,
        seat: i64,
    ) -> EngineResult<HoldReceipt> {
        caller.require_admitted()?;
        let mailbox = self.session(session)?;
        let seat = SeatNumber::parse(seat).map_err(|_| EngineError::SeatNotFound)?;
        // The herd storming a sold-out session: a seat its actor has published as
        // taken now is refused without waiting in its mailbox (the actor decides the rest).
        if let Some(entry) = self.inner.catalog.session(session)
            && entry.board.is_taken(seat, self.inner.clock.now_utc()) == Some(true)
        {
            return Err(EngineError::SeatAlreadyReserved);
        }
        let user_id = caller.user_id.clone();
        mailbox
            .ask(
                |reply| SessionMsg::Hold {
                    user_id,
                    seat,
                    reply,
                },
                self.inner.config.call_timeout,
            )
            .await
    }

    /// Gives up one of the caller's holds.
    pub async fn release(&self, caller: &Caller, reservation: ReservationId) -> EngineResult<()> {
        caller.require_admitted()?;
        let row = self.own_reservation(caller, reservation).await?;
        let user_id = caller.user_id.clone();
        self.session(row.session_id)?
            .ask(
                |reply| SessionMsg::Release {
                    user_id,
                    reservation_id: reservation,
                    reply,
                },
                self.inner.config.call_timeout,
            )
            .await
    }

    /// Pays one of the caller's holds: debit, payment and sale in one transaction,
    /// then (by default) the end of the caller's admission. A retry with the same
    /// idempotency key answers the first payment again.
    pub async fn pay(
        &self,
        caller: &Caller,
        reservation: ReservationId,
        key: Option<IdempotencyKey>,
    ) -> EngineResult<PaymentRow> {
        if let Some(key) = &key
            && let Some(first) = self.replay(caller, reservation, key).await?
        {
            // A retry after a crash or a lost answer: the first attempt may not have
            // got as far as ending the admission. Ending it twice is harmless.
            if first.is_ok() && caller.status == CallerStatus::Admitted {
                self.end_admission_after_payment(caller.token).await;
            }
            return first;
        }
        caller.require_admitted()?;
        let row = self.own_reservation(caller, reservation).await?;
        match row.status {
            ReservationStatus::Held => {}
            // Paid since the key was looked up: by a request with the same key, maybe.
            ReservationStatus::Paid => return self.paid_meanwhile(caller, reservation, &key).await,
            ReservationStatus::Expired | ReservationStatus::Released => {
                return Err(EngineError::ReservationExpired);
            }
        }
        let wallet = self.wallet(&caller.user_id).await?;
        let user_id = caller.user_id.clone();
        let idempotency_key = key.clone();
        let paid = self
            .session(row.session_id)?
            .ask(
                |reply| SessionMsg::Pay {
                    user_id,
                    reservation_id: reservation,
                    idempotency_key,
                    wallet,
                    reply,
                },
                // The session waits for the wallet within its own timeout; give it room.
                self.longest_call(),
            )
            .await;
        let paid = match paid {
            Err(EngineError::AlreadyPaid) => self.paid_meanwhile(caller, reservation, &key).await,
            paid => paid,
        }?;
        self.end_admission_after_payment(caller.token).await;
        Ok(paid)
    }

    /// The answer when the reservation turns out paid by a racing request: that
    /// payment again if it was made with the caller's key, else 409.
    async fn paid_meanwhile(
        &self,
        caller: &Caller,
        reservation: ReservationId,
        key: &Option<IdempotencyKey>,
    ) -> EngineResult<PaymentRow> {
        let Some(key) = key else {
            return Err(EngineError::AlreadyPaid);
        };
        match self.replay(caller, reservation, key).await? {
            Some(first) => first,
            None => Err(EngineError::AlreadyPaid),
        }
    }

    /// The payment made with this key by this user: `Some(Ok)` if it paid this
    /// reservation, `Some(Err)` if another, `None` if the key is unused.
    async fn replay(
        &self,
        caller: &Caller,
        reservation: ReservationId,
        key: &IdempotencyKey,
    ) -> EngineResult<Option<EngineResult<PaymentRow>>> {
        let first = self
            .inner
            .store
            .payment_by_key(&caller.user_id, key)
            .await?;
        Ok(first.map(|payment| {
            if payment.reservation_id == reservation {
                Ok(payment)
            } else {
                Err(EngineError::IdempotencyKeyReused)
            }
        }))
    }

    async fn own_reservation(
        &self,
        caller: &Caller,
        reservation: ReservationId,
    ) -> EngineResult<crate::store::ReservationRow> {
        self.inner
            .store
            .reservation(reservation)
            .await?
            .filter(|row| row.user_id == caller.user_id)
            .ok_or(EngineError::ReservationNotFound)
    }

    /// Ends the payer's admission, if the configuration says a payment does.
    async fn end_admission_after_payment(&self, token: QueueToken) {
        if self.inner.config.expire_token_on_payment {
            self.end_admission(token).await;
        }
    }

    async fn end_admission(&self, token: QueueToken) {
        let ended = match self.waiting_room() {
            Ok(room) => {
                room.ask(
                    |reply| WaitingRoomMsg::EndAdmission { token, reply },
                    self.inner.config.call_timeout,
                )
                .await
            }
            Err(error) => Err(error),
        };
        // The payment is committed: its answer stands. The admission ends by its TTL.
        if let Err(error) = ended {
            tracing::warn!(%error, "admission not ended after payment");
        }
    }

    // ---- administration ----

    /// Adds a concert.
    pub async fn create_concert(&self, title: &ConcertTitle) -> EngineResult<ConcertId> {
        let row = self.inner.store.create_concert(title).await?;
        self.inner.catalog.add_concert(row.id);
        Ok(row.id)
    }

    /// Adds a session to a concert and starts its actor.
    pub async fn create_session(&self, session: &NewSession) -> EngineResult<SessionRow> {
        let row = match self.inner.store.create_session(session).await {
            Err(crate::store::StoreError::NotFound) => return Err(EngineError::ConcertNotFound),
            other => other?,
        };
        let entry = self.inner.catalog.add_session(row.clone());
        self.inner
            .supervisor
            .ask(
                |reply| SupervisorMsg::StartSession { entry, reply },
                self.inner.config.call_timeout,
            )
            .await?;
        Ok(row)
    }

    /// On a store with no concert, adds the demo: concert 1 with six sessions dated
    /// 2024-07-03 to 2024-07-08, 50 seats each. True if it was added.
    pub async fn seed_demo(&self) -> EngineResult<bool> {
        if !self.inner.catalog.is_empty() {
            return Ok(false);
        }
        let title = ConcertTitle::parse("Demo concert").expect("a valid title");
        let concert = self.create_concert(&title).await?;
        let first = chrono::NaiveDate::from_ymd_opt(2024, 7, 3).expect("a valid date");
        for day in 0..6 {
            let session = NewSession {
                concert_id: concert,
                date: first + chrono::Days::new(day),
                seat_count: SeatCount(50),
                price: Points(10_000),
            };
            self.create_session(&session).await?;
        }
        Ok(true)
    }

    // ---- actors ----

    fn waiting_room(&self) -> EngineResult<Mailbox<WaitingRoomMsg>> {
        self.inner
            .registry
            .waiting_room()
            .ok_or(EngineError::ActorFailed)
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
        build: impl Fn(crate::mailbox::Reply<T>) -> WalletMsg,
    ) -> EngineResult<T> {
        let timeout = self.inner.config.call_timeout;
        let first = self.wallet(user_id).await?.ask(&build, timeout).await;
        match first {
            Err(EngineError::Unreachable) => self.wallet(user_id).await?.ask(&build, timeout).await,
            other => other,
        }
    }

    /// Test-only fault injection: makes the named actor panic while handling a
    /// request. Answers what that request's caller gets: `ActorFailed`.
    #[cfg(feature = "testkit")]
    pub async fn inject_fault(&self, target: FaultTarget) -> EngineResult<()> {
        let timeout = self.inner.config.call_timeout;
        match target {
            FaultTarget::WaitingRoom => {
                self.waiting_room()?
                    .ask(|reply| WaitingRoomMsg::Crash { reply }, timeout)
                    .await
            }
            FaultTarget::Session(id) => {
                self.session(id)?
                    .ask(|reply| SessionMsg::Crash { reply }, timeout)
                    .await
            }
            FaultTarget::Wallet(user) => {
                self.wallet(&user)
                    .await?
                    .ask(|reply| WalletMsg::Crash { reply }, timeout)
                    .await
            }
        }
    }

    /// Wallet actors running now.
    pub fn running_wallets(&self) -> usize {
        self.inner.registry.wallet_count()
    }
}

/// Which actor a test-only fault goes to.
#[cfg(feature = "testkit")]
#[derive(Debug, Clone)]
pub enum FaultTarget {
    /// The waiting room.
    WaitingRoom,
    /// A session's actor.
    Session(SessionId),
    /// A user's wallet.
    Wallet(UserId),
}
