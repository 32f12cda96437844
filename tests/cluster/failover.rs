//! The purchase on any node, and a failover under load: see the target's docs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actors::testkit::{self, query_i64};

use crate::nodes::Cluster;
use crate::support::{
    ALONE, Answer, Api, Rng, Scratch, charges_missing_from_the_ledger, concert_check,
    contract_error, queue_state, say, token_of,
};

const SEATS: u32 = 400;
const PRICE: i64 = 100;
const WORKERS: u64 = 6;
/// The most a failover may take, from the owner's `kill -9` to the first request sent
/// after it that the engine answers again (a probe sent every 50 ms, each on its own:
/// the load's own requests in flight at the kill wait out the forward timeout).
const FAILOVER_BOUND: Duration = Duration::from_secs(5);

/// What the load was told was done.
#[derive(Default)]
struct Book {
    /// Acknowledged charges, by user (each amount unique per user).
    charges: BTreeMap<String, Vec<i64>>,
    /// Acknowledged holds.
    holds: Vec<i64>,
    /// Acknowledged payments, by reservation.
    payments: Vec<i64>,
    /// Error answers without the contract's shape.
    malformed: Vec<String>,
    /// When the owner was killed (its process reaped).
    killed_at: Option<Instant>,
    /// When the first write sent after the kill was acknowledged.
    first_ack_after: Option<Instant>,
    /// When the first probe sent after the kill was answered by the engine.
    first_probe_after: Option<Instant>,
}

/// The live nodes, shared with the load.
type Live = Arc<RwLock<Vec<Api>>>;

fn pick(live: &Live, rng: &mut Rng) -> Api {
    let live = live.read().unwrap();
    live[rng.between(0, live.len() as u64 - 1) as usize].clone()
}

