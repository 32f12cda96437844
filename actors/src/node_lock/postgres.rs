//! The Postgres lock: `pg_try_advisory_lock(ADVISORY_LOCK_KEY)` on a connection of
//! its own, and the watchdog that keeps it.
//!
//! # When the connection dies
//!
//! The lock lives as long as the session that took it. If that connection dies
//! (the database restarted, the link was cut, an operator ended the session), the
//! lock is gone, and another node may take it: this node must not go on writing as
//! if it held it. So the watchdog pings the connection every [`CHECK_INTERVAL`]; on
//! a failed or late ping it closes the gate (every write is answered
//! `Unavailable`, `/ready` says why) and tries, every [`CHECK_INTERVAL`], to take
//! the lock again on a new connection:
//!
//! - taken again: the gate opens, and the node serves as before (after a database
//!   restart, that is the whole outage);
//! - held by this node's own previous session (a cut link the server has not yet
//!   noticed; the session is known by its `application_name`): that session is
//!   ended (`pg_terminate_backend`) and the lock tried again;
//! - held by another node: this one has lost the database. Its memory no longer
//!   matches what the other writes, so it stops ([`NodeLock::taken`](super::NodeLock::taken)),
//!   and the process exits non-zero.
//!
//! What remains open: writes already past the gate when the connection dies, for
//! at most one ping ([`CHECK_INTERVAL`] + [`CHECK_TIMEOUT`]); and a second node
//! that starts and stops again entirely within this node's loss of the lock, which
//! the re-taken lock cannot see. docs/operations.md says so.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Row};
use tokio::task::JoinHandle;

use super::{ADVISORY_LOCK_KEY, LockError, Shared};
use crate::store::postgres::PgStore;

/// How often the lock's connection is pinged, and a lost lock tried again.
const CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// A ping slower than this counts as a lost connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening the lock's connection (and trying the lock) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The task that owns the lock's connection; dropping it closes the connection,
/// which ends the session and so releases the lock.
pub(super) struct Watchdog(JoinHandle<()>);

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes the lock on `url`'s database, or says who holds it.
pub(super) async fn acquire(url: &str, shared: Arc<Shared>) -> Result<Watchdog, LockError> {
    // The session's name says whose it is: the watchdog knows its own lost session
    // by it, and an operator finds the holder in `pg_stat_activity`.
    let name = format!("concert-node-lock {}", uuid::Uuid::new_v4().simple());
    let options = PgStore::connect_options(url, None)
        .map_err(|e| LockError::Unavailable(e.to_string()))?
        .application_name(&name);
    let attempt = async {
        let mut conn = PgConnection::connect_with(&options).await?;
        let outcome = try_lock(&mut conn).await?;
        Ok::<_, sqlx::Error>((conn, outcome))
    };
    let (conn, outcome) = tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| LockError::Unavailable("the database did not answer in 5 s".into()))?
        .map_err(|e| LockError::Unavailable(e.to_string()))?;
    match outcome {
        Attempt::Taken => Ok(Watchdog(tokio::spawn(watch(conn, options, name, shared)))),
        Attempt::HeldBy(holder) => Err(held(holder.as_ref())),
    }
}

/// Cluster mode: the lock in shared mode, on a connection the caller keeps for the
/// process's life. Cluster nodes hold it together; a single node, which takes it
/// exclusively, then cannot start beside them, nor they beside it. Not watched: the
/// nodes of a cluster are kept apart by the engine's lease and its fenced writes.
pub(super) async fn acquire_shared(url: &str) -> Result<PgConnection, LockError> {
    let options = PgStore::connect_options(url, None)
        .map_err(|e| LockError::Unavailable(e.to_string()))?
        .application_name("concert-cluster-node");
    let attempt = async {
        let mut conn = PgConnection::connect_with(&options).await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock_shared($1)")
            .bind(ADVISORY_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        let outcome = if taken {
            Attempt::Taken
        } else {
            // Only an exclusive holder refuses a shared lock: a single node.
            holder(&mut conn).await?
        };
        Ok::<_, sqlx::Error>((conn, outcome))
    };
    let (conn, outcome) = tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| LockError::Unavailable("the database did not answer in 5 s".into()))?
        .map_err(|e| LockError::Unavailable(e.to_string()))?;
    match outcome {
        Attempt::Taken => Ok(conn),
        Attempt::HeldBy(holder) => Err(held(holder.as_ref())),
    }
}

