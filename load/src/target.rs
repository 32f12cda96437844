//! Where the load goes: the server's address and the classic design's database, both
//! refused unless they are on this machine.
//!
//! A load generator pointed at the wrong host is a denial-of-service tool, so the check
//! is made on the parsed address before any socket is opened, not left to the user.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use hyper::Uri;
use sqlx::postgres::PgConnectOptions;

/// The HTTP server under test: a loopback socket address and the `Host` header to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Address to connect to (always loopback).
    pub addr: SocketAddr,
    /// Value of the `Host` header (hyper's low-level client does not add one).
    pub host_header: String,
    /// The URL as given, for reports.
    pub url: String,
    /// Spread requests over this many client addresses with `X-Forwarded-For` (0: none).
    pub forwarded_for_spread: u32,
}

impl Target {
    /// Parses `http://host[:port][/]`; the host must be `localhost` or a loopback address.
    pub fn parse(url: &str) -> Result<Self> {
        let uri: Uri = url
            .parse()
            .with_context(|| format!("invalid URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!("unsupported scheme {other:?} in {url:?}: only http"),
            None => bail!("URL {url:?} has no scheme: write http://127.0.0.1:8080"),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            bail!("URL {url:?} must be a bare origin (no path or query)");
        }
        let host = uri.host().context("URL has no host")?;
        let ip = loopback_ip(host).with_context(|| {
            format!(
                "refusing to load {host:?}: only loopback targets (127.0.0.0/8, ::1, localhost)"
            )
        })?;
        let port = uri.port_u16().unwrap_or(80);
        let host_header = match uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Ok(Self {
            addr: SocketAddr::new(ip, port),
            host_header,
            url: url.to_string(),
            forwarded_for_spread: 0,
        })
    }
}

/// Parses every `--target` (each as [`Target::parse`]) for a run: at least one, none
/// twice (a node named twice would silently get twice its share of the connections).
pub fn parse_all(urls: &[String], forwarded_for_spread: u32) -> Result<Vec<Target>> {
    if urls.is_empty() {
        bail!("no --target given");
    }
    let mut targets: Vec<Target> = Vec::with_capacity(urls.len());
    for url in urls {
        let mut target = Target::parse(url)?;
        if let Some(same) = targets.iter().find(|t| t.addr == target.addr) {
            bail!("--target {url} names the same node as {}", same.url);
        }
        target.forwarded_for_spread = forwarded_for_spread;
        targets.push(target);
    }
    Ok(targets)
}

/// The loopback address a host names, or `None` if it names anything else.
/// Names other than `localhost` are not resolved: resolution could leave the machine.
fn loopback_ip(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let ip = IpAddr::from_str(bare).ok()?;
    ip.is_loopback().then_some(ip)
}

/// Checks that a Postgres URL names this machine (a loopback host or a Unix socket) and
/// returns its connect options.
pub fn classic_db(url: &str) -> Result<PgConnectOptions> {
    let opts = PgConnectOptions::from_str(url).context("invalid --classic-db URL")?;
    let host = opts.get_host();
    if !host.starts_with('/') && loopback_ip(host).is_none() {
        bail!("refusing --classic-db host {host:?}: only loopback or a Unix socket");
    }
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_forms() {
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(t.host_header, "127.0.0.1:8080");
        assert!(Target::parse("http://localhost:9000/").is_ok());
        assert!(Target::parse("http://127.3.4.5").is_ok());
        assert_eq!(
            Target::parse("http://[::1]:8080").unwrap().addr,
            "[::1]:8080".parse().unwrap()
        );
    }

    #[test]
    fn refuses_everything_else() {
        for url in [
            "http://10.0.0.1:8080",
            "http://192.168.1.2",
            "http://example.com",
            "http://0.0.0.0:8080",
            "https://127.0.0.1",
            "127.0.0.1:8080",
            "http://127.0.0.1:8080/api",
        ] {
            assert!(Target::parse(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn several_targets() {
        let urls = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let t = parse_all(&urls(&["http://127.0.0.1:1", "http://localhost:2"]), 5).unwrap();
        assert_eq!(t.iter().map(|t| t.addr.port()).collect::<Vec<_>>(), [1, 2]);
        assert!(t.iter().all(|t| t.forwarded_for_spread == 5));
        assert!(parse_all(&[], 0).is_err());
        assert!(parse_all(&urls(&["http://127.0.0.1:1", "http://10.0.0.1:2"]), 0).is_err());
        let twice = parse_all(&urls(&["http://127.0.0.1:1", "http://localhost:1/"]), 0);
        assert!(twice.unwrap_err().to_string().contains("same node"));
    }

    #[test]
    fn classic_db_must_be_local() {
        assert!(classic_db("postgres://postgres@127.0.0.1:5432/x").is_ok());
        assert!(classic_db("postgres://postgres@localhost/x").is_ok());
        assert!(classic_db("postgres://postgres@db.example.com/x").is_err());
        assert!(classic_db("postgres://postgres@10.1.1.1/x").is_err());
    }
}
