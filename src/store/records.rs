//! Onsite tasks and part orders parsed from HPE's updates, each with a
//! timeline of events.
//!
//! Rules, the same for both kinds of record:
//! - A record is keyed by (case, task id | order id); the first update
//!   creates it.
//! - An event is keyed by (record, status, event time): a repeat adds
//!   nothing and changes nothing.
//! - Events sort by their parsed event time; one without a parsed time sorts
//!   at the time it was received (the GSEM spec's fallback for event time),
//!   ties by arrival. The record's status is that of the last event in this
//!   order, so an older update arriving late never moves a status back.
//! - An update's non-empty fields overwrite the record's when the update is
//!   not older than the newest one applied; an older update only fills
//!   fields that are still empty.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::{Access, Insert, StoreError};

/// One onsite-task update. Empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskUpdate {
    pub task_id: String,
    /// Canonical status (`scheduled`, `dispatched`, `onsite`, `complete`,
    /// `cancelled`) or HPE's word verbatim; `None`: no timeline event.
    pub status: Option<String>,
    /// False when `status` is a word the rules do not know.
    pub status_known: bool,
    pub scheduled_start: Option<String>,
    pub engineer_eta: Option<String>,
    pub description: Option<String>,
    pub completion: Option<String>,
    /// The event time as given (normalised when parseable).
    pub event_time: Option<String>,
    /// `event_time` parsed, unix ms; `None` when it did not parse.
    pub event_at_ms: Option<i64>,
    /// The original text of the update.
    pub raw_text: Option<String>,
    pub inbox_id: Option<i64>,
}

/// One part-order update. Empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartUpdate {
    pub order_id: String,
    /// Canonical status (`ordered`, `backordered`, `shipped`, `delivered`)
    /// or HPE's word verbatim; `None`: no timeline event.
    pub status: Option<String>,
    pub status_known: bool,
    pub part_number: Option<String>,
    pub part_description: Option<String>,
    pub quantity: Option<i64>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub eta: Option<String>,
    /// Whether the defective part must go back (a flag, not a timeline status).
    pub return_required: Option<bool>,
    pub return_status: Option<String>,
    /// False when `return_status` is a word the rules do not know.
    pub return_status_known: bool,
    pub event_time: Option<String>,
    pub event_at_ms: Option<i64>,
    pub raw_text: Option<String>,
    pub inbox_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    pub id: i64,
    pub case_id: i64,
    pub task_id: String,
    pub status: Option<String>,
    pub status_known: bool,
    pub scheduled_start: Option<String>,
    pub engineer_eta: Option<String>,
    pub description: Option<String>,
    pub completion: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRecord {
    pub id: i64,
    pub case_id: i64,
    pub order_id: String,
    pub status: Option<String>,
    pub status_known: bool,
    pub part_number: Option<String>,
    pub part_description: Option<String>,
    pub quantity: Option<i64>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub eta: Option<String>,
    pub return_required: Option<bool>,
    pub return_status: Option<String>,
    pub return_status_known: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One entry of a record's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub record_id: i64,
    pub status: String,
    pub status_known: bool,
    pub event_time: Option<String>,
    pub event_at: Option<i64>,
    pub raw_text: Option<String>,
    pub inbox_id: Option<i64>,
    pub created_at: i64,
}

/// What recording an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOutcome {
    /// The task or part-order record's id.
    pub record_id: i64,
    /// The timeline event, if the update had a status.
    pub event: Option<Insert>,
    /// The record's current status afterwards.
    pub status: Option<String>,
    pub status_changed: bool,
}

/// The tables of one kind of record.
struct Kind {
    records: &'static str,
    events: &'static str,
    key: &'static str,
}

const TASKS: Kind = Kind {
    records: "onsite_tasks",
    events: "task_events",
    key: "task_id",
};

const PARTS: Kind = Kind {
    records: "part_orders",
    events: "part_events",
    key: "order_id",
};

