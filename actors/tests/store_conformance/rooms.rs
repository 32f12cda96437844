//! Rooms: their rows and limit history, per-room lines, and the durable counters
//! that admissions and evictions move in their own transaction.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    rooms_round_trip,
    a_room_limits_row_is_written_with_each_max_active,
    save_room_refuses_what_the_schema_refuses,
    tokens_of_two_rooms_do_not_collide,
    admissions_and_evictions_bump_their_room_counters,
    a_refused_counter_undoes_its_admission_or_eviction,
}

/// `save_room` inserts, then updates every setting; `room` and `rooms` read them
/// back; the counters in the row written are ignored.
async fn rooms_round_trip(db: TestDb) {
    let store = &*db.store;
    assert_eq!(store.rooms().await.unwrap(), vec![]);
    assert_eq!(store.room(RoomId::Site).await.unwrap(), None);

    let seven = concert_room(7, 3);
    store.save_room(&seven, at(1)).await.unwrap();
    store.save_room(&site_room(100), at(2)).await.unwrap();
    assert_eq!(
        store.rooms().await.unwrap(),
        vec![site_room(100), seven.clone()],
        "by room id, the site room (0) first"
    );
    assert_eq!(store.room(concert(7)).await.unwrap(), Some(seven.clone()));
    assert_eq!(store.room(concert(8)).await.unwrap(), None);

    let changed = RoomRow {
        pre_queue_opens_at: Some(at(150)),
        opens_at: Some(at(300)),
        drawn_at: Some(at(301)),
        max_active: 9,
        admission_rate: None,
        paused: true,
        admitted_total: 77,
        evicted_total: 88,
        ..seven
    };
    store.save_room(&changed, at(3)).await.unwrap();
    let stored = store.room(concert(7)).await.unwrap().unwrap();
    assert_eq!(
        stored,
        RoomRow {
            admitted_total: 0,
            evicted_total: 0,
            ..changed
        },
        "every setting is written; the counters are not"
    );
    let restarted = reopen(&db).await;
    assert_eq!(restarted.room(concert(7)).await.unwrap(), Some(stored));
}

/// One `room_limits` row when the room is new and one per change of `max_active`;
/// none for a pause or a reschedule.
async fn a_room_limits_row_is_written_with_each_max_active(db: TestDb) {
    let store = &*db.store;
    let limits = "SELECT COUNT(*) FROM room_limits WHERE room_id = 7";
    let room = concert_room(7, 3);
    store.save_room(&room, at(1)).await.unwrap();
    assert_eq!(query_i64(&db, limits).await, Ok(1), "a new room");
    let paused = RoomRow {
        paused: true,
        opens_at: Some(at(400)),
        ..room.clone()
    };
    store.save_room(&paused, at(2)).await.unwrap();
    assert_eq!(query_i64(&db, limits).await, Ok(1), "same max_active");
    let raised = RoomRow {
        max_active: 10,
        ..paused
    };
    store.save_room(&raised, at(3)).await.unwrap();
    store.save_room(&room, at(4)).await.unwrap();
    assert_eq!(query_i64(&db, limits).await, Ok(3), "raised, then lowered");
    let latest = "SELECT CAST(max_active AS BIGINT) FROM room_limits \
                  WHERE room_id = 7 ORDER BY id DESC LIMIT 1";
    assert_eq!(query_i64(&db, latest).await, Ok(3));
    store.save_room(&site_room(100), at(5)).await.unwrap();
    let all = "SELECT COUNT(*) FROM room_limits";
    assert_eq!(query_i64(&db, all).await, Ok(4), "the site room's own row");
}

