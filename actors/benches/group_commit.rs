//! Group commit, measured: 256 holds committed as one batch (`Store::apply_batch`:
//! one transaction, a savepoint each) against the same 256 holds committed one by
//! one, and against 256 concurrent callers through `GroupCommit` and straight to the
//! store's pool. On a SQLite file in a temporary directory (WAL, `synchronous =
//! FULL`), and on Postgres when `DATABASE_URL=postgres://…` names a server (a
//! database `concert_bench_<uuid>` is created and dropped).
//!
//! ```text
//! cargo bench -p concert-actors --bench group_commit
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p concert-actors --bench group_commit
//! ```
//!
//! Each iteration holds seats 1..=256 of one session, timed, then releases them
//! (untimed), so every iteration starts from free seats.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::domain::{ConcertTitle, Points, SeatCount, SeatNumber, UserId};
use actors::store::group_commit::{GroupCommit, GroupCommitSettings};
use actors::store::postgres::PgStore;
use actors::store::sqlite::SqliteStore;
use actors::store::{
    NewHold, NewSession, PoolSettings, ReservationRow, ReservationStatus, SessionRow, Store,
    WriteOp, WriteOutcome,
};
use chrono::{NaiveDate, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::runtime::Runtime;

/// Ops per batch: `GroupCommitSettings::max_batch`'s default.
const OPS: u32 = 256;

fn holds(session: &SessionRow) -> Vec<NewHold> {
    let now = Utc::now();
    (1..=OPS)
        .map(|seat| NewHold {
            session_id: session.id,
            seat_number: SeatNumber(seat),
            user_id: UserId::parse(&format!("bench{seat}")).unwrap(),
            price: session.price,
            held_at: now,
            expires_at: now + chrono::Duration::minutes(5),
        })
        .collect()
}

/// Frees the seats again, in one untimed batch.
async fn release(store: &dyn Store, rows: Vec<ReservationRow>) {
    let at = Utc::now();
    let ends: Vec<WriteOp> = rows
        .into_iter()
        .map(|r| WriteOp::EndHold {
            id: r.id,
            status: ReservationStatus::Released,
            at,
        })
        .collect();
    for result in store.apply_batch(&ends).await.unwrap() {
        assert_eq!(result, Ok(WriteOutcome::HoldEnded(true)));
    }
}

/// Runs `iters` rounds of `commit` (timed) and `release` (not timed).
fn rounds<F, Fut>(rt: &Runtime, store: &Arc<dyn Store>, iters: u64, commit: F) -> Duration
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = Vec<ReservationRow>>,
{
    rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let start = Instant::now();
            let rows = commit(Arc::clone(store)).await;
            total += start.elapsed();
            assert_eq!(rows.len(), OPS as usize);
            release(&**store, rows).await;
        }
        total
    })
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, store: Arc<dyn Store>) {
    let backend = store.backend();
    let session = rt.block_on(seed(&*store));
    let holds = Arc::new(holds(&session));
    // `GroupCommit::wrap` spawns its writers on the current runtime: enter it.
    let grouped = {
        let _on = rt.enter();
        GroupCommit::wrap(
            Arc::clone(&store),
            GroupCommitSettings::for_backend(backend),
        )
    };

    let mut group = c.benchmark_group(format!("group_commit/{backend}"));
    group.throughput(Throughput::Elements(OPS.into()));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));

    group.bench_function("apply_batch", |b| {
        b.iter_custom(|iters| {
            rounds(rt, &store, iters, |store| {
                let ops: Vec<WriteOp> = holds.iter().cloned().map(WriteOp::InsertHold).collect();
                async move {
                    let results = store.apply_batch(&ops).await.unwrap();
                    results
                        .into_iter()
                        .map(|r| match r {
                            Ok(WriteOutcome::Hold(row)) => row,
                            other => panic!("{other:?}"),
                        })
                        .collect()
                }
            })
        })
    });

    group.bench_function("one_by_one", |b| {
        b.iter_custom(|iters| {
            rounds(rt, &store, iters, |store| {
                let holds = Arc::clone(&holds);
                async move {
                    let mut rows = Vec::with_capacity(holds.len());
                    for hold in holds.iter() {
                        rows.push(store.insert_hold(hold).await.unwrap());
                    }
                    rows
                }
            })
        })
    });

    for (name, target) in [
        ("concurrent_direct", &store),
        ("concurrent_group_commit", &grouped),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rounds(rt, &store, iters, |_| {
                    let (target, holds) = (Arc::clone(target), Arc::clone(&holds));
                    async move {
                        let callers: Vec<_> = (0..holds.len())
                            .map(|i| {
                                let (target, holds) = (Arc::clone(&target), Arc::clone(&holds));
                                tokio::spawn(async move { target.insert_hold(&holds[i]).await })
                            })
                            .collect();
                        let mut rows = Vec::with_capacity(callers.len());
                        for caller in callers {
                            rows.push(caller.await.unwrap().unwrap());
                        }
                        rows
                    }
                })
            })
        });
    }
    group.finish();
}

async fn seed(store: &dyn Store) -> SessionRow {
    let concert = store
        .create_concert(&ConcertTitle::parse("Bench").unwrap())
        .await
        .unwrap();
    store
        .create_session(&NewSession {
            concert_id: concert.id,
            date: NaiveDate::from_ymd_opt(2024, 7, 3).unwrap(),
            seat_count: SeatCount(OPS),
            price: Points(100),
        })
        .await
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let settings = PoolSettings {
        max_connections: 8,
        ..PoolSettings::default()
    };

    let dir = std::env::temp_dir().join(format!("concert-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    let sqlite: Arc<dyn Store> = Arc::new(
        rt.block_on(SqliteStore::connect_with(&url, settings.clone()))
            .unwrap(),
    );
    bench_backend(c, &rt, sqlite);
    let _ = std::fs::remove_dir_all(&dir);

    let admin = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    if let Some(admin) = admin {
        let name = format!("concert_bench_{}", uuid::Uuid::new_v4().simple());
        rt.block_on(admin_sql(&admin, &format!("CREATE DATABASE \"{name}\"")));
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("DATABASE_URL names no database: {admin}"),
        };
        let pg: Arc<dyn Store> =
            Arc::new(rt.block_on(PgStore::connect_with(&url, settings)).unwrap());
        bench_backend(c, &rt, pg);
        rt.block_on(admin_sql(
            &admin,
            &format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
        ));
    } else {
        eprintln!("group_commit bench: no DATABASE_URL=postgres://…, Postgres skipped");
    }
}

async fn admin_sql(admin_url: &str, sql: &str) {
    let mut conn = PgConnection::connect(admin_url).await.unwrap();
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

criterion_group!(group_commit, benches);
criterion_main!(group_commit);
