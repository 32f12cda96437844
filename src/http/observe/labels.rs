//! A request's `route` label: the template of the route that serves its path
//! (`/concert/seat/{sessionId}`), never the raw path, or `unmatched`.
//!
//! Looked up here, by `observe` itself, rather than read from the `MatchedPath` axum
//! leaves on the request: that is set only inside the router, so `observe` had to be a
//! layer on every route (`Router::layer`), and each such layer is one more boxed
//! `Route` future per request (docs/performance.md). Matched by `matchit`, the
//! matcher axum's router uses, over the same templates (`routes::templates`).

/// The `route` label of a request no route matched (404s, and the fallbacks).
const UNMATCHED: &str = "unmatched";

/// The templates a router serves, to label its requests by.
pub struct RouteLabels {
    /// Each template to its index in `labels`.
    matcher: matchit::Router<usize>,
    /// The templates, then [`UNMATCHED`].
    labels: Vec<&'static str>,
}

/// A route as [`RouteLabels`] know it: an index, so that what is kept per route (its
/// metric handles) is found without hashing its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(usize);

impl Route {
    /// Its index among the labels' routes, `0..RouteLabels::count()`.
    pub fn index(self) -> usize {
        self.0
    }
}

impl RouteLabels {
    /// Labels by `templates`: a router's own paths, as it was built from them.
    ///
    /// # Panics
    /// If two templates conflict: axum's router would have refused them first.
    pub fn new(templates: impl IntoIterator<Item = &'static str>) -> Self {
        let mut matcher = matchit::Router::new();
        let mut labels = Vec::new();
        for template in templates {
            matcher
                .insert(template, labels.len())
                .unwrap_or_else(|error| panic!("route template {template}: {error}"));
            labels.push(template);
        }
        labels.push(UNMATCHED);
        Self { matcher, labels }
    }

    /// The route of a request for `path`.
    pub fn of(&self, path: &str) -> Route {
        Route(
            self.matcher
                .at(path)
                .map_or(self.labels.len() - 1, |found| *found.value),
        )
    }

    /// The `route` label of `route`.
    pub fn label(&self, route: Route) -> &'static str {
        self.labels[route.0]
    }

    /// How many routes there are, [`UNMATCHED`] included.
    pub fn count(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes;

    #[test]
    fn a_path_is_labelled_by_the_template_that_serves_it() {
        let labels = RouteLabels::new(routes::templates());
        for (path, label) in [
            ("/health", "/health"),
            ("/concert/seat/17", "/concert/seat/{sessionId}"),
            (
                "/concert/seat/17/stream",
                "/concert/seat/{sessionId}/stream",
            ),
            (
                "/admin/concerts/3/room/pause",
                "/admin/concerts/{concertId}/room/pause",
            ),
            ("/assets/v1/app/main.js", "/assets/{version}/{*path}"),
            ("/", "/"),
            ("/concert/seat", UNMATCHED),
            ("/wp-login.php", UNMATCHED),
        ] {
            assert_eq!(labels.label(labels.of(path)), label, "{path}");
        }
    }
}
