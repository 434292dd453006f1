#![allow(clippy::unwrap_used, clippy::expect_used)]
//! HPE's IT certification of casebridge (issue 3), as tests: against the
//! GSEM simulator over mutual TLS on loopback, with the real `casebridge`
//! binary as a child process wherever a crash or restart is involved.
//!
//! 1. full function, with hostile text of every size, byte for byte;
//! 2. resilience: four kinds of outage in the middle of a 200-message burst;
//! 3. integrity while casebridge is SIGKILLed again and again, pull and push;
//! 4. bad input on the push endpoint, and an oversized message that blocks
//!    push delivery until a restart with a higher limit.
//!
//! Random choices come from a seeded generator; the seed is printed at start
//! and named in every assertion message (`CASEBRIDGE_TEST_SEED` repeats it).

#[path = "certification/common.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use casebridge::engine::{Engine, StoreKind};
use casebridge::sim::gsem::State;
use casebridge::store::prelude::*;
use casebridge::store::{JournalState, Origin};
use chrono::Utc;
use common::*;

const MIB: usize = 1024 * 1024;
const PPI: &str = "PROVIDE PROBLEM INFORMATION";

/// The accepted POSTs of one case (by RequesterID), as (transaction, body).
fn accepted_for(rig: &Rig, requester_id: &str) -> Vec<(String, serde_json::Value)> {
    rig.gsem
        .received()
        .iter()
        .filter(|r| r.is_accepted() && r.requester_id.as_deref() == Some(requester_id))
        .map(|r| (r.transaction.clone().unwrap(), json(&r.body)))
        .collect()
}

