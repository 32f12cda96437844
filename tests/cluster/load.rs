//! What the failover drills share: the live nodes a client may pick, the mixed load sent
//! through them (buyers charge, hold and pay; liners join and poll; a probe charges
//! every 50 ms), and the book of what that load was told was done, with the time of
//! each acknowledged write (a failover's length is read from it). The audit of the
//! book against Postgres is `audit.rs`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use tokio::task::{JoinHandle, JoinSet};

use crate::nodes::Cluster;
use crate::support::{Answer, Api, Rng, contract_error, queue_state, token_of};

/// The nodes a client may send to, by id: a drill takes a node out before killing it
/// (a client stops using a dead node) and puts it back once restarted.
#[derive(Clone)]
pub struct Live(Arc<RwLock<Vec<(String, Api)>>>);

impl Live {
    /// Every running node of `cluster`.
    pub fn of(cluster: &Cluster) -> Self {
        let nodes = cluster.nodes.iter().flatten();
        Self(Arc::new(RwLock::new(
            nodes.map(|n| (n.id.clone(), n.api.clone())).collect(),
        )))
    }

    /// A random live node's client.
    pub fn pick(&self, rng: &mut Rng) -> Api {
        let live = self.0.read().unwrap();
        live[rng.between(0, live.len() as u64 - 1) as usize]
            .1
            .clone()
    }

    /// The live nodes' ids.
    pub fn ids(&self) -> Vec<String> {
        self.0
            .read()
            .unwrap()
            .iter()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// No request is sent to node `id` from now on.
    pub fn remove(&self, id: &str) {
        self.0.write().unwrap().retain(|(live, _)| live != id);
    }

    /// Node `id` takes requests again.
    pub fn insert(&self, id: &str, api: Api) {
        self.0.write().unwrap().push((id.to_owned(), api));
    }
}

/// What the load was told was done.
#[derive(Default)]
pub struct Book {
    /// Acknowledged charges, by user (each amount unique per user).
    pub charges: BTreeMap<String, Vec<i64>>,
    /// Acknowledged holds.
    pub holds: Vec<i64>,
    /// Acknowledged payments, by reservation.
    pub payments: Vec<i64>,
    /// Acknowledged joins: their tokens.
    pub tokens: Vec<String>,
    /// Error answers without the contract's shape.
    pub malformed: Vec<String>,
    /// 401s: a token the load was given, no longer known or admitted (a lost write).
    pub refused: Vec<String>,
    /// Every acknowledged write: when it was sent, when it was answered.
    acks: Vec<(Instant, Instant)>,
}

impl Book {
    /// When the first write sent after `at` was acknowledged: a write through a live
    /// node served again (the drills take the killed node out first).
    pub fn first_write_after(&self, at: Instant) -> Option<Instant> {
        let sent_after = self.acks.iter().filter(|(sent, _)| *sent > at);
        sent_after.map(|(_, acked)| *acked).min()
    }

    /// Books an answer's shape and a refused token; whether it is a 2xx.
    fn checked(&mut self, what: &str, answer: &Answer) -> bool {
        if let Answer::Http { status, body, .. } = answer {
            if *status >= 400 && !contract_error(*status, body) {
                self.malformed.push(format!("{what}: {status} {body}"));
            }
            if *status == 401 {
                self.refused.push(format!("{what}: {body}"));
            }
        }
        answer.ok().is_some()
    }

    /// [`Book::checked`] for a write sent at `sent`: a 2xx is noted as acknowledged now.
    fn wrote(&mut self, what: &str, sent: Instant, answer: &Answer) -> bool {
        let ok = self.checked(what, answer);
        if ok {
            self.acks.push((sent, Instant::now()));
        }
        ok
    }

