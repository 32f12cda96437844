//! The fixture every test starts from (a database as the engine leaves it, clean
//! under [`LIMITS`]), and the means to plant violations in it with raw SQL: with a
//! constraint on ([`plant`], [`refused`]) or off ([`without`]).

use std::collections::BTreeSet;

use actors::domain::{ChargeAmount, IdempotencyKey, QueueToken, RoomId};
use actors::invariants::{Code, Limits, Report, check};
use actors::store::{
    NewPayment, ReservationRow, ReservationStatus, SessionRow, Store, TokenRow, TokenState,
};
use actors::testkit::{TestDb, execute_raw, new_hold, seed_session, user};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// The limits every test checks against: tight, so that the fixture sits right at them.
pub const LIMITS: Limits = Limits {
    max_active: 1,
    max_holds_per_user: 2,
};

/// A fixed instant plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

/// An instant as an SQL literal both backends read back as that instant.
pub fn lit(instant: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        instant.to_rfc3339_opts(SecondsFormat::Micros, false)
    )
}

/// What the fixture wrote, for the plants to refer to.
pub struct Fixture {
    pub session: SessionRow,
    /// alice's seat 1, paid (payment `paid`, key `k1`).
    pub sold: ReservationRow,
    pub paid: i64,
    /// alice's seat 2, held.
    pub held: ReservationRow,
    /// bob's seat 3, released.
    pub released: ReservationRow,
    /// bob's seat 4, expired after its deadline.
    pub expired: ReservationRow,
}

/// A database as the engine leaves it: a 10-seat session at 500; alice charged 2000,
/// bought seat 1 and holds seat 2; bob charged 1000, released seat 3 and let seat 4
/// expire; carol waits in line behind alice (admitted) and bob (admission over);
/// dave was evicted. Clean under [`LIMITS`].
pub async fn fixture(db: &TestDb) -> Fixture {
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
            paid_with_token: None,
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
        room: RoomId::Site,
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
        .admit_tokens(RoomId::Site, &[tokens[0].token, tokens[1].token], at(10))
        .await
        .unwrap();
    store
        .end_tokens(
            RoomId::Site,
            &[tokens[1].token],
            TokenState::Expired,
            at(11),
        )
        .await
        .unwrap();
    store
        .end_tokens(
            RoomId::Site,
            &[tokens[3].token],
            TokenState::Evicted,
            at(12),
        )
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

pub async fn run(db: &TestDb) -> Report {
    check(&db.url, &LIMITS).await.expect("the check runs")
}

/// Runs the statements in order; each must succeed.
pub async fn plant(db: &TestDb, statements: &[String]) {
    for sql in statements {
        if let Err(refusal) = execute_raw(db, sql).await {
            panic!("planting `{sql}` failed: {refusal}");
        }
    }
}

/// The statement must be refused by the schema.
pub async fn refused(db: &TestDb, sql: &str) {
    let outcome = execute_raw(db, sql).await;
    assert!(outcome.is_err(), "the schema accepted `{sql}`");
}

/// Asserts the check reports exactly these codes (and prints the report otherwise).
pub async fn assert_codes(db: &TestDb, expected: &[Code]) {
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

pub fn is_sqlite(db: &TestDb) -> bool {
    db.url.starts_with("sqlite:")
}

/// A statement run with one kind of constraint off: SQLite turns checking off for
/// its connection (`PRAGMA`), Postgres drops the named constraint first.
pub async fn without(db: &TestDb, relax: Relax, sql: &str) {
    let statements = match (relax, is_sqlite(db)) {
        (Relax::ForeignKeys(_), true) => vec![format!("PRAGMA foreign_keys = OFF; {sql}")],
        (Relax::Checks(_), true) => vec![format!("PRAGMA ignore_check_constraints = ON; {sql}")],
        (Relax::Index(index), _) => vec![format!("DROP INDEX {index}"), sql.to_owned()],
        (Relax::Trigger(_), true) => vec![sql.to_owned()],
        (
            Relax::ForeignKeys(constraint) | Relax::Checks(constraint) | Relax::Trigger(constraint),
            false,
        ) => {
            vec![format!("ALTER TABLE {constraint}"), sql.to_owned()]
        }
    };
    plant(db, &statements).await;
}

/// What to turn off. Postgres' variants carry what follows `ALTER TABLE`:
/// `<table> DROP CONSTRAINT <name>`, or `<table> DISABLE TRIGGER <name>` for a rule
/// Postgres keeps with a trigger (SQLite's foreign keys then stand in for it).
#[derive(Clone, Copy)]
pub enum Relax {
    ForeignKeys(&'static str),
    Checks(&'static str),
    Index(&'static str),
    /// A trigger only Postgres has: on SQLite the statement runs as it is.
    Trigger(&'static str),
}

/// A reservation row for `user` on `seat`, held at `held` seconds for five minutes.
pub fn reservation_sql(f: &Fixture, seat: i64, user: &str, status: &str, held: i64) -> String {
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
pub fn payment_sql(
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
