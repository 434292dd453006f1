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
