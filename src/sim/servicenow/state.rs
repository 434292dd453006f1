//! The simulated instance's data: tables of string-valued records, the write
//! path every change goes through (HTTP or scripted), and how a record is
//! shown for each `sysparm_display_value` mode.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::query::{EncodedQuery, Path, Resolve, compare};
use super::schema::{self, Kind, SYSTEM_FIELDS, Schema};

pub(crate) const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// The marker appended to a journal entry cut at the configured maximum
/// length: the stored value is the first `max` characters, then this.
pub const TRUNCATION_MARKER: &str = " [truncated]";

#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub fields: BTreeMap<String, String>,
    /// Hidden from the API user by an ACL: counted and paged over, never shown.
    pub hidden: bool,
}

impl Row {
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map_or("", String::as_str)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub schema: Schema,
    pub rows: Vec<Row>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Display {
    False,
    True,
    All,
}

/// How a response shows records.
pub(crate) struct View<'a> {
    pub display: Display,
    pub exclude_reference_link: bool,
    pub fields: Option<&'a [String]>,
    pub base_url: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    NoTable(String),
    NoRecord,
    /// Rejected by a data policy or ACL; the text is the error detail.
    Forbidden(String),
}

/// Who may see what: the API user does not see ACL-hidden rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Viewer {
    Api,
    Script,
}

pub(crate) struct Instance {
    tables: BTreeMap<String, Table>,
    seq: u64,
    incident_seq: u64,
    pub time_zone: Tz,
    pub max_journal_len: Option<usize>,
    pub clock_offset: chrono::Duration,
}

struct RowContext<'a> {
    instance: &'a Instance,
    row: &'a Row,
}

impl Resolve for RowContext<'_> {
    fn value(&self, path: &Path) -> String {
        let own = self.row.get(&path.field);
        match &path.walk {
            None => own.to_owned(),
            Some((table, field)) => self
                .instance
                .find(table, own)
                .map(|r| r.get(field).to_owned())
                .unwrap_or_default(),
        }
    }
}

impl Instance {
    pub fn new(
        time_zone: Tz,
        max_journal_len: Option<usize>,
        extra: &[(String, Vec<String>)],
    ) -> Self {
        let schemas = [
            Schema::incident(),
            Schema::journal(),
            Schema::user(),
            Schema::group(),
            Schema::ci(),
        ]
        .into_iter()
        .chain(
            extra
                .iter()
                .map(|(name, fields)| Schema::extra(name, fields)),
        );
        let tables = schemas
            .map(|schema| {
                (
                    schema.name.clone(),
                    Table {
                        schema,
                        rows: Vec::new(),
                    },
                )
            })
            .collect();
        Self {
            tables,
            seq: 0,
            incident_seq: 10000,
            time_zone,
            max_journal_len,
            clock_offset: chrono::Duration::zero(),
        }
    }

    /// The instance's clock, at the platform's second precision.
    pub fn now(&self) -> NaiveDateTime {
        let now = (Utc::now() + self.clock_offset).naive_utc();
        now.with_nanosecond(0).unwrap_or(now)
    }

    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    pub fn schema(&self, name: &str) -> Option<&Schema> {
        self.tables.get(name).map(|t| &t.schema)
    }

    pub fn find(&self, table: &str, sys_id: &str) -> Option<&Row> {
        self.tables
            .get(table)?
            .rows
            .iter()
            .find(|r| r.get("sys_id") == sys_id)
    }

    /// The row of `table` whose `field` is `value`.
    pub fn find_by(&self, table: &str, field: &str, value: &str) -> Option<&Row> {
        self.tables
            .get(table)?
            .rows
            .iter()
            .find(|r| r.get(field) == value)
    }

    pub fn set_hidden(
        &mut self,
        table: &str,
        sys_id: &str,
        hidden: bool,
    ) -> Result<(), WriteError> {
        let row = self
            .tables
            .get_mut(table)
            .ok_or_else(|| WriteError::NoTable(table.to_owned()))?
            .rows
            .iter_mut()
            .find(|r| r.get("sys_id") == sys_id)
            .ok_or(WriteError::NoRecord)?;
        row.hidden = hidden;
        Ok(())
    }

