//! The planner: given what the store knows of a paired incident (its last
//! read fields, its cases, HPE's notes, the write ledger) and the journal
//! entries newly read from ServiceNow, decide the work, without any I/O.
//! The executor ([`super::engine`]) only carries it out.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime};

use super::ledger::Ledger;
use super::text;
use crate::store::{CaseRow, JournalRow, is_finished};

/// `close_code` casebridge writes when HPE resolves the case.
pub const CLOSE_CODE: &str = "Solved (Permanently)";
/// Incident states (`incident.state`).
const NEW: &str = "1";
const IN_PROGRESS: &str = "2";
const ON_HOLD: &str = "3";
const RESOLVED: &str = "6";
const CLOSED: &str = "7";
/// `hold_reason` Awaiting Vendor.
const AWAITING_VENDOR: &str = "4";

/// The settings the planner follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Whose journal entries are ours (never sent to HPE).
    pub integration_user: String,
    pub mark_hold_reason: bool,
    pub sync_state_to_incident: bool,
    pub close_case_when_incident_resolved: bool,
    /// Longest journal entry the instance keeps, in characters; `None`: no limit.
    pub max_journal_chars: Option<usize>,
}

/// The incident's fields as last read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentView {
    pub sys_id: String,
    pub number: String,
    pub state: String,
    pub hold_reason: String,
    pub close_notes: String,
    pub correlation_id: String,
    pub correlation_display: String,
    /// UTC.
    pub resolved_at: Option<NaiveDateTime>,
}

/// A case of the incident, as the planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseView {
    pub case: CaseRow,
    /// Confirmed state advanced by our queued messages.
    pub pending: u8,
    /// REJECT RESOLUTION messages queued or sent: each one lets HPE propose
    /// a new resolution, which is reported anew.
    pub rejections: usize,
    /// HPE's journal entries (origin `hpe`), in journal order.
    pub hpe_notes: Vec<JournalRow>,
}

/// A paired incident: the incident and its cases, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Pair<'a> {
    pub incident: &'a IncidentView,
    pub cases: &'a [CaseView],
    pub ledger: &'a Ledger,
}

/// A journal entry read from ServiceNow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnComment {
    pub sys_id: String,
    /// UTC.
    pub created_on: NaiveDateTime,
    /// User name.
    pub created_by: String,
    pub text: String,
}

impl SnComment {
    /// Its identity by content ([`super::display::entry_key`]), the same
    /// whether it was read from `sys_journal_field` or from the text.
    pub fn key(&self) -> String {
        super::display::entry_key(self.created_on, &self.created_by, &self.text)
    }
}

/// Why a comment is not for HPE at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Written by the integration user: ours.
    Ours,
    /// Carries our origin marker: an HPE note coming back.
    Marker,
    /// Already handled (in the journal, or a write of ours in the ledger).
    Known,
    /// Older than the incident's first case: history, not a note.
    BeforePairing,
}

/// Why a comment will not reach HPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSent {
    /// No case of the incident is unfinished.
    NoOpenCase,
    /// The case is being closed (a close is queued).
    CaseClosing,
}

/// What to do with one ServiceNow comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// PROVIDE PROBLEM INFORMATION to this case now.
    Send {
        case_id: i64,
    },
    /// Wait: the case is in 6 (a resolution proposed) or its SERVICE
    /// REQUEST is not acknowledged yet.
    Hold {
        case_id: i64,
    },
    /// Keep it in casebridge's journal of this case, marked as not sent.
    NotSent {
        case_id: i64,
        reason: NotSent,
    },
    Skip(Skip),
}

/// A comment to write onto the incident, under a ledger key of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentWrite {
    pub case_id: i64,
    pub key: String,
    pub text: String,
}

/// Fields to set on the incident, with the ledger keys that record it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldWrite {
    pub values: Vec<(&'static str, String)>,
    pub keys: Vec<(i64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// CONFIRM CLOSE: the case is in 6.
    Confirm,
    /// REQUEST CLOSURE: the case is in 2–5.
    Request,
}

/// Close a case because its incident was resolved or closed in ServiceNow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseCase {
    pub case_id: i64,
    pub closing: Closing,
    pub notes: String,
}

/// The work for one paired incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PairPlan {
    pub comments: Vec<CommentWrite>,
    pub fields: Option<FieldWrite>,
    pub close: Option<CloseCase>,
}

