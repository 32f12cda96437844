//! Model-based property test: random sequences of hold / release / expiry / pay /
//! charge / actor crash, sent to the real SessionActor and Wallets over a real
//! store, and to a plain reference model. After every step the engine's seat map,
//! the published availability and every balance (in the actors and in the store)
//! must equal the model's.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::clock::Clock;
use actors::domain::{ChargeAmount, Points, ReservationId};
use actors::engine::FaultTarget;
use actors::store::SessionRow;
use actors::testkit::{TestDb, seed_session, user};
use actors::{Admitted, Engine, EngineConfig, EngineError, Live};
use proptest::prelude::*;

const USERS: usize = 3;
const SEATS: u32 = 5;
const PRICE: i64 = 100;
const HOLD_TTL_SECS: u64 = 60;
const MAX_HOLDS: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    Hold { user: usize, seat: u32 },
    Release { user: usize, pick: usize },
    Pay { user: usize, pick: usize },
    Charge { user: usize, amount: i64 },
    Advance { secs: u64 },
    CrashSession,
    CrashWallet { user: usize },
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS;
    prop_oneof![
        4 => (user.clone(), 1..=SEATS).prop_map(|(user, seat)| Op::Hold { user, seat }),
        1 => (user.clone(), any::<usize>()).prop_map(|(user, pick)| Op::Release { user, pick }),
        3 => (user.clone(), any::<usize>()).prop_map(|(user, pick)| Op::Pay { user, pick }),
        2 => (user.clone(), 1..250i64).prop_map(|(user, amount)| Op::Charge { user, amount }),
        2 => (1..=45u64).prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::CrashSession),
        1 => user.prop_map(|user| Op::CrashWallet { user }),
    ]
}

/// Where the model says a seat stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeatState {
    Held { owner: usize, deadline_secs: u64 },
    Sold,
}

/// The reference: plain maps and arithmetic, no actors, no store.
#[derive(Debug, Default)]
struct Model {
    now_secs: u64,
    /// Every reservation made, in order: (id, owner, seat).
    reservations: Vec<(ReservationId, usize, u32)>,
    /// Live reservations by id.
    live: BTreeMap<ReservationId, SeatState>,
    balances: [i64; USERS],
}

impl Model {
    fn seat_taken(&self, seat: u32) -> bool {
        self.live.iter().any(|(id, state)| {
            self.seat_of(*id) == seat
                && match state {
                    SeatState::Sold => true,
                    SeatState::Held { deadline_secs, .. } => *deadline_secs > self.now_secs,
                }
        })
    }

    fn seat_of(&self, id: ReservationId) -> u32 {
        self.reservations
            .iter()
            .find(|r| r.0 == id)
            .expect("known")
            .2
    }

    fn live_holds_of(&self, user: usize) -> usize {
        self.live
            .values()
            .filter(|s| matches!(s, SeatState::Held { owner, deadline_secs } if *owner == user && *deadline_secs > self.now_secs))
            .count()
    }

    fn expire(&mut self) {
        let now = self.now_secs;
        self.live.retain(
            |_, s| !matches!(s, SeatState::Held { deadline_secs, .. } if *deadline_secs <= now),
        );
    }

    fn taken(&self) -> Vec<bool> {
        (1..=SEATS).map(|seat| self.seat_taken(seat)).collect()
    }
}

struct Harness {
    engine: Engine,
    session: SessionRow,
    /// Each user's token, admitted (for holds and payments) and live (for the wallet).
    callers: Vec<(Admitted, Live)>,
}

async fn harness(db: &TestDb) -> Harness {
    let session = seed_session(&*db.store, SEATS, PRICE).await;
    let config = EngineConfig {
        max_active: 10,
        hold_ttl: Duration::from_secs(HOLD_TTL_SECS),
        active_ttl: Duration::from_secs(86_400),
        waiting_idle: Duration::from_secs(86_400),
        max_holds_per_user: MAX_HOLDS as u32,
        expire_token_on_payment: false,
        wallet_idle: Duration::from_secs(86_400),
        max_restarts: 1_000,
        ..EngineConfig::default()
    };
    let (engine, _monitor) = Engine::start_with_clock(db.store.clone(), config, Clock::start())
        .await
        .unwrap();
    let mut callers = Vec::new();
    for n in 0..USERS {
        let ticket = engine
            .queue(None, Some(user(&format!("user{n}"))))
            .await
            .unwrap();
        let caller = engine
            .identify(Some(&ticket.token.to_string()))
            .await
            .unwrap();
        callers.push((caller.clone().admitted().unwrap(), caller.live().unwrap()));
    }
    Harness {
        engine,
        session,
        callers,
    }
}

/// Lets woken timers deliver their messages, without moving the paused clock.
async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

