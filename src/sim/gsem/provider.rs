//! HPE's side: the transactions its provider system sends, in the shapes of
//! the samples (02–09, 16, 19, 20), built with the SIS types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sis::model::{Activity, EcpControl, NameValuePairs, Statement, Statements};
use crate::sis::state::{Decision, Event, Received};
use crate::sis::{self, Message, ServiceIncident, State, TransactionName};

use super::model::SimCase;

/// Which of the two forms an onsite-task or part-order update takes (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateForm {
    /// `ACTIVITY.NameValuePairList` with `eCPExtMessage_EXT_*` keys.
    Structured,
    /// A line in `Comment`.
    Text,
}

/// An onsite work order update. Dates are written as given (HPE's field
/// systems are not consistent about them, and the parser must cope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OnsiteTask {
    pub task_id: String,
    /// HPE's word (`DISPATCHED`, `ENGINEER ON SITE`, `WORK COMPLETE`, …).
    pub status: String,
    pub scheduled_start: Option<String>,
    pub engineer_eta: Option<String>,
    pub description: Option<String>,
    /// A human line written before the record line, text form only.
    pub note: Option<String>,
}

/// A part shipment update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartOrder {
    pub order_id: String,
    pub part_number: Option<String>,
    pub part_description: Option<String>,
    pub quantity: Option<u32>,
    /// HPE's word (`ORDERED`, `BACKORDERED`, `SHIPPED`, `DELIVERED`, …).
    pub status: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub eta: Option<String>,
    pub return_required: Option<bool>,
    pub return_status: Option<String>,
    /// A human line written before the record line, text form only.
    pub note: Option<String>,
}

/// One transaction of HPE's, and the state it leaves the case in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HpeAction {
    Accept,
    Entitlement {
        entitled: bool,
        comment: Option<String>,
    },
    Note(String),
    RequestInfo(String),
    OnsiteTask(OnsiteTask, UpdateForm),
    PartOrder(PartOrder, UpdateForm),
    Resolve(String),
    Close(String),
    Query,
}

/// HPE's agent identity written into its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpeAgent {
    pub name: String,
    pub kind: String,
}

impl HpeAction {
    /// What the state machine sees of this transaction: HPE states the
    /// state itself where the samples do (acceptance, entitlement,
    /// resolution, close).
    fn as_received(&self) -> Received {
        let (transaction, current_state, entitled) = match self {
            HpeAction::Accept => (
                TransactionName::AcceptProblem,
                Some(State::OpenProvider),
                None,
            ),
            HpeAction::Entitlement { entitled: true, .. } => {
                (TransactionName::Entitlement, Some(State::Entitled), Some(0))
            }
            HpeAction::Entitlement {
                entitled: false, ..
            } => (
                TransactionName::Entitlement,
                Some(State::NotEntitled),
                Some(1),
            ),
            HpeAction::Resolve(_) => (
                TransactionName::ProblemResolution,
                Some(State::ClosedPendingConfirmation),
                None,
            ),
            HpeAction::Close(_) => (
                TransactionName::ProvideProblemInformation,
                Some(State::Closed),
                None,
            ),
            HpeAction::Query => (TransactionName::QueryIncident, None, None),
            HpeAction::Note(_)
            | HpeAction::RequestInfo(_)
            | HpeAction::OnsiteTask(..)
            | HpeAction::PartOrder(..) => (TransactionName::ProvideProblemInformation, None, None),
        };
        Received {
            transaction,
            current_state: current_state.map(State::code),
            entitled,
            info_requested: matches!(self, HpeAction::RequestInfo(_)),
        }
    }

    /// The case's state once HPE has sent this, by the shared state table
    /// (§3); a message the table would quarantine leaves it as it was.
    pub fn state_after(&self, current: State) -> State {
        match sis::state::apply(Some(current), &Event::Received(self.as_received())) {
            Decision::Apply(applied) => applied.state,
            Decision::Refuse(_) | Decision::Quarantine(_) => current,
        }
    }

