//! Migration 0005 (rooms) over a database that holds tokens from before it.

use crate::support::*;
use actors::backend_tests;
use actors::testkit::upgraded;

backend_tests! {
    tokens_from_before_rooms_become_site_room_tokens,
}

const ALICE: &str = "00000000-0000-0000-0000-000000000001";
const BOB: &str = "00000000-0000-0000-0000-000000000002";
const CAROL: &str = "00000000-0000-0000-0000-000000000003";

/// Waiting, admitted and ended tokens written under migration 0004 are the site
/// room's after 0005, with their seqs; the per-room constraints hold over them, and
/// ended ones are still pruned.
async fn tokens_from_before_rooms_become_site_room_tokens(db: TestDb) {
    let old = upgraded(
        &db,
        4,
        &[
            &format!(
                "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
                 VALUES ('{ALICE}', 'alice', 1, 'waiting', '2024-07-01T10:00:01+00:00')"
            ),
            &format!(
                "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at, admitted_at) \
                 VALUES ('{BOB}', 'bob', 2, 'admitted', '2024-07-01T10:00:02+00:00', \
                         '2024-07-01T10:00:05+00:00')"
            ),
            &format!(
                "INSERT INTO queue_tokens \
                 (token, user_id, seq, state, issued_at, admitted_at, ended_at) \
                 VALUES ('{CAROL}', 'carol', 3, 'expired', '2024-07-01T10:00:03+00:00', \
                         '2024-07-01T10:00:04+00:00', '2024-07-01T10:00:06+00:00')"
            ),
        ],
    )
    .await;
    let store = &*old.store;
    let token = |text: &str| QueueToken(Uuid::parse_str(text).unwrap());

    let live = store.live_tokens(RoomId::Site).await.unwrap();
    let seen: Vec<(QueueToken, i64, TokenState, RoomId)> = live
        .iter()
        .map(|t| (t.token, t.seq, t.state, t.room))
        .collect();
    assert_eq!(
        seen,
        vec![
            (token(ALICE), 1, TokenState::Waiting, RoomId::Site),
            (token(BOB), 2, TokenState::Admitted, RoomId::Site),
        ]
    );
    assert_eq!(live[1].admitted_at, Some(at(5)));
    assert_eq!(
        store.token(token(CAROL)).await.unwrap().unwrap().room,
        RoomId::Site
    );
    assert_eq!(store.max_token_seq(RoomId::Site).await.unwrap(), 3);
    assert_eq!(
        store.rooms().await.unwrap(),
        vec![],
        "no room row is invented"
    );

    // One live token per user per room, one seq per room, over the old rows too.
    assert!(matches!(
        store
            .insert_tokens(&[waiting_in(RoomId::Site, "alice", 4)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .insert_tokens(&[waiting_in(RoomId::Site, "dave", 3)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .insert_tokens(&[waiting_in(concert(7), "alice", 1)])
        .await
        .expect("alice may also wait in another room");
    assert_eq!(store.prune_tokens(at(60), 10).await.unwrap(), 1);
}
