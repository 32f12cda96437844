//! Retries with one `Idempotency-Key`: however many, concurrent or one after another,
//! before or after the payment ended the token's admission, there is one payment and
//! every retry is answered with the first answer, byte for byte.

use actors::backend_tests;
use actors::testkit::TestDb;
use serde_json::Value;

use concert_client::routes;

use crate::helpers::{TestApp, assert_error, json_ok, msg, spawn_app, token_of};
use crate::invariants::{self, count};
use crate::support::{self, Answer};

const RETRIES: usize = 50;

/// `n` payments of `reservation` with `key` at once (one connection each): their bodies.
async fn pay_at_once(
    app: &TestApp,
    token: &str,
    reservation: i64,
    key: &str,
    n: usize,
) -> Vec<Answer> {
    let client = support::client(&app.address, n);
    let pay = |_| Answer::call(&client, routes::pay(token, reservation, Some(key)));
    futures::future::join_all((0..n).map(pay)).await
}

/// Asserts that every answer is a 200 with the same body, and returns it.
fn one_answer(answers: &[Answer]) -> Value {
    let tally = support::tally(answers);
    let first = &answers[0];
    for answer in answers {
        assert_eq!(
            (answer.status, &answer.body),
            (200, &first.body),
            "every retry answers the first payment: {tally:?}"
        );
    }
    first.body.clone()
}

async fn assert_paid_once(db: &TestDb, user: &str, balance: i64) {
    let payments = format!("SELECT COUNT(*) FROM payments WHERE user_id = '{user}'");
    assert_eq!(count(db, &payments).await, 1, "one payment");
    let debits =
        format!("SELECT COUNT(*) FROM ledger WHERE user_id = '{user}' AND kind = 'payment'");
    assert_eq!(count(db, &debits).await, 1, "one debit");
    let wallet = format!("SELECT balance FROM wallets WHERE user_id = '{user}'");
    assert_eq!(count(db, &wallet).await, balance);
}

/// 50 payments with one key, all at once, racing the first: all must answer it.
async fn concurrent_retries_racing_the_first_payment(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("Payer").await;
    json_ok(app.api.charge(&token, 25_000).await);
    let reservation = app.hold_ok(&token, 1, 3).await;
    let answers = pay_at_once(&app, &token, reservation, "order-1", RETRIES).await;
    eprintln!(
        "idempotency[{}]: {RETRIES} concurrent first tries: {:?}",
        db.store.backend(),
        support::tally(&answers)
    );
    let first = one_answer(&answers);
    assert_eq!(
        (first["reservationId"].as_i64(), first["balance"].as_i64()),
        (Some(reservation), Some(15_000))
    );
    assert_paid_once(&db, "Payer", 15_000).await;
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}

/// A request that finds no payment under its key, then reads the reservation after
/// the winner committed, must still get the winner's answer (the engine looks the key
/// up again whenever it finds the reservation paid).
mod concurrent_retries_racing_the_first_payment_all_answer_it {
    use super::*;

    #[tokio::test]
    async fn sqlite() {
        concurrent_retries_racing_the_first_payment(actors::testkit::sqlite().await).await;
    }

    #[tokio::test]
    async fn postgres() {
        if let Some(db) = actors::testkit::postgres().await {
            concurrent_retries_racing_the_first_payment(db).await;
        }
    }
}

backend_tests! {
    concurrent_retries_after_the_payment_ended_the_admission_answer_it_and_pay_once,
    sequential_retries_after_the_admission_ended_answer_the_first_payment,
}

async fn concurrent_retries_after_the_payment_ended_the_admission_answer_it_and_pay_once(
    db: TestDb,
) {
    let app = spawn_app(&db).await;
    let token = app.admitted("Payer").await;
    json_ok(app.api.charge(&token, 25_000).await);
    let reservation = app.hold_ok(&token, 1, 3).await;
    let first = Answer::call(&app.api, routes::pay(&token, reservation, Some("order-1"))).await;
    assert_eq!(first.status, 200, "{:?}", first.body);

    // The payment ended the token's admission; retries with it still get the answer.
    assert_error(
        app.api.hold(&token, 1, 4).await,
        401,
        "TOKEN_EXPIRED",
        msg::TOKEN_EXPIRED,
    );
    let answers = pay_at_once(&app, &token, reservation, "order-1", RETRIES).await;
    eprintln!(
        "idempotency[{}]: {RETRIES} concurrent retries after the payment: {:?}",
        db.store.backend(),
        support::tally(&answers)
    );
    assert_eq!(one_answer(&answers), first.body);
    assert_paid_once(&db, "Payer", 15_000).await;
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}

async fn sequential_retries_after_the_admission_ended_answer_the_first_payment(db: TestDb) {
    let app = spawn_app(&db).await;
    let token = app.admitted("Payer").await;
    json_ok(app.api.charge(&token, 25_000).await);
    let reservation = app.hold_ok(&token, 1, 3).await;
    let first = Answer::call(&app.api, routes::pay(&token, reservation, Some("order-1"))).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_error(
        app.api.hold(&token, 1, 4).await,
        401,
        "TOKEN_EXPIRED",
        msg::TOKEN_EXPIRED,
    );

    for _ in 0..10 {
        let retry = Answer::call(&app.api, routes::pay(&token, reservation, Some("order-1"))).await;
        assert_eq!(retry, first, "a retry with the ended token");
    }
    // The same user through a new token (the old one's poll issues it): same answer.
    let renewed = token_of(&app.poll(&token).await);
    assert_ne!(renewed, token);
    let retry = Answer::call(
        &app.api,
        routes::pay(&renewed, reservation, Some("order-1")),
    )
    .await;
    assert_eq!(retry, first, "a retry with the user's new token");
    assert_paid_once(&db, "Payer", 15_000).await;
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}