/// A limit of 0 and a pre-queue opening after the room opens are refused, and
/// nothing is written.
async fn save_room_refuses_what_the_schema_refuses(db: TestDb) {
    let store = &*db.store;
    let zero = concert_room(7, 0);
    assert!(matches!(
        store.save_room(&zero, at(1)).await,
        Err(StoreError::Conflict(_))
    ));
    let backwards = RoomRow {
        pre_queue_opens_at: Some(at(300)),
        ..concert_room(7, 3)
    };
    assert!(matches!(
        store.save_room(&backwards, at(1)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.rooms().await.unwrap(), vec![]);
    assert_eq!(
        query_i64(&db, "SELECT COUNT(*) FROM room_limits").await,
        Ok(0)
    );
}

/// Each room numbers its own line and has its own one-live-token-per-user; reads
/// and updates of one room leave the other's tokens alone.
async fn tokens_of_two_rooms_do_not_collide(db: TestDb) {
    let store = &*db.store;
    let site = waiting_in(RoomId::Site, "alice", 1);
    let seven = waiting_in(concert(7), "alice", 1);
    store
        .insert_tokens(&[site.clone(), seven.clone()])
        .await
        .expect("the same user and seq in two rooms");
    assert!(matches!(
        store
            .insert_tokens(&[waiting_in(concert(7), "alice", 2)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .insert_tokens(&[waiting_in(concert(7), "bob", 1)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    store
        .insert_tokens(&[waiting_in(concert(8), "alice", 5)])
        .await
        .unwrap();
    assert_eq!(
        store.live_tokens(RoomId::Site).await.unwrap(),
        vec![site.clone()]
    );
    assert_eq!(
        store.live_tokens(concert(7)).await.unwrap(),
        vec![seven.clone()]
    );
    assert_eq!(store.token(seven.token).await.unwrap(), Some(seven.clone()));
    assert_eq!(store.max_token_seq(concert(8)).await.unwrap(), 5);
    assert_eq!(store.max_token_seq(RoomId::Site).await.unwrap(), 1);
    assert_eq!(store.max_token_seq(concert(9)).await.unwrap(), 0);

    // Another room's token is not admitted or ended through this room.
    store
        .admit_tokens(concert(7), &[site.token], at(10))
        .await
        .unwrap();
    store
        .end_tokens(concert(7), &[site.token], TokenState::Evicted, at(11))
        .await
        .unwrap();
    assert_eq!(store.token(site.token).await.unwrap(), Some(site));
}

/// `admit_tokens` adds the admissions it made to its room's `admitted_total`,
/// `end_tokens` the evictions to `evicted_total`: alone or batched, never counting
/// a token twice, and never another room's.
async fn admissions_and_evictions_bump_their_room_counters(db: TestDb) {
    let store = &*db.store;
    store.save_room(&concert_room(7, 3), at(0)).await.unwrap();
    store.save_room(&site_room(100), at(0)).await.unwrap();
    let rows: Vec<TokenRow> = (1..=5)
        .map(|n| waiting_in(concert(7), &format!("u{n}"), n))
        .collect();
    store.insert_tokens(&rows).await.unwrap();
    let token = |n: usize| rows[n].token;
    let counters = |room: Option<RoomRow>| {
        let room = room.expect("the room is stored");
        (room.admitted_total, room.evicted_total)
    };

    store
        .admit_tokens(concert(7), &[token(0), token(1)], at(1))
        .await
        .unwrap();
    store
        .admit_tokens(concert(7), &[token(1)], at(2))
        .await
        .unwrap();
    assert_eq!(counters(store.room(concert(7)).await.unwrap()), (2, 0));
    let batch = [
        WriteOp::AdmitTokens {
            room: concert(7),
            tokens: vec![token(2)],
            at: at(3),
        },
        WriteOp::EndTokens {
            room: concert(7),
            tokens: vec![token(3), token(4)],
            state: TokenState::Evicted,
            at: at(4),
        },
    ];
    let answers = store.apply_batch(&batch).await.unwrap();
    assert_eq!(
        answers,
        vec![Ok(WriteOutcome::Done), Ok(WriteOutcome::Done)]
    );
    assert_eq!(counters(store.room(concert(7)).await.unwrap()), (3, 2));
    // Expiring an admission evicts no one; evicting an ended token counts nothing.
    store
        .end_tokens(concert(7), &[token(0)], TokenState::Expired, at(5))
        .await
        .unwrap();
    store
        .end_tokens(
            concert(7),
            &[token(0), token(3)],
            TokenState::Evicted,
            at(6),
        )
        .await
        .unwrap();
    let lone = WriteOp::AdmitTokens {
        room: concert(7),
        tokens: vec![token(4)],
        at: at(7),
    };
    assert_eq!(
        store.apply_batch(&[lone]).await.unwrap(),
        vec![Ok(WriteOutcome::Done)]
    );
    assert_eq!(counters(store.room(concert(7)).await.unwrap()), (3, 2));
    assert_eq!(counters(store.room(RoomId::Site).await.unwrap()), (0, 0));

    store.save_room(&concert_room(7, 4), at(8)).await.unwrap();
    let restarted = reopen(&db).await;
    assert_eq!(
        counters(restarted.room(concert(7)).await.unwrap()),
        (3, 2),
        "durable, and kept by a save of the settings"
    );
}

/// The counter is written in the admission's (or eviction's) transaction: when it
/// fails, the tokens are left as they were, alone or in a batch.
async fn a_refused_counter_undoes_its_admission_or_eviction(db: TestDb) {
    let store = &*db.store;
    store.save_room(&concert_room(7, 3), at(0)).await.unwrap();
    let rows = [
        waiting_in(concert(7), "alice", 1),
        waiting_in(concert(7), "bob", 2),
    ];
    store.insert_tokens(&rows).await.unwrap();
    refuse_room_updates(&db).await;

    let admitted = store
        .admit_tokens(concert(7), &[rows[0].token], at(1))
        .await;
    assert!(admitted.is_err(), "{admitted:?}");
    let evicted = store
        .end_tokens(concert(7), &[rows[1].token], TokenState::Evicted, at(1))
        .await;
    assert!(evicted.is_err(), "{evicted:?}");
    let batch = [
        WriteOp::AdmitTokens {
            room: concert(7),
            tokens: vec![rows[0].token],
            at: at(2),
        },
        WriteOp::EndTokens {
            room: concert(7),
            tokens: vec![rows[1].token],
            state: TokenState::Evicted,
            at: at(2),
        },
    ];
    for ops in [&batch[..], &batch[..1], &batch[1..]] {
        let answers = store.apply_batch(ops).await;
        assert!(
            answers
                .as_ref()
                .map_or(true, |a| a.iter().all(Result::is_err)),
            "{answers:?}"
        );
    }
    assert_eq!(store.live_tokens(concert(7)).await.unwrap(), rows.to_vec());
}
