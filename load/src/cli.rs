//! Command line: the scenario to run and its options, each with an environment fallback.
//!
//! Sizes are `Option`s so that `--quick` can pick small defaults while anything given
//! explicitly still wins; [`Options::sizes`] resolves them.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, Subcommand};

/// Load generator for the concert reservation engine.
#[derive(Debug, Parser)]
#[command(name = "concert-load", version, about, long_about = crate::LONG_ABOUT)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub scenario: Scenario,
    /// Options shared by every scenario.
    #[command(flatten)]
    pub opts: Options,
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Scenario {
    /// C connections on `GET /health`: the yardstick every other HTTP figure is divided by.
    Baseline,
    /// Issue N new tokens as fast as possible, distinct user ids → durable tokens/s.
    Burst,
    /// With N waiting tokens, poll random ones for a duration → polls/s and latencies.
    Poll,
    /// U admitted users storm one 50-seat session with holds; exactly 50 winners or exit 1.
    HotSeat,
    /// Admitted users hold seats across many sessions → committed holds/s; with
    /// --classic-db also the classic one-transaction-per-hold design, for the ratio.
    Spread,
    /// Only the classic design (needs --classic-db): holds as Postgres transactions.
    Classic,
    /// Open N queue streams (SSE), hold them, then admit a few in rounds → open streams,
    /// server memory per stream, admission→event latency.
    Stream,
    /// baseline, hot-seat, spread (+ classic), burst, poll, in that order.
    All,
    /// Only the bare server (`GET /bare` on `concert-bare`), the yardstick of `/bare`.
    Bare,
    /// The regression guard's set: baseline (`/health`), hot-seat, poll, each beside the
    /// bare server, for `--rounds`; with `--reference`, flags ratios that fell.
    Guard,
}

impl Scenario {
    /// Name as used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline",
            Scenario::Burst => "burst",
            Scenario::Poll => "poll",
            Scenario::HotSeat => "hot-seat",
            Scenario::Spread => "spread",
            Scenario::Classic => "classic",
            Scenario::Stream => "stream",
            Scenario::All => "all",
            Scenario::Bare => "bare",
            Scenario::Guard => "guard",
        }
    }
}

