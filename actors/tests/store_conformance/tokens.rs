//! Queue tokens, and a restart that sees everything committed.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    tokens_are_inserted_admitted_ended_and_listed_in_order,
    a_second_live_token_for_a_user_conflicts,
    ended_tokens_are_pruned_oldest_first_in_bounded_batches,
    thousands_of_tokens_go_in_one_call,
    a_restart_sees_everything_committed,
}

/// `prune_tokens` deletes ended tokens that ended before the cut-off, at most
/// `limit` a call, oldest end first; never a live token, nor one that ended later.
async fn ended_tokens_are_pruned_oldest_first_in_bounded_batches(db: TestDb) {
    let store = &*db.store;
    let rows: Vec<TokenRow> = (1..=5).map(|n| waiting(&format!("u{n}"), n)).collect();
    store.insert_tokens(&rows).await.unwrap();
    let token = |n: usize| rows[n].token;
    store
        .admit_tokens(RoomId::Site, &[token(0), token(1)], at(5))
        .await
        .unwrap();
    store
        .end_tokens(RoomId::Site, &[token(2)], TokenState::Evicted, at(10))
        .await
        .unwrap();
    store
        .end_tokens(RoomId::Site, &[token(0)], TokenState::Expired, at(20))
        .await
        .unwrap();
    store
        .end_tokens(RoomId::Site, &[token(3)], TokenState::Evicted, at(40))
        .await
        .unwrap();
    // Left live: token(1) admitted, token(4) waiting.

    assert_eq!(store.prune_tokens(at(30), 1).await.unwrap(), 1);
    assert_eq!(
        store.token(token(2)).await.unwrap(),
        None,
        "the oldest end first"
    );
    assert!(store.token(token(0)).await.unwrap().is_some());
    let op = WriteOp::PruneTokens {
        ended_before: at(30),
        limit: 10,
    };
    assert_eq!(store.apply(op).await.unwrap(), WriteOutcome::Pruned(1));
    assert_eq!(store.prune_tokens(at(30), 10).await.unwrap(), 0);
    assert!(
        store.token(token(3)).await.unwrap().is_some(),
        "ended later"
    );
    assert_eq!(store.prune_tokens(at(1_000), 10).await.unwrap(), 1);
    assert_eq!(
        store.live_tokens(RoomId::Site).await.unwrap().len(),
        2,
        "live tokens are never pruned"
    );
}

