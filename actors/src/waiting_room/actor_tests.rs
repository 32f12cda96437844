//! The WaitingRoom actor on a real store (both backends, tokio's clock paused): the
//! schedule's phases, the draw and its durability across a restart at every phase,
//! pause and re-rate live and across a restart. The actor is spawned directly (no
//! engine), and a restart is a new actor on a reopened store, as after a crash.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ractor::{Actor, ActorRef};

use super::{
    PublishedRoom, RoomConfig, RoomSchedule, RoomSettings, RoomState, RoomStatus, Ticket, Totals,
    WaitingRoom, WaitingRoomMsg,
};
use crate::backend_tests;
use crate::clock::Clock;
use crate::domain::{ConcertId, QueueToken, RoomId};
use crate::error::{EngineError, EngineResult};
use crate::mailbox::{Mailbox, Reply};
use crate::store::Store;
use crate::testkit::{TestDb, reopen, user};

backend_tests! {
    #[paused] a_restart_before_the_pre_queue_opens_keeps_the_schedule,
    #[paused] a_restart_during_the_pre_queue_still_draws_at_opens_at,
    #[paused] a_restart_after_the_draw_keeps_the_drawn_order,
    #[paused] pause_stops_admissions_and_survives_a_restart,
    #[paused] re_rating_applies_live_and_survives_a_restart,
    #[paused] rescheduling_moves_the_opening_until_the_room_has_drawn,
    #[paused] a_token_being_written_at_the_opening_is_drawn_and_later_joins_stay_behind,
    #[paused] a_room_started_after_its_opening_draws_at_once,
}

const CONCERT: RoomId = RoomId::Concert(ConcertId(7));
/// Longer than any test waits for a join held at the gate.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Engine-wide rules long enough that nobody is evicted or expires while a test
/// moves the clock by minutes.
fn config() -> RoomConfig {
    RoomConfig {
        max_active: 1,
        active_ttl: Duration::from_secs(3600),
        waiting_idle: Duration::from_secs(3600),
        admitted_idle: Duration::from_secs(3600),
        token_retention: Duration::from_secs(86_400),
        admission_rate_per_sec: None,
    }
}

/// A running room actor, and what a restart needs.
struct Room {
    store: Arc<dyn Store>,
    clock: Clock,
    room: RoomId,
    published: Arc<PublishedRoom>,
    mailbox: Mailbox<WaitingRoomMsg>,
    actor: ActorRef<WaitingRoomMsg>,
}

impl Room {
    async fn start(store: Arc<dyn Store>, clock: Clock, room: RoomId) -> Self {
        let published = Arc::new(PublishedRoom::default());
        let actor = WaitingRoom {
            room,
            store: store.clone(),
            clock,
            config: config(),
            published: published.clone(),
            line_sink: None,
        };
        let (actor, _) = Actor::spawn(None, actor, ()).await.expect("room starts");
        let mailbox = Mailbox::new(actor.clone(), 64);
        Self {
            store,
            clock,
            room,
            published,
            mailbox,
            actor,
        }
    }

    /// The actor stops; a new one starts on a reopened store (same clock).
    async fn restart(self, db: &TestDb) -> Self {
        self.actor.stop_and_wait(None, None).await.expect("the room stops");
        Self::start(reopen(db).await, self.clock, self.room).await
    }

    async fn ask<T: Send + 'static>(&self, build: impl FnOnce(Reply<T>) -> WaitingRoomMsg) -> EngineResult<T> {
        self.mailbox.ask(build, TIMEOUT).await
    }

    async fn join(&self, name: &str) -> EngineResult<Ticket> {
        let user_id = user(name);
        self.ask(|reply| WaitingRoomMsg::Join { user_id, reply }).await
    }

    async fn poll(&self, token: QueueToken) -> Ticket {
        let polled = self.ask(|reply| WaitingRoomMsg::Poll { token, reply }).await;
        polled.unwrap().expect("a live token")
    }

    async fn status(&self) -> RoomStatus {
        self.ask(|reply| WaitingRoomMsg::Status { reply }).await.unwrap()
    }

    /// Each token's place (0 = admitted).
    async fn places(&self, tokens: &[QueueToken]) -> Vec<Option<usize>> {
        let mut places = Vec::new();
        for token in tokens {
            places.push(self.poll(*token).await.position);
        }
        places
    }
}

