//! The visitor's page (`/`, `/concerts/{id}`) and the operator's dashboard (`/admin`):
//! plain HTML, ES modules and CSS from the repository's `web/` folder, embedded in the
//! binary so that a fresh `cargo run --release` serves them with nothing fetched from the
//! network, and no build step.
//!
//! Caching: every asset lives under `/assets/{version}/…`, where the version is a hash of
//! all embedded files, computed once at start. An asset URL therefore never changes
//! meaning, and is cached a year, `immutable`; the modules' relative imports inherit the
//! versioned folder, so no file needs rewriting but the two HTML pages (`{{assets}}` →
//! `/assets/{version}`), which are `no-cache` (revalidated by ETag) so a new binary is seen
//! at once. These routes are not API: they stay out of the OpenAPI document.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use super::error::ApiError;

#[derive(RustEmbed)]
#[folder = "web/"]
struct Files;

/// The strict policy: only this origin's files and API, no inline script or style, no
/// plugins, no framing, no `<base>` games. The pages are written to need nothing more.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A year: the longest lifetime caches honour, for content-addressed URLs.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// HTML (and an asset asked for under an old version): revalidate every time.
const REVALIDATE: &str = "no-cache";

/// The embedded site, prepared once: its version and the two pages with their asset
/// folder filled in.
struct Site {
    version: String,
    pages: BTreeMap<&'static str, Vec<u8>>,
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        // Names sorted (BTreeMap) so the version depends only on the content.
        let mut hashes = BTreeMap::new();
        for name in Files::iter() {
            if let Some(file) = Files::get(&name) {
                hashes.insert(name.to_string(), file.metadata.sha256_hash());
            }
        }
        let mut digest = Sha256::new();
        for (name, hash) in &hashes {
            digest.update(name.as_bytes());
            digest.update(hash);
        }
        let version = hex::encode(&digest.finalize()[..6]);
        let folder = format!("/assets/{version}");
        let mut pages = BTreeMap::new();
        for page in ["index.html", "admin.html"] {
            let html = Files::get(page)
                .map(|file| String::from_utf8_lossy(&file.data).replace("{{assets}}", &folder))
                .unwrap_or_default();
            pages.insert(page, html.into_bytes());
        }
        Site { version, pages }
    })
}

/// The version in every asset URL of this binary.
pub fn assets_version() -> &'static str {
    &site().version
}

/// The headers every page and asset carries.
fn secured(mut response: Response, cache: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn page(name: &'static str, request: &HeaderMap) -> Response {
    let site = site();
    // The version covers both pages' content: a fine ETag for either.
    let etag = format!("\"{}\"", site.version);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag));
    let response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = site.pages.get(name).cloned().unwrap_or_default();
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            Body::from(body),
        )
            .into_response()
    };
    let mut response = secured(response, REVALIDATE);
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// `GET /`: the visitor's page.
pub async fn visitor(headers: HeaderMap) -> Response {
    page("index.html", &headers)
}

/// `GET /concerts/{id}`: the visitor's page, on one concert (the page reads the id from
/// its address). Only a concert id is a page; anything else is the API's 404.
pub async fn visitor_concert(Path(id): Path<String>, headers: HeaderMap) -> Response {
    match id.parse::<u64>() {
        Ok(n) if n > 0 && !id.starts_with('+') => page("index.html", &headers),
        _ => ApiError::route_not_found().into_response(),
    }
}

/// `GET /admin`: the operator's dashboard (its API calls carry the key; the page does not).
pub async fn dashboard(headers: HeaderMap) -> Response {
    page("admin.html", &headers)
}

fn content_type(path: &str) -> Option<&'static str> {
    let extension = path.rsplit_once('.')?.1;
    Some(match extension {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => return None,
    })
}

/// `GET /assets/{version}/{*path}`: one file of `web/assets/`. The current version is
/// cached for good; another (a page loaded before a restart) gets today's file, revalidated.
pub async fn asset(Path((version, path)): Path<(String, String)>) -> Response {
    // Only plain relative names: no climbing out of the folder, whatever the embedder does.
    let plain = !path.is_empty()
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && !path.contains('\\');
    let (Some(kind), true) = (content_type(&path), plain) else {
        return ApiError::route_not_found().into_response();
    };
    let Some(file) = Files::get(&format!("assets/{path}")) else {
        return ApiError::route_not_found().into_response();
    };
    let cache = if version == site().version {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    secured(
        (
            [(header::CONTENT_TYPE, kind)],
            Body::from(file.data.into_owned()),
        )
            .into_response(),
        cache,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_stable_and_short() {
        assert_eq!(assets_version().len(), 12);
        assert_eq!(assets_version(), site().version);
    }

    #[test]
    fn pages_point_at_the_versioned_assets() {
        let html = String::from_utf8(site().pages["index.html"].clone()).unwrap();
        assert!(
            html.contains(&format!("/assets/{}/", assets_version())),
            "{html}"
        );
        assert!(!html.contains("{{assets}}"));
        // The strict policy forbids inline code: the page must not rely on any.
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{html}"
        );
    }

    #[test]
    fn only_known_kinds_are_served() {
        assert_eq!(content_type("a.js"), Some("text/javascript; charset=utf-8"));
        assert_eq!(content_type("a.exe"), None);
        assert_eq!(content_type("noextension"), None);
    }
}
