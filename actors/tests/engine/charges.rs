//! Charges and the operator's credits with an idempotency key: applied once (also
//! when requests race with one key, and after a restart), a retry answered the first
//! balance, another amount refused; the user's keys and the operator's apart.

use actors::backend_tests;
use actors::domain::{ChargeAmount, IdempotencyKey, Points};
use actors::testkit::{TestDb, user};
use actors::{EngineError, WalletView};

use crate::common::*;

backend_tests! {
    a_charge_key_replays_the_first_balance_and_refuses_another_amount,
    charges_racing_with_one_key_apply_once,
    a_charge_key_replays_after_a_restart,
    a_credit_is_applied_once_per_key,
    credits_racing_with_one_key_apply_once,
    the_operators_keys_are_apart_from_the_users,
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn view(name: &str, balance: i64) -> WalletView {
    WalletView {
        user_id: user(name),
        balance: Points(balance),
    }
}

/// The same key and amount answer the balance right after the first charge, however
/// many charges came since; another amount is refused; nothing is charged twice.
async fn a_charge_key_replays_the_first_balance_and_refuses_another_amount(db: TestDb) {
    let app = start(&db, config()).await;
    let alice = join(&app.engine, "alice").await.live().unwrap();
    let charge = |amount, k: &str| {
        app.engine
            .charge(&alice, ChargeAmount(amount), Some(key(k)))
    };
    assert_eq!(charge(100, "top-up-1").await, Ok(view("alice", 100)));
    assert_eq!(charge(50, "top-up-2").await, Ok(view("alice", 150)));
    assert_eq!(
        charge(100, "top-up-1").await,
        Ok(view("alice", 100)),
        "a replay"
    );
    assert_eq!(
        charge(200, "top-up-1").await,
        Err(EngineError::IdempotencyKeyReused)
    );
    assert_eq!(db.store.balance(&alice.user_id).await.unwrap(), Points(150));
    // Another user's identical key is another key.
    let bob = join(&app.engine, "bob").await.live().unwrap();
    let bobs = app
        .engine
        .charge(&bob, ChargeAmount(7), Some(key("top-up-1")))
        .await;
    assert_eq!(bobs, Ok(view("bob", 7)));
}

/// 50 charges with one key at once: one is applied, all answer its balance.
async fn charges_racing_with_one_key_apply_once(db: TestDb) {
    let app = start(&db, config()).await;
    let alice = join(&app.engine, "alice").await.live().unwrap();
    let charges: Vec<_> = (0..50)
        .map(|_| {
            let (engine, alice) = (app.engine.clone(), alice.clone());
            tokio::spawn(async move {
                engine
                    .charge(&alice, ChargeAmount(300), Some(key("once")))
                    .await
            })
        })
        .collect();
    for charge in charges {
        assert_eq!(charge.await.unwrap(), Ok(view("alice", 300)));
    }
    assert_eq!(db.store.balance(&alice.user_id).await.unwrap(), Points(300));
}

/// The key is durable: after a restart the retry is answered the first balance.
async fn a_charge_key_replays_after_a_restart(db: TestDb) {
    let app = start(&db, config()).await;
    let alice = join(&app.engine, "alice").await.live().unwrap();
    let first = app
        .engine
        .charge(&alice, ChargeAmount(400), Some(key("before")))
        .await;
    assert_eq!(first, Ok(view("alice", 400)));
    app.engine.shutdown().await;
    let again = start_on(actors::testkit::reopen(&db).await, config(), app.clock).await;
    let alice = reidentify(&again.engine, &alice).await.live().unwrap();
    let retry = again
        .engine
        .charge(&alice, ChargeAmount(400), Some(key("before")))
        .await;
    assert_eq!(retry, Ok(view("alice", 400)));
    assert_eq!(
        balance_of(&again.engine, &alice).await.unwrap().balance,
        Points(400)
    );
}

/// The operator's credit goes through the user's wallet: the balance reads it back; a
/// retry replays it; another amount with the key is refused.
async fn a_credit_is_applied_once_per_key(db: TestDb) {
    let app = start(&db, config()).await;
    let carol = user("carol");
    let credit = |amount, k: &str| app.engine.credit(&carol, ChargeAmount(amount), key(k));
    assert_eq!(credit(1_000, "pg-1").await, Ok(view("carol", 1_000)));
    assert_eq!(credit(1_000, "pg-1").await, Ok(view("carol", 1_000)));
    assert_eq!(credit(2_000, "pg-2").await, Ok(view("carol", 3_000)));
    assert_eq!(
        credit(5, "pg-1").await,
        Err(EngineError::IdempotencyKeyReused)
    );
    let caller = join(&app.engine, "carol").await;
    assert_eq!(
        balance_of(&app.engine, &caller).await.unwrap().balance,
        Points(3_000)
    );
}

/// 50 credits with one key at once credit once.
async fn credits_racing_with_one_key_apply_once(db: TestDb) {
    let app = start(&db, config()).await;
    let credits: Vec<_> = (0..50)
        .map(|_| {
            let engine = app.engine.clone();
            tokio::spawn(async move {
                engine
                    .credit(&user("dave"), ChargeAmount(250), key("callback-9"))
                    .await
            })
        })
        .collect();
    for credit in credits {
        assert_eq!(credit.await.unwrap(), Ok(view("dave", 250)));
    }
    assert_eq!(db.store.balance(&user("dave")).await.unwrap(), Points(250));
}

/// A user who charges with the key the operator's provider will send does not stop
/// the operator's credit: each has its own keys.
async fn the_operators_keys_are_apart_from_the_users(db: TestDb) {
    let app = start(&db, config()).await;
    let erin = join(&app.engine, "erin").await.live().unwrap();
    let charged = app
        .engine
        .charge(&erin, ChargeAmount(10), Some(key("order-77")))
        .await;
    assert_eq!(charged, Ok(view("erin", 10)));
    let credited = app
        .engine
        .credit(&erin.user_id, ChargeAmount(10), key("order-77"))
        .await;
    assert_eq!(credited, Ok(view("erin", 20)), "credited, not replayed");
}