fn statement(message: &serde_json::Value, role: &str) -> String {
    message["Message"]["SERVICE_INCIDENT"]["PROBLEM"]["EXPRESSION"]["STATEMENT"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["StatementRole"] == role)
        .unwrap()["StatementText"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn comment(message: &serde_json::Value) -> &str {
    message["Message"]["SERVICE_INCIDENT"]["Comment"]
        .as_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t1_full_function_with_hostile_text_byte_for_byte() {
    let seed = seed("t1_full_function");
    let mut options = Options::new(Mode::Pull);
    options.answer_delay = Some(Duration::from_millis(100));
    // Only SN0001 is under contract: a case on SN0002 is refused.
    options.contracts = Some(BTreeMap::from([("SN0001".into(), "CN0001".into())]));
    let rig = Rig::start(options, seed).await;
    let ctx = rig.ctx();
    let engine = Engine::start(&rig.settings(), StoreKind::Real)
        .await
        .unwrap();
    let actions = engine.actions().clone();
    let store = engine.store().clone();
    let long = Duration::from_secs(30);

    // --- Case A: open → accept → notes both ways → info → resolution → confirm close.
    let title = hostile("title-A", 4 * 1024);
    let description = hostile("description-A", MIB);
    let (a, _) = actions
        .open_case(
            open_case("INC0010001", &title, &description, "SN0001", "CN0001"),
            Utc::now(),
        )
        .await
        .unwrap();
    wait_until("case A accepted", &ctx, long, || {
        let c = case(&store, a.id);
        c.state == 5 && c.provider_id.is_some()
    })
    .await;
    let pid = case(&store, a.id).provider_id.unwrap();
    assert_eq!(
        case(&store, a.id).workflow_status.as_deref(),
        Some("Assigned"),
        "{ctx}"
    );

    let note_out = hostile("note-out-A", 64 * 1024);
    actions
        .add_note(a.id, OPERATOR, &note_out, Utc::now())
        .await
        .unwrap();
    let note_in = hostile("note-in-A", MIB);
    rig.gsem.hpe_note(&pid, &note_in).unwrap();
    wait_until("HPE's 1 MiB note in the journal", &ctx, long, || {
        hpe_journal(&store, a.id)
            .iter()
            .any(|j| j.entry.kind == "note")
    })
    .await;

    let info = hostile("info-request-A", 2048);
    rig.gsem.hpe_request_info(&pid, &info).unwrap();
    wait_until("case A waiting on us (4)", &ctx, long, || {
        case(&store, a.id).state == 4
    })
    .await;
    let answer = hostile("answer-A", 8 * 1024);
    actions
        .add_note(a.id, OPERATOR, &answer, Utc::now())
        .await
        .unwrap();
    wait_until("our answer acknowledged (5)", &ctx, long, || {
        case(&store, a.id).state == 5 && rig.gsem.case(&pid).unwrap().state == State::OpenProvider
    })
    .await;

    let solution = hostile("solution-A", MIB);
    rig.gsem.hpe_resolve(&pid, &solution).unwrap();
    wait_until("case A resolved (6)", &ctx, long, || {
        case(&store, a.id).state == 6
    })
    .await;
    let closure = hostile("closure-A", 1024);
    actions
        .close(a.id, OPERATOR, &closure, Utc::now())
        .await
        .unwrap();
    wait_until("case A closed on both sides (7)", &ctx, long, || {
        case(&store, a.id).state == 7 && rig.gsem.case(&pid).unwrap().state == State::Closed
    })
    .await;

    // Outbound, byte for byte, in order, once each.
    let sent = accepted_for(&rig, &a.requester_id);
    let names: Vec<&str> = sent.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        ["SERVICE REQUEST", PPI, PPI, "CONFIRM CLOSE"],
        "{ctx}"
    );
    assert!(
        statement(&sent[0].1, "TITLE") == title,
        "4 KiB title changed ({ctx})"
    );
    assert!(
        statement(&sent[0].1, "DESCRIPTION") == description,
        "1 MiB description changed ({ctx})"
    );
    assert!(
        comment(&sent[1].1) == note_out,
        "outbound note changed ({ctx})"
    );
    assert!(
        comment(&sent[2].1) == answer,
        "outbound answer changed ({ctx})"
    );
    assert!(
        comment(&sent[3].1) == closure,
        "closure notes changed ({ctx})"
    );
    assert_eq!(
        sent[3].1["Message"]["SERVICE_INCIDENT"]["ProviderID"],
        pid.as_str(),
        "{ctx}"
    );

    // Inbound, byte for byte, in order.
    let journal = hpe_journal(&store, a.id);
    let kinds: Vec<&str> = journal.iter().map(|j| j.entry.kind.as_str()).collect();
    assert_eq!(kinds, ["note", "note", "resolution"], "{ctx}");
    assert!(
        journal[0].entry.text == note_in,
        "1 MiB Comment changed ({ctx})"
    );
    assert!(
        journal[1].entry.text == info,
        "info request changed ({ctx})"
    );
    assert!(
        journal[2].entry.text == solution,
        "1 MiB SOLUTION changed ({ctx})"
    );
    // Our own entries went out and are marked so.
    let ours: Vec<(String, JournalState)> = store
        .lock()
        .unwrap()
        .journal_for_case(a.id)
        .unwrap()
        .into_iter()
        .filter(|j| j.entry.origin == Origin::Local)
        .map(|j| (j.entry.kind, j.entry.state))
        .collect();
    assert_eq!(
        ours,
        [
            ("opened".to_string(), JournalState::Sent),
            ("note".to_string(), JournalState::Sent),
            ("note".to_string(), JournalState::Sent),
            ("closure".to_string(), JournalState::Sent),
        ],
        "{ctx}"
    );
    let stored = store.lock().unwrap().case_by_id(a.id).unwrap().unwrap();
    assert!(
        stored.title == title && stored.description == description,
        "{ctx}"
    );

    // --- Case B: HPE closes it on its side.
    let (b, _) = actions
        .open_case(
            open_case(
                "INC0010002",
                "B: closed by HPE",
                "HPE will close this",
                "SN0001",
                "CN0001",
            ),
            Utc::now(),
        )
        .await
        .unwrap();
    wait_until("case B accepted", &ctx, long, || {
        case(&store, b.id).state == 5
    })
    .await;
    let pid_b = case(&store, b.id).provider_id.unwrap();
    assert_ne!(pid_b, pid, "{ctx}");
    let closed_text = hostile("closed-by-hpe-B", 512);
    rig.gsem.hpe_close(&pid_b, &closed_text).unwrap();
    wait_until("case B closed by HPE", &ctx, long, || {
        case(&store, b.id).state == 7
    })
    .await;
    let b_now = case(&store, b.id);
    assert_eq!(b_now.workflow_status.as_deref(), Some("Closed"), "{ctx}");
    let b_journal = hpe_journal(&store, b.id);
    assert_eq!(b_journal.len(), 1, "{ctx}");
    assert!(b_journal[0].entry.text == closed_text, "{ctx}");
    let refused = actions
        .add_note(b.id, OPERATOR, "too late", Utc::now())
        .await;
    assert!(
        refused.is_err(),
        "a note to a finished case must be refused ({ctx})"
    );

    // --- Case C: refused by entitlement.
    let (c, _) = actions
        .open_case(
            open_case(
                "INC0010003",
                "C: not covered",
                "SN0002 is not under contract",
                "SN0002",
                "CN0002",
            ),
            Utc::now(),
        )
        .await
        .unwrap();
    wait_until("case C refused (1)", &ctx, long, || {
        case(&store, c.id).state == 1
    })
    .await;
    let c_journal = hpe_journal(&store, c.id);
    assert_eq!(c_journal.len(), 1, "{ctx}");
    assert_eq!(c_journal[0].entry.kind, "entitlement", "{ctx}");
    assert_eq!(
        c_journal[0].entry.text,
        casebridge::sim::gsem::provider::not_covered("CN0002", "SN0002"),
        "{ctx}"
    );
    assert_eq!(case(&store, c.id).provider_id, None, "{ctx}");

    // Nothing was quarantined, nothing is left queued.
    {
        let s = store.lock().unwrap();
        assert_eq!(quarantine(&s).len(), 0, "{ctx}");
        let rows = outbox_rows(&s);
        assert!(
            rows.iter()
                .all(|r| r.state == casebridge::store::OutboxState::Acked),
            "{ctx}: {:?}",
            rows.iter().map(|r| (r.seq, r.state)).collect::<Vec<_>>()
        );
    }
    drop(actions);
    drop(store);
    engine.stop().await;
}

/// One message of the plan: what the simulator must receive, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Planned {
    transaction: String,
    requester_id: String,
    comment: Option<String>,
}

fn planned_of(rows: &[casebridge::store::OutboxRow]) -> Vec<Planned> {
    rows.iter()
        .map(|r| {
            let body = json(r.body.as_bytes());
            let si = &body["Message"]["SERVICE_INCIDENT"];
            Planned {
                transaction: r.transaction_name.clone(),
                requester_id: si["RequesterID"].as_str().unwrap().to_owned(),
                comment: si["Comment"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// Waits until the simulator has seen at least three failed attempts at the
/// head of the outbox under the current fault: the head's attempt counter
/// moves four times (the first attempt of a fresh row is counted when it is
/// sent and again when it fails).
async fn outlast_three_attempts(
    store: &casebridge::gsem::shared::SharedStore,
    ctx: &str,
    what: &str,
) {
    let mut tracked: Option<(i64, i64)> = None;
    wait_until(what, ctx, Duration::from_secs(30), || {
        let head = store.lock().unwrap().outbox_head().unwrap();
        let Some(head) = head else {
            return false;
        };
        match tracked {
            Some((seq, base)) if seq == head.seq => head.attempts - base >= 4,
            _ => {
                tracked = Some((head.seq, head.attempts));
                false
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t2_resilience_four_outages_in_a_burst_of_200() {
    use casebridge::sim::gsem::Fault;
    let seed = seed("t2_resilience");
    let mut rng = Rng::new(seed);
    let mut options = Options::new(Mode::Pull);
    options.request_timeout = "1s";
    let rig = Rig::start(options, seed).await;
    let ctx = rig.ctx();
    let engine = Engine::start(&rig.settings(), StoreKind::Real)
        .await
        .unwrap();
    let actions = engine.actions().clone();
    let store = engine.store().clone();

    // 20 cases × (1 SERVICE REQUEST + 9 notes), interleaved at random; a
    // case's first message is its SERVICE REQUEST.
    let mut tokens: Vec<usize> = (0..20).flat_map(|c| std::iter::repeat_n(c, 10)).collect();
    rng.shuffle(&mut tokens);
    let mut case_ids: BTreeMap<usize, i64> = BTreeMap::new();
    let mut plan: Vec<Planned> = Vec::new();
    let faults = [
        Fault::RefuseConnections,
        Fault::Unavailable503 { retry_after: None },
        Fault::Hang,
        Fault::Reset,
    ];
    for (stage, fault) in faults.iter().enumerate() {
        let chunk = &tokens[stage * 50..stage * 50 + 50];
        let (before, during) = chunk.split_at(25);
        queue_burst(&actions, before, &mut case_ids, &mut plan).await;
        let mid = plan.len() - 15;
        wait_until(
            "part of the burst accepted",
            &ctx,
            Duration::from_secs(30),
            || accepted_bodies(&rig.gsem.received()).len() >= mid,
        )
        .await;
        rig.gsem.set_fault(fault.clone());
        let received_before = rig.gsem.received().len();
        queue_burst(&actions, during, &mut case_ids, &mut plan).await;
        outlast_three_attempts(
            &store,
            &ctx,
            &format!("three failed attempts under {fault:?}"),
        )
        .await;
        if let Fault::Unavailable503 { .. } = fault {
            let answered_503 = rig.gsem.received()[received_before..]
                .iter()
                .filter(|r| r.status == 503)
                .count();
            assert!(answered_503 >= 3, "only {answered_503} answers 503 ({ctx})");
        }
        let queued = store.lock().unwrap().outbox_stats(0).unwrap().queued;
        assert!(
            queued > 0,
            "the outage under {fault:?} did not hit the burst ({ctx})"
        );
        rig.gsem.set_fault(Fault::None);
    }
    wait_until("all 200 accepted", &ctx, Duration::from_secs(60), || {
        accepted_bodies(&rig.gsem.received()).len() >= 200
    })
    .await;
    // Let a straggler (a wrong extra send) show itself before comparing.
    wait_until("the outbox empty", &ctx, Duration::from_secs(10), || {
        store.lock().unwrap().outbox_head().unwrap().is_none()
    })
    .await;

    let rows = outbox_rows(&store.lock().unwrap());
    assert_eq!(rows.len(), 200, "{ctx}");
    assert_eq!(
        planned_of(&rows),
        plan,
        "the outbox holds the queued order ({ctx})"
    );
    let expected: Vec<Vec<u8>> = rows.iter().map(|r| r.body.as_bytes().to_vec()).collect();
    let got = accepted_bodies(&rig.gsem.received());
    assert_eq!(got.len(), expected.len(), "{ctx}");
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            g == e,
            "message {i} differs: got {:?}, expected {:?} ({ctx})",
            planned_of_body(g),
            plan[i]
        );
    }
    assert!(
        rows.iter().all(|r| matches!(
            r.state,
            casebridge::store::OutboxState::Acked | casebridge::store::OutboxState::Inferred
        )),
        "{ctx}"
    );
    drop(actions);
    drop(store);
    engine.stop().await;
}

fn planned_of_body(body: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let si = &v["Message"]["SERVICE_INCIDENT"];
    Some((
        v["Message"]["TransactionName"].as_str()?.to_owned(),
        si["Comment"].as_str().unwrap_or_default().to_owned(),
    ))
}

/// A little hostile text that differs per message.
fn rng_free_text(n: usize) -> String {
    let h = HOSTILE
        .chars()
        .cycle()
        .skip(n % 37)
        .take(12)
        .collect::<String>();
    format!("{h} #{n}")
}

/// Queues one message per token: a case's SERVICE REQUEST the first time
/// its token comes up, a note with a unique text after that.
async fn queue_burst(
    actions: &casebridge::gsem::actions::Actions,
    part: &[usize],
    case_ids: &mut BTreeMap<usize, i64>,
    plan: &mut Vec<Planned>,
) {
    for &c in part {
        let n = plan.len();
        let incident = format!("INC00200{c:02}");
        match case_ids.get(&c) {
            None => {
                let open = open_case(
                    &incident,
                    &format!("burst case {c}"),
                    &format!("burst case {c}, message {n}"),
                    "SN0001",
                    "CN0001",
                );
                let (row, _) = actions.open_case(open, Utc::now()).await.unwrap();
                case_ids.insert(c, row.id);
                plan.push(Planned {
                    transaction: "SERVICE REQUEST".into(),
                    requester_id: incident,
                    comment: None,
                });
            }
            Some(&id) => {
                let text = format!("burst note {n} for case {c} \"{}\"", rng_free_text(n));
                actions
                    .add_note(id, OPERATOR, &text, Utc::now())
                    .await
                    .unwrap();
                plan.push(Planned {
                    transaction: PPI.into(),
                    requester_id: incident,
                    comment: Some(text),
                });
            }
        }
    }
}

/// What the test queued on each side, in order.
#[derive(Default)]
struct Queued {
    /// (case index, text) of our notes, in queued order.
    outbound: Vec<(usize, String)>,
    /// (case index, text, MessageId) of HPE's updates, in queued order.
    inbound: Vec<(usize, String, String)>,
}

fn unprocessed_inbox(store: &casebridge::gsem::shared::SharedStore) -> usize {
    inbox_rows(&store.lock().unwrap())
        .iter()
        .filter(|r| r.state == casebridge::store::InboxState::New)
        .count()
}

async fn integrity_under_sigkill(mode: Mode, name: &str) {
    const CASES: usize = 5;
    const EACH_WAY: usize = 100;
    const KILLS: usize = 22;
    let seed = seed(name);
    let mut rng = Rng::new(seed);
    let mut options = Options::new(mode);
    options.answer_delay = Some(Duration::from_millis(50));
    let rig = Rig::start(options, seed).await;
    let ctx = rig.ctx();
    let long = Duration::from_secs(30);
    let mut engine = rig.spawn_engine();
    let store = rig.tool_store();
    let actions = rig.tool_actions(&store);

    let mut cases = Vec::new();
    for c in 0..CASES {
        let open = open_case(
            &format!("INC00300{c:02}"),
            &format!("integrity case {c}"),
            &hostile(&format!("integrity description {c}"), 300),
            "SN0001",
            "CN0001",
        );
        cases.push(actions.open_case(open, Utc::now()).await.unwrap().0);
    }
    wait_until("every case accepted", &ctx, long, || {
        cases.iter().all(|c| case(&store, c.id).state == 5)
    })
    .await;
    let pids: Vec<String> = cases
        .iter()
        .map(|c| case(&store, c.id).provider_id.unwrap())
        .collect();

    let mut queued = Queued::default();
    let mut kills = 0;
    let (mut kills_outbound, mut kills_inbound) = (0, 0);
    let bad_head_at = (mode == Mode::Pull).then(|| 5 + rng.below(10) as usize);
    let bad_head = format!(
        r#"{{"Message": {{"TransactionName": "PROVIDE PROBLEM INFORMATION", "RemoteAgentName": "NERSC_Train_R", "RemoteAgentType": "HPE", "SERVICE_INCIDENT": {{"RequesterID": "{}", "ProviderID": "{}", "Comment": "a head without MessageId: never applied"}}}}}}"#,
        cases[0].requester_id, pids[0]
    );
    let mut bad_head_done = false;
    while kills < KILLS || queued.outbound.len() < EACH_WAY || queued.inbound.len() < EACH_WAY {
        if bad_head_at == Some(kills) && !bad_head_done {
            bad_head_done = true;
            meet_a_head_without_message_id(&rig, &store, &engine, &bad_head, &mut queued, &pids)
                .await;
        }
        // Where to aim this kill: at the outbound drain, at inbound
        // processing, or anywhere.
        let aim = rng.below(3);
        let accepted_before = accepted_bodies(&rig.gsem.received()).len();
        let inbox_before = inbox_rows(&store.lock().unwrap()).len();
        let n_out = (3 + rng.below(8) as usize).min(EACH_WAY - queued.outbound.len());
        let n_in = (3 + rng.below(8) as usize).min(EACH_WAY - queued.inbound.len());
        if aim != 1 {
            for _ in 0..n_out {
                let c = rng.below(CASES as u64) as usize;
                let text = format!(
                    "our note {} on case {c} {}",
                    queued.outbound.len(),
                    rng_free_text(queued.outbound.len())
                );
                actions
                    .add_note(cases[c].id, OPERATOR, &text, Utc::now())
                    .await
                    .unwrap();
                queued.outbound.push((c, text));
            }
        }
        if aim != 0 {
            for _ in 0..n_in {
                let c = rng.below(CASES as u64) as usize;
                let text = format!(
                    "HPE update {} on case {c} {}",
                    queued.inbound.len(),
                    rng_free_text(queued.inbound.len() + 7)
                );
                let id = rig.gsem.hpe_note(&pids[c], &text).unwrap();
                queued.inbound.push((c, text, id));
            }
        }
        match aim {
            0 if n_out > 0 => {
                let started = try_wait_every(Duration::from_millis(2), long, || {
                    accepted_bodies(&rig.gsem.received()).len() > accepted_before
                })
                .await;
                assert!(
                    started,
                    "the drain did not start ({ctx}):\n{}",
                    engine.stderr()
                );
                tokio::time::sleep(Duration::from_millis(rng.below(8))).await;
            }
            1 if n_in > 0 => {
                let started = try_wait_every(Duration::from_millis(2), long, || {
                    inbox_rows(&store.lock().unwrap()).len() > inbox_before
                })
                .await;
                assert!(
                    started,
                    "inbound did not start ({ctx}; simulator queue {}):\n{}",
                    rig.gsem.queue_len(),
                    engine.stderr()
                );
                tokio::time::sleep(Duration::from_millis(rng.below(8))).await;
            }
            _ => tokio::time::sleep(Duration::from_millis(rng.below(400))).await,
        }
        let outbound_busy = store.lock().unwrap().outbox_head().unwrap().is_some()
            && accepted_bodies(&rig.gsem.received()).len() > accepted_before;
        let inbound_busy = (rig.gsem.queue_len() > 0 || unprocessed_inbox(&store) > 0)
            && inbox_rows(&store.lock().unwrap()).len() > inbox_before;
        assert!(
            engine.is_running(),
            "the engine died by itself ({ctx}):\n{}",
            engine.stderr()
        );
        engine.kill9();
        kills += 1;
        kills_outbound += usize::from(outbound_busy);
        kills_inbound += usize::from(inbound_busy);
        engine = rig.spawn_engine();
    }
    eprintln!(
        "{name}: {kills} kills, {kills_outbound} during the outbound drain, {kills_inbound} during inbound processing"
    );

    // The last engine finishes the work by itself.
    let expected_out = CASES + EACH_WAY;
    wait_until(
        "everything delivered both ways",
        &ctx,
        Duration::from_secs(60),
        || {
            rig.gsem.queue_len() == 0
                && unprocessed_inbox(&store) == 0
                && store.lock().unwrap().outbox_head().unwrap().is_none()
                && accepted_bodies(&rig.gsem.received()).len() >= expected_out
        },
    )
    .await;
    assert!(engine.is_running(), "{ctx}");
    assert!(kills >= 20, "{ctx}");
    assert!(
        kills_outbound >= 2,
        "too few kills during the outbound drain ({ctx})"
    );
    assert!(
        kills_inbound >= 2,
        "too few kills during inbound processing ({ctx})"
    );

    // Outbound: the simulator received every queued message once, in order.
    let rows = outbox_rows(&store.lock().unwrap());
    assert_eq!(rows.len(), expected_out, "{ctx}");
    let expected: Vec<Vec<u8>> = rows.iter().map(|r| r.body.as_bytes().to_vec()).collect();
    let got = accepted_bodies(&rig.gsem.received());
    let accepted_posts = rig
        .gsem
        .received()
        .iter()
        .filter(|r| r.is_accepted())
        .count();
    eprintln!(
        "{name}: {} resends after a lost reply collapsed",
        accepted_posts - got.len()
    );
    assert_eq!(got.len(), expected.len(), "{ctx}");
    assert!(
        got == expected,
        "the simulator's list differs from the outbox order ({ctx})"
    );
    let notes: Vec<String> = planned_of(&rows)
        .into_iter()
        .filter(|p| p.transaction == PPI)
        .map(|p| p.comment.unwrap())
        .collect();
    let planned: Vec<String> = queued.outbound.iter().map(|(_, t)| t.clone()).collect();
    assert_eq!(notes, planned, "{ctx}");
    assert!(
        rows.iter().all(|r| matches!(
            r.state,
            casebridge::store::OutboxState::Acked | casebridge::store::OutboxState::Inferred
        )),
        "{ctx}"
    );

    // Inbound: every update applied once, in order, on its case.
    let inbox = inbox_rows(&store.lock().unwrap());
    assert_eq!(inbox.len(), CASES + EACH_WAY, "{ctx}");
    assert!(
        inbox
            .iter()
            .all(|r| r.state == casebridge::store::InboxState::Processed),
        "{ctx}"
    );
    let ids: Vec<&str> = queued
        .inbound
        .iter()
        .map(|(_, _, id)| id.as_str())
        .collect();
    let inbox_ids: Vec<&str> = inbox
        .iter()
        .filter_map(|r| r.message_id.as_deref())
        .filter(|id| ids.contains(id))
        .collect();
    assert_eq!(inbox_ids, ids, "inbound received order ({ctx})");
    for (c, row) in cases.iter().enumerate() {
        let journal = hpe_journal(&store, row.id);
        let got: Vec<(&str, Option<&str>)> = journal
            .iter()
            .map(|j| (j.entry.text.as_str(), j.entry.remote_id.as_deref()))
            .collect();
        let want: Vec<(&str, Option<&str>)> = queued
            .inbound
            .iter()
            .filter(|(k, _, _)| *k == c)
            .map(|(_, t, id)| (t.as_str(), Some(id.as_str())))
            .collect();
        assert_eq!(got, want, "HPE's updates on case {c} ({ctx})");
        let ours: Vec<String> = store
            .lock()
            .unwrap()
            .journal_for_case(row.id)
            .unwrap()
            .into_iter()
            .filter(|j| j.entry.origin == Origin::Local && j.entry.kind == "note")
            .map(|j| j.entry.text)
            .collect();
        let want: Vec<String> = queued
            .outbound
            .iter()
            .filter(|(k, _)| *k == c)
            .map(|(_, t)| t.clone())
            .collect();
        assert_eq!(ours, want, "our notes on case {c} ({ctx})");
        assert_eq!(case(&store, row.id).state, 5, "{ctx}");
    }
    let quarantined = quarantine(&store.lock().unwrap());
    match mode {
        Mode::Pull => {
            assert_eq!(quarantined.len(), 1, "{ctx}");
            assert_eq!(quarantined[0].raw, bad_head.as_bytes(), "{ctx}");
            assert_eq!(quarantined[0].delivery_count, 1, "quarantined once ({ctx})");
        }
        Mode::Push => assert_eq!(quarantined.len(), 0, "{ctx}"),
    }
    engine.kill9();
}

/// Pull mode: a head without `MessageId` is quarantined once, reported, and
/// waits; once GSEM removes it the poller carries on by itself.
async fn meet_a_head_without_message_id(
    rig: &Rig,
    store: &casebridge::gsem::shared::SharedStore,
    engine: &ServeProcess,
    bad_head: &str,
    queued: &mut Queued,
    pids: &[String],
) {
    let ctx = rig.ctx();
    let long = Duration::from_secs(30);
    rig.gsem.enqueue_raw(bad_head.as_bytes().to_vec());
    // Updates queued behind it wait for it.
    for k in 0..3 {
        let text = format!(
            "HPE update {} behind the blocked head",
            queued.inbound.len()
        );
        let id = rig.gsem.hpe_note(&pids[k % pids.len()], &text).unwrap();
        queued.inbound.push((k % pids.len(), text, id));
    }
    let sha = sha256_hex(bad_head.as_bytes());
    wait_until("the head quarantined", &ctx, long, || {
        quarantine(&store.lock().unwrap())
            .iter()
            .any(|q| q.sha256 == sha)
    })
    .await;
    // The poller keeps looking at the head at its interval.
    let gets = |rig: &Rig| {
        rig.gsem
            .received()
            .iter()
            .filter(|r| r.method == "GET")
            .count()
    };
    let seen = gets(rig);
    wait_until("three more looks at the head", &ctx, long, || {
        gets(rig) >= seen + 3
    })
    .await;
    let entries = quarantine(&store.lock().unwrap());
    assert_eq!(entries.len(), 1, "{ctx}");
    assert_eq!(entries[0].delivery_count, 1, "{ctx}");
    assert_eq!(
        entries[0].reason,
        casebridge::gsem::poller::NO_MESSAGE_ID,
        "{ctx}"
    );
    assert_eq!(rig.gsem.queue_len(), 4, "the head blocks the queue ({ctx})");
    let log = engine.stderr();
    assert_eq!(
        log.matches("GSEM queue head has no readable MessageId")
            .count(),
        1,
        "the alert, once ({ctx}):\n{log}"
    );
    let removed = rig.gsem.remove_head().unwrap();
    assert_eq!(removed.message_id, None, "{ctx}");
    wait_until("the poller to carry on by itself", &ctx, long, || {
        rig.gsem.queue_len() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t3_integrity_under_sigkill_pull() {
    integrity_under_sigkill(Mode::Pull, "t3_integrity_pull").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t3_integrity_under_sigkill_push() {
    integrity_under_sigkill(Mode::Push, "t3_integrity_push").await;
}

/// One of HPE's transactions as GSEM would push it, with `QueueDetails`
/// when `message_id` is given.
fn hpe_message(
    message_id: Option<&str>,
    transaction: &str,
    incident: serde_json::Value,
) -> Vec<u8> {
    let mut si = serde_json::json!({
        "ACTIVITY": {"LocalDate": "2026-01-01 00:00:00", "ActionLog": "Note"}
    });
    for (k, v) in incident.as_object().unwrap() {
        si[k] = v.clone();
    }
    let mut envelope = serde_json::json!({
        "Message": {
            "TransactionName": transaction,
            "RemoteAgentName": "NERSC_Train_R",
            "RemoteAgentType": "HPE",
            "eCPControl": {"ECPVersion": "1.0"},
            "SERVICE_INCIDENT": si,
        }
    });
    if let Some(id) = message_id {
        envelope["QueueDetails"] = serde_json::json!({
            "MessageId": id, "EnqueuedAt": "2026-01-01 00:00:01", "DeliveryCount": 1
        });
    }
    serde_json::to_vec(&envelope).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_bad_input_on_the_push_endpoint() {
    let seed = seed("t4_bad_input");
    let mut options = Options::new(Mode::Push);
    // The test POSTs by itself; the simulator only takes our messages.
    options.sim_pushes = false;
    options.body_limit = "256KiB";
    let rig = Rig::start(options, seed).await;
    let ctx = rig.ctx();
    let long = Duration::from_secs(30);
    let mut engine = rig.spawn_engine();
    let store = rig.tool_store();
    let actions = rig.tool_actions(&store);
    let (open, _) = actions
        .open_case(
            open_case(
                "INC0040001",
                "bad input",
                "the push endpoint under attack",
                "SN0001",
                "CN0001",
            ),
            Utc::now(),
        )
        .await
        .unwrap();
    wait_until("the SERVICE REQUEST acknowledged", &ctx, long, || {
        case(&store, open.id).state == 3
    })
    .await;

    let client = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(rig.pki.ca.cert().cert_pem().as_bytes()).unwrap(),
        ])
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let url = format!("https://127.0.0.1:{}{WEBHOOK_PATH}", rig.push_port);
    let post = |body: Vec<u8>, auth: Option<&'static str>| {
        let mut request = client
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    let note = |id: Option<&str>, requester: &str, extra: serde_json::Value| {
        let mut si =
            serde_json::json!({"RequesterID": requester, "Comment": format!("note {id:?}")});
        for (k, v) in extra.as_object().unwrap() {
            si[k] = v.clone();
        }
        hpe_message(id, PPI, si)
    };
    let truncated = {
        let whole = note(Some("bad-truncated"), "INC0040001", serde_json::json!({}));
        whole[..whole.len() / 2].to_vec()
    };
    let mut invalid_utf8 = br#"{"QueueDetails": {"MessageId": "bad-utf8"}, "Message": {"TransactionName": "PROVIDE PROBLEM INFORMATION", "SERVICE_INCIDENT": {"RequesterID": "INC0040001", "Comment": ""#.to_vec();
    invalid_utf8.extend_from_slice(b"\xff\xfe\xc3\x28 not UTF-8\"}}}");
    let deep = format!(
        r#"{{"QueueDetails": {{"MessageId": "bad-deep"}}, "Message": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    )
    .into_bytes();
    // (what, body, the reason when spec §2/§5 names it)
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("non-JSON", b"this is not JSON, it is prose".to_vec(), None),
        ("empty", Vec::new(), None),
        ("truncated JSON", truncated, None),
        ("invalid UTF-8", invalid_utf8, None),
        ("JSON nested 10,000 deep", deep, None),
        (
            "wrong types",
            note(
                Some("bad-type"),
                "INC0040001",
                serde_json::json!({"CurrentState": true}),
            ),
            Some("wrong type for `CurrentState`"),
        ),
        (
            "unknown transaction",
            hpe_message(
                Some("bad-transaction"),
                "FROBNICATE INCIDENT",
                serde_json::json!({"RequesterID": "INC0040001", "Comment": "?"}),
            ),
            None,
        ),
        (
            "unknown case",
            note(Some("bad-case"), "INC0049999", serde_json::json!({})),
            Some("unknown case"),
        ),
        (
            "a message without MessageId",
            note(None, "INC0040001", serde_json::json!({})),
            Some("no MessageId"),
        ),
    ];
    let mut reasons = Vec::new();
    for (what, body, reason) in &cases {
        let status = post(body.clone(), Some(WEBHOOK_TOKEN)).await;
        assert_eq!(status, 200, "{what}: committed, then answered 2xx ({ctx})");
        let sha = sha256_hex(body);
        let found = try_wait_until(long, || {
            quarantine(&store.lock().unwrap())
                .iter()
                .any(|q| q.sha256 == sha)
        })
        .await;
        assert!(
            found,
            "{what}: no quarantine entry ({ctx}):\n{}",
            engine.stderr()
        );
        let entry = quarantine(&store.lock().unwrap())
            .into_iter()
            .find(|q| q.sha256 == sha)
            .unwrap();
        assert!(entry.raw == *body, "{what}: the raw body is kept ({ctx})");
        assert_eq!(entry.delivery_count, 1, "{what} ({ctx})");
        let inbox = store
            .lock()
            .unwrap()
            .inbox_get(entry.inbox_id.expect("quarantined from the inbox"))
            .unwrap()
            .unwrap();
        assert!(inbox.raw == *body, "{what} ({ctx})");
        assert_eq!(
            inbox.state,
            casebridge::store::InboxState::Quarantined,
            "{what} ({ctx})"
        );
        assert!(!entry.reason.trim().is_empty(), "{what} ({ctx})");
        if let Some(reason) = reason {
            assert_eq!(entry.reason, *reason, "{what} ({ctx})");
        }
        reasons.push(format!("{what}: {}", entry.reason));
        assert!(
            engine.is_running(),
            "{what} stopped the engine ({ctx}):\n{}",
            engine.stderr()
        );
    }
    eprintln!("t4 quarantine reasons:\n  {}", reasons.join("\n  "));

    // Over the limit: 413, and size, SHA-256 and the first 64 KiB kept.
    let big = note(
        Some("bad-oversized"),
        "INC0040001",
        serde_json::json!({"Comment": hostile("oversized", 300 * 1024)}),
    );
    let inbox_before = inbox_rows(&store.lock().unwrap()).len();
    assert_eq!(post(big.clone(), Some(WEBHOOK_TOKEN)).await, 413, "{ctx}");
    let sha = sha256_hex(&big);
    let entry = quarantine(&store.lock().unwrap())
        .into_iter()
        .find(|q| q.sha256 == sha)
        .expect("the oversized body is quarantined before the 413");
    assert_eq!(entry.size, big.len() as u64, "{ctx}");
    assert!(entry.raw == big[..64 * 1024], "the first 64 KiB ({ctx})");
    assert_eq!(entry.inbox_id, None, "{ctx}");
    assert_eq!(
        inbox_rows(&store.lock().unwrap()).len(),
        inbox_before,
        "{ctx}"
    );
    assert!(engine.is_running(), "{ctx}");

    // Without or with wrong credentials: 401, nothing stored.
    let quarantined_before = quarantine(&store.lock().unwrap()).len();
    let valid = hpe_message(
        Some("good-accept"),
        "ACCEPT PROBLEM",
        serde_json::json!({
            "RequesterID": "INC0040001", "ProviderID": "5000000001",
            "ProviderPriority": 2, "WorkflowStatus": "Assigned"
        }),
    );
    assert_eq!(
        post(valid.clone(), None).await,
        401,
        "no credentials ({ctx})"
    );
    assert_eq!(
        post(valid.clone(), Some("not-the-token")).await,
        401,
        "wrong credentials ({ctx})"
    );
    {
        let s = store.lock().unwrap();
        assert_eq!(
            inbox_rows(&s).len(),
            inbox_before,
            "401 stores nothing ({ctx})"
        );
        assert_eq!(
            quarantine(&s).len(),
            quarantined_before,
            "401 stores nothing ({ctx})"
        );
    }
    assert_eq!(quarantined_before, cases.len() + 1, "{ctx}");

    // The engine kept running, and a valid message is processed.
    assert!(engine.is_running(), "{ctx}");
    assert_eq!(post(valid, Some(WEBHOOK_TOKEN)).await, 200, "{ctx}");
    wait_until("the valid message applied", &ctx, long, || {
        let c = case(&store, open.id);
        c.state == 5 && c.provider_id.as_deref() == Some("5000000001")
    })
    .await;
    assert_eq!(
        case(&store, open.id).workflow_status.as_deref(),
        Some("Assigned"),
        "{ctx}"
    );
    assert_eq!(
        quarantine(&store.lock().unwrap()).len(),
        quarantined_before,
        "{ctx}"
    );
    assert!(engine.is_running(), "{ctx}");
    engine.kill9();
}

/// Through the simulator: an oversized message blocks push delivery and
/// health shows the alert; after a restart with a higher limit it and the
/// messages behind it are processed in order. In-process, because the
/// binary exposes no health: `Engine::gsem_health()`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t4_oversized_push_blocks_until_restart_with_a_higher_limit() {
    use casebridge::sim::gsem::PushOutcome;
    let seed = seed("t4_oversized");
    let mut options = Options::new(Mode::Push);
    options.answer_delay = Some(Duration::from_millis(50));
    options.body_limit = "64KiB";
    let rig = Rig::start(options, seed).await;
    let ctx = rig.ctx();
    let long = Duration::from_secs(30);
    let engine = Engine::start(&rig.settings(), StoreKind::Real)
        .await
        .unwrap();
    let (opened, _) = engine
        .actions()
        .open_case(
            open_case(
                "INC0040101",
                "oversized",
                "a big update is coming",
                "SN0001",
                "CN0001",
            ),
            Utc::now(),
        )
        .await
        .unwrap();
    let store = engine.store().clone();
    wait_until("the case accepted", &ctx, long, || {
        case(&store, opened.id).state == 5
    })
    .await;
    let pid = case(&store, opened.id).provider_id.unwrap();

    let big = hostile("oversized update", 100 * 1024);
    let big_id = rig.gsem.hpe_note(&pid, &big).unwrap();
    let behind = ["behind the big one 1", "behind the big one 2"];
    for text in behind {
        rig.gsem.hpe_note(&pid, text).unwrap();
    }
    let refused_413 = || {
        rig.gsem
            .push_attempts()
            .iter()
            .filter(|a| a.message_id.as_deref() == Some(big_id.as_str()))
            .filter(|a| a.outcome == PushOutcome::Status(413))
            .count()
    };
    wait_until("three 413s to the oversized message", &ctx, long, || {
        refused_413() >= 3
    })
    .await;
    let alert = engine
        .gsem_health()
        .borrow()
        .inbound
        .oversized_alert
        .clone();
    let alert = alert.expect("health shows the oversized alert");
    assert!(
        alert.starts_with("inbound queue blocked by an oversized message since "),
        "{alert} ({ctx})"
    );
    let entries = quarantine(&store.lock().unwrap());
    let refusals = refused_413();
    // Each redelivery carries its own `DeliveryCount`, so its bytes (and
    // SHA-256) differ; the MessageId in the kept head makes them one entry.
    assert_eq!(entries.len(), 1, "one entry for the message ({ctx})");
    // One more at most: committed before its 413, which the simulator
    // records once answered.
    assert!(
        (3..=refusals + 1).contains(&usize::try_from(entries[0].delivery_count).unwrap()),
        "{} deliveries counted after {refusals} refusals ({ctx})",
        entries[0].delivery_count
    );
    for entry in &entries {
        assert!(entry.size > 64 * 1024, "{ctx}");
        assert_eq!(entry.raw.len(), 64 * 1024, "{ctx}");
        assert!(
            String::from_utf8_lossy(&entry.raw).contains(&big_id),
            "the kept head names the message ({ctx})"
        );
        assert!(
            entry.reason.contains("raise inbound_body_limit"),
            "{} ({ctx})",
            entry.reason
        );
    }
    // The queue is blocked: nothing behind the big one arrived.
    assert_eq!(hpe_journal(&store, opened.id).len(), 0, "{ctx}");
    assert_eq!(rig.gsem.queue_len(), 3, "{ctx}");

    // Raise the limit and restart.
    drop(store);
    engine.stop().await;
    rig.write_config("8MiB");
    // `Engine::stop` waits for every push connection, so the store is free
    // for an in-process restart at once (`engine_stop_releases_the_store_at_once`).
    let engine = Engine::start(&rig.settings(), StoreKind::Real)
        .await
        .unwrap_or_else(|e| panic!("{e} ({ctx})"));
    let store = engine.store().clone();
    wait_until("the blocked messages processed", &ctx, long, || {
        hpe_journal(&store, opened.id).len() == 3
    })
    .await;
    let texts: Vec<String> = hpe_journal(&store, opened.id)
        .into_iter()
        .map(|j| j.entry.text)
        .collect();
    assert!(
        texts[0] == big,
        "the oversized message, byte for byte ({ctx})"
    );
    assert_eq!(texts[1..], behind, "{ctx}");
    assert_eq!(rig.gsem.queue_len(), 0, "{ctx}");
    assert_eq!(
        engine.gsem_health().borrow().inbound.oversized_alert,
        None,
        "{ctx}"
    );
    drop(store);
    engine.stop().await;
}

/// Found by the certification: every push connection runs in a task of its
/// own that holds the store; one still in its TLS handshake used to keep the
/// store (and the one-engine lock) for up to 10 s after `stop` returned, so
/// an in-process restart (the console reloading its config) was refused
/// with "locked". `stop` now waits for every connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_stop_releases_the_store_at_once() {
    let seed = seed("engine_stop_releases_the_store");
    let mut options = Options::new(Mode::Push);
    options.sim_pushes = false;
    let rig = Rig::start(options, seed).await;
    let engine = Engine::start(&rig.settings(), StoreKind::Real)
        .await
        .unwrap();
    // A caller that connects and has not finished its handshake.
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", rig.push_port))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    engine.stop().await;
    let again = Engine::start(&rig.settings(), StoreKind::Real).await;
    assert!(again.is_ok(), "restart after stop: {:?}", again.err());
    again.unwrap().stop().await;
}
