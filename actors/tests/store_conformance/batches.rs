//! Batches (`apply_batch`): each op answered as on its own, one-statement runs, and time.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    a_batch_commits_what_it_can_and_answers_each_op_as_its_own_method,
    a_run_of_holds_is_answered_as_one_hold_at_a_time,
    a_batch_of_only_holds_is_answered_as_one_hold_at_a_time,
    taken_seats_in_a_batch_of_only_holds_refuse_only_themselves,
    a_run_of_new_tokens_is_answered_as_one_token_at_a_time,
    an_empty_batch_answers_nothing,
    a_batch_of_refusals_commits_nothing,
    a_large_batch_commits_every_op,
    #[paused] store_calls_take_no_test_time,
}

async fn a_batch_commits_what_it_can_and_answers_each_op_as_its_own_method(db: TestDb) {
    // The same ops, one transaction each, on a twin database.
    let BatchedAndAlone {
        ops,
        batched,
        one_by_one,
        single,
    } = batched_and_alone(&db, |store| mixed_batch(store).boxed()).await;
    assert_eq!(batched, one_by_one);

    // And the answers are the ones the ops call for, in order.
    assert_eq!(batched.len(), ops.len());
    let ok = |i: usize| {
        batched[i]
            .as_ref()
            .unwrap_or_else(|e| panic!("op {i}: {e:?}"))
            .clone()
    };
    let WriteOutcome::Hold(franks) = ok(0) else {
        panic!("op 0: {:?}", batched[0])
    };
    assert_eq!(
        (franks.seat_number, franks.user_id.clone()),
        (SeatNumber(5), user("frank"))
    );
    assert_eq!(batched[1], Err(StoreError::SeatTaken));
    let WriteOutcome::Payment(alices) = ok(2) else {
        panic!("op 2: {:?}", batched[2])
    };
    assert_eq!(alices.balance_after, Points(700));
    assert_eq!(batched[3], Err(StoreError::InsufficientBalance));
    assert!(
        matches!(batched[4], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[4]
    );
    assert_eq!(batched[5], Err(StoreError::InsufficientBalance));
    assert_eq!(
        batched[6],
        Err(StoreError::SeatTaken),
        "op 0 of the same batch took it"
    );
    assert_eq!(ok(7), WriteOutcome::Balance(Points(600)));
    let WriteOutcome::Payment(bobs) = ok(8) else {
        panic!("op 8: {:?}", batched[8])
    };
    assert_eq!(bobs.balance_after, Points(300), "op 7's charge paid for it");
    assert_eq!(ok(9), WriteOutcome::HoldEnded(true));
    assert_eq!(ok(10), WriteOutcome::HoldEnded(false));
    assert!(
        matches!(batched[11], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[11]
    );
    assert!(
        matches!(batched[12], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[12]
    );
    assert_eq!(ok(13), WriteOutcome::Done);
    assert_eq!(ok(14), WriteOutcome::Done);
    assert!(
        matches!(batched[15], Err(StoreError::Conflict(_))),
        "{:?}",
        batched[15]
    );
    assert_eq!(batched[16], Err(StoreError::NotFound));
    assert_eq!(ok(17), WriteOutcome::Balance(Points(50)));

    // A refused op left nothing behind: dave's failed payment made no wallet row
    // of its own (op 17 made the one there is), erin kept her one token.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM wallets WHERE user_id = 'dave'").await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM queue_tokens WHERE user_id = 'erin'"
        )
        .await,
        1
    );
    assert_eq!(state_of(&db).await, state_of(&single).await);

    // Committed: a restart sees it.
    let restarted = reopen(&db).await;
    assert_eq!(restarted.balance(&user("bob")).await.unwrap(), Points(300));
    assert_eq!(
        restarted
            .live_reservations(franks.session_id)
            .await
            .unwrap()
            .len(),
        4
    );
}

async fn a_run_of_holds_is_answered_as_one_hold_at_a_time(db: TestDb) {
    // Consecutive holds (Postgres writes them with one statement): free seats, a
    // seat taken before, one seat twice in the run, and a run with a seat the
    // session lacks (which fails such a statement as a whole).
    async fn setup(store: &dyn Store) -> Vec<WriteOp> {
        let session = seed_session(store, 10, 300).await;
        hold(store, &session, 1, "alice").await;
        let h = |seat, who: &str| WriteOp::InsertHold(new_hold(&session, seat, &user(who), at(5)));
        vec![
            h(2, "bob"),
            h(1, "bob"),
            h(3, "bob"),
            h(3, "carol"),
            h(4, "carol"),
            h(2, "dave"),
            WriteOp::Charge {
                user: user("bob"),
                amount: points(10),
                at: at(6),
                key: None,
            },
            h(5, "erin"),
            h(11, "erin"),
            h(6, "erin"),
            h(5, "frank"),
        ]
    }
    let BatchedAndAlone {
        batched,
        one_by_one,
        single,
        ..
    } = batched_and_alone(&db, |store| setup(store).boxed()).await;
    // Equal but for the ids: a run Postgres rolls back (the one with seat 11)
    // used up sequence values, so later ids skip some. Ids still ascend in order.
    assert_eq!(without_ids(&batched), without_ids(&one_by_one));
    let ids: Vec<_> = batched
        .iter()
        .filter_map(|r| match r {
            Ok(WriteOutcome::Hold(row)) => Some(row.id),
            _ => None,
        })
        .collect();
    assert!(ids.is_sorted(), "{ids:?}");

    let won: Vec<bool> = batched.iter().map(Result::is_ok).collect();
    assert_eq!(
        won,
        [
            true, false, true, false, true, false, true, true, false, true, false
        ]
    );
    assert_eq!(batched[1], Err(StoreError::SeatTaken));
    assert_eq!(batched[3], Err(StoreError::SeatTaken));
    assert_eq!(batched[8], Err(StoreError::NotFound));
    let WriteOutcome::Hold(carols) = batched[4].clone().unwrap() else {
        panic!()
    };
    assert_eq!(
        (carols.seat_number, carols.user_id),
        (SeatNumber(4), user("carol"))
    );
    assert_eq!(state_of(&db).await, state_of(&single).await);
}

/// A batch of nothing but holds (Postgres commits it as one statement, without a
/// transaction): a seat the session lacks fails that statement, and the batch
/// is then answered hold by hold, as if each were written alone.
async fn a_batch_of_only_holds_is_answered_as_one_hold_at_a_time(db: TestDb) {
    async fn setup(store: &dyn Store) -> Vec<WriteOp> {
        let session = seed_session(store, 10, 300).await;
        hold(store, &session, 1, "alice").await;
        let h = |seat, who: &str| WriteOp::InsertHold(new_hold(&session, seat, &user(who), at(5)));
        vec![
            h(2, "bob"),
            h(1, "bob"),
            h(11, "carol"),
            h(2, "dave"),
            h(3, "dave"),
        ]
    }
    let BatchedAndAlone {
        batched,
        one_by_one,
        single,
        ..
    } = batched_and_alone(&db, |store| setup(store).boxed()).await;
    assert_eq!(without_ids(&batched), without_ids(&one_by_one));
    let won: Vec<bool> = batched.iter().map(Result::is_ok).collect();
    assert_eq!(won, [true, false, false, false, true]);
    assert_eq!(batched[2], Err(StoreError::NotFound));
    assert_eq!(state_of(&db).await, state_of(&single).await);

    // Without the missing seat, the same kind of batch goes in whole.
    let session = seed_session(&*db.store, 5, 300).await;
    let ops: Vec<WriteOp> = (1..=5)
        .map(|seat| WriteOp::InsertHold(new_hold(&session, seat, &user("erin"), at(6))))
        .collect();
    let answers = db.store.apply_batch(&ops).await.unwrap();
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(
        db.store.live_reservations(session.id).await.unwrap().len(),
        5
    );
}

/// Every seat exists but some are taken (one before the batch, one by an earlier op
/// of it): those holds are answered `SeatTaken`, every other one commits. (Postgres
/// sends such a batch as one statement that refuses taken seats as a whole, then
/// again skipping them: `store/postgres/batch.rs`.)
async fn taken_seats_in_a_batch_of_only_holds_refuse_only_themselves(db: TestDb) {
    async fn setup(store: &dyn Store) -> Vec<WriteOp> {
        let session = seed_session(store, 10, 300).await;
        hold(store, &session, 1, "alice").await;
        let h = |seat, who: &str| WriteOp::InsertHold(new_hold(&session, seat, &user(who), at(5)));
        vec![
            h(2, "bob"),
            h(1, "bob"),
            h(3, "carol"),
            h(2, "dave"),
            h(4, "dave"),
        ]
    }
    let BatchedAndAlone {
        batched,
        one_by_one,
        single,
        ..
    } = batched_and_alone(&db, |store| setup(store).boxed()).await;
    assert_eq!(without_ids(&batched), without_ids(&one_by_one));
    assert_eq!(batched[1], Err(StoreError::SeatTaken));
    assert_eq!(batched[3], Err(StoreError::SeatTaken));
    let won: Vec<bool> = batched.iter().map(Result::is_ok).collect();
    assert_eq!(won, [true, false, true, false, true]);
    assert_eq!(state_of(&db).await, state_of(&single).await);
    let held = "SELECT COUNT(*) FROM reservations WHERE status = 'held'";
    assert_eq!(count(&db, held).await, 4);
}

/// Consecutive token inserts (Postgres writes them with one statement): one that
/// conflicts (a second live token for a user) is refused alone; the others commit.
async fn a_run_of_new_tokens_is_answered_as_one_token_at_a_time(db: TestDb) {
    let store = &*db.store;
    store.insert_tokens(&[waiting("alice", 1)]).await.unwrap();
    let (bob, carol) = (waiting("bob", 3), waiting("carol", 4));
    let ops = vec![
        WriteOp::InsertTokens(vec![bob.clone()]),
        WriteOp::InsertTokens(vec![waiting("alice", 2)]),
        WriteOp::InsertTokens(vec![carol.clone()]),
    ];
    let answers = store.apply_batch(&ops).await.unwrap();
    assert_eq!(answers[0], Ok(WriteOutcome::Done));
    assert!(
        matches!(answers[1], Err(StoreError::Conflict(_))),
        "{:?}",
        answers[1]
    );
    assert_eq!(answers[2], Ok(WriteOutcome::Done));
    let live: Vec<_> = store
        .live_tokens(RoomId::Site)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.user_id)
        .collect();
    assert_eq!(live, vec![user("alice"), user("bob"), user("carol")]);
}

