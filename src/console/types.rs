//! What the engine tells the console: plain data, no store or SIS types, so
//! a remote engine can send the same values over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The engine's id of a case (stable for its life; not shown to operators).
pub type CaseId = i64;

/// The priority chosen in the open-case dialog, sent as HPE's
/// `RequesterSeverity` through the `[severity]` map of the config.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum Priority {
    #[default]
    Normal,
    CriticalDegraded,
    CriticalDown,
}

impl Priority {
    /// In the order the dialog offers them.
    pub const ALL: [Priority; 3] = [
        Priority::Normal,
        Priority::CriticalDegraded,
        Priority::CriticalDown,
    ];

    /// The words of the NERSC dialog.
    pub fn label(self) -> &'static str {
        match self {
            Priority::Normal => "Normal",
            Priority::CriticalDegraded => "Critical Degraded",
            Priority::CriticalDown => "Critical Down",
        }
    }
}

/// The SIS state (`gsem.md` §3) in words an operator reads in the list.
pub fn state_words(code: u8) -> &'static str {
    match code {
        0 => "Requested",
        1 => "Not entitled",
        2 => "Entitled",
        3 => "Submitted",
        4 => "Waiting on us",
        5 => "With HPE",
        6 => "Resolution proposed",
        7 => "Closed",
        _ => "Unknown state",
    }
}

/// Whether a state code is terminal (1 Not_Entitled, 7 Closed).
pub fn is_finished(code: u8) -> bool {
    matches!(code, 1 | 7)
}

/// Marks the list shows beside a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseFlags {
    /// Some message of ours is queued and not yet acknowledged.
    pub pending: bool,
    /// A message of ours was refused for good and is parked.
    pub failed: bool,
    /// HPE asked us for information (state 4).
    pub info_requested: bool,
    /// No answer to the SERVICE REQUEST after the configured time.
    pub overdue: bool,
}

/// One row of the case list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSummary {
    pub id: CaseId,
    /// The ServiceNow incident number, e.g. `INC0012345`.
    pub incident: String,
    /// `<incident>_<N>`, the tracking number of the case.
    pub tracking: String,
    /// HPE's case number, once ACCEPT PROBLEM carried it.
    pub provider_id: Option<String>,
    /// The configured HPE system name.
    pub system: String,
    pub priority: Priority,
    /// Confirmed SIS state code: what GSEM last stated or implied.
    pub state: u8,
    /// State after our queued, unacknowledged messages; what a new action is
    /// checked against.
    pub pending_state: u8,
    /// HPE's own `WorkflowStatus` text, verbatim.
    pub workflow_status: Option<String>,
    /// Time of the last update on either side.
    pub updated: DateTime<Utc>,
    pub open_tasks: u32,
    pub parts_in_transit: u32,
    pub flags: CaseFlags,
}

impl CaseSummary {
    /// In state 1 or 7 (confirmed or pending): nothing more can be sent.
    pub fn finished(&self) -> bool {
        is_finished(self.state) || is_finished(self.pending_state)
    }
}

/// Where a timeline entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// Written in casebridge by an operator.
    Local,
    /// From HPE through GSEM.
    Hpe,
    /// From the ServiceNow incident.
    ServiceNow,
}

/// Delivery of a timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryStatus {
    /// Queued for HPE, not yet acknowledged.
    Pending,
    /// Acknowledged by GSEM.
    Sent,
    /// Refused for good: the message is parked with GSEM's detail.
    Failed { reason: String },
    /// Inbound, recorded.
    Received,
    /// Recorded but deliberately not sent (e.g. a ServiceNow work note while
    /// the case was finished).
    NotSent { reason: String },
}

/// One entry of a case's narrative timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub id: i64,
    pub origin: Origin,
    /// Who wrote it: an operator, a ServiceNow user, or `HPE`.
    pub author: String,
    /// What it is: `NOTE`, `SERVICE REQUEST`, `PROBLEM RESOLUTION`, …
    pub kind: String,
    pub text: String,
    pub time: DateTime<Utc>,
    pub status: EntryStatus,
    /// The message as received or sent, when there is one.
    pub raw: Option<String>,
}

