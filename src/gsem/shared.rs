//! Plumbing the GSEM tasks share: the store behind a mutex, run off the
//! async threads, and the clock in the store's unit.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::store::{Store, StoreError};

/// The store as the GSEM tasks share it. SQLite calls block (a commit waits
/// for the disk), so they run on tokio's blocking pool.
pub type SharedStore = Arc<Mutex<Store>>;

/// The signal that stops the GSEM tasks: send `true`.
pub type Shutdown = watch::Receiver<bool>;

/// Runs `f` with the store on the blocking pool.
pub async fn with_store<T, E, F>(store: &SharedStore, f: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&Store) -> Result<T, E> + Send + 'static,
{
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        // A panic while holding the lock leaves SQLite itself consistent
        // (the transaction rolled back), so the store stays usable.
        let guard = store
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    })
    .await
    // Only a panic in `f` or a runtime shutting down gets here; either way
    // nothing was committed.
    .unwrap_or_else(|join| {
        Err(E::from(StoreError::Io {
            action: "finish a store operation (its thread failed)",
            path: std::path::PathBuf::from("the store"),
            source: std::io::Error::other(join.to_string()),
        }))
    })
}

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::UNIX_EPOCH)
}

/// Whether shutdown was asked for.
pub fn stopping(shutdown: &Shutdown) -> bool {
    *shutdown.borrow()
}

/// Sleeps `duration`, or less if shutdown is asked for; true if stopping.
pub async fn sleep_or_stop(duration: Duration, shutdown: &mut Shutdown) -> bool {
    if stopping(shutdown) {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => stopping(shutdown),
        _ = shutdown.changed() => true,
    }
}
