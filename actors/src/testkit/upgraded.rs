//! A database that held data under an older schema, then upgraded by opening it, as
//! a new server version opens its predecessor's database: for testing that a
//! migration keeps, and rightly converts, what was there before it.

use sqlx::{AssertSqlSafe, ConnectOptions, Executor};

use super::{TestDb, new_postgres, new_sqlite, off_clock, opened};
use crate::store::postgres::{self, PgStore};
use crate::store::sqlite::{self, SqliteStore};

/// A fresh database of `like`'s backend, migrated only through migration `through`,
/// holding what `seed` writes (raw SQL, one statement each, run in order); then
/// opened as a store, which applies the later migrations. Panics if a step fails.
pub async fn upgraded(like: &TestDb, through: i64, seed: &[&str]) -> TestDb {
    let sqlite = like.url.starts_with("sqlite:");
    let (url, cleanup) = if sqlite {
        new_sqlite()
    } else {
        new_postgres()
            .await
            .expect("the test runs on Postgres, so Postgres is there")
    };
    let (at, seed): (String, Vec<String>) =
        (url.clone(), seed.iter().map(|s| (*s).to_owned()).collect());
    // On a panic, `cleanup` is dropped, and the new database with it.
    off_clock::run(move || async move {
        if sqlite {
            let mut conn = SqliteStore::connect_options(&at)
                .map_err(|e| e.to_string())?
                .create_if_missing(true)
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            sqlite::MIGRATOR
                .run_to(through, &mut conn)
                .await
                .map_err(|e| e.to_string())?;
            run_all(&mut conn, seed).await
        } else {
            let mut conn = PgStore::connect_options(&at, None)
                .map_err(|e| e.to_string())?
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            postgres::MIGRATOR
                .run_to(through, &mut conn)
                .await
                .map_err(|e| e.to_string())?;
            run_all(&mut conn, seed).await
        }
    })
    .await
    .unwrap_or_else(|e: String| panic!("testkit: a database through migration {through}: {e}"));
    opened(url, cleanup).await
}

/// Runs each statement on `conn`, in order; the first refusal, as text.
async fn run_all<C>(conn: &mut C, statements: Vec<String>) -> Result<(), String>
where
    for<'c> &'c mut C: Executor<'c>,
{
    for sql in statements {
        conn.execute(AssertSqlSafe(sql.clone()))
            .await
            .map_err(|e| format!("`{sql}`: {e}"))?;
    }
    Ok(())
}
