//! `GET /admin/stats`: the dashboard's totals. Behind the admin key like every admin
//! route; holds, sales and sold-out sessions follow the seat boards as a purchase goes;
//! the HTTP p99 and rate come from the last seconds of requests.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::Stats;
use concert_client::http::Method;

use crate::helpers::{ADMIN_KEY, AppOptions, TestApp, assert_error, spawn_app, spawn_app_with};
use crate::rooms::concert_with_session;

backend_tests! {
    the_stats_need_the_admin_key,
    holds_sales_and_sold_out_sessions_follow_a_purchase,
    the_p99_and_rate_appear_once_requests_are_answered,
}

const ADMIN_KEY_INVALID: &str = "관리자 키가 올바르지 않습니다.";
const ADMIN_DISABLED: &str = "관리자 기능이 비활성화되어 있습니다.";

async fn stats(app: &TestApp) -> Stats {
    app.api.stats(ADMIN_KEY).await.expect("the stats")
}

async fn get_with_key(app: &TestApp, key: Option<&str>) -> concert_client::Response {
    let mut request = app.request(Method::GET, "/admin/stats");
    if let Some(key) = key {
        request = request.header("X-Admin-Key", key);
    }
    request.send().await.expect("an answer")
}

async fn the_stats_need_the_admin_key(db: TestDb) {
    let app = spawn_app(&db).await;
    for key in [None, Some(""), Some("wrong-key")] {
        let answer = get_with_key(&app, key).await;
        assert_error(answer, 401, "ADMIN_KEY_INVALID", ADMIN_KEY_INVALID);
    }
    assert_eq!(get_with_key(&app, Some(ADMIN_KEY)).await.status, 200);
    app.stop().await;

    let mut options = AppOptions::default();
    options.http.admin_key = None;
    let closed = spawn_app_with(db.store.clone(), &db.url, options).await;
    for key in [None, Some(ADMIN_KEY)] {
        let answer = get_with_key(&closed, key).await;
        assert_error(answer, 403, "ADMIN_DISABLED", ADMIN_DISABLED);
    }
    closed.stop().await;
}

async fn holds_sales_and_sold_out_sessions_follow_a_purchase(db: TestDb) {
    let app = spawn_app(&db).await;
    let before = stats(&app).await;
    assert_eq!(
        (
            before.holds,
            before.sales,
            before.sessions,
            before.sold_out_sessions
        ),
        (0, 0, 6, 0),
        "the demo's six empty sessions"
    );

    let token = app.admitted("Buyer").await;
    app.api.charge(&token, 100_000).await.unwrap();
    let first = app.hold_ok(&token, 1, 7).await;
    let second = app.hold_ok(&token, 1, 8).await;
    let held = stats(&app).await;
    assert_eq!((held.holds, held.sales), (2, 0), "two seats held");

    app.api.pay(&token, first, Some("pay-7")).await.unwrap();
    let paid = stats(&app).await;
    assert_eq!((paid.holds, paid.sales), (1, 1), "one held seat sold");

    // A session of one seat, sold: it is sold out; the other hold still counts.
    let (concert, _) = concert_with_session(&app, "Tiny").await;
    let tiny = app
        .api
        .create_session(
            ADMIN_KEY,
            concert,
            &concert_client::NewSession {
                date: "2024-12-24".into(),
                seat_count: 1,
                price: 0,
            },
        )
        .await
        .unwrap()
        .session_id;
    let fan = app.admitted("Fan").await;
    let hold = app.hold_ok(&fan, tiny, 1).await;
    let held_out = stats(&app).await;
    assert_eq!(
        (held_out.holds, held_out.sold_out_sessions),
        (2, 0),
        "a held seat may come back: not sold out"
    );
    app.api.pay(&fan, hold, Some("pay-tiny")).await.unwrap();
    let after = stats(&app).await;
    assert_eq!(
        (
            after.holds,
            after.sales,
            after.sessions,
            after.sold_out_sessions
        ),
        (1, 2, 8, 1)
    );
    let _ = second;
    app.stop().await;
}

async fn the_p99_and_rate_appear_once_requests_are_answered(db: TestDb) {
    let app = spawn_app(&db).await;
    // The first request of a fresh server: nothing answered before it.
    let fresh = stats(&app).await;
    assert_eq!(fresh.http_p99_ms, None);
    assert_eq!(fresh.requests_per_second, 0.0);
    assert_eq!(fresh.window_seconds, 10);
    for _ in 0..20 {
        app.api.sessions(1).await.unwrap();
    }
    let busy = stats(&app).await;
    let p99 = busy.http_p99_ms.expect("a p99 once requests were answered");
    assert!(p99 > 0.0 && p99 <= 30_000.0, "{p99}");
    // 21 requests (the first stats call included) within the window's first seconds.
    assert!(busy.requests_per_second >= 2.0, "{busy:?}");
    app.stop().await;
}