    fn next_sys_id(&mut self) -> String {
        self.seq += 1;
        let digest = Sha256::digest(format!("casebridge-sim-{}", self.seq));
        digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// A fresh opaque token (for OAuth).
    pub fn next_token(&mut self) -> String {
        let a = self.next_sys_id();
        let b = self.next_sys_id();
        format!("{a}{b}")
    }

    /// Rows of `table` matching `query`, in the query's order (insertion
    /// order otherwise). Hidden rows are included: the caller pages first
    /// and applies the ACL after, as the platform does.
    pub fn select<'t>(&self, table: &'t Table, query: &str) -> Vec<&'t Row> {
        let target = |name: &str| self.schema(name);
        let parsed = EncodedQuery::parse(query, &table.schema, target);
        let mut rows: Vec<&Row> = table
            .rows
            .iter()
            .filter(|row| {
                parsed.matches(&RowContext {
                    instance: self,
                    row,
                })
            })
            .collect();
        if !parsed.order.is_empty() {
            rows.sort_by(|a, b| {
                parsed
                    .order
                    .iter()
                    .map(|o| {
                        let va = RowContext {
                            instance: self,
                            row: a,
                        }
                        .value(&o.path);
                        let vb = RowContext {
                            instance: self,
                            row: b,
                        }
                        .value(&o.path);
                        let ord = compare(o.path.kind, &va, &vb);
                        if o.descending { ord.reverse() } else { ord }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            });
        }
        rows
    }

    /// Inserts (`target` None) or updates a record, as the API user or a
    /// person in the UI would: unknown and system fields ignored, references
    /// resolved, priority derived, journal values turned into journal
    /// entries, and `sys_mod_count`/`sys_updated_on` moved when anything
    /// changed. Returns the record's sys_id.
    pub fn write(
        &mut self,
        table: &str,
        target: Option<&str>,
        values: &[(String, String)],
        user: &str,
        at: NaiveDateTime,
        viewer: Viewer,
    ) -> Result<String, WriteError> {
        if table == schema::JOURNAL {
            return Err(WriteError::Forbidden(
                "Journal entries are written through the record's journal field".to_owned(),
            ));
        }
        let schema = self
            .schema(table)
            .ok_or_else(|| WriteError::NoTable(table.to_owned()))?
            .clone();
        let stamp = at.format(TIME_FORMAT).to_string();
        let (index, before) = match target {
            Some(sys_id) => {
                let rows = &self.tables[table].rows;
                let index = rows
                    .iter()
                    .position(|r| r.get("sys_id") == sys_id && !(viewer == Viewer::Api && r.hidden))
                    .ok_or(WriteError::NoRecord)?;
                (Some(index), rows[index].fields.clone())
            }
            None => (None, self.new_record(&schema, values, user, &stamp)),
        };
        let mut fields = before.clone();
        let mut journal = Vec::new();
        for (name, value) in values {
            let Some(field) = schema.field(name) else {
                continue;
            };
            if SYSTEM_FIELDS.contains(&name.as_str())
                || (table == schema::INCIDENT && name == "priority")
            {
                continue;
            }
            match field.kind {
                Kind::Journal(_) => {
                    if !value.trim().is_empty() {
                        journal.push((name.clone(), self.truncate(value)));
                    }
                }
                Kind::Reference(target_table) => {
                    let resolved = self.resolve_reference(target_table, value);
                    fields.insert(name.clone(), resolved);
                }
                _ => {
                    fields.insert(name.clone(), value.clone());
                }
            }
        }
        if table == schema::INCIDENT {
            incident_rules(&mut fields, &before, index.is_none(), &stamp)?;
        }
        let sys_id = fields.get("sys_id").cloned().unwrap_or_default();
        if index.is_some() && fields == before && journal.is_empty() {
            // The platform skips an update that changes nothing.
            return Ok(sys_id);
        }
        match index {
            Some(i) => {
                let count = fields
                    .get("sys_mod_count")
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0);
                fields.insert("sys_mod_count".into(), (count + 1).to_string());
                fields.insert("sys_updated_on".into(), stamp.clone());
                fields.insert("sys_updated_by".into(), user.to_owned());
                if let Some(t) = self.tables.get_mut(table) {
                    t.rows[i].fields = fields;
                }
            }
            None => {
                if let Some(t) = self.tables.get_mut(table) {
                    t.rows.push(Row {
                        fields,
                        hidden: false,
                    });
                }
            }
        }
        for (element, value) in journal {
            self.append_journal(table, &sys_id, &element, &value, user, &stamp);
        }
        Ok(sys_id)
    }

