#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end: the ServiceNow simulator on loopback, a real store file and
//! the real sync engine. Most tests observe the GSEM side at the outbox
//! (what the drainer would send, byte for byte); the `end_to_end_` tests
//! run the whole engine from a config file against both simulators, the
//! GSEM one over mutual TLS, and look at what the GSEM simulator accepted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebridge::config::{Backoff, Journal, Secret, ServiceNow, ServiceNowAuth};
use casebridge::sim::servicenow::{
    AfterCommit, INTEGRATION_PASSWORD, INTEGRATION_USER, NewIncident, Outage, ServiceNowSim,
    SimConfig,
};
use casebridge::sis::{ActivityTable, Destination};
use casebridge::store::prelude::*;
use casebridge::store::{CaseRow, JournalState, NewCase, NewJournal, Origin, Role, Store};
use casebridge::sync::ledger;
use casebridge::sync::{ServiceNowSync, SyncConfig};
use serde_json::Value;
use tokio::sync::{Notify, watch};

#[path = "support/lab.rs"]
mod lab;

const PID: &str = "5381923377";
const PPI: &str = "PROVIDE PROBLEM INFORMATION";

struct Rig {
    sim: ServiceNowSim,
    store: Arc<Mutex<Store>>,
    config: SyncConfig,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
    stop_rx: watch::Receiver<bool>,
}

fn servicenow_config(base_url: &str) -> ServiceNow {
    ServiceNow {
        instance_url: format!("{base_url}/").parse().unwrap(),
        ca_bundle: None,
        auth: ServiceNowAuth::Basic {
            user: INTEGRATION_USER.into(),
            password: Secret::new(INTEGRATION_PASSWORD),
        },
        integration_user: INTEGRATION_USER.into(),
        poll_interval: Duration::from_millis(50),
        overlap: Duration::from_secs(60),
        request_timeout: Duration::from_secs(5),
        backoff: Backoff {
            start: Duration::from_millis(5),
            cap: Duration::from_millis(40),
        },
        page_size: 5,
        time_zone: chrono_tz::UTC,
        incident_query: "active=true".into(),
        comment_journal: Journal::Comments,
        journal_fallback_to_display_value: false,
        max_journal_length: None,
        mark_hold_reason: false,
        sync_state_to_incident: true,
        close_case_when_incident_resolved: true,
        push_hint: None,
        mirror: None,
    }
}

impl Rig {
    async fn new() -> Rig {
        Self::with(SimConfig::default(), |_| {}).await
    }

    async fn with(sim: SimConfig, adjust: impl FnOnce(&mut SyncConfig)) -> Rig {
        casebridge::tls::install_crypto_provider();
        let sim = ServiceNowSim::start(sim).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("casebridge.db"), Role::Tool).unwrap();
        let mut config = SyncConfig {
            servicenow: servicenow_config(sim.base_url()),
            destination: Destination {
                remote_agent_name: "HPE_GSEM_P042".into(),
                remote_agent_type: "PROVIDER".into(),
            },
            activity: ActivityTable::default(),
            max_journal_chars: None,
        };
        adjust(&mut config);
        let (stop, stop_rx) = watch::channel(false);
        Rig {
            sim,
            store: Arc::new(Mutex::new(store)),
            config,
            _dir: dir,
            _stop: stop,
            stop_rx,
        }
    }

    fn engine(&self) -> ServiceNowSync {
        ServiceNowSync::new(
            self.config.clone(),
            Arc::clone(&self.store),
            Arc::new(Notify::new()),
            self.stop_rx.clone(),
        )
        .unwrap()
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap()
    }

    fn incident(&self, title: &str) -> String {
        let rec = self.sim.create_incident(&NewIncident::new(title)).unwrap();
        rec.get("number").to_owned()
    }

    /// A case of `number`, accepted by HPE (state 5) unless `state` says otherwise.
    fn case(&self, number: &str, state: u8, provider_id: Option<&str>) -> CaseRow {
        let store = self.store();
        let now = chrono::Utc::now().timestamp_millis();
        let case = store
            .create_case(
                &NewCase {
                    incident_number: number.into(),
                    severity: "MEDIUM".into(),
                    title: "Node down".into(),
                    description: "d".into(),
                    system_id: None,
                    opened_by: "op".into(),
                },
                now,
            )
            .unwrap();
        store.set_case_state(case.id, state, now).unwrap();
        if let Some(pid) = provider_id {
            store.set_case_provider_id(case.id, pid, now).unwrap();
        }
        store.case_by_id(case.id).unwrap().unwrap()
    }

    fn hpe_note(&self, case_id: i64, message_id: &str, text: &str) {
        let now = chrono::Utc::now().timestamp_millis();
        self.store()
            .journal_insert(
                &NewJournal {
                    case_id,
                    origin: Origin::Hpe,
                    kind: "note".into(),
                    author: "HPE".into(),
                    text: text.into(),
                    event_at: now,
                    remote_id: Some(message_id.into()),
                    state: JournalState::Received,
                    outbox_seq: None,
                },
                now,
            )
            .unwrap();
    }

    /// `(transaction, Comment)` of every outbox message of the case.
    fn outbox(&self, case_id: i64) -> Vec<(String, String)> {
        self.store()
            .outbox_for_case(case_id)
            .unwrap()
            .into_iter()
            .map(|row| {
                let body: Value = serde_json::from_str(&row.body).unwrap();
                let comment = body["Message"]["SERVICE_INCIDENT"]["Comment"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (row.transaction_name, comment)
            })
            .collect()
    }

    fn notes_sent(&self, case_id: i64) -> Vec<String> {
        self.outbox(case_id)
            .into_iter()
            .filter(|(t, _)| t == PPI)
            .map(|(_, c)| c)
            .collect()
    }

    /// Journal values written by the integration user, oldest first.
    fn our_entries(&self, number: &str) -> Vec<String> {
        let mut entries = self.sim.journal(number).unwrap();
        entries.reverse();
        entries
            .into_iter()
            .filter(|e| e.sys_created_by == INTEGRATION_USER)
            .map(|e| e.value)
            .collect()
    }
}

