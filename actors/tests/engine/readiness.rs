//! `Engine::readiness`: ready once started; not ready while the database does not
//! answer (refuses, or hangs past the timeout) or while an actor is down, and ready
//! again once it is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use actors::EngineError;
use actors::backend_tests;
use actors::clock::Clock;
use actors::domain::RoomId;
use actors::engine::{FaultTarget, NotReady};
use actors::store::{Decorator, Store, StoreError};
use actors::testkit::TestDb;

use crate::common::{config, eventually, join, start_faulty, start_on};

backend_tests! {
    ready_once_started_and_not_while_the_database_refuses,
    #[paused] a_database_that_does_not_answer_is_not_ready_within_the_timeout,
    a_waiting_room_being_restored_is_not_ready_until_it_is_back,
}

const UP: u8 = 0;
const REFUSING: u8 = 1;
const HANGING: u8 = 2;

/// The database as readiness sees it: its trivial query answered, refused, or never
/// answered. Every other call goes through.
struct Unplugged {
    inner: Arc<dyn Store>,
    state: AtomicU8,
}

#[async_trait::async_trait]
impl Decorator for Unplugged {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match self.state.load(Ordering::SeqCst) {
            REFUSING => Err(StoreError::Unavailable("connection refused".into())),
            HANGING => std::future::pending().await,
            _ => self.inner.ping().await,
        }
    }
}

async fn unplugged(db: &TestDb) -> (Arc<Unplugged>, crate::common::Running) {
    let store = Arc::new(Unplugged {
        inner: db.store.clone(),
        state: AtomicU8::new(UP),
    });
    let app = start_on(store.clone(), config(), Clock::start()).await;
    (store, app)
}

async fn ready_once_started_and_not_while_the_database_refuses(db: TestDb) {
    let (store, app) = unplugged(&db).await;
    assert_eq!(app.engine.readiness().await, Ok(()));
    store.state.store(REFUSING, Ordering::SeqCst);
    let refused = app.engine.readiness().await;
    assert_eq!(
        refused,
        Err(NotReady::Database("connection refused".into()))
    );
    assert_eq!(
        refused.unwrap_err().to_string(),
        "database: connection refused"
    );
    store.state.store(UP, Ordering::SeqCst);
    assert_eq!(app.engine.readiness().await, Ok(()));
}

async fn a_database_that_does_not_answer_is_not_ready_within_the_timeout(db: TestDb) {
    let (store, app) = unplugged(&db).await;
    store.state.store(HANGING, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let hung = app.engine.readiness().await.unwrap_err();
    assert_eq!(started.elapsed(), actors::engine::READY_DB_TIMEOUT);
    assert_eq!(hung.to_string(), "database: no answer within 800 ms");
}

/// The site room's actor crashes and its restore is held: not ready (the room is
/// down) until the restore goes on, then ready.
async fn a_waiting_room_being_restored_is_not_ready_until_it_is_back(db: TestDb) {
    let (faulty, app) = start_faulty(&db, config()).await;
    join(&app.engine, "first").await;
    assert_eq!(app.engine.readiness().await, Ok(()));
    faulty.hold_restores(true);
    let restoring = faulty.restore_started();
    assert_eq!(
        app.engine
            .inject_fault(FaultTarget::WaitingRoom(RoomId::Site))
            .await,
        Err(EngineError::ActorFailed)
    );
    restoring.await;
    let down = app.engine.readiness().await;
    assert_eq!(down, Err(NotReady::WaitingRoomDown(RoomId::Site)));
    assert_eq!(down.unwrap_err().to_string(), "waiting room site: down");
    faulty.hold_restores(false);
    eventually("the waiting room to be back", || async {
        app.engine.readiness().await.ok()
    })
    .await;
}
