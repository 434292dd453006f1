//! What an operator can ask of HPE: open a case, add a note, close, reject a
//! resolution, query. Each is checked against the case's *pending* state,
//! built with every generated value fixed now, and committed as the case
//! change, its journal entry and its outbox row in one transaction; the
//! drainer sends it later.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::shared::{SharedStore, with_store};
use crate::sis::state::{self, Decision, Event, Refusal, State};
use crate::sis::{
    BuildError, CaseRef, Envelope, MessageBuilder, Requester, ServiceRequestInput, TransactionName,
};
use crate::store::prelude::*;
use crate::store::{CaseRow, JournalState, NewCase, NewJournal, Origin, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no case {0} in the store")]
    NoCase(i64),
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Build(#[from] BuildError),
    #[error("cannot write the message as JSON: {0}")]
    Json(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A case to open: what the store needs and what the SERVICE REQUEST
/// carries besides the ids the store assigns.
#[derive(Debug, Clone)]
pub struct OpenCase {
    pub case: NewCase,
    pub requester: Requester,
    pub contract: String,
    pub serial: String,
}

/// What an action committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub case_id: i64,
    pub seq: i64,
    /// The case's pending state with this message.
    pub pending: State,
}

/// The outbound actions, for the console and the CLI.
#[derive(Debug, Clone)]
pub struct Actions {
    store: SharedStore,
    builder: Arc<MessageBuilder>,
    /// Rung after each commit so the drainer sends at once.
    drainer_wake: Arc<Notify>,
}

impl Actions {
    pub fn new(store: SharedStore, builder: MessageBuilder, drainer_wake: Arc<Notify>) -> Self {
        Self {
            store,
            builder: Arc::new(builder),
            drainer_wake,
        }
    }

    /// Opens a case in state 0 with its SERVICE REQUEST queued.
    pub async fn open_case(
        &self,
        open: OpenCase,
        now: DateTime<Utc>,
    ) -> Result<(CaseRow, Queued), ActionError> {
        let builder = Arc::clone(&self.builder);
        let done = with_store(&self.store, move |s| {
            s.transaction(|tx| {
                let ms = now.timestamp_millis();
                let case = tx.create_case(&open.case, ms)?;
                let pending = decide(None, &TransactionName::ServiceRequest)?;
                let input = ServiceRequestInput {
                    requester_id: case.requester_id.clone(),
                    severity: case.severity.clone(),
                    requester: open.requester.clone(),
                    contract: open.contract.clone(),
                    serial: open.serial.clone(),
                    tracking_number: case.tracking_number.clone(),
                    title: case.title.clone(),
                    description: case.description.clone(),
                };
                let envelope = builder.service_request(&input, now)?;
                let queued = enqueue(
                    tx,
                    &case,
                    &TransactionName::ServiceRequest,
                    &envelope,
                    pending,
                    &case.opened_by,
                    ("opened", &case.description),
                    ms,
                )?;
                Ok::<_, ActionError>((case, queued))
            })
        })
        .await?;
        self.drainer_wake.notify_one();
        Ok(done)
    }

    /// PROVIDE PROBLEM INFORMATION: a note to HPE (valid in 2–5).
    pub async fn add_note(
        &self,
        case_id: i64,
        author: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, ActionError> {
        self.follow_up(case_id, author, text, now, |_| {
            TransactionName::ProvideProblemInformation
        })
        .await
    }

    /// CONFIRM CLOSE when HPE proposed a resolution (6), REQUEST CLOSURE in
    /// 2–5; refused otherwise. Closure notes are mandatory.
    pub async fn close(
        &self,
        case_id: i64,
        author: &str,
        notes: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, ActionError> {
        self.follow_up(case_id, author, notes, now, |pending| {
            if pending == State::ClosedPendingConfirmation {
                TransactionName::ConfirmClose
            } else {
                TransactionName::RequestClosure
            }
        })
        .await
    }

    /// REJECT RESOLUTION (6 only); the reason is mandatory.
    pub async fn reject_resolution(
        &self,
        case_id: i64,
        author: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, ActionError> {
        self.follow_up(case_id, author, reason, now, |_| {
            TransactionName::RejectResolution
        })
        .await
    }

    /// QUERY INCIDENT: ask for HPE's view of the case (2–6).
    pub async fn query(
        &self,
        case_id: i64,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, ActionError> {
        self.follow_up(case_id, author, "", now, |_| TransactionName::QueryIncident)
            .await
    }

    /// The common path of every message after the SERVICE REQUEST. The
    /// transaction is checked against the pending state before it is built,
    /// so the operator sees the state's reason first.
    async fn follow_up(
        &self,
        case_id: i64,
        author: &str,
        text: &str,
        now: DateTime<Utc>,
        choose: fn(State) -> TransactionName,
    ) -> Result<Queued, ActionError> {
        let builder = Arc::clone(&self.builder);
        let author = author.to_string();
        let text = text.to_string();
        let queued = with_store(&self.store, move |s| {
            s.transaction(|tx| {
                let ms = now.timestamp_millis();
                let case = tx
                    .case_by_id(case_id)?
                    .ok_or(ActionError::NoCase(case_id))?;
                let pending_code = tx.case_pending_state(case_id)?;
                let pending = State::from_code(i64::from(pending_code)).unwrap_or(State::Beginning);
                let transaction = choose(pending);
                let after = decide(Some(pending), &transaction)?;
                let case_ref = CaseRef {
                    requester_id: case.requester_id.clone(),
                    provider_id: case.provider_id.clone(),
                };
                let (kind, envelope) = build(&builder, &transaction, &case_ref, &text, now)?;
                enqueue(
                    tx,
                    &case,
                    &transaction,
                    &envelope,
                    after,
                    &author,
                    (kind, &text),
                    ms,
                )
            })
        })
        .await?;
        self.drainer_wake.notify_one();
        Ok(queued)
    }
}

/// The journal kind and the message of one follow-up transaction.
fn build(
    builder: &MessageBuilder,
    transaction: &TransactionName,
    case: &CaseRef,
    text: &str,
    now: DateTime<Utc>,
) -> Result<(&'static str, Envelope), ActionError> {
    Ok(match transaction {
        TransactionName::ProvideProblemInformation => (
            "note",
            builder.provide_problem_information(case, text, now)?,
        ),
        TransactionName::ConfirmClose => ("closure", builder.confirm_close(case, text, now)?),
        TransactionName::RequestClosure => ("closure", builder.request_closure(case, text, now)?),
        TransactionName::RejectResolution => (
            "resolution rejected",
            builder.reject_resolution(case, text, now)?,
        ),
        TransactionName::QueryIncident => ("query", builder.query_incident(case, now)?),
        other => return Err(Refusal::NotOurs(other.clone()).into()),
    })
}

/// The pending state after sending `transaction`, or why it must not go.
fn decide(pending: Option<State>, transaction: &TransactionName) -> Result<State, ActionError> {
    match state::apply(pending, &Event::Send(transaction.clone())) {
        Decision::Apply(applied) => Ok(applied.state),
        Decision::Refuse(refusal) => Err(refusal.into()),
        // Only inbound messages are quarantined; `Send` never is.
        Decision::Quarantine(reason) => Err(ActionError::Json(reason.to_string())),
    }
}

#[allow(clippy::too_many_arguments)]
fn enqueue(
    tx: &Tx<'_>,
    case: &CaseRow,
    transaction: &TransactionName,
    envelope: &Envelope,
    after: State,
    author: &str,
    (kind, text): (&str, &str),
    now: i64,
) -> Result<Queued, ActionError> {
    let body = envelope
        .to_json()
        .map_err(|e| ActionError::Json(e.to_string()))?;
    let body = String::from_utf8(body).map_err(|e| ActionError::Json(e.to_string()))?;
    let seq = tx.outbox_enqueue(
        case.id,
        &transaction.to_string(),
        &body,
        Some(after as u8),
        now,
    )?;
    if !text.is_empty() {
        tx.journal_insert(
            &NewJournal {
                case_id: case.id,
                origin: Origin::Local,
                kind: kind.to_string(),
                author: author.to_string(),
                text: text.to_string(),
                event_at: now,
                remote_id: None,
                state: JournalState::Pending,
                outbox_seq: Some(seq),
            },
            now,
        )?;
    }
    tx.audit_append(
        author,
        Some(case.id),
        "queued",
        &format!("{transaction} (message {seq})"),
        now,
    )?;
    Ok(Queued {
        case_id: case.id,
        seq,
        pending: after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sis::{ActivityTable, Destination, Person};
    use crate::store::{OutboxState, Role, Store};

    fn actions(dir: &std::path::Path) -> (Actions, SharedStore, Arc<Notify>) {
        let store: SharedStore = Arc::new(std::sync::Mutex::new(
            Store::open(&dir.join("cases.db"), Role::Tool).unwrap(),
        ));
        let wake = Arc::new(Notify::new());
        let builder = MessageBuilder::new(
            Destination {
                remote_agent_name: "SFDC_Train_REST_P042".into(),
                remote_agent_type: "CUSTOMER".into(),
            },
            ActivityTable::default(),
        );
        (
            Actions::new(Arc::clone(&store), builder, Arc::clone(&wake)),
            store,
            wake,
        )
    }

    fn open() -> OpenCase {
        OpenCase {
            case: NewCase {
                incident_number: "INC0097539".into(),
                severity: "MAJOR".into(),
                title: "Slingshot fabric manager down".into(),
                description: "fmn reports 3 links down\r\n\u{0}end".into(),
                system_id: None,
                opened_by: "jdoe".into(),
            },
            requester: Requester {
                organization_name: "NERSC".into(),
                person: Person {
                    first_name: "Jane".into(),
                    last_name: "Doe".into(),
                    phone: "+1 510 555 0100".into(),
                    email: "jdoe@example.org".into(),
                },
                ..Requester::default()
            },
            contract: "2155240525".into(),
            serial: "5UF044F7CY".into(),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_714_366_670 + seconds, 0).unwrap()
    }

    #[tokio::test]
    async fn each_action_commits_its_outbox_row_journal_and_pending_state() {
        let dir = tempfile::tempdir().unwrap();
        let (actions, store, _) = actions(dir.path());
        let (case, sr) = actions.open_case(open(), at(0)).await.unwrap();
        assert_eq!(case.state, 0);
        assert_eq!(case.requester_id, "INC0097539");
        assert_eq!(sr.pending, State::ProblemSubmitted);
        let row = store.lock().unwrap().outbox_get(sr.seq).unwrap().unwrap();
        assert_eq!(row.transaction_name, "SERVICE REQUEST");
        assert_eq!(row.state, OutboxState::Queued);
        assert_eq!(row.state_after, Some(3));
        assert!(
            row.body.contains("\"LN=INC0097539_1\"") || row.body.contains("LN=INC0097539_1"),
            "{}",
            row.body
        );
        assert!(row.body.contains("2024-04-29 04:57:50"), "{}", row.body);

        let note = actions
            .add_note(case.id, "jdoe", "logs attached", at(60))
            .await
            .unwrap();
        assert_eq!(note.pending, State::ProblemSubmitted);
        let journal = store.lock().unwrap().journal_for_case(case.id).unwrap();
        let last = &journal.last().unwrap().entry;
        assert_eq!(last.state, JournalState::Pending);
        assert_eq!(last.outbox_seq, Some(note.seq));
        assert_eq!(last.text, "logs attached");

        let query = actions.query(case.id, "jdoe", at(90)).await.unwrap();
        assert_eq!(query.pending, State::ProblemSubmitted);

        // Closing before a resolution is REQUEST CLOSURE.
        let close = actions
            .close(case.id, "jdoe", "fixed by reboot", at(120))
            .await
            .unwrap();
        assert_eq!(close.pending, State::Closed);
        let row = store
            .lock()
            .unwrap()
            .outbox_get(close.seq)
            .unwrap()
            .unwrap();
        assert_eq!(row.transaction_name, "REQUEST CLOSURE");
        // The case is finished as far as we are concerned: nothing more.
        let refused = actions
            .add_note(case.id, "jdoe", "one more", at(130))
            .await
            .unwrap_err();
        assert!(matches!(refused, ActionError::Refused(_)), "{refused}");
        assert!(
            refused.to_string().contains("the case is finished"),
            "{refused}"
        );
    }

    #[tokio::test]
    async fn closing_a_resolved_case_confirms_and_rejecting_needs_state_6_and_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (actions, store, _) = actions(dir.path());
        let (case, sr) = actions.open_case(open(), at(0)).await.unwrap();
        let refused = actions
            .reject_resolution(case.id, "jdoe", "still broken", at(10))
            .await
            .unwrap_err();
        assert!(matches!(refused, ActionError::Refused(_)), "{refused}");
        {
            let s = store.lock().unwrap();
            s.outbox_mark_acked(sr.seq, false, 1).unwrap();
            s.set_case_state(case.id, 6, 1).unwrap();
        }
        let empty = actions
            .reject_resolution(case.id, "jdoe", "  ", at(20))
            .await
            .unwrap_err();
        assert!(matches!(empty, ActionError::Build(_)), "{empty}");
        let no_notes = actions
            .close(case.id, "jdoe", "", at(25))
            .await
            .unwrap_err();
        assert!(matches!(no_notes, ActionError::Build(_)), "{no_notes}");
        let close = actions
            .close(case.id, "jdoe", "confirmed fixed", at(30))
            .await
            .unwrap();
        let row = store
            .lock()
            .unwrap()
            .outbox_get(close.seq)
            .unwrap()
            .unwrap();
        assert_eq!(row.transaction_name, "CONFIRM CLOSE");
        assert_eq!(close.pending, State::Closed);
        let missing = actions.query(9999, "jdoe", at(40)).await.unwrap_err();
        assert!(matches!(missing, ActionError::NoCase(9999)), "{missing}");
    }
}