/// Stores concert 7's room as scheduled at `now` (what the supervisor does before
/// its actor first starts).
async fn schedule(store: &dyn Store, schedule: RoomSchedule, now: DateTime<Utc>) {
    let settings = RoomSettings::scheduled(CONCERT, &schedule, (2, None), now).unwrap();
    store.save_room(&settings.to_row(Totals::default()), now).await.unwrap();
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

async fn join_all(room: &Room, names: &[&str]) -> Vec<QueueToken> {
    let mut tokens = Vec::new();
    for name in names {
        tokens.push(room.join(name).await.unwrap().token);
    }
    tokens
}

/// Before the pre-queue opens, joins are refused with the opening time, across a
/// restart; then the pre-queue takes joins, and the room draws at its opening.
async fn a_restart_before_the_pre_queue_opens_keeps_the_schedule(db: TestDb) {
    let clock = Clock::start();
    let now = clock.now_utc();
    let opens_at = now + secs(120);
    let timing = RoomSchedule::parse(Some(now + secs(60)), opens_at, None, None).unwrap();
    schedule(&*db.store, timing, now).await;
    let room = Room::start(db.store.clone(), clock, CONCERT).await;
    assert_eq!(room.join("early").await, Err(EngineError::RoomNotOpen { opens_at }));
    assert_eq!(room.status().await.state, RoomState::Scheduled);

    let room = room.restart(&db).await;
    assert_eq!(room.join("early").await, Err(EngineError::RoomNotOpen { opens_at }));
    tokio::time::sleep(Duration::from_secs(60)).await;
    let ticket = room.join("early").await.unwrap();
    assert_eq!((ticket.position, ticket.opens_at), (None, Some(opens_at)));
    assert_eq!(room.status().await.state, RoomState::PreQueue);

    tokio::time::sleep(Duration::from_secs(61)).await;
    let status = room.status().await;
    assert_eq!((status.state, status.admitted), (RoomState::Open, 1));
    assert!(room.poll(ticket.token).await.admitted);
}

/// Pre-queue tokens survive a restart with no place, and the room still draws at
/// its opening: every one of them gets a place, then FIFO for later joins.
async fn a_restart_during_the_pre_queue_still_draws_at_opens_at(db: TestDb) {
    let clock = Clock::start();
    let now = clock.now_utc();
    schedule(&*db.store, RoomSchedule::parse(None, now + secs(60), None, None).unwrap(), now).await;
    let room = Room::start(db.store.clone(), clock, CONCERT).await;
    let tokens = join_all(&room, &["a", "b", "c", "d", "e"]).await;

    let room = room.restart(&db).await;
    assert_eq!(room.places(&tokens).await, vec![None; 5], "still a pre-queue");
    let published = room.published.poll(tokens[0], clock.now());
    assert_eq!(published.map(|ticket| ticket.position), Some(None), "polls read no place");
    tokio::time::sleep(Duration::from_secs(61)).await;
    let stored = room.store.room(CONCERT).await.unwrap().unwrap();
    assert!(stored.drawn_at.is_some(), "the draw is stored");
    let mut places: Vec<usize> = room.places(&tokens).await.into_iter().flatten().collect();
    places.sort_unstable();
    assert_eq!(places, vec![0, 0, 1, 2, 3], "two admitted (max-active 2), three in line");
    let late = room.join("late").await.unwrap();
    assert_eq!(late.position, Some(4), "behind every drawn token");
}

/// After the draw, a restart rebuilds the line in the drawn order (not join order),
/// and does not draw again.
async fn a_restart_after_the_draw_keeps_the_drawn_order(db: TestDb) {
    let clock = Clock::start();
    let now = clock.now_utc();
    let timing = RoomSchedule::parse(None, now + secs(60), Some(1), None).unwrap();
    schedule(&*db.store, timing, now).await;
    let room = Room::start(db.store.clone(), clock, CONCERT).await;
    let names: Vec<String> = (0..12).map(|n| format!("u{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let tokens = join_all(&room, &names).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let drawn = room.places(&tokens).await;
    let drawn_at = room.store.room(CONCERT).await.unwrap().unwrap().drawn_at;
    assert!(drawn.iter().all(Option::is_some));

    let room = room.restart(&db).await;
    assert_eq!(room.places(&tokens).await, drawn, "the drawn order, restored");
    let stored = room.store.room(CONCERT).await.unwrap().unwrap();
    assert_eq!(stored.drawn_at, drawn_at, "not drawn again");
    assert_eq!(room.status().await.state, RoomState::Open);
}

/// A paused room takes joins but admits nobody, also after a restart; resuming
/// admits at once.
async fn pause_stops_admissions_and_survives_a_restart(db: TestDb) {
    let clock = Clock::start();
    let room = Room::start(db.store.clone(), clock, RoomId::Site).await;
    let status = room.ask(|reply| WaitingRoomMsg::Pause { reply }).await.unwrap();
    assert_eq!(status.state, RoomState::Paused);
    let tokens = join_all(&room, &["a", "b"]).await;
    assert_eq!(room.places(&tokens).await, vec![Some(1), Some(2)]);

    let room = room.restart(&db).await;
    let status = room.status().await;
    assert_eq!((status.state, status.admitted), (RoomState::Paused, 0));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(room.places(&tokens).await, vec![Some(1), Some(2)]);

    let status = room.ask(|reply| WaitingRoomMsg::Resume { reply }).await.unwrap();
    assert_eq!((status.state, status.admitted), (RoomState::Open, 1));
    assert_eq!(room.places(&tokens).await, vec![Some(0), Some(1)]);
}

/// Raising max-active admits at once; the new limits and the counters are durable.
async fn re_rating_applies_live_and_survives_a_restart(db: TestDb) {
    let clock = Clock::start();
    let room = Room::start(db.store.clone(), clock, RoomId::Site).await;
    let tokens = join_all(&room, &["a", "b", "c", "d"]).await;
    assert_eq!(room.status().await.admitted, 1, "the flag's max-active: 1");

    let rate = NonZeroU32::new(50);
    let rerated = room.ask(|reply| WaitingRoomMsg::Rerate {
        max_active: Some(3),
        admission_rate: Some(rate),
        reply,
    });
    let status = rerated.await.unwrap();
    assert_eq!((status.admitted, status.waiting), (3, 1));
    assert_eq!((status.max_active, status.admission_rate), (3, rate));
    assert_eq!(status.admitted_total, 3);

    let room = room.restart(&db).await;
    let status = room.status().await;
    assert_eq!((status.max_active, status.admission_rate), (3, rate));
    assert_eq!((status.admitted, status.admitted_total), (3, 3));
    assert_eq!(room.places(&tokens[3..]).await, vec![Some(1)]);

    let lowered = room.ask(|reply| WaitingRoomMsg::Rerate {
        max_active: Some(1),
        admission_rate: Some(None),
        reply,
    });
    let status = lowered.await.unwrap();
    assert_eq!((status.admitted, status.admission_rate), (3, None), "admissions honoured");
    let refused = room.ask(|reply| WaitingRoomMsg::Rerate {
        max_active: Some(0),
        admission_rate: None,
        reply,
    });
    assert!(matches!(refused.await, Err(EngineError::InvalidInput(_))));
}

/// An operator may move the opening (here earlier) until the room draws; the timer
/// of the first schedule then finds nothing to do, and a schedule after the draw
/// is refused. The site room has no schedule.
async fn rescheduling_moves_the_opening_until_the_room_has_drawn(db: TestDb) {
    let clock = Clock::start();
    let now = clock.now_utc();
    schedule(&*db.store, RoomSchedule::parse(None, now + secs(60), None, None).unwrap(), now).await;
    let room = Room::start(db.store.clone(), clock, CONCERT).await;
    let tokens = join_all(&room, &["a", "b", "c"]).await;
    let earlier = RoomSchedule::parse(None, now + secs(30), Some(1), None).unwrap();
    let status = room
        .ask(|reply| WaitingRoomMsg::Schedule { schedule: earlier.clone(), reply })
        .await
        .unwrap();
    assert_eq!((status.state, status.opens_at), (RoomState::PreQueue, Some(now + secs(30))));

    tokio::time::sleep(Duration::from_secs(31)).await;
    let status = room.status().await;
    assert_eq!((status.state, status.admitted, status.max_active), (RoomState::Open, 1, 1));
    let drawn = room.places(&tokens).await;
    let again = room.ask(|reply| WaitingRoomMsg::Schedule { schedule: earlier, reply });
    assert_eq!(again.await, Err(EngineError::RoomAlreadyOpen));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(room.places(&tokens).await, drawn, "the first timer draws nothing");

    let site = Room::start(db.store.clone(), clock, RoomId::Site).await;
    let timing = RoomSchedule::parse(None, now, None, None).unwrap();
    let refused = site.ask(|reply| WaitingRoomMsg::Schedule { schedule: timing, reply });
    assert!(matches!(refused.await, Err(EngineError::InvalidInput(_))));
}

/// A token whose row is being written when the opening comes is in the draw (the
/// draw waits for it), and a join made meanwhile is written after the draw with a
/// seq after the drawn ones, so a restart keeps it behind them.
async fn a_token_being_written_at_the_opening_is_drawn_and_later_joins_stay_behind(db: TestDb) {
    let clock = Clock::start();
    let now = clock.now_utc();
    let timing = RoomSchedule::parse(None, now + secs(10), Some(1), None).unwrap();
    schedule(&*db.store, timing, now).await;
    let (gated, gate) = gated::GatedInserts::wrap(db.store.clone());
    let room = Arc::new(Room::start(gated, clock, CONCERT).await);
    let early = room.join("early").await.unwrap().token;

    gate.send_replace(false);
    let writing = tokio::spawn({
        let room = room.clone();
        async move { room.join("writing").await }
    });
    wait_for_waiting(&room, 2).await;
    tokio::time::sleep(Duration::from_secs(11)).await;
    let late = tokio::spawn({
        let room = room.clone();
        async move { room.join("late").await }
    });
    wait_for_waiting(&room, 3).await;
    assert_eq!(room.status().await.state, RoomState::PreQueue, "the draw waits");
    gate.send_replace(true);
    let writing = writing.await.unwrap().unwrap().token;
    let late = late.await.unwrap().unwrap();
    assert_eq!(late.position, Some(2), "behind both drawn tokens");
    let mut drawn = room.places(&[early, writing]).await;
    drawn.sort_unstable();
    assert_eq!(drawn, vec![Some(0), Some(1)], "both drawn: one admitted, one first in line");

    let room = Arc::into_inner(room).expect("one owner").restart(&db).await;
    assert_eq!(room.places(&[late.token]).await, vec![Some(2)], "its seq is after the draw's");
}

/// Waits until the room counts `n` waiting tokens (joins sent from other tasks).
async fn wait_for_waiting(room: &Room, n: usize) {
    for _ in 0..1000 {
        if room.status().await.waiting >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{n} tokens never waited");
}

/// A store whose token inserts wait while its gate is closed.
mod gated {
    use std::sync::Arc;

    use async_trait::async_trait;
    use tokio::sync::watch;

    use crate::store::{Decorator, Store, StoreError, WriteOp, WriteOutcome};

    pub(super) struct GatedInserts {
        inner: Arc<dyn Store>,
        open: watch::Receiver<bool>,
    }

    impl GatedInserts {
        /// The gated store, and its gate (open).
        pub(super) fn wrap(inner: Arc<dyn Store>) -> (Arc<dyn Store>, watch::Sender<bool>) {
            let (gate, open) = watch::channel(true);
            (Arc::new(Self { inner, open }), gate)
        }
    }

    #[async_trait]
    impl Decorator for GatedInserts {
        fn inner(&self) -> &dyn Store {
            &*self.inner
        }

        async fn apply(&self, op: WriteOp) -> Result<WriteOutcome, StoreError> {
            if matches!(op, WriteOp::InsertTokens(_)) {
                let mut open = self.open.clone();
                let _ = open.wait_for(|open| *open).await;
            }
            self.inner.apply(op).await
        }
    }
}

/// The opening passed while the room was down (or was scheduled in the past): it
/// draws as soon as it starts, its pre-queue included.
async fn a_room_started_after_its_opening_draws_at_once(db: TestDb) {
    let clock = Clock::start();
    let now = clock.now_utc();
    schedule(&*db.store, RoomSchedule::parse(None, now + secs(30), None, None).unwrap(), now).await;
    let room = Room::start(db.store.clone(), clock, CONCERT).await;
    let tokens = join_all(&room, &["a", "b", "c"]).await;
    room.actor.stop_and_wait(None, None).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;

    let room = Room::start(reopen(&db).await, clock, CONCERT).await;
    assert_eq!(room.status().await.state, RoomState::Open);
    let mut places: Vec<_> = room.places(&tokens).await.into_iter().flatten().collect();
    places.sort_unstable();
    assert_eq!(places, vec![0, 0, 1]);
}