async fn tokens_are_inserted_admitted_ended_and_listed_in_order(db: TestDb) {
    let store = &*db.store;
    assert_eq!(store.max_token_seq(RoomId::Site).await.unwrap(), 0);
    let (one, two, three) = (waiting("u1", 1), waiting("u2", 2), waiting("u3", 3));
    // Written out of order, listed by seq.
    store
        .insert_tokens(&[two.clone(), three.clone(), one.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.live_tokens(RoomId::Site).await.unwrap(),
        vec![one.clone(), two.clone(), three.clone()]
    );
    assert_eq!(store.token(three.token).await.unwrap(), Some(three.clone()));
    assert_eq!(store.token(QueueToken::generate()).await.unwrap(), None);
    assert_eq!(store.max_token_seq(RoomId::Site).await.unwrap(), 3);

    store
        .admit_tokens(RoomId::Site, &[one.token], at(10))
        .await
        .unwrap();
    let admitted = store.token(one.token).await.unwrap().unwrap();
    assert_eq!(
        (admitted.state, admitted.admitted_at),
        (TokenState::Admitted, Some(at(10)))
    );
    // Only waiting tokens are admitted: a second admission changes nothing.
    store
        .admit_tokens(RoomId::Site, &[one.token], at(20))
        .await
        .unwrap();
    assert_eq!(
        store.token(one.token).await.unwrap(),
        Some(admitted.clone())
    );

    store
        .end_tokens(RoomId::Site, &[two.token], TokenState::Evicted, at(30))
        .await
        .unwrap();
    assert_eq!(
        store.live_tokens(RoomId::Site).await.unwrap(),
        vec![admitted, three.clone()]
    );
    // Only live tokens end, and an ended token is never admitted.
    store
        .end_tokens(RoomId::Site, &[two.token], TokenState::Expired, at(40))
        .await
        .unwrap();
    store
        .admit_tokens(RoomId::Site, &[two.token], at(40))
        .await
        .unwrap();
    assert_eq!(
        store.token(two.token).await.unwrap().unwrap().state,
        TokenState::Evicted
    );

    store
        .end_tokens(
            RoomId::Site,
            &[one.token, three.token],
            TokenState::Expired,
            at(50),
        )
        .await
        .unwrap();
    assert!(store.live_tokens(RoomId::Site).await.unwrap().is_empty());
    assert_eq!(
        store.token(one.token).await.unwrap().unwrap().state,
        TokenState::Expired
    );
    assert_eq!(store.max_token_seq(RoomId::Site).await.unwrap(), 3);
    assert!(matches!(
        store
            .end_tokens(RoomId::Site, &[three.token], TokenState::Waiting, at(60))
            .await,
        Err(StoreError::Conflict(_))
    ));
}

async fn a_second_live_token_for_a_user_conflicts(db: TestDb) {
    let store = &*db.store;
    let first = waiting("alice", 1);
    store
        .insert_tokens(std::slice::from_ref(&first))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_tokens(&[waiting("alice", 2)]).await,
        Err(StoreError::Conflict(_))
    ));
    // All or none: bob's token in the refused batch is not written.
    let bob = waiting("bob", 3);
    assert!(matches!(
        store
            .insert_tokens(&[bob.clone(), waiting("alice", 4)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.token(bob.token).await.unwrap(), None);
    assert_eq!(
        store.live_tokens(RoomId::Site).await.unwrap(),
        vec![first.clone()]
    );

    // Once her token ends, alice may line up again.
    store
        .end_tokens(RoomId::Site, &[first.token], TokenState::Expired, at(10))
        .await
        .unwrap();
    store.insert_tokens(&[waiting("alice", 5)]).await.unwrap();
}

async fn thousands_of_tokens_go_in_one_call(db: TestDb) {
    let store = &*db.store;
    let tokens: Vec<TokenRow> = (1..=2500)
        .map(|seq| waiting(&format!("u{seq}"), seq))
        .collect();
    store.insert_tokens(&tokens).await.unwrap();
    assert_eq!(store.live_tokens(RoomId::Site).await.unwrap(), tokens);
    let all: Vec<QueueToken> = tokens.iter().map(|t| t.token).collect();
    store
        .admit_tokens(RoomId::Site, &all, at(5000))
        .await
        .unwrap();
    let live = store.live_tokens(RoomId::Site).await.unwrap();
    assert!(live.iter().all(|t| t.state == TokenState::Admitted));
    store
        .end_tokens(RoomId::Site, &all, TokenState::Expired, at(6000))
        .await
        .unwrap();
    assert!(store.live_tokens(RoomId::Site).await.unwrap().is_empty());
    assert_eq!(store.max_token_seq(RoomId::Site).await.unwrap(), 2500);
}

async fn a_restart_sees_everything_committed(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 100).await;
    store
        .charge(&user("alice"), points(500), at(0))
        .await
        .unwrap();
    let held = hold(store, &session, 1, "alice").await;
    let sold = hold(store, &session, 2, "alice").await;
    store
        .commit_payment(&payment(&sold, Some("k")))
        .await
        .unwrap();
    let token = waiting("alice", 7);
    store
        .insert_tokens(std::slice::from_ref(&token))
        .await
        .unwrap();

    let restarted = reopen(&db).await;
    let live = restarted.live_reservations(session.id).await.unwrap();
    assert_eq!(
        live.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![held.id, sold.id]
    );
    assert_eq!(
        restarted.balance(&user("alice")).await.unwrap(),
        Points(400)
    );
    assert_eq!(
        restarted.live_tokens(RoomId::Site).await.unwrap(),
        vec![token]
    );
    assert_eq!(restarted.max_token_seq(RoomId::Site).await.unwrap(), 7);
}
