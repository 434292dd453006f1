//! The journal of a case: notes and other text in both directions.

use rusqlite::{OptionalExtension, Row, params};

use super::{Access, Insert, StoreError, expect_one};

sql_enum! {
    /// Where an entry was written first.
    pub enum Origin {
        /// By an operator in casebridge.
        Local = "local",
        Hpe = "hpe",
        ServiceNow = "servicenow",
    }
}

sql_enum! {
    /// Delivery state of an entry. Entries tied to an outbox message follow
    /// it: acknowledged → `Sent`, parked → `Failed`, dropped → `Dropped`.
    pub enum JournalState {
        /// Queued to be sent, not yet acknowledged.
        Pending = "pending",
        Sent = "sent",
        /// Its message was refused for good and is parked.
        Failed = "failed",
        /// Its message was dropped by the operator.
        Dropped = "dropped",
        /// Came from HPE or ServiceNow.
        Received = "received",
    }
}

/// A journal entry to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJournal {
    pub case_id: i64,
    pub origin: Origin,
    /// What the entry is: `note`, `resolution`, `closure`, … (free text, for display).
    pub kind: String,
    pub author: String,
    pub text: String,
    /// Event time (§5 of the GSEM spec), unix ms.
    pub event_at: i64,
    /// The id of the entry at its origin (a GSEM MessageId, a ServiceNow
    /// journal sys_id): unique per origin, which makes re-delivery harmless.
    pub remote_id: Option<String>,
    pub state: JournalState,
    /// The outbox message that carries this entry to HPE.
    pub outbox_seq: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub id: i64,
    pub created_at: i64,
    pub entry: NewJournal,
}

/// Journal kind of one update that was not understood: counting these gives
/// the operator "3 updates not understood", and each one reads as its text.
/// Migration 0004's partial index `journal_not_understood` names this value:
/// they change together.
pub const NOT_UNDERSTOOD_KIND: &str = "update_not_understood";

/// Where an entry stands in its case's timeline, which is ordered by event
/// time, ties in insertion order (the `journal_case` index's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct JournalPosition {
    pub event_at: i64,
    pub id: i64,
}

impl JournalPosition {
    /// Before every entry.
    const START: JournalPosition = JournalPosition {
        event_at: i64::MIN,
        id: i64::MIN,
    };
}

const JOURNAL_COLUMNS: &str =
    "id, case_id, origin, kind, author, text, event_at, remote_id, state, outbox_seq, created_at";

fn journal_row(r: &Row<'_>) -> rusqlite::Result<JournalRow> {
    Ok(JournalRow {
        id: r.get(0)?,
        entry: NewJournal {
            case_id: r.get(1)?,
            origin: r.get(2)?,
            kind: r.get(3)?,
            author: r.get(4)?,
            text: r.get(5)?,
            event_at: r.get(6)?,
            remote_id: r.get(7)?,
            state: r.get(8)?,
            outbox_seq: r.get(9)?,
        },
        created_at: r.get(10)?,
    })
}

