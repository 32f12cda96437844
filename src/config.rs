//! The server's configuration: one flag per setting, each with an environment fallback.
//!
//! Why one file of ~440 lines: every setting is one documented flag, in one struct that
//! `--help` and the README's table follow; splitting it would scatter that table.
//!
//! The first block is the contract's configuration table, verbatim in names and defaults;
//! the second holds the knobs an operator needs on top of it (timeouts, limits, logging).
//! Everything here is plain data: [`Config::engine`] and [`Config::http`] hand it to the
//! engine and to the HTTP layer, which own the rules.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actors::EngineConfig;
use actors::engine::Limits;
use clap::builder::BoolishValueParser;
use clap::{Parser, Subcommand};

use crate::http::HttpSettings;
use crate::http::door::DoorSettings;
use crate::http::door::identity::{IdentityConfigError, JwtKey, JwtSettings, Verifier};
use crate::http::door::limit::parse_proxy;
use crate::logging::LogFormat;
use crate::metrics::{MetricsAddr, parse_metrics_addr};
use crate::transport::ConnectionLimits;

/// The command line: `concert [FLAGS]` serves (the default); `concert check` verifies
/// the database's invariants and exits.
#[derive(Debug, Clone, Parser)]
#[command(name = "concert", version, about, long_about = None)]
pub struct Cli {
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The server's settings (`check` reads the database, max-active and hold-limit ones).
    #[command(flatten)]
    pub config: Config,
}

/// A subcommand: anything but serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Verify the database's invariants instead of serving.
    ///
    /// Reads the database named by DATABASE_URL in one read-only snapshot (safe beside a
    /// running server) and checks every invariant: no seat held or sold twice, held + sold
    /// within each session's seats, every payment with exactly one debit of its price,
    /// balances equal to their ledgers and never negative, admitted tokens within
    /// max-active, one live token per user, the line served in order, …
    /// Holds and admissions are judged by the limits the server recorded when it started;
    /// --max-active and --max-holds-per-user judge only history from before any record.
    /// Prints each violation on its own line and exits 1 if there is any; otherwise
    /// prints a one-line summary and exits 0. Exits 2 if the database cannot be read.
    Check,
}

/// `concert`: the concert reservation server.
#[derive(Debug, Clone, Parser)]
#[command(name = "concert", version, about, long_about = None)]
pub struct Config {
    // ---- the contract's table ----
    /// Listen address.
    #[arg(long, env = "CONCERT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Database: `sqlite:FILE` (embedded, created if missing) or `postgres://…`.
    // Env value hidden from `--help`: a Postgres URL may carry a password.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite:concert.db",
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Life of an unpaid hold.
    #[arg(long, env = "CONCERT_HOLD_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub hold_ttl: Duration,

    /// How long an admitted token may act.
    #[arg(long, env = "CONCERT_ACTIVE_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub active_ttl: Duration,

    /// Admitted tokens at once.
    #[arg(long, env = "CONCERT_MAX_ACTIVE", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_active: u32,

    /// A waiting token unpolled this long is evicted from the line.
    #[arg(long, env = "CONCERT_WAITING_IDLE", default_value = "60s", value_parser = humantime::parse_duration)]
    pub waiting_idle: Duration,

    /// An admitted token that makes no request this long loses its admission; the next in line is admitted.
    #[arg(long, env = "CONCERT_ADMITTED_IDLE", default_value = "2m", value_parser = humantime::parse_duration)]
    pub admitted_idle: Duration,

    /// Ended (expired or evicted) tokens are deleted this long after they ended.
    #[arg(long, env = "CONCERT_TOKEN_RETENTION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub token_retention: Duration,

    /// Live holds per user per session.
    #[arg(long, env = "CONCERT_MAX_HOLDS_PER_USER", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_holds_per_user: u32,

    /// A payment ends the payer's admission, so the next in line is admitted.
    #[arg(long, env = "CONCERT_EXPIRE_TOKEN_ON_PAYMENT", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub expire_token_on_payment: bool,

    /// Key for the `X-Admin-Key` header; admin routes answer 403 while unset or empty.
    // Hidden from `--help` output so a key set in the environment is never printed.
    #[arg(long, env = "CONCERT_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,

    /// With verified identities (JWT mode), users may still charge their own wallets
    /// (`PATCH /concert/balance`); otherwise it answers 403 and only the operator credits.
    #[arg(long, env = "CONCERT_OPEN_CHARGING", default_value = "false", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub open_charging: bool,

