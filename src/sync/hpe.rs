//! Work for HPE, committed to the store: each message goes into the outbox
//! in the same transaction as the journal entry it carries, keyed by its
//! ServiceNow origin so that a repeat (a re-read, a restart) adds nothing.

use chrono::{DateTime, Utc};

use super::SyncError;
use super::plan::{CloseCase, Closing, NotSent, SnComment};
use crate::sis::state::{Decision, Event};
use crate::sis::{CaseRef, MessageBuilder, State, TransactionName};
use crate::store::prelude::*;
use crate::store::{JournalState, NewJournal, Origin, Tx};

/// Journal kind of a ServiceNow comment sent to HPE.
pub const NOTE_KIND: &str = "note";
/// Journal kind of a ServiceNow comment that did not go to HPE.
pub const NOT_SENT_KIND: &str = "note_not_sent";
/// Journal kind of the close notes sent with a close.
pub const CLOSURE_KIND: &str = "closure";

/// What queueing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// In the outbox at this position.
    Queued { seq: i64, pending: u8 },
    /// Already in the journal: nothing added.
    Duplicate,
    /// The case's pending state does not allow it; nothing added.
    NotValid { pending: u8 },
}

/// The remote id of the close sent for `case_id` because `incident` was
/// resolved: one close per case and incident, whatever happens after.
pub fn close_remote_id(incident_sys_id: &str, case_id: i64) -> String {
    format!("close:{incident_sys_id}:{case_id}")
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Checks `transaction` against the case's pending state; `Ok(Some(state
/// after))` if it may be sent.
fn pending_after(
    tx: &Tx<'_>,
    case_id: i64,
    transaction: &TransactionName,
) -> Result<(u8, Option<u8>), SyncError> {
    let pending = tx.case_pending_state(case_id)?;
    let state = State::from_code(i64::from(pending));
    match crate::sis::state::apply(state, &Event::Send(transaction.clone())) {
        Decision::Apply(applied) => {
            let after = u8::try_from(applied.state.code()).unwrap_or(pending);
            Ok((pending, Some(after)))
        }
        Decision::Refuse(_) | Decision::Quarantine(_) => Ok((pending, None)),
    }
}

struct Outgoing<'a> {
    case_id: i64,
    transaction: TransactionName,
    kind: &'static str,
    author: &'a str,
    text: &'a str,
    event_at: i64,
    remote_id: String,
}

fn queue(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    out: Outgoing<'_>,
    now: DateTime<Utc>,
) -> Result<Queued, SyncError> {
    if tx
        .journal_by_remote_id(Origin::ServiceNow, &out.remote_id)?
        .is_some()
    {
        return Ok(Queued::Duplicate);
    }
    let (pending, after) = pending_after(tx, out.case_id, &out.transaction)?;
    let Some(after) = after else {
        return Ok(Queued::NotValid { pending });
    };
    let case = tx
        .case_by_id(out.case_id)?
        .ok_or(crate::store::StoreError::NotFound {
            what: "case",
            id: out.case_id.to_string(),
        })?;
    let case_ref = CaseRef {
        requester_id: case.requester_id,
        provider_id: case.provider_id,
    };
    let envelope = match out.transaction {
        TransactionName::ConfirmClose => builder.confirm_close(&case_ref, out.text, now)?,
        TransactionName::RequestClosure => builder.request_closure(&case_ref, out.text, now)?,
        _ => builder.provide_problem_information(&case_ref, out.text, now)?,
    };
    let body = serde_json::to_string(&envelope).map_err(SyncError::Encode)?;
    let name = out.transaction.canonical().unwrap_or_default();
    let state_after = (after != pending).then_some(after);
    let seq = tx.outbox_enqueue(out.case_id, name, &body, state_after, ms(now))?;
    tx.journal_insert(
        &NewJournal {
            case_id: out.case_id,
            origin: Origin::ServiceNow,
            kind: out.kind.to_owned(),
            author: out.author.to_owned(),
            text: out.text.to_owned(),
            event_at: out.event_at,
            remote_id: Some(out.remote_id),
            state: JournalState::Pending,
            outbox_seq: Some(seq),
        },
        ms(now),
    )?;
    Ok(Queued::Queued {
        seq,
        pending: after,
    })
}

/// A ServiceNow comment as PROVIDE PROBLEM INFORMATION to the case.
pub fn queue_note(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    case_id: i64,
    comment: &SnComment,
    now: DateTime<Utc>,
) -> Result<Queued, SyncError> {
    queue(
        tx,
        builder,
        Outgoing {
            case_id,
            transaction: TransactionName::ProvideProblemInformation,
            kind: NOTE_KIND,
            author: &comment.created_by,
            text: &comment.text,
            event_at: comment.created_on.and_utc().timestamp_millis(),
            remote_id: comment.sys_id.clone(),
        },
        now,
    )
}

/// CONFIRM CLOSE or REQUEST CLOSURE with the incident's close notes.
pub fn queue_close(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    close: &CloseCase,
    incident_sys_id: &str,
    author: &str,
    now: DateTime<Utc>,
) -> Result<Queued, SyncError> {
    let case_id = close.case_id;
    let transaction = match close.closing {
        Closing::Confirm => TransactionName::ConfirmClose,
        Closing::Request => TransactionName::RequestClosure,
    };
    let queued = queue(
        tx,
        builder,
        Outgoing {
            case_id,
            transaction: transaction.clone(),
            kind: CLOSURE_KIND,
            author,
            text: &close.notes,
            event_at: ms(now),
            remote_id: close_remote_id(incident_sys_id, case_id),
        },
        now,
    )?;
    if let Queued::Queued { .. } = queued {
        tx.audit_append(
            super::ledger::ACTOR,
            Some(case_id),
            "servicenow.close",
            &format!(
                "{} with the close notes of the incident, resolved in ServiceNow by {author}",
                transaction.canonical().unwrap_or_default()
            ),
            ms(now),
        )?;
    }
    Ok(queued)
}

/// Keeps a comment that will not reach HPE in the case's journal, marked
/// as not sent, with the reason in the audit log. A repeat adds nothing.
pub fn record_not_sent(
    tx: &Tx<'_>,
    case_id: i64,
    comment: &SnComment,
    reason: NotSent,
    waited: bool,
    now: DateTime<Utc>,
) -> Result<bool, SyncError> {
    let inserted = tx.journal_insert(
        &NewJournal {
            case_id,
            origin: Origin::ServiceNow,
            kind: NOT_SENT_KIND.to_owned(),
            author: comment.created_by.clone(),
            text: comment.text.clone(),
            event_at: comment.created_on.and_utc().timestamp_millis(),
            remote_id: Some(comment.sys_id.clone()),
            state: JournalState::Dropped,
            outbox_seq: None,
        },
        ms(now),
    )?;
    if inserted.is_inserted() {
        let why = match (reason, waited) {
            (_, true) => {
                "it waited for HPE's proposed resolution to be answered, and the case finished first"
            }
            (NotSent::NoOpenCase, false) => "the incident has no unfinished HPE case",
            (NotSent::CaseClosing, false) => "the case is being closed",
        };
        tx.audit_append(
            super::ledger::ACTOR,
            Some(case_id),
            "servicenow.comment.not_sent",
            &format!(
                "comment {} by {} was not sent to HPE: {why}",
                comment.sys_id, comment.created_by
            ),
            ms(now),
        )?;
    }
    Ok(inserted.is_inserted())
}
