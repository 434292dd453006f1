//! The inbox processor: applies HPE's messages to cases, one at a time in
//! received order (spec §2, §3, §5).
//!
//! Each inbox row is applied and marked processed (or quarantined) in one
//! store transaction, so a crash either did all of it or none, and doing it
//! again is harmless: journal entries are keyed on GSEM's MessageId.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::health::Health;
use super::shared::{SharedStore, Shutdown, from_ms, now_ms, sleep_or_stop, stopping, with_store};
use crate::sis::state::{self, Decision, Event, State};
use crate::sis::{Inbound, TransactionName, parse_inbound};
use crate::store::prelude::*;
use crate::store::{
    CaseRow, InboxRow, JournalState, NewJournal, NewQuarantine, Origin, OutboxState, Store,
    StoreError, Tx, Via,
};
use crate::updates::{Rules, UpdateContext, UpdateInput, apply_parsed, parse_update};

/// Inbox rows committed by another process are noticed within this long.
pub const INBOX_POLL: Duration = Duration::from_millis(500);

/// Journal author of what HPE wrote.
pub const HPE_AUTHOR: &str = "HPE";

/// Most inbox rows applied in one transaction: a burst costs one commit per
/// this many rows rather than one each.
pub const BATCH: usize = 64;

/// How long the processor lets deliveries gather once woken, before it
/// applies them in one batch. Each is committed (and answered) on receipt
/// regardless; this only delays applying it.
pub const GATHER: Duration = Duration::from_millis(10);

/// What processing one inbox row did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Applied { case_id: i64 },
    Quarantined { reason: String },
}

/// The processor task.
pub struct InboxProcessor {
    store: SharedStore,
    rules: Arc<Rules>,
    wake: Arc<Notify>,
    health: Health,
}

impl InboxProcessor {
    /// Starts processing. `wake` is notified by the poller and the receiver
    /// after each commit.
    pub fn spawn(
        store: SharedStore,
        rules: Arc<Rules>,
        wake: Arc<Notify>,
        health: Health,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let processor = InboxProcessor {
            store,
            rules,
            wake,
            health,
        };
        tokio::spawn(processor.run(shutdown))
    }

    async fn run(self, mut shutdown: Shutdown) {
        // Rows still to be applied one per transaction after a batch failed.
        let mut singly: usize = 0;
        while !stopping(&shutdown) {
            let rules = Arc::clone(&self.rules);
            let batch = singly == 0;
            let done = with_store(&self.store, move |s| {
                if batch {
                    process_batch(s, &rules, BATCH, now_ms())
                } else {
                    Ok(usize::from(process_next(s, &rules, now_ms())?.is_some()))
                }
            })
            .await;
            match done {
                Ok(0) => {}
                // The batch took all there was: wait for more.
                Ok(n) if batch && n < BATCH => {}
                Ok(_) => {
                    singly = singly.saturating_sub(1);
                    continue;
                }
                // A batch fails as a whole. Going on one row per transaction
                // commits the rows before the failing one, which is then
                // retried on its own: later rows wait for it (received
                // order), and nothing is lost.
                Err(e) if batch => {
                    tracing::warn!(error = %e, "inbox processor: batch failed; one row at a time");
                    singly = BATCH;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "inbox processor: store error");
                    self.health
                        .update(|h| h.inbound.last_error = Some(format!("store: {e}")));
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {
                    // GSEM delivers one message at a time: letting a few
                    // more arrive makes them one commit.
                    if sleep_or_stop(GATHER, &mut shutdown).await {
                        break;
                    }
                }
                _ = tokio::time::sleep(INBOX_POLL) => {}
                _ = shutdown.changed() => break,
            }
        }
    }
}

/// Processes the oldest unprocessed inbox row, if any, in one transaction.
pub fn process_next(
    store: &Store,
    rules: &Rules,
    now: i64,
) -> Result<Option<Processed>, StoreError> {
    store.transaction(|tx| {
        let Some(row) = tx.inbox_next_unprocessed()? else {
            return Ok(None);
        };
        let outcome = process_row(tx, &row, rules, now)?;
        Ok(Some(outcome))
    })
}

/// Processes up to `limit` of the oldest unprocessed rows, in received
/// order, in one transaction: all of them or, on an error, none. Returns
/// how many. Rows are read one at a time, so a batch of large bodies is
/// never in memory at once.
pub fn process_batch(
    store: &Store,
    rules: &Rules,
    limit: usize,
    now: i64,
) -> Result<usize, StoreError> {
    store.transaction(|tx| {
        let mut done = 0;
        while done < limit {
            let Some(row) = tx.inbox_next_unprocessed()? else {
                break;
            };
            process_row(tx, &row, rules, now)?;
            done += 1;
        }
        Ok(done)
    })
}

