//! Numbered, append-only schema migrations tracked in `PRAGMA user_version`.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Migration `i + 1` is `MIGRATIONS[i]`. Append only: a shipped script is
/// never edited, since stores in the field already ran it.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_core.sql"),
    include_str!("migrations/0002_records_audit.sql"),
    include_str!("migrations/0003_console_indexes.sql"),
    include_str!("migrations/0004_console_reads.sql"),
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

pub(crate) fn user_version(conn: &Connection) -> Result<u32, rusqlite::Error> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Applies migrations after `user_version` up to `target`, each in its own
/// transaction together with its version bump, so a crash leaves the store
/// at a whole version. `on_create` runs inside migration 1's transaction,
/// which makes marks such as `demo=1` part of the store's creation.
pub(crate) fn migrate(
    conn: &mut Connection,
    path: &Path,
    target: u32,
    on_create: impl FnOnce(&Connection) -> Result<(), rusqlite::Error>,
) -> Result<(), StoreError> {
    let mut on_create = Some(on_create);
    let from = user_version(conn)?;
    let pending = MIGRATIONS
        .iter()
        .zip(1u32..)
        .take(target as usize)
        .skip(from as usize);
    for (script, version) in pending {
        let fail = |source| StoreError::Migration {
            path: path.to_path_buf(),
            version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(fail)?;
        // Another process may have migrated while we waited for the write lock.
        if user_version(&tx).map_err(fail)? >= version {
            continue;
        }
        tx.execute_batch(script).map_err(fail)?;
        if version == 1
            && let Some(create) = on_create.take()
        {
            create(&tx).map_err(fail)?;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(fail)?;
        tx.commit().map_err(fail)?;
    }
    Ok(())
}
