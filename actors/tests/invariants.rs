//! `concert check`'s invariants (`actors::invariants`), on SQLite always and on
//! Postgres when `DATABASE_URL` names one: a database the store wrote is clean, and
//! each kind of violation, planted with raw SQL, is reported under its code.
//!
//! Some violations cannot be planted as such: the schema refuses them (a unique
//! index, a `CHECK`, a foreign key), which is the point of the schema. For those, a
//! test first proves the refusal, then drops the constraint in its throwaway
//! database and plants the violation anyway, so that the check's own query is
//! proven too (for a database restored without the constraint). SQLite cannot drop
//! a `UNIQUE` column constraint; there the refusal is all the test proves.

use std::collections::BTreeSet;

use actors::backend_tests;
use actors::domain::{ChargeAmount, IdempotencyKey, QueueToken};
use actors::invariants::{Code, Limits, Report, check};
use actors::store::{
    NewPayment, ReservationRow, ReservationStatus, SessionRow, Store, TokenRow, TokenState,
};
use actors::testkit::{TestDb, execute_raw, new_hold, seed_session, user};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// The limits every test checks against: tight, so that the fixture sits right at them.
const LIMITS: Limits = Limits {
    max_active: 1,
    max_holds_per_user: 2,
};

/// A fixed instant plus `secs` seconds.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// An instant as an SQL literal both backends read back as that instant.
fn lit(instant: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        instant.to_rfc3339_opts(SecondsFormat::Micros, false)
    )
}

/// What the fixture wrote, for the plants to refer to.
struct Fixture {
    session: SessionRow,
    /// alice's seat 1, paid (payment `paid`, key `k1`).
    sold: ReservationRow,
    paid: i64,
    /// alice's seat 2, held.
    held: ReservationRow,
    /// bob's seat 3, released.
    released: ReservationRow,
    /// bob's seat 4, expired after its deadline.
    expired: ReservationRow,
}

/// A database as the engine leaves it: a 10-seat session at 500; alice charged 2000,
/// bought seat 1 and holds seat 2; bob charged 1000, released seat 3 and let seat 4
/// expire; carol waits in line behind alice (admitted) and bob (admission over);
/// dave was evicted. Clean under [`LIMITS`].
async fn fixture(db: &TestDb) -> Fixture {
    let store: &dyn Store = &*db.store;
    let session = seed_session(store, 10, 500).await;
    let (alice, bob) = (user("alice"), user("bob"));
    store
        .charge(&alice, ChargeAmount::parse(2000).unwrap(), at(0))
        .await
        .unwrap();
    store
        .charge(&bob, ChargeAmount::parse(1000).unwrap(), at(0))
        .await
        .unwrap();

    let sold = store
        .insert_hold(&new_hold(&session, 1, &alice, at(1)))
        .await
        .unwrap();
    let paid = store
        .commit_payment(&NewPayment {
            reservation_id: sold.id,
            user_id: alice.clone(),
            amount: sold.price,
            idempotency_key: Some(IdempotencyKey::parse("k1").unwrap()),
            paid_at: at(2),
        })
        .await
        .unwrap()
        .id
        .0;
    let held = store
        .insert_hold(&new_hold(&session, 2, &alice, at(3)))
        .await
        .unwrap();
    let released = store
        .insert_hold(&new_hold(&session, 3, &bob, at(4)))
        .await
        .unwrap();
    assert!(
        store
            .end_hold(released.id, ReservationStatus::Released, at(5))
            .await
            .unwrap()
    );
    let expired = store
        .insert_hold(&new_hold(&session, 4, &bob, at(-600)))
        .await
        .unwrap();
    assert!(
        store
            .end_hold(expired.id, ReservationStatus::Expired, at(-299))
            .await
            .unwrap()
    );

    let token = |who: &str, seq: i64| TokenRow {
        token: QueueToken::generate(),
        user_id: user(who),
        seq,
        state: TokenState::Waiting,
        issued_at: at(seq),
        admitted_at: None,
    };
    let tokens = [
        token("alice", 1),
        token("bob", 2),
        token("carol", 3),
        token("dave", 4),
    ];
    store.insert_tokens(&tokens).await.unwrap();
    store
        .admit_tokens(&[tokens[0].token, tokens[1].token], at(10))
        .await
        .unwrap();
    store
        .end_tokens(&[tokens[1].token], TokenState::Expired, at(11))
        .await
        .unwrap();
    store
        .end_tokens(&[tokens[3].token], TokenState::Evicted, at(12))
        .await
        .unwrap();

    let fixture = Fixture {
        session,
        sold,
        paid,
        held,
        released,
        expired,
    };
    let report = run(db).await;
    assert!(
        report.is_clean(),
        "the fixture must be clean: {:#?}",
        report.violations
    );
    fixture
}