async fn rounds(engine: &mut ServiceNowSync, n: usize) {
    for _ in 0..n {
        engine.poll_once().await.unwrap();
    }
}

/// An incident with an accepted case, after the engine announced it.
async fn paired(rig: &Rig) -> (String, CaseRow, ServiceNowSync) {
    let number = rig.incident("Node x1000c0s0b0n0 down");
    let case = rig.case(&number, 5, Some(PID));
    let mut engine = rig.engine();
    rounds(&mut engine, 2).await;
    (number, case, engine)
}

#[tokio::test]
async fn a_new_case_is_announced_and_its_number_set_on_the_incident() {
    let rig = Rig::new().await;
    let (number, case, _engine) = paired(&rig).await;
    assert_eq!(
        rig.our_entries(&number),
        [
            format!(
                "casebridge: an HPE support case was requested for this incident (tracking number {}).",
                case.tracking_number
            ),
            format!(
                "casebridge: HPE accepted the support case: HPE case {PID} (tracking number {}).",
                case.tracking_number
            ),
        ]
    );
    let inc = rig.sim.incident(&number).unwrap();
    assert_eq!(inc.get("correlation_id"), PID);
    assert_eq!(inc.get("correlation_display"), "HPE GSEM");
    assert!(rig.outbox(case.id).is_empty());
}

#[tokio::test]
async fn comments_reach_hpe_exactly_once_and_in_order() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    for text in ["first", "second", "third"] {
        rig.sim.add_comment(&number, "jsmith", text).unwrap();
    }
    rig.sim
        .add_work_note(&number, "jsmith", "internal only")
        .unwrap();
    rounds(&mut engine, 3).await;
    assert_eq!(rig.notes_sent(case.id), ["first", "second", "third"]);
    // A restarted engine reads everything again and adds nothing.
    let mut again = rig.engine();
    rounds(&mut again, 2).await;
    assert_eq!(rig.notes_sent(case.id), ["first", "second", "third"]);
    let journal = rig.store().journal_for_case(case.id).unwrap();
    let authors: Vec<_> = journal
        .iter()
        .filter(|j| j.entry.origin == Origin::ServiceNow)
        .map(|j| (j.entry.author.as_str(), j.entry.state))
        .collect();
    assert_eq!(authors, [("jsmith", JournalState::Pending); 3]);
}

#[tokio::test]
async fn an_hpe_note_reaches_the_incident_once_and_never_comes_back() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.hpe_note(case.id, "m-1", "Part 867 shipped");
    rounds(&mut engine, 3).await;
    let ours = rig.our_entries(&number);
    assert_eq!(ours.len(), 3);
    assert_eq!(ours[2], format!("[HPE {PID}] Part 867 shipped"));
    // A person pasting it back is not echoed either.
    rig.sim
        .add_comment(&number, "jsmith", &format!("[HPE {PID}] Part 867 shipped"))
        .unwrap();
    let mut again = rig.engine();
    rounds(&mut again, 3).await;
    assert_eq!(rig.our_entries(&number).len(), 3);
    assert!(rig.notes_sent(case.id).is_empty());
}

