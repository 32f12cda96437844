//! `classic`: the design the engine replaces, measured on the same machine with the same
//! concurrency and the same holds as `spread`: no server, the generator itself runs one
//! Postgres transaction per hold — `SELECT … FOR UPDATE` on the seat row, then `UPDATE`
//! — and commits it (synchronous_commit as the server's default).
//!
//! Its tables live in a scratch schema created for the run and dropped afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};
use tokio::task::JoinSet;

use super::{Ctx, setup};
use crate::report::ScenarioReport;
use crate::stats::Recorder;
use crate::target;

const SELECT: &str = "SELECT coalesce(held_by IS NULL OR held_until < now(), false) \
                      FROM seats WHERE session_id = $1 AND seat_number = $2 FOR UPDATE";
const UPDATE: &str = "UPDATE seats SET held_by = $3, held_until = now() + interval '5 minutes' \
                      WHERE session_id = $1 AND seat_number = $2";

/// Runs the classic design against `--classic-db`.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let url = ctx
        .opts
        .classic_db
        .as_deref()
        .context("classic needs --classic-db postgres://postgres@127.0.0.1:5432/<db>")?;
    let opts = target::classic_db(url)?;
    let schema = format!(
        "concert_load_{}",
        ctx.run_id
            .to_ascii_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let mut admin = PgConnection::connect_with(&opts)
        .await
        .context("connecting to --classic-db")?;
    let free = free_connections(&mut admin).await?;
    let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(&mut admin)
        .await?;
    let conns = ctx.driver.connections();
    if conns as i64 > free {
        bail!(
            "classic needs {conns} Postgres connections, the server has {free} free (max_connections)"
        );
    }
    let (sessions, seats) = (ctx.sizes.sessions, ctx.sizes.seats);
    eprintln!("classic: schema {schema} with {sessions} × {seats} seats");
    create(&mut admin, &schema, sessions, seats).await?;
    let result = measure(ctx, opts.options([("search_path", schema.as_str())]), conns).await;
    let dropped = sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut admin)
        .await;
    let mut report = result?;
    report.note(format!(
        "synchronous_commit = {sync} (left as the database has it)"
    ));
    if let Err(e) = dropped {
        report.note(format!("could not drop schema {schema}: {e}"));
    }
    Ok(report)
}

async fn free_connections(admin: &mut PgConnection) -> Result<i64> {
    let max: String = sqlx::query_scalar("SHOW max_connections")
        .fetch_one(&mut *admin)
        .await?;
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity")
        .fetch_one(&mut *admin)
        .await?;
    // Keep a few for superusers and for the engine's own pool.
    Ok(max.parse::<i64>().unwrap_or(100) - used - 5)
}

async fn create(admin: &mut PgConnection, schema: &str, sessions: u64, seats: u32) -> Result<()> {
    for sql in [
        format!("CREATE SCHEMA {schema}"),
        format!(
            "CREATE TABLE {schema}.seats (session_id int NOT NULL, seat_number int NOT NULL, \
             held_by text, held_until timestamptz, PRIMARY KEY (session_id, seat_number))"
        ),
        format!(
            "INSERT INTO {schema}.seats (session_id, seat_number) \
             SELECT s, k FROM generate_series(1, {sessions}) s, generate_series(1, {seats}) k"
        ),
        format!("ANALYZE {schema}.seats"),
    ] {
        sqlx::query(AssertSqlSafe(sql)).execute(&mut *admin).await?;
    }
    Ok(())
}

struct Shared {
    order: Vec<(u32, u32)>,
    users: usize,
    run_id: String,
    next: AtomicU64,
    done: Arc<AtomicU64>,
    max: u64,
    deadline: Instant,
}

async fn measure(ctx: &Ctx, opts: PgConnectOptions, conns: usize) -> Result<ScenarioReport> {
    let (sessions, seats) = (ctx.sizes.sessions, ctx.sizes.seats);
    let mut opening = JoinSet::new();
    for _ in 0..conns {
        let o = opts.clone();
        opening.spawn(async move { PgConnection::connect_with(&o).await });
    }
    let mut open = Vec::with_capacity(conns);
    while let Some(c) = opening.join_next().await {
        open.push(c?.context("opening classic connections")?);
    }

    let max = sessions * u64::from(seats);
    let done = Arc::new(AtomicU64::new(0));
    let bar = ctx
        .driver
        .progress()
        .phase("classic", max, ctx.sizes.duration, done.clone());
    let start = Instant::now();
    let shared = Arc::new(Shared {
        order: setup::seat_order(sessions, seats, ctx.opts.seed),
        users: ctx.sizes.users.max(1) as usize,
        run_id: ctx.run_id.clone(),
        next: AtomicU64::new(0),
        done,
        max,
        deadline: start + ctx.sizes.duration,
    });
    let mut tasks = JoinSet::new();
    for conn in open {
        tasks.spawn(worker(shared.clone(), conn));
    }
    let mut rec = Recorder::default();
    let mut last = start;
    while let Some(r) = tasks.join_next().await {
        let (r, finished) = r?;
        rec.merge(&r);
        last = last.max(finished);
    }
    bar.finish();

    let m = rec.summary(last - start);
    let mut report = ScenarioReport::new(
        "classic",
        "committed_holds_per_s",
        m.status_rate(201),
        m.clone(),
    );
    report
        .figure("sessions", sessions as f64)
        .figure("seats_per_session", f64::from(seats))
        .figure("postgres_connections", conns as f64)
        .figure("holds_committed", m.status(201) as f64);
    report.note("statuses are stand-ins: 201 = hold committed, 409 = seat found taken");
    report.check(
        "no seat found taken",
        m.status(409) == 0,
        format!(
            "{} of {} holds found the seat taken",
            m.status(409),
            m.answers
        ),
    );
    Ok(report)
}

async fn worker(shared: Arc<Shared>, mut conn: PgConnection) -> (Recorder, Instant) {
    let mut rec = Recorder::default();
    while Instant::now() < shared.deadline {
        let i = shared.next.fetch_add(1, Ordering::Relaxed);
        if i >= shared.max {
            break;
        }
        let (s, seat) = shared.order[i as usize];
        let user = format!(
            "{}-u-{}",
            shared.run_id,
            setup::holder(s, seat, shared.users)
        );
        let t0 = Instant::now();
        match hold(&mut conn, s as i32 + 1, seat as i32, &user).await {
            Ok(true) => rec.answer(201, t0.elapsed()),
            Ok(false) => rec.answer(409, t0.elapsed()),
            Err(_) => {
                rec.failure("db");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    let _ = conn.close().await;
    (rec, Instant::now())
}

/// One hold, the classic way: lock the row, check, update, commit.
async fn hold(conn: &mut PgConnection, session: i32, seat: i32, user: &str) -> sqlx::Result<bool> {
    let mut tx = conn.begin().await?;
    let free: Option<bool> = sqlx::query_scalar(SELECT)
        .bind(session)
        .bind(seat)
        .fetch_optional(&mut *tx)
        .await?;
    let won = free == Some(true);
    if won {
        sqlx::query(UPDATE)
            .bind(session)
            .bind(seat)
            .bind(user)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(won)
}
