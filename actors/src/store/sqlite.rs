//! [`Store`](super::Store) on SQLite (the embedded default).
//! (Being written: see the store helper's task.)

use super::StoreError;

/// The SQLite store.
pub struct SqliteStore {}

impl SqliteStore {
    /// Connects and runs `migrations/sqlite`.
    pub async fn connect(_url: &str) -> Result<Self, StoreError> {
        todo!()
    }
}
