//! What the conformance tests share: fixtures, twin databases, and readers of state.

pub use std::sync::Arc;

pub use actors::domain::{
    ChargeAmount, ConcertId, IdempotencyKey, Points, QueueToken, RoomId, SeatNumber,
};
pub use actors::store::{
    ChargeKey, ChargeSource, KeyedChargeRow, NewPayment, NewSession, ReservationRow,
    ReservationStatus, RoomRow, SessionRow, Store, StoreError, TokenRow, TokenState, WriteOp,
    WriteOutcome,
};
pub use actors::testkit::{
    TestDb, execute_raw, new_hold, query_i64, reopen, seed_session, session_date, user,
};
pub use chrono::{DateTime, TimeZone, Utc};
pub use futures::FutureExt;
pub use futures::future::BoxFuture;
pub use uuid::Uuid;

/// A fixed instant plus `secs` seconds.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

pub fn points(n: i64) -> ChargeAmount {
    ChargeAmount::parse(n).unwrap()
}

pub fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

/// Holds `seat` for `who` and returns the stored reservation.
pub async fn hold(store: &dyn Store, session: &SessionRow, seat: u32, who: &str) -> ReservationRow {
    store
        .insert_hold(&new_hold(session, seat, &user(who), at(0)))
        .await
        .expect("hold a free seat")
}

/// The payment of `reservation` by its holder, at its price.
pub fn payment(reservation: &ReservationRow, idempotency_key: Option<&str>) -> NewPayment {
    NewPayment {
        reservation_id: reservation.id,
        user_id: reservation.user_id.clone(),
        amount: reservation.price,
        idempotency_key: idempotency_key.map(key),
        paid_with_token: None,
        paid_at: at(60),
    }
}

pub fn waiting(who: &str, seq: i64) -> TokenRow {
    TokenRow {
        token: QueueToken::generate(),
        user_id: user(who),
        room: RoomId::Site,
        seq,
        state: TokenState::Waiting,
        issued_at: at(seq),
        admitted_at: None,
    }
}

/// A waiting token with a fixed value, so that two databases can be given the same one.
pub fn waiting_as(n: u128, who: &str, seq: i64) -> TokenRow {
    TokenRow {
        token: QueueToken(Uuid::from_u128(n)),
        ..waiting(who, seq)
    }
}

/// Another fresh database on `db`'s backend.
pub async fn twin(db: &TestDb) -> TestDb {
    match db.store.backend() {
        "sqlite" => actors::testkit::sqlite().await,
        _ => actors::testkit::postgres()
            .await
            .expect("Postgres runs this test, so it is there"),
    }
}

/// The answers to one set-up's ops, applied as one batch on `db` and one op at a
/// time on a twin database that got the same set-up.
pub struct BatchedAndAlone {
    pub ops: Vec<WriteOp>,
    pub batched: Vec<Result<WriteOutcome, StoreError>>,
    pub one_by_one: Vec<Result<WriteOutcome, StoreError>>,
    pub single: TestDb,
}

/// Runs `setup` on `db` and on a twin, then applies its ops both ways.
pub async fn batched_and_alone(
    db: &TestDb,
    setup: for<'a> fn(&'a dyn Store) -> BoxFuture<'a, Vec<WriteOp>>,
) -> BatchedAndAlone {
    let ops = setup(&*db.store).await;
    let batched = db.store.apply_batch(&ops).await.expect("the batch commits");
    let single = twin(db).await;
    assert_eq!(
        setup(&*single.store).await,
        ops,
        "both databases get the same batch"
    );
    let one_by_one = apply_each(&*single.store, &ops).await;
    BatchedAndAlone {
        ops,
        batched,
        one_by_one,
        single,
    }
}

/// What each op answers alone ([`Store::apply`], which every typed write method
/// is), one after the other, each in its own transaction.
pub async fn apply_each(
    store: &dyn Store,
    ops: &[WriteOp],
) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut answers = Vec::with_capacity(ops.len());
    for op in ops {
        answers.push(store.apply(op.clone()).await);
    }
    answers
}

