//! The one-engine-per-store lock: an OS file lock on a sidecar `<db>.lock`.
//!
//! The lock, not the file's existence, is what counts: the OS releases it
//! when the holder exits, however it exits (SIGKILL included), so a crash
//! never leaves a stale lock. The file stays behind, holding the last
//! holder's description, which is read only when the lock is refused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// An exclusive lock held for as long as this value lives.
#[derive(Debug)]
pub(crate) struct EngineLock {
    _file: File,
}

/// The sidecar lock file of the database at `db`.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl EngineLock {
    pub(crate) fn acquire(db: &Path) -> Result<EngineLock, StoreError> {
        let path = lock_path(db);
        let io = |action, source| StoreError::Io {
            action,
            path: path.clone(),
            source,
        };
        // No truncate on open: the current holder's description must survive
        // until we own the lock.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io("open the lock file", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                // An unreadable description still refuses the lock; it only
                // makes the message vaguer.
                let holder = match file.read_to_string(&mut holder) {
                    Ok(_) if !holder.trim().is_empty() => holder.trim().to_owned(),
                    _ => "an unknown process".to_owned(),
                };
                return Err(StoreError::Locked {
                    path: db.to_path_buf(),
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io("lock", e)),
        }
        file.set_len(0).map_err(|e| io("write", e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| io("write", e))?;
        file.write_all(holder_description().as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| io("write", e))?;
        Ok(EngineLock { _file: file })
    }
}

/// `pid 1234 (casebridge serve, since 2026-05-01T10:00:00Z)`.
fn holder_description() -> String {
    let mut args = std::env::args_os();
    let program = args
        .next()
        .map(|a| {
            Path::new(&a).file_name().map_or_else(
                || a.to_string_lossy().into_owned(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .unwrap_or_else(|| "casebridge".to_owned());
    // Only the subcommand: other arguments may carry paths or tokens.
    let command = match args.next().map(|a| a.to_string_lossy().into_owned()) {
        Some(sub) if !sub.starts_with('-') => format!("{program} {sub}"),
        _ => program,
    };
    let since = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!("pid {} ({command}, since {since})", std::process::id())
}