#[tokio::test]
async fn fifty_rounds_without_change_send_and_write_nothing() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.hpe_note(case.id, "m-1", "note");
    rig.sim.add_comment(&number, "jsmith", "hello").unwrap();
    rounds(&mut engine, 2).await;
    let entries = rig.sim.journal(&number).unwrap().len();
    rig.sim.clear_requests();
    for round in 0..50 {
        let report = engine.poll_once().await.unwrap();
        assert!(!report.did_work(), "round {round}: {report:?}");
    }
    let writes: Vec<_> = rig
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(rig.sim.journal(&number).unwrap().len(), entries);
    assert_eq!(rig.notes_sent(case.id), ["hello"]);
}

#[tokio::test]
async fn thirty_incidents_updated_within_a_second_are_all_seen() {
    let rig = Rig::new().await;
    let mut engine = rig.engine();
    rounds(&mut engine, 1).await;
    // Page size 5: six pages, every row sharing one or two seconds.
    let numbers: Vec<String> = (0..30)
        .map(|i| rig.incident(&format!("blade {i}")))
        .collect();
    engine.poll_once().await.unwrap();
    for number in &numbers {
        assert!(
            rig.store().incident_by_number(number).unwrap().is_some(),
            "{number} not seen"
        );
    }
    // And again, updated in place after the watermark moved.
    for number in &numbers {
        rig.sim
            .update_incident(number, "jsmith", &[("urgency", "1")])
            .unwrap();
    }
    let report = engine.poll_once().await.unwrap();
    assert_eq!(report.incidents_changed, 30);
    for number in &numbers {
        assert_eq!(
            rig.store()
                .incident_by_number(number)
                .unwrap()
                .unwrap()
                .sys_mod_count,
            1
        );
    }
}

#[tokio::test]
async fn an_incident_resolved_in_servicenow_closes_its_case_once() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.sim
        .resolve(&number, "Solved (Permanently)", "DIMM reseated", "jsmith")
        .unwrap();
    rounds(&mut engine, 3).await;
    rig.sim.set_state(&number, "7", "jsmith").unwrap();
    rounds(&mut engine, 2).await;
    assert_eq!(
        rig.outbox(case.id),
        [("REQUEST CLOSURE".to_owned(), "DIMM reseated".to_owned())]
    );
    // A case with a resolution proposed is confirmed instead.
    let number = rig.incident("second");
    let case = rig.case(&number, 6, Some("5381923378"));
    rounds(&mut engine, 2).await;
    // HPE's proposal resolved the incident; that alone closes nothing.
    let inc = rig.sim.incident(&number).unwrap();
    assert_eq!(inc.get("state"), "6");
    assert_eq!(
        inc.get("close_notes"),
        "HPE case 5381923378 proposes a resolution; see HPE's notes in the comments."
    );
    assert!(rig.outbox(case.id).is_empty());
    rig.sim
        .resolve(&number, "Solved (Permanently)", "ok by us", "jsmith")
        .unwrap();
    rounds(&mut engine, 2).await;
    assert_eq!(
        rig.outbox(case.id),
        [("CONFIRM CLOSE".to_owned(), "ok by us".to_owned())]
    );
}

#[tokio::test]
async fn a_comment_waits_while_a_resolution_is_proposed() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.store().set_case_state(case.id, 6, 0).unwrap();
    rig.sim
        .add_comment(&number, "jsmith", "still broken")
        .unwrap();
    rounds(&mut engine, 2).await;
    assert!(rig.notes_sent(case.id).is_empty());
    rig.store().set_case_state(case.id, 5, 0).unwrap();
    rounds(&mut engine, 1).await;
    assert_eq!(rig.notes_sent(case.id), ["still broken"]);
    // Waiting, then the case finishes: kept, marked as not sent.
    rig.store().set_case_state(case.id, 6, 0).unwrap();
    rig.sim.add_comment(&number, "jsmith", "too late").unwrap();
    rounds(&mut engine, 1).await;
    rig.store().set_case_state(case.id, 7, 0).unwrap();
    rounds(&mut engine, 1).await;
    assert_eq!(rig.notes_sent(case.id), ["still broken"]);
    let journal = rig.store().journal_for_case(case.id).unwrap();
    let not_sent: Vec<_> = journal
        .iter()
        .filter(|j| j.entry.state == JournalState::Dropped)
        .map(|j| j.entry.text.as_str())
        .collect();
    assert_eq!(not_sent, ["too late"]);
}

