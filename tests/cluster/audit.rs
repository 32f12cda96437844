//! The failover drills' audit: the load's book against Postgres, and `concert check`.

use actors::testkit::query_i64;

use crate::load::Book;
use crate::nodes::Cluster;
use crate::support::{charges_missing_from_the_ledger, concert_check};

/// Asserts that every answer had the contract's shape, no token the load was given was
/// refused, every acknowledged charge, hold, payment and join is in Postgres, no charge
/// landed twice, no seat was sold twice, and `concert check` is clean. The counts, for
/// the drill's report.
pub async fn audit(cluster: &Cluster, book: &Book) -> String {
    assert!(
        book.malformed.is_empty(),
        "errors off the contract: {:?}",
        book.malformed
    );
    assert!(
        book.refused.is_empty(),
        "tokens the load was given were refused: {:?}",
        book.refused
    );
    let db = &cluster.db;
    let count = |sql: String| async move { query_i64(db, &sql).await.unwrap() };
    let missing = charges_missing_from_the_ledger(db, &book.charges).await;
    assert!(missing.is_empty(), "acknowledged charges lost: {missing:?}");
    // Each client's amounts are unique to it: an amount twice is a charge applied twice.
    let charged_twice = count(
        "SELECT COUNT(*) FROM (SELECT user_id, amount FROM ledger WHERE kind = 'charge' \
         GROUP BY 1, 2 HAVING COUNT(*) > 1) AS twice"
            .into(),
    )
    .await;
    assert_eq!(charged_twice, 0, "a charge applied twice");
    let holds = count(format!(
        "SELECT COUNT(*) FROM reservations WHERE id IN ({})",
        list(&book.holds)
    ))
    .await;
    assert_eq!(holds, book.holds.len() as i64, "acknowledged holds lost");
    let payments = count(format!(
        "SELECT COUNT(*) FROM payments WHERE reservation_id IN ({})",
        list(&book.payments)
    ))
    .await;
    assert_eq!(
        payments,
        book.payments.len() as i64,
        "acknowledged payments lost"
    );
    let tokens = count(format!(
        "SELECT COUNT(*) FROM queue_tokens WHERE token::text IN ({})",
        list(
            &book
                .tokens
                .iter()
                .map(|t| format!("'{t}'"))
                .collect::<Vec<_>>()
        )
    ))
    .await;
    assert_eq!(tokens, book.tokens.len() as i64, "acknowledged joins lost");
    let sold_twice = count(
        "SELECT COUNT(*) FROM (SELECT session_id, seat_number FROM reservations \
         WHERE status = 'paid' GROUP BY 1, 2 HAVING COUNT(*) > 1) AS twice"
            .into(),
    )
    .await;
    assert_eq!(sold_twice, 0, "a seat sold twice");
    let (clean, report, _) = concert_check(&db.url, &cluster.env("check")).await;
    assert!(clean, "concert check: {report}");
    format!(
        "{} charges, {} holds, {} payments, {} joins acknowledged; all in Postgres, \
         none twice",
        book.charges.values().map(Vec::len).sum::<usize>(),
        book.holds.len(),
        book.payments.len(),
        book.tokens.len()
    )
}

/// An SQL list of `items` (`NULL` when empty, so `IN (…)` stays valid and matches nothing).
fn list<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        return "NULL".into();
    }
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
