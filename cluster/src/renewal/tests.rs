//! The renewal task on tokio's paused clock against an in-memory KV: every instant of
//! the schedule and the deadline checked exactly, and the cases a real server cannot be
//! made to produce on demand (a renewal that hangs, one that lands but whose answer is
//! lost, a run of passing failures).

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actors::domain::SessionId;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::Renewal;
use crate::error::ClusterError;
use crate::lease::{LeaseStatus, LostReason, ReleaseRequest};
use crate::lease_kv::{KvError, Latest, LeaseKv};
use crate::leases::Slot;
use crate::node::NodeId;
use crate::thing::Thing;
use crate::timing::LeaseTiming;

/// What the next update does; once the script is empty, updates behave.
enum Step {
    /// Never answers.
    Hang,
    /// Refused for a passing reason, not applied.
    Fail,
    /// Applied, but the answer is lost.
    LandThenFail,
}

#[derive(Default)]
struct State {
    /// The key's value and revision; `None` when absent.
    value: Option<(String, u64)>,
    last_revision: u64,
    updates: Vec<Instant>,
    script: VecDeque<Step>,
}

#[derive(Clone, Default)]
struct FakeKv(Arc<Mutex<State>>);

impl FakeKv {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// Writes the key as another node would (or as a claim does).
    fn write(&self, value: &str) -> u64 {
        let mut state = self.state();
        state.last_revision += 1;
        let revision = state.last_revision;
        state.value = Some((value.to_owned(), revision));
        revision
    }
}

impl LeaseKv for FakeKv {
    async fn update(&self, _key: &str, value: &str, revision: u64) -> Result<u64, KvError> {
        let step = {
            let mut state = self.state();
            state.updates.push(Instant::now());
            state.script.pop_front()
        };
        match step {
            Some(Step::Hang) => std::future::pending().await,
            Some(Step::Fail) => Err(KvError::Other("NATS unreachable".into())),
            landing => {
                let current = self.state().value.as_ref().map(|(_, r)| *r);
                if current != Some(revision) {
                    return Err(KvError::WrongRevision);
                }
                let new = self.write(value);
                match landing {
                    Some(Step::LandThenFail) => Err(KvError::Other("answer lost".into())),
                    _ => Ok(new),
                }
            }
        }
    }

    async fn latest(&self, _key: &str) -> Option<Latest> {
        let state = self.state();
        let (value, revision) = state.value.clone()?;
        Some(Latest {
            value: value.into_bytes(),
            revision,
        })
    }

    async fn delete(&self, _key: &str, revision: u64) -> Result<(), KvError> {
        let mut state = self.state();
        if state.value.as_ref().map(|(_, r)| *r) != Some(revision) {
            return Err(KvError::WrongRevision);
        }
        state.value = None;
        Ok(())
    }
}

const TTL: Duration = Duration::from_secs(3);
const MARGIN: Duration = Duration::from_millis(750);

struct Running {
    kv: FakeKv,
    status: watch::Receiver<LeaseStatus>,
    release: oneshot::Sender<ReleaseRequest>,
    /// When the claim was sent.
    t0: Instant,
}

/// A lease claimed now by node-a, its renewal task running.
fn claimed(script: Vec<Step>) -> Running {
    let kv = FakeKv::default();
    let revision = kv.write("node-a");
    kv.state().script = script.into();
    let timing = LeaseTiming::new(TTL, MARGIN).unwrap();
    let t0 = Instant::now();
    let thing = Thing::Session(SessionId(1));
    let (status_tx, status) = watch::channel(LeaseStatus::Held {
        deadline: timing.deadline(t0),
    });
    let (release, release_rx) = oneshot::channel();
    let held: Arc<Mutex<HashSet<Thing>>> = Arc::default();
    let renewal = Renewal {
        kv: kv.clone(),
        thing: thing.clone(),
        node: NodeId::parse("node-a").unwrap(),
        timing,
        revision,
        sent_at: t0,
        status: status_tx,
        release: release_rx,
        paused: Arc::default(),
        _slot: Slot::take(&held, &thing, 1).unwrap(),
    };
    tokio::spawn(renewal.run());
    Running {
        kv,
        status,
        release,
        t0,
    }
}