fn process_row(
    tx: &Tx<'_>,
    row: &InboxRow,
    rules: &Rules,
    now: i64,
) -> Result<Processed, StoreError> {
    let decided = parse_inbound(&row.raw)
        .map_err(|e| e.to_string())
        .and_then(|inbound| {
            if row.via == Via::Push && inbound.message_id().is_none() {
                return Err("no MessageId".to_string());
            }
            let case = match_case(tx, &inbound)?;
            Ok((inbound, case))
        });
    let (inbound, case) = match decided {
        Ok(found) => found,
        Err(reason) => return quarantine(tx, row, reason, now),
    };
    let confirmed = State::from_code(i64::from(case.state));
    let applied = match state::apply(confirmed, &Event::Received(inbound.received())) {
        Decision::Apply(applied) => applied,
        Decision::Quarantine(reason) => return quarantine(tx, row, reason.to_string(), now),
        Decision::Refuse(refusal) => return quarantine(tx, row, refusal.to_string(), now),
    };
    if let Some(provider_id) = inbound.provider_id()
        && case.provider_id.is_none()
    {
        match tx.set_case_provider_id(case.id, provider_id, now) {
            Ok(()) => {}
            Err(StoreError::ProviderIdInUse { .. }) => {
                return quarantine(tx, row, "id mismatch".into(), now);
            }
            Err(e) => return Err(e),
        }
    }
    let code = applied.state as u8;
    if code != case.state {
        tx.set_case_state(case.id, code, now)?;
    }
    if let Some(audit) = applied.audit {
        tx.audit_append("engine", Some(case.id), "state", &audit.to_string(), now)?;
    }
    if applied.acknowledges_service_request {
        acknowledge_service_request(tx, &case, inbound.transaction(), now)?;
    }
    let priority = inbound.provider_priority().map(|p| p.to_string());
    if inbound.workflow_status().is_some() || priority.is_some() {
        tx.set_case_hpe_status(case.id, inbound.workflow_status(), priority.as_deref(), now)?;
    }
    journal(tx, row, &inbound, case.id, rules, now)?;
    tx.audit_append(
        "engine",
        Some(case.id),
        "received",
        &format!(
            "{} from HPE (message {})",
            inbound.transaction(),
            inbound.message_id().unwrap_or("without id")
        ),
        now,
    )?;
    tx.inbox_mark_processed(row.id, now)?;
    Ok(Processed::Applied { case_id: case.id })
}

/// §2: by ProviderID when a case has it (its RequesterID must agree), else
/// the unfinished case with that RequesterID and no ProviderID yet.
fn match_case(tx: &Tx<'_>, inbound: &Inbound) -> Result<CaseRow, String> {
    let store_err = |e: StoreError| e.to_string();
    if let Some(provider_id) = inbound.provider_id()
        && let Some(case) = tx.case_by_provider_id(provider_id).map_err(store_err)?
    {
        return match inbound.requester_id() {
            Some(requester_id) if requester_id != case.requester_id => Err("id mismatch".into()),
            _ => Ok(case),
        };
    }
    let Some(requester_id) = inbound.requester_id() else {
        return Err("unknown case".into());
    };
    tx.unfinished_case_by_requester_id_without_provider(requester_id)
        .map_err(store_err)?
        .ok_or_else(|| "unknown case".into())
}

/// ACCEPT PROBLEM or ENTITLEMENT while the case is still in 0: its SERVICE
/// REQUEST got through and the reply was lost (§3).
fn acknowledge_service_request(
    tx: &Tx<'_>,
    case: &CaseRow,
    by: &TransactionName,
    now: i64,
) -> Result<(), StoreError> {
    let request = tx.outbox_for_case(case.id)?.into_iter().find(|m| {
        TransactionName::parse(&m.transaction_name) == TransactionName::ServiceRequest
            && matches!(m.state, OutboxState::Queued | OutboxState::Parked)
    });
    if let Some(message) = request {
        if message.state == OutboxState::Parked {
            tx.outbox_retry(message.seq, None, now)?;
        }
        tx.outbox_mark_acked(message.seq, true, now)?;
        tx.audit_append(
            "engine",
            Some(case.id),
            "outbox",
            &format!(
                "SERVICE REQUEST (message {}) counted as acknowledged by HPE's {by}",
                message.seq
            ),
            now,
        )?;
    }
    if case.sent_at.is_none() {
        tx.set_case_sent_at(case.id, now)?;
    }
    Ok(())
}

