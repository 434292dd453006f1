//! The audit log: who did what, when, append only.

use rusqlite::{Row, params};

use super::{Access, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    /// An operator's name, or `engine`.
    pub actor: String,
    pub case_id: Option<i64>,
    pub action: String,
    pub detail: String,
}

fn audit_row(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: r.get(0)?,
        at: r.get(1)?,
        actor: r.get(2)?,
        case_id: r.get(3)?,
        action: r.get(4)?,
        detail: r.get(5)?,
    })
}

/// The audit log.
pub trait AuditOps: Access {
    /// Appends an entry; returns its id.
    fn audit_append(
        &self,
        actor: &str,
        case_id: Option<i64>,
        action: &str,
        detail: &str,
        now: i64,
    ) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "INSERT INTO audit(at, actor, case_id, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING id",
            )?
            .query_row(params![now, actor, case_id, action, detail], |r| r.get(0))?)
    }

    /// A case's audit entries, oldest first.
    fn audit_for_case(&self, case_id: i64) -> Result<Vec<AuditRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, at, actor, case_id, action, detail FROM audit
             WHERE case_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([case_id], audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest `limit` entries, newest first.
    fn audit_recent(&self, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, at, actor, case_id, action, detail FROM audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], audit_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl<A: Access> AuditOps for A {}
