//! Systems, incidents as last seen, and cases with their identities.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Access, StoreError, expect_one};

/// SIS states 1 (Not_Entitled) and 7 (Closed) are terminal: such a case is
/// finished and no longer holds its RequesterID.
pub fn is_finished(state: u8) -> bool {
    state == 1 || state == 7
}

/// A system under HPE contract, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSystem {
    pub name: String,
    pub serial: String,
    pub contract: Option<String>,
    pub product_number: Option<String>,
    pub cmdb_ci: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemRow {
    pub id: i64,
    pub system: NewSystem,
}

/// A ServiceNow incident's fields, as read from the Table API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    pub sys_id: String,
    pub number: String,
    pub short_description: String,
    pub description: String,
    pub state: String,
    pub priority: String,
    pub cmdb_ci: Option<String>,
    pub sys_mod_count: i64,
    pub sys_updated_on: String,
    pub raw_json: String,
    /// When casebridge last stored it; ignored by `upsert_incident`, which uses its `now`.
    pub seen_at: i64,
}

/// What `upsert_incident` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentChange {
    Inserted,
    Updated,
    /// Already stored at this `sys_mod_count` or a later one: nothing written.
    Unchanged,
}

/// A case to open. Its tracking number, RequesterID and state 0 are
/// assigned by `create_case`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub incident_number: String,
    pub severity: String,
    pub title: String,
    pub description: String,
    pub system_id: Option<i64>,
    pub opened_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub id: i64,
    pub incident_number: String,
    /// N of the tracking number, counted per incident from 1.
    pub seq: i64,
    /// `<incident number>_<N>`.
    pub tracking_number: String,
    pub requester_id: String,
    /// HPE's case number, once ACCEPT PROBLEM has told it.
    pub provider_id: Option<String>,
    /// Confirmed SIS state, 0-7.
    pub state: u8,
    pub workflow_status: Option<String>,
    pub provider_priority: Option<String>,
    pub severity: String,
    pub title: String,
    pub description: String,
    pub system_id: Option<i64>,
    pub opened_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
}

impl CaseRow {
    pub fn is_finished(&self) -> bool {
        is_finished(self.state)
    }
}

/// Which cases `list_cases` returns; the default is all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseFilter {
    pub unfinished_only: bool,
    pub incident_number: Option<String>,
}

const SYSTEM_COLUMNS: &str = "id, name, serial, contract, product_number, cmdb_ci";
const INCIDENT_COLUMNS: &str = "sys_id, number, short_description, description, state, \
     priority, cmdb_ci, sys_mod_count, sys_updated_on, raw_json, seen_at";
const CASE_COLUMNS: &str = "id, incident_number, seq, tracking_number, requester_id, \
     provider_id, state, workflow_status, provider_priority, severity, title, description, \
     system_id, opened_by, created_at, updated_at, sent_at";

fn system_row(r: &Row<'_>) -> rusqlite::Result<SystemRow> {
    Ok(SystemRow {
        id: r.get(0)?,
        system: NewSystem {
            name: r.get(1)?,
            serial: r.get(2)?,
            contract: r.get(3)?,
            product_number: r.get(4)?,
            cmdb_ci: r.get(5)?,
        },
    })
}

fn incident_row(r: &Row<'_>) -> rusqlite::Result<IncidentRow> {
    Ok(IncidentRow {
        sys_id: r.get(0)?,
        number: r.get(1)?,
        short_description: r.get(2)?,
        description: r.get(3)?,
        state: r.get(4)?,
        priority: r.get(5)?,
        cmdb_ci: r.get(6)?,
        sys_mod_count: r.get(7)?,
        sys_updated_on: r.get(8)?,
        raw_json: r.get(9)?,
        seen_at: r.get(10)?,
    })
}

fn case_row(r: &Row<'_>) -> rusqlite::Result<CaseRow> {
    Ok(CaseRow {
        id: r.get(0)?,
        incident_number: r.get(1)?,
        seq: r.get(2)?,
        tracking_number: r.get(3)?,
        requester_id: r.get(4)?,
        provider_id: r.get(5)?,
        state: r.get(6)?,
        workflow_status: r.get(7)?,
        provider_priority: r.get(8)?,
        severity: r.get(9)?,
        title: r.get(10)?,
        description: r.get(11)?,
        system_id: r.get(12)?,
        opened_by: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        sent_at: r.get(16)?,
    })
}

