//! The waiting room: admitted tokens within `max_active`, one live token per user,
//! timestamps against states, the line served in order.

use actors::backend_tests;
use actors::invariants::Code;
use actors::testkit::TestDb;

use crate::fixture::*;

backend_tests! {
    more_admitted_tokens_than_max_active_are_reported,
    two_live_tokens_of_one_user_are_reported,
    token_timestamps_against_their_state_are_reported,
    a_waiting_token_passed_over_is_reported,
}

/// More admitted tokens than `max_active` (1 here).
async fn more_admitted_tokens_than_max_active_are_reported(db: TestDb) {
    fixture(&db).await;
    plant(
        &db,
        &[format!(
            "UPDATE queue_tokens SET state = 'admitted', admitted_at = {} WHERE seq = 3",
            lit(at(13))
        )],
    )
    .await;
    assert_codes(&db, &[Code::AdmittedOverLimit]).await;
}

/// Two live tokens of one user. The unique partial index refuses the second.
async fn two_live_tokens_of_one_user_are_reported(db: TestDb) {
    fixture(&db).await;
    let second = format!(
        "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
         VALUES ('{}', 'carol', 10, 'waiting', {})",
        uuid::Uuid::new_v4(),
        lit(at(14))
    );
    refused(&db, &second).await;
    without(&db, Relax::Index("queue_tokens_one_live_per_user"), &second).await;
    assert_codes(&db, &[Code::TokenLiveTwice]).await;
}

/// A waiting token with an end time. (An admitted token without `admitted_at` is
/// refused by `CHECK`.)
async fn token_timestamps_against_their_state_are_reported(db: TestDb) {
    fixture(&db).await;
    refused(
        &db,
        &format!(
            "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
         VALUES ('{}', 'zoe', 10, 'admitted', {})",
            uuid::Uuid::new_v4(),
            lit(at(14))
        ),
    )
    .await;
    plant(
        &db,
        &[format!(
            "UPDATE queue_tokens SET ended_at = {} WHERE seq = 3",
            lit(at(15))
        )],
    )
    .await;
    assert_codes(&db, &[Code::TokenLifecycle]).await;
}

/// A token still waiting although one issued after it was admitted.
async fn a_waiting_token_passed_over_is_reported(db: TestDb) {
    fixture(&db).await;
    plant(
        &db,
        &[format!(
            "INSERT INTO queue_tokens (token, user_id, seq, state, issued_at) \
         VALUES ('{}', 'zoe', 0, 'waiting', {})",
            uuid::Uuid::new_v4(),
            lit(at(0))
        )],
    )
    .await;
    assert_codes(&db, &[Code::QueueOrder]).await;
}
