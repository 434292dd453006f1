//! The ServiceNow mirror of onsite tasks and part orders: each store record
//! becomes a record of its own table (names from `[servicenow.mirror]`),
//! related to the case's incident. Off unless configured.
//!
//! Idempotency: a POST that committed but whose answer was lost (a 500 after
//! the commit, a dropped connection) must not make a second record when it
//! is retried (servicenow.md, "duplicate records from a retried POST"). The
//! store keeps no mirror sys_id for a record, so every push first looks the
//! record up by its HPE id (`<hpe_id field>=<task or order id>`) and POSTs
//! only when nothing matches; that lookup, on every push, is the idempotency
//! mechanism. A record found is PATCHed only in the fields that differ, so a
//! repeated push writes nothing and does not move `sys_mod_count`.
//!
//! Crash safety: the store keeps no "not yet mirrored" mark either, so the
//! records [`crate::updates::Applied::changed`] names live only in the
//! caller's memory until pushed. What recovers them is a sweep:
//! [`Mirror::case_items`] for every case with tasks or parts, pushed with
//! [`Mirror::push_all`], after a restart and after a transient failure.
//! A sweep of records already mirrored costs one GET each and no write.
//!
//! Reads from the store ([`Mirror::changed_items`], [`Mirror::case_items`])
//! are synchronous and return plain data, so the pushes (which hold no store
//! reference) can run in any task.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config;
use crate::servicenow::{Display, Query, Record, SnError, TableClient, TableDef};
use crate::store::prelude::*;
use crate::store::{Access, PartRecord, StoreError, TaskRecord};

use super::model::RecordKind;

/// What keeps a record from being mirrored.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("cannot read the store to mirror records to ServiceNow: {0}")]
    Store(#[from] StoreError),
    #[error("case {case_id} is not in the store, so its records cannot be mirrored")]
    NoCase { case_id: i64 },
    #[error(
        "the store has not read incident {number} (case {case_id}) from ServiceNow yet, so its \
         records cannot reference it; the next sweep after the incident is read mirrors them"
    )]
    NoIncident { case_id: i64, number: String },
    #[error("the store has no {} record {record_id} on case {case_id}", kind_name(*.kind))]
    NoRecord {
        kind: RecordKind,
        case_id: i64,
        record_id: i64,
    },
    #[error(
        "ServiceNow table {table} has no field {field}, which the {} mirror writes: fix \
         servicenow.mirror.{key} or add the field to the table",
        kind_name(*.kind)
    )]
    MissingField {
        kind: RecordKind,
        table: String,
        field: String,
        /// The configuration key naming it.
        key: String,
    },
    #[error("cannot mirror {} {hpe_id} to ServiceNow table {table}: {source}", kind_name(*.kind))]
    ServiceNow {
        kind: RecordKind,
        hpe_id: String,
        table: String,
        // Boxed: an SnError is large, and this error is on every return path.
        #[source]
        source: Box<SnError>,
    },
}

impl MirrorError {
    /// Whether trying the same push later may succeed (a rate limit, an
    /// outage): the caller backs off, honouring [`Self::retry_after`].
    /// Anything else needs a fix (names in the config, an ACL) and is
    /// reported.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::ServiceNow { source, .. } if source.is_transient())
    }

    /// How long ServiceNow asked us to wait (a 429 with `Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::ServiceNow { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}

fn kind_name(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Task => "onsite task",
        RecordKind::Part => "part order",
    }
}