    /// On an empty database, create the demo concert (id 1, six dated sessions of 50 seats).
    #[arg(long, env = "CONCERT_DEMO", default_value = "true", value_parser = BoolishValueParser::new(), action = clap::ArgAction::Set)]
    pub demo: bool,

    // ---- who may join (docs/security.md) ----
    /// JWT mode with HS256: new queue tokens only for an `X-User-Token` signed with this secret.
    // Hidden from `--help` output so a secret set in the environment is never printed.
    #[arg(
        long,
        env = "CONCERT_JWT_SECRET",
        hide_env_values = true,
        conflicts_with = "jwt_public_key"
    )]
    pub jwt_secret: Option<String>,

    /// JWT mode with RS256 or ES256: a PEM file with the public key that verifies `X-User-Token`.
    #[arg(long, env = "CONCERT_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWT mode: the `iss` every user token must carry (unset: not checked).
    #[arg(long, env = "CONCERT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// JWT mode: the `aud` every user token must carry (unset: not checked).
    #[arg(long, env = "CONCERT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// New queue tokens per second per client address; past it 429 (unset: unlimited).
    #[arg(long, env = "CONCERT_JOIN_RATE_PER_IP")]
    pub join_rate_per_ip: Option<NonZeroU32>,

    /// New queue tokens a client address may take at once (unset: twice the rate).
    #[arg(long, env = "CONCERT_JOIN_BURST_PER_IP")]
    pub join_burst_per_ip: Option<NonZeroU32>,

    /// Proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` names the client.
    #[arg(long, env = "CONCERT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Leading zero bits of the proof of work a new queue token needs (0: none).
    #[arg(long, env = "CONCERT_JOIN_POW_BITS", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=32))]
    pub join_pow_bits: u8,

    // ---- operational knobs ----
    /// A request not answered within this time gets 503 (the engine's own call timeouts are shorter).
    #[arg(long, env = "CONCERT_REQUEST_TIMEOUT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// How long a call to an actor may take before it answers 503.
    #[arg(long, env = "CONCERT_CALL_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub call_timeout: Duration,

    /// Largest request body accepted, in bytes; larger gets 413.
    #[arg(long, env = "CONCERT_BODY_LIMIT", default_value_t = 16 * 1024)]
    pub body_limit: usize,

    /// A request body not received in full within this time gets 408 (it then holds no in-flight place).
    #[arg(long, env = "CONCERT_BODY_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,

    /// A request's head must arrive within this time, on a new connection and between keep-alive requests (so also the idle timeout); else the connection is closed.
    #[arg(long, env = "CONCERT_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Connections open at once; past it a new one is closed at accept (lowered to fit the open-file limit).
    #[arg(long, env = "CONCERT_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Connections open at once from one client address (0: no cap, e.g. behind one proxy).
    #[arg(long, env = "CONCERT_MAX_CONNECTIONS_PER_IP", default_value_t = 512)]
    pub max_connections_per_ip: u32,

    /// Requests queued at one actor at most; past it, 503 at once instead of a growing queue.
    #[arg(long, env = "CONCERT_MAILBOX_CAPACITY", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub mailbox_capacity: u32,

    /// Requests handled at once, across all routes; past it, 503 at once instead of a pile of waiting requests.
    #[arg(long, env = "CONCERT_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// Queue and seat streams (SSE) open at once; past it, 503. Each holds a connection: keep it within --max-connections.
    #[arg(long, env = "CONCERT_MAX_STREAMS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,

    /// At most this many admissions per second (unset: as fast as places free up).
    #[arg(long, env = "CONCERT_ADMISSION_RATE")]
    pub admission_rate: Option<NonZeroU32>,

    /// After SIGTERM or ctrl-c, how long in-flight requests may take before the server stops anyway.
    #[arg(long, env = "CONCERT_SHUTDOWN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,

    /// Log filter, in tracing's `EnvFilter` syntax (e.g. `info`, `concert=debug,actors=info`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as text (for people) or JSON (one object per line, the request id in each line of a request).
    #[arg(long, env = "CONCERT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Where Prometheus scrapes `GET /metrics` (never the public port); `off` or empty: no metrics.
    #[arg(long, env = "CONCERT_METRICS_ADDR", default_value = "127.0.0.1:9464", value_parser = parse_metrics_addr)]
    pub metrics_addr: MetricsAddr,

    // ---- cluster mode (docs/scale-out.md) ----
    /// Several nodes on one Postgres and one NATS: `--nats-url` turns it on.
    #[command(flatten)]
    pub cluster: cluster::ClusterArgs,
}

