//! What the drills share: the real `concert` binary as a child process (free port,
//! `/health` before load, SIGKILL), `concert check`, `concert-client` wrapped to tell an
//! answer from a lost request, the contract's error shape, and a seeded RNG.
//!
//! Why one file of ~480 lines: the drills import it as one toolbox; its sections
//! (randomness, the server process, HTTP) are marked below.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use concert_client::{Call, Client, Error, NewSession, Reply, routes};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Held by a drill whose figures a concurrent drill would skew (latency bounds, kills):
/// such drills take turns.
pub static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The binary under test, built by cargo for this test target.
pub const BIN: &str = env!("CARGO_BIN_EXE_concert");

/// The admin key the drills start the server with.
pub const ADMIN_KEY: &str = "drill-admin-key";

/// Prints straight to the process's stderr: libtest captures `eprintln!`, and a drill's
/// seed and figures should show in a passing run too.
pub fn say(line: impl AsRef<str>) {
    let _ = writeln!(std::io::stderr(), "{}", line.as_ref());
}

// ---- randomness ----

/// SplitMix64: small, seedable, and good enough to pick moments and seats.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The drill's seed: `DRILL_SEED` if set (to replay a run), else from the clock.
    pub fn seed(drill: &str) -> u64 {
        let seed = std::env::var("DRILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        say(format!(
            "{drill}: seed {seed} (replay with DRILL_SEED={seed})"
        ));
        seed
    }

    /// A generator for the `n`th worker of a drill seeded with `seed`.
    pub fn fork(seed: u64, n: u64) -> Self {
        let mut rng = Self(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        rng.next();
        rng
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

// ---- the server process ----

/// A scratch folder for server logs, removed unless the test fails.
pub struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    /// A new folder under the temporary directory.
    pub fn new(drill: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("concert-drill-{drill}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create a scratch folder");
        Self { dir }
    }

    /// A path inside it.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            say(format!("drill logs kept in {}", self.dir.display()));
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The environment every drill server gets: nothing inherited from `CONCERT_*`, so a
/// developer's settings cannot change a drill.
fn command(db_url: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("CONCERT_") || key == "RUST_LOG" {
            command.env_remove(key);
        }
    }
    command.env("DATABASE_URL", db_url);
    // No metrics listener unless a drill asks: drills run servers side by side, and the
    // default port would be taken by the first.
    command.env("CONCERT_METRICS_ADDR", "off");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// The `concert` binary, serving.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its log file.
    pub log: PathBuf,
    /// From spawn to the first 200 from `/health`.
    pub startup: Duration,
}

impl Server {
    /// Starts the binary on `db_url` on a free port and waits (at most 60 s) for
    /// `/health`. A port taken between choosing and binding is retried (5 tries).
    pub async fn start(db_url: &str, env: &[(&str, String)], log: &Path) -> Server {
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let started = Instant::now();
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("open the server log");
            let mut child = command(db_url, env)
                .env("CONCERT_ADDR", format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::from(file.try_clone().expect("clone the log handle")))
                .stderr(Stdio::from(file))
                .kill_on_drop(true)
                .spawn()
                .expect("spawn the concert binary");
            let base = format!("http://127.0.0.1:{port}");
            let probe = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .expect("a client");
            let probe = Client::with_http(&base, probe);
            let deadline = started + Duration::from_secs(60);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_failure = format!("exited with {status} before serving");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    panic!(
                        "the server did not answer /health within 60 s; log: {}",
                        tail(log)
                    );
                }
                let healthy = probe.health().await.is_ok();
                if healthy {
                    return Server {
                        child,
                        base,
                        log: log.to_owned(),
                        startup: started.elapsed(),
                    };
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        panic!(
            "the server would not start: {last_failure}; log: {}",
            tail(log)
        );
    }

    /// SIGKILL: no shutdown hook runs, buffered nothing is flushed.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL the server");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the killed server is reaped")
            .expect("wait for the server");
        assert!(!status.success(), "a SIGKILLed process does not exit 0");
    }

    /// Why the process ended, if it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

/// Starts the binary on `db_url` as [`Server::start`] would, for a start that must
/// fail: waits (at most 60 s) for it to exit, and gives its status and its log.
pub async fn start_refused(
    db_url: &str,
    env: &[(&str, String)],
    log: &Path,
) -> (std::process::ExitStatus, String) {
    let file = std::fs::File::create(log).expect("create the server log");
    let mut child = command(db_url, env)
        .env("CONCERT_ADDR", format!("127.0.0.1:{}", free_port()))
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().expect("clone the log handle")))
        .stderr(Stdio::from(file))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the concert binary");
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap_or_else(|_| panic!("the server did not exit within 60 s; log: {}", tail(log)))
        .expect("wait for the server");
    (status, std::fs::read_to_string(log).unwrap_or_default())
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// The last lines of a log, for a failure message.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!("{}:\n{}", log.display(), lines[from..].join("\n"))
}

