//! The fleet of open queue streams: opened on a ramp (a bounded number connecting at
//! once), then each parked on its socket until its token is admitted or the fleet closes.
//!
//! A stream task keeps nothing but its [`SseStream`]; what the scenario reports is
//! gathered in shared counters, one latency record for the opens, and a channel of
//! admission events (at most one per stream, so a channel of N places never blocks).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use concert_client::Ticket;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::sse::{Event, SseError, SseStream};
use crate::stats::Recorder;

/// Where and how to open the streams.
#[derive(Debug, Clone)]
pub struct FleetSettings {
    /// The server (loopback).
    pub addr: SocketAddr,
    /// The `Host` header.
    pub host: String,
    /// Streams connecting at once.
    pub open_at_once: usize,
    /// From connect to the first event, at most.
    pub open_timeout: Duration,
}

/// An admitted stream's last event.
#[derive(Debug, Clone, Copy)]
pub struct Admitted {
    /// When its `queue` event with `isProcessing: true` was read.
    pub at: Instant,
}

/// What the streams did so far.
#[derive(Debug, Default)]
pub struct Counters {
    /// Opens finished, whatever their outcome (shared with the progress line).
    pub attempts: Arc<AtomicU64>,
    /// Streams whose first event arrived.
    pub opened: AtomicU64,
    /// Streams open now (first event read, not ended).
    pub open_now: AtomicU64,
    /// Streams whose first event already said admitted (they end at once).
    pub admitted_at_open: AtomicU64,
    /// Streams that ended with their admission.
    pub admitted: AtomicU64,
    /// Streams ended with an `expired` event.
    pub expired: AtomicU64,
    /// Streams the server ended without an admission or expiry event.
    pub ended_by_server: AtomicU64,
    /// Streams cut by a read error or a malformed body.
    pub read_errors: AtomicU64,
    /// `queue` events after the first that did not admit (position updates).
    pub updates: AtomicU64,
}

impl Counters {
    /// A counter's value now.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The open streams.
pub struct Fleet {
    tasks: JoinSet<()>,
    /// Shared counts.
    pub counters: Arc<Counters>,
    /// Each open: the status answered and the time to the first event; failures by kind.
    pub opens: Arc<Mutex<Recorder>>,
    /// Admission events, as they arrive.
    pub admissions: mpsc::Receiver<Admitted>,
    /// Streams launched.
    pub size: usize,
}

struct Shared {
    settings: FleetSettings,
    gate: Semaphore,
    counters: Arc<Counters>,
    opens: Arc<Mutex<Recorder>>,
    admissions: mpsc::Sender<Admitted>,
}

impl Fleet {
    /// Starts one stream per token (`GET /concert/wating/stream?token=…`); they open on
    /// a ramp of `open_at_once` and stay open until admitted or [`Fleet::close`].
    pub fn launch(settings: FleetSettings, tokens: &[String]) -> Self {
        let counters = Arc::new(Counters::default());
        let opens = Arc::new(Mutex::new(Recorder::default()));
        let (tx, rx) = mpsc::channel(tokens.len().max(1));
        let shared = Arc::new(Shared {
            gate: Semaphore::new(settings.open_at_once.max(1)),
            settings,
            counters: counters.clone(),
            opens: opens.clone(),
            admissions: tx,
        });
        let mut tasks = JoinSet::new();
        for token in tokens {
            let path = stream_path(token);
            tasks.spawn(one_stream(shared.clone(), path));
        }
        Self {
            tasks,
            counters,
            opens,
            admissions: rx,
            size: tokens.len(),
        }
    }

