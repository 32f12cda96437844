//! The web pages and their files: served from the binary with a strict CSP, the security
//! headers, and caching that fits each kind (HTML revalidated, versioned assets for good).

use actors::backend_tests;
use actors::testkit::TestDb;
use concert::http::web::{CONTENT_SECURITY_POLICY, assets_version};
use concert_client::http::Method;

use crate::helpers::{assert_error, spawn_app};

backend_tests! {
    the_pages_are_html_with_a_strict_policy_and_no_cache,
    versioned_assets_are_cached_for_good,
    an_html_page_revalidates_by_etag,
    what_is_not_a_page_stays_a_json_404,
}

fn header<'a>(response: &'a concert_client::Response, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} is set"))
        .to_str()
        .unwrap()
}

async fn the_pages_are_html_with_a_strict_policy_and_no_cache(db: TestDb) {
    let app = spawn_app(&db).await;
    for (path, module) in [
        ("/", "visitor.js"),
        ("/concerts/1", "visitor.js"),
        ("/admin", "admin.js"),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&page, "cache-control"), "no-cache", "{path}");
        let policy = header(&page, "content-security-policy");
        assert_eq!(policy, CONTENT_SECURITY_POLICY);
        assert!(policy.starts_with("default-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        assert!(policy.contains("connect-src 'self'"));
        assert_eq!(header(&page, "x-content-type-options"), "nosniff");
        assert_eq!(header(&page, "referrer-policy"), "no-referrer");
        let html = String::from_utf8_lossy(&page.body);
        let src = format!("/assets/{}/{module}", assets_version());
        assert!(html.contains(&src), "{path} loads {src}: {html}");
    }
    app.stop().await;
}

async fn versioned_assets_are_cached_for_good(db: TestDb) {
    let app = spawn_app(&db).await;
    let version = assets_version();
    let js = app.get(&format!("/assets/{version}/visitor.js")).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        header(&js, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header(&js, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(header(&js, "x-content-type-options"), "nosniff");
    let css = app.get(&format!("/assets/{version}/site.css")).await;
    assert_eq!(header(&css, "content-type"), "text/css; charset=utf-8");
    // A page loaded before a new binary asks for its old version: today's file, revalidated.
    let old = app.get("/assets/000000000000/visitor.js").await;
    assert_eq!(old.status, 200);
    assert_eq!(header(&old, "cache-control"), "no-cache");
    app.stop().await;
}

async fn an_html_page_revalidates_by_etag(db: TestDb) {
    let app = spawn_app(&db).await;
    let page = app.get("/").await;
    let etag = header(&page, "etag").to_owned();
    let again = app
        .request(Method::GET, "/")
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    app.stop().await;
}

async fn what_is_not_a_page_stays_a_json_404(db: TestDb) {
    let app = spawn_app(&db).await;
    let version = assets_version();
    for path in [
        "/concerts/0".to_owned(),
        "/concerts/abc".to_owned(),
        "/concerts/1/extra".to_owned(),
        format!("/assets/{version}/missing.js"),
        format!("/assets/{version}/../index.html"),
        format!("/assets/{version}/%2e%2e/index.html"),
        format!("/assets/{version}/site.exe"),
        format!("/assets/{version}"),
    ] {
        assert_error(
            app.get(&path).await,
            404,
            "ROUTE_NOT_FOUND",
            "요청한 경로를 찾을 수 없습니다.",
        );
    }
    // The API answers as before: a page route takes no other method.
    let post = app.request(Method::POST, "/").send().await.unwrap();
    assert_eq!(post.status, 405);
    app.stop().await;
}
