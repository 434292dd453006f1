#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The console's in-process engine end against a real engine on loopback:
//! the GSEM simulator over mutual TLS, the ServiceNow simulator, a store on
//! disk and a config file, driven only through the console link.

use std::time::Duration;

use casebridge::config;
use casebridge::console::{
    CaseDetail, CaseId, CaseSummary, ConsoleLink, EntryStatus, Event, History, OpenCase, Origin,
    ParkedMessage, Priority, QuarantineEntry, Request, Snapshot,
};
use casebridge::engine::{Engine, StoreKind};
use casebridge::sim::gsem::{Fault, GsemSim};
use casebridge::sim::servicenow::{NewIncident, ServiceNowSim};
use casebridge::sis::{Envelope, State};

#[path = "support/console.rs"]
mod console;
#[path = "support/lab.rs"]
mod lab;
use console::Console;
use lab::{Lab, LabOptions};

const AGENT_KEY: &str = "console-local-agent-key";
const WAIT: Duration = Duration::from_secs(20);

struct Rig {
    _dir: tempfile::TempDir,
    gsem: GsemSim,
    _sn: ServiceNowSim,
    incident: String,
    engine: Engine,
    console: Console,
}

impl Rig {
    async fn start() -> Rig {
        let lab = Lab::start(LabOptions::new(
            "Console Lab",
            "casebridge.console",
            AGENT_KEY,
        ))
        .await;
        let mut new = NewIncident::new("Slingshot fabric manager down");
        new.description = "fmn reports 3 links down".into();
        let incident = lab.create_incident(&new);
        let Lab {
            dir,
            gsem,
            sn,
            config_path,
            ..
        } = lab;
        let settings = config::load(&config_path).unwrap();
        let engine = Engine::start(&settings, StoreKind::Real).await.unwrap();
        let (link, engine_link) = ConsoleLink::pair();
        casebridge::console::local::spawn(
            casebridge::console::local::EngineEnd::of(&engine),
            &settings,
            "ada",
            engine_link,
        )
        .unwrap();
        Rig {
            _dir: dir,
            gsem,
            _sn: sn,
            incident,
            engine,
            console: Console::new(link, WAIT),
        }
    }