#[tokio::test]
async fn an_outage_and_a_429_storm_in_the_middle_of_traffic_lose_nothing() {
    let rig = Rig::new().await;
    let (number, case, engine) = paired(&rig).await;
    let handle = engine.spawn();
    rig.sim.add_comment(&number, "jsmith", "one").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.sim.set_outage(Outage::Refuse);
    rig.sim.add_comment(&number, "jsmith", "two").unwrap();
    rig.hpe_note(case.id, "m-1", "during the outage");
    tokio::time::sleep(Duration::from_millis(500)).await;
    rig.sim.set_outage(Outage::Unavailable503);
    rig.sim.add_comment(&number, "jsmith", "three").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.sim.set_outage(Outage::None);
    rig.sim.rate_limit(30, None);
    rig.sim.add_comment(&number, "jsmith", "four").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while rig.notes_sent(case.id).len() < 4 || rig.our_entries(&number).len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            rig.notes_sent(case.id)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.notes_sent(case.id), ["one", "two", "three", "four"]);
    assert_eq!(
        rig.our_entries(&number)[2],
        format!("[HPE {PID}] during the outage")
    );
    assert_eq!(rig.our_entries(&number).len(), 3);
    let health = handle.health.borrow().clone();
    assert!(health.last_error.is_some());
    handle.task.abort();
}

#[tokio::test]
async fn a_write_whose_reply_is_lost_is_checked_not_repeated() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.hpe_note(case.id, "m-1", "engineer on site 14:00");
    rig.sim
        .fail_after_commit_next(1, AfterCommit::DropConnection);
    rounds(&mut engine, 2).await;
    let ours = rig.our_entries(&number);
    assert_eq!(ours.len(), 3, "{ours:?}");
    let audit = rig.store().audit_for_case(case.id).unwrap();
    let done = audit
        .iter()
        .find(|a| a.action == ledger::DONE && a.detail.starts_with("hpe-note:"))
        .unwrap();
    assert!(done.detail.contains(" entry="), "{}", done.detail);
}

#[tokio::test]
async fn a_crash_between_the_journal_write_and_its_bookkeeping_does_not_duplicate() {
    let rig = Rig::new().await;
    let (number, case, engine) = paired(&rig).await;
    drop(engine);
    rig.hpe_note(case.id, "m-1", "replace PSU 2");
    let note_id = rig.store().journal_for_case(case.id).unwrap()[0].id;
    // What the crashed engine did: the intent recorded, the comment written,
    // nothing after.
    let key = format!("hpe-note:{note_id}");
    rig.store()
        .audit_append(
            ledger::ACTOR,
            Some(case.id),
            ledger::INTENDED,
            &key,
            chrono::Utc::now().timestamp_millis(),
        )
        .unwrap();
    rig.sim
        .add_comment(
            &number,
            INTEGRATION_USER,
            &format!("[HPE {PID}] replace PSU 2"),
        )
        .unwrap();
    let mut restarted = rig.engine();
    rounds(&mut restarted, 3).await;
    let ours = rig.our_entries(&number);
    assert_eq!(ours.len(), 3, "{ours:?}");
    assert!(rig.notes_sent(case.id).is_empty());
}

#[tokio::test]
async fn a_blocked_journal_is_reported_not_taken_for_silence() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    let health = engine.health();
    rig.sim.set_journal_acl_blocked(true);
    rig.sim
        .add_comment(&number, "jsmith", "can you see me")
        .unwrap();
    rounds(&mut engine, 2).await;
    assert!(health.borrow().journal_blocked);
    assert!(
        health
            .borrow()
            .last_error
            .as_deref()
            .unwrap()
            .contains("sys_journal_field")
    );
    assert!(rig.notes_sent(case.id).is_empty());
    rig.sim.set_journal_acl_blocked(false);
    rounds(&mut engine, 1).await;
    assert!(!health.borrow().journal_blocked);
    assert_eq!(rig.notes_sent(case.id), ["can you see me"]);
}

#[tokio::test]
async fn no_request_before_retry_after_expires() {
    let rig = Rig::new().await;
    let (_number, _case, mut engine) = paired(&rig).await;
    rig.sim.clear_requests();
    rig.sim.rate_limit(2, Some(Duration::from_secs(2)));
    engine.poll_once().await.unwrap();
    let log = rig.sim.requests();
    assert_eq!(log[0].status, 429);
    assert_eq!(log[1].status, 429);
    assert_eq!(log[0].path_and_query, log[1].path_and_query);
    assert_eq!(log[1].path_and_query, log[2].path_and_query);
    assert!(
        log[1].at - log[0].at >= chrono::Duration::seconds(2),
        "{:?}",
        log[1].at - log[0].at
    );
    assert!(log[2].at - log[1].at >= chrono::Duration::seconds(2));
    assert_eq!(log[2].status, 200);
}

