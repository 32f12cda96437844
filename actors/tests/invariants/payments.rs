//! Payments: each paid reservation has one payment of its holder and price, each
//! payment one debit of minus that price; one idempotency key names one payment.

use actors::backend_tests;
use actors::invariants::Code;
use actors::testkit::TestDb;

use crate::fixture::*;

backend_tests! {
    a_paid_reservation_without_payment_is_reported,
    a_reservation_paid_twice_is_reported,
    a_payment_of_an_unpaid_reservation_is_reported,
    a_payment_of_the_wrong_amount_is_reported,
    a_payment_without_debit_is_reported,
    a_payment_debited_twice_is_reported,
    a_debit_of_the_wrong_amount_is_reported,
    an_idempotency_key_used_twice_is_reported,
}

/// A paid reservation with no payment.
async fn a_paid_reservation_without_payment_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE reservations SET status = 'paid' WHERE id = {}",
            f.held.id.0
        )],
    )
    .await;
    assert_codes(&db, &[Code::PaidWithoutPayment]).await;
}

/// A reservation paid twice. `payments.reservation_id UNIQUE` refuses the second
/// payment (and SQLite cannot drop it).
async fn a_reservation_paid_twice_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let second = payment_sql(f.sold.id.0, 50, "alice", None, 1000, "alice", -500);
    refused(&db, &second[0]).await;
    if is_sqlite(&db) {
        return;
    }
    plant(
        &db,
        &["ALTER TABLE payments DROP CONSTRAINT payments_reservation_id_key".to_owned()],
    )
    .await;
    plant(&db, &second).await;
    assert_codes(&db, &[Code::PaymentDuplicated]).await;
}

/// A payment (with its debit) of a reservation that is only held.
async fn a_payment_of_an_unpaid_reservation_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &payment_sql(f.held.id.0, 50, "alice", None, 1000, "alice", -500),
    )
    .await;
    assert_codes(&db, &[Code::PaymentForUnpaid]).await;
}

/// A payment of another amount than the reservation's price.
async fn a_payment_of_the_wrong_amount_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE payments SET amount = 400 WHERE id = {}",
            f.paid
        )],
    )
    .await;
    assert_codes(&db, &[Code::PaymentMismatch]).await;
}

/// A payment with no ledger debit.
async fn a_payment_without_debit_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let mut statements = payment_sql(f.held.id.0, 50, "alice", None, 1500, "alice", -500);
    statements.truncate(1);
    statements.insert(
        0,
        format!(
            "UPDATE reservations SET status = 'paid' WHERE id = {}",
            f.held.id.0
        ),
    );
    plant(&db, &statements).await;
    assert_codes(&db, &[Code::DebitMissing]).await;
}

/// A payment debited twice. `ledger.payment_id UNIQUE` refuses the second debit
/// (and SQLite cannot drop it). The second debit's row also carries the payment's
/// id, where the ledger's sum is no longer the payment's `balance_after`.
async fn a_payment_debited_twice_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let debit = format!(
        "INSERT INTO ledger (user_id, kind, amount, payment_id, created_at) \
         VALUES ('alice', 'payment', -500, {}, {})",
        f.paid,
        lit(at(30))
    );
    refused(&db, &debit).await;
    if is_sqlite(&db) {
        return;
    }
    plant(
        &db,
        &[
            "ALTER TABLE ledger DROP CONSTRAINT ledger_payment_id_key".to_owned(),
            debit,
            "UPDATE wallets SET balance = balance - 500 WHERE user_id = 'alice'".to_owned(),
        ],
    )
    .await;
    assert_codes(&db, &[Code::DebitDuplicated, Code::BalanceAfterMismatch]).await;
}

/// A payment debited another amount than minus its price.
async fn a_debit_of_the_wrong_amount_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let mut statements = payment_sql(f.held.id.0, 50, "alice", None, 1100, "alice", -400);
    statements.insert(
        0,
        format!(
            "UPDATE reservations SET status = 'paid' WHERE id = {}",
            f.held.id.0
        ),
    );
    plant(&db, &statements).await;
    assert_codes(&db, &[Code::DebitWrongAmount]).await;
}

/// One user's idempotency key on two payments. The unique partial index refuses it.
async fn an_idempotency_key_used_twice_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let mut second = payment_sql(f.held.id.0, 50, "alice", Some("k1"), 1000, "alice", -500);
    refused(&db, &second[0]).await;
    second.insert(
        0,
        format!(
            "UPDATE reservations SET status = 'paid' WHERE id = {}",
            f.held.id.0
        ),
    );
    plant(&db, &["DROP INDEX payments_one_per_key".to_owned()]).await;
    plant(&db, &second).await;
    assert_codes(&db, &[Code::IdempotencyKeyTwice]).await;
}
