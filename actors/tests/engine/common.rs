//! Shared set-up: an engine on a test database, and callers in the states tests need.

use std::sync::Arc;
use std::time::Duration;

use actors::WalletView;
use actors::clock::Clock;
use actors::domain::{ChargeAmount, IdempotencyKey, ReservationId, SessionId};
use actors::engine::{HoldReceipt, PaymentReceipt, Ticket};
use actors::store::{SessionRow, Store};
use actors::testkit::{TestDb, seed_session, user};
use actors::{Caller, CallerStatus, Engine, EngineConfig, EngineMonitor, EngineResult, Payer};

use crate::faulty_store::FaultyStore;

/// The contract's defaults, with room for ten admitted users.
pub fn config() -> EngineConfig {
    EngineConfig {
        max_active: 10,
        ..EngineConfig::default()
    }
}

/// [`config`] with one admission at a time: the next in line waits for the first to end.
pub fn one_at_a_time() -> EngineConfig {
    EngineConfig {
        max_active: 1,
        ..config()
    }
}

/// A running engine and what restarting it needs.
pub struct Running {
    pub engine: Engine,
    pub monitor: EngineMonitor,
    pub clock: Clock,
}

/// Starts an engine on `store` with `config`.
pub async fn start_on(store: Arc<dyn Store>, config: EngineConfig, clock: Clock) -> Running {
    let (engine, monitor) = Engine::start_with_clock(store, config, clock)
        .await
        .expect("the engine starts");
    Running {
        engine,
        monitor,
        clock,
    }
}

/// Starts an engine on the test database.
pub async fn start(db: &TestDb, config: EngineConfig) -> Running {
    start_on(db.store.clone(), config, Clock::start()).await
}

/// A session of `seats` seats at 10,000 points, created before the engine starts.
pub async fn session(db: &TestDb, seats: u32) -> SessionRow {
    seed_session(&*db.store, seats, 10_000).await
}

/// Users `u0` to `u{n-1}` ask for a token all at once (each on a task of its own);
/// their answers, in user order.
pub async fn join_at_once(engine: &Engine, n: usize) -> Vec<EngineResult<Ticket>> {
    let joins: Vec<_> = (0..n)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.queue(None, Some(user(&format!("u{i}")))).await })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for join in joins {
        answers.push(join.await.expect("the join task ran"));
    }
    answers
}

/// A caller for `name`'s live token, whatever its status.
pub async fn join(engine: &Engine, name: &str) -> Caller {
    let ticket = engine
        .queue(None, Some(user(name)))
        .await
        .expect("a token is issued");
    engine
        .identify(Some(&ticket.token.to_string()))
        .await
        .expect("the new token is known")
}

/// A caller for `name`, admitted (the test's config must leave room).
pub async fn admitted(engine: &Engine, name: &str) -> Caller {
    let caller = join(engine, name).await;
    assert_eq!(caller.status, CallerStatus::Admitted, "{name} is admitted");
    caller
}

/// The caller's token, resolved again (its status may have changed).
pub async fn reidentify(engine: &Engine, caller: &Caller) -> Caller {
    engine
        .identify(Some(&caller.token.to_string()))
        .await
        .expect("the token is known")
}

// A request as the HTTP layer makes it: the caller's token judged for the call (as its
// extractor does), then the one engine call, so a test sees either refusal.

/// A hold by `caller`.
pub async fn hold_as(
    engine: &Engine,
    caller: &Caller,
    session: SessionId,
    seat: i64,
) -> EngineResult<HoldReceipt> {
    let caller = caller.clone().admitted()?;
    engine.hold(&caller, session.0, seat).await
}

/// A release by `caller`.
pub async fn release_as(
    engine: &Engine,
    caller: &Caller,
    reservation: ReservationId,
) -> EngineResult<()> {
    engine
        .release(&caller.clone().admitted()?, reservation)
        .await
}

/// A payment by `caller`, with `key` if given.
pub async fn pay_as(
    engine: &Engine,
    caller: &Caller,
    reservation: ReservationId,
    key: Option<IdempotencyKey>,
) -> EngineResult<PaymentReceipt> {
    let payer = Payer::new(caller.clone(), key)?;
    engine.pay(&payer, reservation.0).await
}

/// `caller`'s balance.
pub async fn balance_of(engine: &Engine, caller: &Caller) -> EngineResult<WalletView> {
    engine.balance(&caller.clone().live()?).await
}

/// A charge of `amount` to `caller`'s wallet.
pub async fn charge_to(
    engine: &Engine,
    caller: &Caller,
    amount: ChargeAmount,
) -> EngineResult<WalletView> {
    engine.charge(&caller.clone().live()?, amount, None).await
}

/// Lets timer tasks woken by `tokio::time::advance` deliver their messages.
pub async fn settle() {
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
}

/// Retries `probe` until it returns `Some`, for at most five seconds (a restart
/// happens on the supervisor's task; there is no reply to wait for). Not for
/// paused-clock tests, where the sleep would move the clock.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Starts an engine on a [`FaultyStore`] over `db`'s store, injecting nothing until
/// the test sets its faults on the returned handle.
pub async fn start_faulty(db: &TestDb, config: EngineConfig) -> (Arc<FaultyStore>, Running) {
    let faulty = FaultyStore::new(db.store.clone());
    let app = start_on(faulty.clone(), config, Clock::start()).await;
    (faulty, app)
}
