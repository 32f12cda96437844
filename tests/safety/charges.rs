//! 1,000 concurrent charges of one wallet: no update is lost, each answer is one step of
//! a single chain of balances, and balance and ledger agree to the point.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::Method;
use serde_json::json;

use concert_client::routes;

use crate::helpers::{AppOptions, json_ok, spawn_app_with};
use crate::invariants::{self, count};
use crate::support::{self, Answer};

const CHARGES: i64 = 1_000;

backend_tests! {
    a_thousand_concurrent_charges_of_one_wallet_add_up_exactly,
}

async fn a_thousand_concurrent_charges_of_one_wallet_add_up_exactly(db: TestDb) {
    // The wallet takes one charge at a time, each its own transaction: the last of a
    // thousand waits for the 999 before it, several seconds on Postgres under a busy
    // CI. Past `call_timeout` it would be answered 503 TIMEOUT (and still be applied:
    // see docs/reliability.md); this suite is about lost updates, so give it room.
    let mut options = AppOptions::default();
    options.engine.call_timeout = Duration::from_secs(60);
    options.http.request_timeout = Duration::from_secs(120);
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let token = app.admitted("Payer").await;
    // One connection per charge: all 1,000 are in flight at once.
    let client = support::client(&app.address, CHARGES as usize);
    let charge = |amount: i64| {
        let (client, token) = (&client, &token);
        async move {
            (
                amount,
                Answer::call(client, routes::charge(token, amount)).await,
            )
        }
    };
    let started = Instant::now();
    let answers = futures::future::join_all((1..=CHARGES).map(charge)).await;
    let elapsed = started.elapsed();
    eprintln!(
        "charges[{}]: {CHARGES} concurrent charges in {elapsed:.1?} ({} charges/s)",
        db.store.backend(),
        support::per_second(CHARGES as usize, elapsed),
    );

    let total: i64 = (1..=CHARGES).sum();
    let mut after = BTreeSet::new();
    let mut before = BTreeSet::new();
    for (amount, answer) in &answers {
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body["userId"], "Payer");
        let balance = answer.body["balance"].as_i64().expect("a balance");
        assert!(
            after.insert(balance),
            "two charges answered the same balance {balance}"
        );
        before.insert(balance - amount);
    }
    // Serialized charges form one chain 0 → … → total: the balance each charge started
    // from is the balance another charge ended at (or 0 for the first).
    assert_eq!(after.last(), Some(&total));
    let mut chain = after.clone();
    chain.remove(&total);
    chain.insert(0);
    assert_eq!(before, chain, "each charge started where another ended");

    let balance = app
        .request(Method::GET, "/concert/balance")
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_ok(balance),
        json!({"userId": "Payer", "balance": total})
    );
    assert_eq!(
        count(&db, "SELECT balance FROM wallets WHERE user_id = 'Payer'").await,
        total
    );
    let charges = "FROM ledger WHERE user_id = 'Payer' AND kind = 'charge'";
    assert_eq!(
        count(&db, &format!("SELECT COUNT(*) {charges}")).await,
        CHARGES
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT CAST(SUM(amount) AS BIGINT) {charges}")
        )
        .await,
        total
    );
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}
