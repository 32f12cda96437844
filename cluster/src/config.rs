//! Cluster settings: the command line and environment (`ClusterArgs`, for the server to
//! flatten into its own), and the validated `LeaseConfig` they make.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ClusterError;
use crate::node::NodeId;
use crate::timing::LeaseTiming;

/// A KV bucket's name: 1 to 64 of `A-Z a-z 0-9 _ -` (JetStream's rule, the stream being
/// `KV_<bucket>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(Box<str>);

impl BucketName {
    /// Accepts 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    pub fn parse(value: &str) -> Result<Self, ClusterError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if (1..=64).contains(&value.len()) && value.chars().all(allowed) {
            Ok(Self(value.into()))
        } else {
            Err(ClusterError::Invalid(format!(
                "a bucket name must be 1 to 64 characters of A-Z a-z 0-9 _ -, got {value:?}"
            )))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BucketName {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Everything a [`crate::Leases`] needs, validated.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// The bucket every node of the cluster shares.
    pub bucket: BucketName,
    /// This node.
    pub node: NodeId,
    /// TTL and safety margin.
    pub timing: LeaseTiming,
    /// How many leases this node may hold at once; a claim past it is refused.
    pub max_leases: usize,
}

/// Cluster mode's settings. `nats_url` turns it on; the rest have defaults.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// NATS server (with JetStream) to form a cluster on, e.g. nats://127.0.0.1:4222.
    /// Unset: a single node, as before.
    #[arg(long, env = "CONCERT_NATS_URL")]
    pub nats_url: Option<String>,

    /// This node's id, unique among the running nodes (default: a random one, so a
    /// restarted node is a new node).
    #[arg(long, env = "CONCERT_NODE_ID")]
    pub node_id: Option<NodeId>,

    /// How long a lease outlives its holder's last renewal: failover takes about this.
    /// Every node of a cluster must use the same (the bucket's max_age; a node started
    /// with another refuses to start).
    #[arg(long, env = "CONCERT_LEASE_TTL", default_value = "3s", value_parser = humantime::parse_duration)]
    pub lease_ttl: Duration,

    /// How much sooner than the TTL a holder stops serving when its renewals fail (see
    /// docs/scale-out.md for the arithmetic).
    #[arg(long, env = "CONCERT_LEASE_SAFETY_MARGIN", default_value = "750ms", value_parser = humantime::parse_duration)]
    pub lease_safety_margin: Duration,

    /// The most leases (sessions, rooms and wallets owned) one node holds at once.
    #[arg(long, env = "CONCERT_MAX_LEASES", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_leases: u32,

    /// The JetStream KV bucket of the leases; also names the subject requests are
    /// forwarded to the owner on (`concert.<bucket>.owner`).
    #[arg(long, env = "CONCERT_LEASE_BUCKET", default_value = "concert_leases")]
    pub lease_bucket: BucketName,

    /// How long a node waits for the owner's answer to a forwarded request before it
    /// answers 503 `OWNER_UNREACHABLE` (the request may still complete on the owner).
    #[arg(long, env = "CONCERT_FORWARD_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub forward_timeout: Duration,

    /// Forwarded requests in flight from one node at most; past it, 503 `OVERLOADED`.
    #[arg(long, env = "CONCERT_MAX_FORWARDS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_forwards: u32,
}

impl ClusterArgs {
    /// The lease settings, or `None` when cluster mode is off (no NATS URL).
    pub fn lease_config(&self) -> Result<Option<LeaseConfig>, ClusterError> {
        if self.nats_url.is_none() {
            return Ok(None);
        }
        Ok(Some(LeaseConfig {
            bucket: self.lease_bucket.clone(),
            node: self.node_id.clone().unwrap_or_else(NodeId::generate),
            timing: LeaseTiming::new(self.lease_ttl, self.lease_safety_margin)?,
            max_leases: self.max_leases as usize,
        }))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cluster: ClusterArgs,
    }

    #[test]
    fn without_a_nats_url_cluster_mode_is_off() {
        let cli = Cli::try_parse_from(["concert"]).unwrap();
        assert!(cli.cluster.lease_config().unwrap().is_none());
    }

    #[test]
    fn the_defaults_make_a_valid_lease_config() {
        let cli = Cli::try_parse_from(["concert", "--nats-url", "nats://127.0.0.1:4222"]).unwrap();
        let config = cli.cluster.lease_config().unwrap().unwrap();
        assert_eq!(config.bucket.as_str(), "concert_leases");
        assert_eq!(config.timing.lease_ttl(), Duration::from_secs(3));
        assert!(config.node.as_str().starts_with("node-"));
    }

    #[test]
    fn a_margin_too_thin_for_the_ttl_is_refused_at_start() {
        let cli = Cli::try_parse_from([
            "concert",
            "--nats-url",
            "nats://x",
            "--lease-ttl",
            "10s",
            "--lease-safety-margin",
            "50ms",
        ])
        .unwrap();
        assert!(matches!(
            cli.cluster.lease_config(),
            Err(ClusterError::Invalid(_))
        ));
        assert!(Cli::try_parse_from(["concert", "--lease-bucket", "a.b"]).is_err());
    }
}