    fn charge(&mut self, user: &str, amount: i64, sent: Instant, answer: &Answer) {
        if self.wrote("charge", sent, answer) {
            self.charges
                .entry(user.to_owned())
                .or_default()
                .push(amount);
        }
    }
}

/// How many clients of each kind.
pub struct Mix {
    /// Each: charge, hold a random seat, pay it, again.
    pub buyers: u64,
    /// Each: join as a new user, poll three times, again.
    pub liners: u64,
}

/// The load, running until [`Load::stop`].
pub struct Load {
    book: Arc<Mutex<Book>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `mix` and the write probe on `session` (seats `1..=seats`) through `live`.
    pub fn start(seed: u64, live: &Live, session: i64, seats: u32, mix: &Mix) -> Self {
        let book = Arc::new(Mutex::new(Book::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for n in 0..mix.buyers {
            let client = Client::new(seed, n, live, &book, &stop);
            tasks.push(tokio::spawn(buyer(client, n, session, seats)));
        }
        for n in 0..mix.liners {
            let client = Client::new(seed, 100 + n, live, &book, &stop);
            tasks.push(tokio::spawn(liner(client, n)));
        }
        tasks.push(tokio::spawn(probe(Client::new(
            seed, 1_000, live, &book, &stop,
        ))));
        Load { book, stop, tasks }
    }

    /// The book as it stands.
    pub fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap()
    }

    /// Waits (at most 60 s) for at least `calm` and until `payments` are acknowledged:
    /// every buyer's writes are landing.
    pub async fn flowing(&self, calm: Duration, payments: usize) {
        let started = Instant::now();
        while started.elapsed() < calm || self.book().payments.len() < payments {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the load did not flow in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every client, waits for their last answers, and gives the whole book.
    pub async fn stop(self) -> Book {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
        std::mem::take(&mut *self.book.lock().unwrap())
    }
}

/// One client of the load: its randomness, the nodes, the book, the stop flag.
struct Client {
    rng: Rng,
    live: Live,
    book: Arc<Mutex<Book>>,
    stop: Arc<AtomicBool>,
}

impl Client {
    fn new(
        seed: u64,
        n: u64,
        live: &Live,
        book: &Arc<Mutex<Book>>,
        stop: &Arc<AtomicBool>,
    ) -> Self {
        Client {
            rng: Rng::fork(seed, n),
            live: live.clone(),
            book: book.clone(),
            stop: stop.clone(),
        }
    }

    fn api(&mut self) -> Api {
        self.live.pick(&mut self.rng)
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap()
    }
}

/// Joins (on random nodes) until admitted; the token.
pub async fn admitted(live: &Live, rng: &mut Rng, user: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut token: Option<String> = None;
    loop {
        assert!(Instant::now() < deadline, "{user} was not admitted in 60 s");
        let answer = match &token {
            None => live.pick(rng).join(user).await,
            Some(token) => live.pick(rng).poll(token).await,
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

/// A buyer: charge, hold a random seat, pay it (the payment retried with its key until
/// answered), every request to a random node.
async fn buyer(mut c: Client, n: u64, session: i64, seats: u32) {
    let user = format!("loaduser{n}");
    let token = admitted(&c.live, &mut c.rng, &user).await;
    let mut amount = 10_000;
    while !c.stopped() {
        amount += 1;
        let sent = Instant::now();
        let charged = c.api().charge(&token, amount).await;
        c.book().charge(&user, amount, sent, &charged);
        let seat = c.rng.between(1, u64::from(seats)) as i64;
        let sent = Instant::now();
        let held = c.api().hold(&token, session, seat).await;
        if !c.book().wrote("hold", sent, &held) {
            continue;
        }
        let reservation = held.ok().and_then(|b| b["reservationId"].as_i64()).unwrap();
        c.book().holds.push(reservation);
        let key = format!("{user}-{reservation}");
        // Retried with its key until answered: a payment lost in a failover is
        // either done (the retry replays it) or not (the retry does it).
        for _ in 0..50 {
            let sent = Instant::now();
            let paid = c.api().pay(&token, reservation, &key).await;
            if c.book().wrote("pay", sent, &paid) {
                c.book().payments.push(reservation);
                break;
            }
            if paid.status().is_some_and(|s| s != 503) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A liner: joins as a new user and polls the token three times, every request to a
/// random node; the line's writes (tokens) and reads under the churn.
async fn liner(mut c: Client, n: u64) {
    let mut k = 0;
    while !c.stopped() {
        k += 1;
        let sent = Instant::now();
        let joined = c.api().join(&format!("liner{n}x{k}")).await;
        c.book().wrote("join", sent, &joined);
        let Some(token) = joined.ok().and_then(token_of) else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        c.book().tokens.push(token.clone());
        for _ in 0..3 {
            let polled = c.api().poll(&token).await;
            // A read: its shape and a refusal are booked, not its time.
            c.book().checked("poll", &polled);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The probe: every 50 ms a charge of its own user on its own task, so a write is sent
/// right after any moment (the buyers' requests in flight at a kill wait out the
/// forward timeout) and the first write served after a kill is timed to ~50 ms.
async fn probe(mut c: Client) {
    let token = admitted(&c.live, &mut c.rng, "probe").await;
    let mut in_flight = JoinSet::new();
    let mut amount = 10_000;
    while !c.stopped() {
        amount += 1;
        let (api, token, book) = (c.api(), token.clone(), c.book.clone());
        in_flight.spawn(async move {
            let sent = Instant::now();
            let charged = api.charge(&token, amount).await;
            book.lock().unwrap().charge("probe", amount, sent, &charged);
        });
        while in_flight.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while in_flight.join_next().await.is_some() {}
}
