//! The descriptor limit: raised to the hard limit at start, and the connection cap kept
//! under it, so an idle-connection flood is refused by the cap rather than by `accept`.

/// Descriptors kept free of client connections: the listener, the database pool, logs.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft `RLIMIT_NOFILE` to the hard one and logs both. Returns the soft limit
/// now in force (`None` where it cannot be read).
pub fn raise_descriptor_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft) => {
            let hard = rlimit::Resource::NOFILE.get().map(|(_, hard)| hard).ok();
            tracing::info!(soft, ?hard, "open-file limit raised to the hard limit");
            Some(soft)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            soft_limit()
        }
    }
}

/// The soft `RLIMIT_NOFILE` in force (`None` where it cannot be read).
pub(crate) fn soft_limit() -> Option<u64> {
    rlimit::Resource::NOFILE.get().ok().map(|(soft, _)| soft)
}

/// The connection cap that fits under `soft` descriptors: `wanted`, or less (logged).
pub(crate) fn fit_connection_cap(wanted: usize, soft: Option<u64>) -> usize {
    let Some(soft) = soft else { return wanted };
    let room = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
    if wanted > room {
        tracing::warn!(
            wanted,
            allowed = room.max(1),
            soft,
            "max connections lowered to fit the open-file limit"
        );
        room.max(1)
    } else {
        wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_lowered_under_the_descriptor_limit_only_when_needed() {
        assert_eq!(fit_connection_cap(100, Some(1024)), 100);
        assert_eq!(fit_connection_cap(10_000, Some(1024)), 1024 - 128);
        assert_eq!(fit_connection_cap(10_000, None), 10_000);
    }
}
