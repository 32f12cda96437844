//! What a hold writes besides its row: the indexes on `reservations`. Each is one more
//! entry per hold, so the schema keeps the ones the guarantees and the engine's queries
//! need (the primary key, and the partial unique index that stops a double sale) and
//! no other (migration 0008 dropped `reservations_by_user`, which no query used).

use crate::support::*;
use actors::backend_tests;

backend_tests! {
    reservations_carry_only_the_indexes_the_engine_needs,
}

/// How many indexes named `name` `reservations` has (0 or 1).
async fn secondary_indexes(db: &TestDb, name: &str) -> i64 {
    let sql = if db.url.starts_with("sqlite:") {
        format!(
            "SELECT COUNT(*) FROM sqlite_master \
             WHERE type = 'index' AND tbl_name = 'reservations' AND name = '{name}'"
        )
    } else {
        format!(
            "SELECT COUNT(*) FROM pg_indexes \
             WHERE tablename = 'reservations' AND indexname = '{name}'"
        )
    };
    count(db, &sql).await
}

async fn reservations_carry_only_the_indexes_the_engine_needs(db: TestDb) {
    assert_eq!(
        secondary_indexes(&db, "reservations_one_live_per_seat").await,
        1,
        "the partial unique index stays: no seat sold twice"
    );
    assert_eq!(
        secondary_indexes(&db, "reservations_by_user").await,
        0,
        "no index a hold must write and no query reads"
    );
    // Whatever else is added must be a decision: every secondary index, counted.
    let all = if db.url.starts_with("sqlite:") {
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reservations' \
         AND name NOT LIKE 'sqlite_autoindex_%'"
    } else {
        "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'reservations' \
         AND indexname <> 'reservations_pkey'"
    };
    assert_eq!(
        count(&db, all).await,
        1,
        "one secondary index on reservations"
    );
}
