//! What the scripting commands print: one JSON document with `--json`
//! (the shapes below are the stable interface, documented in
//! `casebridge help case`), lines for people otherwise.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::ValueEnum;
use serde::Serialize;

use crate::console::{
    CaseDetail, CaseFlags, CaseSummary, EntryStatus, Health, Origin, ParkedMessage, PartView,
    Priority, QuarantineEntry, TaskView, TimelineEntry, state_words,
};

/// `--priority`, and the word the JSON uses for a case's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum PriorityArg {
    #[default]
    Normal,
    CriticalDegraded,
    CriticalDown,
}

impl From<PriorityArg> for Priority {
    fn from(arg: PriorityArg) -> Self {
        match arg {
            PriorityArg::Normal => Priority::Normal,
            PriorityArg::CriticalDegraded => Priority::CriticalDegraded,
            PriorityArg::CriticalDown => Priority::CriticalDown,
        }
    }
}

impl From<Priority> for PriorityArg {
    fn from(priority: Priority) -> Self {
        match priority {
            Priority::Normal => PriorityArg::Normal,
            Priority::CriticalDegraded => PriorityArg::CriticalDegraded,
            Priority::CriticalDown => PriorityArg::CriticalDown,
        }
    }
}

/// `normal`, `critical-degraded`, `critical-down`: the flag's own words.
fn priority_word(priority: Priority) -> String {
    PriorityArg::from(priority)
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// One case, as every command that names a case prints it.
#[derive(Debug, Serialize)]
pub struct CaseJson<'a> {
    pub incident: &'a str,
    pub tracking: &'a str,
    pub hpe_case: Option<&'a str>,
    pub system: &'a str,
    pub priority: String,
    pub state: u8,
    pub state_words: &'static str,
    pub pending_state: u8,
    pub pending_state_words: &'static str,
    pub finished: bool,
    pub workflow_status: Option<&'a str>,
    pub updated: String,
    pub open_tasks: u32,
    pub parts_in_transit: u32,
    pub flags: CaseFlags,
}

impl<'a> From<&'a CaseSummary> for CaseJson<'a> {
    fn from(c: &'a CaseSummary) -> Self {
        CaseJson {
            incident: &c.incident,
            tracking: &c.tracking,
            hpe_case: c.provider_id.as_deref(),
            system: &c.system,
            priority: priority_word(c.priority),
            state: c.state,
            state_words: state_words(c.state),
            pending_state: c.pending_state,
            pending_state_words: state_words(c.pending_state),
            finished: c.finished(),
            workflow_status: c.workflow_status.as_deref(),
            updated: time(c.updated),
            open_tasks: c.open_tasks,
            parts_in_transit: c.parts_in_transit,
            flags: c.flags,
        }
    }
}

/// RFC 3339 in UTC to the second, as every time in the JSON.
fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Serialize)]
struct EntryJson<'a> {
    id: i64,
    time: String,
    origin: &'static str,
    author: &'a str,
    kind: &'a str,
    text: &'a str,
    status: &'static str,
    reason: Option<&'a str>,
    raw: Option<&'a str>,
}

fn origin_word(origin: Origin) -> &'static str {
    match origin {
        Origin::Local => "local",
        Origin::Hpe => "hpe",
        Origin::ServiceNow => "servicenow",
    }
}

/// The status word, and the reason that goes with it.
fn status_words(status: &EntryStatus) -> (&'static str, Option<&str>) {
    match status {
        EntryStatus::Pending => ("pending", None),
        EntryStatus::Sent => ("sent", None),
        EntryStatus::Failed { reason } => ("failed", Some(reason)),
        EntryStatus::Received => ("received", None),
        EntryStatus::NotSent { reason } => ("not_sent", Some(reason)),
    }
}

impl<'a> From<&'a TimelineEntry> for EntryJson<'a> {
    fn from(e: &'a TimelineEntry) -> Self {
        let (status, reason) = status_words(&e.status);
        EntryJson {
            id: e.id,
            time: time(e.time),
            origin: origin_word(e.origin),
            author: &e.author,
            kind: &e.kind,
            text: &e.text,
            status,
            reason,
            raw: e.raw.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
struct DetailJson<'a> {
    case: CaseJson<'a>,
    title: &'a str,
    description: &'a str,
    timeline: Vec<EntryJson<'a>>,
    tasks: &'a [TaskView],
    parts: &'a [PartView],
    unparsed_updates: u32,
}

/// What an accepted action committed.
#[derive(Debug, Serialize)]
pub struct ActionJson<'a> {
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseJson<'a>>,
}

fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// `case list`.
pub fn cases(out: &mut dyn Write, as_json: bool, cases: &[&CaseSummary]) -> io::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct List<'a> {
            cases: Vec<CaseJson<'a>>,
        }
        let cases = cases.iter().map(|c| CaseJson::from(*c)).collect();
        return json(out, &List { cases });
    }
    if cases.is_empty() {
        return writeln!(out, "no cases");
    }
    let rows: Vec<[String; 7]> = cases
        .iter()
        .map(|c| {
            [
                c.tracking.clone(),
                c.provider_id.clone().unwrap_or_else(|| "-".into()),
                state_cell(c),
                c.system.clone(),
                c.priority.label().to_string(),
                human_time(c.updated),
                flag_words(&c.flags),
            ]
        })
        .collect();
    let header = [
        "TRACKING", "HPE CASE", "STATE", "SYSTEM", "PRIORITY", "UPDATED", "FLAGS",
    ]
    .map(String::from);
    table(out, &header, &rows)
}

/// Columns padded to their widest cell, two spaces apart, no trailing blanks.
fn table<const N: usize>(
    out: &mut dyn Write,
    header: &[String; N],
    rows: &[[String; N]],
) -> io::Result<()> {
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `5 With HPE`, or `5 With HPE → 7 Closed` while a message of ours is on
/// its way.
fn state_cell(c: &CaseSummary) -> String {
    let confirmed = format!("{} {}", c.state, state_words(c.state));
    if c.pending_state == c.state {
        confirmed
    } else {
        format!(
            "{confirmed} → {} {}",
            c.pending_state,
            state_words(c.pending_state)
        )
    }
}

fn flag_words(flags: &CaseFlags) -> String {
    let words: Vec<&str> = [
        (flags.pending, "pending"),
        (flags.failed, "failed"),
        (flags.info_requested, "info-requested"),
        (flags.overdue, "overdue"),
    ]
    .into_iter()
    .filter_map(|(on, word)| on.then_some(word))
    .collect();
    if words.is_empty() {
        "-".into()
    } else {
        words.join(",")
    }
}

fn human_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// Every line of `text`, indented.
fn indented(out: &mut dyn Write, indent: &str, text: &str) -> io::Result<()> {
    for line in text.lines() {
        writeln!(out, "{indent}{line}")?;
    }
    Ok(())
}

/// `case show`.
pub fn detail(out: &mut dyn Write, as_json: bool, d: &CaseDetail) -> io::Result<()> {
    if as_json {
        return json(
            out,
            &DetailJson {
                case: CaseJson::from(&d.summary),
                title: &d.title,
                description: &d.description,
                timeline: d.timeline.iter().map(EntryJson::from).collect(),
                tasks: &d.tasks,
                parts: &d.parts,
                unparsed_updates: d.unparsed_updates,
            },
        );
    }
    let c = &d.summary;
    writeln!(out, "{}  {}", c.tracking, d.title)?;
    let mut fields = vec![
        ("incident", c.incident.clone()),
        (
            "HPE case",
            c.provider_id.clone().unwrap_or_else(|| "not yet".into()),
        ),
        ("system", c.system.clone()),
        ("priority", c.priority.label().to_string()),
        ("state", state_cell(c)),
    ];
    if let Some(status) = &c.workflow_status {
        fields.push(("HPE status", status.clone()));
    }
    fields.extend([
        ("updated", human_time(c.updated)),
        ("flags", flag_words(&c.flags)),
        (
            "records",
            format!(
                "{} open task(s), {} part(s) in transit",
                c.open_tasks, c.parts_in_transit
            ),
        ),
    ]);
    for (name, value) in fields {
        writeln!(out, "  {name:<10}  {value}")?;
    }
    writeln!(out, "\ndescription:")?;
    indented(out, "  ", &d.description)?;
    writeln!(out, "\ntimeline:")?;
    for e in &d.timeline {
        let (status, reason) = status_words(&e.status);
        let reason = reason.map(|r| format!(": {r}")).unwrap_or_default();
        writeln!(
            out,
            "  {}  {} ({})  {}  [{status}{reason}]",
            human_time(e.time),
            e.author,
            origin_word(e.origin),
            e.kind
        )?;
        indented(out, "    ", &e.text)?;
    }
    if !d.tasks.is_empty() {
        writeln!(out, "\nonsite tasks:")?;
        for t in &d.tasks {
            let description = t.description.as_deref().unwrap_or("");
            writeln!(out, "  {}  {}  {description}", t.task_id, t.status)?;
        }
    }
    if !d.parts.is_empty() {
        writeln!(out, "\nparts:")?;
        for p in &d.parts {
            let part = p.part_number.as_deref().unwrap_or("-");
            let eta = p.eta.as_deref().unwrap_or("-");
            writeln!(out, "  {}  {part}  {}  eta {eta}", p.order_id, p.status)?;
        }
    }
    if d.unparsed_updates > 0 {
        writeln!(
            out,
            "\n{} programmatic update(s) could not be parsed (kept as notes)",
            d.unparsed_updates
        )?;
    }
    Ok(())
}

/// `outbox list`: what waits to be sent, and what GSEM refused for good.
pub fn outbox(
    out: &mut dyn Write,
    as_json: bool,
    health: &Health,
    parked: &[ParkedMessage],
) -> io::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct Outbox<'a> {
            queued: u32,
            oldest_queued: Option<String>,
            parked: Vec<ParkedJson<'a>>,
        }
        return json(
            out,
            &Outbox {
                queued: health.outbox_depth,
                oldest_queued: health.outbox_oldest.map(time),
                parked: parked.iter().map(ParkedJson::from).collect(),
            },
        );
    }
    match health.outbox_oldest {
        Some(oldest) => writeln!(
            out,
            "{} message(s) queued, the oldest since {}",
            health.outbox_depth,
            human_time(oldest)
        )?,
        None => writeln!(out, "{} message(s) queued", health.outbox_depth)?,
    }
    if parked.is_empty() {
        return writeln!(out, "no parked messages");
    }
    writeln!(out, "parked (refused by GSEM for good):")?;
    let rows: Vec<[String; 6]> = parked
        .iter()
        .map(|p| {
            [
                p.seq.to_string(),
                p.incident.clone(),
                p.transaction.clone(),
                human_time(p.queued_at),
                p.attempts.to_string(),
                p.detail.replace('\n', " "),
            ]
        })
        .collect();
    let header = [
        "SEQ",
        "INCIDENT",
        "TRANSACTION",
        "QUEUED",
        "ATTEMPTS",
        "DETAIL",
    ]
    .map(String::from);
    table(out, &header, &rows)
}

