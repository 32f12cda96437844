//! Writes that commit although the caller is told `Unavailable` (the connection
//! broke after COMMIT): the actors must not trust their memory until they have
//! asked the store, or a held seat shows free, a token blocks its user, a balance lies.

use actors::backend_tests;
use actors::domain::{ChargeAmount, Points};
use actors::store::ReservationStatus;
use actors::testkit::{TestDb, user};
use actors::{CallerStatus, EngineError};

use crate::common::*;

backend_tests! {
    a_hold_committed_unseen_is_found_again,
    a_token_committed_unseen_is_confirmed,
    #[paused] a_token_batch_committed_unseen_is_confirmed_row_by_row,
    #[paused] a_charge_whose_caller_gave_up_is_not_applied,
    a_charge_committed_unseen_is_in_the_next_balance,
}

/// A hold that committed unseen: the seat map is rebuilt before it is used again,
/// so the seat shows taken and nobody else gets it.
async fn a_hold_committed_unseen_is_found_again(db: TestDb) {
    let session = session(&db, 5).await;
    let (faulty, app) = start_faulty(&db, config()).await;
    let alice = admitted(&app.engine, "alice").await;
    let bob = admitted(&app.engine, "bob").await;

    faulty.lose_replies(1);
    assert_eq!(
        hold_as(&app.engine, &alice, session.id, 2).await,
        Err(EngineError::StorageUnavailable)
    );
    let stored = db.store.live_reservations(session.id).await.unwrap();
    assert_eq!(stored.len(), 1, "the hold did commit");
    assert_eq!(stored[0].status, ReservationStatus::Held);

    assert!(
        app.engine.seats(session.id).await.unwrap().taken[1],
        "the map follows the store"
    );
    assert_eq!(
        hold_as(&app.engine, &bob, session.id, 2).await,
        Err(EngineError::SeatAlreadyReserved)
    );
    assert_eq!(
        app.engine.sessions(session.concert_id).unwrap()[0].available,
        4
    );
}

/// A token whose insert committed unseen is confirmed from the store, not
/// abandoned: its user gets it, and can join again later.
async fn a_token_committed_unseen_is_confirmed(db: TestDb) {
    let (faulty, app) = start_faulty(&db, config()).await;
    faulty.lose_replies(1);
    let ticket = app.engine.queue(None, Some(user("alice"))).await.unwrap();
    assert!(db.store.token(ticket.token).await.unwrap().is_some());
    let again = app.engine.queue(None, Some(user("alice"))).await.unwrap();
    assert_eq!(
        again.token, ticket.token,
        "one token, not a ghost and a second one"
    );
    let caller = app
        .engine
        .identify(Some(&ticket.token.to_string()))
        .await
        .unwrap();
    assert_eq!(caller.status, CallerStatus::Admitted);
}

/// A batch of new tokens that committed unseen: every row is confirmed from the
/// store, every join answered with its own token, and nobody gets a second one.
async fn a_token_batch_committed_unseen_is_confirmed_row_by_row(db: TestDb) {
    let (faulty, app) = start_faulty(&db, config()).await;
    faulty.set_token_delay(std::time::Duration::from_millis(50));
    // The first writes carry one token each, the next one all the others.
    faulty.lose_replies(1 + actors::waiting_room::TOKEN_WRITES_IN_FLIGHT);
    let answers = join_at_once(&app.engine, 30).await;
    let tokens: Vec<_> = answers
        .into_iter()
        .map(|a| a.expect("answered, not 503").token)
        .collect();
    assert_eq!(
        db.store
            .live_tokens(actors::domain::RoomId::Site)
            .await
            .unwrap()
            .len(),
        30,
        "one row per join"
    );
    for (n, token) in tokens.iter().enumerate() {
        let again = app
            .engine
            .queue(None, Some(user(&format!("u{n}"))))
            .await
            .unwrap();
        assert_eq!(again.token, *token, "u{n} keeps the token that was stored");
    }
}

/// A charge whose caller gave up waiting (answered 503) while it was queued is not
/// applied: the client may charge again, and must not be charged twice.
async fn a_charge_whose_caller_gave_up_is_not_applied(db: TestDb) {
    let config = actors::EngineConfig {
        call_timeout: std::time::Duration::from_millis(1_500),
        ..config()
    };
    let (faulty, app) = start_faulty(&db, config).await;
    let alice = join(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(1))
        .await
        .unwrap();
    faulty.set_charge_delay(std::time::Duration::from_secs(2));
    let (engine, first_caller) = (app.engine.clone(), alice.clone());
    let first =
        tokio::spawn(async move { charge_to(&engine, &first_caller, ChargeAmount(10)).await });
    tokio::task::yield_now().await;
    // Both callers give up at 1.5 s. The first charge is already being written
    // (it commits at 2 s); the second, queued behind it, is skipped at its turn.
    assert_eq!(
        charge_to(&app.engine, &alice, ChargeAmount(100)).await,
        Err(EngineError::Timeout)
    );
    let _ = first.await.unwrap();
    faulty.set_charge_delay(std::time::Duration::ZERO);
    let balance = balance_of(&app.engine, &alice).await.unwrap().balance;
    assert_eq!(
        balance,
        Points(11),
        "the first charge (whatever its caller heard), not the abandoned one"
    );
    assert_eq!(db.store.balance(&alice.user_id).await.unwrap(), Points(11));
}

/// A charge that committed unseen: the wallet reads its balance again before the
/// next answer, so the balance it reports is the store's.
async fn a_charge_committed_unseen_is_in_the_next_balance(db: TestDb) {
    let (faulty, app) = start_faulty(&db, config()).await;
    let alice = join(&app.engine, "alice").await;
    charge_to(&app.engine, &alice, ChargeAmount(100))
        .await
        .unwrap();
    faulty.lose_replies(1);
    assert_eq!(
        charge_to(&app.engine, &alice, ChargeAmount(50)).await,
        Err(EngineError::StorageUnavailable)
    );
    assert_eq!(
        balance_of(&app.engine, &alice).await.unwrap().balance,
        Points(150)
    );
    assert_eq!(
        charge_to(&app.engine, &alice, ChargeAmount(1))
            .await
            .unwrap()
            .balance,
        Points(151)
    );
}
