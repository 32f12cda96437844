//! Ended tokens are deleted once past their retention; what a pruned token answers
//! then; payments keep their idempotency without the token's row.

use std::time::Duration;

use actors::backend_tests;
use actors::domain::{ChargeAmount, IdempotencyKey, QueueToken};
use actors::invariants::check;
use actors::testkit::TestDb;
use actors::{CallerStatus, EngineConfig, EngineError};

use crate::common::*;

backend_tests! {
    #[paused] ended_tokens_are_pruned_after_their_retention,
    #[paused] a_payment_replays_after_its_token_is_pruned,
}

const RETENTION: Duration = Duration::from_secs(3600);

fn pruning() -> EngineConfig {
    EngineConfig {
        max_active: 1,
        active_ttl: Duration::from_secs(600),
        waiting_idle: Duration::from_secs(60),
        admitted_idle: Duration::from_secs(86_400),
        token_retention: RETENTION,
        ..config()
    }
}

/// Moves the clock by `total` in steps, polling `live` at each so it stays in line,
/// and lets every sweep and prune due meanwhile finish.
async fn pass(app: &Running, live: QueueToken, total: Duration) {
    let step = Duration::from_secs(30);
    let mut left = total;
    while !left.is_zero() {
        let now = left.min(step);
        tokio::time::advance(now).await;
        left -= now;
        settle().await;
        app.engine
            .queue(Some(&live.to_string()), None)
            .await
            .unwrap();
    }
    app.engine.queue_counts().await.unwrap();
}

async fn exists(db: &TestDb, token: QueueToken) -> bool {
    db.store.token(token).await.unwrap().is_some()
}

/// An evicted and an expired token are deleted once their retention has passed,
/// each by its own end; a live token never is. A pruned token is unknown: 403 for
/// a hold, a new token (for a generated user) for a poll. `concert check` stays clean.
async fn ended_tokens_are_pruned_after_their_retention(db: TestDb) {
    let app = start(&db, pruning()).await;
    let expires = admitted(&app.engine, "expires").await;
    let evicted = join(&app.engine, "evicted").await;
    let live = join(&app.engine, "live").await;

    // `evicted` never polls (evicted at ~60-75 s); `expires` ends at 600 s.
    pass(&app, live.token, Duration::from_secs(700)).await;
    assert_eq!(
        reidentify(&app.engine, &evicted).await.status,
        CallerStatus::Expired
    );
    assert_eq!(
        reidentify(&app.engine, &expires).await.status,
        CallerStatus::Expired
    );

    // By retention + a prune period (150 s) after its end, each is gone.
    pass(&app, live.token, RETENTION - Duration::from_secs(1000)).await;
    assert!(
        exists(&db, evicted.token).await,
        "not yet past its retention"
    );
    pass(&app, live.token, Duration::from_secs(600)).await;
    assert!(!exists(&db, evicted.token).await, "pruned");
    assert!(exists(&db, expires.token).await, "ended later: kept");
    pass(&app, live.token, Duration::from_secs(600)).await;
    assert!(!exists(&db, expires.token).await, "pruned");
    assert!(
        exists(&db, live.token).await,
        "a live token is never pruned"
    );

    assert_eq!(
        app.engine
            .identify(Some(&expires.token.to_string()))
            .await
            .unwrap_err(),
        EngineError::InvalidToken,
        "a pruned token is unknown"
    );
    let renewed = app
        .engine
        .queue(Some(&expires.token.to_string()), None)
        .await
        .unwrap();
    assert_ne!(renewed.token, expires.token);
    assert_ne!(
        renewed.user_id, expires.user_id,
        "its user is forgotten with it"
    );

    let report = check(&db.url, &pruning().limits()).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

/// A paid token is pruned with the rest; the payment's key still replays (for a new
/// token of the same user) and never pays twice. The pruned token itself is unknown.
async fn a_payment_replays_after_its_token_is_pruned(db: TestDb) {
    let session = session(&db, 5).await;
    let app = start(&db, pruning()).await;
    let payer = admitted(&app.engine, "payer").await;
    let live = join(&app.engine, "live").await;
    charge_to(&app.engine, &payer, ChargeAmount(30_000))
        .await
        .unwrap();
    let hold = hold_as(&app.engine, &payer, session.id, 1).await.unwrap();
    let key = || Some(IdempotencyKey::parse("pay-once").unwrap());
    let paid = pay_as(&app.engine, &payer, hold.reservation_id, key())
        .await
        .unwrap();

    pass(&app, live.token, RETENTION + Duration::from_secs(300)).await;
    assert!(!exists(&db, payer.token).await, "the paid token is pruned");
    assert_eq!(
        app.engine
            .identify(Some(&payer.token.to_string()))
            .await
            .unwrap_err(),
        EngineError::InvalidToken
    );

    let again = join(&app.engine, "payer").await;
    let replayed = pay_as(&app.engine, &again, hold.reservation_id, key())
        .await
        .unwrap();
    assert_eq!(replayed.payment_id, paid.payment_id);
    assert_eq!(
        db.store.balance(&payer.user_id).await.unwrap(),
        paid.balance_after,
        "debited once"
    );
    let report = check(&db.url, &pruning().limits()).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}
