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
    #[error(
        "the {origin} entry {remote_id} is already in the case's journal; it was queued before and is not sent twice"
    )]
    Duplicate { origin: Origin, remote_id: String },
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
    pub transaction: TransactionName,
    /// The case's pending state with this message.
    pub pending: State,
}

/// The messages that follow a case's SERVICE REQUEST; each picks its
/// transaction from the case's pending state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpKind {
    /// PROVIDE PROBLEM INFORMATION (valid in 2–5).
    Note,
    /// CONFIRM CLOSE in 6, REQUEST CLOSURE in 2–5; the notes are mandatory.
    Close,
    /// REJECT RESOLUTION (6 only); the reason is mandatory.
    RejectResolution,
    /// QUERY INCIDENT (2–6).
    Query,
}

impl FollowUpKind {
    pub fn transaction(self, pending: State) -> TransactionName {
        match self {
            FollowUpKind::Note => TransactionName::ProvideProblemInformation,
            FollowUpKind::Close if pending == State::ClosedPendingConfirmation => {
                TransactionName::ConfirmClose
            }
            FollowUpKind::Close => TransactionName::RequestClosure,
            FollowUpKind::RejectResolution => TransactionName::RejectResolution,
            FollowUpKind::Query => TransactionName::QueryIncident,
        }
    }
}

/// Where the text of a message comes from, as its journal entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    pub origin: Origin,
    /// Its id where it was written (a ServiceNow journal entry's sys_id):
    /// the store keeps one journal entry per origin and remote id.
    pub remote_id: Option<String>,
    /// When it was written there (unix ms).
    pub event_at: i64,
}

impl Provenance {
    /// Typed in casebridge itself at `now` (unix ms).
    pub fn local(now: i64) -> Self {
        Self {
            origin: Origin::Local,
            remote_id: None,
            event_at: now,
        }
    }
}

/// One follow-up message to commit with [`commit_follow_up`].
#[derive(Debug, Clone)]
pub struct FollowUp<'a> {
    pub case_id: i64,
    pub kind: FollowUpKind,
    pub author: &'a str,
    pub text: &'a str,
    pub provenance: Provenance,
}

