//! The database's view of what must hold whatever the clients were told: each suite
//! ends here. Plain SQL that both backends run, one query per invariant, each counting
//! the rows that break it.

use actors::EngineConfig;
use actors::testkit::{TestDb, query_i64};

/// Each invariant: what it says, and a query counting its violations.
const INVARIANTS: &[(&str, &str)] = &[
    (
        "a seat is held or sold at most once",
        "SELECT COUNT(*) FROM (SELECT session_id, seat_number FROM reservations \
         WHERE status IN ('held', 'paid') GROUP BY session_id, seat_number \
         HAVING COUNT(*) > 1) AS twice",
    ),
    (
        "a session holds and sells at most its seat count",
        "SELECT COUNT(*) FROM sessions s WHERE s.seat_count < (SELECT COUNT(*) \
         FROM reservations r WHERE r.session_id = s.id AND r.status IN ('held', 'paid'))",
    ),
    (
        "a paid reservation has exactly one payment",
        "SELECT COUNT(*) FROM reservations r WHERE r.status = 'paid' \
         AND (SELECT COUNT(*) FROM payments p WHERE p.reservation_id = r.id) <> 1",
    ),
    (
        "a payment pays a paid reservation of its own user, at its price",
        "SELECT COUNT(*) FROM payments p JOIN reservations r ON r.id = p.reservation_id \
         WHERE r.status <> 'paid' OR r.user_id <> p.user_id OR r.price <> p.amount",
    ),
    (
        "a payment has exactly one ledger debit, of its amount",
        "SELECT COUNT(*) FROM payments p WHERE (SELECT COUNT(*) FROM ledger l \
         WHERE l.payment_id = p.id AND l.kind = 'payment' AND l.user_id = p.user_id \
         AND l.amount = -p.amount) <> 1",
    ),
    (
        "a balance is the sum of its ledger and never negative",
        "SELECT COUNT(*) FROM wallets w WHERE w.balance < 0 OR w.balance <> COALESCE(\
         (SELECT CAST(SUM(l.amount) AS BIGINT) FROM ledger l WHERE l.user_id = w.user_id), 0)",
    ),
    (
        "a user has at most one live token",
        "SELECT COUNT(*) FROM (SELECT user_id FROM queue_tokens \
         WHERE state IN ('waiting', 'admitted') GROUP BY user_id HAVING COUNT(*) > 1) AS twice",
    ),
];

/// One integer from the test database (panics with the query if it fails).
pub async fn count(db: &TestDb, sql: &str) -> i64 {
    query_i64(db, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Every broken invariant, with its count of violating rows, for a server that ran with
/// `config`.
pub async fn violations(db: &TestDb, config: &EngineConfig) -> Vec<String> {
    let max_active = config.max_active;
    let mut broken = Vec::new();
    for (invariant, sql) in INVARIANTS {
        let rows = count(db, sql).await;
        if rows != 0 {
            broken.push(format!("{invariant}: {rows} violations"));
        }
    }
    let admitted = count(
        db,
        "SELECT COUNT(*) FROM queue_tokens WHERE state = 'admitted'",
    )
    .await;
    if admitted > max_active as i64 {
        broken.push(format!(
            "admitted tokens ≤ {max_active}: {admitted} admitted"
        ));
    }
    broken
}

/// Fails the test with every broken invariant.
pub async fn assert_holds(db: &TestDb, config: &EngineConfig) {
    let broken = violations(db, config).await;
    assert!(broken.is_empty(), "invariants broken: {broken:#?}");
}
