//! `GroupCommit`: many callers' writes share transactions, each caller hears its
//! own answer only once it is committed, overload is refused at once, and a failed
//! batch or a vanished writer is an error, never a hang. On both backends.

use std::sync::Arc;
use std::time::Duration;

use actors::backend_tests;
use actors::domain::{ChargeAmount, Points, SeatNumber};
use actors::store::group_commit::{GroupCommit, GroupCommitSettings};
use actors::store::{Store, StoreError};
use actors::testkit::{TestDb, new_hold, seed_session, user};
use chrono::{DateTime, TimeZone, Utc};
use decorators::{Bare, Fault, Gated};

mod decorators;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 7, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(secs)
}

fn points(n: i64) -> ChargeAmount {
    ChargeAmount::parse(n).unwrap()
}

fn settings(db: &TestDb) -> GroupCommitSettings {
    GroupCommitSettings::for_backend(db.store.backend())
}

/// Waits (real time, at most 10 s) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A charge through `store`, in a task of its own.
fn charge<S: Store + ?Sized>(
    store: &Arc<S>,
    who: &str,
    amount: i64,
) -> tokio::task::JoinHandle<Result<Points, StoreError>> {
    let (store, who) = (Arc::clone(store), user(who));
    tokio::spawn(async move { store.charge(&who, points(amount), at(0)).await })
}

/// Awaits a caller, failing the test rather than hanging if it never hears back.
async fn answer<T>(task: tokio::task::JoinHandle<T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("a caller hung")
        .expect("the caller's task")
}

backend_tests! {
    concurrent_callers_share_commits_and_each_hears_its_own_answer,
    a_full_queue_is_answered_unavailable_at_once,
    a_failed_batch_fails_every_op_of_it_and_commits_none,
    a_store_that_panics_fails_its_batch_and_the_writer_carries_on,
    callers_hear_an_error_when_the_writers_are_gone,
    dropping_it_stops_its_writers,
    max_wait_gathers_writes_that_arrive_apart,
    decorators_above_and_below_keep_writes_batched,
}

async fn concurrent_callers_share_commits_and_each_hears_its_own_answer(db: TestDb) {
    let session = seed_session(&*db.store, 200, 100).await;
    let store = Arc::new(GroupCommit::new(db.store.clone(), settings(&db)));
    // 200 users hold their own seats; 50 rivals race them for seats 1..=50; 100
    // users charge amounts of their own.
    let mut holds = Vec::new();
    for seat in 1..=200u32 {
        let mut names = vec![format!("u{seat}")];
        if seat <= 50 {
            names.push(format!("rival{seat}"));
        }
        for name in names {
            let (store, hold) = (
                Arc::clone(&store),
                new_hold(&session, seat, &user(&name), at(0)),
            );
            holds.push((
                seat,
                name,
                tokio::spawn(async move { store.insert_hold(&hold).await }),
            ));
        }
    }
    let charges: Vec<_> = (1..=100)
        .map(|i| (i, charge(&store, &format!("c{i}"), i)))
        .collect();

    let mut winners = vec![Vec::new(); 201];
    for (seat, name, task) in holds {
        match answer(task).await {
            Ok(row) => {
                assert_eq!(
                    (row.seat_number, row.user_id),
                    (SeatNumber(seat), user(&name))
                );
                winners[seat as usize].push(name);
            }
            Err(e) => assert_eq!(e, StoreError::SeatTaken, "{name} on seat {seat}"),
        }
    }
    assert!(
        winners[1..].iter().all(|w| w.len() == 1),
        "one winner a seat: {winners:?}"
    );
    for (i, task) in charges {
        assert_eq!(
            answer(task).await,
            Ok(Points(i)),
            "c{i} hears its own balance"
        );
    }

    // All of it committed, and a fresh pool on the same database sees it.
    let restarted = actors::testkit::reopen(&db).await;
    assert_eq!(
        restarted.live_reservations(session.id).await.unwrap().len(),
        200
    );
    assert_eq!(restarted.balance(&user("c77")).await.unwrap(), Points(77));

    let stats = store.stats();
    assert_eq!(
        (stats.ops, stats.failed_ops, stats.rejected),
        (350, 0, 0),
        "{stats:?}"
    );
    assert!(stats.batches < stats.ops, "no batch formed: {stats:?}");
    assert!(stats.largest_batch > 1, "{stats:?}");
    assert_eq!(stats.queued, 0);
}

async fn a_full_queue_is_answered_unavailable_at_once(db: TestDb) {
    let gated = Gated::new(db.store.clone(), true);
    let tight = GroupCommitSettings {
        max_batch: 1,
        writers: 1,
        queue_capacity: 2,
        ..settings(&db)
    };
    let store = Arc::new(GroupCommit::new(gated.clone(), tight));

    let first = charge(&store, "a", 1);
    until("the writer to start a batch", || gated.entered() == 1).await;
    let queued = [charge(&store, "b", 2), charge(&store, "c", 3)];
    until("two queued ops", || store.stats().queued == 2).await;

    let refused = tokio::time::timeout(
        Duration::from_millis(500),
        store.charge(&user("d"), points(4), at(0)),
    )
    .await
    .expect("refused at once, not queued");
    assert_eq!(
        refused,
        Err(StoreError::Unavailable("write queue full".into()))
    );
    assert_eq!(store.stats().rejected, 1);

    // Reads and admin writes pass by the stuck writer.
    assert_eq!(store.balance(&user("a")).await, Ok(Points(0)));
    seed_session(&*store, 5, 10).await;

    gated.open();
    assert_eq!(answer(first).await, Ok(Points(1)));
    let [b, c] = queued;
    assert_eq!(
        (answer(b).await, answer(c).await),
        (Ok(Points(2)), Ok(Points(3)))
    );
    assert_eq!(
        store.balance(&user("d")).await,
        Ok(Points(0)),
        "the refused write never ran"
    );
    let stats = store.stats();
    assert_eq!(
        (stats.batches, stats.ops, stats.rejected),
        (3, 3, 1),
        "{stats:?}"
    );
}

