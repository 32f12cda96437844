//! The connection caps: at most so many connections in all and from one client address.
//! A connection past either cap is closed as soon as it is accepted, so the server never
//! runs out of descriptors (which would fail `accept` for every client, not just the excess).

use std::net::IpAddr;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The live connections, counted in all and per client address.
#[derive(Clone)]
pub(crate) struct ConnectionCaps {
    total: Arc<Semaphore>,
    // Holds an entry only while its address has a live connection: bounded by `total`.
    per_address: Arc<DashMap<IpAddr, usize>>,
    max_per_address: Option<usize>,
}

/// One admitted connection: frees its places in both caps when dropped.
pub(crate) struct Admitted {
    _total: OwnedSemaphorePermit,
    address: IpAddr,
    per_address: Arc<DashMap<IpAddr, usize>>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The server holds `max_connections` already.
    Full,
    /// This address holds `max_connections_per_ip` already.
    AddressFull,
}

impl ConnectionCaps {
    /// Caps of `max` connections in all and `max_per_address` per client address (`None`: no
    /// per-address cap, e.g. behind a proxy that is the only client).
    pub(crate) fn new(max: usize, max_per_address: Option<usize>) -> Self {
        Self {
            total: Arc::new(Semaphore::new(max)),
            per_address: Arc::new(DashMap::new()),
            max_per_address,
        }
    }

    /// Admits a connection from `address`, or says which cap it is past.
    pub(crate) fn admit(&self, address: IpAddr) -> Result<Admitted, Refused> {
        let total = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        let mut count = self.per_address.entry(address).or_insert(0);
        if self.max_per_address.is_some_and(|max| *count >= max) {
            drop(count);
            // Leave no zero entry behind for an address that holds nothing.
            self.per_address.remove_if(&address, |_, n| *n == 0);
            return Err(Refused::AddressFull);
        }
        *count += 1;
        Ok(Admitted {
            _total: total,
            address,
            per_address: Arc::clone(&self.per_address),
        })
    }

    /// Connections live now.
    #[cfg(test)]
    fn live(&self, address: IpAddr) -> usize {
        self.per_address.get(&address).map_or(0, |n| *n)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(mut count) = self.per_address.get_mut(&self.address) {
            *count -= 1;
        }
        self.per_address.remove_if(&self.address, |_, n| *n == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn one_address_is_held_to_its_cap_while_others_still_connect() {
        let caps = ConnectionCaps::new(10, Some(2));
        let held = [caps.admit(A).unwrap(), caps.admit(A).unwrap()];
        assert_eq!(caps.admit(A).err(), Some(Refused::AddressFull));
        assert!(caps.admit(B).is_ok());
        drop(held);
        assert_eq!(caps.live(A), 0);
        assert!(
            caps.per_address.is_empty(),
            "no entry outlives its connections"
        );
        assert!(caps.admit(A).is_ok());
    }

    #[test]
    fn the_total_cap_counts_every_address_and_frees_on_close() {
        let caps = ConnectionCaps::new(2, None);
        let first = caps.admit(A).unwrap();
        let _second = caps.admit(B).unwrap();
        assert_eq!(caps.admit(B).err(), Some(Refused::Full));
        drop(first);
        assert!(caps.admit(B).is_ok());
        assert_eq!(caps.live(B), 1, "the refused attempt left no count");
    }
}
