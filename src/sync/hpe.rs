//! Work for HPE, committed to the store: each message goes into the outbox
//! in the same transaction as the journal entry it carries, keyed by its
//! ServiceNow origin so that a repeat (a re-read, a restart) adds nothing.

use chrono::{DateTime, Utc};

use super::SyncError;
use super::plan::{CloseCase, NotSent, SnComment};
use crate::gsem::actions::{ActionError, FollowUp, FollowUpKind, Provenance, commit_follow_up};
use crate::sis::{MessageBuilder, TransactionName};
use crate::store::prelude::*;
use crate::store::{JournalState, NewJournal, Origin, Tx};

/// Journal kind of a ServiceNow comment that did not go to HPE.
pub const NOT_SENT_KIND: &str = "note_not_sent";

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

/// Commits `follow` through the operators' own path
/// ([`commit_follow_up`]), once per ServiceNow remote id.
fn queue(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    follow: &FollowUp<'_>,
    now: DateTime<Utc>,
) -> Result<(Queued, Option<TransactionName>), SyncError> {
    if let Some(remote_id) = &follow.provenance.remote_id
        && tx
            .journal_by_remote_id(follow.provenance.origin, remote_id)?
            .is_some()
    {
        return Ok((Queued::Duplicate, None));
    }
    match commit_follow_up(tx, builder, follow, now) {
        Ok(queued) => Ok((
            Queued::Queued {
                seq: queued.seq,
                pending: queued.pending as u8,
            },
            Some(queued.transaction),
        )),
        // Refused before anything was written.
        Err(ActionError::Refused(_)) => Ok((
            Queued::NotValid {
                pending: tx.case_pending_state(follow.case_id)?,
            },
            None,
        )),
        Err(other) => Err(other.into()),
    }
}

fn from_servicenow(remote_id: String, event_at: i64) -> Provenance {
    Provenance {
        origin: Origin::ServiceNow,
        remote_id: Some(remote_id),
        event_at,
    }
}

/// A ServiceNow comment as PROVIDE PROBLEM INFORMATION to the case.
pub fn queue_note(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    case_id: i64,
    comment: &SnComment,
    now: DateTime<Utc>,
) -> Result<Queued, SyncError> {
    let follow = FollowUp {
        case_id,
        kind: FollowUpKind::Note,
        author: &comment.created_by,
        text: &comment.text,
        provenance: from_servicenow(
            comment.sys_id.clone(),
            comment.created_on.and_utc().timestamp_millis(),
        ),
    };
    Ok(queue(tx, builder, &follow, now)?.0)
}

/// CONFIRM CLOSE or REQUEST CLOSURE (as the case's pending state says)
/// with the incident's close notes.
pub fn queue_close(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    close: &CloseCase,
    incident_sys_id: &str,
    author: &str,
    now: DateTime<Utc>,
) -> Result<Queued, SyncError> {
    let case_id = close.case_id;
    let follow = FollowUp {
        case_id,
        kind: FollowUpKind::Close,
        author,
        text: &close.notes,
        provenance: from_servicenow(close_remote_id(incident_sys_id, case_id), ms(now)),
    };
    let (queued, transaction) = queue(tx, builder, &follow, now)?;
    if let Some(transaction) = transaction {
        tx.audit_append(
            super::ledger::ACTOR,
            Some(case_id),
            "servicenow.close",
            &format!(
                "{transaction} with the close notes of the incident, resolved in ServiceNow by {author}"
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