#[tokio::test]
async fn still_retrying_in_order_after_fifty_429s() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.sim
        .add_comment(&number, "jsmith", "after the storm")
        .unwrap();
    rig.sim.clear_requests();
    rig.sim.rate_limit(50, None);
    engine.poll_once().await.unwrap();
    let log = rig.sim.requests();
    assert!(log[..50].iter().all(|r| r.status == 429));
    assert!(
        log[..51]
            .iter()
            .all(|r| r.path_and_query == log[0].path_and_query)
    );
    assert_eq!(log[50].status, 200);
    assert_eq!(rig.notes_sent(case.id), ["after the storm"]);
}

#[tokio::test]
async fn a_note_longer_than_the_journal_is_cut_visibly() {
    let sim = SimConfig {
        max_journal_len: Some(4000),
        ..SimConfig::default()
    };
    let rig = Rig::with(sim, |c| c.max_journal_chars = Some(4000)).await;
    let (number, case, mut engine) = paired(&rig).await;
    let text = "λ".repeat(6000);
    rig.hpe_note(case.id, "m-1", &text);
    rounds(&mut engine, 2).await;
    let ours = rig.our_entries(&number);
    assert_eq!(ours.len(), 3);
    let written = &ours[2];
    assert_eq!(written.chars().count(), 4000);
    assert!(written.starts_with(&format!("[HPE {PID}] λλλ")));
    assert!(
        written.ends_with("… [truncated by casebridge: 3948 of 6017 characters]"),
        "{}",
        written.chars().rev().take(60).collect::<String>()
    );
    assert!(!written.contains(casebridge::sim::servicenow::TRUNCATION_MARKER));
    // The whole note stays in casebridge.
    assert_eq!(
        rig.store().journal_for_case(case.id).unwrap()[0].entry.text,
        text
    );
}