/// The second a store time (unix ms) falls in, as ServiceNow would stamp it.
fn store_second(ms: i64) -> NaiveDateTime {
    DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .unwrap_or(DateTime::UNIX_EPOCH)
        .naive_utc()
}

/// The newest case that is not finished (§3).
fn newest_unfinished(cases: &[CaseView]) -> Option<&CaseView> {
    cases.iter().rev().find(|c| !is_finished(c.case.state))
}

/// Routes one ServiceNow journal entry. `known` holds the remote ids and
/// content keys ([`SnComment::key`]) of the entries already in casebridge's
/// journal, and the journal sys_ids claimed by a write of ours.
pub fn route_comment(
    comment: &SnComment,
    cases: &[CaseView],
    known: &HashSet<String>,
    options: &Options,
) -> Route {
    if comment.created_by == options.integration_user {
        return Route::Skip(Skip::Ours);
    }
    if text::has_marker(&comment.text) {
        return Route::Skip(Skip::Marker);
    }
    if known.contains(&comment.sys_id) || known.contains(&comment.key()) {
        return Route::Skip(Skip::Known);
    }
    let Some(first) = cases.first() else {
        return Route::Skip(Skip::BeforePairing);
    };
    if comment.created_on < store_second(first.case.created_at) {
        return Route::Skip(Skip::BeforePairing);
    }
    let Some(case) = newest_unfinished(cases) else {
        let newest = cases.last().unwrap_or(first);
        return Route::NotSent {
            case_id: newest.case.id,
            reason: NotSent::NoOpenCase,
        };
    };
    let case_id = case.case.id;
    match case.pending {
        2..=5 => Route::Send { case_id },
        0 | 6 => Route::Hold { case_id },
        _ => Route::NotSent {
            case_id,
            reason: NotSent::CaseClosing,
        },
    }
}

/// The comments a case owes the incident, each under its ledger key.
fn case_comments(case: &CaseView) -> Vec<(String, String)> {
    let row = &case.case;
    let tracking = &row.tracking_number;
    let pid = row.provider_id.as_deref();
    let mut out = vec![(
        "requested".to_owned(),
        format!(
            "casebridge: an HPE support case was requested for this incident (tracking number {tracking})."
        ),
    )];
    if let Some(pid) = pid {
        out.push((
            "accepted".to_owned(),
            format!("casebridge: HPE accepted the support case: HPE case {pid} (tracking number {tracking})."),
        ));
    }
    for note in &case.hpe_notes {
        out.push((
            format!("hpe-note:{}", note.id),
            text::hpe_note(pid, &note.entry.text),
        ));
    }
    let pid_text = pid.unwrap_or(tracking);
    match row.state {
        6 => out.push((
            format!("resolution:{}", case.rejections),
            format!(
                "casebridge: HPE case {pid_text} proposes a resolution (see HPE's notes). Resolve or close this incident with close notes to confirm it."
            ),
        )),
        1 => out.push((
            "not-entitled".to_owned(),
            format!(
                "casebridge: HPE refused the support case {tracking}: not entitled (check the system's contract and serial number)."
            ),
        )),
        7 => out.push((
            "closed".to_owned(),
            format!("casebridge: HPE case {pid_text} is closed."),
        )),
        _ => {}
    }
    out
}

/// Decides the writes to the incident and the close of its case.
pub fn plan_pair(pair: Pair<'_>, options: &Options) -> PairPlan {
    let Pair { cases, ledger, .. } = pair;
    let comments = cases
        .iter()
        .flat_map(|case| {
            case_comments(case)
                .into_iter()
                .filter(|(key, _)| !ledger.is_done(case.case.id, key))
                .map(|(key, text)| CommentWrite {
                    case_id: case.case.id,
                    key,
                    text: text::fit(&text, options.max_journal_chars),
                })
        })
        .collect();
    PairPlan {
        comments,
        fields: plan_fields(pair, options),
        close: plan_close(pair, options),
    }
}

/// The close notes casebridge writes when HPE's case is in `state` (6 or 7).
fn resolution_notes(case: &CaseRow, state: u8) -> String {
    let pid = case.provider_id.as_deref().unwrap_or(&case.tracking_number);
    if state == 6 {
        format!("HPE case {pid} proposes a resolution; see HPE's notes in the comments.")
    } else {
        format!("HPE case {pid} is closed; see HPE's notes in the comments.")
    }
}

