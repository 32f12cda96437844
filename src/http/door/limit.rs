//! The join rate per client address: a token bucket (governor's GCRA) per address on
//! issuing new queue tokens, and the client address itself (the socket's peer, or
//! `X-Forwarded-For` when the peer is a trusted proxy).

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

/// Addresses tracked at most. Past it (after dropping every full bucket), a new
/// address is refused rather than the map grown: ~100 bytes per address, so ~10 MB.
pub const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// Joins between two sweeps of full buckets: keeps the sweep (a pass over the map)
/// off almost every join while bounding what idle addresses cost.
const SWEEP_EVERY_JOINS: u32 = 4096;

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// When the address may join again.
    pub retry_after: Duration,
}

/// Per-address buckets of new tokens.
pub struct JoinLimit<C: Clock = DefaultClock> {
    limiter: RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, C, NoOpMiddleware<C::Instant>>,
    joins_since_sweep: AtomicU32,
    max_addresses: usize,
}

impl<C: Clock> std::fmt::Debug for JoinLimit<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinLimit")
            .field("tracked", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl JoinLimit {
    /// `rate` new tokens per second per address, in bursts of up to `burst`.
    pub fn new(rate: NonZeroU32, burst: NonZeroU32) -> Self {
        Self::with_clock(rate, burst, DefaultClock::default(), MAX_TRACKED_ADDRESSES)
    }
}

impl<C: Clock> JoinLimit<C> {
    /// As [`JoinLimit::new`], on `clock`, tracking at most `max_addresses`.
    pub fn with_clock(rate: NonZeroU32, burst: NonZeroU32, clock: C, max_addresses: usize) -> Self {
        let quota = Quota::per_second(rate).allow_burst(burst);
        Self {
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock),
            joins_since_sweep: AtomicU32::new(0),
            max_addresses,
        }
    }

    /// Takes one new token from `address`'s bucket.
    pub fn check(&self, address: IpAddr) -> Result<(), Refused> {
        let key = bucket_key(address);
        if self.joins_since_sweep.fetch_add(1, Ordering::Relaxed) >= SWEEP_EVERY_JOINS {
            self.sweep();
        }
        if self.limiter.len() >= self.max_addresses {
            self.sweep();
            if self.limiter.len() >= self.max_addresses {
                // Full of addresses that joined within one refill of their bucket: a
                // flood from many addresses. Memory stays bounded: every join waits
                // until buckets refill and the sweep frees room.
                return Err(Refused {
                    retry_after: Duration::from_secs(1),
                });
            }
        }
        self.limiter.check_key(&key).map_err(|not_until| Refused {
            retry_after: not_until.wait_time_from(self.limiter_clock_now()),
        })
    }

    /// Drops buckets that have refilled completely: they say nothing a fresh one would not.
    fn sweep(&self) {
        self.joins_since_sweep.store(0, Ordering::Relaxed);
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    fn limiter_clock_now(&self) -> C::Instant {
        self.limiter.clock().now()
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// One bucket per IPv4 address, and per /64 for IPv6: a single host is usually given a
/// whole /64, so per-address buckets would give it 2^64 of them.
fn bucket_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// The proxies given as IPs or CIDRs.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the
    /// right-most address of `X-Forwarded-For` that is not itself a trusted proxy (the
    /// left part of the header is whatever the client sent, so it is never believed).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(address) => {
                    client = address;
                    if !self.trusts(address) {
                        break;
                    }
                }
                // A garbled hop: the last good one is the best we know.
                Err(_) => break,
            }
        }
        client
    }
}

/// Parses one `CONCERT_TRUSTED_PROXIES` entry: an IP or a CIDR.
pub fn parse_proxy(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{text:?} is not an IP address or CIDR"))
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_past_its_burst_waits_for_the_rate_then_joins_again() {
        let clock = FakeRelativeClock::default();
        let limit = JoinLimit::with_clock(nz(5), nz(2), clock.clone(), 10);
        let one = ip("10.0.0.1");
        assert_eq!(limit.check(one), Ok(()));
        assert_eq!(limit.check(one), Ok(()));
        let refused = limit.check(one).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(200));
        // Another address has its own bucket.
        assert_eq!(limit.check(ip("10.0.0.2")), Ok(()));
        clock.advance(Duration::from_millis(199));
        assert!(limit.check(one).is_err());
        clock.advance(Duration::from_millis(1));
        assert_eq!(limit.check(one), Ok(()));
    }

    #[test]
    fn tracked_addresses_are_bounded_and_full_buckets_swept() {
        let clock = FakeRelativeClock::default();
        let limit = JoinLimit::with_clock(nz(1), nz(1), clock.clone(), 3);
        for n in 1..=3 {
            assert!(limit.check(ip(&format!("10.0.0.{n}"))).is_ok());
        }
        assert!(limit.check(ip("10.0.0.4")).is_err(), "full: refused");
        assert_eq!(limit.tracked(), 3);
        // governor keeps a bucket one emission interval past its refill.
        clock.advance(Duration::from_secs(2));
        assert!(
            limit.check(ip("10.0.0.4")).is_ok(),
            "refilled buckets swept"
        );
        assert_eq!(limit.tracked(), 1);
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        assert_eq!(
            bucket_key(ip("2001:db8::1")),
            bucket_key(ip("2001:db8::ffff:2"))
        );
        assert_ne!(
            bucket_key(ip("2001:db8::1")),
            bucket_key(ip("2001:db8:0:1::1"))
        );
        assert_eq!(bucket_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::new(vec![
            parse_proxy("10.0.0.0/8").unwrap(),
            parse_proxy("192.168.1.1").unwrap(),
        ]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.1.1.1".parse().unwrap(),
        );
        assert_eq!(proxies.client(ip("8.8.8.8"), &headers), ip("8.8.8.8"));
        assert_eq!(proxies.client(ip("192.168.1.1"), &headers), ip("1.2.3.4"));
        assert_eq!(
            proxies.client(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(proxies.client(ip("10.0.0.5"), &headers), ip("10.0.0.5"));
        assert!(parse_proxy("nope").is_err());
    }
}