/// Waits for the lease to end; the status and the instant.
async fn ended(running: &mut Running) -> (LeaseStatus, Instant) {
    let status = *running
        .status
        .wait_for(|s| !matches!(s, LeaseStatus::Held { .. }))
        .await
        .unwrap();
    (status, Instant::now())
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

#[tokio::test(start_paused = true)]
async fn renewals_come_every_third_of_the_ttl_and_each_moves_the_deadline() {
    let running = claimed(vec![]);
    tokio::time::sleep(ms(10_500)).await;
    let at: Vec<Duration> = running
        .kv
        .state()
        .updates
        .iter()
        .map(|t| *t - running.t0)
        .collect();
    assert_eq!(at, (1..=10).map(|s| ms(s * 1_000)).collect::<Vec<_>>());
    assert_eq!(
        *running.status.borrow(),
        LeaseStatus::Held {
            deadline: running.t0 + ms(10_000) + TTL - MARGIN
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_never_answers_loses_the_lease_at_the_deadline() {
    let mut running = claimed(vec![Step::Hang]);
    let (status, at) = ended(&mut running).await;
    assert_eq!(status, LeaseStatus::Lost(LostReason::Deadline));
    assert_eq!(at - running.t0, TTL - MARGIN);
}

#[tokio::test(start_paused = true)]
async fn passing_failures_are_retried_until_a_renewal_lands() {
    let running = claimed(vec![Step::Fail, Step::Fail, Step::Fail]);
    tokio::time::sleep(ms(1_500)).await;
    let at: Vec<Duration> = running
        .kv
        .state()
        .updates
        .iter()
        .map(|t| *t - running.t0)
        .collect();
    // Every TTL/20 = 150 ms after a failure; the fourth lands.
    assert_eq!(at, vec![ms(1_000), ms(1_150), ms(1_300), ms(1_450)]);
    assert_eq!(
        *running.status.borrow(),
        LeaseStatus::Held {
            deadline: running.t0 + ms(1_450) + TTL - MARGIN
        }
    );
}

#[tokio::test(start_paused = true)]
async fn failures_until_the_deadline_lose_the_lease_at_it() {
    let mut running = claimed((0..100).map(|_| Step::Fail).collect());
    let (status, at) = ended(&mut running).await;
    assert_eq!(status, LeaseStatus::Lost(LostReason::Deadline));
    assert_eq!(at - running.t0, TTL - MARGIN);
    // Tried at 1.00, 1.15, …, 2.20 s: nine times before the deadline, none after.
    assert_eq!(running.kv.state().updates.len(), 9);
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_landed_without_an_answer_is_adopted() {
    let mut running = claimed(vec![Step::LandThenFail]);
    tokio::time::sleep(ms(10_000)).await;
    assert!(
        matches!(*running.status.borrow_and_update(), LeaseStatus::Held { deadline } if deadline > Instant::now()),
        "{:?}",
        *running.status.borrow()
    );
    // The value is still ours, renewed since.
    let (value, _) = running.kv.state().value.clone().unwrap();
    assert_eq!(value, "node-a");
}

#[tokio::test(start_paused = true)]
async fn a_key_another_node_wrote_loses_the_lease_at_the_next_renewal() {
    let mut running = claimed(vec![]);
    tokio::time::sleep(ms(500)).await;
    running.kv.write("node-b");
    let (status, at) = ended(&mut running).await;
    assert_eq!(status, LeaseStatus::Lost(LostReason::Taken));
    assert_eq!(at - running.t0, ms(1_000));
}

#[tokio::test(start_paused = true)]
async fn a_release_deletes_our_revision_only() {
    let running = claimed(vec![]);
    tokio::time::sleep(ms(2_500)).await;
    let (reply, answer) = oneshot::channel();
    running.release.send(reply).unwrap();
    answer.await.unwrap().unwrap();
    assert_eq!(running.kv.state().value, None);
    assert_eq!(*running.status.borrow(), LeaseStatus::Released);

    let stolen = claimed(vec![]);
    stolen.kv.write("node-b");
    let (reply, answer) = oneshot::channel();
    stolen.release.send(reply).unwrap();
    assert!(matches!(
        answer.await.unwrap(),
        Err(ClusterError::NotHeld { .. })
    ));
    assert_eq!(stolen.kv.state().value.clone().unwrap().0, "node-b");
}