/// Options shared by all scenarios.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Server to load; loopback only (127.0.0.0/8, [::1], localhost). Repeat it (or list
    /// several, comma-separated) to load the nodes of a cluster: each connection is pinned
    /// to one node, round-robin, and every report names the nodes; one-off setup requests
    /// (creating a concert, the admin calls) go to the first.
    #[arg(
        long = "target",
        visible_alias = "url",
        global = true,
        env = "CONCERT_LOAD_URL",
        value_delimiter = ',',
        action = ArgAction::Append,
        default_value = "http://127.0.0.1:8080"
    )]
    pub targets: Vec<String>,
    /// Keep-alive connections (and, for classic, Postgres connections) [default: 64; quick: 16].
    #[arg(short, long, global = true, env = "CONCERT_LOAD_CONNECTIONS")]
    pub connections: Option<usize>,
    /// Time bound of each measured phase, e.g. 10s [default: 10s; quick: 1s].
    #[arg(short, long, global = true, env = "CONCERT_LOAD_DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Count bound of each time-bound phase (baseline, poll, hot-seat)
    /// [default: 10000000; quick: 200000].
    #[arg(long, global = true, env = "CONCERT_LOAD_REQUESTS")]
    pub requests: Option<u64>,
    /// Tokens the burst scenario issues [default: 100000; quick: 2000].
    #[arg(long, global = true, env = "CONCERT_LOAD_BURST_TOKENS")]
    pub burst_tokens: Option<u64>,
    /// Waiting tokens the poll scenario polls among [default: 1000000; quick: 5000].
    #[arg(long, global = true, env = "CONCERT_LOAD_POLL_TOKENS")]
    pub poll_tokens: Option<u64>,
    /// Tokens to poll, one per line (e.g. from a burst's --save-tokens): skips most of poll's setup.
    #[arg(long, global = true, env = "CONCERT_LOAD_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// Write every token burst or poll issued to this file, one per line.
    #[arg(long, global = true)]
    pub save_tokens: Option<PathBuf>,
    /// Admitted users for hot-seat and spread (server needs CONCERT_MAX_ACTIVE ≥ this)
    /// [default: 1000; quick: 50].
    #[arg(short, long, global = true, env = "CONCERT_LOAD_USERS")]
    pub users: Option<u64>,
    /// Sessions spread creates [default: 2000; quick: 20].
    #[arg(long, global = true, env = "CONCERT_LOAD_SESSIONS")]
    pub sessions: Option<u64>,
    /// Seats per session for spread and classic.
    #[arg(long, global = true, env = "CONCERT_LOAD_SEATS", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub seats: u32,
    /// The server's CONCERT_ADMIN_KEY (hot-seat and spread create sessions).
    #[arg(long, global = true, env = "CONCERT_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Postgres for the classic design (loopback or Unix socket). It creates a scratch schema
    /// and drops it afterwards. Without it, spread runs without the classic comparison.
    #[arg(
        long,
        global = true,
        env = "CONCERT_LOAD_CLASSIC_DB",
        hide_env_values = true
    )]
    pub classic_db: Option<String>,
    /// Seed for every random choice (which token, user, seat), for reproducible runs.
    #[arg(
        long,
        global = true,
        env = "CONCERT_LOAD_SEED",
        default_value_t = 0x5EED
    )]
    pub seed: u64,
    /// Prefix of the user ids this run creates; default from the clock, so that runs
    /// against the same database never share a user.
    #[arg(long, global = true)]
    pub run_id: Option<String>,
    /// Measure baseline first, so every HTTP figure also has its ratio to baseline.
    #[arg(long, global = true, default_value_t = true, action = ArgAction::Set)]
    pub with_baseline: bool,
    /// Measure baseline again before every HTTP scenario, each ratio against the nearest
    /// baseline before it: steadier ratios on a machine whose load changes within a run.
    #[arg(long, global = true)]
    pub baseline_each: bool,
    /// The bare server every HTTP figure is also divided by: `auto` starts `concert-bare`
    /// (next to this binary) for the run, a loopback URL uses one already running, `off`
    /// measures none. A bare phase runs right before every HTTP scenario.
    #[arg(long, global = true, env = "CONCERT_LOAD_BARE", default_value = "auto",
          value_parser = parse_bare)]
    pub bare: Bare,
    /// Run the plan this many times, each scenario beside its own bare (and baseline)
    /// phase, and report every ratio as the median of the rounds.
    #[arg(long, global = true, env = "CONCERT_LOAD_ROUNDS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=25))]
    pub rounds: u32,
    /// Compare the ratios with the reference table in this Markdown file (the table
    /// headed `| ratio | reference |`, rows `` | `poll_over_bare` | 0.60 | ``, as in
    /// docs/performance.md): a ratio more than 10% below its reference is flagged and
    /// fails the run.
    #[arg(long, global = true)]
    pub reference: Option<PathBuf>,
    /// Smoke run: small sizes and 1 s phases, every scenario in a few seconds.
    #[arg(long, global = true)]
    pub quick: bool,
    /// Write the JSON summary here.
    #[arg(long, global = true)]
    pub json: Option<PathBuf>,
    /// Tokio worker threads of the generator [default: 1; the server needs the other core].
    #[arg(long, global = true, env = "CONCERT_LOAD_THREADS", default_value_t = 1)]
    pub threads: usize,
    /// Give up on one request after this long (counted as a `timeout` error).
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Time bound of each setup phase (issuing tokens, waiting for admission, creating
    /// sessions) [default: 60s; quick: 20s]. Poll at 1,000,000 tokens needs the server to
    /// issue ~17,000 tokens/s to fit; raise it (or use --tokens-file) for a slower server.
    #[arg(long, global = true, value_parser = humantime::parse_duration)]
    pub setup_timeout: Option<Duration>,
    /// PID of the server, to report its resident memory per waiting token (poll).
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// Send each request as from one of this many client addresses (`X-Forwarded-For`,
    /// 10.0.0.0/8 in turn), for a server with a join rate per address that trusts this
    /// machine as a proxy (`CONCERT_TRUSTED_PROXIES=127.0.0.1`). 0: the header is not sent.
    #[arg(
        long,
        global = true,
        env = "CONCERT_LOAD_FORWARDED_FOR",
        default_value_t = 0
    )]
    pub forwarded_for: u32,
    /// Queue streams the stream scenario opens [default: the hard descriptor limit
    /// (`ulimit -Hn`) less 500; quick: 200]. Lowered to fit this process's own limit.
    #[arg(long, global = true, env = "CONCERT_LOAD_STREAMS")]
    pub streams: Option<u64>,
    /// Streams connecting at once while the stream scenario opens them (the ramp).
    #[arg(long, global = true, default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub open_at_once: u32,
    /// Tokens the stream scenario admits per round (each round raises the room's
    /// maxActive by this much) [default: 100; quick: 10].
    #[arg(long, global = true)]
    pub admit: Option<u64>,
    /// Admission rounds of the stream scenario [default: 5; quick: 2].
    #[arg(long, global = true)]
    pub admit_rounds: Option<u64>,
    /// Never draw the progress line (it is already off when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// Where the bare server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bare {
    /// None: no ratios to it.
    Off,
    /// Start `concert-bare` for the run.
    Auto,
    /// One already running at this URL.
    Url(String),
}

