//! The test kit (cargo feature `testkit`): a fresh database per test on either
//! backend, a restart of the same database, raw SQL against it, small fixtures,
//! and [`backend_tests!`](crate::backend_tests) to write a test once and run it on both.
//!
//! ```ignore
//! use actors::backend_tests;
//! use actors::testkit::{TestDb, seed_session};
//!
//! backend_tests! {
//!     seats_start_free,
//! }
//!
//! async fn seats_start_free(db: TestDb) {
//!     let session = seed_session(&*db.store, 10, 500).await;
//!     assert!(db.store.live_reservations(session.id).await.unwrap().is_empty());
//! }
//! ```
//!
//! # Paused clocks
//!
//! Under `start_paused = true`, tokio jumps its clock to the next timer whenever the
//! runtime has nothing to do, and waiting on a socket counts as nothing to do: a
//! store call in flight would let a hold's five-minute expiry timer fire "early",
//! or a pool's acquire timeout fire spuriously. So the stores this kit hands out run
//! every call on a separate real-time runtime, from inside `spawn_blocking`, which
//! holds the paused clock still until the call returns. A database call takes no
//! test time; only the test's own `sleep`s and `advance`s move the clock.
//!
//! # Postgres
//!
//! [`postgres`] needs `DATABASE_URL=postgres://…` (a user allowed to create
//! databases). It creates a database `concert_test_<unix seconds>_<uuid>` per call
//! and drops it when the [`TestDb`] is dropped; databases of that name older than
//! an hour (left by a killed run) are dropped on the first call of a process.
//! Without `DATABASE_URL` it prints `skipped: <test> needs DATABASE_URL (Postgres)`
//! and returns `None`, unless `REQUIRE_POSTGRES=1`, where it panics (CI sets it so a
//! missing database cannot pass silently).
//!
//! # NATS
//!
//! [`nats_url`] gives `NATS_URL` to the tests that need a NATS server, with the
//! same policy: `skipped: <test> needs NATS_URL` without it, a panic under
//! `REQUIRE_NATS=1`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, Connection};
use uuid::Uuid;

use crate::domain::{ConcertTitle, Points, SeatCount, SeatNumber, UserId};
use crate::store::{NewHold, NewSession, SessionRow, Store};

mod nats;
mod off_clock;
mod scratch;
mod upgraded;

pub use nats::nats_url;
use scratch::*;
pub use upgraded::upgraded;

/// A fresh database and a store on it. Dropping it deletes the database.
pub struct TestDb {
    /// The store (every call runs off the test's clock: see the module docs).
    pub store: Arc<dyn Store>,
    /// The database's URL: [`reopen`] opens it again, as a restarted process would.
    pub url: String,
    /// Declared after `store`, so the pool closes before the database goes.
    _cleanup: Cleanup,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb")
            .field("backend", &self.store.backend())
            .field("url", &self.url)
            .finish()
    }
}

/// Deletes a test database when dropped.
#[derive(Debug)]
enum Cleanup {
    /// A temporary directory holding the SQLite file and its WAL.
    Dir(PathBuf),
    /// A Postgres database, dropped through the server's `admin_url`.
    Database { admin_url: String, name: String },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        match self {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // A plain thread: `block_on` may not run on a thread inside a runtime.
                let dropped = std::thread::spawn(move || {
                    db_runtime().block_on(drop_database(&admin_url, &name))
                })
                .join();
                if let Ok(Err(e)) = dropped {
                    eprintln!("testkit: could not drop a test database: {e}");
                }
            }
        }
    }
}

/// A fresh SQLite database in its own temporary directory (deleted on drop).
pub async fn sqlite() -> TestDb {
    let (url, cleanup) = new_sqlite();
    opened(url, cleanup).await
}

/// A fresh Postgres database, or `None` (after saying so on stderr) when
/// `DATABASE_URL` names no Postgres server. Panics instead when `REQUIRE_POSTGRES=1`.
pub async fn postgres() -> Option<TestDb> {
    let (url, cleanup) = new_postgres().await?;
    Some(opened(url, cleanup).await)
}

/// The store on a new database `url` (migrated as it opens), kept with its cleanup.
async fn opened(url: String, cleanup: Cleanup) -> TestDb {
    // On a panic here, `cleanup` is dropped and the new database with it.
    let store = open(url.clone())
        .await
        .unwrap_or_else(|e| panic!("testkit: open {url}: {e}"));
    TestDb {
        store,
        url,
        _cleanup: cleanup,
    }
}

/// An empty SQLite file's URL in a new temporary directory, and its cleanup.
fn new_sqlite() -> (String, Cleanup) {
    sweep_stale_dirs();
    let dir = std::env::temp_dir().join(format!("{DIR_PREFIX}{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("testkit: create a temporary directory");
    let url = format!("sqlite://{}", dir.join("concert.db").display());
    (url, Cleanup::Dir(dir))
}

/// A new, empty Postgres database's URL and its cleanup, or `None` (see [`postgres`]).
async fn new_postgres() -> Option<(String, Cleanup)> {
    let admin_url = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => url,
        _ => {
            let test = current_test_name();
            if std::env::var("REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!(
                    "{test} needs DATABASE_URL=postgres://… (REQUIRE_POSTGRES=1 forbids skipping)"
                );
            }
            // Straight to the stderr handle: libtest captures `eprintln!`, and a skip
            // should show in a passing run.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {test} needs DATABASE_URL (Postgres)"
            );
            return None;
        }
    };
    let name = format!("{DB_PREFIX}{}_{}", unix_now(), Uuid::new_v4().simple());
    let url = with_database(&admin_url, &name);
    let (admin, db_name) = (admin_url.clone(), name.clone());
    off_clock::run(move || async move {
        if !SWEPT.swap(true, Ordering::SeqCst) {
            sweep_stale_databases(&admin).await;
        }
        create_database(&admin, &db_name).await
    })
    .await
    .unwrap_or_else(|e| panic!("testkit: create database {name} via DATABASE_URL: {e}"));
    Some((url, Cleanup::Database { admin_url, name }))
}

