//! Slow and idle clients: 2,000 connections that trickle a request body and 2,000 that
//! send nothing, all reconnecting as soon as they are cut, while a normal client polls,
//! lists seats and holds. The normal client's p99 stays under 100 ms, `/health` answers
//! 200 throughout, every acknowledged hold is there afterwards and `concert check` passes.
//!
//! The attackers come from 127.0.0.2–9 (500 connections each, under the per-address cap
//! of 512), the normal client from 127.0.0.1: on Linux every 127.x address is loopback.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actors::backend_tests;
use actors::testkit::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::support::{Api, Scratch, Server, concert_check, ms, queue_state, say, tail, token_of};

/// Attacking connections of each kind.
const SLOW_BODIES: usize = 2_000;
const IDLE: usize = 2_000;
/// Connections per attacking address.
const PER_ADDRESS: usize = 500;
/// How long the attack lasts: past one header timeout (10 s) and two body timeouts (5 s).
const ATTACK: Duration = Duration::from_secs(15);
/// Normal users (each holds up to 4 seats per session of the demo concert).
const USERS: usize = 8;
/// The normal client's p99 bound.
const P99_BOUND: Duration = Duration::from_millis(100);

backend_tests! {
    slow_and_idle_connections_do_not_slow_a_normal_client,
}

/// What the attackers saw.
#[derive(Default)]
struct Attack {
    open: AtomicUsize,
    peak_open: AtomicUsize,
    connections: AtomicUsize,
    answered_408: AtomicUsize,
    closed_at_once: AtomicUsize,
}