async fn run(db: &TestDb) -> Report {
    check(&db.url, &LIMITS).await.expect("the check runs")
}

/// Runs the statements in order; each must succeed.
async fn plant(db: &TestDb, statements: &[String]) {
    for sql in statements {
        if let Err(refusal) = execute_raw(db, sql).await {
            panic!("planting `{sql}` failed: {refusal}");
        }
    }
}

/// The statement must be refused by the schema.
async fn refused(db: &TestDb, sql: &str) {
    let outcome = execute_raw(db, sql).await;
    assert!(outcome.is_err(), "the schema accepted `{sql}`");
}

/// Asserts the check reports exactly these codes (and prints the report otherwise).
async fn assert_codes(db: &TestDb, expected: &[Code]) {
    let report = run(db).await;
    let expected: BTreeSet<Code> = expected.iter().copied().collect();
    assert_eq!(
        report.codes(),
        expected,
        "violations: {:#?}",
        report.violations
    );
    for violation in &report.violations {
        assert!(!violation.message.is_empty());
    }
}

fn is_sqlite(db: &TestDb) -> bool {
    db.url.starts_with("sqlite:")
}

/// A statement run with one kind of constraint off: SQLite turns checking off for
/// its connection (`PRAGMA`), Postgres drops the named constraint first.
async fn without(db: &TestDb, relax: Relax, sql: &str) {
    let statements = match (relax, is_sqlite(db)) {
        (Relax::ForeignKeys(_), true) => vec![format!("PRAGMA foreign_keys = OFF; {sql}")],
        (Relax::Checks(_), true) => vec![format!("PRAGMA ignore_check_constraints = ON; {sql}")],
        (Relax::Index(index), _) => vec![format!("DROP INDEX {index}"), sql.to_owned()],
        (Relax::ForeignKeys(constraint) | Relax::Checks(constraint), false) => {
            vec![format!("ALTER TABLE {constraint}"), sql.to_owned()]
        }
    };
    plant(db, &statements).await;
}

