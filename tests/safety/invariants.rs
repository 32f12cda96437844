//! The database's view of what must hold whatever the clients were told: each suite
//! ends with [`assert_holds`], which runs `concert check`'s logic
//! (`actors::invariants::check`) on the suite's database with the limits the server ran
//! with. Suites that need one particular number read it with [`count`].

use actors::EngineConfig;
use actors::invariants::check;
use actors::testkit::{TestDb, query_i64};

/// One integer from the test database (panics with the query if it fails).
pub async fn count(db: &TestDb, sql: &str) -> i64 {
    query_i64(db, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Fails the test with every violation `concert check` finds in `db`, for a server that
/// ran with `config`.
pub async fn assert_holds(db: &TestDb, config: &EngineConfig) {
    let report = check(&db.url, &config.limits())
        .await
        .unwrap_or_else(|e| panic!("concert check could not read {}: {e}", db.url));
    let violations: Vec<String> = report.violations.iter().map(ToString::to_string).collect();
    assert!(
        report.is_clean(),
        "concert check: {}\n{violations:#?}",
        report.summary()
    );
}