impl Config {
    /// The engine's part of the configuration; the rest of [`EngineConfig`] keeps its defaults.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            hold_ttl: self.hold_ttl,
            active_ttl: self.active_ttl,
            max_active: self.max_active as usize,
            waiting_idle: self.waiting_idle,
            admitted_idle: self.admitted_idle,
            token_retention: self.token_retention,
            max_holds_per_user: self.max_holds_per_user,
            expire_token_on_payment: self.expire_token_on_payment,
            admission_rate_per_sec: self.admission_rate,
            mailbox_capacity: self.mailbox_capacity as usize,
            call_timeout: self.call_timeout,
            max_streams: self.max_streams as usize,
            ..EngineConfig::default()
        }
    }

    /// The limits `concert check` holds the database to: the ones the server enforces.
    pub fn limits(&self) -> Limits {
        Limits {
            max_active: self.max_active.into(),
            max_holds_per_user: self.max_holds_per_user.into(),
        }
    }

    /// JWT mode: identities are verified (`X-User-Token`), not taken from `userId`.
    pub fn identity_verified(&self) -> bool {
        self.jwt_secret
            .as_deref()
            .is_some_and(|secret| !secret.is_empty())
            || self.jwt_public_key.is_some()
    }

    /// The door's part of the configuration: reads the JWT key file, and refuses a key
    /// that cannot verify anything.
    pub fn door(&self) -> Result<DoorSettings, IdentityConfigError> {
        let key = match (&self.jwt_secret, &self.jwt_public_key) {
            (_, Some(path)) => Some(JwtKey::from_pem_file(path).map_err(|error| {
                IdentityConfigError::Key(format!("{}: {error}", path.display()))
            })?),
            (Some(secret), None) if !secret.is_empty() => Some(JwtKey::Secret(secret.clone())),
            _ => None,
        };
        let verifier = key
            .map(|key| {
                Verifier::new(&JwtSettings {
                    key,
                    issuer: self.jwt_issuer.clone(),
                    audience: self.jwt_audience.clone(),
                })
            })
            .transpose()?;
        Ok(DoorSettings {
            verifier: verifier.map(Arc::new),
            join_rate_per_ip: self.join_rate_per_ip,
            join_burst_per_ip: self.join_burst_per_ip,
            trusted_proxies: self.trusted_proxies.clone(),
            pow_bits: self.join_pow_bits,
        })
    }

    /// The HTTP layer's part of the configuration (the door's part: [`Config::door`]).
    pub fn http(&self) -> HttpSettings {
        HttpSettings {
            request_timeout: self.request_timeout,
            body_limit: self.body_limit,
            // An empty key would let an empty header in: the contract treats it as unset.
            admin_key: self.admin_key.clone().filter(|key| !key.is_empty()),
            max_in_flight: self.max_in_flight as usize,
            body_timeout: self.body_timeout,
            connections: ConnectionLimits {
                header_timeout: self.header_timeout,
                max_connections: self.max_connections as usize,
                max_connections_per_ip: Some(self.max_connections_per_ip as usize)
                    .filter(|&max| max > 0),
            },
            door: DoorSettings::default(),
            // Open identities: anyone is anyone, and a charge is a demo's top-up.
            // Verified ones: points are money the operator credits, unless it opens charging.
            charging_open: !self.identity_verified() || self.open_charging,
            streams: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let mut argv = vec!["concert"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv).expect("valid flags")
    }

    #[test]
    fn durations_are_humantime() {
        let config = parse(&["--hold-ttl", "90s", "--active-ttl", "5m"]);
        assert_eq!(config.hold_ttl, Duration::from_secs(90));
        assert_eq!(config.engine().active_ttl, Duration::from_secs(300));
    }

    #[test]
    fn booleans_accept_false_and_zero() {
        let config = parse(&["--demo", "false", "--expire-token-on-payment", "0"]);
        assert!(!config.demo);
        assert!(!config.engine().expire_token_on_payment);
    }

    #[test]
    fn an_empty_admin_key_disables_admin_routes() {
        assert_eq!(parse(&["--admin-key", ""]).http().admin_key, None);
        assert_eq!(
            parse(&["--admin-key", "k"]).http().admin_key.as_deref(),
            Some("k")
        );
    }

    fn cli(args: &[&str]) -> Cli {
        let mut argv = vec!["concert"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).expect("a valid command line")
    }

    #[test]
    fn without_a_subcommand_the_server_serves_with_its_flags() {
        let parsed = cli(&["--addr", "127.0.0.1:9000", "--max-active", "7"]);
        assert_eq!(parsed.command, None);
        assert_eq!(parsed.config.addr.port(), 9000);
        assert_eq!(parsed.config.max_active, 7);
    }

    #[test]
    fn check_reads_the_database_and_limits_given_before_or_after_it() {
        let after = cli(&[
            "check",
            "--database-url",
            "sqlite:x.db",
            "--max-active",
            "3",
        ]);
        assert_eq!(after.command, Some(Command::Check));
        assert_eq!(after.config.database_url, "sqlite:x.db");
        assert_eq!(after.config.limits().max_active, 3);
        let before = cli(&["--max-holds-per-user", "2", "check"]);
        assert_eq!(before.command, Some(Command::Check));
        assert_eq!(before.config.limits().max_holds_per_user, 2);
    }

    #[test]
    fn check_refuses_the_servers_other_flags_after_it() {
        assert!(Cli::try_parse_from(["concert", "check", "--addr", "127.0.0.1:1"]).is_err());
    }

    #[test]
    fn jwt_mode_is_on_with_a_secret_or_a_key_file_and_the_door_reads_its_settings() {
        assert!(!parse(&[]).identity_verified());
        assert!(!parse(&["--jwt-secret", ""]).identity_verified());
        let secret = parse(&[
            "--jwt-secret",
            "s",
            "--join-rate-per-ip",
            "5",
            "--trusted-proxies",
            "10.0.0.0/8,127.0.0.1",
        ]);
        assert!(secret.identity_verified());
        assert!(
            !secret.http().charging_open,
            "JWT mode closes open charging"
        );
        let door = secret.door().unwrap();
        assert!(door.verifier.is_some());
        assert_eq!(door.join_rate_per_ip.map(NonZeroU32::get), Some(5));
        assert_eq!(door.trusted_proxies.len(), 2);
        assert!(
            parse(&["--jwt-public-key", "/nonexistent.pem"])
                .door()
                .is_err()
        );
        assert!(
            Config::try_parse_from(["concert", "--jwt-secret", "s", "--jwt-public-key", "k.pem"])
                .is_err()
        );
        assert!(Config::try_parse_from(["concert", "--trusted-proxies", "nope"]).is_err());
        assert!(Config::try_parse_from(["concert", "--join-pow-bits", "33"]).is_err());
    }

    #[test]
    fn metrics_listen_on_their_own_port_unless_off_and_logs_are_text_unless_json() {
        let defaults = parse(&[]);
        assert_eq!(
            defaults.metrics_addr.0,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(defaults.log_format, LogFormat::Text);
        assert_eq!(parse(&["--metrics-addr", "off"]).metrics_addr.0, None);
        assert_eq!(parse(&["--metrics-addr", ""]).metrics_addr.0, None);
        assert_eq!(parse(&["--log-format", "json"]).log_format, LogFormat::Json);
        assert!(Config::try_parse_from(["concert", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn zero_max_active_is_refused() {
        assert!(Config::try_parse_from(["concert", "--max-active", "0"]).is_err());
    }

    #[test]
    fn connection_limits_reach_the_transport_and_zero_per_ip_means_no_cap() {
        let http = parse(&["--max-connections", "50", "--header-timeout", "2s"]).http();
        assert_eq!(http.connections.max_connections, 50);
        assert_eq!(http.connections.header_timeout, Duration::from_secs(2));
        assert_eq!(http.connections.max_connections_per_ip, Some(512));
        assert_eq!(http.body_timeout, Duration::from_secs(5));
        let open = parse(&["--max-connections-per-ip", "0"]).http();
        assert_eq!(open.connections.max_connections_per_ip, None);
        assert!(Config::try_parse_from(["concert", "--max-connections", "0"]).is_err());
    }

    #[test]
    fn verified_identities_close_charging_unless_it_is_opened() {
        assert!(
            parse(&[]).http().charging_open,
            "open identities: anyone charges"
        );
        assert!(parse(&["--open-charging", "true"]).http().charging_open);
        // JWT mode is the door's part of issue 11: until its flag exists there is no
        // verified identity to judge (this half runs once both are merged).
        let Ok(verified) = Config::try_parse_from(["concert", "--jwt-secret", "s"]) else {
            eprintln!("skipped: no --jwt-secret flag (JWT mode) in this build");
            return;
        };
        assert!(!verified.http().charging_open, "points are credited");
        let open = parse(&["--jwt-secret", "s", "--open-charging", "true"]);
        assert!(open.http().charging_open);
    }

    #[test]
    fn max_in_flight_reaches_the_http_layer_and_zero_is_refused() {
        assert_eq!(parse(&[]).http().max_in_flight, 1024);
        assert_eq!(parse(&["--max-in-flight", "16"]).http().max_in_flight, 16);
        assert!(Config::try_parse_from(["concert", "--max-in-flight", "0"]).is_err());
    }
}