/// Who holds the lock, as `pg_locks` and `pg_stat_activity` say.
struct Holder {
    pid: i32,
    application_name: String,
    client: String,
}

enum Attempt {
    Taken,
    /// Held by someone else (`None`: released before we could see by whom).
    HeldBy(Option<Holder>),
}

fn held(holder: Option<&Holder>) -> LockError {
    LockError::Held {
        what: format!("postgres advisory lock {ADVISORY_LOCK_KEY}"),
        by: holder.map_or_else(String::new, |h| {
            format!(" by server pid {} from {}", h.pid, h.client)
        }),
    }
}

/// One try at the lock; never waits for it.
async fn try_lock(conn: &mut PgConnection) -> Result<Attempt, sqlx::Error> {
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(ADVISORY_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await?;
    if taken {
        return Ok(Attempt::Taken);
    }
    holder(conn).await
}

/// Who holds the lock (the first holder `pg_locks` lists).
async fn holder(conn: &mut PgConnection) -> Result<Attempt, sqlx::Error> {
    // An advisory lock on one bigint shows in `pg_locks` as its high and low
    // 32 bits (`classid`, `objid`) with `objsubid = 1`.
    let row = sqlx::query(
        "SELECT l.pid, COALESCE(a.application_name, '') AS application_name, \
                COALESCE(host(a.client_addr), 'a local socket') AS client \
         FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid::bigint = $1 AND l.objid::bigint = $2 LIMIT 1",
    )
    .bind(ADVISORY_LOCK_KEY >> 32)
    .bind(ADVISORY_LOCK_KEY & 0xFFFF_FFFF)
    .fetch_optional(&mut *conn)
    .await?;
    let holder = row
        .map(|row| {
            Ok::<_, sqlx::Error>(Holder {
                pid: row.try_get("pid")?,
                application_name: row.try_get("application_name")?,
                client: row.try_get("client")?,
            })
        })
        .transpose()?;
    Ok(Attempt::HeldBy(holder))
}

/// What a try to take a lost lock again found.
enum Retake {
    Taken(PgConnection),
    /// Not yet (the database is away, or our old session was just ended): try again.
    Again,
    /// Another node holds it.
    Lost(LockError),
}

async fn retake(options: &PgConnectOptions, name: &str) -> Result<Retake, sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    match try_lock(&mut conn).await? {
        Attempt::Taken => Ok(Retake::Taken(conn)),
        Attempt::HeldBy(Some(holder)) if holder.application_name == name => {
            // Our own session, still open on the server's side of a cut link:
            // nobody else can have the lock meanwhile, so end it and take it again.
            sqlx::query("SELECT pg_terminate_backend($1)")
                .bind(holder.pid)
                .execute(&mut conn)
                .await?;
            Ok(Retake::Again)
        }
        Attempt::HeldBy(Some(holder)) => Ok(Retake::Lost(held(Some(&holder)))),
        Attempt::HeldBy(None) => Ok(Retake::Again),
    }
}

/// Keeps the lock: pings its connection, closes the gate when it dies, takes the
/// lock again or reports it taken (see the module docs).
async fn watch(conn: PgConnection, options: PgConnectOptions, name: String, shared: Arc<Shared>) {
    let mut conn = Some(conn);
    let mut ticks = tokio::time::interval(CHECK_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Some(open) = conn.as_mut() {
            let ping = tokio::time::timeout(CHECK_TIMEOUT, open.ping()).await;
            if matches!(ping, Ok(Ok(()))) {
                continue;
            }
            shared.held.store(false, Ordering::SeqCst);
            tracing::error!(
                "the database lock's connection is gone: every write is refused until the \
                 lock is taken again"
            );
            // Dropped, not closed: a dead link would hold a graceful close up.
            conn = None;
            continue;
        }
        match tokio::time::timeout(CONNECT_TIMEOUT, retake(&options, &name)).await {
            Ok(Ok(Retake::Taken(open))) => {
                conn = Some(open);
                shared.held.store(true, Ordering::SeqCst);
                tracing::info!("the database lock is held again: writes resume");
            }
            Ok(Ok(Retake::Lost(error))) => {
                tracing::error!("the database lock was lost to another node: {error}");
                shared.taken.send_replace(Some(error));
                return;
            }
            Ok(Ok(Retake::Again)) => {}
            Ok(Err(error)) => tracing::debug!(%error, "the database lock: still unreachable"),
            Err(_) => tracing::debug!("the database lock: still unreachable (timed out)"),
        }
    }
}
