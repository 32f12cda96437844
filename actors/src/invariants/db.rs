//! The check's connection, on either backend: the same standard SQL runs on both.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, FromRow};

use super::CheckError;

/// The check's own connection: the same standard SQL runs on either.
pub(super) enum Db {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Db {
    pub(super) async fn open(url: &str) -> Result<Self, CheckError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Db::Postgres(PgConnection::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            // Never create a file: checking a database that is not there is an error.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(5));
            Ok(Db::Sqlite(options.connect().await?))
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(CheckError::Url(scheme.to_owned()))
        }
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

    pub(super) async fn rows<T>(&mut self, sql: &'static str) -> Result<Vec<T>, CheckError>
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

    pub(super) async fn scalar(&mut self, sql: &'static str) -> Result<i64, CheckError> {
        let (value,): (i64,) = self.row(sql).await?;
        Ok(value)
    }
}