    fn new_record(
        &mut self,
        schema: &Schema,
        values: &[(String, String)],
        user: &str,
        stamp: &str,
    ) -> BTreeMap<String, String> {
        let mut fields: BTreeMap<String, String> = schema
            .fields
            .iter()
            .filter(|f| !matches!(f.kind, Kind::Journal(_)))
            .map(|f| (f.name.clone(), String::new()))
            .collect();
        // A client may choose the sys_id of a new record, as on the platform.
        let chosen = values
            .iter()
            .find(|(k, v)| {
                k == "sys_id" && v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())
            })
            .map(|(_, v)| v.to_lowercase());
        let sys_id = match chosen {
            Some(id) => id,
            None => self.next_sys_id(),
        };
        for (key, value) in [
            ("sys_id", sys_id),
            ("sys_created_on", stamp.to_owned()),
            ("sys_created_by", user.to_owned()),
            ("sys_updated_on", stamp.to_owned()),
            ("sys_updated_by", user.to_owned()),
            ("sys_mod_count", "0".to_owned()),
        ] {
            fields.insert(key.to_owned(), value);
        }
        if schema.name == schema::INCIDENT {
            self.incident_seq += 1;
            fields.insert("number".into(), format!("INC{:07}", self.incident_seq));
            fields.insert("state".into(), "1".into());
            fields.insert("impact".into(), "3".into());
            fields.insert("urgency".into(), "3".into());
            fields.insert("opened_at".into(), stamp.to_owned());
        }
        fields
    }

    fn truncate(&self, value: &str) -> String {
        match self.max_journal_len {
            Some(max) if value.chars().count() > max => {
                let kept: String = value.chars().take(max).collect();
                format!("{kept}{TRUNCATION_MARKER}")
            }
            _ => value.to_owned(),
        }
    }

    /// A reference accepts a sys_id or, as on the platform, the display
    /// value of the target record; anything else is stored as given.
    fn resolve_reference(&self, table: &str, value: &str) -> String {
        if value.is_empty() || self.find(table, value).is_some() {
            return value.to_owned();
        }
        let Some(target) = self.table(table) else {
            return value.to_owned();
        };
        let display = target.schema.display_field;
        target
            .rows
            .iter()
            .find(|r| {
                r.get(display) == value || (table == schema::USER && r.get("user_name") == value)
            })
            .map_or_else(|| value.to_owned(), |r| r.get("sys_id").to_owned())
    }

    fn append_journal(
        &mut self,
        table: &str,
        element_id: &str,
        element: &str,
        value: &str,
        user: &str,
        stamp: &str,
    ) {
        let sys_id = self.next_sys_id();
        let fields = [
            ("sys_id", sys_id.as_str()),
            ("element", element),
            ("element_id", element_id),
            ("name", table),
            ("value", value),
            ("sys_created_on", stamp),
            ("sys_created_by", user),
            ("sys_updated_on", stamp),
            ("sys_updated_by", user),
            ("sys_mod_count", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        if let Some(t) = self.tables.get_mut(schema::JOURNAL) {
            t.rows.push(Row {
                fields,
                hidden: false,
            });
        }
    }

    /// Journal entries of one field of one record, newest first.
    pub fn journal_entries(&self, element_id: &str, element: Option<&str>) -> Vec<&Row> {
        let Some(table) = self.table(schema::JOURNAL) else {
            return Vec::new();
        };
        let mut rows: Vec<&Row> = table
            .rows
            .iter()
            .filter(|r| {
                r.get("element_id") == element_id && element.is_none_or(|e| r.get("element") == e)
            })
            .collect();
        // Stable sort over insertion order, reversed: newest first, and of
        // two entries in the same second the later-written first.
        rows.reverse();
        rows.sort_by(|a, b| b.get("sys_created_on").cmp(a.get("sys_created_on")));
        rows
    }

    pub fn local_time(&self, utc: &str) -> String {
        match NaiveDateTime::parse_from_str(utc, TIME_FORMAT) {
            Ok(dt) => self
                .time_zone
                .from_utc_datetime(&dt)
                .format(TIME_FORMAT)
                .to_string(),
            Err(_) => utc.to_owned(),
        }
    }

    fn user_display_name(&self, user_name: &str) -> String {
        self.find_by(schema::USER, "user_name", user_name)
            .map(|u| u.get("name").to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| user_name.to_owned())
    }

    /// The journal as the platform shows it with display values: every
    /// entry, newest first, under a `time - Name (Label)` header.
    fn journal_text(&self, sys_id: &str, element: &str, label: &str) -> String {
        self.journal_entries(sys_id, Some(element))
            .iter()
            .map(|e| {
                format!(
                    "{} - {} ({label})\n{}\n\n",
                    self.local_time(e.get("sys_created_on")),
                    self.user_display_name(e.get("sys_created_by")),
                    e.get("value")
                )
            })
            .collect()
    }

    pub fn render(&self, table: &Table, row: &Row, view: &View) -> Value {
        let mut out = Map::new();
        let names: Vec<&str> = match view.fields {
            Some(list) => list
                .iter()
                .filter(|n| table.schema.field(n).is_some())
                .map(String::as_str)
                .collect(),
            None => table
                .schema
                .fields
                .iter()
                .map(|f| f.name.as_str())
                .collect(),
        };
        for name in names {
            let Some(field) = table.schema.field(name) else {
                continue;
            };
            out.insert(
                name.to_owned(),
                self.render_field(field.kind, name, row, view),
            );
        }
        Value::Object(out)
    }

    fn render_field(&self, kind: Kind, name: &str, row: &Row, view: &View) -> Value {
        let raw = row.get(name);
        let display = || match kind {
            Kind::Journal(label) => self.journal_text(row.get("sys_id"), name, label),
            Kind::DateTime => self.local_time(raw),
            Kind::Choice(choices) => choices
                .iter()
                .find(|(v, _)| *v == raw)
                .map_or_else(|| raw.to_owned(), |(_, label)| (*label).to_owned()),
            Kind::Reference(target) => self
                .find(target, raw)
                .zip(self.schema(target))
                .map(|(r, s)| r.get(s.display_field).to_owned())
                .unwrap_or_default(),
            Kind::Text | Kind::Integer => raw.to_owned(),
        };
        let link = match kind {
            Kind::Reference(target) if !raw.is_empty() && !view.exclude_reference_link => {
                Some(format!("{}/api/now/table/{target}/{raw}", view.base_url))
            }
            _ => None,
        };
        match (view.display, link) {
            (Display::False, Some(link)) => json!({"link": link, "value": raw}),
            (Display::False, None) => Value::String(raw.to_owned()),
            (Display::True, Some(link)) => json!({"display_value": display(), "link": link}),
            (Display::True, None) => Value::String(display()),
            (Display::All, _) => json!({"display_value": display(), "value": raw}),
        }
    }
}

/// The incident table's business rules: priority from impact and urgency,
/// `active` from the state, close code and notes mandatory to resolve or
/// close, `resolved_at` stamped.
fn incident_rules(
    fields: &mut BTreeMap<String, String>,
    before: &BTreeMap<String, String>,
    inserting: bool,
    stamp: &str,
) -> Result<(), WriteError> {
    let get = |f: &BTreeMap<String, String>, k: &str| f.get(k).cloned().unwrap_or_default();
    let priority = schema::priority(&get(fields, "impact"), &get(fields, "urgency"));
    fields.insert("priority".into(), priority);
    let state = get(fields, "state");
    // Closed and Canceled incidents leave the active set; Resolved ones stay.
    let active = if state == "7" || state == "8" {
        "false"
    } else {
        "true"
    };
    fields.insert("active".into(), active.to_owned());
    let resolving = (state == "6" || state == "7") && (inserting || get(before, "state") != state);
    if resolving {
        let missing: Vec<&str> = [
            ("close_code", "Resolution code"),
            ("close_notes", "Resolution notes"),
        ]
        .into_iter()
        .filter(|(k, _)| get(fields, k).trim().is_empty())
        .map(|(_, label)| label)
        .collect();
        if !missing.is_empty() {
            return Err(WriteError::Forbidden(format!(
                "Data Policy Exception: \n The following fields are mandatory: {}",
                missing.join(", ")
            )));
        }
        if get(fields, "resolved_at").is_empty() {
            fields.insert("resolved_at".into(), stamp.to_owned());
        }
    }
    Ok(())
}