#[derive(Debug, Serialize)]
struct ParkedJson<'a> {
    seq: i64,
    incident: &'a str,
    transaction: &'a str,
    detail: &'a str,
    body: &'a str,
    queued_at: String,
    attempts: u32,
}

impl<'a> From<&'a ParkedMessage> for ParkedJson<'a> {
    fn from(p: &'a ParkedMessage) -> Self {
        ParkedJson {
            seq: p.seq,
            incident: &p.incident,
            transaction: &p.transaction,
            detail: &p.detail,
            body: &p.body,
            queued_at: time(p.queued_at),
            attempts: p.attempts,
        }
    }
}

/// `quarantine list`.
pub fn quarantine(
    out: &mut dyn Write,
    as_json: bool,
    entries: &[QuarantineEntry],
) -> io::Result<()> {
    if as_json {
        #[derive(Serialize)]
        struct List<'a> {
            quarantine: Vec<QuarantineJson<'a>>,
        }
        let quarantine = entries.iter().map(QuarantineJson::from).collect();
        return json(out, &List { quarantine });
    }
    if entries.is_empty() {
        return writeln!(out, "no quarantined messages");
    }
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|q| {
            [
                q.id.to_string(),
                q.transaction.clone().unwrap_or_else(|| "-".into()),
                human_time(q.received_at),
                q.delivery_count.to_string(),
                q.reason.replace('\n', " "),
            ]
        })
        .collect();
    let header = ["ID", "TRANSACTION", "RECEIVED", "DELIVERIES", "REASON"].map(String::from);
    table(out, &header, &rows)
}

/// `quarantine show`: the entry with its body as received.
pub fn quarantine_entry(out: &mut dyn Write, as_json: bool, q: &QuarantineEntry) -> io::Result<()> {
    if as_json {
        return json(out, &QuarantineJson::from(q));
    }
    writeln!(out, "quarantine entry {}", q.id)?;
    for (name, value) in [
        ("reason", q.reason.clone()),
        (
            "transaction",
            q.transaction.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("received", human_time(q.received_at)),
        ("deliveries", q.delivery_count.to_string()),
        ("sha256", q.sha256.clone()),
    ] {
        writeln!(out, "  {name:<11}  {value}")?;
    }
    writeln!(out, "\nbody:")?;
    writeln!(out, "{}", q.body)
}

#[derive(Debug, Serialize)]
struct QuarantineJson<'a> {
    id: i64,
    reason: &'a str,
    transaction: Option<&'a str>,
    received_at: String,
    delivery_count: u32,
    sha256: &'a str,
    body: &'a str,
}

impl<'a> From<&'a QuarantineEntry> for QuarantineJson<'a> {
    fn from(q: &'a QuarantineEntry) -> Self {
        QuarantineJson {
            id: q.id,
            reason: &q.reason,
            transaction: q.transaction.as_deref(),
            received_at: time(q.received_at),
            delivery_count: q.delivery_count,
            sha256: &q.sha256,
            body: &q.body,
        }
    }
}

/// An accepted action: its JSON, or the human line given.
pub fn action(
    out: &mut dyn Write,
    as_json: bool,
    done: &ActionJson<'_>,
    line: &str,
) -> io::Result<()> {
    if as_json {
        json(out, done)
    } else {
        writeln!(out, "{line}")
    }
}
