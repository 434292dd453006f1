//! The inbox (every body GSEM delivered, committed before it is
//! acknowledged) and the quarantine (what could not be used).

use rusqlite::{Connection, OptionalExtension, Row, params};
use sha2::{Digest, Sha256};

use super::{Access, Insert, StoreError, expect_one};

sql_enum! {
    /// How a body reached us.
    pub enum Via {
        Pull = "pull",
        Push = "push",
    }
}

sql_enum! {
    pub enum InboxState {
        New = "new",
        Processed = "processed",
        Quarantined = "quarantined",
    }
}

sql_enum! {
    pub enum QuarantineState {
        /// Waiting for the operator.
        Open = "open",
        Replayed = "replayed",
        Discarded = "discarded",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    /// Received order.
    pub id: i64,
    pub message_id: Option<String>,
    pub raw: Vec<u8>,
    pub received_at: i64,
    pub via: Via,
    pub state: InboxState,
    pub processed_at: Option<i64>,
}

/// Something to quarantine. [`NewQuarantine::whole`] covers a body held in
/// full; an oversized body gives its first bytes with the size and hash of
/// the whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantine<'a> {
    pub raw: &'a [u8],
    /// Size of the whole body, which may exceed `raw.len()`.
    pub size: u64,
    /// Lower-case hex SHA-256 of the whole body: the dedupe key.
    pub sha256: String,
    pub reason: &'a str,
    pub inbox_id: Option<i64>,
}

impl<'a> NewQuarantine<'a> {
    pub fn whole(raw: &'a [u8], reason: &'a str, inbox_id: Option<i64>) -> NewQuarantine<'a> {
        NewQuarantine {
            raw,
            size: raw.len() as u64,
            sha256: sha256_hex(raw),
            reason,
            inbox_id,
        }
    }
}

/// Lower-case hex SHA-256.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What `quarantine_insert` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineInsert {
    pub id: i64,
    /// False when the same bytes were already quarantined.
    pub new: bool,
    pub delivery_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRow {
    pub id: i64,
    pub sha256: String,
    pub raw: Vec<u8>,
    pub size: u64,
    pub reason: String,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
    pub delivery_count: i64,
    pub inbox_id: Option<i64>,
    pub state: QuarantineState,
}

const INBOX_COLUMNS: &str = "id, message_id, raw, received_at, via, state, processed_at";
const QUARANTINE_COLUMNS: &str = "id, sha256, raw, size, reason, first_seen_at, last_seen_at, \
     delivery_count, inbox_id, state";

fn inbox_row(r: &Row<'_>) -> rusqlite::Result<InboxRow> {
    Ok(InboxRow {
        id: r.get(0)?,
        message_id: r.get(1)?,
        raw: r.get(2)?,
        received_at: r.get(3)?,
        via: r.get(4)?,
        state: r.get(5)?,
        processed_at: r.get(6)?,
    })
}

fn quarantine_row(r: &Row<'_>) -> rusqlite::Result<QuarantineRow> {
    Ok(QuarantineRow {
        id: r.get(0)?,
        sha256: r.get(1)?,
        raw: r.get(2)?,
        size: r.get(3)?,
        reason: r.get(4)?,
        first_seen_at: r.get(5)?,
        last_seen_at: r.get(6)?,
        delivery_count: r.get(7)?,
        inbox_id: r.get(8)?,
        state: r.get(9)?,
    })
}

fn set_inbox_state(c: &Connection, id: i64, state: InboxState, now: i64) -> Result<(), StoreError> {
    let changed = c
        .prepare_cached("UPDATE inbox SET state = ?2, processed_at = ?3 WHERE id = ?1")?
        .execute(params![id, state, now])?;
    expect_one(changed, "inbox message", id)
}

/// Inbox and quarantine.
pub trait InboxOps: Access {
    /// Stores a delivered body. A body whose GSEM `MessageId` is already in
    /// the inbox is a redelivery: `Duplicate` with the first one's id, and
    /// nothing stored. Bodies without a MessageId are always stored.
    fn inbox_insert(
        &self,
        message_id: Option<&str>,
        raw: &[u8],
        via: Via,
        now: i64,
    ) -> Result<Insert, StoreError> {
        self.atomic(|c| {
            // Once per delivery, and the processor's reads once per row:
            // cached, they are parsed once.
            let inserted: Option<i64> = c
                .prepare_cached(
                    "INSERT INTO inbox(message_id, raw, received_at, via, state)
                     VALUES (?1, ?2, ?3, ?4, 'new')
                     ON CONFLICT(message_id) DO NOTHING
                     RETURNING id",
                )?
                .query_row(params![message_id, raw, now, via], |r| r.get(0))
                .optional()?;
            match inserted {
                Some(id) => Ok(Insert::Inserted(id)),
                None => Ok(Insert::Duplicate(c.query_row(
                    "SELECT id FROM inbox WHERE message_id = ?1",
                    [message_id],
                    |r| r.get(0),
                )?)),
            }
        })
    }