fn one_case(
    c: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> Result<Option<CaseRow>, StoreError> {
    let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE {condition}");
    Ok(c.prepare_cached(&sql)?
        .query_row(params, case_row)
        .optional()?)
}

/// Runs an `UPDATE cases SET … WHERE id = ?1`, failing if the case does not exist.
fn update_case(
    c: &Connection,
    id: i64,
    set: &str,
    params: impl rusqlite::Params,
) -> Result<(), StoreError> {
    let sql = format!("UPDATE cases SET {set} WHERE id = ?1");
    expect_one(c.prepare_cached(&sql)?.execute(params)?, "case", id)
}

/// Systems, incidents and cases.
pub trait CaseOps: Access {
    /// Inserts or updates a system by its name; returns its id.
    fn upsert_system(&self, system: &NewSystem) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .prepare_cached(
                "INSERT INTO systems(name, serial, contract, product_number, cmdb_ci)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(name) DO UPDATE SET serial = excluded.serial,
                 contract = excluded.contract, product_number = excluded.product_number,
                 cmdb_ci = excluded.cmdb_ci
             RETURNING id",
            )?
            .query_row(
                params![
                    system.name,
                    system.serial,
                    system.contract,
                    system.product_number,
                    system.cmdb_ci
                ],
                |r| r.get(0),
            )?)
    }

    fn system_by_id(&self, id: i64) -> Result<Option<SystemRow>, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems WHERE id = ?1");
        Ok(self
            .conn()
            .prepare_cached(&sql)?
            .query_row([id], system_row)
            .optional()?)
    }

    fn system_by_serial(&self, serial: &str) -> Result<Option<SystemRow>, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems WHERE serial = ?1");
        Ok(self
            .conn()
            .query_row(&sql, [serial], system_row)
            .optional()?)
    }

    /// All systems, by name.
    fn list_systems(&self) -> Result<Vec<SystemRow>, StoreError> {
        let sql = format!("SELECT {SYSTEM_COLUMNS} FROM systems ORDER BY name");
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map([], system_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores an incident as seen at `now`. An incident already stored at
    /// the same or a later `sys_mod_count` is left alone (`Unchanged`): a
    /// poll that overlaps the last one, or a stale page, writes nothing.
    fn upsert_incident(&self, inc: &IncidentRow, now: i64) -> Result<IncidentChange, StoreError> {
        self.atomic(|c| {
            let stored: Option<i64> = c
                .prepare_cached("SELECT sys_mod_count FROM incidents WHERE sys_id = ?1")?
                .query_row([&inc.sys_id], |r| r.get(0))
                .optional()?;
            let change = match stored {
                Some(count) if inc.sys_mod_count <= count => return Ok(IncidentChange::Unchanged),
                Some(_) => IncidentChange::Updated,
                None => IncidentChange::Inserted,
            };
            c.prepare_cached(
                "INSERT INTO incidents(sys_id, number, short_description, description, state,
                     priority, cmdb_ci, sys_mod_count, sys_updated_on, raw_json, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(sys_id) DO UPDATE SET number = excluded.number,
                     short_description = excluded.short_description,
                     description = excluded.description, state = excluded.state,
                     priority = excluded.priority, cmdb_ci = excluded.cmdb_ci,
                     sys_mod_count = excluded.sys_mod_count,
                     sys_updated_on = excluded.sys_updated_on,
                     raw_json = excluded.raw_json, seen_at = excluded.seen_at",
            )?
            .execute(params![
                inc.sys_id,
                inc.number,
                inc.short_description,
                inc.description,
                inc.state,
                inc.priority,
                inc.cmdb_ci,
                inc.sys_mod_count,
                inc.sys_updated_on,
                inc.raw_json,
                now
            ])?;
            Ok(change)
        })
    }

    fn incident_by_number(&self, number: &str) -> Result<Option<IncidentRow>, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE number = ?1");
        Ok(self
            .conn()
            .query_row(&sql, [number], incident_row)
            .optional()?)
    }

    fn incident_by_sys_id(&self, sys_id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM incidents WHERE sys_id = ?1");
        Ok(self
            .conn()
            .query_row(&sql, [sys_id], incident_row)
            .optional()?)
    }

    /// Opens a case in state 0. N is the incident's highest N plus one,
    /// allocated in the same write transaction as the insert, so concurrent
    /// processes never get the same one. The RequesterID is the incident
    /// number, unless an unfinished case already holds it: then the
    /// tracking number.
    fn create_case(&self, new: &NewCase, now: i64) -> Result<CaseRow, StoreError> {
        self.atomic(|c| {
            let seq: i64 = c
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM cases WHERE incident_number = ?1",
                )?
                .query_row([&new.incident_number], |r| r.get(0))?;
            let tracking_number = format!("{}_{seq}", new.incident_number);
            let held: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM cases
                     WHERE requester_id = ?1 AND state NOT IN (1, 7))",
                )?
                .query_row([&new.incident_number], |r| r.get(0))?;
            let requester_id = if held {
                &tracking_number
            } else {
                &new.incident_number
            };
            let sql = format!(
                "INSERT INTO cases(incident_number, seq, tracking_number, requester_id, state,
                     severity, title, description, system_id, opened_by, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                 RETURNING {CASE_COLUMNS}"
            );
            Ok(c.prepare_cached(&sql)?.query_row(
                params![
                    new.incident_number,
                    seq,
                    tracking_number,
                    requester_id,
                    new.severity,
                    new.title,
                    new.description,
                    new.system_id,
                    new.opened_by,
                    now
                ],
                case_row,
            )?)
        })
    }

    fn case_by_id(&self, id: i64) -> Result<Option<CaseRow>, StoreError> {
        one_case(self.conn(), "id = ?1", [id])
    }

    fn case_by_tracking_number(
        &self,
        tracking_number: &str,
    ) -> Result<Option<CaseRow>, StoreError> {
        one_case(self.conn(), "tracking_number = ?1", [tracking_number])
    }

    /// The case paired with HPE case number `provider_id`.
    fn case_by_provider_id(&self, provider_id: &str) -> Result<Option<CaseRow>, StoreError> {
        one_case(self.conn(), "provider_id = ?1", [provider_id])
    }

    /// The unfinished case with this RequesterID and no HPE case number yet:
    /// the match for an inbound message that carries no known ProviderID.
    fn unfinished_case_by_requester_id_without_provider(
        &self,
        requester_id: &str,
    ) -> Result<Option<CaseRow>, StoreError> {
        one_case(
            self.conn(),
            "requester_id = ?1 AND state NOT IN (1, 7) AND provider_id IS NULL",
            [requester_id],
        )
    }

    /// Records HPE's case number. Fails with `ProviderIdInUse` if another
    /// case already has it.
    fn set_case_provider_id(&self, id: i64, provider_id: &str, now: i64) -> Result<(), StoreError> {
        self.atomic(|c| {
            let holder: Option<String> = c
                .prepare_cached(
                    "SELECT tracking_number FROM cases WHERE provider_id = ?1 AND id != ?2",
                )?
                .query_row(params![provider_id, id], |r| r.get(0))
                .optional()?;
            if let Some(tracking_number) = holder {
                return Err(StoreError::ProviderIdInUse {
                    provider_id: provider_id.to_owned(),
                    tracking_number,
                });
            }
            update_case(
                c,
                id,
                "provider_id = ?2, updated_at = ?3",
                params![id, provider_id, now],
            )
        })
    }

    /// Sets the confirmed SIS state (0-7). Reopening a finished case fails
    /// if another unfinished case now holds its RequesterID.
    fn set_case_state(&self, id: i64, state: u8, now: i64) -> Result<(), StoreError> {
        update_case(
            self.conn(),
            id,
            "state = ?2, updated_at = ?3",
            params![id, state, now],
        )
    }

    /// Sets HPE's status text and/or priority; `None` leaves a field as is.
    fn set_case_hpe_status(
        &self,
        id: i64,
        workflow_status: Option<&str>,
        provider_priority: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        update_case(
            self.conn(),
            id,
            "workflow_status = COALESCE(?2, workflow_status),
             provider_priority = COALESCE(?3, provider_priority), updated_at = ?4",
            params![id, workflow_status, provider_priority, now],
        )
    }

    /// Records when the case's SERVICE REQUEST was acknowledged by GSEM.
    fn set_case_sent_at(&self, id: i64, sent_at: i64) -> Result<(), StoreError> {
        update_case(
            self.conn(),
            id,
            "sent_at = ?2, updated_at = MAX(updated_at, ?2)",
            params![id, sent_at],
        )
    }

    /// Cases matching `filter`, oldest first.
    fn list_cases(&self, filter: &CaseFilter) -> Result<Vec<CaseRow>, StoreError> {
        self.list_cases_page(filter, 0, None)
    }

    /// Up to `limit` (`None`: all) of the cases matching `filter` with ids
    /// above `after`, oldest first: read a page at a time, every case costs
    /// a page's hold of the store at a time.
    fn list_cases_page(
        &self,
        filter: &CaseFilter,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Vec<CaseRow>, StoreError> {
        let sql = format!(
            "SELECT {CASE_COLUMNS} FROM cases
             WHERE (?1 = 0 OR state NOT IN (1, 7)) AND (?2 IS NULL OR incident_number = ?2)
                 AND id > ?3
             ORDER BY id LIMIT ?4"
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        // A negative LIMIT is none in SQLite.
        let limit = limit.map_or(-1, i64::from);
        let rows = stmt.query_map(
            params![filter.unfinished_only, filter.incident_number, after, limit],
            case_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl<A: Access> CaseOps for A {}