/// The message's text into the journal: onsite-task and part-order updates
/// into their records (the rest as a note) for PROVIDE PROBLEM INFORMATION,
/// the comment or solution as one entry otherwise.
fn journal(
    tx: &Tx<'_>,
    row: &InboxRow,
    inbound: &Inbound,
    case_id: i64,
    rules: &Rules,
    now: i64,
) -> Result<(), StoreError> {
    let event_at = inbound.event_time(from_ms(row.received_at));
    let event_ms = event_at.timestamp_millis();
    let message_id = inbound.message_id();
    let transaction = inbound.transaction();
    if *transaction == TransactionName::ProvideProblemInformation {
        let pairs = inbound
            .name_value_pairs()
            .map(|p| p.0.clone())
            .unwrap_or_default();
        let parsed = parse_update(
            &UpdateInput {
                action_log: inbound.action_log(),
                pairs: &pairs,
                comment: inbound.comment(),
            },
            rules,
        );
        let event_time = crate::sis::date::format(event_at);
        apply_parsed(
            tx,
            case_id,
            &parsed,
            &UpdateContext {
                inbox_id: Some(row.id),
                message_id,
                event_time: Some(&event_time),
                event_at_ms: Some(event_ms),
                author: HPE_AUTHOR,
            },
            now,
        )?;
        return Ok(());
    }
    let (kind, text) = match transaction {
        TransactionName::ProblemResolution => (
            "resolution",
            [
                inbound.solution_text(),
                inbound.comment().map(str::to_string),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n\n"),
        ),
        TransactionName::Entitlement => (
            "entitlement",
            inbound.comment().unwrap_or_default().to_string(),
        ),
        TransactionName::AcceptProblem => (
            "accepted",
            inbound.comment().unwrap_or_default().to_string(),
        ),
        TransactionName::QueryIncident => {
            ("query", inbound.comment().unwrap_or_default().to_string())
        }
        _ => ("note", inbound.comment().unwrap_or_default().to_string()),
    };
    if text.trim().is_empty() {
        return Ok(());
    }
    tx.journal_insert(
        &NewJournal {
            case_id,
            origin: Origin::Hpe,
            kind: kind.to_string(),
            author: HPE_AUTHOR.to_string(),
            text,
            event_at: event_ms,
            remote_id: message_id.map(str::to_string),
            state: JournalState::Received,
            outbox_seq: None,
        },
        now,
    )?;
    Ok(())
}

fn quarantine(
    tx: &Tx<'_>,
    row: &InboxRow,
    reason: String,
    now: i64,
) -> Result<Processed, StoreError> {
    tracing::warn!(inbox_id = row.id, %reason, "inbound message quarantined");
    tx.quarantine_insert(&NewQuarantine::whole(&row.raw, &reason, Some(row.id)), now)?;
    tx.inbox_mark_quarantined(row.id, now)?;
    Ok(Processed::Quarantined { reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{InboxState, NewCase, OutboxState, QuarantineState, Role};

    const ACCEPT: &str = include_str!("../../assets/samples/02-accept-problem.json");
    const NOTE: &str = include_str!("../../assets/samples/03-note-from-hpe.json");
    const CLOSED: &str = include_str!("../../assets/samples/20-closed-by-hpe.json");

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        rules: Rules,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cases.db"), Role::Tool).unwrap();
        Fixture {
            _dir: dir,
            store,
            rules: Rules::shipped().unwrap(),
        }
    }

    impl Fixture {
        /// A case of `incident` in `state`, its SERVICE REQUEST queued.
        fn case(&self, incident: &str, state: u8, provider_id: Option<&str>) -> (CaseRow, i64) {
            let case = self
                .store
                .create_case(
                    &NewCase {
                        incident_number: incident.into(),
                        severity: "MEDIUM".into(),
                        title: "t".into(),
                        description: "d".into(),
                        system_id: None,
                        opened_by: "jdoe".into(),
                    },
                    1,
                )
                .unwrap();
            let seq = self
                .store
                .outbox_enqueue(case.id, "SERVICE REQUEST", "{}", Some(3), 1)
                .unwrap();
            self.store.set_case_state(case.id, state, 1).unwrap();
            if let Some(provider_id) = provider_id {
                self.store
                    .set_case_provider_id(case.id, provider_id, 1)
                    .unwrap();
            }
            (self.store.case_by_id(case.id).unwrap().unwrap(), seq)
        }

        fn deliver(&self, raw: &str, via: Via) -> Processed {
            let id = crate::sis::peek_message_id(raw.as_bytes());
            self.store
                .inbox_insert(id.as_deref(), raw.as_bytes(), via, 1_000)
                .unwrap();
            process_next(&self.store, &self.rules, 2_000)
                .unwrap()
                .unwrap()
        }

        fn case_now(&self, id: i64) -> CaseRow {
            self.store.case_by_id(id).unwrap().unwrap()
        }

        fn quarantined(&self, reason: &str) -> Processed {
            Processed::Quarantined {
                reason: reason.to_string(),
            }
        }
    }

    #[test]
    fn accept_problem_pairs_the_case_and_acknowledges_a_lost_service_request() {
        let f = fixture();
        let (case, seq) = f.case("INC0097539", 0, None);
        assert_eq!(
            f.deliver(ACCEPT, Via::Pull),
            Processed::Applied { case_id: case.id }
        );
        let after = f.case_now(case.id);
        assert_eq!(after.provider_id.as_deref(), Some("5381923377"));
        assert_eq!(after.state, 5);
        assert_eq!(after.workflow_status.as_deref(), Some("Assigned"));
        assert_eq!(after.provider_priority.as_deref(), Some("2"));
        assert_eq!(after.sent_at, Some(2_000));
        assert_eq!(
            f.store.outbox_get(seq).unwrap().unwrap().state,
            OutboxState::Inferred
        );
        assert_eq!(f.store.inbox_next_unprocessed().unwrap(), None);
    }

    #[test]
    fn a_note_asking_for_information_moves_to_4_and_is_journaled_once() {
        let f = fixture();
        let (case, _) = f.case("INC0097539", 5, Some("5381923377"));
        assert_eq!(
            f.deliver(NOTE, Via::Pull),
            Processed::Applied { case_id: case.id }
        );
        assert_eq!(f.case_now(case.id).state, 4);
        let journal = f.store.journal_for_case(case.id).unwrap();
        assert_eq!(journal.len(), 1);
        let entry = &journal[0].entry;
        assert_eq!(entry.origin, Origin::Hpe);
        assert_eq!(entry.remote_id.as_deref(), Some("q-000117"));
        assert_eq!(entry.state, JournalState::Received);
        assert_eq!(
            entry.text,
            "Please attach the output of \"sudo fmn status --details\" from x1000c3s2b0.\r\nThanks — HPE support"
        );
        // Event time is ACTIVITY.LocalDate, 2024-04-29 06:10:00 UTC.
        assert_eq!(entry.event_at, 1_714_371_000_000);
        // A redelivery with the same MessageId never reaches the inbox twice.
        let again = f
            .store
            .inbox_insert(Some("q-000117"), NOTE.as_bytes(), Via::Pull, 3_000)
            .unwrap();
        assert!(!again.is_inserted());
        assert_eq!(process_next(&f.store, &f.rules, 4_000).unwrap(), None);
    }

    #[test]
    fn a_batch_applies_rows_in_received_order_up_to_its_limit() {
        let f = fixture();
        let (case, _) = f.case("INC0097539", 5, Some("5381923377"));
        for n in 1..=3 {
            let raw = NOTE
                .replace("q-000117", &format!("q-b{n}"))
                .replace("Please attach", &format!("{n}: please attach"));
            f.store
                .inbox_insert(Some(&format!("q-b{n}")), raw.as_bytes(), Via::Push, 1_000)
                .unwrap();
        }
        // Unusable rows are part of the batch too: quarantined in it.
        f.store
            .inbox_insert(None, b"not json", Via::Push, 1_000)
            .unwrap();
        assert_eq!(process_batch(&f.store, &f.rules, 2, 2_000).unwrap(), 2);
        let ids: Vec<_> = f
            .store
            .journal_for_case(case.id)
            .unwrap()
            .into_iter()
            .map(|j| j.entry.remote_id.unwrap())
            .collect();
        assert_eq!(ids, ["q-b1", "q-b2"]);
        assert_eq!(process_batch(&f.store, &f.rules, 64, 3_000).unwrap(), 2);
        assert_eq!(f.store.journal_for_case(case.id).unwrap().len(), 3);
        assert_eq!(
            f.store
                .quarantine_list(QuarantineState::Open)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(f.store.inbox_next_unprocessed().unwrap(), None);
        assert_eq!(process_batch(&f.store, &f.rules, 64, 4_000).unwrap(), 0);
    }

    #[test]
    fn hpe_closing_the_case_closes_it_locally() {
        let f = fixture();
        let (case, _) = f.case("INC0098300", 5, Some("5381930002"));
        assert_eq!(
            f.deliver(CLOSED, Via::Pull),
            Processed::Applied { case_id: case.id }
        );
        let after = f.case_now(case.id);
        assert_eq!(after.state, 7);
        assert_eq!(after.workflow_status.as_deref(), Some("Closed"));
    }

    #[test]
    fn unknown_cases_and_id_mismatches_are_quarantined() {
        let f = fixture();
        assert_eq!(f.deliver(NOTE, Via::Pull), f.quarantined("unknown case"));
        let (case, _) = f.case("INC0000001", 5, Some("5381923377"));
        let other = NOTE.replace("q-000117", "q-2");
        assert_eq!(f.deliver(&other, Via::Pull), f.quarantined("id mismatch"));
        assert_eq!(f.case_now(case.id).state, 5);
        let open = f.store.quarantine_list(QuarantineState::Open).unwrap();
        assert_eq!(open.len(), 2);
        assert_eq!(open[1].reason, "id mismatch");
        assert_eq!(open[1].raw, other.as_bytes());
        let row = f
            .store
            .inbox_get(open[1].inbox_id.unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(row.state, InboxState::Quarantined);
    }

    #[test]
    fn unusable_bodies_are_quarantined_with_the_reason() {
        let f = fixture();
        f.case("INC0097539", 5, Some("5381923377"));
        assert!(matches!(
            f.deliver("<html>oops</html>", Via::Push),
            Processed::Quarantined { reason } if reason.starts_with("not JSON")
        ));
        let wrong_type = NOTE
            .replace("q-000117", "q-3")
            .replace("\"Comment\"", "\"CurrentState\": [5], \"Comment\"");
        assert_eq!(
            f.deliver(&wrong_type, Via::Pull),
            f.quarantined("wrong type for `CurrentState`")
        );
        let unknown_state = NOTE
            .replace("q-000117", "q-4")
            .replace("\"Comment\"", "\"CurrentState\": 9, \"Comment\"");
        assert_eq!(
            f.deliver(&unknown_state, Via::Pull),
            f.quarantined("unknown state 9")
        );
        let ours = NOTE
            .replace("q-000117", "q-5")
            .replace("PROVIDE PROBLEM INFORMATION", "CONFIRM CLOSE");
        assert_eq!(
            f.deliver(&ours, Via::Pull),
            f.quarantined("CONFIRM CLOSE is a transaction only we send")
        );
    }

    #[test]
    fn a_pushed_message_without_message_id_is_quarantined() {
        let f = fixture();
        f.case("INC0097539", 5, Some("5381923377"));
        let bare = NOTE.replace(
            "\"QueueDetails\": {\"MessageId\": \"q-000117\", \"EnqueuedAt\": \"2024-04-29 06:10:02\", \"DeliveryCount\": 1},",
            "",
        );
        assert_ne!(bare, NOTE);
        assert_eq!(f.deliver(&bare, Via::Push), f.quarantined("no MessageId"));
    }

    #[test]
    fn a_finished_case_stays_finished_and_the_difference_is_audited() {
        let f = fixture();
        let (case, _) = f.case("INC0097539", 7, Some("5381923377"));
        let resolution = include_str!("../../assets/samples/06-problem-resolution.json");
        assert_eq!(
            f.deliver(resolution, Via::Pull),
            Processed::Applied { case_id: case.id }
        );
        assert_eq!(f.case_now(case.id).state, 7);
        let audit = f.store.audit_for_case(case.id).unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "state" && a.detail.contains("ignored")),
            "{audit:?}"
        );
        let journal = f.store.journal_for_case(case.id).unwrap();
        assert_eq!(journal.len(), 1);
        assert_eq!(journal[0].entry.kind, "resolution");

        // Without CurrentState, the same message is not valid in 7.
        let bare = resolution
            .replace("q-000160", "q-161")
            .replace("\"CurrentState\": 6,", "");
        assert_eq!(
            f.deliver(&bare, Via::Pull),
            f.quarantined("PROBLEM RESOLUTION not valid in state 7 (Closed)")
        );
    }
}