/// What to turn off. Postgres' variants carry `<table> DROP CONSTRAINT <name>`.
#[derive(Clone, Copy)]
enum Relax {
    ForeignKeys(&'static str),
    Checks(&'static str),
    Index(&'static str),
}

/// A reservation row for `user` on `seat`, held at `held` seconds for five minutes.
fn reservation_sql(f: &Fixture, seat: i64, user: &str, status: &str, held: i64) -> String {
    let ended = if matches!(status, "expired" | "released") {
        lit(at(held + 1))
    } else {
        "NULL".to_owned()
    };
    format!(
        "INSERT INTO reservations \
         (session_id, seat_number, user_id, price, status, held_at, expires_at, ended_at) \
         VALUES ({}, {seat}, '{user}', 500, '{status}', {}, {}, {ended})",
        f.session.id.0,
        lit(at(held)),
        lit(at(held + 300)),
    )
}

/// The statements of a payment written by hand: the payment row (id `payment`), its
/// debit of `debit` by `debtor`, and the debtor's wallet following the debit.
fn payment_sql(
    reservation: i64,
    payment: i64,
    payer: &str,
    key: Option<&str>,
    balance_after: i64,
    debtor: &str,
    debit: i64,
) -> Vec<String> {
    let key = key.map_or_else(|| "NULL".to_owned(), |k| format!("'{k}'"));
    vec![
        format!(
            "INSERT INTO payments \
             (id, reservation_id, user_id, amount, balance_after, idempotency_key, paid_at) \
             VALUES ({payment}, {reservation}, '{payer}', 500, {balance_after}, {key}, {})",
            lit(at(20))
        ),
        format!(
            "INSERT INTO ledger (user_id, kind, amount, payment_id, created_at) \
             VALUES ('{debtor}', 'payment', {debit}, {payment}, {})",
            lit(at(20))
        ),
        format!("UPDATE wallets SET balance = balance + {debit} WHERE user_id = '{debtor}'"),
    ]
}

backend_tests! {
    a_database_written_by_the_store_is_clean,
    a_missing_database_is_an_error_not_a_clean_report,
    a_seat_held_twice_is_reported,
    an_oversold_session_is_reported,
    a_seat_out_of_range_is_reported,
    missing_seat_rows_are_reported,
    a_reservation_of_no_session_is_reported,
    reservation_timestamps_against_their_status_are_reported,
    a_hold_expired_early_is_reported,
    more_live_holds_than_the_limit_are_reported,
    a_paid_reservation_without_payment_is_reported,
    a_reservation_paid_twice_is_reported,
    a_payment_of_an_unpaid_reservation_is_reported,
    a_payment_of_the_wrong_amount_is_reported,
    a_payment_after_the_deadline_is_reported,
    a_payment_without_debit_is_reported,
    a_payment_debited_twice_is_reported,
    a_debit_of_the_wrong_amount_is_reported,
    a_debit_of_another_user_is_reported,
    a_balance_off_its_ledger_is_reported,
    a_negative_balance_is_reported,
    a_ledger_that_went_negative_is_reported,
    a_wrong_balance_after_is_reported,
    an_idempotency_key_used_twice_is_reported,
    more_admitted_tokens_than_max_active_are_reported,
    two_live_tokens_of_one_user_are_reported,
    token_timestamps_against_their_state_are_reported,
    a_waiting_token_passed_over_is_reported,
}

/// What the store writes through the engine's own calls breaks no invariant, and
/// the summary counts what was read.
async fn a_database_written_by_the_store_is_clean(db: TestDb) {
    fixture(&db).await;
    let report = run(&db).await;
    assert!(report.is_clean());
    let t = &report.tally;
    assert_eq!((t.sessions, t.reservations, t.held, t.paid), (1, 4, 1, 1));
    assert_eq!((t.payments, t.wallets, t.ledger_rows), (1, 2, 3));
    assert_eq!((t.tokens, t.waiting, t.admitted), (4, 1, 1));
    assert!(
        report.summary().ends_with("every invariant holds"),
        "{}",
        report.summary()
    );
}

/// A SQLite file that is not there is an error, and is not created.
async fn a_missing_database_is_an_error_not_a_clean_report(db: TestDb) {
    let missing = if is_sqlite(&db) {
        let dir = std::env::temp_dir().join(format!("concert-check-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("none.db").display());
        assert!(check(&url, &LIMITS).await.is_err());
        assert!(!dir.exists());
        return;
    } else {
        let (base, _) = db.url.rsplit_once('/').unwrap();
        format!("{base}/concert_check_no_such_database")
    };
    assert!(check(&missing, &LIMITS).await.is_err());
}

/// Two live reservations of one seat. The unique partial index refuses the second.
async fn a_seat_held_twice_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let second = reservation_sql(&f, 2, "bob", "held", 30);
    refused(&db, &second).await;
    without(&db, Relax::Index("reservations_one_live_per_seat"), &second).await;
    assert_codes(&db, &[Code::SeatDoubleBooked]).await;
}

/// More live reservations than seats. With one live reservation per seat row, this
/// takes seat rows beyond the seat count (here, the session shrunk under its
/// reservations), so the seats out of range and the seat rows are reported too.
async fn an_oversold_session_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE sessions SET seat_count = 1 WHERE id = {}",
            f.session.id.0
        )],
    )
    .await;
    assert_codes(
        &db,
        &[
            Code::SessionOversold,
            Code::SeatOutOfRange,
            Code::SeatRowsMismatch,
        ],
    )
    .await;
}

/// A reservation of a seat beyond the seat count (the foreign key to `seats` only
/// lets it in through an extra seat row, which is reported too).
async fn a_seat_out_of_range_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let seat_11 = reservation_sql(&f, 11, "bob", "released", 40);
    refused(&db, &seat_11).await;
    plant(
        &db,
        &[
            format!(
                "INSERT INTO seats (session_id, seat_number) VALUES ({}, 11)",
                f.session.id.0
            ),
            seat_11,
        ],
    )
    .await;
    assert_codes(&db, &[Code::SeatOutOfRange, Code::SeatRowsMismatch]).await;
}

/// A session missing one of its seat rows.
async fn missing_seat_rows_are_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "DELETE FROM seats WHERE session_id = {} AND seat_number = 10",
            f.session.id.0
        )],
    )
    .await;
    assert_codes(&db, &[Code::SeatRowsMismatch]).await;
}

/// A reservation of a session that does not exist. The foreign key refuses it.
async fn a_reservation_of_no_session_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    let orphan = reservation_sql(&f, 1, "bob", "released", 40)
        .replace(&format!("VALUES ({},", f.session.id.0), "VALUES (999,");
    refused(&db, &orphan).await;
    without(
        &db,
        Relax::ForeignKeys("reservations DROP CONSTRAINT reservations_session_id_seat_number_fkey"),
        &orphan,
    )
    .await;
    assert_codes(&db, &[Code::UnknownSession]).await;
}