impl Attack {
    fn opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_open.fetch_max(open, Ordering::Relaxed);
    }

    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One attacking connection slot: connect from `from`, then either trickle a body (a
/// byte a second) or stay silent, until the server cuts it; then again, until `over`.
async fn attacker(
    server: SocketAddr,
    from: Ipv4Addr,
    slow_body: bool,
    attack: Arc<Attack>,
    over: Arc<AtomicBool>,
) {
    while !over.load(Ordering::Relaxed) {
        let socket = TcpSocket::new_v4().expect("a socket");
        socket
            .bind((from, 0).into())
            .expect("bind a loopback address");
        let Ok(mut stream) = socket.connect(server).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        attack.opened();
        let connected = Instant::now();
        if slow_body {
            let head = "POST /concert/reservation HTTP/1.1\r\nHost: drill\r\nAuthorization: x\r\n\
                        Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
            let _ = stream.write_all(head.as_bytes()).await;
        }
        let mut answer = Vec::new();
        let mut buffer = [0u8; 512];
        loop {
            if over.load(Ordering::Relaxed) {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
                Err(_) if slow_body => {
                    if stream.write_all(b" ").await.is_err() {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
        if answer.starts_with(b"HTTP/1.1 408") {
            attack.answered_408.fetch_add(1, Ordering::Relaxed);
        }
        if connected.elapsed() < Duration::from_millis(100) && !over.load(Ordering::Relaxed) {
            attack.closed_at_once.fetch_add(1, Ordering::Relaxed);
        }
        attack.closed();
    }
}

/// The 99th percentile of `samples` (sorted in place).
fn p99(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

async fn slow_and_idle_connections_do_not_slow_a_normal_client(db: TestDb) {
    // Alone among the drills: two of these at once would be 8,000 attackers on two
    // cores, and the crash drill's kills and restarts would be in the latency too.
    let _alone = crate::support::ALONE.lock().await;
    // 4,000 attacking sockets and the normal client's, in this process.
    concert::transport::raise_descriptor_limit();
    let backend = db.store.backend();
    let scratch = Scratch::new(&format!("slow-clients-{backend}"));
    let log = scratch.path("server.log");
    let env = vec![("RUST_LOG", "warn".to_owned())];
    let server = Server::start(&db.url, &env, &log).await;
    let address: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let api = Api::new(&server.base, Duration::from_secs(5));

    // The normal users, admitted before the attack.
    let mut tokens = Vec::new();
    for user in 0..USERS {
        let joined = api.join(&format!("normal-{user}")).await;
        let token = token_of(joined.ok().expect("joined")).unwrap();
        for _ in 0..100 {
            if queue_state(api.poll(&token).await.ok().expect("polled")).0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokens.push(token);
    }

    let attack = Arc::new(Attack::default());
    let over = Arc::new(AtomicBool::new(false));
    // The attackers on a thread of their own: on the test's runtime their wake-ups would
    // delay the normal client's in this process and be counted as the server's latency.
    let attackers = {
        let (attack, over) = (attack.clone(), over.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the attackers' runtime");
            runtime.block_on(async move {
                let mut tasks = Vec::new();
                for i in 0..SLOW_BODIES + IDLE {
                    let from = Ipv4Addr::new(127, 0, 0, 2 + (i / PER_ADDRESS) as u8);
                    let slow = i < SLOW_BODIES;
                    let task = attacker(address, from, slow, attack.clone(), over.clone());
                    tasks.push(tokio::spawn(task));
                }
                for task in tasks {
                    let _ = task.await;
                }
            });
        })
    };

    // The normal client: poll, list seats, hold; and /health, for the whole attack.
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut health = (0usize, Vec::new());
    let mut holds = [0usize; 6];
    let mut other = Vec::new();
    let mut round = 0usize;
    while started.elapsed() < ATTACK {
        let probe = api.health().await;
        health.0 += 1;
        if probe.status() != Some(200) {
            health.1.push(format!("{probe:?}"));
        }
        let user = round % USERS;
        let token = &tokens[user];
        let session = (round / USERS) % 6 + 1;
        let seat = (round / (USERS * 6)) % 50 + 1;
        for answer in [
            api.poll(token).await,
            api.seats(session as i64).await,
            api.hold(token, session as i64, ((seat + user * 7) % 50 + 1) as i64)
                .await,
        ] {
            latencies.push(answer.elapsed());
            match answer.status() {
                Some(201) => holds[session - 1] += 1,
                Some(200 | 409) => {}
                _ => other.push(format!("{answer:?}")),
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    over.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || attackers.join())
        .await
        .expect("join the attackers' thread")
        .expect("the attackers ran");

    // Every acknowledged hold is there: nobody else holds in the demo concert.
    let mut held = [0usize; 6];
    for (i, count) in held.iter_mut().enumerate() {
        let seats = api.seats(i as i64 + 1).await;
        let list = seats.ok().expect("the seat list")["seatList"]
            .as_array()
            .cloned();
        *count = list
            .unwrap_or_default()
            .iter()
            .filter(|s| s["isReservation"] == true)
            .count();
    }
    let samples = latencies.len();
    let p99 = p99(&mut latencies);
    let max = *latencies.last().unwrap();
    say(format!(
        "slow-clients[{backend}]: {} attacking connections over {:?} (peak {} open at once; {} answered 408; \
         {} closed at once), normal client {samples} requests p99 {} max {}, /health {} probes {} failed, holds {holds:?}",
        attack.connections.load(Ordering::Relaxed),
        ATTACK,
        attack.peak_open.load(Ordering::Relaxed),
        attack.answered_408.load(Ordering::Relaxed),
        attack.closed_at_once.load(Ordering::Relaxed),
        ms(p99),
        ms(max),
        health.0,
        health.1.len(),
    ));
    assert!(
        health.1.is_empty(),
        "/health refused: {:?}\n{}",
        &health.1[..health.1.len().min(5)],
        tail(&log)
    );
    assert!(
        other.is_empty(),
        "the normal client was refused: {:?}",
        &other[..other.len().min(5)]
    );
    assert!(
        p99 < P99_BOUND,
        "normal client p99 {} ≥ {}",
        ms(p99),
        ms(P99_BOUND)
    );
    assert!(
        attack.peak_open.load(Ordering::Relaxed) >= (SLOW_BODIES + IDLE) * 9 / 10,
        "the attack never held most of its connections open at once"
    );
    assert!(
        attack.answered_408.load(Ordering::Relaxed) >= SLOW_BODIES,
        "slow bodies are answered 408"
    );
    assert_eq!(held, holds, "every acknowledged hold is held");
    server.kill().await;
    let (passed, output, _) = concert_check(&db.url, &env).await;
    assert!(passed, "concert check after the drill: {output}");
}