    /// HPE's case status text this sets, if any.
    pub fn workflow_status(&self) -> Option<&'static str> {
        match self {
            HpeAction::Accept => Some("Assigned"),
            HpeAction::Resolve(_) => Some("Resolved"),
            HpeAction::Close(_) => Some("Closed"),
            _ => None,
        }
    }

    /// The message HPE sends for `case` (which already has its ProviderID
    /// when this is an ACCEPT PROBLEM).
    pub fn message(&self, case: &SimCase, agent: &HpeAgent, now: DateTime<Utc>) -> Message {
        let received = self.as_received();
        let mut si = ServiceIncident {
            requester_id: Some(case.requester_id.clone()),
            provider_id: case.provider_id.clone(),
            workflow_status: self.workflow_status().map(str::to_owned),
            current_state: received.current_state,
            entitled: received.entitled,
            ..ServiceIncident::default()
        };
        let (name, action_log, pairs) = match self {
            HpeAction::Accept => {
                si.provider_priority = Some(priority_of(case.severity.as_deref()));
                (TransactionName::AcceptProblem, "Case accepted", Vec::new())
            }
            HpeAction::Entitlement { entitled, comment } => {
                si.provider_id = None;
                si.comment = comment.clone();
                let log = if *entitled {
                    "Entitlement verified"
                } else {
                    "Entitlement check failed"
                };
                (TransactionName::Entitlement, log, Vec::new())
            }
            HpeAction::Note(text) => {
                si.comment = Some(text.clone());
                (
                    TransactionName::ProvideProblemInformation,
                    "Note",
                    Vec::new(),
                )
            }
            HpeAction::RequestInfo(text) => {
                si.comment = Some(text.clone());
                let pairs = vec![("eCPExtMessage_InfoRequested".into(), "Y".into())];
                (TransactionName::ProvideProblemInformation, "Note", pairs)
            }
            HpeAction::OnsiteTask(task, UpdateForm::Structured) => (
                TransactionName::ProvideProblemInformation,
                "Onsite Task Update",
                task_pairs(task),
            ),
            HpeAction::OnsiteTask(task, UpdateForm::Text) => {
                si.comment = Some(with_note(task.note.as_deref(), task_line(task)));
                (
                    TransactionName::ProvideProblemInformation,
                    "Note",
                    Vec::new(),
                )
            }
            HpeAction::PartOrder(order, UpdateForm::Structured) => (
                TransactionName::ProvideProblemInformation,
                "Part Order Update",
                part_pairs(order),
            ),
            HpeAction::PartOrder(order, UpdateForm::Text) => {
                si.comment = Some(with_note(order.note.as_deref(), part_line(order)));
                (
                    TransactionName::ProvideProblemInformation,
                    "Note",
                    Vec::new(),
                )
            }
            HpeAction::Resolve(solution) => {
                si.solution = Some(Statements::and(vec![Statement::new("FIX", solution)]));
                (
                    TransactionName::ProblemResolution,
                    "Resolution proposed",
                    Vec::new(),
                )
            }
            HpeAction::Close(comment) => {
                si.comment = Some(comment.clone());
                (
                    TransactionName::ProvideProblemInformation,
                    "Case closed",
                    Vec::new(),
                )
            }
            HpeAction::Query => (TransactionName::QueryIncident, "Query", Vec::new()),
        };
        si.activity = Some(Activity {
            // HPE stamps its activity a second before the queue does.
            local_date: Some(sis::date::format(now - chrono::Duration::seconds(1))),
            action_log: Some(action_log.into()),
            parameter_list: None,
            name_value_pairs: (!pairs.is_empty()).then_some(NameValuePairs(pairs)),
        });
        Message {
            transaction_name: name,
            remote_agent_name: Some(agent.name.clone()),
            remote_agent_type: Some(agent.kind.clone()),
            ecp_control: Some(EcpControl {
                ecp_version: Some("1.0".into()),
                ..EcpControl::default()
            }),
            service_incident: Some(si),
        }
    }
}

