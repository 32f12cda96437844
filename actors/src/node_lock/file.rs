//! The SQLite lock: an exclusive `flock` on `<database file>.lock`.
//!
//! A file of its own rather than the database file: SQLite takes and drops its own
//! locks on the database and its WAL, and a lock of ours on them would meet those.
//! The kernel drops a `flock` when the process ends however it ends, so a node
//! killed with `kill -9` leaves a stale file but no stale lock. The file holds the
//! holder's pid, for the operator reading the error.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::LockError;
use crate::store::sqlite::SqliteStore;

/// The lock file beside the database `url` names, or `None` for an in-memory
/// database (no other process can open it).
pub(super) fn lock_path(url: &str) -> Result<Option<PathBuf>, LockError> {
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let options =
        SqliteStore::connect_options(url).map_err(|e| LockError::Unavailable(e.to_string()))?;
    let mut name = options.get_filename().as_os_str().to_owned();
    name.push(".lock");
    Ok(Some(PathBuf::from(name)))
}

/// Takes the lock at `path` (creating the file), or says who holds it.
pub(super) fn acquire(path: &Path) -> Result<File, LockError> {
    let unavailable =
        |e: std::io::Error| LockError::Unavailable(format!("{}: {e}", path.display()));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(unavailable)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(LockError::Held {
                what: format!("lock file {}", path.display()),
                by: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" by pid {holder}")
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(unavailable(e)),
    }
    // Ours now: say whose it is (best effort; the lock is what counts).
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        let path = lock_path("sqlite:///var/lib/concert/concert.db?mode=rwc").unwrap();
        assert_eq!(
            path,
            Some(PathBuf::from("/var/lib/concert/concert.db.lock"))
        );
        assert_eq!(lock_path("sqlite::memory:").unwrap(), None);
    }

    #[test]
    fn a_second_lock_on_the_file_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("node-lock-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("concert.db.lock");
        let first = acquire(&path).unwrap();
        let refused = acquire(&path).unwrap_err();
        let message = refused.to_string();
        assert!(
            message.contains("another concert node is serving this database")
                && message.contains(&format!("by pid {}", std::process::id())),
            "{message}"
        );
        drop(first);
        acquire(&path).expect("free again once the holder is gone");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
