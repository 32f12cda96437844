//! The draw: a room's pre-queue renumbered in drawn order, with the room's
//! `drawn_at`, all or none.

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    a_draw_writes_the_new_seqs_and_drawn_at_together,
    a_failed_draw_changes_nothing,
    thousands_are_drawn_in_one_call,
}

/// Three waiting tokens of room 7, and one of the site room with the same seqs.
async fn pre_queue(store: &dyn Store) -> Vec<TokenRow> {
    store.save_room(&concert_room(7, 3), at(0)).await.unwrap();
    let rows: Vec<TokenRow> = ["ann", "ben", "cat"]
        .iter()
        .zip(1..)
        .map(|(who, seq)| waiting_in(concert(7), who, seq))
        .collect();
    store.insert_tokens(&rows).await.unwrap();
    store
        .insert_tokens(&[waiting_in(RoomId::Site, "ann", 1)])
        .await
        .unwrap();
    rows
}

/// The drawn order is the seq order from then on (a restart reads it back), later
/// tokens follow it, and the room says when it drew.
async fn a_draw_writes_the_new_seqs_and_drawn_at_together(db: TestDb) {
    let store = &*db.store;
    let rows = pre_queue(store).await;
    let drawn = [(rows[2].token, 4), (rows[0].token, 5), (rows[1].token, 6)];
    store.draw_room(concert(7), &drawn, at(200)).await.unwrap();

    let restarted = reopen(&db).await;
    let live = restarted.live_tokens(concert(7)).await.unwrap();
    let order: Vec<(QueueToken, i64)> = live.iter().map(|t| (t.token, t.seq)).collect();
    assert_eq!(order, drawn.to_vec());
    assert_eq!(live[0].issued_at, rows[2].issued_at, "only the seq changes");
    let room = restarted.room(concert(7)).await.unwrap().unwrap();
    assert_eq!(room.drawn_at, Some(at(200)));
    assert_eq!(restarted.max_token_seq(concert(7)).await.unwrap(), 6);
    assert_eq!(
        restarted.live_tokens(RoomId::Site).await.unwrap()[0].seq,
        1,
        "another room's line is untouched"
    );
    assert!(
        matches!(
            restarted.draw_room(concert(7), &[], at(201)).await,
            Err(StoreError::Conflict(_))
        ),
        "a room draws once"
    );
}

/// Each refused draw leaves the seqs and `drawn_at` as they were: a token that is
/// not a waiting token of the room, a token named twice, a seq taken, a room not
/// stored, and a failure injected into the room's row after the renumbering.
async fn a_failed_draw_changes_nothing(db: TestDb) {
    let store = &*db.store;
    let rows = pre_queue(store).await;
    let site = store.live_tokens(RoomId::Site).await.unwrap()[0].token;
    store
        .admit_tokens(concert(7), &[rows[0].token], at(1))
        .await
        .unwrap();
    let before = store.live_tokens(concert(7)).await.unwrap();
    let (ben, cat) = (rows[1].token, rows[2].token);

    let refused: [&[(QueueToken, i64)]; 5] = [
        &[(cat, 4), (site, 5)],
        &[(cat, 4), (rows[0].token, 5)],
        &[(cat, 4), (ben, 5), (cat, 6)],
        &[(cat, 4), (ben, 1)],
        &[(cat, 4), (QueueToken::generate(), 5)],
    ];
    for drawn in refused {
        let answer = store.draw_room(concert(7), drawn, at(200)).await;
        assert!(matches!(answer, Err(StoreError::Conflict(_))), "{answer:?}");
    }
    assert_eq!(
        store.draw_room(concert(8), &[], at(200)).await,
        Err(StoreError::NotFound)
    );
    refuse_room_updates(&db).await;
    let injected = store
        .draw_room(concert(7), &[(cat, 4), (ben, 5)], at(200))
        .await;
    assert!(injected.is_err());

    assert_eq!(store.live_tokens(concert(7)).await.unwrap(), before);
    let room = store.room(concert(7)).await.unwrap().unwrap();
    assert_eq!(room.drawn_at, None);
    assert_eq!(store.token(site).await.unwrap().unwrap().seq, 1);
}

/// A pre-queue of thousands is drawn in one call (one statement on either backend),
/// here in reverse order.
async fn thousands_are_drawn_in_one_call(db: TestDb) {
    let store = &*db.store;
    store.save_room(&concert_room(7, 3), at(0)).await.unwrap();
    let rows: Vec<TokenRow> = (1..=2500)
        .map(|n| waiting_in(concert(7), &format!("u{n}"), n))
        .collect();
    store.insert_tokens(&rows).await.unwrap();
    let drawn: Vec<(QueueToken, i64)> = rows.iter().rev().map(|t| t.token).zip(2501..).collect();
    store.draw_room(concert(7), &drawn, at(200)).await.unwrap();
    let live = store.live_tokens(concert(7)).await.unwrap();
    let order: Vec<(QueueToken, i64)> = live.iter().map(|t| (t.token, t.seq)).collect();
    assert_eq!(order, drawn);
}
