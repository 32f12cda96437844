//! [`Store`](super::Store) on PostgreSQL (production).
//! (Being written: see the store helper's task.)

use super::StoreError;

/// The PostgreSQL store.
pub struct PgStore {}

impl PgStore {
    /// Connects and runs `migrations/postgres`.
    pub async fn connect(_url: &str) -> Result<Self, StoreError> {
        todo!()
    }
}