/// One event of an onsite task or a part order (`gsem.md` §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEvent {
    /// Canonical status, or HPE's word verbatim when `known` is false.
    pub status: String,
    pub known: bool,
    pub time: DateTime<Utc>,
    /// The update it was parsed from, verbatim.
    pub raw: String,
}

/// An onsite task of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub task_id: String,
    /// Current status (of the newest event).
    pub status: String,
    pub known: bool,
    /// Not complete or cancelled.
    pub open: bool,
    pub description: Option<String>,
    pub scheduled_start: Option<String>,
    pub engineer_eta: Option<String>,
    pub events: Vec<RecordEvent>,
}

/// A part order of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartView {
    pub order_id: String,
    pub part_number: Option<String>,
    pub part_description: Option<String>,
    pub quantity: Option<u32>,
    pub status: String,
    pub known: bool,
    /// Ordered, backordered or shipped: not delivered yet.
    pub in_transit: bool,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub eta: Option<String>,
    pub return_required: Option<bool>,
    pub return_status: Option<String>,
    pub events: Vec<RecordEvent>,
}

/// Everything the case view shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseDetail {
    pub summary: CaseSummary,
    pub title: String,
    pub description: String,
    /// Oldest first: the entries the [`super::History`] asked for, and every
    /// one since.
    pub timeline: Vec<TimelineEntry>,
    /// Entries older than the first of `timeline`, not sent: a
    /// [`super::Request::LoadCase`] asking for more history brings them.
    /// (None from a `serve` from before pages, which sent them all.)
    #[serde(default)]
    pub older_entries: u32,
    pub tasks: Vec<TaskView>,
    pub parts: Vec<PartView>,
    /// Programmatic updates the rules could not parse (kept as notes).
    pub unparsed_updates: u32,
}

/// An incident the open-case dialog can start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentSummary {
    pub number: String,
    pub short_description: String,
    pub description: String,
    /// The incident's configuration item, used to prefill the system.
    pub ci: Option<String>,
    /// Cases of this incident that are not finished.
    pub open_cases: u32,
}

/// A configured HPE system the dialog offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemChoice {
    pub name: String,
    pub serial: String,
    /// ServiceNow CI names that mean this system.
    pub cis: Vec<String>,
}

impl SystemChoice {
    /// Whether an incident's CI designates this system (case-insensitive).
    pub fn matches_ci(&self, ci: &str) -> bool {
        self.name.eq_ignore_ascii_case(ci) || self.cis.iter().any(|c| c.eq_ignore_ascii_case(ci))
    }
}

/// How inbound messages reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SyncMode {
    #[default]
    Pull,
    Push,
}

/// The sync health the console always shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub gsem_reachable: bool,
    /// Since when GSEM has been reachable (or not).
    pub gsem_since: DateTime<Utc>,
    pub mode: SyncMode,
    pub outbox_depth: u32,
    /// Queue time of the oldest unacknowledged message.
    pub outbox_oldest: Option<DateTime<Utc>>,
    pub next_retry: Option<DateTime<Utc>>,
    pub last_gsem_contact: Option<DateTime<Utc>>,
    pub last_servicenow_contact: Option<DateTime<Utc>>,
    pub parked_count: u32,
    pub quarantine_count: u32,
    /// An oversized message blocks the inbound queue since then.
    pub inbound_blocked_since: Option<DateTime<Utc>>,
    /// A configuration or credential problem, in words with the fix.
    pub problem: Option<String>,
    /// Running on the demo store against the simulators.
    pub demo: bool,
}

/// A message of ours that GSEM refused for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedMessage {
    /// Outbox sequence number.
    pub seq: i64,
    pub incident: String,
    pub transaction: String,
    /// GSEM's `transactionStatusDetail` (or HTTP status and body), verbatim.
    pub detail: String,
    /// The JSON body as it would be sent again.
    pub body: String,
    pub queued_at: DateTime<Utc>,
    pub attempts: u32,
}

/// An inbound message that could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub id: i64,
    pub reason: String,
    pub transaction: Option<String>,
    pub received_at: DateTime<Utc>,
    pub delivery_count: u32,
    pub sha256: String,
    /// The body as received (possibly truncated for oversized ones).
    pub body: String,
}
