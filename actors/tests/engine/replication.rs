//! The engine's side of the line's read replicas: the rooms hand their changes to the
//! sink, a replica fed them answers polls as the engine does, a republish is a whole
//! picture, and polls answered elsewhere keep their tokens in line.

use std::time::Duration;

use actors::backend_tests;
use actors::engine::{LineBatch, LineChange, LineSink};
use actors::testkit::TestDb;
use actors::{CallerStatus, EngineConfig};
use tokio::sync::mpsc::Receiver;
use tokio::time::Instant;

use crate::common::*;

backend_tests! {
    a_replica_fed_the_sink_answers_polls_as_the_engine,
    #[paused] polls_answered_elsewhere_keep_tokens_in_line,
}

fn drain(batches: &mut Receiver<LineBatch>) -> Vec<LineBatch> {
    std::iter::from_fn(|| batches.try_recv().ok()).collect()
}

/// Joins and an admission reach the sink; a replica fed them answers each poll as the
/// engine; a republish starts with a reset (a whole picture).
async fn a_replica_fed_the_sink_answers_polls_as_the_engine(db: TestDb) {
    let (sink, mut batches) = LineSink::bounded(64);
    let config = EngineConfig {
        max_active: 1,
        line_sink: Some(sink),
        ..config()
    };
    let app = start(&db, config.clone()).await;
    let replicas = config.line_replicas();
    let mut tokens = Vec::new();
    for n in 0..4 {
        tokens.push(join(&app.engine, &format!("u{n}")).await.token);
    }
    settle().await;
    let fed = drain(&mut batches);
    assert!(
        matches!(fed[0].changes[0], LineChange::Reset { .. }),
        "a whole picture first"
    );
    for batch in &fed {
        replicas.apply(batch.room, &batch.changes, Instant::now());
    }
    for token in &tokens {
        let ours = app
            .engine
            .queue(Some(&token.to_string()), None)
            .await
            .unwrap();
        let theirs = replicas
            .poll(None, *token, Instant::now())
            .expect("answered");
        assert_eq!(
            (theirs.position, theirs.admitted),
            (ours.position, ours.admitted)
        );
    }
    app.engine.republish_lines();
    let pictured = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let batch = batches.recv().await.expect("the sink stays open");
            if matches!(batch.changes[0], LineChange::Reset { .. }) {
                return;
            }
        }
    });
    assert!(pictured.await.is_ok(), "a republish is a whole picture");
}

/// A token polled only on replicas (reported with `touch_tokens`) keeps its place; a
/// silent one is evicted.
async fn polls_answered_elsewhere_keep_tokens_in_line(db: TestDb) {
    let app = start(
        &db,
        EngineConfig {
            max_active: 1,
            waiting_idle: Duration::from_secs(60),
            ..config()
        },
    )
    .await;
    let _admitted = admitted(&app.engine, "a").await;
    let silent = join(&app.engine, "silent").await;
    let elsewhere = join(&app.engine, "elsewhere").await;
    for _ in 0..6 {
        tokio::time::advance(Duration::from_secs(15)).await;
        settle().await;
        app.engine.touch_tokens(&[elsewhere.token]);
    }
    settle().await;
    assert_eq!(
        reidentify(&app.engine, &silent).await.status,
        CallerStatus::Expired
    );
    let ticket = app
        .engine
        .queue(Some(&elsewhere.token.to_string()), None)
        .await
        .unwrap();
    assert_eq!(
        (ticket.token, ticket.position.unwrap()),
        (elsewhere.token, 1)
    );
}
