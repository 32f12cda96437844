//! The supervisor: parent of every WaitingRoom, every SessionActor and every Wallet.
//!
//! It spawns them (rooms and sessions at start and when added, wallets on demand),
//! restarts
//! a child that panics or fails (the new actor rebuilds its state from the store in
//! `pre_start`), and gives up when children fail too often: more than
//! `max_restarts` within `restart_window` is a meltdown, and the supervisor stops,
//! which the process treats as fatal rather than limping on. A child that cannot be
//! restarted yet (the store is down) is tried again after a pause; meanwhile the
//! engine answers its requests with 503.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;

use crate::catalog::{Catalog, SessionEntry};
use crate::clock::Clock;
use crate::domain::{RoomId, UserId};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::{Mailbox, Reply};
use crate::registry::Registry;
use crate::rooms::{MAX_ROOMS, RoomDirectory};
use crate::session::{HoldConfig, SessionActor, SessionArgs};
use crate::store::{RoomRow, Store};
use crate::waiting_room::{LineSink, RoomConfig, WaitingRoom};
use crate::wallet::{Wallet, WalletMsg};

/// How long to wait before trying again to start a child that could not start.
const RESPAWN_AFTER: Duration = Duration::from_secs(1);

/// Children starting at once when the engine starts: each holds one of the pool's
/// connections (10 in production) while it reads, so this leaves most of them free.
const STARTS_IN_FLIGHT: usize = 4;

/// What the supervisor needs to build its children.
#[derive(Clone)]
pub struct SupervisorArgs {
    /// The store every child writes through.
    pub store: Arc<dyn Store>,
    /// The engine's clock.
    pub clock: Clock,
    /// Where running children are published.
    pub registry: Arc<Registry>,
    /// Every room and what its WaitingRoom publishes (withdrawn while it is down).
    pub rooms: Arc<RoomDirectory>,
    /// Concerts and sessions.
    pub catalog: Arc<Catalog>,
    /// Admission rules every room shares.
    pub room: RoomConfig,
    /// Where the rooms' line changes go for replicas (cluster mode); `None`: nowhere.
    pub line_sink: Option<LineSink>,
    /// Hold rules.
    pub holds: HoldConfig,
    /// A wallet stops after this long without a message.
    pub wallet_idle: Duration,
    /// Requests each child's mailbox takes at most.
    pub mailbox_capacity: usize,
    /// Restarts allowed within `restart_window` before a meltdown.
    pub max_restarts: usize,
    /// See `max_restarts`.
    pub restart_window: Duration,
}

/// The messages the supervisor handles.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// Start the actor of a newly added session.
    StartSession {
        /// The session.
        entry: SessionEntry,
        /// Ok once it runs.
        reply: Reply<()>,
    },
    /// Opens a concert's room: stores `row` and starts the room's actor, unless the
    /// room exists already (then `false`: its actor takes any change). Serialized here,
    /// so two operators opening the same room at once store and start it once.
    OpenRoom {
        /// The room, as first stored.
        row: RoomRow,
        /// True if the room was opened by this message.
        reply: Reply<bool>,
    },
    /// The user's running wallet, spawned if needed.
    Wallet {
        /// The user.
        user_id: UserId,
        /// Its mailbox.
        reply: Reply<Mailbox<WalletMsg>>,
    },
    /// Timer: try again to start a child that could not start.
    Respawn(Child),
    /// The engine is shutting down: children stopping from now on stay stopped.
    Shutdown {
        /// Ok once noted.
        reply: Reply<()>,
    },
}

/// A child, as much as is needed to start it again.
#[derive(Debug, Clone)]
pub enum Child {
    /// A waiting room.
    WaitingRoom(RoomId),
    /// A session's actor.
    Session(SessionEntry),
    /// A user's wallet.
    Wallet(UserId),
}

impl Child {
    /// The `actor` label of its metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Child::WaitingRoom(_) => "waiting_room",
            Child::Session(_) => "session",
            Child::Wallet(_) => "wallet",
        }
    }
}

/// The supervisor.
pub struct Supervisor;

