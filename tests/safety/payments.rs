//! 100 concurrent payments of one reservation: one sale, one debit, and every other
//! request told the reservation is paid.

use actors::backend_tests;
use actors::testkit::TestDb;

use concert_client::routes;

use crate::helpers::{AppOptions, TestApp, json_ok, msg, spawn_app, spawn_app_with};
use crate::invariants::{self, count};
use crate::support::{self, Answer, error_body};

const PAYMENTS: usize = 100;

/// A user with 25,000 points and a hold of seat 7 in session 1: (token, reservation).
async fn payer_with_a_hold(app: &TestApp) -> (String, i64) {
    let token = app.admitted("Payer").await;
    json_ok(app.api.charge(&token, 25_000).await);
    let reservation = app.hold_ok(&token, 1, 7).await;
    (token, reservation)
}

/// Sends the same payment `PAYMENTS` times at once (one connection each).
async fn pay_at_once(
    app: &TestApp,
    token: &str,
    reservation: i64,
    key: Option<&str>,
) -> Vec<Answer> {
    let client = support::client(&app.address, PAYMENTS);
    let pay = |_| Answer::call(&client, routes::pay(token, reservation, key));
    futures::future::join_all((0..PAYMENTS).map(pay)).await
}

/// The database saw one payment of `reservation` and one debit of its price.
async fn assert_one_debit(db: &TestDb, reservation: i64) {
    let payments = format!("SELECT COUNT(*) FROM payments WHERE reservation_id = {reservation}");
    assert_eq!(count(db, &payments).await, 1, "one payment");
    let debits = "SELECT COUNT(*) FROM ledger WHERE user_id = 'Payer' AND kind = 'payment'";
    assert_eq!(count(db, debits).await, 1, "one debit");
    assert_eq!(
        count(db, "SELECT balance FROM wallets WHERE user_id = 'Payer'").await,
        15_000
    );
    let status =
        format!("SELECT COUNT(*) FROM reservations WHERE id = {reservation} AND status = 'paid'");
    assert_eq!(count(db, &status).await, 1, "the reservation is paid");
}

backend_tests! {
    a_hundred_concurrent_payments_of_one_reservation_make_one_sale_and_ninety_nine_409s,
    with_payment_ending_the_admission_the_losers_get_409_or_401_and_one_debit,
}

async fn a_hundred_concurrent_payments_of_one_reservation_make_one_sale_and_ninety_nine_409s(
    db: TestDb,
) {
    // The winner's payment would end the token's admission, and a loser that arrives
    // after that is refused for its token (401) before the reservation is looked at:
    // keep the token admitted so that all 99 losers are judged on the reservation.
    let mut options = AppOptions::default();
    options.engine.expire_token_on_payment = false;
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    let (token, reservation) = payer_with_a_hold(&app).await;
    let answers = pay_at_once(&app, &token, reservation, None).await;
    let tally = support::tally(&answers);
    eprintln!(
        "payments[{}]: {PAYMENTS} concurrent payments of one reservation: {tally:?}",
        db.store.backend()
    );

    let paid: Vec<&Answer> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(paid.len(), 1, "one sale: {tally:?}");
    assert_eq!(
        (
            paid[0].body["reservationId"].as_i64(),
            paid[0].body["balance"].as_i64()
        ),
        (Some(reservation), Some(15_000))
    );
    let already_paid = error_body(409, "ALREADY_PAID", msg::ALREADY_PAID);
    for refused in answers.iter().filter(|a| a.status != 200) {
        assert_eq!((refused.status, &refused.body), (409, &already_paid));
    }
    assert_one_debit(&db, reservation).await;
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}

async fn with_payment_ending_the_admission_the_losers_get_409_or_401_and_one_debit(db: TestDb) {
    let app = spawn_app(&db).await;
    let (token, reservation) = payer_with_a_hold(&app).await;
    let answers = pay_at_once(&app, &token, reservation, None).await;
    let tally = support::tally(&answers);
    eprintln!(
        "payments[{}]: {PAYMENTS} concurrent payments, admission ends on payment: {tally:?}",
        db.store.backend()
    );

    assert_eq!(
        answers.iter().filter(|a| a.status == 200).count(),
        1,
        "one sale: {tally:?}"
    );
    let already_paid = error_body(409, "ALREADY_PAID", msg::ALREADY_PAID);
    let expired = error_body(401, "TOKEN_EXPIRED", msg::TOKEN_EXPIRED);
    for refused in answers.iter().filter(|a| a.status != 200) {
        assert!(
            (refused.status, &refused.body) == (409, &already_paid)
                || (refused.status, &refused.body) == (401, &expired),
            "a loser is told the reservation is paid or the token expired: {refused:?}"
        );
    }
    assert_one_debit(&db, reservation).await;
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}