fn plan_fields(pair: Pair<'_>, options: &Options) -> Option<FieldWrite> {
    let Pair {
        incident,
        cases,
        ledger,
    } = pair;
    let mut write = FieldWrite::default();
    let unfinished = newest_unfinished(cases);
    let correlation_id = unfinished
        .and_then(|c| c.case.provider_id.clone())
        .unwrap_or_default();
    if incident.correlation_id != correlation_id {
        write.values.push(("correlation_id", correlation_id));
    }
    if incident.correlation_display != text::CORRELATION_DISPLAY {
        write
            .values
            .push(("correlation_display", text::CORRELATION_DISPLAY.to_owned()));
    }
    let open = matches!(incident.state.as_str(), NEW | IN_PROGRESS | ON_HOLD);
    let mut resolving = false;
    if options.sync_state_to_incident
        && open
        && let Some(newest) = cases.last()
        && matches!(newest.case.state, 6 | 7)
        && !ledger.has(newest.case.id, "incident-resolved")
    {
        let notes = resolution_notes(&newest.case, newest.case.state);
        write.values.push(("state", RESOLVED.to_owned()));
        write.values.push(("close_code", CLOSE_CODE.to_owned()));
        write.values.push(("close_notes", notes));
        write
            .keys
            .push((newest.case.id, "incident-resolved".to_owned()));
        resolving = true;
    }
    if options.mark_hold_reason {
        plan_hold(pair, resolving, &mut write);
    }
    (!write.values.is_empty()).then_some(write)
}

/// On hold, Awaiting Vendor, while HPE works on an unfinished case; back to
/// In Progress once it proposes a resolution or finishes. Each case sets
/// and releases the hold once, so a person's later change is not fought.
fn plan_hold(pair: Pair<'_>, resolving: bool, write: &mut FieldWrite) {
    let Pair {
        incident,
        cases,
        ledger,
    } = pair;
    let held = incident.state == ON_HOLD && incident.hold_reason == AWAITING_VENDOR;
    let release: Vec<i64> = cases
        .iter()
        .filter(|c| {
            (is_finished(c.case.state) || c.case.state == 6)
                && ledger.has(c.case.id, "hold")
                && !ledger.has(c.case.id, "hold-released")
        })
        .map(|c| c.case.id)
        .collect();
    if !release.is_empty() && (held || resolving) {
        if !resolving {
            write.values.push(("state", IN_PROGRESS.to_owned()));
        }
        write.values.push(("hold_reason", String::new()));
        write.keys.extend(
            release
                .into_iter()
                .map(|id| (id, "hold-released".to_owned())),
        );
        return;
    }
    if resolving {
        return;
    }
    if let Some(case) = newest_unfinished(cases)
        && case.case.state <= 5
        && matches!(incident.state.as_str(), NEW | IN_PROGRESS)
        && !ledger.has(case.case.id, "hold")
    {
        write.values.push(("state", ON_HOLD.to_owned()));
        write
            .values
            .push(("hold_reason", AWAITING_VENDOR.to_owned()));
        write.keys.push((case.case.id, "hold".to_owned()));
    }
}

fn plan_close(pair: Pair<'_>, options: &Options) -> Option<CloseCase> {
    let Pair {
        incident,
        cases,
        ledger,
    } = pair;
    if !options.close_case_when_incident_resolved {
        return None;
    }
    let resolved = matches!(incident.state.as_str(), RESOLVED | CLOSED);
    let notes = incident.close_notes.trim();
    if !resolved || notes.is_empty() {
        return None;
    }
    let case = newest_unfinished(cases)?;
    // Our own resolution of the incident coming back is no request to close;
    // a person closing it afterwards, or writing close notes of their own, is.
    let our_notes = [6, 7].map(|s| resolution_notes(&case.case, s));
    if incident.state == RESOLVED
        && ledger.has(case.case.id, "incident-resolved")
        && our_notes.iter().any(|n| n.trim() == notes)
    {
        return None;
    }
    if incident
        .resolved_at
        .is_some_and(|at| at < store_second(case.case.created_at))
    {
        return None;
    }
    let closing = match case.pending {
        6 => Closing::Confirm,
        2..=5 => Closing::Request,
        _ => return None,
    };
    Some(CloseCase {
        case_id: case.case.id,
        closing,
        notes: incident.close_notes.clone(),
    })
}

#[cfg(test)]
mod tests;