/// `concert check` on `db_url` with the same limits as the server: (passed, output).
pub async fn concert_check(db_url: &str, env: &[(&str, String)]) -> (bool, String, Duration) {
    let started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        command(db_url, env)
            .arg("check")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("concert check finishes within 120 s")
    .expect("run concert check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text, started.elapsed())
}

// ---- HTTP ----

/// What became of a request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The server answered.
    Http {
        /// Its status.
        status: u16,
        /// Its body (a JSON string value when the body was not JSON).
        body: Value,
        /// From send to the end of the body.
        elapsed: Duration,
    },
    /// No answer: connection refused or cut, or the client's timeout.
    Lost {
        /// The transport's account.
        error: String,
        /// From send to the failure.
        elapsed: Duration,
        /// The client's own timeout fired (the server hung).
        timed_out: bool,
    },
}

impl Answer {
    /// The status, if answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Answer::Http { status, .. } => Some(*status),
            Answer::Lost { .. } => None,
        }
    }

    /// The body of a 2xx answer.
    pub fn ok(&self) -> Option<&Value> {
        match self {
            Answer::Http { status, body, .. } if (200..300).contains(status) => Some(body),
            _ => None,
        }
    }

    /// The body, if answered.
    pub fn body(&self) -> Option<&Value> {
        match self {
            Answer::Http { body, .. } => Some(body),
            Answer::Lost { .. } => None,
        }
    }

    /// How long it took.
    pub fn elapsed(&self) -> Duration {
        match self {
            Answer::Http { elapsed, .. } | Answer::Lost { elapsed, .. } => *elapsed,
        }
    }
}