    fn inbox_get(&self, id: i64) -> Result<Option<InboxRow>, StoreError> {
        let sql = format!("SELECT {INBOX_COLUMNS} FROM inbox WHERE id = ?1");
        Ok(self.conn().query_row(&sql, [id], inbox_row).optional()?)
    }

    /// The oldest body not yet processed: inbound order is received order.
    fn inbox_next_unprocessed(&self) -> Result<Option<InboxRow>, StoreError> {
        let sql =
            format!("SELECT {INBOX_COLUMNS} FROM inbox WHERE state = 'new' ORDER BY id LIMIT 1");
        Ok(self
            .conn()
            .prepare_cached(&sql)?
            .query_row([], inbox_row)
            .optional()?)
    }

    fn inbox_mark_processed(&self, id: i64, now: i64) -> Result<(), StoreError> {
        set_inbox_state(self.conn(), id, InboxState::Processed, now)
    }

    fn inbox_mark_quarantined(&self, id: i64, now: i64) -> Result<(), StoreError> {
        set_inbox_state(self.conn(), id, InboxState::Quarantined, now)
    }

    /// Quarantines a body, deduplicated by SHA-256: the same bytes again
    /// count one more delivery, move `last_seen_at` and take the latest
    /// reason, but keep the entry's state (a discarded entry stays discarded).
    fn quarantine_insert(
        &self,
        item: &NewQuarantine<'_>,
        now: i64,
    ) -> Result<QuarantineInsert, StoreError> {
        Ok(self.conn().query_row(
            "INSERT INTO quarantine(sha256, raw, size, reason, first_seen_at, last_seen_at,
                 delivery_count, inbox_id, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 1, ?6, 'open')
             ON CONFLICT(sha256) DO UPDATE SET delivery_count = delivery_count + 1,
                 last_seen_at = excluded.last_seen_at, reason = excluded.reason,
                 inbox_id = COALESCE(inbox_id, excluded.inbox_id)
             RETURNING id, delivery_count",
            params![
                item.sha256,
                item.raw,
                item.size,
                item.reason,
                now,
                item.inbox_id
            ],
            |r| {
                let delivery_count: i64 = r.get(1)?;
                Ok(QuarantineInsert {
                    id: r.get(0)?,
                    new: delivery_count == 1,
                    delivery_count,
                })
            },
        )?)
    }

    fn quarantine_get(&self, id: i64) -> Result<Option<QuarantineRow>, StoreError> {
        let sql = format!("SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE id = ?1");
        Ok(self
            .conn()
            .query_row(&sql, [id], quarantine_row)
            .optional()?)
    }

    /// Entries in `state`, oldest first.
    fn quarantine_list(&self, state: QuarantineState) -> Result<Vec<QuarantineRow>, StoreError> {
        let sql = format!(
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE state = ?1 ORDER BY first_seen_at, id"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([state], quarantine_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Entries that hold only the head of a larger body (an oversized push),
    /// newest first: where a redelivery of the same message is looked for,
    /// since its `DeliveryCount`, and so its SHA-256, differ.
    fn quarantine_oversized(&self) -> Result<Vec<QuarantineRow>, StoreError> {
        let sql = format!(
            "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE size > length(raw) ORDER BY id DESC"
        );
        let mut stmt = self.conn().prepare(&sql)?;
        let rows = stmt.query_map([], quarantine_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Marks an entry replayed or discarded (or open again).
    fn quarantine_set_state(&self, id: i64, state: QuarantineState) -> Result<(), StoreError> {
        let changed = self.conn().execute(
            "UPDATE quarantine SET state = ?2 WHERE id = ?1",
            params![id, state],
        )?;
        expect_one(changed, "quarantine entry", id)
    }
}

impl<A: Access> InboxOps for A {}