/// Sets up a session, wallets, holds (one paid), a token, and returns a batch that
/// mixes writes that commit with writes the store refuses, some refused or allowed
/// only because of an earlier op of the same batch. Deterministic: two fresh
/// databases get equal batches.
pub async fn mixed_batch(store: &dyn Store) -> Vec<WriteOp> {
    let session = seed_session(store, 10, 300).await;
    store
        .charge(&user("alice"), points(1000), at(0))
        .await
        .unwrap();
    store
        .charge(&user("bob"), points(100), at(0))
        .await
        .unwrap();
    store
        .charge(&user("carol"), points(1000), at(0))
        .await
        .unwrap();
    let alices = hold(store, &session, 1, "alice").await;
    let bobs = hold(store, &session, 2, "bob").await;
    let carols = hold(store, &session, 3, "carol").await;
    store
        .commit_payment(&payment(&carols, Some("k")))
        .await
        .unwrap();
    let daves = hold(store, &session, 4, "dave").await; // dave never charged
    let erin = waiting_as(1, "erin", 1);
    store
        .insert_tokens(std::slice::from_ref(&erin))
        .await
        .unwrap();
    let end = |id, status, secs| WriteOp::EndHold {
        id,
        status,
        at: at(secs),
    };
    vec![
        /* 0 */ WriteOp::InsertHold(new_hold(&session, 5, &user("frank"), at(10))),
        /* 1 */ WriteOp::InsertHold(new_hold(&session, 1, &user("frank"), at(10))),
        /* 2 */ WriteOp::CommitPayment(payment(&alices, Some("a"))),
        /* 3 */ WriteOp::CommitPayment(payment(&bobs, None)),
        /* 4 */ WriteOp::CommitPayment(payment(&carols, Some("k2"))),
        /* 5 */ WriteOp::CommitPayment(payment(&daves, None)),
        /* 6 */ WriteOp::InsertHold(new_hold(&session, 5, &user("gina"), at(11))),
        /* 7 */
        WriteOp::Charge {
            user: user("bob"),
            amount: points(500),
            at: at(20),
            key: None,
        },
        /* 8 */ WriteOp::CommitPayment(payment(&bobs, Some("b"))),
        /* 9 */ end(daves.id, ReservationStatus::Released, 30),
        /* 10 */ end(daves.id, ReservationStatus::Expired, 31),
        /* 11 */ end(carols.id, ReservationStatus::Held, 32),
        /* 12 */ WriteOp::InsertTokens(vec![waiting_as(2, "erin", 2)]),
        /* 13 */ WriteOp::InsertTokens(vec![waiting_as(3, "gina", 3)]),
        /* 14 */
        WriteOp::AdmitTokens {
            room: RoomId::Site,
            tokens: vec![erin.token],
            at: at(40),
        },
        /* 15 */
        WriteOp::EndTokens {
            room: RoomId::Site,
            tokens: vec![erin.token],
            state: TokenState::Waiting,
            at: at(41),
        },
        /* 16 */ WriteOp::InsertHold(new_hold(&session, 11, &user("gina"), at(42))),
        /* 17 */
        WriteOp::Charge {
            user: user("dave"),
            amount: points(50),
            at: at(43),
            key: None,
        },
    ]
}

/// Batch answers with every reservation id set to 0.
pub fn without_ids(
    results: &[Result<WriteOutcome, StoreError>],
) -> Vec<Result<WriteOutcome, StoreError>> {
    let mut results = results.to_vec();
    for result in &mut results {
        if let Ok(WriteOutcome::Hold(row)) = result {
            row.id = actors::domain::ReservationId(0);
        }
    }
    results
}

/// Everything a batch may have changed, for comparing two databases.
pub async fn state_of(db: &TestDb) -> Vec<i64> {
    let mut state = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM reservations WHERE status = 'held'",
        "SELECT COUNT(*) FROM reservations WHERE status = 'paid'",
        "SELECT COUNT(*) FROM reservations WHERE status = 'released'",
        "SELECT COUNT(*) FROM payments",
        "SELECT COUNT(*) FROM ledger",
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger",
        "SELECT COUNT(*) FROM wallets",
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM wallets",
        "SELECT COUNT(*) FROM queue_tokens WHERE state = 'waiting'",
        "SELECT COUNT(*) FROM queue_tokens WHERE state = 'admitted'",
    ] {
        state.push(count(db, sql).await);
    }
    state
}

pub async fn count(db: &TestDb, sql: &str) -> i64 {
    query_i64(db, sql).await.expect(sql)
}

pub async fn status(store: &dyn Store, reservation: &ReservationRow) -> ReservationStatus {
    store
        .reservation(reservation.id)
        .await
        .unwrap()
        .expect("the reservation exists")
        .status
}

// ---- rooms ----

/// The site room's row as its actor first writes it: never scheduled, unlimited rate.
pub fn site_room(max_active: u32) -> RoomRow {
    RoomRow {
        room: RoomId::Site,
        pre_queue_opens_at: None,
        opens_at: None,
        drawn_at: None,
        max_active,
        admission_rate: None,
        paused: false,
        admitted_total: 0,
        evicted_total: 0,
    }
}

/// Concert `n`'s room, scheduled: pre-queue at 100 s, open at 200 s, 5 admissions a second.
pub fn concert_room(n: i64, max_active: u32) -> RoomRow {
    RoomRow {
        room: concert(n),
        pre_queue_opens_at: Some(at(100)),
        opens_at: Some(at(200)),
        admission_rate: std::num::NonZeroU32::new(5),
        ..site_room(max_active)
    }
}

/// Concert `n`'s room id.
pub fn concert(n: i64) -> RoomId {
    RoomId::Concert(ConcertId(n))
}

/// A waiting token of `room`.
pub fn waiting_in(room: RoomId, who: &str, seq: i64) -> TokenRow {
    TokenRow {
        room,
        ..waiting(who, seq)
    }
}

/// From now on the database refuses every update of a `rooms` row: an injected
/// failure of the last statement of a room's transactions (a draw's `drawn_at`, an
/// admission's or eviction's counter).
pub async fn refuse_room_updates(db: &TestDb) {
    let statements: &[&str] = if db.url.starts_with("sqlite:") {
        &["CREATE TRIGGER refuse_room_update BEFORE UPDATE ON rooms \
           BEGIN SELECT RAISE(ABORT, 'injected: room update refused'); END"]
    } else {
        &[
            "CREATE FUNCTION refuse_room_update() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected: room update refused'; END $$",
            "CREATE TRIGGER refuse_room_update BEFORE UPDATE ON rooms \
             FOR EACH ROW EXECUTE FUNCTION refuse_room_update()",
        ]
    };
    for sql in statements {
        execute_raw(db, sql).await.expect("the trigger is created");
    }
}