async fn a_failed_batch_fails_every_op_of_it_and_commits_none(db: TestDb) {
    let gated = Gated::new(db.store.clone(), true);
    gated.script([Fault::Pass, Fault::Fail]);
    let one_writer = GroupCommitSettings {
        writers: 1,
        ..settings(&db)
    };
    let store = Arc::new(GroupCommit::new(gated.clone(), one_writer));

    let first = charge(&store, "a", 1);
    until("the writer to start a batch", || gated.entered() == 1).await;
    let doomed: Vec<_> = ["b", "c", "d"]
        .iter()
        .map(|who| charge(&store, who, 5))
        .collect();
    until("three queued ops", || store.stats().queued == 3).await;
    gated.open();

    assert_eq!(answer(first).await, Ok(Points(1)));
    for task in doomed {
        assert_eq!(
            answer(task).await,
            Err(StoreError::Unavailable("injected".into()))
        );
    }
    for who in ["b", "c", "d"] {
        assert_eq!(db.store.balance(&user(who)).await, Ok(Points(0)));
    }
    let stats = store.stats();
    assert_eq!(
        (stats.batches, stats.failed_batches, stats.failed_ops),
        (1, 1, 3),
        "{stats:?}"
    );
}

async fn a_store_that_panics_fails_its_batch_and_the_writer_carries_on(db: TestDb) {
    let gated = Gated::new(db.store.clone(), false);
    gated.script([Fault::Panic]);
    let store = Arc::new(GroupCommit::new(gated.clone(), settings(&db)));
    let failed = answer(charge(&store, "a", 1)).await;
    assert!(
        matches!(failed, Err(StoreError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(answer(charge(&store, "a", 2)).await, Ok(Points(2)));
    assert_eq!(store.stats().failed_batches, 1);
}

async fn callers_hear_an_error_when_the_writers_are_gone(db: TestDb) {
    // The writers run on a runtime of their own, which is then shut down with a
    // batch in flight and another op queued.
    let writers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gated = Gated::new(db.store.clone(), true);
    let one_writer = GroupCommitSettings {
        writers: 1,
        max_batch: 1,
        ..settings(&db)
    };
    let store = {
        let _on = writers.enter();
        Arc::new(GroupCommit::new(gated.clone(), one_writer))
    };
    let in_flight = charge(&store, "a", 1);
    until("the writer to start a batch", || gated.entered() == 1).await;
    let queued = charge(&store, "b", 2);
    until("a queued op", || store.stats().queued == 1).await;

    writers.shutdown_background();
    for task in [in_flight, queued] {
        let heard = answer(task).await;
        assert!(
            matches!(heard, Err(StoreError::Unavailable(_))),
            "{heard:?}"
        );
    }
    // And a write after that is refused at once.
    let late = tokio::time::timeout(
        Duration::from_secs(5),
        store.charge(&user("c"), points(3), at(0)),
    )
    .await
    .expect("refused at once");
    assert!(matches!(late, Err(StoreError::Unavailable(_))), "{late:?}");
}

async fn dropping_it_stops_its_writers(db: TestDb) {
    let inner = db.store.clone();
    let before = Arc::strong_count(&inner);
    let store = GroupCommit::new(inner.clone(), settings(&db));
    assert_eq!(
        store.charge(&user("a"), points(1), at(0)).await,
        Ok(Points(1))
    );
    assert!(Arc::strong_count(&inner) > before);
    drop(store);
    until("the writers to let go of the store", || {
        Arc::strong_count(&inner) == before
    })
    .await;
}

async fn max_wait_gathers_writes_that_arrive_apart(db: TestDb) {
    let patient = GroupCommitSettings {
        writers: 1,
        max_wait: Duration::from_millis(500),
        ..settings(&db)
    };
    let store = Arc::new(GroupCommit::new(db.store.clone(), patient));
    let first = charge(&store, "a", 1);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = charge(&store, "b", 2);
    assert_eq!(
        (answer(first).await, answer(second).await),
        (Ok(Points(1)), Ok(Points(2)))
    );
    let stats = store.stats();
    assert_eq!((stats.batches, stats.ops), (1, 2), "{stats:?}");
}

async fn decorators_above_and_below_keep_writes_batched(db: TestDb) {
    // callers -> Bare -> GroupCommit -> Bare -> Gated (counts batches) -> store.
    let gated = Gated::new(db.store.clone(), true);
    let one_writer = GroupCommitSettings {
        writers: 1,
        ..settings(&db)
    };
    let below = Arc::new(Bare(gated.clone()));
    let group = Arc::new(GroupCommit::new(below, one_writer));
    let store = Arc::new(Bare(group.clone()));

    // One write holds the writer at the gate while ten more queue behind it.
    let first = charge(&store, "first", 1);
    until("the writer to start a batch", || gated.entered() == 1).await;
    let queued: Vec<_> = (1..=10)
        .map(|i| (i, charge(&store, &format!("u{i}"), i)))
        .collect();
    until("ten queued ops", || group.stats().queued == 10).await;
    gated.open();

    assert_eq!(answer(first).await, Ok(Points(1)));
    for (i, task) in queued {
        assert_eq!(answer(task).await, Ok(Points(i)));
    }
    assert_eq!(
        gated.entered(),
        2,
        "the ten queued writes reached the store as one batch"
    );
    let stats = group.stats();
    assert_eq!((stats.batches, stats.largest_batch), (2, 10), "{stats:?}");
}