/// The same database through a new pool: what a restarted process sees.
pub async fn reopen(db: &TestDb) -> Arc<dyn Store> {
    open(db.url.clone())
        .await
        .unwrap_or_else(|e| panic!("testkit: reopen {}: {e}", db.url))
}

/// Runs one raw SQL statement on the test database, over its own connection, and
/// returns the rows it changed, or the database's refusal as text. For checking
/// that the schema itself refuses what the store would never write.
pub async fn execute_raw(db: &TestDb, sql: &str) -> Result<u64, String> {
    let (url, sql) = (db.url.clone(), sql.to_owned());
    off_clock::run(move || async move {
        let refusal = |e: sqlx::Error| match e {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        };
        let sql = AssertSqlSafe(sql);
        let done = if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .map_err(refusal)?;
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .map_err(refusal)?
                .rows_affected()
        } else {
            let mut conn = sqlx::PgConnection::connect(&url).await.map_err(refusal)?;
            sqlx::query(sql)
                .execute(&mut conn)
                .await
                .map_err(refusal)?
                .rows_affected()
        };
        Ok(done)
    })
    .await
}

/// Runs a raw SQL query that returns one integer (`SELECT COUNT(*) …`; write sums
/// as `CAST(SUM(x) AS BIGINT)`, which both backends read as an integer).
pub async fn query_i64(db: &TestDb, sql: &str) -> Result<i64, String> {
    let (url, sql) = (db.url.clone(), sql.to_owned());
    off_clock::run(move || async move {
        let refusal = |e: sqlx::Error| e.to_string();
        let sql = AssertSqlSafe(sql);
        if url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&url)
                .await
                .map_err(refusal)?;
            sqlx::query_scalar(sql)
                .fetch_one(&mut conn)
                .await
                .map_err(refusal)
        } else {
            let mut conn = sqlx::PgConnection::connect(&url).await.map_err(refusal)?;
            sqlx::query_scalar(sql)
                .fetch_one(&mut conn)
                .await
                .map_err(refusal)
        }
    })
    .await
}

// ---- fixtures ----

/// The date of every session [`seed_session`] creates.
pub fn session_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 7, 3).expect("a valid date")
}

/// A new concert with one session on [`session_date`]: `seat_count` seats at `price`.
pub async fn seed_session(store: &dyn Store, seat_count: u32, price: i64) -> SessionRow {
    let title = ConcertTitle::parse("Test concert").expect("a valid title");
    let concert = store
        .create_concert(&title)
        .await
        .expect("create a concert");
    let session = NewSession {
        concert_id: concert.id,
        date: session_date(),
        seat_count: SeatCount::parse(seat_count.into()).expect("a valid seat count"),
        price: Points::parse_price(price).expect("a valid price"),
    };
    store
        .create_session(&session)
        .await
        .expect("create a session")
}

/// A user id (panics on one the contract refuses).
pub fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap_or_else(|e| panic!("testkit: user {name:?}: {e}"))
}

/// A hold of `seat` in `session` at the session's price, taken at `at` for five minutes.
pub fn new_hold(session: &SessionRow, seat: u32, user: &UserId, at: DateTime<Utc>) -> NewHold {
    NewHold {
        session_id: session.id,
        seat_number: SeatNumber(seat),
        user_id: user.clone(),
        price: session.price,
        held_at: at,
        expires_at: at + chrono::Duration::minutes(5),
    }
}

/// Runs test functions on both backends.
///
/// ```ignore
/// backend_tests! {
///     hold_then_conflict,
///     #[paused] expiry,
/// }
///
/// /// Doc comments stay on the function.
/// async fn hold_then_conflict(db: TestDb) { /* … */ }
///
/// /// Runs with tokio's clock paused.
/// async fn expiry(db: TestDb) { /* … */ }
/// ```
///
/// The bodies are ordinary `async fn name(db: TestDb)` items, so rustfmt and clippy see
/// them; the macro only names them. Each `name` becomes a module `name` with two
/// `#[tokio::test]`s calling the function: `name::sqlite`, on
/// [`testkit::sqlite`](crate::testkit::sqlite), and `name::postgres`, on
/// [`testkit::postgres`](crate::testkit::postgres), which returns early (after its
/// `skipped:` line) when there is no Postgres. `#[paused]` starts both with
/// `start_paused = true`. A test function the macro does not name is dead code, which
/// clippy (`-D warnings`) refuses, so none is forgotten. The calling crate needs `tokio`
/// with `macros` and `rt`, and `test-util` for `#[paused]` (the `testkit` feature turns
/// that on).
#[macro_export]
macro_rules! backend_tests {
    () => {};
    (@one [$($test:tt)*] $name:ident) => {
        mod $name {
            #[$($test)*]
            async fn sqlite() {
                super::$name($crate::testkit::sqlite().await).await;
            }

            #[$($test)*]
            async fn postgres() {
                if let Some(db) = $crate::testkit::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    };
    (#[paused] $name:ident $(, $($rest:tt)*)?) => {
        $crate::backend_tests!(@one [tokio::test(start_paused = true)] $name);
        $crate::backend_tests!($($($rest)*)?);
    };
    ($name:ident $(, $($rest:tt)*)?) => {
        $crate::backend_tests!(@one [tokio::test] $name);
        $crate::backend_tests!($($($rest)*)?);
    };
}