/// One store record as its mirror record should read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorItem {
    pub kind: RecordKind,
    pub case_id: i64,
    /// The store's record id.
    pub record_id: i64,
    /// HPE's task or order id: what the mirror record is found by.
    pub hpe_id: String,
    /// (field, value) to write, in configuration order. A field the store
    /// has no value for is absent: it is left as it is in ServiceNow.
    pub values: Vec<(String, String)>,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorOutcome {
    pub kind: RecordKind,
    pub record_id: i64,
    pub hpe_id: String,
    /// The mirror record's sys_id.
    pub sys_id: String,
    pub action: MirrorAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorAction {
    Created,
    /// PATCHed: these fields differed.
    Updated {
        fields: Vec<String>,
    },
    /// Found and already the same: nothing written.
    Unchanged,
}

/// What [`Mirror::push_all`] did.
#[derive(Debug, Default)]
pub struct Sweep {
    pub outcomes: Vec<MirrorOutcome>,
    /// Records refused for a reason a retry does not fix: report them.
    pub failed: Vec<MirrorError>,
    /// The transient error that stopped the sweep: run it again later.
    pub stopped: Option<MirrorError>,
    /// Items not tried because the sweep stopped.
    pub not_tried: usize,
}

/// One mirror table: its definition and configured fields.
#[derive(Debug)]
struct Table {
    def: TableDef,
    /// `task_fields` or `part_fields`: where the names are configured.
    section: &'static str,
    hpe_id: String,
    /// (configuration key, field name) of every configured field.
    fields: Vec<(&'static str, String)>,
}

/// Fields every table has that the mirror reads or orders by.
const SYS_ID: &str = "sys_id";
const SYS_CREATED_ON: &str = "sys_created_on";

impl Table {
    fn new(
        name: &str,
        section: &'static str,
        hpe_id: &str,
        fields: &[(&'static str, &String)],
    ) -> Self {
        let fields: Vec<(&'static str, String)> = fields
            .iter()
            .map(|(key, name)| (*key, (*name).clone()))
            .collect();
        let def = TableDef::with_fields(
            name,
            [SYS_ID, SYS_CREATED_ON]
                .into_iter()
                .chain(fields.iter().map(|(_, f)| f.as_str()))
                .map(str::to_owned),
        );
        Self {
            def,
            section,
            hpe_id: hpe_id.to_owned(),
            fields,
        }
    }

    fn sys_id<'r>(&self, record: &'r Record, method: &str) -> Result<&'r str, SnError> {
        record
            .sys_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| SnError::Protocol {
                action: format!("{method} /api/now/table/{}", self.def.name()),
                reason: "a record came back without its sys_id".to_owned(),
            })
    }

    /// Unknown field names are left out of a record the instance returns,
    /// and ignored in a write: so a configured field missing from `record`
    /// is misnamed, and would otherwise be "different" on every push.
    fn check_fields(&self, kind: RecordKind, record: &Record) -> Result<(), MirrorError> {
        match self.fields.iter().find(|(_, f)| record.raw(f).is_none()) {
            Some((key, field)) => Err(MirrorError::MissingField {
                kind,
                table: self.def.name().to_owned(),
                field: field.clone(),
                key: format!("{}.{key}", self.section),
            }),
            None => Ok(()),
        }
    }
}

/// The case's side of every mirror record.
struct CaseLink {
    incident_sys_id: String,
    case_number: Option<String>,
}

/// Pushes store records to the configured mirror tables.
#[derive(Debug)]
pub struct Mirror {
    client: Arc<TableClient>,
    config: config::Mirror,
    tasks: Table,
    parts: Table,
}

impl Mirror {
    pub fn new(client: Arc<TableClient>, config: &config::Mirror) -> Self {
        let t = &config.task_fields;
        let p = &config.part_fields;
        let tasks = Table::new(
            &config.task_table,
            "task_fields",
            &t.hpe_id,
            &[
                ("hpe_id", &t.hpe_id),
                ("incident", &t.incident),
                ("case_number", &t.case_number),
                ("status", &t.status),
                ("scheduled_start", &t.scheduled_start),
                ("engineer_eta", &t.engineer_eta),
                ("description", &t.description),
            ],
        );
        let parts = Table::new(
            &config.part_table,
            "part_fields",
            &p.hpe_id,
            &[
                ("hpe_id", &p.hpe_id),
                ("incident", &p.incident),
                ("case_number", &p.case_number),
                ("status", &p.status),
                ("part_number", &p.part_number),
                ("part_description", &p.part_description),
                ("quantity", &p.quantity),
                ("carrier", &p.carrier),
                ("tracking_number", &p.tracking_number),
                ("eta", &p.eta),
                ("return_required", &p.return_required),
                ("return_status", &p.return_status),
            ],
        );
        Self {
            client,
            config: config.clone(),
            tasks,
            parts,
        }
    }

    /// The mirror `settings` ask for; `None` when `[servicenow.mirror]` is
    /// absent or not enabled (the default).
    pub fn configured(client: Arc<TableClient>, settings: &config::ServiceNow) -> Option<Self> {
        settings.mirror.as_ref().map(|m| Self::new(client, m))
    }

    fn table(&self, kind: RecordKind) -> &Table {
        match kind {
            RecordKind::Task => &self.tasks,
            RecordKind::Part => &self.parts,
        }
    }

    /// The items for the records one message changed
    /// ([`crate::updates::Applied::changed`] of case `case_id`).
    pub fn changed_items(
        &self,
        store: &impl Access,
        case_id: i64,
        changed: &[(RecordKind, i64)],
    ) -> Result<Vec<MirrorItem>, MirrorError> {
        let link = case_link(store, case_id)?;
        let needs = |kind| changed.iter().any(|(k, _)| *k == kind);
        let tasks = if needs(RecordKind::Task) {
            store.tasks_for_case(case_id)?
        } else {
            Vec::new()
        };
        let parts = if needs(RecordKind::Part) {
            store.parts_for_case(case_id)?
        } else {
            Vec::new()
        };
        changed
            .iter()
            .map(|&(kind, record_id)| {
                let item = match kind {
                    RecordKind::Task => tasks
                        .iter()
                        .find(|t| t.id == record_id)
                        .map(|t| self.task_item(t, &link)),
                    RecordKind::Part => parts
                        .iter()
                        .find(|p| p.id == record_id)
                        .map(|p| self.part_item(p, &link)),
                };
                item.ok_or(MirrorError::NoRecord {
                    kind,
                    case_id,
                    record_id,
                })
            })
            .collect()
    }

    /// The items for every task and part order of case `case_id`: a sweep.
    pub fn case_items(
        &self,
        store: &impl Access,
        case_id: i64,
    ) -> Result<Vec<MirrorItem>, MirrorError> {
        let link = case_link(store, case_id)?;
        let tasks = store.tasks_for_case(case_id)?;
        let parts = store.parts_for_case(case_id)?;
        Ok(tasks
            .iter()
            .map(|t| self.task_item(t, &link))
            .chain(parts.iter().map(|p| self.part_item(p, &link)))
            .collect())
    }

    fn task_item(&self, t: &TaskRecord, link: &CaseLink) -> MirrorItem {
        let f = &self.config.task_fields;
        let values = [
            (&f.hpe_id, Some(t.task_id.clone())),
            (&f.incident, Some(link.incident_sys_id.clone())),
            (&f.case_number, link.case_number.clone()),
            (&f.status, t.status.clone()),
            (&f.scheduled_start, t.scheduled_start.clone()),
            (&f.engineer_eta, t.engineer_eta.clone()),
            (&f.description, t.description.clone()),
        ];
        MirrorItem {
            kind: RecordKind::Task,
            case_id: t.case_id,
            record_id: t.id,
            hpe_id: t.task_id.clone(),
            values: present(values),
        }
    }

    fn part_item(&self, p: &PartRecord, link: &CaseLink) -> MirrorItem {
        let f = &self.config.part_fields;
        let values = [
            (&f.hpe_id, Some(p.order_id.clone())),
            (&f.incident, Some(link.incident_sys_id.clone())),
            (&f.case_number, link.case_number.clone()),
            (&f.status, p.status.clone()),
            (&f.part_number, p.part_number.clone()),
            (&f.part_description, p.part_description.clone()),
            (&f.quantity, p.quantity.map(|q| q.to_string())),
            (&f.carrier, p.carrier.clone()),
            (&f.tracking_number, p.tracking_number.clone()),
            (&f.eta, p.eta.clone()),
            // The platform's boolean spelling.
            (&f.return_required, p.return_required.map(|r| r.to_string())),
            (&f.return_status, p.return_status.clone()),
        ];
        MirrorItem {
            kind: RecordKind::Part,
            case_id: p.case_id,
            record_id: p.id,
            hpe_id: p.order_id.clone(),
            values: present(values),
        }
    }

    /// Makes the mirror record of `item` read as `item` says: looked up by
    /// its HPE id, created when missing, patched in the fields that differ.
    /// Safe to repeat after any failure.
    pub async fn push(&self, item: &MirrorItem) -> Result<MirrorOutcome, MirrorError> {
        let table = self.table(item.kind);
        let failed = |source| MirrorError::ServiceNow {
            kind: item.kind,
            hpe_id: item.hpe_id.clone(),
            table: table.def.name().to_owned(),
            source: Box::new(source),
        };
        // The query refuses an id holding `^` or a control character, which
        // would otherwise change what it matches.
        let query = Query::new()
            .eq(table.hpe_id.clone(), item.hpe_id.clone())
            .order_by(SYS_CREATED_ON)
            .order_by(SYS_ID);
        let fields: Vec<&str> = std::iter::once(SYS_ID)
            .chain(table.fields.iter().map(|(_, f)| f.as_str()))
            .collect();
        let display = Display::VALUES.without_links();
        let found = self
            .client
            .get_records(&table.def, &query, &fields, display)
            .await
            .map_err(failed)?
            .records;
        if found.len() > 1 {
            tracing::warn!(
                table = table.def.name(),
                hpe_id = %item.hpe_id,
                matches = found.len(),
                "several mirror records carry one HPE id; keeping the oldest up to date"
            );
        }
        let outcome = |sys_id: &str, action| MirrorOutcome {
            kind: item.kind,
            record_id: item.record_id,
            hpe_id: item.hpe_id.clone(),
            sys_id: sys_id.to_owned(),
            action,
        };
        let Some(existing) = found.first() else {
            let values = item
                .values
                .iter()
                .map(|(f, v)| (f.clone(), Value::String(v.clone())))
                .collect::<Map<_, _>>();
            let created = self
                .client
                .create_record(&table.def, &values, display)
                .await
                .map_err(failed)?;
            table.check_fields(item.kind, &created)?;
            let sys_id = table.sys_id(&created, "POST").map_err(failed)?;
            return Ok(outcome(sys_id, MirrorAction::Created));
        };
        table.check_fields(item.kind, existing)?;
        let sys_id = table.sys_id(existing, "GET").map_err(failed)?;
        let changes: Map<String, Value> = item
            .values
            .iter()
            .filter(|(f, v)| existing.value(f).unwrap_or_default() != v.as_str())
            .map(|(f, v)| (f.clone(), Value::String(v.clone())))
            .collect();
        if changes.is_empty() {
            return Ok(outcome(sys_id, MirrorAction::Unchanged));
        }
        self.client
            .patch_record(&table.def, sys_id, &changes, display)
            .await
            .map_err(failed)?;
        let fields = changes.keys().cloned().collect();
        Ok(outcome(sys_id, MirrorAction::Updated { fields }))
    }

    /// Pushes `items` in order. A refused record is noted and the rest go
    /// on; a transient error stops the sweep (the rest would meet the same
    /// rate limit or outage), to be run again after a backoff.
    pub async fn push_all(&self, items: &[MirrorItem]) -> Sweep {
        let mut sweep = Sweep::default();
        for (done, item) in items.iter().enumerate() {
            match self.push(item).await {
                Ok(outcome) => sweep.outcomes.push(outcome),
                Err(e) if e.is_transient() => {
                    sweep.stopped = Some(e);
                    sweep.not_tried = items.len() - done - 1;
                    break;
                }
                Err(e) => sweep.failed.push(e),
            }
        }
        sweep
    }
}

/// The (field, value) pairs that have a value.
fn present<const N: usize>(values: [(&String, Option<String>); N]) -> Vec<(String, String)> {
    values
        .into_iter()
        .filter_map(|(field, value)| {
            value
                .filter(|v| !v.trim().is_empty())
                .map(|v| (field.clone(), v))
        })
        .collect()
}

fn case_link(store: &impl Access, case_id: i64) -> Result<CaseLink, MirrorError> {
    let case = store
        .case_by_id(case_id)?
        .ok_or(MirrorError::NoCase { case_id })?;
    let incident =
        store
            .incident_by_number(&case.incident_number)?
            .ok_or(MirrorError::NoIncident {
                case_id,
                number: case.incident_number.clone(),
            })?;
    Ok(CaseLink {
        incident_sys_id: incident.sys_id,
        case_number: case.provider_id,
    })
}
