//! A stale owner's writes refused by epoch. node-0 owns, is cut off from NATS but not
//! from Postgres and, under the test fault `CONCERT_TEST_IGNORE_LEASE_LOSS=1`, keeps
//! serving its engine past its lease (as a node whose stop is slow or broken would).
//! Once node-1 has claimed and fenced a newer epoch, node-0's hold and charge reach
//! Postgres and are refused there: 503 `STORAGE_UNAVAILABLE`, its log names the fence,
//! and nothing of theirs is written; node-1's writes of the same seat and wallet land.

use actors::testkit::{self, query_i64};

use crate::partition::Partition;
use crate::support::{ALONE, Answer, Scratch, concert_check, say};

#[tokio::test]
async fn a_stale_owners_writes_are_refused_by_its_epoch() {
    let test = "a_stale_owners_writes_are_refused_by_its_epoch";
    if !cfg!(debug_assertions) {
        // The binary is built in the same profile: without debug assertions it has no
        // fault hook (src/cluster/owner.rs says why), and the cut node would stop.
        say(format!(
            "{test}: skipped: needs a debug build (the fault hook)"
        ));
        return;
    }
    let Some(nats_url) = testkit::nats_url(test) else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let _alone = ALONE.lock().await;
    let scratch = Scratch::new("cluster-stale-write");
    let fault = [("CONCERT_TEST_IGNORE_LEASE_LOSS", "1".to_owned())];
    let p = Partition::start(db, &nats_url, &fault, &scratch).await;
    let first_epoch = p.first_epoch;
    let (new_epoch, claimed_after) = p.cut_and_wait_for_node_1().await;
    say(format!(
        "cluster stale write: node-0 (epoch {first_epoch}) cut off from NATS, serving on; \
         node-1 fenced epoch {new_epoch} after {claimed_after:?}"
    ));

    // node-0 still takes writes into its stale engine, where seat 3 is free and the
    // wallet is new: only the fence can refuse them (no unique index is in the way).
    let stale_hold = p.cut.hold(&p.token, p.session, 3).await;
    let stale_charge = p.cut.charge(&p.token, 4_321).await;
    for (what, answer) in [("hold", &stale_hold), ("charge", &stale_charge)] {
        assert_eq!(
            refusal(answer),
            Some((503, "STORAGE_UNAVAILABLE")),
            "node-0's stale {what}: {answer:?}"
        );
    }
    let node_0 = p.cluster.nodes[0].as_ref().expect("node-0 runs");
    let log = std::fs::read_to_string(&node_0.server.log).expect("node-0's log");
    let fenced = format!(
        "fenced: this node wrote engine at epoch {first_epoch}, but epoch {new_epoch} is \
         now recorded"
    );
    assert!(
        log.contains(&fenced),
        "node-0's refusals came from the fence ({fenced}); its log: {log}"
    );
    let db = &p.cluster.db;
    let count = |sql: String| async move { query_i64(db, &sql).await.unwrap() };
    let seat_3 = format!(
        "SELECT COUNT(*) FROM reservations WHERE session_id = {} AND seat_number = 3",
        p.session
    );
    assert_eq!(count(seat_3.clone()).await, 0, "node-0's stale hold landed");
    let charge = |amount: i64| {
        format!(
            "SELECT COUNT(*) FROM ledger WHERE user_id = 'cutuser' AND kind = 'charge' \
             AND amount = {amount}"
        )
    };
    assert_eq!(
        count(charge(4_321)).await,
        0,
        "node-0's stale charge landed"
    );

    // The new owner's writes of the same seat and wallet land.
    let held = p.hold_on_node_1(3).await;
    assert!(held.ok().is_some(), "node-1's hold of seat 3: {held:?}");
    let charged = p.direct.charge(&p.token, 1_234).await;
    assert!(charged.ok().is_some(), "node-1's charge: {charged:?}");
    assert_eq!(count(seat_3).await, 1, "node-1's hold of seat 3");
    assert_eq!(count(charge(1_234)).await, 1, "node-1's charge");
    say(format!(
        "cluster stale write: node-0's hold and charge at epoch {first_epoch} refused by \
         Postgres (503 STORAGE_UNAVAILABLE, fenced), none written; node-1's landed"
    ));
    let (clean, report, _) = concert_check(&db.url, &p.cluster.env("check")).await;
    assert!(clean, "concert check: {report}");
}

/// An error answer's status and code.
fn refusal(answer: &Answer) -> Option<(u16, &str)> {
    let code = answer.body()?["error"].as_str()?;
    Some((answer.status()?, code))
}
