//! Rooms: each room's admissions judged by its own `max_active` history
//! (`room_limits`), one live token per user per room, and each room's line served
//! in its own order.

use actors::backend_tests;
use actors::domain::{ConcertId, QueueToken, RoomId};
use actors::invariants::{Code, Limits, check};
use actors::store::{RoomRow, Store, TokenRow, TokenState};
use actors::testkit::{TestDb, execute_raw, user};

use crate::fixture::at;

backend_tests! {
    a_room_over_its_own_max_active_is_reported,
    two_rooms_each_within_their_own_limit_are_clean,
    after_a_lowering_the_admissions_before_it_are_honoured,
    one_live_token_per_user_is_per_room,
    each_room_is_served_in_its_own_order,
}

/// The flags: an engine limit of 2, so that the rooms' own limits are what judge.
const FLAGS: Limits = Limits {
    max_active: 2,
    max_holds_per_user: 4,
};

fn concert(n: i64) -> RoomId {
    RoomId::Concert(ConcertId(n))
}

/// Writes `room`'s row with this `max_active` at `when` (a `room_limits` row if it changed).
async fn set_limit(store: &dyn Store, room: RoomId, max_active: u32, when: i64) {
    let row = RoomRow {
        room,
        pre_queue_opens_at: None,
        opens_at: None,
        drawn_at: None,
        max_active,
        admission_rate: None,
        paused: false,
        admitted_total: 0,
        evicted_total: 0,
    };
    store.save_room(&row, at(when)).await.unwrap();
}

/// Tokens of these users in `room`, after its others in line, admitted at `when`
/// unless `admit` is false.
async fn join(store: &dyn Store, room: RoomId, users: &[&str], when: i64, admit: bool) {
    let first = store.max_token_seq(room).await.unwrap() + 1;
    let tokens: Vec<TokenRow> = users
        .iter()
        .zip(first..)
        .map(|(who, seq)| TokenRow {
            token: QueueToken::generate(),
            user_id: user(who),
            room,
            seq,
            state: TokenState::Waiting,
            issued_at: at(when - 1),
            admitted_at: None,
        })
        .collect();
    store.insert_tokens(&tokens).await.unwrap();
    if admit {
        let admitted: Vec<QueueToken> = tokens.iter().map(|t| t.token).collect();
        store.admit_tokens(room, &admitted, at(when)).await.unwrap();
    }
}

async fn violations(db: &TestDb) -> Vec<(Code, String)> {
    let report = check(&db.url, &FLAGS).await.expect("the check runs");
    report
        .violations
        .into_iter()
        .map(|v| (v.code, v.message))
        .collect()
}

/// Two admitted in a room whose limit is 1 (the engine's is 2).
async fn a_room_over_its_own_max_active_is_reported(db: TestDb) {
    let store = &*db.store;
    set_limit(store, concert(7), 1, 0).await;
    set_limit(store, RoomId::Site, 100, 0).await;
    join(store, concert(7), &["ann", "ben"], 10, true).await;
    assert_eq!(
        violations(&db).await,
        vec![(
            Code::AdmittedOverLimit,
            "2 tokens are admitted in concert-7; at most 1 may be".to_owned()
        )]
    );
}

/// Two admitted in each of two rooms of limit 2: four in all, over the engine's 2,
/// but each room within its own.
async fn two_rooms_each_within_their_own_limit_are_clean(db: TestDb) {
    let store = &*db.store;
    set_limit(store, RoomId::Site, 2, 0).await;
    set_limit(store, concert(7), 2, 0).await;
    join(store, RoomId::Site, &["ann", "ben"], 10, true).await;
    join(store, concert(7), &["cat", "dan"], 10, true).await;
    assert_eq!(violations(&db).await, vec![]);
}

/// Three admitted under a limit of 3, then the limit lowered to 1: clean (they stay
/// admitted). One more admitted after the lowering is a violation.
async fn after_a_lowering_the_admissions_before_it_are_honoured(db: TestDb) {
    let store = &*db.store;
    set_limit(store, concert(7), 3, 0).await;
    join(store, concert(7), &["ann", "ben", "cat"], 10, true).await;
    set_limit(store, concert(7), 1, 20).await;
    assert_eq!(violations(&db).await, vec![]);

    join(store, concert(7), &["dan"], 30, true).await;
    assert_eq!(
        violations(&db).await,
        vec![(
            Code::AdmittedOverLimit,
            "4 tokens are admitted in concert-7; at most 1 may be".to_owned()
        )]
    );
}

/// A user waiting in two rooms is clean; twice in one room is not (the schema's
/// index refuses it, so it is dropped first).
async fn one_live_token_per_user_is_per_room(db: TestDb) {
    let store = &*db.store;
    join(store, RoomId::Site, &["ann"], 10, false).await;
    join(store, concert(7), &["ann"], 10, false).await;
    assert_eq!(violations(&db).await, vec![]);

    execute_raw(&db, "DROP INDEX queue_tokens_one_live_per_user")
        .await
        .unwrap();
    join(store, concert(7), &["ann"], 11, false).await;
    assert_eq!(
        violations(&db).await,
        vec![(
            Code::TokenLiveTwice,
            "user ann has 2 live tokens in concert-7 (seq 1..=2)".to_owned()
        )]
    );
}

/// Seqs are per room: a site token waiting at seq 1 is not passed over by a room's
/// token admitted at seq 2; a token of the same room is.
async fn each_room_is_served_in_its_own_order(db: TestDb) {
    let store = &*db.store;
    set_limit(store, concert(7), 5, 0).await;
    join(store, RoomId::Site, &["ann"], 10, false).await;
    join(store, concert(7), &["ben"], 10, false).await;
    join(store, concert(7), &["cat"], 11, true).await;
    let found = violations(&db).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].0, Code::QueueOrder);
    assert!(
        found[0].1.contains("of ben is still waiting in concert-7"),
        "{found:#?}"
    );
}
