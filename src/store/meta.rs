//! Small named values the engine keeps between runs (the ServiceNow poll
//! watermark, …) in the `meta` table, beside the store's own marks.

use rusqlite::{OptionalExtension, params};

use super::{Access, StoreError};

/// Keys the store itself writes when it is created: never set by callers,
/// since changing them would change what kind of store this is.
pub const RESERVED_META_KEYS: &[&str] = &["created_by", "demo"];

/// The `meta` table.
pub trait MetaOps: Access {
    /// The value stored under `key`, if any.
    fn meta_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Stores `value` under `key`, replacing what was there. The store's own
    /// keys ([`RESERVED_META_KEYS`]) are refused.
    fn meta_set(&self, key: &str, value: &str) -> Result<(), StoreError> {
        if RESERVED_META_KEYS.contains(&key) {
            return Err(StoreError::ReservedMetaKey {
                key: key.to_owned(),
            });
        }
        self.conn()
            .prepare_cached(
                "INSERT INTO meta(key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }
}

impl<A: Access> MetaOps for A {}