/// The parts of an update common to both kinds.
struct Update<'a> {
    key: &'a str,
    status: Option<(&'a str, bool)>,
    event_time: Option<&'a str>,
    event_at_ms: Option<i64>,
    raw_text: Option<&'a str>,
    inbox_id: Option<i64>,
    /// (column, value) of the record fields the update carries.
    fields: Vec<(&'static str, Value)>,
}

fn text(value: Option<&String>) -> Option<&str> {
    value.map(|s| s.as_str()).filter(|s| !s.trim().is_empty())
}

fn text_field(column: &'static str, value: Option<&String>) -> Option<(&'static str, Value)> {
    text(value).map(|s| (column, Value::Text(s.to_owned())))
}

fn record_update(
    c: &Connection,
    kind: &Kind,
    case_id: i64,
    u: Update<'_>,
    now: i64,
) -> Result<RecordOutcome, StoreError> {
    c.prepare_cached(&format!(
        "INSERT INTO {records}(case_id, {key}, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(case_id, {key}) DO NOTHING",
        records = kind.records,
        key = kind.key
    ))?
    .execute(params![case_id, u.key, now])?;
    let (record_id, latest_at, old_status): (i64, Option<i64>, Option<String>) = c
        .prepare_cached(&format!(
            "SELECT id, latest_at, status FROM {} WHERE case_id = ?1 AND {} = ?2",
            kind.records, kind.key
        ))?
        .query_row(params![case_id, u.key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    let event = match u.status {
        None => None,
        Some((status, known)) => {
            let inserted: Option<i64> = c
                .prepare_cached(&format!(
                    "INSERT INTO {}(record_id, status, status_known, event_time, event_at,
                             raw_text, inbox_id, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT(record_id, status, event_time) DO NOTHING
                         RETURNING id",
                    kind.events
                ))?
                .query_row(
                    params![
                        record_id,
                        status,
                        known,
                        u.event_time.unwrap_or(""),
                        u.event_at_ms,
                        u.raw_text,
                        u.inbox_id,
                        now
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            match inserted {
                Some(id) => Some(Insert::Inserted(id)),
                None => {
                    let id = c
                        .prepare_cached(&format!(
                            "SELECT id FROM {} WHERE record_id = ?1 AND status = ?2
                                 AND event_time = ?3",
                            kind.events
                        ))?
                        .query_row(
                            params![record_id, status, u.event_time.unwrap_or("")],
                            |r| r.get(0),
                        )?;
                    return Ok(RecordOutcome {
                        record_id,
                        event: Some(Insert::Duplicate(id)),
                        status: old_status,
                        status_changed: false,
                    });
                }
            }
        }
    };

    let order_key = u.event_at_ms.unwrap_or(now);
    let newest = latest_at.is_none_or(|latest| order_key >= latest);
    let mut sets = vec![
        "updated_at = ?1".to_owned(),
        "latest_at = MAX(COALESCE(latest_at, ?2), ?2)".to_owned(),
    ];
    let mut values = vec![Value::Integer(now), Value::Integer(order_key)];
    for (column, value) in u.fields {
        values.push(value);
        let n = values.len();
        sets.push(if newest {
            format!("{column} = ?{n}")
        } else {
            format!("{column} = COALESCE({column}, ?{n})")
        });
    }
    values.push(Value::Integer(record_id));
    c.execute(
        &format!(
            "UPDATE {} SET {} WHERE id = ?{}",
            kind.records,
            sets.join(", "),
            values.len()
        ),
        params_from_iter(values),
    )?;

    let current: Option<(String, bool)> = c
        .prepare_cached(&format!(
            "SELECT status, status_known FROM {} WHERE record_id = ?1
                 ORDER BY COALESCE(event_at, created_at) DESC, id DESC LIMIT 1",
            kind.events
        ))?
        .query_row([record_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let status = match current {
        Some((status, known)) => {
            c.prepare_cached(&format!(
                "UPDATE {} SET status = ?2, status_known = ?3 WHERE id = ?1",
                kind.records
            ))?
            .execute(params![record_id, status, known])?;
            Some(status)
        }
        None => old_status.clone(),
    };
    Ok(RecordOutcome {
        record_id,
        event,
        status_changed: status != old_status,
        status,
    })
}

fn timeline(c: &Connection, kind: &Kind, record_id: i64) -> Result<Vec<EventRow>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT id, record_id, status, status_known, NULLIF(event_time, ''), event_at, raw_text,
             inbox_id, created_at
         FROM {} WHERE record_id = ?1 ORDER BY COALESCE(event_at, created_at), id",
        kind.events
    ))?;
    let rows = stmt.query_map([record_id], |r| {
        Ok(EventRow {
            id: r.get(0)?,
            record_id: r.get(1)?,
            status: r.get(2)?,
            status_known: r.get(3)?,
            event_time: r.get(4)?,
            event_at: r.get(5)?,
            raw_text: r.get(6)?,
            inbox_id: r.get(7)?,
            created_at: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn task_record(r: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    Ok(TaskRecord {
        id: r.get(0)?,
        case_id: r.get(1)?,
        task_id: r.get(2)?,
        status: r.get(3)?,
        status_known: r.get(4)?,
        scheduled_start: r.get(5)?,
        engineer_eta: r.get(6)?,
        description: r.get(7)?,
        completion: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
    })
}

fn part_record(r: &Row<'_>) -> rusqlite::Result<PartRecord> {
    Ok(PartRecord {
        id: r.get(0)?,
        case_id: r.get(1)?,
        order_id: r.get(2)?,
        status: r.get(3)?,
        status_known: r.get(4)?,
        part_number: r.get(5)?,
        part_description: r.get(6)?,
        quantity: r.get(7)?,
        carrier: r.get(8)?,
        tracking_number: r.get(9)?,
        eta: r.get(10)?,
        return_required: r.get(11)?,
        return_status: r.get(12)?,
        return_status_known: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

/// Onsite tasks and part orders.
pub trait RecordOps: Access {
    /// Applies an onsite-task update to case `case_id` (see the module rules).
    fn record_task_event(
        &self,
        case_id: i64,
        u: &TaskUpdate,
        now: i64,
    ) -> Result<RecordOutcome, StoreError> {
        let fields = [
            text_field("scheduled_start", u.scheduled_start.as_ref()),
            text_field("engineer_eta", u.engineer_eta.as_ref()),
            text_field("description", u.description.as_ref()),
            text_field("completion", u.completion.as_ref()),
        ];
        let update = Update {
            key: &u.task_id,
            status: text(u.status.as_ref()).map(|s| (s, u.status_known)),
            event_time: text(u.event_time.as_ref()),
            event_at_ms: u.event_at_ms,
            raw_text: u.raw_text.as_deref(),
            inbox_id: u.inbox_id,
            fields: fields.into_iter().flatten().collect(),
        };
        self.atomic(|c| record_update(c, &TASKS, case_id, update, now))
    }

    /// Applies a part-order update to case `case_id` (see the module rules).
    fn record_part_event(
        &self,
        case_id: i64,
        u: &PartUpdate,
        now: i64,
    ) -> Result<RecordOutcome, StoreError> {
        let return_status = text(u.return_status.as_ref());
        let fields = [
            text_field("part_number", u.part_number.as_ref()),
            text_field("part_description", u.part_description.as_ref()),
            u.quantity.map(|q| ("quantity", Value::Integer(q))),
            text_field("carrier", u.carrier.as_ref()),
            text_field("tracking_number", u.tracking_number.as_ref()),
            text_field("eta", u.eta.as_ref()),
            u.return_required
                .map(|r| ("return_required", Value::Integer(r.into()))),
            return_status.map(|s| ("return_status", Value::Text(s.to_owned()))),
            return_status.map(|_| {
                (
                    "return_status_known",
                    Value::Integer(u.return_status_known.into()),
                )
            }),
        ];
        let update = Update {
            key: &u.order_id,
            status: text(u.status.as_ref()).map(|s| (s, u.status_known)),
            event_time: text(u.event_time.as_ref()),
            event_at_ms: u.event_at_ms,
            raw_text: u.raw_text.as_deref(),
            inbox_id: u.inbox_id,
            fields: fields.into_iter().flatten().collect(),
        };
        self.atomic(|c| record_update(c, &PARTS, case_id, update, now))
    }

    /// A case's onsite tasks, in order of first appearance.
    fn tasks_for_case(&self, case_id: i64) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, case_id, task_id, status, status_known, scheduled_start, engineer_eta,
                 description, completion, created_at, updated_at
             FROM onsite_tasks WHERE case_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([case_id], task_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A case's part orders, in order of first appearance.
    fn parts_for_case(&self, case_id: i64) -> Result<Vec<PartRecord>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, case_id, order_id, status, status_known, part_number, part_description,
                 quantity, carrier, tracking_number, eta, return_required, return_status,
                 COALESCE(return_status_known, 1), created_at, updated_at
             FROM part_orders WHERE case_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([case_id], part_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An onsite task's timeline, oldest first.
    fn task_timeline(&self, record_id: i64) -> Result<Vec<EventRow>, StoreError> {
        timeline(self.conn(), &TASKS, record_id)
    }

    /// A part order's timeline, oldest first.
    fn part_timeline(&self, record_id: i64) -> Result<Vec<EventRow>, StoreError> {
        timeline(self.conn(), &PARTS, record_id)
    }

    /// Cases whose onsite tasks or part orders changed after `since` (unix
    /// ms), each with the time of its latest change, oldest change first:
    /// the work list of the ServiceNow mirror.
    fn cases_with_records_changed_since(&self, since: i64) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT case_id, MAX(updated_at) AS changed FROM (
                 SELECT case_id, updated_at FROM onsite_tasks WHERE updated_at > ?1
                 UNION ALL
                 SELECT case_id, updated_at FROM part_orders WHERE updated_at > ?1)
             GROUP BY case_id ORDER BY changed, case_id",
        )?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl<A: Access> RecordOps for A {}
