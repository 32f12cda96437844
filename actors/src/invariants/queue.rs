//! The waiting room: admitted tokens within the `max_active` in force, one live token per user,
//! each token's timestamps agreeing with its state, and the line served in order.

use chrono::{DateTime, Utc};

use super::CheckError;
use super::db::Db;
use super::limits::LimitsInForce;
use super::report::{Code, Violation};

pub(super) async fn tokens(
    db: &mut Db,
    limits: &LimitsInForce,
    out: &mut Vec<Violation>,
) -> Result<(), CheckError> {
    // Tokens only leave the admitted set after their admission, so every token admitted
    // now was admitted, and still is, at the latest admission among them: the count now
    // is at most the count then, which the limit in force then bounds. (A restart with
    // a lower limit keeps the tokens admitted before it, and admits none until below.)
    let admitted: Vec<(DateTime<Utc>,)> = db
        .rows("SELECT admitted_at FROM queue_tokens WHERE state = 'admitted'")
        .await?;
    if let Some((latest,)) = admitted.iter().max() {
        let max_active = limits.at(*latest).max_active;
        if admitted.len() as u64 > max_active {
            out.push(Violation::new(
                Code::AdmittedOverLimit,
                format!(
                    "{} tokens are admitted; at most {max_active} may be",
                    admitted.len()
                ),
            ));
        }
    }

    let rows: Vec<(String, i64, i64, i64)> = db
        .rows(
            "SELECT user_id, COUNT(*), CAST(MIN(seq) AS BIGINT), CAST(MAX(seq) AS BIGINT) \
             FROM queue_tokens WHERE state IN ('waiting', 'admitted') \
             GROUP BY user_id HAVING COUNT(*) > 1 ORDER BY 1",
        )
        .await?;
    for (user, count, first, last) in rows {
        out.push(Violation::new(
            Code::TokenLiveTwice,
            format!("user {user} has {count} live tokens (seq {first}..={last})"),
        ));
    }

    let rows: Vec<(i64, String, String, i64, i64)> = db
        .rows(
            "SELECT CAST(seq AS BIGINT), user_id, state, \
                    CAST(CASE WHEN admitted_at IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                    CAST(CASE WHEN ended_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
             FROM queue_tokens WHERE NOT ( \
                (state = 'waiting' AND admitted_at IS NULL AND ended_at IS NULL) \
             OR (state = 'admitted' AND admitted_at IS NOT NULL AND ended_at IS NULL) \
             OR (state = 'expired' AND admitted_at IS NOT NULL AND ended_at IS NOT NULL) \
             OR (state = 'evicted' AND admitted_at IS NULL AND ended_at IS NOT NULL)) \
             ORDER BY 1",
        )
        .await?;
    for (seq, user, state, admitted_at, ended_at) in rows {
        let has = |flag: i64| if flag == 1 { "with" } else { "without" };
        out.push(Violation::new(
            Code::TokenLifecycle,
            format!(
                "token #{seq} of {user} is {state} {} admitted_at and {} ended_at",
                has(admitted_at),
                has(ended_at)
            ),
        ));
    }

    let rows: Vec<(i64, String, i64)> = db
        .rows(
            "SELECT CAST(w.seq AS BIGINT), w.user_id, CAST(a.last AS BIGINT) \
             FROM queue_tokens w, \
                  (SELECT MAX(seq) AS last FROM queue_tokens WHERE admitted_at IS NOT NULL) a \
             WHERE w.state = 'waiting' AND w.seq < a.last ORDER BY 1",
        )
        .await?;
    for (seq, user, last) in rows {
        out.push(Violation::new(
            Code::QueueOrder,
            format!(
                "token #{seq} of {user} is still waiting, but token #{last}, issued after it, \
                 has been admitted"
            ),
        ));
    }
    Ok(())
}
