//! Wallets and the ledger: well-formed rows, balances that are their ledgers' sums
//! and never negative, and each payment's `balance_after`.

use actors::backend_tests;
use actors::domain::{ChargeAmount, IdempotencyKey};
use actors::invariants::Code;
use actors::store::{ChargeKey, ChargeSource};
use actors::testkit::{TestDb, user};

use crate::fixture::*;

backend_tests! {
    a_debit_of_another_user_is_reported,
    a_balance_off_its_ledger_is_reported,
    a_negative_balance_is_reported,
    a_ledger_that_went_negative_is_reported,
    a_wrong_balance_after_is_reported,
    a_charge_key_off_its_charge_is_reported,
}

/// A charge key that names one charge twice is refused by the schema; one whose
/// replayed balance, amount or ledger row is off is reported.
async fn a_charge_key_off_its_charge_is_reported(db: TestDb) {
    fixture(&db).await;
    let key = ChargeKey {
        source: ChargeSource::Credit,
        key: IdempotencyKey::parse("callback-1").unwrap(),
    };
    db.store
        .keyed_charge(&user("carol"), ChargeAmount(300), at(0), Some(key))
        .await
        .unwrap();
    refused(
        &db,
        "INSERT INTO keyed_charges \
         (user_id, source, idempotency_key, ledger_id, amount, balance_after) \
         SELECT user_id, source, idempotency_key, \
                (SELECT MIN(id) FROM ledger WHERE user_id = 'alice'), amount, balance_after \
         FROM keyed_charges",
    )
    .await;
    assert_codes(&db, &[]).await;
    plant(
        &db,
        &["UPDATE keyed_charges SET balance_after = balance_after + 1".to_owned()],
    )
    .await;
    assert_codes(&db, &[Code::ChargeKeyMismatch]).await;
}

/// A debit written to another user than the payer. (A debit that names no payment,
/// and a charge that is not positive, are refused by the ledger's `CHECK`.)
async fn a_debit_of_another_user_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    refused(
        &db,
        &format!(
            "INSERT INTO ledger (user_id, kind, amount, created_at) \
         VALUES ('alice', 'payment', -5, {})",
            lit(at(30))
        ),
    )
    .await;
    refused(
        &db,
        &format!(
            "INSERT INTO ledger (user_id, kind, amount, created_at) \
         VALUES ('alice', 'charge', 0, {})",
            lit(at(30))
        ),
    )
    .await;
    let mut statements = payment_sql(f.held.id.0, 50, "alice", None, 500, "bob", -500);
    statements.insert(
        0,
        format!(
            "UPDATE reservations SET status = 'paid' WHERE id = {}",
            f.held.id.0
        ),
    );
    plant(&db, &statements).await;
    assert_codes(&db, &[Code::LedgerEntryInvalid]).await;
}

/// A balance that is not the sum of the ledger; then ledger rows with no wallet
/// (refused by the ledger's foreign key to `wallets`).
async fn a_balance_off_its_ledger_is_reported(db: TestDb) {
    fixture(&db).await;
    plant(
        &db,
        &["UPDATE wallets SET balance = balance + 7 WHERE user_id = 'alice'".to_owned()],
    )
    .await;
    assert_codes(&db, &[Code::WalletLedgerMismatch]).await;
    plant(
        &db,
        &["UPDATE wallets SET balance = balance - 7 WHERE user_id = 'alice'".to_owned()],
    )
    .await;
    assert_codes(&db, &[]).await;

    let charge = format!(
        "INSERT INTO ledger (user_id, kind, amount, created_at) \
         VALUES ('zoe', 'charge', 70, {})",
        lit(at(30))
    );
    refused(&db, &charge).await;
    without(
        &db,
        Relax::ForeignKeys("ledger DROP CONSTRAINT ledger_user_id_fkey"),
        &charge,
    )
    .await;
    assert_codes(&db, &[Code::WalletLedgerMismatch]).await;
}

/// A negative balance. `CHECK (balance >= 0)` refuses it; without the check, the
/// wallet is also off its ledger.
async fn a_negative_balance_is_reported(db: TestDb) {
    fixture(&db).await;
    let overdraw = "UPDATE wallets SET balance = -1 WHERE user_id = 'alice'";
    refused(&db, overdraw).await;
    without(
        &db,
        Relax::Checks("wallets DROP CONSTRAINT wallets_balance_check"),
        overdraw,
    )
    .await;
    assert_codes(&db, &[Code::WalletNegative, Code::WalletLedgerMismatch]).await;
}

/// A ledger that went below zero before a later charge covered it: erin's debit is
/// written before her charge. (`balance_after` cannot be negative, by `CHECK`, so
/// the payment's `balance_after` disagrees with the ledger too.)
async fn a_ledger_that_went_negative_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[
            "INSERT INTO wallets (user_id, balance) VALUES ('erin', 0)".to_owned(),
            reservation_sql(&f, 5, "erin", "paid", 30),
        ],
    )
    .await;
    let mut payment = payment_sql(0, 50, "erin", None, 0, "erin", -500);
    payment.truncate(2); // the payment and its debit, but not the wallet's update
    payment[0] = payment[0].replace(
        "VALUES (50, 0,",
        "VALUES (50, (SELECT MAX(id) FROM reservations),",
    );
    payment.push(format!(
        "INSERT INTO ledger (user_id, kind, amount, created_at) \
         VALUES ('erin', 'charge', 500, {})",
        lit(at(31))
    ));
    plant(&db, &payment).await;
    assert_codes(
        &db,
        &[Code::BalanceWentNegative, Code::BalanceAfterMismatch],
    )
    .await;
}

/// A payment whose `balance_after` is not the ledger's sum through its debit.
async fn a_wrong_balance_after_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE payments SET balance_after = 999 WHERE id = {}",
            f.paid
        )],
    )
    .await;
    assert_codes(&db, &[Code::BalanceAfterMismatch]).await;
}
