//! NATS for tests that need it (cluster mode, issue 15): the server's URL from
//! `NATS_URL`, with the same skip policy as Postgres.
//!
//! Without `NATS_URL`, [`nats_url`] prints `skipped: <test> needs NATS_URL` and
//! returns `None`, unless `REQUIRE_NATS=1` (CI sets it, `.ci/run`), where it panics:
//! a missing server must not pass silently. The server must run JetStream (`-js`);
//! the tests that use it fail plainly if it does not.

use std::io::Write;

/// The NATS server's URL (`NATS_URL`), or `None` after saying `test` is skipped.
/// Panics instead when `REQUIRE_NATS=1`.
pub fn nats_url(test: &str) -> Option<String> {
    let url = std::env::var("NATS_URL").ok();
    let required = std::env::var("REQUIRE_NATS").is_ok_and(|v| v == "1");
    match decide(test, url, required) {
        Ok(url) => Some(url),
        Err(Skip(line)) => {
            // Straight to the stderr handle: libtest captures `eprintln!`, and a skip
            // should show in a passing run.
            let _ = writeln!(std::io::stderr(), "{line}");
            None
        }
    }
}

/// A skipped test's line.
#[derive(Debug, PartialEq, Eq)]
struct Skip(String);

/// The policy, apart from the environment: a URL is used; no URL skips, or panics
/// when required.
fn decide(test: &str, url: Option<String>, required: bool) -> Result<String, Skip> {
    match url.filter(|url| !url.trim().is_empty()) {
        Some(url) => Ok(url),
        None if required => {
            panic!("{test} needs NATS_URL=nats://… (REQUIRE_NATS=1 forbids skipping)")
        }
        None => Err(Skip(format!("skipped: {test} needs NATS_URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_used_whether_required_or_not() {
        for required in [false, true] {
            assert_eq!(
                decide("t", Some("nats://127.0.0.1:4222".into()), required),
                Ok("nats://127.0.0.1:4222".into())
            );
        }
    }

    #[test]
    fn no_url_skips_with_a_line_naming_the_test() {
        assert_eq!(
            decide("cluster::failover", None, false),
            Err(Skip("skipped: cluster::failover needs NATS_URL".into()))
        );
        assert_eq!(
            decide("t", Some("  ".into()), false),
            Err(Skip("skipped: t needs NATS_URL".into()))
        );
    }

    #[test]
    #[should_panic(expected = "t needs NATS_URL=nats://… (REQUIRE_NATS=1 forbids skipping)")]
    fn no_url_fails_when_required() {
        let _ = decide("t", None, true);
    }
}
