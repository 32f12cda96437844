//! The limits an engine starts with, recorded ([`Store::record_limits`](super::Store::record_limits),
//! its statement in `sql/impl_store.rs`) so that `concert check` judges each hold and
//! admission by the limits in force when it was made (see `invariants::limits`).

/// The configured limits the data must respect: what `CONCERT_MAX_ACTIVE` and
/// `CONCERT_MAX_HOLDS_PER_USER` were when a hold or an admission was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `CONCERT_MAX_ACTIVE`: admitted tokens at once.
    pub max_active: u64,
    /// `CONCERT_MAX_HOLDS_PER_USER`: live holds per user per session.
    pub max_holds_per_user: u64,
}

impl Default for Limits {
    /// The contract's defaults (100 admitted, 4 holds).
    fn default() -> Self {
        Self {
            max_active: 100,
            max_holds_per_user: 4,
        }
    }
}
