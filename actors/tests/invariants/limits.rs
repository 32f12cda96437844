//! History judged by the limits in force when it was made: each engine records the
//! limits it starts with (`engine_limits`), and the check holds each hold and each
//! admission to the record latest at or before it; its own flags judge only what no
//! record covers (a database from before the table).

use actors::backend_tests;
use actors::domain::{QueueToken, RoomId};
use actors::invariants::{Code, Limits, check};
use actors::store::{Store, TokenRow, TokenState};
use actors::testkit::{TestDb, execute_raw, new_hold, query_i64, seed_session, user};
use actors::{Engine, EngineConfig};

use crate::fixture::at;

backend_tests! {
    holds_made_under_a_recorded_limit_are_judged_by_it,
    a_hold_over_its_own_recorded_limit_is_reported,
    admissions_are_judged_by_the_limit_recorded_when_they_were_made,
    an_admission_over_its_own_recorded_limit_is_reported,
    a_database_without_the_record_is_judged_by_the_flags,
    each_engine_start_records_its_limits,
}

fn limits(max_active: u64, max_holds_per_user: u64) -> Limits {
    Limits {
        max_active,
        max_holds_per_user,
    }
}

/// The codes and messages of what `check` finds with these flags.
async fn violations(db: &TestDb, flags: Limits) -> Vec<(Code, String)> {
    let report = check(&db.url, &flags).await.expect("the check runs");
    report
        .violations
        .into_iter()
        .map(|v| (v.code, v.message))
        .collect()
}

/// `who` takes seats `seats` in a fresh 10-seat session, one a second from `from`.
async fn holds(store: &dyn Store, who: &str, seats: &[u32], from: i64) -> Vec<i64> {
    let session = seed_session(store, 10, 500).await;
    let mut ids = Vec::new();
    for (i, seat) in seats.iter().enumerate() {
        let hold = new_hold(&session, *seat, &user(who), at(from + i as i64));
        ids.push(store.insert_hold(&hold).await.unwrap().id.0);
    }
    ids
}

/// Tokens of these users, issued in order after those before, admitted at `when`.
async fn admit(store: &dyn Store, users: &[&str], when: i64) {
    let first = store.max_token_seq(RoomId::Site).await.unwrap() + 1;
    let tokens: Vec<TokenRow> = users
        .iter()
        .zip(first..)
        .map(|(who, seq)| TokenRow {
            token: QueueToken::generate(),
            user_id: user(who),
            room: RoomId::Site,
            seq,
            state: TokenState::Waiting,
            issued_at: at(when - 1),
            admitted_at: None,
        })
        .collect();
    store.insert_tokens(&tokens).await.unwrap();
    let admitted: Vec<QueueToken> = tokens.iter().map(|t| t.token).collect();
    store
        .admit_tokens(RoomId::Site, &admitted, at(when))
        .await
        .unwrap();
}

/// Five live holds of one user, made by a server run with a limit of 50, are clean
/// under the default flags (limit 4) once the server's limits are recorded; without
/// the record, the flags judge, as for a database from before the table.
async fn holds_made_under_a_recorded_limit_are_judged_by_it(db: TestDb) {
    holds(&*db.store, "alice", &[1, 2, 3, 4, 5], 10).await;
    let unrecorded = violations(&db, Limits::default()).await;
    assert_eq!(unrecorded.len(), 1, "{unrecorded:#?}");
    assert_eq!(unrecorded[0].0, Code::HoldLimitExceeded);
    assert!(unrecorded[0].1.contains("(limit 4;"), "{unrecorded:#?}");

    db.store
        .record_limits(&limits(100, 50), at(0))
        .await
        .unwrap();
    assert_eq!(violations(&db, Limits::default()).await, vec![]);
}