/// The one path by which a message after the SERVICE REQUEST is queued,
/// inside the caller's transaction: the transaction is checked against the
/// case's pending state before it is built (so a refusal gives the state's
/// reason first), then its outbox row, its journal entry and an audit entry
/// are written together.
pub fn commit_follow_up(
    tx: &Tx<'_>,
    builder: &MessageBuilder,
    follow: &FollowUp<'_>,
    now: DateTime<Utc>,
) -> Result<Queued, ActionError> {
    let case = tx
        .case_by_id(follow.case_id)?
        .ok_or(ActionError::NoCase(follow.case_id))?;
    let pending_code = tx.case_pending_state(follow.case_id)?;
    let pending = State::from_code(i64::from(pending_code)).unwrap_or(State::Beginning);
    let transaction = follow.kind.transaction(pending);
    let after = decide(Some(pending), &transaction)?;
    let case_ref = CaseRef {
        requester_id: case.requester_id.clone(),
        provider_id: case.provider_id.clone(),
    };
    let (kind, envelope) = build(builder, &transaction, &case_ref, follow.text, now)?;
    enqueue(
        tx,
        &case,
        Outgoing {
            transaction: &transaction,
            envelope: &envelope,
            before: Some(pending),
            after,
            author: follow.author,
            kind,
            text: follow.text,
            provenance: &follow.provenance,
        },
        now.timestamp_millis(),
    )
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
                    Outgoing {
                        transaction: &TransactionName::ServiceRequest,
                        envelope: &envelope,
                        before: None,
                        after: pending,
                        author: &case.opened_by,
                        kind: "opened",
                        text: &case.description,
                        provenance: &Provenance::local(ms),
                    },
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
        self.follow_up(case_id, FollowUpKind::Note, author, text, now)
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
        self.follow_up(case_id, FollowUpKind::Close, author, notes, now)
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
        self.follow_up(case_id, FollowUpKind::RejectResolution, author, reason, now)
            .await
    }

    /// QUERY INCIDENT: ask for HPE's view of the case (2–6).
    pub async fn query(
        &self,
        case_id: i64,
        author: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, ActionError> {
        self.follow_up(case_id, FollowUpKind::Query, author, "", now)
            .await
    }

    /// An operator's follow-up, through [`commit_follow_up`].
    async fn follow_up(
        &self,
        case_id: i64,
        kind: FollowUpKind,
        author: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Queued, ActionError> {
        let builder = Arc::clone(&self.builder);
        let author = author.to_string();
        let text = text.to_string();
        let queued = with_store(&self.store, move |s| {
            s.transaction(|tx| {
                let follow = FollowUp {
                    case_id,
                    kind,
                    author: &author,
                    text: &text,
                    provenance: Provenance::local(now.timestamp_millis()),
                };
                commit_follow_up(tx, &builder, &follow, now)
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

/// A built message and what its journal entry records.
struct Outgoing<'a> {
    transaction: &'a TransactionName,
    envelope: &'a Envelope,
    /// The pending state before it (`None`: a new case).
    before: Option<State>,
    after: State,
    author: &'a str,
    kind: &'a str,
    text: &'a str,
    provenance: &'a Provenance,
}

fn enqueue(
    tx: &Tx<'_>,
    case: &CaseRow,
    out: Outgoing<'_>,
    now: i64,
) -> Result<Queued, ActionError> {
    let body = out
        .envelope
        .to_json()
        .map_err(|e| ActionError::Json(e.to_string()))?;
    let body = String::from_utf8(body).map_err(|e| ActionError::Json(e.to_string()))?;
    // A message that leaves the state as it is does not pin it: should
    // HPE move the case meanwhile, the pending state follows HPE.
    let state_after = (out.before != Some(out.after)).then_some(out.after as u8);
    let seq = tx.outbox_enqueue(
        case.id,
        &out.transaction.to_string(),
        &body,
        state_after,
        now,
    )?;
    if !out.text.is_empty() {
        let inserted = tx.journal_insert(
            &NewJournal {
                case_id: case.id,
                origin: out.provenance.origin,
                kind: out.kind.to_string(),
                author: out.author.to_string(),
                text: out.text.to_string(),
                event_at: out.provenance.event_at,
                remote_id: out.provenance.remote_id.clone(),
                state: JournalState::Pending,
                outbox_seq: Some(seq),
            },
            now,
        )?;
        if !inserted.is_inserted() {
            // The text is already journalled under its remote id: the
            // caller's transaction rolls back the outbox row above.
            return Err(ActionError::Duplicate {
                origin: out.provenance.origin,
                remote_id: out.provenance.remote_id.clone().unwrap_or_default(),
            });
        }
    }
    tx.audit_append(
        out.author,
        Some(case.id),
        "queued",
        &format!("{} (message {seq})", out.transaction),
        now,
    )?;
    Ok(Queued {
        case_id: case.id,
        seq,
        transaction: out.transaction.clone(),
        pending: out.after,
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
    async fn a_follow_up_from_servicenow_keeps_its_origin_and_is_committed_once() {
        let dir = tempfile::tempdir().unwrap();
        let (actions, store, _) = actions(dir.path());
        let (case, sr) = actions.open_case(open(), at(0)).await.unwrap();
        let builder = MessageBuilder::new(
            Destination {
                remote_agent_name: "SFDC_Train_REST_P042".into(),
                remote_agent_type: "CUSTOMER".into(),
            },
            ActivityTable::default(),
        );
        let follow = FollowUp {
            case_id: case.id,
            kind: FollowUpKind::Note,
            author: "jsmith",
            text: "typed in ServiceNow",
            provenance: Provenance {
                origin: Origin::ServiceNow,
                remote_id: Some("a1b2c3".into()),
                event_at: at(-5).timestamp_millis(),
            },
        };
        let s = store.lock().unwrap();
        let queued = s
            .transaction(|tx| commit_follow_up(tx, &builder, &follow, at(10)))
            .unwrap();
        assert_eq!(
            queued.transaction,
            TransactionName::ProvideProblemInformation
        );
        assert_eq!(queued.pending, State::ProblemSubmitted);
        // A note leaves the state as it is, so it does not pin it.
        assert_eq!(s.outbox_get(queued.seq).unwrap().unwrap().state_after, None);
        assert_eq!(s.outbox_get(sr.seq).unwrap().unwrap().state_after, Some(3));
        let entry = s
            .journal_by_remote_id(Origin::ServiceNow, "a1b2c3")
            .unwrap()
            .unwrap()
            .entry;
        assert_eq!(
            (
                entry.origin,
                entry.remote_id.as_deref(),
                entry.event_at,
                entry.author.as_str()
            ),
            (
                Origin::ServiceNow,
                Some("a1b2c3"),
                at(-5).timestamp_millis(),
                "jsmith"
            )
        );
        assert_eq!(entry.outbox_seq, Some(queued.seq));
        // The same entry again: refused, and its outbox row rolled back.
        let again = s
            .transaction(|tx| commit_follow_up(tx, &builder, &follow, at(20)))
            .unwrap_err();
        assert!(
            matches!(&again, ActionError::Duplicate { origin: Origin::ServiceNow, remote_id } if remote_id == "a1b2c3"),
            "{again}"
        );
        assert_eq!(s.outbox_for_case(case.id).unwrap().len(), 2);
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
