//! Which backend a `DATABASE_URL` names: [`open`](super::open) and `concert check`
//! both go by it.

/// The backend a `DATABASE_URL` names, by its scheme: [`open`](super::open) and `concert check`
/// both go by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite:`.
    Sqlite,
}

/// A `DATABASE_URL` of neither backend; names the scheme only (the rest of a URL
/// may carry a password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got {0:?})")]
pub(crate) struct UnknownBackend(pub(crate) String);

impl Backend {
    pub(crate) fn of(url: &str) -> Result<Self, UnknownBackend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(UnknownBackend(scheme.to_owned()))
        }
    }
}