async fn an_empty_batch_answers_nothing(db: TestDb) {
    assert_eq!(db.store.apply_batch(&[]).await, Ok(Vec::new()));
}

async fn a_batch_of_refusals_commits_nothing(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 10, 300).await;
    let taken = hold(store, &session, 1, "alice").await;
    let before = state_of(&db).await;
    let ops = [
        WriteOp::InsertHold(new_hold(&session, 1, &user("bob"), at(1))),
        WriteOp::CommitPayment(payment(&taken, None)),
        WriteOp::InsertHold(new_hold(&session, 99, &user("bob"), at(1))),
    ];
    assert_eq!(
        store.apply_batch(&ops).await,
        Ok(vec![
            Err(StoreError::SeatTaken),
            Err(StoreError::InsufficientBalance),
            Err(StoreError::NotFound),
        ])
    );
    assert_eq!(state_of(&db).await, before);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM wallets").await, 0);
}

async fn a_large_batch_commits_every_op(db: TestDb) {
    let store = &*db.store;
    let session = seed_session(store, 500, 10).await;
    let ops: Vec<WriteOp> = (1..=500)
        .map(|seat| {
            WriteOp::InsertHold(new_hold(&session, seat, &user(&format!("u{seat}")), at(0)))
        })
        .chain((1..=100).map(|i| WriteOp::Charge {
            user: user(&format!("u{i}")),
            amount: points(i),
            at: at(1),
            key: None,
        }))
        .collect();
    let results = store.apply_batch(&ops).await.unwrap();
    assert_eq!(results.len(), 600);
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(WriteOutcome::Hold(row)) => assert_eq!(row.seat_number, SeatNumber(i as u32 + 1)),
            Ok(WriteOutcome::Balance(balance)) => assert_eq!(*balance, Points(i as i64 - 499)),
            other => panic!("op {i}: {other:?}"),
        }
    }
    assert_eq!(
        store.live_reservations(session.id).await.unwrap().len(),
        500
    );
}

async fn store_calls_take_no_test_time(db: TestDb) {
    let start = tokio::time::Instant::now();
    let alarm = tokio::spawn(tokio::time::sleep(std::time::Duration::from_secs(300)));
    let session = seed_session(&*db.store, 10, 100).await;
    for seat in 1..=5 {
        hold(&*db.store, &session, seat, "alice").await;
    }
    db.store
        .charge(&user("alice"), points(10), at(0))
        .await
        .unwrap();
    let _ = reopen(&db)
        .await
        .live_reservations(session.id)
        .await
        .unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::ZERO);
    assert!(!alarm.is_finished());
    // The test's own timers still run on the paused clock.
    alarm.await.unwrap();
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(300));
}