    /// Opens a case on the test incident once the sync has read it; returns
    /// its id.
    async fn open_case(&mut self) -> CaseId {
        let number = self.incident.clone();
        loop {
            self.console.send(Request::LoadIncidents);
            let found = self
                .console
                .wait("the incident list", |e| match e {
                    Event::Incidents(list) => Some(list.iter().any(|i| i.number == number)),
                    _ => None,
                })
                .await;
            if found {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let id = self.console.send(Request::OpenCase(OpenCase {
            incident: number,
            system: "compute".into(),
            priority: Priority::CriticalDegraded,
            title: "Slingshot fabric manager down".into(),
            description: "fmn reports 3 links down".into(),
        }));
        self.console.accepted(id).await.expect("the case id")
    }

    /// Waits for GSEM's acknowledgement of the SERVICE REQUEST, then has HPE
    /// accept the case; returns the summary with HPE's case number.
    async fn accepted_case(&mut self) -> CaseSummary {
        // GSEM is out of reach until the case has been seen queued.
        self.gsem.set_fault(Fault::RefuseConnections);
        let case = self.open_case().await;
        let queued = self
            .console
            .changed(case, "the queued case", |_| true)
            .await;
        self.gsem.set_fault(Fault::None);
        assert_eq!((queued.state, queued.pending_state), (0, 3));
        assert!(queued.flags.pending);
        assert_eq!(queued.provider_id, None);
        assert_eq!(queued.priority, Priority::CriticalDegraded);
        assert_eq!(queued.system, "compute");
        let acked = self
            .console
            .changed(case, "the acknowledged case", |c| !c.flags.pending)
            .await;
        assert_eq!((acked.state, acked.pending_state), (3, 3));
        self.gsem.hpe_accept(&self.incident).unwrap();
        let accepted = self
            .console
            .changed(case, "HPE's acceptance", |c| c.provider_id.is_some())
            .await;
        assert_eq!(accepted.provider_id.as_deref(), Some("5381923377"));
        assert_eq!((accepted.state, accepted.pending_state), (5, 5));
        assert_eq!(accepted.workflow_status.as_deref(), Some("Assigned"));
        accepted
    }

    /// A comment GSEM refuses and the outbox parks: queued while GSEM is
    /// out of reach, it finds HPE's side moved to a proposed resolution
    /// (state 6), where GSEM takes no PROVIDE PROBLEM INFORMATION. Returns
    /// the case and the parked message.
    async fn parked_comment(&mut self) -> (CaseSummary, ParkedMessage) {
        let case = self.accepted_case().await;
        let provider = case.provider_id.clone().unwrap();
        self.gsem.set_fault(Fault::RefuseConnections);
        let comment = self.console.send(Request::Comment {
            case: case.id,
            text: "still flapping on x1000c3".into(),
        });
        assert_eq!(self.console.accepted(comment).await, Some(case.id));
        self.gsem
            .hpe_resolve(&provider, "firmware 1.2 fixes it")
            .unwrap();
        self.gsem.set_fault(Fault::None);
        let parked = self.console.parked("the parked comment", |_| true).await;
        assert_eq!(parked.len(), 1);
        let message = parked[0].clone();
        assert_eq!(message.transaction, "PROVIDE PROBLEM INFORMATION");
        assert_eq!(message.incident, self.incident);
        assert!(
            message.detail.contains("not valid in state 6"),
            "{message:?}"
        );
        assert!(
            message.body.contains("still flapping on x1000c3"),
            "{message:?}"
        );
        (case, message)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_from_snapshot_to_closed_through_the_console() {
    let mut rig = Rig::start().await;
    let snapshot: Snapshot = rig
        .console
        .wait("snapshot", |e| match e {
            Event::Snapshot(s) => Some((**s).clone()),
            _ => None,
        })
        .await;
    assert!(
        matches!(rig.console.seen.first(), Some(Event::Snapshot(_))),
        "the snapshot comes first"
    );
    assert_eq!(snapshot.cases, vec![]);
    assert_eq!(snapshot.parked, vec![]);
    assert_eq!(snapshot.quarantine, vec![]);
    assert_eq!(snapshot.systems.len(), 1);
    assert_eq!(snapshot.systems[0].name, "compute");
    assert_eq!(snapshot.systems[0].serial, "SN0001");
    assert_eq!(snapshot.systems[0].cis, vec!["ci-0001".to_string()]);
    assert_eq!(snapshot.health.outbox_depth, 0);
    assert!(!snapshot.health.demo);

    let lookup = rig.console.send(Request::LookupIncident {
        number: "INC9999999".into(),
    });
    assert_eq!(
        rig.console.refused(lookup).await,
        "incident INC9999999 is not among the incidents casebridge has read from ServiceNow: \
         check the number, or wait for the next poll (it reads those matching \
         servicenow.incident_query)"
    );

    let case = rig.accepted_case().await;
    let sent = rig.gsem.received();
    let request = sent
        .iter()
        .find(|r| r.transaction.as_deref() == Some("SERVICE REQUEST"))
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let incident = &body["Message"]["SERVICE_INCIDENT"];
    assert_eq!(incident["RequesterSeverity"], "MAJOR");
    assert_eq!(incident["RequesterID"], rig.incident.as_str());
    let person = &incident["SERVICE_REQUESTER"]["PERSON"];
    assert_eq!(person["FirstName"], "Ada");
    assert_eq!(person["LastName"], "Lovelace");

    // Looking the incident up now counts its open case.
    let lookup = rig.console.send(Request::LookupIncident {
        number: rig.incident.to_lowercase(),
    });
    let found = rig
        .console
        .wait("the incident", |e| match e {
            Event::IncidentFound(i) => Some(i.clone()),
            Event::RequestFailed { request, reason } if *request == lookup => {
                panic!("{reason}")
            }
            _ => None,
        })
        .await;
    assert_eq!(found.number, rig.incident);
    assert_eq!(found.short_description, "Slingshot fabric manager down");
    assert_eq!(found.open_cases, 1);

    rig.console.send(Request::LoadCase {
        case: case.id,
        history: History::All,
    });
    let detail = rig.console.detail("the case", |_| true).await;
    assert_eq!(detail.summary.id, case.id);
    assert_eq!(detail.summary.provider_id, case.provider_id);
    assert_eq!(detail.title, "Slingshot fabric manager down");
    assert_eq!(detail.description, "fmn reports 3 links down");
    let opened = detail
        .timeline
        .iter()
        .find(|e| e.origin == Origin::Local)
        .unwrap();
    assert_eq!(
        (opened.author.as_str(), opened.kind.as_str()),
        ("ada", "OPENED")
    );
    assert_eq!(opened.text, "fmn reports 3 links down");
    assert_eq!(opened.status, EntryStatus::Sent);
    assert!(
        opened.raw.as_deref().unwrap().contains("SERVICE REQUEST"),
        "{opened:?}"
    );

    // A comment is pending while GSEM cannot be reached, then sent.
    rig.gsem.set_fault(Fault::RefuseConnections);
    let comment = rig.console.send(Request::Comment {
        case: case.id,
        text: "logs attached\nsee x1000c3s2b0".into(),
    });
    assert_eq!(rig.console.accepted(comment).await, Some(case.id));
    let is_note =
        |e: &&casebridge::console::TimelineEntry| e.kind == "NOTE" && e.origin == Origin::Local;
    let pending = rig
        .console
        .detail("the pending comment", |d| {
            d.timeline.iter().any(|e| is_note(&e))
        })
        .await;
    let note = pending.timeline.iter().find(is_note).unwrap();
    assert_eq!(
        (note.origin, note.author.as_str(), note.kind.as_str()),
        (Origin::Local, "ada", "NOTE")
    );
    assert_eq!(note.text, "logs attached\nsee x1000c3s2b0");
    assert_eq!(note.status, EntryStatus::Pending);
    assert!(pending.summary.flags.pending);
    rig.gsem.set_fault(Fault::None);
    let sent = rig
        .console
        .detail("the sent comment", |d| {
            d.timeline
                .iter()
                .any(|e| is_note(&e) && e.status == EntryStatus::Sent)
        })
        .await;
    assert!(!sent.summary.flags.pending);
    assert_eq!(
        rig.gsem
            .received_comments_for(case.provider_id.as_deref().unwrap()),
        vec!["logs attached\nsee x1000c3s2b0".to_string()]
    );

    // HPE's note reaches the case on screen.
    rig.gsem
        .hpe_note(
            case.provider_id.as_deref().unwrap(),
            "Please run fmn status",
        )
        .unwrap();
    let from_hpe = |e: &&casebridge::console::TimelineEntry| e.text == "Please run fmn status";
    let noted = rig
        .console
        .detail("HPE's note", |d| d.timeline.iter().any(|e| from_hpe(&e)))
        .await;
    let hpe = noted.timeline.iter().find(from_hpe).unwrap();
    assert_eq!(hpe.origin, Origin::Hpe);
    assert_eq!(hpe.author, "HPE");
    assert_eq!(hpe.text, "Please run fmn status");
    assert_eq!(hpe.status, EntryStatus::Received);
    assert!(
        hpe.raw
            .as_deref()
            .unwrap()
            .contains("Please run fmn status")
    );

    // Closing needs notes: the engine's words come back as they are.
    let close = rig.console.send(Request::Close {
        case: case.id,
        notes: "  ".into(),
    });
    assert_eq!(
        rig.console.refused(close).await,
        "REQUEST CLOSURE needs closure notes before it can be sent"
    );

    // HPE closes its side; nothing more can be sent.
    rig.gsem
        .hpe_close(case.provider_id.as_deref().unwrap(), "closed by HPE")
        .unwrap();
    let closed = rig
        .console
        .changed(case.id, "the closed case", |c| c.state == 7)
        .await;
    assert!(closed.finished());
    let close = rig.console.send(Request::Close {
        case: case.id,
        notes: "fixed by a reboot".into(),
    });
    assert_eq!(
        rig.console.refused(close).await,
        format!(
            "REQUEST CLOSURE is not valid in state {}: the case is finished",
            State::Closed
        )
    );
    rig.console.send(Request::UnloadCase);
    rig.engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_timeline_comes_a_page_at_a_time_and_grows_with_new_entries() {
    let mut rig = Rig::start().await;
    let case = rig.accepted_case().await.id;
    // The comments stay pending: only the timeline matters here.
    rig.gsem.set_fault(Fault::RefuseConnections);
    let comment = async |rig: &mut Rig, text: &str| {
        let id = rig.console.send(Request::Comment {
            case,
            text: text.into(),
        });
        assert_eq!(rig.console.accepted(id).await, Some(case));
    };
    for i in 0..5 {
        comment(&mut rig, &format!("note {i}")).await;
    }
    let ids = |d: &CaseDetail| d.timeline.iter().map(|e| e.id).collect::<Vec<_>>();
    let has = |d: &CaseDetail, text: &str| d.timeline.iter().any(|e| e.text == text);

    rig.console.send(Request::LoadCase {
        case,
        history: History::All,
    });
    let all = rig
        .console
        .detail("the whole timeline", |d| has(d, "note 4"))
        .await;
    assert_eq!(all.older_entries, 0);
    let total = all.timeline.len();
    assert!(total > 5, "{:?}", ids(&all));

    rig.console.send(Request::LoadCase {
        case,
        history: History::Newest(3),
    });
    let page = rig
        .console
        .detail("the newest page", |d| d.older_entries > 0)
        .await;
    assert_eq!(ids(&page), ids(&all)[total - 3..]);
    assert_eq!(page.older_entries, u32::try_from(total - 3).unwrap());

    // An entry that arrives joins the page; none drops out of it.
    comment(&mut rig, "note 5").await;
    let grown = rig
        .console
        .detail("the page with the new entry", |d| has(d, "note 5"))
        .await;
    assert_eq!(grown.timeline.len(), 4);
    assert_eq!(grown.older_entries, page.older_entries);
    assert_eq!(ids(&grown)[..3], ids(&page)[..]);

    // A page more than the case has brings all of it.
    rig.console.send(Request::LoadCase {
        case,
        history: History::Newest(4 + History::PAGE),
    });
    let whole = rig
        .console
        .detail("the rest of the timeline", |d| d.older_entries == 0)
        .await;
    assert_eq!(ids(&whole)[..total], ids(&all)[..]);
    assert_eq!(ids(&whole)[total..], ids(&grown)[3..]);
    rig.console.send(Request::UnloadCase);
    rig.engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_service_request_is_listed_and_dropping_it_cancels_the_case() {
    let mut rig = Rig::start().await;
    let first = rig.accepted_case().await;
    // HPE's side keeps the first case open, but a close reaches us (as if
    // GSEM had mixed up two cases): here it is finished, so a new case
    // takes the incident number as its RequesterID, which HPE still holds.
    let raw = include_str!("../assets/samples/20-closed-by-hpe.json")
        .replace("INC0098300", &rig.incident)
        .replace("5381930002", first.provider_id.as_deref().unwrap());
    rig.gsem
        .enqueue_message(Envelope::from_json(raw.as_bytes()).unwrap().message);
    rig.console
        .changed(first.id, "the first case closed", |c| c.state == 7)
        .await;

    let second = rig.open_case().await;
    // One look at the store sends the case's change, then the list.
    let failed = rig
        .console
        .changed(second, "the failed case", |c| c.flags.failed)
        .await;
    assert_eq!((failed.state, failed.pending_state), (0, 3));
    let parked = rig
        .console
        .wait("the parked list", |e| match e {
            Event::Parked(list) if !list.is_empty() => Some(list.clone()),
            _ => None,
        })
        .await;
    assert_eq!(parked.len(), 1);
    let message = &parked[0];
    assert_eq!(message.transaction, "SERVICE REQUEST");
    assert_eq!(message.incident, rig.incident);
    assert!(
        message.detail.contains("duplicate RequesterID"),
        "{message:?}"
    );

    let drop = rig.console.send(Request::DropOutbox { seq: message.seq });
    assert_eq!(rig.console.accepted(drop).await, Some(second));
    let cancelled = rig
        .console
        .changed(second, "the cancelled case", |c| !c.flags.failed)
        .await;
    assert_eq!((cancelled.state, cancelled.pending_state), (7, 7));
    assert!(!cancelled.flags.pending);
    rig.console
        .wait("the empty parked list", |e| match e {
            Event::Parked(list) => list.is_empty().then_some(()),
            _ => None,
        })
        .await;

    // Dropping it again is refused with the store's reason.
    let again = rig.console.send(Request::DropOutbox { seq: message.seq });
    assert_eq!(
        rig.console.refused(again).await,
        format!(
            "outbox message {} is dropped; it cannot be dropped",
            message.seq
        )
    );
    rig.engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_message_is_retried_and_edited_then_retried_through_the_console() {
    let mut rig = Rig::start().await;
    let (case, message) = rig.parked_comment().await;
    let provider = case.provider_id.clone().unwrap();
    // Every PROVIDE PROBLEM INFORMATION GSEM got for the case, refused ones
    // included.
    let sent = |rig: &Rig| {
        rig.gsem
            .received()
            .iter()
            .filter(|r| r.transaction.as_deref() == Some("PROVIDE PROBLEM INFORMATION"))
            .map(|r| serde_json::from_slice::<serde_json::Value>(&r.body).unwrap())
            .filter(|b| b["Message"]["SERVICE_INCIDENT"]["ProviderID"] == provider.as_str())
            .map(|b| {
                b["Message"]["SERVICE_INCIDENT"]["Comment"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sent(&rig), vec!["still flapping on x1000c3".to_string()]);

    // Retry: sent again as it is, refused again, parked again.
    let retry = rig.console.send(Request::RetryOutbox { seq: message.seq });
    assert_eq!(rig.console.accepted(retry).await, Some(case.id));
    let again = rig
        .console
        .parked("the comment parked after the retry", |l| {
            l[0].attempts > message.attempts
        })
        .await;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].seq, message.seq);
    assert_eq!(again[0].body, message.body);
    assert_eq!(sent(&rig), vec!["still flapping on x1000c3".to_string(); 2]);

    // Edit and retry: GSEM gets the edited body.
    let edited = message.body.replace(
        "still flapping on x1000c3",
        "still flapping on x1000c3 (edited)",
    );
    assert_ne!(edited, message.body);
    let edit = rig.console.send(Request::EditAndRetry {
        seq: message.seq,
        body: edited.clone(),
    });
    assert_eq!(rig.console.accepted(edit).await, Some(case.id));
    let parked = rig
        .console
        .parked("the edited comment parked again", |l| {
            l[0].body == edited && l[0].attempts > again[0].attempts
        })
        .await;
    assert_eq!(parked.len(), 1);
    assert_eq!(
        sent(&rig).last().map(String::as_str),
        Some("still flapping on x1000c3 (edited)")
    );

    // An edit that is no longer the parked SIS message is refused, and the
    // message stays parked as it was.
    for (body, reason) in [
        (
            edited.replacen('{', "", 1),
            "it is not JSON (trailing characters at line 1 column 10)",
        ),
        (
            edited.replace("PROVIDE PROBLEM INFORMATION", "REQUEST CLOSURE"),
            "its TransactionName is \"REQUEST CLOSURE\", the parked message's is \"PROVIDE PROBLEM INFORMATION\"",
        ),
    ] {
        let edit = rig.console.send(Request::EditAndRetry {
            seq: message.seq,
            body,
        });
        assert_eq!(
            rig.console.refused(edit).await,
            format!(
                "the edited message cannot be sent: {reason}. Fix it in the editor (your text is kept), or retry the message unedited"
            )
        );
    }

    // Refusals: a message that does not exist, and one no longer parked.
    let missing = "no outbox message 4242 in the store";
    let retry = rig.console.send(Request::RetryOutbox { seq: 4242 });
    assert_eq!(rig.console.refused(retry).await, missing);
    let edit = rig.console.send(Request::EditAndRetry {
        seq: 4242,
        body: "{}".into(),
    });
    assert_eq!(rig.console.refused(edit).await, missing);
    let drop = rig.console.send(Request::DropOutbox { seq: 4242 });
    assert_eq!(rig.console.refused(drop).await, missing);
    let drop = rig.console.send(Request::DropOutbox { seq: message.seq });
    assert_eq!(rig.console.accepted(drop).await, Some(case.id));
    rig.console
        .wait("the empty parked list", |e| match e {
            Event::Parked(list) => list.is_empty().then_some(()),
            _ => None,
        })
        .await;
    let dropped = format!(
        "outbox message {} is dropped; it cannot be retried",
        message.seq
    );
    let retry = rig.console.send(Request::RetryOutbox { seq: message.seq });
    assert_eq!(rig.console.refused(retry).await, dropped);
    let edit = rig.console.send(Request::EditAndRetry {
        seq: message.seq,
        body: edited,
    });
    assert_eq!(rig.console.refused(edit).await, dropped);
    rig.engine.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantined_messages_are_replayed_and_discarded_through_the_console() {
    let mut rig = Rig::start().await;
    // HPE's note for the case before there is one: no case to apply it to.
    let note = include_str!("../assets/samples/03-note-from-hpe.json")
        .replace("INC0097539", &rig.incident);
    rig.gsem
        .enqueue_message(Envelope::from_json(note.as_bytes()).unwrap().message);
    let listed = rig
        .console
        .quarantine("the quarantined note", |l| !l.is_empty())
        .await;
    assert_eq!(listed.len(), 1);
    let early = listed[0].clone();
    assert_eq!(
        early.transaction.as_deref(),
        Some("PROVIDE PROBLEM INFORMATION")
    );
    assert!(early.reason.contains("unknown case"), "{early:?}");
    assert!(early.body.contains("sudo fmn status"), "{early:?}");

    // Replayed once the case exists (same RequesterID and HPE number), it
    // applies, and leaves the list.
    let case = rig.accepted_case().await;
    let replay = rig.console.send(Request::ReplayQuarantine { id: early.id });
    assert_eq!(rig.console.accepted(replay).await, None);
    rig.console
        .quarantine("the replayed note gone", |l| {
            l.iter().all(|q| q.id != early.id)
        })
        .await;
    rig.console.send(Request::LoadCase {
        case: case.id,
        history: History::All,
    });
    let detail = rig
        .console
        .detail("the note on the case", |d| {
            d.timeline
                .iter()
                .any(|e| e.origin == Origin::Hpe && e.text.contains("sudo fmn status"))
        })
        .await;
    assert_eq!(detail.summary.id, case.id);
    let replayed = format!(
        "quarantine entry {} is replayed: only open entries can be replayed or discarded",
        early.id
    );
    let again = rig.console.send(Request::ReplayQuarantine { id: early.id });
    assert_eq!(rig.console.refused(again).await, replayed);
    let discard = rig
        .console
        .send(Request::DiscardQuarantine { id: early.id });
    assert_eq!(rig.console.refused(discard).await, replayed);

    // A note for an incident casebridge never had: discarded.
    let stray = include_str!("../assets/samples/03-note-from-hpe.json")
        .replace("INC0097539", "INC0099999")
        .replace("5381923377", "5381999999");
    rig.gsem
        .enqueue_message(Envelope::from_json(stray.as_bytes()).unwrap().message);
    let listed = rig
        .console
        .quarantine("the stray note", |l| !l.is_empty())
        .await;
    assert_eq!(listed.len(), 1);
    let stray = listed[0].clone();
    assert_ne!(stray.id, early.id);
    let discard = rig
        .console
        .send(Request::DiscardQuarantine { id: stray.id });
    assert_eq!(rig.console.accepted(discard).await, None);
    rig.console
        .quarantine("the empty quarantine", <[QuarantineEntry]>::is_empty)
        .await;
    let discarded = format!(
        "quarantine entry {} is discarded: only open entries can be replayed or discarded",
        stray.id
    );
    let again = rig
        .console
        .send(Request::DiscardQuarantine { id: stray.id });
    assert_eq!(rig.console.refused(again).await, discarded);
    let replay = rig.console.send(Request::ReplayQuarantine { id: stray.id });
    assert_eq!(rig.console.refused(replay).await, discarded);

    // Entries that never existed.
    let replay = rig.console.send(Request::ReplayQuarantine { id: 4242 });
    assert_eq!(
        rig.console.refused(replay).await,
        "no quarantine entry 4242"
    );
    let discard = rig.console.send(Request::DiscardQuarantine { id: 4242 });
    assert_eq!(
        rig.console.refused(discard).await,
        "no quarantine entry 4242"
    );
    rig.engine.stop().await;
}
