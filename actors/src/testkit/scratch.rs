//! The scratch databases' plumbing: the real-time runtime every kit database lives on,
//! per-test Postgres databases and SQLite folders, and the sweep of leftovers a killed
//! run left behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection};
use tokio::runtime::Runtime;

use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{PoolSettings, Store, StoreError};

use super::off_clock;

pub(super) const DIR_PREFIX: &str = "concert-test-";
pub(super) const DB_PREFIX: &str = "concert_test_";
/// Leftovers older than this were left by a killed run, not by one still going.
pub(super) const STALE_AFTER: Duration = Duration::from_secs(3600);

pub(super) static SWEPT: AtomicBool = AtomicBool::new(false);
pub(super) static DIRS_SWEPT: AtomicBool = AtomicBool::new(false);

/// The real-time runtime every kit database lives on (see the module docs).
pub(super) fn db_runtime() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("testkit-db")
            .enable_all()
            .build()
            .expect("testkit: build the database runtime")
    });
    &RUNTIME
}

/// Opens a store for `url` with test pool settings, on the database runtime.
pub(super) async fn open(url: String) -> Result<Arc<dyn Store>, StoreError> {
    let inner = off_clock::run(move || async move {
        let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
            Arc::new(SqliteStore::connect_with(&url, PoolSettings::for_tests()).await?)
        } else {
            Arc::new(PgStore::connect_with(&url, PoolSettings::for_tests()).await?)
        };
        Ok::<_, StoreError>(store)
    })
    .await?;
    Ok(Arc::new(off_clock::OffClockStore::new(inner)))
}

/// The name libtest gave the running test (its thread's name).
pub(super) fn current_test_name() -> String {
    std::thread::current()
        .name()
        .filter(|name| *name != "main")
        .unwrap_or("this test")
        .to_owned()
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub(super) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

pub(super) async fn create_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await?;
    conn.close().await
}

pub(super) async fn drop_database(admin_url: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    // FORCE (Postgres 13+) ends connections a store clone may still hold.
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await
}

/// Drops `concert_test_<secs>_…` databases older than [`STALE_AFTER`]. Best effort.
pub(super) async fn sweep_stale_databases(admin_url: &str) {
    let Ok(mut conn) = sqlx::PgConnection::connect(admin_url).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'concert\\_test\\_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap_or_default();
    let _ = conn.close().await;
    let cutoff = unix_now().saturating_sub(STALE_AFTER.as_secs());
    for name in names {
        let created = name
            .strip_prefix(DB_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|secs| secs < cutoff) {
            let _ = drop_database(admin_url, &name).await;
        }
    }
}

/// Deletes `concert-test-*` temporary directories older than [`STALE_AFTER`]. Best effort.
pub(super) fn sweep_stale_dirs() {
    if DIRS_SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale && entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn with_database_replaces_only_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
    }
}
