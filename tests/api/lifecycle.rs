//! Stopping: a graceful shutdown closes the port and stops the engine; an engine that
//! melts down ends serving with an error (the binary then exits non-zero).

use std::time::Duration;

use actors::backend_tests;
use actors::engine::FaultTarget;
use actors::testkit::TestDb;
use concert::server::ServeError;

use concert_client::Error;

use crate::helpers::{Answered, AppOptions, eventually, spawn_app, spawn_app_with};

backend_tests! {
    a_graceful_shutdown_closes_the_port,
    an_engine_meltdown_ends_serving_with_an_error,
}

async fn a_graceful_shutdown_closes_the_port(db: TestDb) {
    let app = spawn_app(&db).await;
    let api = app.api.clone();
    assert!(api.health().await.is_ok());
    app.stop().await;
    assert!(
        matches!(api.health().await, Err(Error::Transport { .. })),
        "no longer accepting"
    );
}

async fn an_engine_meltdown_ends_serving_with_an_error(db: TestDb) {
    let mut options = AppOptions::default();
    options.engine.max_restarts = 2;
    options.engine.restart_window = Duration::from_secs(60);
    let app = spawn_app_with(db.store.clone(), &db.url, options).await;
    for _ in 0..3 {
        // Wait until the restarted session actor answers again, then crash it.
        eventually(Duration::from_secs(10), || async {
            app.get("/concert/seat/1").await.status() == 200
        })
        .await;
        assert!(
            app.engine
                .inject_fault(FaultTarget::Session(actors::domain::SessionId(1)))
                .await
                .is_err()
        );
    }
    let ended = app.stopped_on_its_own(Duration::from_secs(10)).await;
    assert!(matches!(ended, Err(ServeError::EngineStopped)), "{ended:?}");
}
