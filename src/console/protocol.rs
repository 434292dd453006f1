//! The operations the console asks of the engine and what the engine
//! reports back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::types::{
    CaseDetail, CaseId, CaseSummary, Health, IncidentSummary, ParkedMessage, Priority,
    QuarantineEntry, SystemChoice,
};

/// Chosen by the console for each request, echoed in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// The open-case dialog's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenCase {
    pub incident: String,
    /// A configured system name.
    pub system: String,
    pub priority: Priority,
    pub title: String,
    pub description: String,
}

/// How much of a case's timeline [`Request::LoadCase`] asks for.
///
/// A case's history can run to thousands of entries, and reading them all
/// costs about a microsecond and a half each, so the case view opens on the
/// newest ones and asks for more when the operator scrolls up to them. The
/// timeline stays open at its start: entries that arrive later are added to
/// it, never pushing the oldest out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "entries", rename_all = "snake_case")]
pub enum History {
    /// The newest entries, this many (all of them if the case has fewer).
    Newest(u32),
    All,
}

impl History {
    /// What the case view asks for first, and adds each time it reaches the
    /// oldest entry it has: some twenty screens of a busy case.
    pub const PAGE: u32 = 200;
    /// The first look at a case.
    pub const FIRST_PAGE: History = History::Newest(History::PAGE);

    fn all() -> History {
        History::All
    }
}

/// An operation the console asks of the engine. Nothing here is awaited:
/// the answer comes back as an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Request {
    /// Send the case's [`CaseDetail`] (and again whenever it changes while
    /// it is the case on screen), its timeline as far back as `history`.
    LoadCase {
        case: CaseId,
        /// A console from before pages sends none and gets the whole
        /// timeline, which is what it shows.
        #[serde(default = "History::all")]
        history: History,
    },
    /// The case view was left: stop sending its detail.
    UnloadCase,
    /// Send the incidents a case can be opened from.
    LoadIncidents,
    /// Look up one incident by number (typed in the dialog).
    LookupIncident {
        number: String,
    },
    OpenCase(OpenCase),
    /// A note to HPE (PROVIDE PROBLEM INFORMATION) and to the incident.
    Comment {
        case: CaseId,
        text: String,
    },
    /// CONFIRM CLOSE in state 6, REQUEST CLOSURE in 2–5; the engine picks by
    /// the pending state, as [`super::rules::close_transaction`] does.
    Close {
        case: CaseId,
        notes: String,
    },
    RejectResolution {
        case: CaseId,
        reason: String,
    },
    /// QUERY INCIDENT.
    Query {
        case: CaseId,
    },
    /// Send a parked message again as it is.
    RetryOutbox {
        seq: i64,
    },
    /// Replace a parked message's body and send it again.
    EditAndRetry {
        seq: i64,
        body: String,
    },
    /// Drop a parked message (a SERVICE REQUEST cancels its case locally).
    DropOutbox {
        seq: i64,
    },
    ReplayQuarantine {
        id: i64,
    },
    DiscardQuarantine {
        id: i64,
    },
}

/// What the engine reports. The console redraws from these alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    /// The whole picture, first on connect (and after a reconnect).
    Snapshot(Box<Snapshot>),
    /// A case was added or changed.
    CaseChanged(CaseSummary),
    /// The detail of the case asked for with [`Request::LoadCase`].
    CaseDetail(Box<CaseDetail>),
    Incidents(Vec<IncidentSummary>),
    /// The answer to [`Request::LookupIncident`].
    IncidentFound(IncidentSummary),
    Health(Health),
    Parked(Vec<ParkedMessage>),
    Quarantine(Vec<QuarantineEntry>),
    /// The request is committed (e.g. queued in the outbox); `case` names
    /// the case it created or touched.
    RequestAccepted {
        request: RequestId,
        case: Option<CaseId>,
    },
    /// The request was refused, with the reason in words.
    RequestFailed {
        request: RequestId,
        reason: String,
    },
    /// Only from a remote engine: the connection to `serve` was lost or is
    /// back. While lost, requests are refused with the reason and what was
    /// shown stays on screen; a fresh [`Event::Snapshot`] follows the
    /// reconnection.
    Connection(Connection),
}

/// The state of the link to a remote engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    Connected {
        /// The `serve` URL.
        to: String,
    },
    Lost {
        to: String,
        since: DateTime<Utc>,
        /// Why, in words (connection refused, TLS error, 401, …).
        reason: String,
        /// When the next attempt is made.
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Everything the console needs to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub cases: Vec<CaseSummary>,
    pub health: Health,
    pub systems: Vec<SystemChoice>,
    pub parked: Vec<ParkedMessage>,
    pub quarantine: Vec<QuarantineEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_load_case_from_a_console_before_pages_asks_for_the_whole_timeline() {
        let old: Request =
            serde_json::from_str(r#"{"type": "load_case", "data": {"case": 7}}"#).unwrap();
        assert_eq!(
            old,
            Request::LoadCase {
                case: 7,
                history: History::All
            }
        );
        let new = Request::LoadCase {
            case: 7,
            history: History::FIRST_PAGE,
        };
        let json = serde_json::to_value(&new).unwrap();
        assert_eq!(
            json["data"]["history"],
            serde_json::json!({"type": "newest", "entries": 200})
        );
        assert_eq!(serde_json::from_value::<Request>(json).unwrap(), new);
    }
}