fn parse_bare(value: &str) -> Result<Bare, String> {
    match value {
        "off" => Ok(Bare::Off),
        "auto" => Ok(Bare::Auto),
        url => crate::target::Target::parse(url)
            .map(|_| Bare::Url(url.to_string()))
            .map_err(|e| format!("{e:#} (or `auto`, `off`)")),
    }
}

/// Resolved sizes and bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Connections per phase.
    pub connections: usize,
    /// Time bound of each measured phase.
    pub duration: Duration,
    /// Count bound of each time-bound phase.
    pub requests: u64,
    /// Tokens for burst.
    pub burst_tokens: u64,
    /// Waiting tokens for poll.
    pub poll_tokens: u64,
    /// Admitted users for hot-seat and spread.
    pub users: u64,
    /// Sessions for spread and classic.
    pub sessions: u64,
    /// Seats per session for spread and classic.
    pub seats: u32,
    /// Time bound of each setup phase.
    pub setup_timeout: Duration,
    /// Queue streams for the stream scenario.
    pub streams: u64,
    /// Streams connecting at once.
    pub open_at_once: usize,
    /// Tokens admitted per round.
    pub admit: u64,
    /// Admission rounds.
    pub admit_rounds: u64,
}

/// Descriptors the stream scenario leaves below the hard limit by default: the server
/// runs under the same limit and keeps some for its listener, database and logs.
pub const STREAM_MARGIN: u64 = 500;