/// HPE's priority for our severity (sample 02: `MAJOR` → 2).
fn priority_of(severity: Option<&str>) -> i64 {
    match severity.map(str::to_ascii_uppercase).as_deref() {
        Some("CRITICAL") => 1,
        Some("MAJOR") => 2,
        _ => 3,
    }
}

/// The refusal of an entitlement check, worded as in sample 07.
pub fn not_covered(contract: &str, serial: &str) -> String {
    format!("Contract CN={contract} does not cover serial {serial}")
}

fn pair(key: &str, value: &str) -> (String, String) {
    (format!("eCPExtMessage_EXT_{key}"), value.to_owned())
}

fn task_pairs(task: &OnsiteTask) -> Vec<(String, String)> {
    let mut pairs = vec![
        pair("TASK_TaskID", &task.task_id),
        pair("TASK_TaskStatus", &task.status),
    ];
    let optional = [
        ("TASK_ScheduledStart", &task.scheduled_start),
        ("TASK_EngineerETA", &task.engineer_eta),
        ("TASK_Description", &task.description),
    ];
    pairs.extend(
        optional
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|v| pair(key, v))),
    );
    pairs
}

fn part_pairs(order: &PartOrder) -> Vec<(String, String)> {
    let quantity = order.quantity.map(|q| q.to_string());
    let return_required = order.return_required.map(yes_no).map(str::to_owned);
    let status = Some(order.status.clone());
    let fields = [
        ("PART_PartNumber", &order.part_number),
        ("PART_PartDescription", &order.part_description),
        ("PART_Quantity", &quantity),
        ("PART_Status", &status),
        ("PART_Carrier", &order.carrier),
        ("PART_TrackingNumber", &order.tracking_number),
        ("PART_ETA", &order.eta),
        ("PART_ReturnRequired", &return_required),
        ("PART_ReturnStatus", &order.return_status),
    ];
    let mut pairs = vec![pair("PART_OrderID", &order.order_id)];
    pairs.extend(
        fields
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|v| pair(key, v))),
    );
    pairs
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "Y" } else { "N" }
}

/// `ONSITE TASK <id> STATUS: <status> ETA: <eta>` (sample 09).
fn task_line(task: &OnsiteTask) -> String {
    let mut line = format!("ONSITE TASK {} STATUS: {}", task.task_id, task.status);
    if let Some(eta) = &task.engineer_eta {
        line.push_str(&format!(" ETA: {eta}"));
    }
    line
}

/// `PART ORDER <id> PN <pn> (<desc>) QTY <n> STATUS <s> CARRIER <c>
/// TRACKING <t> ETA <eta>` (sample 05), then the return tags.
fn part_line(order: &PartOrder) -> String {
    let mut line = format!("PART ORDER {}", order.order_id);
    if let Some(pn) = &order.part_number {
        line.push_str(&format!(" PN {pn}"));
        if let Some(description) = &order.part_description {
            line.push_str(&format!(" ({description})"));
        }
    }
    if let Some(quantity) = order.quantity {
        line.push_str(&format!(" QTY {quantity}"));
    }
    line.push_str(&format!(" STATUS {}", order.status));
    let tags = [
        ("CARRIER", &order.carrier),
        ("TRACKING", &order.tracking_number),
        ("ETA", &order.eta),
    ];
    for (tag, value) in tags {
        if let Some(value) = value {
            line.push_str(&format!(" {tag} {value}"));
        }
    }
    if let Some(required) = order.return_required {
        line.push_str(&format!(" RETURN REQUIRED: {}", yes_no(required)));
    }
    if let Some(status) = &order.return_status {
        line.push_str(&format!(" RETURNED: {status}"));
    }
    line
}

fn with_note(note: Option<&str>, line: String) -> String {
    match note {
        Some(note) if !note.is_empty() => format!("{note}\n{line}"),
        _ => line,
    }
}