/// Holds beyond the limit recorded when they were made are reported, even under
/// flags that would allow them; holds made after a later start with a higher limit
/// are judged by that one.
async fn a_hold_over_its_own_recorded_limit_is_reported(db: TestDb) {
    db.store
        .record_limits(&limits(100, 2), at(0))
        .await
        .unwrap();
    db.store
        .record_limits(&limits(100, 50), at(100))
        .await
        .unwrap();
    let alice = holds(&*db.store, "alice", &[1, 2, 3], 10).await;
    holds(&*db.store, "bob", &[1, 2, 3, 4, 5], 110).await;

    let found = violations(&db, limits(100, 50)).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    let (code, message) = &found[0];
    assert_eq!(*code, Code::HoldLimitExceeded);
    assert!(
        message.contains(&format!("when reservation {} was held", alice[2])),
        "{message}"
    );
    assert!(message.contains("(limit 2;"), "{message}");
}

/// Three tokens admitted under a recorded limit of 5 are clean under a flag of 1,
/// and stay clean after a restart that lowered the limit to 1: the tokens admitted
/// before it stay admitted, and none was admitted since.
async fn admissions_are_judged_by_the_limit_recorded_when_they_were_made(db: TestDb) {
    admit(&*db.store, &["alice", "bob", "carol"], 10).await;
    let unrecorded = violations(&db, limits(1, 4)).await;
    assert_eq!(
        unrecorded,
        vec![(
            Code::AdmittedOverLimit,
            "3 tokens are admitted in site; at most 1 may be".to_owned()
        )]
    );

    db.store.record_limits(&limits(5, 4), at(0)).await.unwrap();
    assert_eq!(violations(&db, limits(1, 4)).await, vec![]);
    db.store.record_limits(&limits(1, 4), at(50)).await.unwrap();
    assert_eq!(violations(&db, limits(1, 4)).await, vec![]);
}

/// An admission made while more tokens were admitted than the limit recorded at its
/// time allows is reported, even under flags that would allow it.
async fn an_admission_over_its_own_recorded_limit_is_reported(db: TestDb) {
    db.store.record_limits(&limits(2, 4), at(0)).await.unwrap();
    admit(&*db.store, &["alice", "bob"], 10).await;
    db.store.record_limits(&limits(1, 4), at(50)).await.unwrap();
    assert_eq!(violations(&db, limits(100, 4)).await, vec![]);

    admit(&*db.store, &["carol"], 60).await;
    assert_eq!(
        violations(&db, limits(100, 4)).await,
        vec![(
            Code::AdmittedOverLimit,
            "3 tokens are admitted in site; at most 1 may be".to_owned()
        )]
    );
}

/// A database migrated before `engine_limits` existed is read (a query of the missing
/// table would abort the snapshot), and the flags judge all of it.
async fn a_database_without_the_record_is_judged_by_the_flags(db: TestDb) {
    holds(&*db.store, "alice", &[1, 2, 3], 10).await;
    db.store
        .record_limits(&limits(100, 50), at(0))
        .await
        .unwrap();
    execute_raw(&db, "DROP TABLE engine_limits").await.unwrap();

    let found = violations(&db, limits(100, 2)).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, Code::HoldLimitExceeded);
    assert_eq!(violations(&db, limits(100, 3)).await, vec![]);
}

/// Each start of the engine records the limits it runs with.
async fn each_engine_start_records_its_limits(db: TestDb) {
    for (max_active, max_holds_per_user) in [(7, 9), (100, 4)] {
        let config = EngineConfig {
            max_active,
            max_holds_per_user,
            ..EngineConfig::default()
        };
        let (engine, monitor) = Engine::start(db.store.clone().into(), config)
            .await
            .unwrap();
        engine.shutdown().await;
        monitor.stopped().await;
    }
    let recorded = |sql: &'static str| query_i64(&db, sql);
    assert_eq!(recorded("SELECT COUNT(*) FROM engine_limits").await, Ok(2));
    assert_eq!(
        recorded("SELECT max_active FROM engine_limits ORDER BY id LIMIT 1").await,
        Ok(7)
    );
    assert_eq!(
        recorded("SELECT max_holds_per_user FROM engine_limits ORDER BY id LIMIT 1").await,
        Ok(9)
    );
    assert_eq!(
        recorded("SELECT max_holds_per_user FROM engine_limits ORDER BY id DESC LIMIT 1").await,
        Ok(4)
    );
}
