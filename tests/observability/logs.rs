//! `--log-format json`: every line the binary prints is one JSON object, and every
//! line logged while a request runs names the request's id; the last line, logged at
//! exit, is written too.

use actors::backend_tests;
use actors::testkit::TestDb;
use serde_json::Value;

use crate::binary::Server;

backend_tests! {
    json_logs_parse_line_by_line_and_carry_the_request_id,
}

const REQUEST_ID: &str = "obs-json-log-1";

/// `GET /ready` queries the database in the request's own task, so with sqlx's query
/// log on, the request logs a line of sqlx's and its own "answered" line.
async fn json_logs_parse_line_by_line_and_carry_the_request_id(db: TestDb) {
    let server = Server::start(
        &db.url,
        "info,sqlx::query=debug",
        &["--log-format", "json", "--metrics-addr", "off"],
    )
    .await;
    let ready = reqwest::Client::new()
        .get(format!("{}/ready", server.address))
        .header("x-request-id", REQUEST_ID)
        .send()
        .await
        .expect("GET /ready");
    assert_eq!(ready.status(), 200);
    let printed = server.stop().await;

    let lines: Vec<Value> = printed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() >= 3, "start, serving, the request…: {printed}");
    for line in &lines {
        for field in ["timestamp", "level", "target"] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
    }
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|line| line["span"]["request_id"] == REQUEST_ID)
        .collect();
    let answered = of_request
        .iter()
        .find(|line| line["message"] == "answered")
        .unwrap_or_else(|| panic!("no answered line for the request: {printed}"));
    assert_eq!(answered["span"]["status"], 200, "{answered}");
    assert_eq!(answered["span"]["path"], "/ready", "{answered}");
    assert!(
        of_request.iter().any(|line| line["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("sqlx"))),
        "the query made during the request carries its id: {printed}"
    );
    // Lines are written by a thread of their own: the last one logged, as the process
    // ends, is still written (the writer's guard lives to the end of `main`).
    assert_eq!(
        lines.last().map(|line| &line["message"]),
        Some(&Value::from("shutdown complete")),
        "{printed}"
    );
    // Every line logged inside a request's span names that request.
    for line in &lines {
        if line["span"]["name"] == "request" {
            assert!(line["span"]["request_id"].is_string(), "{line}");
        }
    }
}