/// Whether an error answer has the contract's shape: exactly `errorCode` (= the
/// status), a non-empty `msg` and a SCREAMING_SNAKE_CASE `error`.
pub fn contract_error(status: u16, body: &Value) -> bool {
    let Some(object) = body.as_object() else {
        return false;
    };
    object.len() == 3
        && object.get("errorCode") == Some(&json!(status))
        && object
            .get("msg")
            .and_then(Value::as_str)
            .is_some_and(|m| !m.is_empty())
        && object
            .get("error")
            .and_then(Value::as_str)
            .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

/// A client for one running server: `concert-client`'s calls, each answer kept whole
/// (status, JSON body, time) or marked lost, which is what a drill counts.
#[derive(Clone)]
pub struct Api {
    client: Client,
}

impl Api {
    /// A client for `base` whose requests give up after `timeout` (then `Lost`).
    pub fn new(base: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .expect("a client");
        Self {
            client: Client::with_http(base, http),
        }
    }

    async fn send<T: Reply>(&self, call: Call<T>) -> Answer {
        let started = Instant::now();
        match self.client.send_raw(call).await {
            Ok(response) => Answer::Http {
                status: response.status.as_u16(),
                body: serde_json::from_slice(&response.body)
                    .unwrap_or_else(|_| Value::String(response.text())),
                elapsed: started.elapsed(),
            },
            Err(error) => Answer::Lost {
                timed_out: matches!(
                    error,
                    Error::Transport {
                        timed_out: true,
                        ..
                    }
                ),
                error: error.to_string(),
                elapsed: started.elapsed(),
            },
        }
    }

    /// `GET /concert/wating?userId=…`: the user's live token or a new one.
    pub async fn join(&self, user: &str) -> Answer {
        self.send(routes::join(user)).await
    }

    /// `GET /concert/wating` with a token.
    pub async fn poll(&self, token: &str) -> Answer {
        self.send(routes::poll(token)).await
    }

    /// `PATCH /concert/balance`.
    pub async fn charge(&self, token: &str, amount: i64) -> Answer {
        self.send(routes::charge(token, amount)).await
    }

    /// `GET /concert/balance`.
    pub async fn balance(&self, token: &str) -> Answer {
        self.send(routes::balance(token)).await
    }

    /// `POST /concert/reservation`.
    pub async fn hold(&self, token: &str, session: i64, seat: i64) -> Answer {
        self.send(routes::hold(token, session, seat)).await
    }

    /// `POST /concert/payment` with an `Idempotency-Key`.
    pub async fn pay(&self, token: &str, reservation: i64, key: &str) -> Answer {
        self.send(routes::pay(token, reservation, Some(key))).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Answer {
        self.send(routes::health()).await
    }

    /// `GET /concert/seat/{session}`.
    pub async fn seats(&self, session: i64) -> Answer {
        self.send(routes::seats(session)).await
    }

    /// `GET /concert/session/{concert}`.
    pub async fn sessions(&self, concert: i64) -> Answer {
        self.send(routes::sessions(concert)).await
    }

    /// A concert with `sessions` sessions of `seats` seats at `price`: the ids.
    pub async fn add_concert(&self, seats: u32, price: i64, sessions: usize) -> (i64, Vec<i64>) {
        let concert = self
            .client
            .create_concert(ADMIN_KEY, "Drill concert")
            .await
            .unwrap_or_else(|e| panic!("create a concert: {e}"))
            .concert_id;
        let mut ids = Vec::new();
        for day in 0..sessions {
            let session = NewSession {
                date: format!("2024-09-{:02}", day + 1),
                seat_count: i64::from(seats),
                price,
            };
            let created = self
                .client
                .create_session(ADMIN_KEY, concert, &session)
                .await;
            ids.push(
                created
                    .unwrap_or_else(|e| panic!("create a session: {e}"))
                    .session_id,
            );
        }
        (concert, ids)
    }
}

/// The token of a queue answer.
pub fn token_of(body: &Value) -> Option<String> {
    body["token"].as_str().map(str::to_owned)
}

/// `(isProcessing, watingNumber)` of a queue answer.
pub fn queue_state(body: &Value) -> (bool, i64) {
    (
        body["isProcessing"].as_bool().unwrap_or(false),
        body["watingNumber"].as_i64().unwrap_or(-1),
    )
}

/// A duration as milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The users whose acknowledged charges (each amount unique per user) are not all in
/// their ledger: one line per user, empty when every charge is there.
pub async fn charges_missing_from_the_ledger(
    db: &actors::testkit::TestDb,
    charges: &std::collections::BTreeMap<String, Vec<i64>>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (user, amounts) in charges {
        let list: Vec<String> = amounts.iter().map(i64::to_string).collect();
        let found = actors::testkit::query_i64(
            db,
            &format!(
                "SELECT COUNT(*) FROM ledger WHERE user_id = '{user}' AND kind = 'charge' \
                 AND amount IN ({})",
                list.join(", ")
            ),
        )
        .await
        .expect("count charges");
        if found != amounts.len() as i64 {
            problems.push(format!(
                "{user}: {} charges acknowledged, {found} in the ledger",
                amounts.len()
            ));
        }
    }
    problems
}