/// A released hold without its end time, a held one with one, a deadline before the hold.
async fn reservation_timestamps_against_their_status_are_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[
            format!(
                "UPDATE reservations SET ended_at = NULL WHERE id = {}",
                f.released.id.0
            ),
            format!(
                "UPDATE reservations SET ended_at = {} WHERE id = {}",
                lit(at(6)),
                f.held.id.0
            ),
        ],
    )
    .await;
    let report = run(&db).await;
    assert_eq!(report.codes(), BTreeSet::from([Code::ReservationLifecycle]));
    assert_eq!(report.violations.len(), 2, "{:#?}", report.violations);
}

/// A hold expired before its deadline.
async fn a_hold_expired_early_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE reservations SET ended_at = {} WHERE id = {}",
            lit(at(-400)),
            f.expired.id.0
        )],
    )
    .await;
    assert_codes(&db, &[Code::HoldExpiredEarly]).await;
}

/// A third live hold of alice's in the session (the limit is two), while a hold
/// she paid, one that ran out and one given up do not count.
async fn more_live_holds_than_the_limit_are_reported(db: TestDb) {
    let f = fixture(&db).await;
    // bob: an expired hold (seat 4) and a released one (seat 3) end before these.
    plant(
        &db,
        &[
            reservation_sql(&f, 5, "bob", "held", 30),
            reservation_sql(&f, 6, "bob", "held", 31),
        ],
    )
    .await;
    assert_codes(&db, &[]).await;
    // alice: seat 2 held at 3 s, until 303 s.
    plant(
        &db,
        &[
            reservation_sql(&f, 7, "alice", "held", 40),
            reservation_sql(&f, 8, "alice", "released", 41),
        ],
    )
    .await;
    let report = run(&db).await;
    assert_eq!(report.codes(), BTreeSet::from([Code::HoldLimitExceeded]));
    assert_eq!(report.violations.len(), 1, "{:#?}", report.violations);
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

/// A payment timestamped after its hold's deadline.
async fn a_payment_after_the_deadline_is_reported(db: TestDb) {
    let f = fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE payments SET paid_at = {} WHERE id = {}",
            lit(at(1 + 300 + 2)),
            f.paid
        )],
    )
    .await;
    assert_codes(&db, &[Code::PaidAfterExpiry]).await;
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
    let overdraw = "UPDATE wallets SET balance = -1 WHERE user_id = 'bob'";
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

/// More admitted tokens than `max_active` (1 here).
async fn more_admitted_tokens_than_max_active_are_reported(db: TestDb) {
    fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE queue_tokens SET state = 'admitted', admitted_at = {} WHERE seq = 3",
            lit(at(13))
        )],
    )
    .await;
    assert_codes(&db, &[Code::AdmittedOverLimit]).await;
}

/// Two live tokens of one user. The unique partial index refuses the second.
async fn two_live_tokens_of_one_user_are_reported(db: TestDb) {
    fixture(&db).await;
    let second = format!(
        "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
         VALUES ('{}', 'carol', 10, 'waiting', {})",
        uuid::Uuid::new_v4(),
        lit(at(14))
    );
    refused(&db, &second).await;
    without(&db, Relax::Index("queue_tokens_one_live_per_user"), &second).await;
    assert_codes(&db, &[Code::TokenLiveTwice]).await;
}

/// A waiting token with an end time. (An admitted token without `admitted_at` is
/// refused by `CHECK`.)
async fn token_timestamps_against_their_state_are_reported(db: TestDb) {
    fixture(&db).await;
    refused(
        &db,
        &format!(
            "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
         VALUES ('{}', 'zoe', 10, 'admitted', {})",
            uuid::Uuid::new_v4(),
            lit(at(14))
        ),
    )
    .await;
    plant(
        &db,
        &[format!(
            "UPDATE queue_tokens SET ended_at = {} WHERE seq = 3",
            lit(at(15))
        )],
    )
    .await;
    assert_codes(&db, &[Code::TokenLifecycle]).await;
}

/// A token still waiting although one issued after it was admitted.
async fn a_waiting_token_passed_over_is_reported(db: TestDb) {
    fixture(&db).await;
    plant(
        &db,
        &[format!(
            "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
         VALUES ('{}', 'zoe', 0, 'waiting', {})",
            uuid::Uuid::new_v4(),
            lit(at(0))
        )],
    )
    .await;
    assert_codes(&db, &[Code::QueueOrder]).await;
}