/// Joins (on random nodes) until admitted; the token.
async fn admitted(live: &Live, rng: &mut Rng, user: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut token: Option<String> = None;
    loop {
        assert!(Instant::now() < deadline, "{user} was not admitted in 60 s");
        let answer = match &token {
            None => pick(live, rng).join(user).await,
            Some(token) => pick(live, rng).poll(token).await,
        };
        if let Some(body) = answer.ok() {
            token = token_of(body).or(token);
            if queue_state(body).0 {
                return token.expect("an admitted answer carries its token");
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_shape(book: &Mutex<Book>, what: &str, answer: &Answer) {
    if let Answer::Http { status, body, .. } = answer
        && *status >= 400
        && !contract_error(*status, body)
    {
        book.lock()
            .unwrap()
            .malformed
            .push(format!("{what}: {status} {body}"));
    }
}

/// Notes a write sent at `sent` acknowledged now: the first one sent after the kill
/// was served by the next owner.
fn acknowledged(book: &Mutex<Book>, sent: Instant) {
    let now = Instant::now();
    let mut book = book.lock().unwrap();
    if book.killed_at.is_some_and(|killed| sent > killed) && book.first_ack_after.is_none() {
        book.first_ack_after = Some(now);
    }
}

/// One user's load: charge, hold a random seat, pay it; every request to a random node.
async fn worker(
    n: u64,
    seed: u64,
    live: Live,
    session: i64,
    book: Arc<Mutex<Book>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::fork(seed, n);
    let user = format!("loaduser{n}");
    let token = admitted(&live, &mut rng, &user).await;
    let mut amount = 10_000;
    while !stop.load(Ordering::SeqCst) {
        amount += 1;
        let sent = Instant::now();
        let charged = pick(&live, &mut rng).charge(&token, amount).await;
        check_shape(&book, "charge", &charged);
        if charged.ok().is_some() {
            book.lock()
                .unwrap()
                .charges
                .entry(user.clone())
                .or_default()
                .push(amount);
            acknowledged(&book, sent);
        }
        let seat = rng.between(1, u64::from(SEATS)) as i64;
        let sent = Instant::now();
        let held = pick(&live, &mut rng).hold(&token, session, seat).await;
        check_shape(&book, "hold", &held);
        let Some(reservation) = held.ok().and_then(|b| b["reservationId"].as_i64()) else {
            continue;
        };
        book.lock().unwrap().holds.push(reservation);
        acknowledged(&book, sent);
        let key = format!("{user}-{reservation}");
        // Retried with its key until answered: a payment lost in the failover is
        // either done (the retry replays it) or not (the retry does it).
        for _ in 0..50 {
            let sent = Instant::now();
            let paid = pick(&live, &mut rng).pay(&token, reservation, &key).await;
            check_shape(&book, "pay", &paid);
            if paid.ok().is_some() {
                book.lock().unwrap().payments.push(reservation);
                acknowledged(&book, sent);
                break;
            }
            if paid.status().is_some_and(|s| s != 503) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Every 50 ms, a seat map read sent to a random node, on its own task: notes when the
/// first one sent after the kill is answered (the engine serves again).
async fn probe(seed: u64, live: Live, session: i64, book: Arc<Mutex<Book>>, stop: Arc<AtomicBool>) {
    let mut rng = Rng::fork(seed, 1_000);
    while !stop.load(Ordering::SeqCst) {
        let api = pick(&live, &mut rng);
        let book = book.clone();
        tokio::spawn(async move {
            let sent = Instant::now();
            if api.seats(session).await.ok().is_some() {
                let now = Instant::now();
                let mut book = book.lock().unwrap();
                if book.killed_at.is_some_and(|killed| sent > killed)
                    && book.first_probe_after.is_none()
                {
                    book.first_probe_after = Some(now);
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The contract's purchase (queue, wait admitted, hold, charge, pay), each request sent
/// to a random node.
async fn purchase(live: &Live, rng: &mut Rng, session: i64) {
    let token = admitted(live, rng, "buyer").await;
    let held = pick(live, rng).hold(&token, session, 1).await;
    let reservation = held.ok().unwrap_or_else(|| panic!("hold: {held:?}"))["reservationId"]
        .as_i64()
        .unwrap();
    let charged = pick(live, rng).charge(&token, PRICE).await;
    assert!(charged.ok().is_some(), "charge: {charged:?}");
    let balance = pick(live, rng).balance(&token).await;
    assert_eq!(
        balance.ok().map(|b| b["balance"].as_i64()),
        Some(Some(PRICE)),
        "{balance:?}"
    );
    let paid = pick(live, rng).pay(&token, reservation, "buyer-1").await;
    assert_eq!(
        paid.ok().unwrap()["reservationId"].as_i64(),
        Some(reservation)
    );
    let again = pick(live, rng).pay(&token, reservation, "buyer-1").await;
    assert_eq!(
        again.ok().map(|b| b["paymentId"].clone()),
        paid.ok().map(|b| b["paymentId"].clone()),
        "the same key on another node replays the same payment"
    );
}

#[tokio::test]
async fn a_purchase_on_any_node_and_a_failover_under_load() {
    let Some(nats_url) = testkit::nats_url("a_purchase_on_any_node_and_a_failover_under_load")
    else {
        return;
    };
    let Some(db) = testkit::postgres().await else {
        return;
    };
    let _alone = ALONE.lock().await;
    let scratch = Scratch::new("cluster-failover");
    let seed = Rng::seed("cluster failover");
    let mut rng = Rng::new(seed);
    let mut cluster = Cluster::start(db, nats_url, 3, &scratch).await;
    let (first_owner, first_epoch) = cluster.wait_for_owner().await;
    let live: Live = Arc::new(RwLock::new(cluster.live()));
    let (_, sessions) = pick(&live, &mut rng).add_concert(SEATS, PRICE, 1).await;
    let session = sessions[0];

    purchase(&live, &mut rng, session).await;

    let book = Arc::new(Mutex::new(Book::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..WORKERS)
        .map(|n| {
            tokio::spawn(worker(
                n,
                seed,
                live.clone(),
                session,
                book.clone(),
                stop.clone(),
            ))
        })
        .collect();
    let probing = tokio::spawn(probe(
        seed,
        live.clone(),
        session,
        book.clone(),
        stop.clone(),
    ));
    // Load before the kill: until every worker's writes are landing.
    let calm = Instant::now() + Duration::from_secs(2);
    while Instant::now() < calm || book.lock().unwrap().payments.len() < WORKERS as usize {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The owner dies: no release, no last word. Clients stop sending to it.
    let owner_index = cluster
        .nodes
        .iter()
        .flatten()
        .position(|node| node.id == first_owner)
        .unwrap();
    live.write().unwrap().remove(owner_index);
    cluster.kill(&first_owner).await;
    let killed_at = Instant::now();
    book.lock().unwrap().killed_at = Some(killed_at);
    let (new_owner, new_epoch) = loop {
        if let Some((owner, epoch)) = cluster.owner().await
            && owner != first_owner
        {
            break (owner, epoch);
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "nobody took over in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let claimed_after = killed_at.elapsed();
    let served_after = loop {
        if let Some(at) = book.lock().unwrap().first_probe_after {
            break at.duration_since(killed_at);
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no answer in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let written_after = loop {
        if let Some(at) = book.lock().unwrap().first_ack_after {
            break at.duration_since(killed_at);
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no write acknowledged in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    say(format!(
        "cluster failover: {first_owner} (epoch {first_epoch}) killed; {new_owner} \
         (epoch {new_epoch}) recorded its claim after {claimed_after:?}; the engine \
         answered a fresh request after {served_after:?}; the load's first write was \
         acknowledged after {written_after:?} (its requests in flight at the kill wait \
         out the forward timeout)"
    ));
    assert!(new_epoch > first_epoch);
    assert!(
        served_after < FAILOVER_BOUND,
        "failover took {served_after:?}, more than {FAILOVER_BOUND:?}"
    );
    // Load after the failover.
    let after = Instant::now() + Duration::from_secs(2);
    while Instant::now() < after {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }
    probing.await.unwrap();

    // Probes may still be in flight: take the book as it stands.
    let book = std::mem::take(&mut *book.lock().unwrap());
    assert!(
        book.malformed.is_empty(),
        "errors off the contract: {:?}",
        book.malformed
    );
    let db = &cluster.db;
    let missing = charges_missing_from_the_ledger(db, &book.charges).await;
    assert!(missing.is_empty(), "acknowledged charges lost: {missing:?}");
    let ids = |ids: &[i64]| {
        ids.iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let holds = query_i64(
        db,
        &format!(
            "SELECT COUNT(*) FROM reservations WHERE id IN ({})",
            ids(&book.holds)
        ),
    )
    .await
    .unwrap();
    assert_eq!(holds, book.holds.len() as i64, "acknowledged holds lost");
    let payments = query_i64(
        db,
        &format!(
            "SELECT COUNT(*) FROM payments WHERE reservation_id IN ({})",
            ids(&book.payments)
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        payments,
        book.payments.len() as i64,
        "acknowledged payments lost"
    );
    let sold_twice = query_i64(
        db,
        "SELECT COUNT(*) FROM (SELECT session_id, seat_number FROM reservations \
         WHERE status = 'paid' GROUP BY 1, 2 HAVING COUNT(*) > 1) AS twice",
    )
    .await
    .unwrap();
    assert_eq!(sold_twice, 0, "a seat sold twice");
    let (clean, report, _) = concert_check(&db.url, &cluster.env("check")).await;
    assert!(clean, "concert check: {report}");
    say(format!(
        "cluster failover: {} charges, {} holds, {} payments acknowledged; all in Postgres",
        book.charges.values().map(Vec::len).sum::<usize>(),
        book.holds.len(),
        book.payments.len()
    ));
}