/// Retries `probe` until the restarted actor answers. Real time only: the paused
/// clock must not move while we wait.
async fn until_ok<T>(mut probe: impl AsyncFnMut() -> Result<T, EngineError>) -> T {
    for _ in 0..5_000 {
        match probe().await {
            Ok(value) => return value,
            Err(EngineError::ActorFailed | EngineError::Unreachable) => {
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(other) => panic!("unexpected error while waiting for a restart: {other}"),
        }
    }
    panic!("the actor did not come back");
}

async fn run(db: TestDb, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let h = harness(&db).await;
    let mut model = Model::default();
    for op in ops {
        match op.clone() {
            Op::Hold { user, seat } => {
                let got = h
                    .engine
                    .hold(&h.callers[user].0, h.session.id.0, i64::from(seat))
                    .await;
                let expected = if model.seat_taken(seat) {
                    Err(EngineError::SeatAlreadyReserved)
                } else if model.live_holds_of(user) >= MAX_HOLDS {
                    Err(EngineError::HoldLimitExceeded)
                } else {
                    Ok(())
                };
                prop_assert_eq!(
                    got.as_ref().map(|_| ()).map_err(Clone::clone),
                    expected,
                    "{:?}",
                    op
                );
                if let Ok(receipt) = got {
                    model.expire();
                    model
                        .reservations
                        .push((receipt.reservation_id, user, seat));
                    model.live.insert(
                        receipt.reservation_id,
                        SeatState::Held {
                            owner: user,
                            deadline_secs: model.now_secs + HOLD_TTL_SECS,
                        },
                    );
                }
            }
            Op::Release { user, pick } => {
                let Some(&(id, owner, _)) = model
                    .reservations
                    .get(pick % model.reservations.len().max(1))
                else {
                    continue;
                };
                let got = h.engine.release(&h.callers[user].0, id).await;
                model.expire();
                let live_hold = matches!(model.live.get(&id), Some(SeatState::Held { .. }));
                let expected = if owner == user && live_hold {
                    Ok(())
                } else {
                    Err(EngineError::ReservationNotFound)
                };
                prop_assert_eq!(&got, &expected, "{:?}", op);
                if got.is_ok() {
                    model.live.remove(&id);
                }
            }
            Op::Pay { user, pick } => {
                let Some(&(id, owner, _)) = model
                    .reservations
                    .get(pick % model.reservations.len().max(1))
                else {
                    continue;
                };
                let got = h.engine.pay(&h.callers[user].0.clone().into(), id.0).await;
                model.expire();
                let expected = if owner != user {
                    Err(EngineError::ReservationNotFound)
                } else {
                    match model.live.get(&id) {
                        Some(SeatState::Sold) => Err(EngineError::AlreadyPaid),
                        None => Err(EngineError::ReservationExpired),
                        Some(SeatState::Held { .. }) if model.balances[user] < PRICE => {
                            Err(EngineError::InsufficientBalance)
                        }
                        Some(SeatState::Held { .. }) => Ok(()),
                    }
                };
                prop_assert_eq!(
                    got.as_ref().map(|_| ()).map_err(Clone::clone),
                    expected,
                    "{:?}",
                    op
                );
                if let Ok(payment) = got {
                    model.balances[user] -= PRICE;
                    prop_assert_eq!(payment.balance_after, Points(model.balances[user]));
                    model.live.insert(id, SeatState::Sold);
                }
            }
            Op::Charge { user, amount } => {
                let got = h
                    .engine
                    .charge(&h.callers[user].1, ChargeAmount(amount), None)
                    .await
                    .unwrap();
                model.balances[user] += amount;
                prop_assert_eq!(got.balance, Points(model.balances[user]));
            }
            Op::Advance { secs } => {
                tokio::time::advance(Duration::from_secs(secs)).await;
                model.now_secs += secs;
                settle().await;
            }
            Op::CrashSession => {
                let got = h
                    .engine
                    .inject_fault(FaultTarget::Session(h.session.id))
                    .await;
                prop_assert_eq!(got, Err(EngineError::ActorFailed));
                until_ok(async || h.engine.seats(h.session.id).await).await;
            }
            Op::CrashWallet { user } => {
                let target = FaultTarget::Wallet(h.callers[user].0.user_id.clone());
                prop_assert_eq!(
                    h.engine.inject_fault(target).await,
                    Err(EngineError::ActorFailed)
                );
            }
        }
        // Invariants after every step.
        model.expire();
        let seats = until_ok(async || h.engine.seats(h.session.id).await).await;
        prop_assert_eq!(&seats.taken, &model.taken(), "seat map after {:?}", op);
        let listed = h.engine.sessions(h.session.concert_id).unwrap();
        prop_assert_eq!(
            listed[0].available,
            model.taken().iter().filter(|t| !**t).count()
        );
        for (n, (_, caller)) in h.callers.iter().enumerate() {
            let balance = until_ok(async || h.engine.balance(caller).await).await;
            prop_assert_eq!(
                balance.balance,
                Points(model.balances[n]),
                "user{} after {:?}",
                n,
                op
            );
            prop_assert!(balance.balance.0 >= 0);
            prop_assert_eq!(
                db.store.balance(&caller.user_id).await.unwrap(),
                Points(model.balances[n])
            );
        }
    }
    h.engine.shutdown().await;
    Ok(())
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model_on_sqlite(ops in proptest::collection::vec(op(), 1..40)) {
        paused_runtime().block_on(async { run(actors::testkit::sqlite().await, ops).await })?;
    }

    #[test]
    fn engine_matches_the_model_on_postgres(ops in proptest::collection::vec(op(), 1..40)) {
        paused_runtime().block_on(async {
            match actors::testkit::postgres().await {
                Some(db) => run(db, ops).await,
                None => Ok(()),
            }
        })?;
    }
}