    /// Waits until every open has finished (opened or failed) or `deadline`; returns
    /// whether all finished.
    pub async fn wait_opened(&self, deadline: Instant) -> bool {
        loop {
            if Counters::get(&self.counters.attempts) >= self.size as u64 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Closes every stream (the client side hangs up).
    pub async fn close(mut self) {
        self.tasks.shutdown().await;
    }
}

/// The queue stream's path for `token`, with the token percent-encoded.
pub fn stream_path(token: &str) -> String {
    let mut path = String::from("/concert/wating/stream?token=");
    for b in token.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            path.push(b as char);
        } else {
            path.push_str(&format!("%{b:02X}"));
        }
    }
    path
}

/// Whether a `queue` event's ticket says admitted.
pub fn admits(event: &Event) -> bool {
    // Every stream reads a position event per change, all on the generator's one thread
    // while the admitted ones wait behind them: a ticket with no `true` in it (the
    // only boolean is isProcessing) is not decoded at all.
    event.name == "queue"
        && memchr::memmem::find(event.data.as_bytes(), b"true").is_some()
        && serde_json::from_str::<Ticket>(&event.data).is_ok_and(|t| t.is_processing)
}

async fn one_stream(shared: Arc<Shared>, path: String) {
    let c = &shared.counters;
    let permit = shared
        .gate
        .acquire()
        .await
        .expect("the gate is never closed");
    let start = Instant::now();
    let settings = &shared.settings;
    let opened = tokio::time::timeout(settings.open_timeout, async {
        let mut stream = SseStream::open(settings.addr, &settings.host, &path).await?;
        let first = stream.next_event().await?;
        Ok::<_, SseError>((stream, first))
    })
    .await;
    drop(path);
    let took = start.elapsed();
    let opened = {
        let mut rec = shared.opens.lock().expect("no panics while locked");
        match opened {
            Err(_) => {
                rec.failure("timeout");
                None
            }
            Ok(Err(SseError::Status(status))) => {
                rec.answer(status, took);
                None
            }
            Ok(Err(e)) => {
                rec.failure(e.name());
                None
            }
            Ok(Ok((_, None))) => {
                rec.failure("ended_before_first_event");
                None
            }
            Ok(Ok((stream, Some(first)))) => {
                rec.answer(200, took);
                Some((stream, first))
            }
        }
    };
    c.attempts.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    let Some((mut stream, first)) = opened else {
        return;
    };
    c.opened.fetch_add(1, Ordering::Relaxed);
    if admits(&first) {
        c.admitted_at_open.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if first.name == "expired" {
        c.expired.fetch_add(1, Ordering::Relaxed);
        return;
    }
    c.open_now.fetch_add(1, Ordering::Relaxed);
    loop {
        match stream.next_event().await {
            Ok(Some(event)) if admits(&event) => {
                let at = Instant::now();
                c.admitted.fetch_add(1, Ordering::Relaxed);
                // Never full: one place per stream, one admission per stream.
                let _ = shared.admissions.try_send(Admitted { at });
                break;
            }
            Ok(Some(event)) if event.name == "expired" => {
                c.expired.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Ok(Some(_)) => {
                c.updates.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {
                c.ended_by_server.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Err(_) => {
                c.read_errors.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    c.open_now.fetch_sub(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_stream_task_is_small() {
        let (tx, _rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            settings: FleetSettings {
                addr: "127.0.0.1:1".parse().unwrap(),
                host: "h".into(),
                open_at_once: 1,
                open_timeout: Duration::from_secs(1),
            },
            gate: Semaphore::new(1),
            counters: Arc::default(),
            opens: Arc::default(),
            admissions: tx,
        });
        // The task's whole state (about 1.1 KB in a debug build): the 4 KiB read buffer
        // lives on the stack between awaits, so it is not part of a parked stream.
        let task = one_stream(shared, String::new());
        let size = std::mem::size_of_val(&task);
        assert!(size < 2048, "{size} bytes");
    }

    #[test]
    fn paths_and_admissions() {
        assert_eq!(
            stream_path("a-b_c.~"),
            "/concert/wating/stream?token=a-b_c.~"
        );
        assert_eq!(
            stream_path("a/b+c="),
            "/concert/wating/stream?token=a%2Fb%2Bc%3D"
        );
        let queue = |data: &str| Event {
            name: "queue".into(),
            data: data.into(),
        };
        let ticket = |admitted: bool| {
            format!(
                r#"{{"watingNumber":{},"token":"t","isProcessing":{admitted},"userId":"u","estimatedWaitSeconds":null}}"#,
                u8::from(!admitted)
            )
        };
        assert!(admits(&queue(&ticket(true))));
        assert!(!admits(&queue(&ticket(false))));
        assert!(!admits(&Event {
            name: "expired".into(),
            data: ticket(true),
        }));
    }
}