/// The supervisor's state.
pub struct SupervisorState {
    args: SupervisorArgs,
    children: HashMap<ActorId, Child>,
    recent_restarts: VecDeque<Instant>,
    shutting_down: bool,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            args,
            children: HashMap::new(),
            recent_restarts: VecDeque::new(),
            shutting_down: false,
        };
        // At start, a child that cannot start is fatal: the store is not usable.
        // Each child rebuilds from rows of its own, so they start together: the
        // sessions' short reads (one each) run beside the line's long one instead of
        // after it (2,000 sessions: ~1.3 s of a restart). At most STARTS_IN_FLIGHT at
        // once, well within the pool's connections.
        let children: Vec<Child> = (state.args.rooms.ids().into_iter().map(Child::WaitingRoom))
            .chain(
                state
                    .args
                    .catalog
                    .sessions()
                    .into_iter()
                    .map(Child::Session),
            )
            .collect();
        let args = &state.args;
        let started: Vec<EngineResult<(ActorId, Child)>> = stream::iter(children)
            .map(|child| async {
                let id = spawn(&myself, args, &child).await?;
                Ok((id, child))
            })
            .buffer_unordered(STARTS_IN_FLIGHT)
            .collect()
            .await;
        for result in started {
            let (id, child) = result?;
            state.children.insert(id, child);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::StartSession { entry, reply } => {
                let started = start(&myself, state, Child::Session(entry)).await;
                reply.send(started.map(|_| ()));
            }
            SupervisorMsg::OpenRoom { row, reply } => {
                reply.send(open_room(&myself, state, row).await);
            }
            SupervisorMsg::Wallet { user_id, reply } => {
                let wallet = match state.args.registry.wallet(&user_id) {
                    Some(running) => Ok(running),
                    None => start(&myself, state, Child::Wallet(user_id.clone()))
                        .await
                        .map(|_| state.args.registry.wallet(&user_id))
                        .and_then(|mailbox| mailbox.ok_or(EngineError::ActorFailed)),
                };
                reply.send(wallet);
            }
            SupervisorMsg::Respawn(child) if !state.shutting_down => {
                restart(&myself, state, child).await?;
            }
            SupervisorMsg::Respawn(_) => {}
            SupervisorMsg::Shutdown { reply } => {
                state.shutting_down = true;
                reply.send(Ok(()));
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if state.shutting_down {
            forget(state, event.actor_cell().unwrap_or(&myself.get_cell()));
            return Ok(());
        }
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let Some(child) = forget(state, &cell) else {
                    return Ok(());
                };
                tracing::error!(?child, %error, "actor failed; restarting it");
                crate::metrics::actor_restarted(child.kind());
                note_restart(state)?;
                restart(&myself, state, child).await?;
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                // Wallets stop when idle; anything else stopping on its own is a failure.
                match forget(state, &cell) {
                    Some(Child::Wallet(_)) | None => {}
                    Some(child) => {
                        tracing::error!(
                            ?child,
                            ?reason,
                            "actor stopped unexpectedly; restarting it"
                        );
                        crate::metrics::actor_restarted(child.kind());
                        note_restart(state)?;
                        restart(&myself, state, child).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Takes a stopped child out of the books and the registry.
fn forget(state: &mut SupervisorState, cell: &ActorCell) -> Option<Child> {
    let child = state.children.remove(&cell.get_id())?;
    match &child {
        Child::WaitingRoom(room) => {
            state.args.registry.forget_waiting_room(*room);
            // Polls go to the (absent) mailbox until a restart restores the room.
            if let Some(published) = state.args.rooms.get(*room) {
                published.withdraw();
            }
        }
        Child::Session(entry) => state.args.registry.forget_session(entry.row.id),
        Child::Wallet(user) => state.args.registry.forget_wallet(user, cell.get_id()),
    }
    Some(child)
}

/// Counts a restart; an error (which stops the supervisor) on meltdown.
fn note_restart(state: &mut SupervisorState) -> Result<(), ActorProcessingErr> {
    let now = Instant::now();
    let window = state.args.restart_window;
    state.recent_restarts.push_back(now);
    while state
        .recent_restarts
        .front()
        .is_some_and(|at| now.saturating_duration_since(*at) > window)
    {
        state.recent_restarts.pop_front();
    }
    if state.recent_restarts.len() > state.args.max_restarts {
        tracing::error!(
            restarts = state.recent_restarts.len(),
            ?window,
            "meltdown: children fail faster than they can be restarted; stopping"
        );
        return Err(format!(
            "meltdown: more than {} restarts in {window:?}",
            state.args.max_restarts
        )
        .into());
    }
    Ok(())
}

/// Starts a child again; if it cannot start yet, tries again later. A wallet is not
/// started again here: the next request for it spawns a fresh one.
async fn restart(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    child: Child,
) -> Result<(), ActorProcessingErr> {
    if matches!(child, Child::Wallet(_)) {
        return Ok(());
    }
    if let Err(error) = start(myself, state, child.clone()).await {
        tracing::warn!(?child, %error, "restart failed; trying again shortly");
        myself.send_after(RESPAWN_AFTER, move || SupervisorMsg::Respawn(child));
    }
    Ok(())
}

/// Stores a new concert room and starts its actor; `false` if the room exists.
async fn open_room(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    row: RoomRow,
) -> EngineResult<bool> {
    let Some(concert) = row.room.concert() else {
        return Ok(false);
    };
    if state.args.rooms.get(row.room).is_some() {
        return Ok(false);
    }
    if state.args.rooms.concert_rooms() >= MAX_ROOMS {
        return Err(EngineError::InvalidInput(format!(
            "at most {MAX_ROOMS} concert rooms"
        )));
    }
    let now = state.args.clock.now_utc();
    state.args.store.save_room(&row, now).await?;
    state.args.rooms.add(concert);
    // Stored, so the room exists: if its actor cannot start now, it is tried again.
    restart(myself, state, Child::WaitingRoom(row.room))
        .await
        .map_err(|_| EngineError::ActorFailed)?;
    Ok(true)
}

/// Spawns a child linked to the supervisor, publishes it in the registry and
/// records it among the children.
async fn start(
    myself: &ActorRef<SupervisorMsg>,
    state: &mut SupervisorState,
    child: Child,
) -> EngineResult<ActorId> {
    let id = spawn(myself, &state.args, &child).await?;
    state.children.insert(id, child);
    Ok(id)
}

/// Spawns a child linked to the supervisor and publishes it in the registry.
async fn spawn(
    myself: &ActorRef<SupervisorMsg>,
    args: &SupervisorArgs,
    child: &Child,
) -> EngineResult<ActorId> {
    let capacity = args.mailbox_capacity;
    let supervisor = myself.get_cell();
    let spawned = match &child {
        Child::WaitingRoom(room) => {
            let published = args.rooms.get(*room).ok_or(EngineError::RoomNotFound)?;
            let actor = WaitingRoom {
                room: *room,
                store: args.store.clone(),
                clock: args.clock,
                config: args.room.clone(),
                published,
                line_sink: args.line_sink.clone(),
            };
            Actor::spawn_linked(None, actor, (), supervisor)
                .await
                .map(|(actor, _)| {
                    args.registry
                        .set_waiting_room(*room, Mailbox::new(actor.clone(), capacity));
                    actor.get_id()
                })
        }
        Child::Session(entry) => {
            let actor = SessionActor {
                store: args.store.clone(),
                clock: args.clock,
                config: args.holds.clone(),
            };
            let session_args = SessionArgs {
                session: entry.row.clone(),
                board: entry.board.clone(),
            };
            Actor::spawn_linked(None, actor, session_args, supervisor)
                .await
                .map(|(actor, _)| {
                    args.registry
                        .set_session(entry.row.id, Mailbox::new(actor.clone(), capacity));
                    actor.get_id()
                })
        }
        Child::Wallet(user) => {
            let actor = Wallet {
                store: args.store.clone(),
                clock: args.clock,
                idle_after: args.wallet_idle,
            };
            Actor::spawn_linked(None, actor, user.clone(), supervisor)
                .await
                .map(|(actor, _)| {
                    args.registry
                        .set_wallet(user.clone(), Mailbox::new(actor.clone(), capacity));
                    actor.get_id()
                })
        }
    };
    spawned.map_err(|error| {
        tracing::warn!(?child, %error, "actor could not start");
        EngineError::StorageUnavailable
    })
}