impl Options {
    /// Sizes, from the options given, else the full or `--quick` defaults.
    pub fn sizes(&self) -> Sizes {
        let q = self.quick;
        let pick = |given: Option<u64>, full: u64, quick: u64| {
            given.unwrap_or(if q { quick } else { full })
        };
        Sizes {
            connections: self.connections.unwrap_or(if q { 16 } else { 64 }).max(1),
            duration: self
                .duration
                .unwrap_or(Duration::from_secs(if q { 1 } else { 10 })),
            requests: pick(self.requests, 10_000_000, 200_000).max(1),
            burst_tokens: pick(self.burst_tokens, 100_000, 2_000),
            poll_tokens: pick(self.poll_tokens, 1_000_000, 5_000).max(1),
            users: pick(self.users, 1_000, 50).max(1),
            sessions: pick(self.sessions, 2_000, 20).max(1),
            seats: self.seats,
            setup_timeout: self.setup_timeout.unwrap_or(Duration::from_secs(if q {
                20
            } else {
                60
            })),
            streams: self
                .streams
                .unwrap_or_else(|| {
                    if q {
                        200
                    } else {
                        crate::procfs::hard_nofile()
                            .map_or(10_000, |hard| hard.saturating_sub(STREAM_MARGIN))
                    }
                })
                .max(1),
            open_at_once: self.open_at_once as usize,
            admit: pick(self.admit, 100, 10).max(1),
            admit_rounds: pick(self.admit_rounds, 5, 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("concert-load").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_and_quick() {
        let cli = parse(&["poll"]);
        assert_eq!(cli.scenario, Scenario::Poll);
        assert!(cli.opts.with_baseline);
        assert_eq!((cli.opts.bare.clone(), cli.opts.rounds), (Bare::Auto, 1));
        let b = parse(&["guard", "--bare", "http://127.0.0.1:9", "--rounds", "3"]).opts;
        assert_eq!(
            (b.bare, b.rounds),
            (Bare::Url("http://127.0.0.1:9".into()), 3)
        );
        assert_eq!(parse(&["poll", "--bare", "off"]).opts.bare, Bare::Off);
        let s = cli.opts.sizes();
        assert_eq!(
            (s.connections, s.poll_tokens, s.users),
            (64, 1_000_000, 1_000)
        );
        assert_eq!(s.duration, Duration::from_secs(10));
        assert_eq!(s.setup_timeout, Duration::from_secs(60));
        let q = parse(&["all", "--quick"]).opts.sizes();
        assert_eq!((q.connections, q.poll_tokens, q.sessions), (16, 5_000, 20));
        assert_eq!(q.duration, Duration::from_secs(1));
        assert_eq!((q.streams, q.admit, q.admit_rounds), (200, 10, 2));
        let st = parse(&["stream", "--streams", "300", "--open-at-once", "8"])
            .opts
            .sizes();
        assert_eq!((st.streams, st.open_at_once, st.admit), (300, 8, 100));
    }

    #[test]
    fn explicit_values_win_over_quick() {
        let cli = parse(&[
            "--quick",
            "hot-seat",
            "-c",
            "8",
            "-d",
            "2500ms",
            "--users",
            "77",
            "--with-baseline",
            "false",
            "--seed",
            "9",
            "--json",
            "/tmp/x.json",
        ]);
        assert_eq!(cli.scenario, Scenario::HotSeat);
        let s = cli.opts.sizes();
        assert_eq!((s.connections, s.users), (8, 77));
        assert_eq!(s.duration, Duration::from_millis(2500));
        assert!(!cli.opts.with_baseline);
        assert_eq!(cli.opts.seed, 9);
        assert_eq!(
            cli.opts.json.as_deref(),
            Some(std::path::Path::new("/tmp/x.json"))
        );
    }

    #[test]
    fn targets_repeat_or_list() {
        let default = parse(&["poll"]).opts.targets;
        assert_eq!(default, ["http://127.0.0.1:8080"]);
        let repeated = parse(&[
            "poll",
            "--target",
            "http://127.0.0.1:1",
            "--target",
            "http://127.0.0.1:2",
            "--url",
            "http://127.0.0.1:3",
        ]);
        assert_eq!(
            repeated.opts.targets,
            [
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:3"
            ]
        );
        let listed = parse(&["--target", "http://127.0.0.1:1,http://127.0.0.1:2", "poll"]);
        assert_eq!(
            listed.opts.targets,
            ["http://127.0.0.1:1", "http://127.0.0.1:2"]
        );
    }

    #[test]
    fn rejects_bad_input() {
        let bad = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("concert-load").chain(args.iter().copied()))
                .is_err()
        };
        assert!(bad(&[]));
        assert!(bad(&["stampede"]));
        assert!(bad(&["poll", "-d", "soon"]));
        assert!(bad(&["spread", "--seats", "0"]));
        assert!(bad(&["burst", "-c", "-3"]));
        assert!(bad(&["poll", "--bare", "http://10.0.0.1:80"]));
        assert!(bad(&["poll", "--rounds", "0"]));
    }

    #[test]
    fn scenario_names_match_the_command_line() {
        for s in [
            Scenario::Baseline,
            Scenario::Burst,
            Scenario::Poll,
            Scenario::HotSeat,
            Scenario::Spread,
            Scenario::Classic,
            Scenario::Stream,
            Scenario::All,
            Scenario::Bare,
            Scenario::Guard,
        ] {
            assert_eq!(parse(&[s.name()]).scenario, s);
        }
    }
}
