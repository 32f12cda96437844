//! Wallets: concurrent charges add up exactly, a balance needs a live token,
//! and an idle wallet stops and comes back with the same balance.

use std::time::Duration;

use actors::backend_tests;
use actors::domain::{ChargeAmount, Points};
use actors::testkit::TestDb;
use actors::{EngineConfig, EngineError};

use crate::common::*;

backend_tests! {
    concurrent_charges_add_up,
    balance_needs_a_live_token,
    #[paused] idle_wallet_stops_and_returns,
}

/// 200 concurrent charges of one wallet add up to exactly their sum.
async fn concurrent_charges_add_up(db: TestDb) {
    let app = start(&db, config()).await;
    let alice = join(&app.engine, "alice").await;
    let charges = (1..=200).map(|n| {
        let (engine, alice) = (app.engine.clone(), alice.clone());
        tokio::spawn(async move { charge_to(&engine, &alice, ChargeAmount(n)).await })
    });
    for charge in charges {
        charge.await.unwrap().unwrap();
    }
    let expected = Points((1..=200).sum());
    assert_eq!(
        balance_of(&app.engine, &alice).await.unwrap().balance,
        expected
    );
    assert_eq!(db.store.balance(&alice.user_id).await.unwrap(), expected);
}

/// A waiting token may charge; an expired one may not.
async fn balance_needs_a_live_token(db: TestDb) {
    let app = start(&db, one_at_a_time()).await;
    let first = admitted(&app.engine, "first").await;
    let waiting = join(&app.engine, "waiting").await;
    assert_eq!(
        charge_to(&app.engine, &waiting, ChargeAmount(5))
            .await
            .unwrap()
            .balance,
        Points(5)
    );
    let mut expired = first.clone();
    expired.status = actors::CallerStatus::Expired;
    assert_eq!(
        balance_of(&app.engine, &expired).await,
        Err(EngineError::InvalidToken)
    );
}

/// A wallet left alone stops (memory follows active users) and the next request
/// spawns a new one that reads the same balance back.
async fn idle_wallet_stops_and_returns(db: TestDb) {
    let app = start(
        &db,
        EngineConfig {
            wallet_idle: Duration::from_secs(60),
            ..config()
        },
    )
    .await;
    let alice = join(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(700))
        .await
        .unwrap();
    assert_eq!(app.engine.running_wallets(), 1);
    for _ in 0..4 {
        tokio::time::advance(Duration::from_secs(30)).await;
        settle().await;
    }
    assert_eq!(app.engine.running_wallets(), 0, "the idle wallet stopped");
    assert_eq!(
        balance_of(&app.engine, &alice).await.unwrap().balance,
        Points(700)
    );
    assert_eq!(app.engine.running_wallets(), 1);
}
