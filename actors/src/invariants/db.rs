//! The check's connection, on either backend: the same standard SQL runs on both.

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, FromRow};

use super::CheckError;
use crate::store::Backend;
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;

/// The check's own connection: the same standard SQL runs on either.
pub(super) enum Db {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Db {
    /// One connection, opened as the store opens its own, but with no statement
    /// timeout (the check reads whole tables) and never creating a SQLite file
    /// (checking a database that is not there is an error).
    pub(super) async fn open(url: &str) -> Result<Self, CheckError> {
        Ok(match Backend::of(url).map_err(|e| CheckError::Url(e.0))? {
            Backend::Postgres => {
                Db::Postgres(PgStore::connect_options(url, None)?.connect().await?)
            }
            Backend::Sqlite => Db::Sqlite(
                SqliteStore::connect_options(url)?
                    .create_if_missing(false)
                    .connect()
                    .await?,
            ),
        })
    }

    /// One snapshot for every query, so a live server's writes cannot make the
    /// check see half of a transaction.
    pub(super) async fn begin_snapshot(&mut self) -> Result<(), CheckError> {
        match self {
            Db::Postgres(conn) => {
                sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(conn)
                    .await?;
            }
            Db::Sqlite(conn) => {
                sqlx::raw_sql("BEGIN").execute(conn).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn end_snapshot(&mut self) -> Result<(), CheckError> {
        match self {
            Db::Postgres(conn) => {
                sqlx::raw_sql("ROLLBACK").execute(conn).await?;
            }
            Db::Sqlite(conn) => {
                sqlx::raw_sql("ROLLBACK").execute(conn).await?;
            }
        }
        Ok(())
    }

    pub(super) async fn close(self) {
        let _ = match self {
            Db::Postgres(conn) => conn.close().await,
            Db::Sqlite(conn) => conn.close().await,
        };
    }

    /// Whether the schema has `table`: a database migrated before the table was added
    /// lacks it, and a query of a missing table would abort the snapshot (Postgres).
    pub(super) async fn has_table(&mut self, table: &str) -> Result<bool, CheckError> {
        Ok(match self {
            Db::Postgres(conn) => {
                sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
                    .bind(table)
                    .fetch_one(conn)
                    .await?
            }
            Db::Sqlite(conn) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
            )
            .bind(table)
            .fetch_one(conn)
            .await?,
        })
    }

    /// Every row `sql` answers. (`sql` is a constant, or one assembled from
    /// constants: `AssertSqlSafe`.)
    pub(super) async fn rows<T>(
        &mut self,
        sql: impl sqlx::SqlSafeStr,
    ) -> Result<Vec<T>, CheckError>
    where
        T: Send + Unpin + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        Ok(match self {
            Db::Postgres(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
            Db::Sqlite(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
        })
    }

    pub(super) async fn row<T>(&mut self, sql: &'static str) -> Result<T, CheckError>
    where
        T: Send + Unpin + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        Ok(match self {
            Db::Postgres(conn) => sqlx::query_as(sql).fetch_one(conn).await?,
            Db::Sqlite(conn) => sqlx::query_as(sql).fetch_one(conn).await?,
        })
    }
}
