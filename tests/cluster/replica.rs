//! The line on every node: polls on a node that does not own the engine are answered
//! from its replica of the line (header `x-concert-replica`, no forward), agree with
//! the owner within a second, and positions never grow, across an admission and a
//! failover of the owner.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actors::testkit;
use serde_json::{Value, json};

use crate::nodes::Cluster;
use crate::support::{ADMIN_KEY, Scratch, say, token_of};

const USERS: usize = 10;
/// How long a replica may lag its owner.
const AGREE_WITHIN: Duration = Duration::from_secs(1);

/// A poll's answer: its body, and the node whose replica answered it, if one did.
pub(crate) async fn poll(
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> (Value, Option<String>) {
    let response = http
        .get(format!("{base}/concert/wating"))
        .header("authorization", token)
        .send()
        .await
        .expect("a poll is answered");
    assert_eq!(response.status(), 200, "a poll of a live token");
    let replica = response
        .headers()
        .get("x-concert-replica")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.json().await.expect("a JSON answer"), replica)
}

/// (isProcessing, watingNumber) of an answer.
pub(crate) fn place(body: &Value) -> (bool, Option<i64>) {
    (
        body["isProcessing"].as_bool().expect("isProcessing"),
        body["watingNumber"].as_i64(),
    )
}

/// Polls every token on `replica` until each answer is the owner's and comes from the
/// replica (at most [`AGREE_WITHIN`] after `since`); checks that no position a node
/// answered grew.
async fn agree(
    http: &reqwest::Client,
    owner: &str,
    replica: &str,
    tokens: &[String],
    last: &mut HashMap<(String, String), i64>,
    after: &str,
) {
    let since = Instant::now();
    loop {
        let mut agreed = true;
        for token in tokens {
            let (theirs, answered_by) = poll(http, replica, token).await;
            let (ours, _) = poll(http, owner, token).await;
            for (node, body) in [(replica, &theirs), (owner, &ours)] {
                if let (false, Some(position)) = place(body) {
                    let before = last.insert((node.to_owned(), token.clone()), position);
                    assert!(
                        before.is_none_or(|before| position <= before),
                        "{token}'s position grew: {before:?} -> {position}"
                    );
                }
            }
            agreed &= answered_by.is_some() && place(&theirs) == place(&ours);
        }
        if agreed {
            say(format!(
                "replica agreed {:?} after {after}",
                since.elapsed()
            ));
            return;
        }
        assert!(
            since.elapsed() < AGREE_WITHIN,
            "the replica on {replica} did not agree with the owner within {AGREE_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn rerate(http: &reqwest::Client, base: &str, max_active: u32) {
    let response = http
        .patch(format!("{base}/admin/room"))
        .header("x-admin-key", ADMIN_KEY)
        .json(&json!({ "maxActive": max_active }))
        .send()
        .await
        .expect("a re-rate is answered");
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

#[tokio::test]
async fn polls_are_answered_on_every_node_from_its_replica_of_the_line() {
    let Some(nats_url) = testkit::nats_url("polls_are_answered_on_every_node") else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let scratch = Scratch::new("cluster-replica");
    let mut cluster = Cluster::start(db, nats_url, 3, &scratch).await;
    let (owner, _) = cluster.wait_for_owner().await;
    let bases: HashMap<String, String> = cluster
        .nodes
        .iter()
        .flatten()
        .map(|n| (n.id.clone(), n.server.base.clone()))
        .collect();
    let base = |id: &str| bases[id].clone();
    let owner_base = base(&owner);
    let others: Vec<String> = cluster
        .nodes
        .iter()
        .flatten()
        .filter(|n| n.id != owner)
        .map(|n| n.id.clone())
        .collect();
    let http = reqwest::Client::new();
    rerate(&http, &owner_base, 2).await;
    let api = &cluster
        .nodes
        .iter()
        .flatten()
        .find(|n| n.id == owner)
        .unwrap()
        .api;
    let mut tokens = Vec::new();
    for n in 0..USERS {
        let joined = api.join(&format!("replica-{n}")).await;
        tokens.push(token_of(joined.ok().expect("joined")).expect("a token"));
    }
    let mut last = HashMap::new();
    let replica_base = base(&others[0]);
    agree(
        &http,
        &owner_base,
        &replica_base,
        &tokens,
        &mut last,
        "the joins",
    )
    .await;
    let (body, by) = poll(&http, &replica_base, &tokens[USERS - 1]).await;
    assert_eq!(
        place(&body),
        (false, Some(USERS as i64 - 2)),
        "two admitted"
    );
    assert_eq!(by.as_deref(), Some(others[0].as_str()));

    // An admission: two more are let in; every place moves up by two.
    rerate(&http, &owner_base, 4).await;
    agree(
        &http,
        &owner_base,
        &replica_base,
        &tokens,
        &mut last,
        "an admission",
    )
    .await;
    let (body, _) = poll(&http, &replica_base, &tokens[USERS - 1]).await;
    assert_eq!(place(&body), (false, Some(USERS as i64 - 4)));

    // The owner dies: another node owns, and the last one's replica follows it.
    cluster.kill(&owner).await;
    let killed = Instant::now();
    let (new_owner, _) = cluster.wait_for_owner().await;
    let survivor = others.iter().find(|id| **id != new_owner).unwrap();
    say(format!(
        "{new_owner} owns {:?} after the kill",
        killed.elapsed()
    ));
    agree(
        &http,
        &base(&new_owner),
        &base(survivor),
        &tokens,
        &mut last,
        "the failover",
    )
    .await;
    let (body, by) = poll(&http, &base(survivor), &tokens[USERS - 1]).await;
    assert_eq!(place(&body), (false, Some(USERS as i64 - 4)));
    assert_eq!(by.as_deref(), Some(survivor.as_str()));

    // The killed node comes back while the line is quiet (no change to carry its
    // rooms to it): it asks for the pictures itself and answers from its replica.
    cluster.restart(&owner, &scratch).await;
    let restarted = cluster
        .nodes
        .iter()
        .flatten()
        .find(|n| n.id == owner)
        .map(|n| n.server.base.clone())
        .expect("the restarted node");
    agree(
        &http,
        &base(&new_owner),
        &restarted,
        &tokens,
        &mut last,
        "a restart on a quiet line",
    )
    .await;
}
