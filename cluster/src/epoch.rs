//! `Epoch`: which claim of a thing a node holds, as a number that only grows.

use std::fmt;

use crate::error::ClusterError;

/// The revision of the KV `create` that won a lease: JetStream's stream sequence, which
/// only grows for the life of the bucket, so a later claim of the same thing always
/// carries a larger epoch. Stored as Postgres `BIGINT`, hence at most `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(u64);

impl Epoch {
    /// Accepts 1 ..= `i64::MAX` (a KV revision is never 0; Postgres stores a signed 64-bit).
    pub fn parse(value: u64) -> Result<Self, ClusterError> {
        if value >= 1 && i64::try_from(value).is_ok() {
            Ok(Self(value))
        } else {
            Err(ClusterError::Invalid(format!(
                "an epoch must be 1 to {}, got {value}",
                i64::MAX
            )))
        }
    }

    /// The epoch as a KV revision.
    pub fn get(self) -> u64 {
        self.0
    }

    /// The epoch as Postgres stores it (`parse` guarantees it fits).
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    /// The epoch Postgres stored; `None` for a value no claim could have written.
    pub(crate) fn from_i64(value: i64) -> Option<Self> {
        u64::try_from(value).ok().and_then(|v| Self::parse(v).ok())
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_fits_in_a_bigint_and_is_never_zero() {
        assert!(Epoch::parse(0).is_err());
        assert!(Epoch::parse(i64::MAX as u64 + 1).is_err());
        assert_eq!(Epoch::parse(7).unwrap().as_i64(), 7);
        assert_eq!(Epoch::from_i64(-1), None);
        assert_eq!(Epoch::from_i64(i64::MAX), Some(Epoch(i64::MAX as u64)));
    }
}
