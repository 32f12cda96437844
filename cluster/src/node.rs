//! `NodeId`: the name a node writes into the leases it holds and the epochs it claims.

use std::fmt;
use std::str::FromStr;

use crate::error::ClusterError;

/// A node's id: 1 to 64 of `A-Z a-z 0-9 _ -` (it is written as a KV value and logged;
/// keeping it to these characters keeps it one token in both).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(Box<str>);

impl NodeId {
    /// The longest node id accepted.
    pub const MAX_LEN: usize = 64;

    /// Accepts 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    pub fn parse(value: &str) -> Result<Self, ClusterError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if (1..=Self::MAX_LEN).contains(&value.len()) && value.chars().all(allowed) {
            Ok(Self(value.into()))
        } else {
            Err(ClusterError::Invalid(format!(
                "a node id must be 1 to {} characters of A-Z a-z 0-9 _ -, got {value:?}",
                Self::MAX_LEN
            )))
        }
    }

    /// A fresh random id, `node-` and 12 hex digits: the default when none is configured,
    /// so a restarted node is a new node (it holds nothing until it claims again).
    pub fn generate() -> Self {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("node-{}", &hex[..12]).into_boxed_str())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeId {
    type Err = ClusterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_id_is_one_token() {
        assert!(NodeId::parse("node-a_1").is_ok());
        assert!(NodeId::parse("").is_err());
        assert!(NodeId::parse("a.b").is_err());
        assert!(NodeId::parse(&"x".repeat(65)).is_err());
        assert!(NodeId::parse(NodeId::generate().as_str()).is_ok());
    }
}
