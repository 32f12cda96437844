//! A SessionActor round trip: a hold refused from memory (the seat is taken, the
//! hot-seat case: no I/O), and the seat list, against a call that sends no actor
//! message at all (the session list, read from the catalog). On SQLite in a
//! temporary directory. Run with `cargo bench -p concert-actors --bench session`.

use std::hint::black_box;

use actors::testkit::{seed_session, user};
use actors::{Engine, EngineConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn session_round_trips(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (engine, session, bob, _db) = runtime.block_on(async {
        let db = actors::testkit::sqlite().await;
        let session = seed_session(&*db.store, 50, 10_000).await;
        let (engine, _monitor) = Engine::start(db.store.clone().into(), EngineConfig::default())
            .await
            .expect("the engine starts");
        let mut callers = Vec::new();
        for name in ["alice", "bob"] {
            let ticket = engine.queue(None, Some(user(name))).await.unwrap();
            let caller = engine.identify(Some(&ticket.token.to_string())).await;
            callers.push(caller.unwrap().admitted().expect("admitted"));
        }
        engine
            .hold(&callers[0], session.id.0, 1)
            .await
            .expect("alice holds seat 1");
        (engine, session, callers.remove(1), db)
    });

    let mut group = c.benchmark_group("session_actor");
    group.bench_function("session list (no actor, baseline)", |b| {
        b.iter(|| runtime.block_on(async { black_box(engine.sessions(session.concert_id)) }))
    });
    group.bench_function("hold refused from memory (409)", |b| {
        b.iter(|| runtime.block_on(async { black_box(engine.hold(&bob, session.id.0, 1).await) }))
    });
    group.bench_function("seat list", |b| {
        b.iter(|| runtime.block_on(async { black_box(engine.seats(session.id).await) }))
    });
    group.finish();
}

criterion_group!(benches, session_round_trips);
criterion_main!(benches);