#[tokio::test]
async fn hostile_and_huge_text_survives_both_ways() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    let hostile =
        "He said \"no\" \\ 'yes'\r\nline two\ttab \u{0} NUL 🚀🔥 עברית مرحبا \u{202E}reversed";
    let big: String = "0123456789abcdef".repeat(4096); // 64 KiB
    rig.sim.add_comment(&number, "jsmith", hostile).unwrap();
    rig.sim.add_comment(&number, "jsmith", &big).unwrap();
    rig.hpe_note(case.id, "m-1", hostile);
    rig.hpe_note(case.id, "m-2", &big);
    rounds(&mut engine, 3).await;
    assert_eq!(rig.notes_sent(case.id), [hostile.to_owned(), big.clone()]);
    let ours = rig.our_entries(&number);
    assert_eq!(ours.len(), 4);
    assert_eq!(ours[2], format!("[HPE {PID}] {hostile}"));
    assert_eq!(ours[3], format!("[HPE {PID}] {big}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_on_the_runtime_with_oauth_it_syncs() {
    let rig = Rig::with(SimConfig::default(), |c| {
        c.servicenow.auth = ServiceNowAuth::OAuth {
            user: INTEGRATION_USER.into(),
            password: Secret::new(INTEGRATION_PASSWORD),
            client_id: casebridge::sim::servicenow::OAUTH_CLIENT_ID.into(),
            client_secret: Secret::new(casebridge::sim::servicenow::OAUTH_CLIENT_SECRET),
        };
    })
    .await;
    let number = rig.incident("oauth");
    let case = rig.case(&number, 5, Some(PID));
    // `spawn` is `tokio::spawn`: the OAuth path's futures are `Send`.
    let handle = rig.engine().spawn();
    rig.sim.add_comment(&number, "jsmith", "via oauth").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rig.notes_sent(case.id).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "nothing queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rig.notes_sent(case.id), ["via oauth"]);
    assert_eq!(rig.sim.oauth_grants(), ["password"]);
    handle.task.abort();
}

/// The query of a logged request, decoded.
fn decoded_query(path_and_query: &str) -> String {
    let query = path_and_query.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

#[tokio::test]
async fn a_restart_reads_on_from_the_stored_watermark() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.sim.add_comment(&number, "jsmith", "before").unwrap();
    rounds(&mut engine, 2).await;
    drop(engine);
    let stored = rig
        .store()
        .meta_get(casebridge::sync::engine::WATERMARK_KEY)
        .unwrap()
        .unwrap();
    let newest = rig
        .sim
        .incident(&number)
        .unwrap()
        .get("sys_updated_on")
        .to_owned();
    assert_eq!(stored, newest);
    rig.sim.clear_requests();
    let mut restarted = rig.engine();
    let report = restarted.poll_once().await.unwrap();
    assert_eq!(report.journal_entries_read, 0, "{report:?}");
    let reads: Vec<String> = rig
        .sim
        .requests()
        .iter()
        .map(|r| decoded_query(&r.path_and_query))
        .collect();
    // Every incident read is bounded by the watermark (less the overlap)
    // and the settled journal is not read again.
    assert!(!reads.is_empty());
    let since = chrono::NaiveDateTime::parse_from_str(&stored, "%Y-%m-%d %H:%M:%S").unwrap()
        - chrono::Duration::seconds(60);
    let bound = format!("sys_updated_on>={}", since.format("%Y-%m-%d %H:%M:%S"));
    for (request, query) in rig.sim.requests().iter().zip(&reads) {
        assert!(
            request
                .path_and_query
                .starts_with("/api/now/table/incident"),
            "{}",
            request.path_and_query
        );
        assert!(query.contains(&bound), "{query}");
    }
    // Work after the restart still goes through, once.
    rig.sim.add_comment(&number, "jsmith", "after").unwrap();
    rounds(&mut restarted, 2).await;
    assert_eq!(rig.notes_sent(case.id), ["before", "after"]);
}

#[tokio::test]
async fn a_journal_left_unread_is_read_after_a_restart() {
    let rig = Rig::new().await;
    let (number, case, mut engine) = paired(&rig).await;
    rig.sim.set_journal_acl_blocked(true);
    rig.sim.add_comment(&number, "jsmith", "unread").unwrap();
    // The incident's change is stored, its journal cannot be read.
    rounds(&mut engine, 1).await;
    drop(engine);
    rig.sim.set_journal_acl_blocked(false);
    // The restart sees the incident unchanged since the last run, yet its
    // journal is still due.
    let mut restarted = rig.engine();
    let report = restarted.poll_once().await.unwrap();
    assert_eq!(report.incidents_changed, 0, "{report:?}");
    assert_eq!(rig.notes_sent(case.id), ["unread"]);
}

// ---- end to end: both simulators and the real engine ----------------------

mod both {
    use std::time::Duration;

    use casebridge::engine::{Engine, StoreKind};
    use casebridge::gsem::actions::OpenCase;
    use casebridge::sim::gsem::GsemSim;
    use casebridge::sim::servicenow::{INTEGRATION_USER, NewIncident, ServiceNowSim};
    use casebridge::sis::{Address, Person, Requester};
    use casebridge::store::prelude::*;
    use casebridge::store::{CaseRow, NewCase};

    use super::lab::{GsemTimings, Lab, LabOptions, ServiceNowTimings};
    use super::{PID, PPI};

    const AGENT_KEY: &str = "sync-test-agent-key";

    /// The GSEM simulator over mutual TLS (answering a SERVICE REQUEST
    /// with ACCEPT PROBLEM after 100 ms), the ServiceNow simulator, and the
    /// engine started from a config file naming both.
    pub struct Both {
        pub gsem: GsemSim,
        pub sn: ServiceNowSim,
        pub engine: Engine,
        _dir: tempfile::TempDir,
    }

    impl Both {
        pub async fn start() -> Both {
            let mut options = LabOptions::new("Example Lab", "casebridge.example.org", AGENT_KEY);
            options.environment = "dev";
            options.store = "casebridge.db";
            options.hpe_answer_delay = Some(Duration::from_millis(100));
            options.sync_back = true;
            options.gsem = GsemTimings {
                mode: "pull",
                poll_interval: "100ms",
                request_timeout: "5s",
                backoff_start: "10ms",
                backoff_cap: "100ms",
            };
            options.servicenow = ServiceNowTimings {
                poll_interval: "100ms",
                request_timeout: "5s",
                backoff_start: "10ms",
                backoff_cap: "100ms",
            };
            let Lab {
                dir,
                gsem,
                sn,
                config_path: path,
                ..
            } = Lab::start(options).await;
            let settings = casebridge::config::load(&path).unwrap();
            let engine = Engine::start(&settings, StoreKind::Real).await.unwrap();
            Both {
                gsem,
                sn,
                engine,
                _dir: dir,
            }
        }

        pub fn case(&self, id: i64) -> CaseRow {
            self.engine
                .store()
                .lock()
                .unwrap()
                .case_by_id(id)
                .unwrap()
                .unwrap()
        }

        /// An incident with a case opened through the engine and accepted
        /// by the GSEM simulator as HPE case [`PID`].
        pub async fn paired(&self, title: &str) -> (String, CaseRow) {
            let number = self
                .sn
                .create_incident(&NewIncident::new(title))
                .unwrap()
                .get("number")
                .to_owned();
            let (case, _) = self
                .engine
                .actions()
                .open_case(open_case(&number), chrono::Utc::now())
                .await
                .unwrap();
            let accepted = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    let c = self.case(case.id);
                    if c.state == 5 && c.provider_id.as_deref() == Some(PID) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            })
            .await;
            assert!(
                accepted.is_ok(),
                "HPE did not accept: case {:?}, GSEM saw {:?}",
                self.case(case.id),
                self.gsem
                    .received()
                    .iter()
                    .rev()
                    .take(3)
                    .map(|r| (r.status, r.transaction.clone(), r.ack.clone()))
                    .collect::<Vec<_>>()
            );
            // The sync announced it on the incident.
            wait("the acceptance is on the incident", || {
                self.our_entries(&number)
                    .iter()
                    .any(|e| e.contains("HPE accepted the support case"))
            })
            .await;
            (number, self.case(case.id))
        }

        /// The Comments of the PROVIDE PROBLEM INFORMATION messages the GSEM
        /// simulator accepted for the case, in order of arrival.
        pub fn notes_at_gsem(&self, case: &CaseRow) -> Vec<String> {
            self.gsem
                .received()
                .into_iter()
                .filter(|r| r.is_accepted() && r.transaction.as_deref() == Some(PPI))
                .filter(|r| r.requester_id.as_deref() == Some(case.requester_id.as_str()))
                .map(|r| r.comment.unwrap_or_default())
                .collect()
        }

        /// Journal values written by the integration user, oldest first.
        pub fn our_entries(&self, number: &str) -> Vec<String> {
            let mut entries = self.sn.journal(number).unwrap();
            entries.reverse();
            entries
                .into_iter()
                .filter(|e| e.sys_created_by == INTEGRATION_USER)
                .map(|e| e.value)
                .collect()
        }

        pub async fn stop(self) {
            self.engine.stop().await;
            self.gsem.shutdown().await;
        }
    }

    fn open_case(incident: &str) -> OpenCase {
        OpenCase {
            case: NewCase {
                incident_number: incident.into(),
                severity: "MAJOR".into(),
                title: "Node down".into(),
                description: "x1000c0s0b0n0 does not boot".into(),
                system_id: None,
                opened_by: "ada".into(),
            },
            requester: Requester {
                organization_name: "Example Lab".into(),
                address: Address {
                    geo_address1: "1 Main St".into(),
                    city: "Springfield".into(),
                    region: "IL".into(),
                    postal_code: "62701".into(),
                    country: "US".into(),
                },
                person: Person {
                    first_name: "Ada".into(),
                    last_name: "Lovelace".into(),
                    phone: "+1 217 555 0100".into(),
                    email: "ops@example.org".into(),
                },
                alternate: None,
            },
            contract: "CN0001".into(),
            serial: "SN0001".into(),
        }
    }

    /// Waits up to 20 s for `done`.
    pub async fn wait(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Long enough for several rounds of every poller (100 ms each).
    pub async fn settle() {
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_comments_reach_gsem_once_in_order_and_hpe_notes_do_not_come_back() {
    let rig = both::Both::start().await;
    let (number, case) = rig.paired("Node x1000c0s0b0n0 down").await;
    for text in ["first", "second", "third"] {
        rig.sn.add_comment(&number, "jsmith", text).unwrap();
    }
    rig.sn
        .add_work_note(&number, "jsmith", "internal only")
        .unwrap();
    both::wait("three notes at GSEM", || {
        rig.notes_at_gsem(&case).len() >= 3
    })
    .await;
    both::settle().await;
    assert_eq!(rig.notes_at_gsem(&case), ["first", "second", "third"]);

    rig.gsem.hpe_note(PID, "Part 867 shipped").unwrap();
    let expected = format!("[HPE {PID}] Part 867 shipped");
    both::wait("HPE's note on the incident", || {
        rig.our_entries(&number).contains(&expected)
    })
    .await;
    both::settle().await;
    let ours = rig.our_entries(&number);
    assert_eq!(
        ours.iter().filter(|e| **e == expected).count(),
        1,
        "{ours:?}"
    );
    assert_eq!(ours.last(), Some(&expected));
    // Nothing went back to GSEM: still exactly the three comments.
    assert_eq!(rig.notes_at_gsem(&case), ["first", "second", "third"]);
    // A comment after HPE's note is still delivered, once, after the others.
    rig.sn.add_comment(&number, "jsmith", "fourth").unwrap();
    both::wait("the fourth note", || rig.notes_at_gsem(&case).len() >= 4).await;
    both::settle().await;
    assert_eq!(
        rig.notes_at_gsem(&case),
        ["first", "second", "third", "fourth"]
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_hostile_and_huge_text_survives_both_ways() {
    let rig = both::Both::start().await;
    let (number, case) = rig.paired("hostile text").await;
    let hostile = "He said \"no\" \\ 'yes'\r\nline two\ttab \u{0} NUL 🚀👩‍💻 עברית مرحبا \u{202E}reversed\u{202C}";
    let big: String = "0123456789abcdef".repeat(4096); // 64 KiB
    assert_eq!(big.len(), 64 * 1024);
    rig.sn.add_comment(&number, "jsmith", hostile).unwrap();
    rig.sn.add_comment(&number, "jsmith", &big).unwrap();
    both::wait("both comments at GSEM", || {
        rig.notes_at_gsem(&case).len() >= 2
    })
    .await;
    rig.gsem.hpe_note(PID, hostile).unwrap();
    rig.gsem.hpe_note(PID, &big).unwrap();
    let big_entry = format!("[HPE {PID}] {big}");
    both::wait("both HPE notes on the incident", || {
        rig.our_entries(&number).contains(&big_entry)
    })
    .await;
    both::settle().await;
    assert_eq!(rig.notes_at_gsem(&case), [hostile.to_owned(), big.clone()]);
    let ours = rig.our_entries(&number);
    assert_eq!(
        ours[ours.len() - 2..],
        [format!("[HPE {PID}] {hostile}"), big_entry]
    );
    rig.stop().await;
}

#[tokio::test]
async fn a_blocked_journal_falls_back_to_the_display_value_text_when_configured() {
    // The simulator shows times in Pacific time, as the API user's profile says.
    let rig = Rig::with(SimConfig::default(), |c| {
        c.servicenow.journal_fallback_to_display_value = true;
        c.servicenow.time_zone = chrono_tz::America::Los_Angeles;
    })
    .await;
    // Blocked from the start: no entry of ours is known to probe with.
    rig.sim.set_journal_acl_blocked(true);
    let (number, case, mut engine) = paired(&rig).await;
    let health = engine.health();
    rig.sim.add_comment(&number, "jsmith", "first").unwrap();
    rig.sim
        .add_comment(
            &number,
            "jsmith",
            "second\nwith 2026-01-01 00:00:00 - X (Additional comments)",
        )
        .unwrap();
    rig.sim.add_comment(&number, "jsmith", "first").unwrap();
    rig.sim
        .add_comment(&number, "jsmith", &format!("[HPE {PID}] pasted back"))
        .unwrap();
    rounds(&mut engine, 3).await;
    assert!(health.borrow().journal_blocked);
    // The same text by the same person in the same second is one entry.
    let sent = [
        "first",
        "second\nwith 2026-01-01 00:00:00 - X (Additional comments)",
    ];
    // Our own announcements (by "casebridge Integration") are not sent.
    assert_eq!(rig.notes_sent(case.id), sent);
    let journal = rig.store().journal_for_case(case.id).unwrap();
    let from_sn: Vec<_> = journal
        .iter()
        .filter(|j| j.entry.origin == Origin::ServiceNow)
        .map(|j| (j.entry.author.as_str(), j.entry.remote_id.clone().unwrap()))
        .collect();
    assert_eq!(from_sn.len(), 2);
    assert!(
        from_sn
            .iter()
            .all(|(author, id)| *author == "jsmith" && id.starts_with("text:"))
    );
    // Re-read, restarted, or read again once the ACL is fixed: nothing twice.
    rounds(&mut engine, 3).await;
    let mut restarted = rig.engine();
    rounds(&mut restarted, 2).await;
    assert_eq!(rig.notes_sent(case.id), sent);
    rig.sim.set_journal_acl_blocked(false);
    rig.sim
        .add_comment(&number, "jsmith", "after the fix")
        .unwrap();
    let restarted_health = restarted.health();
    rounds(&mut restarted, 2).await;
    assert!(!restarted_health.borrow().journal_blocked);
    let mut all = sent.to_vec();
    all.push("after the fix");
    assert_eq!(rig.notes_sent(case.id), all);
}

#[tokio::test]
async fn without_the_fallback_a_blocked_journal_sends_nothing() {
    let rig = Rig::new().await;
    rig.sim.set_journal_acl_blocked(true);
    let (number, case, mut engine) = paired(&rig).await;
    rig.sim.add_comment(&number, "jsmith", "unseen").unwrap();
    rounds(&mut engine, 3).await;
    assert!(rig.notes_sent(case.id).is_empty());
    // Our own announcements could not be read back: reported.
    let health = engine.health();
    assert!(health.borrow().journal_blocked);
    assert!(
        health
            .borrow()
            .last_error
            .as_deref()
            .unwrap()
            .contains("journal_fallback_to_display_value")
    );
}