/// The journal.
pub trait JournalOps: Access {
    /// Inserts an entry, or reports `Duplicate` with the existing entry's id
    /// when one with the same (origin, remote_id) is already there. Entries
    /// without a remote id are always inserted.
    fn journal_insert(&self, entry: &NewJournal, now: i64) -> Result<Insert, StoreError> {
        self.atomic(|c| {
            let inserted: Option<i64> = c
                .prepare_cached(
                    "INSERT INTO journal(case_id, origin, kind, author, text, event_at,
                         remote_id, state, outbox_seq, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(origin, remote_id) DO NOTHING
                     RETURNING id",
                )?
                .query_row(
                    params![
                        entry.case_id,
                        entry.origin,
                        entry.kind,
                        entry.author,
                        entry.text,
                        entry.event_at,
                        entry.remote_id,
                        entry.state,
                        entry.outbox_seq,
                        now
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            match inserted {
                Some(id) => Ok(Insert::Inserted(id)),
                None => Ok(Insert::Duplicate(
                    c.prepare_cached(
                        "SELECT id FROM journal WHERE origin = ?1 AND remote_id = ?2",
                    )?
                    .query_row(params![entry.origin, entry.remote_id], |r| r.get(0))?,
                )),
            }
        })
    }

    /// A case's journal in event order (ties in insertion order).
    fn journal_for_case(&self, case_id: i64) -> Result<Vec<JournalRow>, StoreError> {
        self.journal_for_case_from(case_id, None)
    }

    /// A case's journal in event order from `from` on (the whole of it with
    /// `None`).
    fn journal_for_case_from(
        &self,
        case_id: i64,
        from: Option<JournalPosition>,
    ) -> Result<Vec<JournalRow>, StoreError> {
        let from = from.unwrap_or(JournalPosition::START);
        let sql = format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal
             WHERE case_id = ?1 AND (event_at, id) >= (?2, ?3)
             ORDER BY event_at, id"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(params![case_id, from.event_at, from.id], journal_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Where the newest `entries` entries of a case start (the newest one
    /// at least): the position of the oldest of them, or `None` when the
    /// case has no more than that.
    /// Read from the `journal_case` index alone.
    fn journal_newest_start(
        &self,
        case_id: i64,
        entries: u32,
    ) -> Result<Option<JournalPosition>, StoreError> {
        // Asking for none still shows the newest: a timeline has a start.
        let skip = entries.max(1) - 1;
        let start = self
            .conn()
            .prepare_cached(
                "SELECT event_at, id FROM journal WHERE case_id = ?1
                 ORDER BY event_at DESC, id DESC LIMIT 1 OFFSET ?2",
            )?
            .query_row(params![case_id, skip], |r| {
                Ok(JournalPosition {
                    event_at: r.get(0)?,
                    id: r.get(1)?,
                })
            })
            .optional()?;
        let Some(start) = start else {
            return Ok(None);
        };
        // With exactly `entries` entries the first is the start: no older one
        // is left out, so say so as for fewer.
        let older: bool = self
            .conn()
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM journal
                               WHERE case_id = ?1 AND (event_at, id) < (?2, ?3))",
            )?
            .query_row(params![case_id, start.event_at, start.id], |r| r.get(0))?;
        Ok(older.then_some(start))
    }

    /// How many entries of a case come before `position` (index only).
    fn journal_count_before(
        &self,
        case_id: i64,
        position: JournalPosition,
    ) -> Result<u32, StoreError> {
        let count: i64 = self
            .conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM journal WHERE case_id = ?1 AND (event_at, id) < (?2, ?3)",
            )?
            .query_row(params![case_id, position.event_at, position.id], |r| {
                r.get(0)
            })?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// How many of a case's entries are updates the rules did not
    /// understand (from the partial index `journal_not_understood`).
    fn journal_not_understood_count(&self, case_id: i64) -> Result<u32, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM journal WHERE case_id = ?1 AND kind = '{NOT_UNDERSTOOD_KIND}'"
        );
        let count: i64 = self
            .conn()
            .prepare_cached(&sql)?
            .query_row([case_id], |r| r.get(0))?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    fn journal_by_remote_id(
        &self,
        origin: Origin,
        remote_id: &str,
    ) -> Result<Option<JournalRow>, StoreError> {
        let sql =
            format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE origin = ?1 AND remote_id = ?2");
        Ok(self
            .conn()
            .query_row(&sql, params![origin, remote_id], journal_row)
            .optional()?)
    }

    fn journal_set_state(&self, id: i64, state: JournalState) -> Result<(), StoreError> {
        let changed = self
            .conn()
            .prepare_cached("UPDATE journal SET state = ?2 WHERE id = ?1")?
            .execute(params![id, state])?;
        expect_one(changed, "journal entry", id)
    }
}

impl<A: Access> JournalOps for A {}
