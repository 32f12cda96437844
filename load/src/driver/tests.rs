//! The driver against real sockets: connections pinned to nodes, each node counted.

use std::collections::BTreeMap;

use axum::Router;
use concert_client::routes;
use hyper::HeaderMap;
use hyper::header::HOST;

use super::*;

#[test]
fn round_robin_spreads_evenly() {
    let spread = |connections: usize, nodes: usize| {
        let mut count = vec![0; nodes];
        for i in 0..connections {
            count[node_of(i, nodes)] += 1;
        }
        count
    };
    assert_eq!(spread(7, 3), [3, 2, 2]);
    assert_eq!(spread(48, 3), [16, 16, 16]);
    assert_eq!(spread(2, 3), [1, 1, 0]);
    assert_eq!(spread(5, 1), [5]);
    assert_eq!(
        (0..4).map(|i| node_of(i, 3)).collect::<Vec<_>>(),
        [0, 1, 2, 0]
    );
}

/// A node that answers every request with its own number, or 421 when the request's
/// `Host` is not its own address.
async fn node(number: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let url = format!("http://{host}");
    let app = Router::new().fallback(move |headers: HeaderMap| async move {
        match headers.get(HOST) {
            Some(h) if h == host.as_str() => (StatusCode::OK, number.to_string()),
            _ => (StatusCode::MISDIRECTED_REQUEST, String::new()),
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Which nodes answered each worker, and how often.
struct WhoAnswers(Requests);

impl Workload for WhoAnswers {
    type Local = BTreeMap<usize, u64>;

    fn request(&self, _index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.0.of(routes::concerts(None, None))
    }

    fn observe(&self, local: &mut Self::Local, _index: u64, status: StatusCode, body: &Bytes) {
        if status != StatusCode::OK {
            return;
        }
        let node = std::str::from_utf8(body).unwrap().parse().unwrap();
        *local.entry(node).or_default() += 1;
    }
}

fn driver(urls: &[String], connections: usize) -> Driver {
    let targets = urls.iter().map(|u| Target::parse(u).unwrap()).collect();
    let progress = Progress::new(false);
    Driver::new(targets, connections, Duration::from_secs(5), 1, progress)
}

#[tokio::test]
async fn each_connection_stays_on_its_node_and_each_node_is_counted() {
    let urls = vec![node(0).await, node(1).await, node(2).await];
    let driver = driver(&urls, 7);
    let work = Arc::new(WhoAnswers(driver.requests.clone()));
    let bounds = Bounds {
        requests: 700,
        duration: Duration::from_secs(30),
    };
    let outcome = driver.run("nodes", bounds, work).await.unwrap();

    let mut workers_per_node = [0; 3];
    let mut answers_per_node = [0; 3];
    for local in &outcome.locals {
        assert_eq!(
            local.len(),
            1,
            "a worker was answered by several nodes: {local:?}"
        );
        let (node, answers) = local.iter().next().unwrap();
        workers_per_node[*node] += 1;
        answers_per_node[*node] += answers;
    }
    assert_eq!(workers_per_node, [3, 2, 2]);
    assert_eq!(
        answers_per_node.iter().sum::<u64>(),
        700,
        "each with its node's Host"
    );
    let reports = outcome.node_reports();
    let named: Vec<(&str, usize, u64)> = reports
        .iter()
        .map(|n| (n.url.as_str(), n.connections, n.measured.answers))
        .collect();
    let expected: Vec<(&str, usize, u64)> = (0..3)
        .map(|k| (urls[k].as_str(), workers_per_node[k], answers_per_node[k]))
        .collect();
    assert_eq!(named, expected);
    // The one-off setup requests go to the first node.
    let one = driver.requests.of(routes::concerts(None, None));
    let (_, body) = driver.send_one(one, Duration::from_secs(5)).await.unwrap();
    assert_eq!(&body[..], b"0");
}

#[tokio::test]
async fn one_node_has_no_per_node_report() {
    let urls = vec![node(0).await];
    let driver = driver(&urls, 2);
    let work = Arc::new(WhoAnswers(driver.requests.clone()));
    let bounds = Bounds {
        requests: 10,
        duration: Duration::from_secs(30),
    };
    let outcome = driver.run("one", bounds, work).await.unwrap();
    assert_eq!(outcome.summary().answers, 10);
    assert!(outcome.node_reports().is_empty());
}

#[tokio::test]
async fn a_node_that_refuses_fails_the_phase_by_name() {
    let free = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let urls = vec![node(0).await, gone.clone()];
    let driver = driver(&urls, 4);
    let work = Arc::new(WhoAnswers(driver.requests.clone()));
    let bounds = Bounds {
        requests: 10,
        duration: Duration::from_secs(5),
    };
    let error = driver.run("gone", bounds, work).await.err().unwrap();
    assert!(error.to_string().contains(&gone), "{error:#}");
}
