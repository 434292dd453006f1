//! The demo's cases, made the way real ones are: each is opened through the
//! console's engine end, as the open-case dialog does (a SERVICE REQUEST
//! queued, sent by the drainer over mutual TLS), HPE's side is scripted at the GSEM simulator (acceptance,
//! notes, an information request, onsite tasks and part orders in both
//! forms, resolutions, HPE's close, an entitlement refusal), and our replies
//! (CONFIRM CLOSE, REJECT RESOLUTION, a note that crosses HPE's resolution
//! and is parked) go through the console's engine end again. The
//! engine pulls, parses and applies everything itself.
//!
//! The script runs in rounds; after each, it waits until the simulator's
//! queue is drained, the inbox processed and the outbox empty, so every
//! round sees the states the previous one produced. HPE's automatic answer
//! comes [`super::ANSWER_DELAY`] after a SERVICE REQUEST: the scripted first
//! answers are given well before it, so the seeded cases keep their story,
//! and the last case is left to the live provider loop.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use tokio::task::JoinHandle;

use crate::config::Settings;
use crate::console::local::{self, LocalError};
use crate::console::{CaseId, ConsoleLink, Event, OpenCase, Priority, Request, RequestId};
use crate::engine::Engine;
use crate::gsem::shared::with_store;
use crate::sim::gsem::{GsemSim, GsemSimError, HpeAction, OnsiteTask, PartOrder, UpdateForm};
use crate::sim::servicenow::{ServiceNowSim, SimError};
use crate::store::StoreError;
use crate::store::prelude::*;

use super::config::{OPERATOR, SYSTEMS};

/// How long one round may take before seeding gives up.
const ROUND_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the ServiceNow simulator's demo seed has no incident about {0:?} (a casebridge bug)")]
    NoIncident(&'static str),
    #[error("the demo's console: {0}")]
    Console(#[from] LocalError),
    #[error("the console's engine end stopped or did not answer within {ROUND_TIMEOUT:?}")]
    ConsoleGone,
    #[error("the engine refused the demo's request on {incident}: {reason}")]
    Refused { incident: String, reason: String },
    #[error("case {0} disappeared from the demo store")]
    Vanished(CaseId),
    #[error("scripting HPE: {0}")]
    Gsem(#[from] GsemSimError),
    #[error("reading the ServiceNow simulator: {0}")]
    ServiceNow(#[from] SimError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the engine did not process round {round} of the demo script within {ROUND_TIMEOUT:?}; its log in the demo directory says why"
    )]
    Stalled { round: usize },
}

/// One thing that happens to a case in a round.
#[derive(Debug, Clone)]
enum Step {
    /// HPE sends this.
    Hpe(Box<HpeAction>),
    /// We close the case (CONFIRM CLOSE after a resolution).
    Close(&'static str),
    /// We reject HPE's proposed resolution.
    Reject(&'static str),
    /// We comment to HPE. Sent in the same round as HPE's resolution, the
    /// note crosses it: GSEM refuses it in state 6 and it is parked, as
    /// happens when an operator writes while HPE resolves.
    Note(&'static str),
}

/// A seeded case: the incident it is opened from (by the start of its
/// short description), the system, the priority and its rounds.
struct Script {
    incident: &'static str,
    system: usize,
    priority: Priority,
    rounds: Vec<Vec<Step>>,
}

fn task(id: &str, status: &str) -> OnsiteTask {
    OnsiteTask {
        task_id: id.to_owned(),
        status: status.to_owned(),
        ..OnsiteTask::default()
    }
}

fn part(id: &str, number: &str, description: &str, quantity: u32, status: &str) -> PartOrder {
    PartOrder {
        order_id: id.to_owned(),
        part_number: Some(number.to_owned()),
        part_description: Some(description.to_owned()),
        quantity: Some(quantity),
        status: status.to_owned(),
        ..PartOrder::default()
    }
}

fn day(now: DateTime<Utc>, days: i64) -> String {
    (now + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

fn at(now: DateTime<Utc>, hours: i64) -> String {
    (now + chrono::Duration::hours(hours))
        .format("%Y-%m-%d %H:00")
        .to_string()
}

fn hpe(action: HpeAction) -> Step {
    Step::Hpe(Box::new(action))
}

fn note(text: &str) -> Step {
    hpe(HpeAction::Note(text.to_owned()))
}

/// The scripted cases: 1 (not entitled), 2 (entitled), 4 (HPE waits on
/// us), 5 (with HPE, with tasks and parts), 6 (resolution proposed, with a
/// parked note), 7 (closed by us, and by HPE). The [`LIVE`] ones pass
/// through 0 and 3 on their own.
fn scripts(now: DateTime<Utc>) -> Vec<Script> {
    use HpeAction::{Accept, Entitlement, RequestInfo, Resolve};
    use UpdateForm::{Structured, Text};
    let compute = 0;
    let fabric = 1;
    let storage = 2;
    vec![
        Script {
            incident: "nid004521 fails to boot",
            system: compute,
            priority: Priority::CriticalDegraded,
            rounds: vec![
                vec![
                    hpe(Accept),
                    note(
                        "Case assigned to the HPE Cray EX hardware team. The Processor 1 IERR after the warm swap points at the node card; we will replace it.",
                    ),
                ],
                vec![
                    hpe(HpeAction::PartOrder(
                        PartOrder {
                            carrier: Some("FedEx".into()),
                            tracking_number: Some("774938210456".into()),
                            eta: Some(day(now, 1)),
                            return_required: Some(true),
                            ..part(
                                "PO-7734120",
                                "P53201-001",
                                "EX425 node card, 2x AMD EPYC 7763",
                                1,
                                "SHIPPED",
                            )
                        },
                        Structured,
                    )),
                    hpe(HpeAction::OnsiteTask(
                        OnsiteTask {
                            scheduled_start: Some(at(now, 20)),
                            description: Some("Replace the node card of x1104c3s2b0".into()),
                            ..task("WO-3318842", "SCHEDULED")
                        },
                        Structured,
                    )),
                ],
            ],
        },
        Script {
            incident: "HSN link errors on x1203c5r3j14",
            system: fabric,
            priority: Priority::CriticalDegraded,
            rounds: vec![
                vec![hpe(Accept)],
                vec![hpe(RequestInfo(
                    "Please run `slingshot-diag --port x1203c5r3j14p1 --ber` and attach the output, and tell us whether the cable was reseated at both ends.".into(),
                ))],
            ],
        },
        Script {
            incident: "Slingshot switch x1004c1r7b0 unreachable",
            system: fabric,
            priority: Priority::CriticalDown,
            rounds: vec![
                vec![
                    hpe(Accept),
                    hpe(HpeAction::OnsiteTask(
                        OnsiteTask {
                            engineer_eta: Some(at(now, 3)),
                            note: Some(
                                "A field engineer is on the way with a replacement switch blade."
                                    .into(),
                            ),
                            ..task("WO-3319007", "DISPATCHED")
                        },
                        Text,
                    )),
                ],
                vec![
                    hpe(HpeAction::OnsiteTask(
                        task("WO-3319007", "ENGINEER ON SITE"),
                        Text,
                    )),
                    hpe(HpeAction::PartOrder(
                        PartOrder {
                            eta: Some(day(now, 3)),
                            note: Some("The spare switch blade is backordered at the Fremont depot.".into()),
                            ..part("PO-7734388", "R8H45A", "Slingshot 200Gb switch blade", 1, "BACKORDERED")
                        },
                        Text,
                    )),
                ],
                vec![hpe(Resolve(
                    "Switch blade x1004c1r7b0 reseated and its firmware reflashed; the switch is back in the fabric.".into(),
                ))],
                vec![Step::Reject(
                    "The switch dropped out of the fabric again 20 minutes after the reflash and the 64 nodes lost HSN again. Please go ahead with the blade replacement.",
                )],
            ],
        },
        Script {
            incident: "CDU 3 coolant flow alarm",
            system: compute,
            priority: Priority::CriticalDegraded,
            rounds: vec![
                vec![
                    hpe(Accept),
                    hpe(HpeAction::OnsiteTask(
                        OnsiteTask {
                            engineer_eta: Some(at(now, -20)),
                            description: Some("Inspect CDU 3 flow sensors".into()),
                            ..task("WO-3317710", "DISPATCHED")
                        },
                        Structured,
                    )),
                ],
                vec![
                    hpe(HpeAction::PartOrder(
                        PartOrder {
                            return_required: Some(true),
                            return_status: Some("PENDING".into()),
                            ..part("PO-7733902", "P61023-001", "CDU flow sensor assembly", 1, "DELIVERED")
                        },
                        Structured,
                    )),
                    hpe(HpeAction::OnsiteTask(task("WO-3317710", "WORK COMPLETE"), Structured)),
                ],
                vec![
                    hpe(Resolve(
                        "Flow sensor FS-3B replaced; coolant flow is back to 410 l/min and the throttling of x1200-x1203 has cleared.".into(),
                    )),
                    Step::Note(
                        "Loop B still reads 380 l/min on our side; can you check it before closing?",
                    ),
                ],
            ],
        },
        Script {
            incident: "Lustre OSS perlmutter-oss017",
            system: storage,
            priority: Priority::Normal,
            rounds: vec![
                vec![
                    hpe(Accept),
                    hpe(HpeAction::PartOrder(
                        PartOrder {
                            carrier: Some("UPS".into()),
                            tracking_number: Some("1Z999AA10123456784".into()),
                            note: Some("Replacement drive shipped from the Sacramento depot.".into()),
                            ..part("PO-7731155", "R0Q66A", "HPE 16TB SAS 7.2K LFF HDD", 1, "SHIPPED")
                        },
                        Text,
                    )),
                ],
                vec![
                    hpe(HpeAction::PartOrder(
                        PartOrder {
                            return_required: Some(true),
                            return_status: Some("RECEIVED".into()),
                            ..part("PO-7731155", "R0Q66A", "HPE 16TB SAS 7.2K LFF HDD", 1, "DELIVERED")
                        },
                        Structured,
                    )),
                    hpe(Resolve(
                        "Replacement drive delivered and installed by site staff; the OST0042 RAID rebuild has completed.".into(),
                    )),
                ],
                vec![Step::Close(
                    "Drive replaced, rebuild finished, OST0042 back in service. Thank you.",
                )],
            ],
        },
        Script {
            incident: "nid001337: GPU has fallen off the bus",
            system: compute,
            priority: Priority::Normal,
            rounds: vec![vec![hpe(Entitlement {
                entitled: true,
                comment: None,
            })]],
        },
        Script {
            incident: "nid006012: uncorrectable ECC errors",
            system: compute,
            priority: Priority::Normal,
            rounds: vec![vec![hpe(Entitlement {
                entitled: false,
                comment: Some(format!(
                    "Serial {}: DIMMs are customer self-repair parts under contract {}; order the part from the HPE parts store.",
                    SYSTEMS[compute].serial, SYSTEMS[compute].contract
                )),
            })]],
        },
        Script {
            incident: "Blade x1302c2s4 BMC unresponsive",
            system: compute,
            priority: Priority::CriticalDegraded,
            rounds: vec![
                vec![
                    hpe(Accept),
                    note(
                        "The BMC of x1302c2s4 stopped answering Redfish after the 1.8.3 update. Please do not power-cycle the blade: an engineer will collect the BMC logs first.",
                    ),
                ],
            ],
        },
        Script {
            incident: "Fabric manager reports cable CRC errors",
            system: fabric,
            priority: Priority::Normal,
            rounds: vec![
                vec![
                    hpe(Accept),
                    note("Cable x1206c0r5j7 shows CRC errors on both ends; two replacement cables are on their way."),
                ],
                vec![
                    hpe(HpeAction::PartOrder(
                        part("PO-7732770", "JG921A", "Slingshot active optical cable, 10 m", 2, "DELIVERED"),
                        Structured,
                    )),
                    hpe(Resolve(
                        "Replacement cables installed by site staff; the CRC counters stayed clear for 24 hours.".into(),
                    )),
                ],
                vec![hpe(HpeAction::Close(
                    "Case closed by HPE: the proposed resolution was not answered within 5 business days.".into(),
                ))],
            ],
        },
    ]
}

/// The cases left to HPE's live provider loop: opened last, they are
/// answered a few seconds after the console starts, then get updates at
/// random. The second is a second case on an incident that has one already
/// (tracking number `_2`).
const LIVE: [(&str, usize, Priority); 2] = [
    ("perlmutter-scratch OST0107 degraded", 2, Priority::Normal),
    (
        "Blade x1302c2s4 BMC unresponsive",
        0,
        Priority::CriticalDegraded,
    ),
];

/// An incident of the ServiceNow simulator's demo seed.
struct Incident {
    number: String,
    title: String,
    description: String,
}

fn find_incident(servicenow: &ServiceNowSim, prefix: &'static str) -> Result<Incident, SeedError> {
    servicenow
        .records("incident")?
        .into_iter()
        .find(|r| r.get("short_description").starts_with(prefix))
        .map(|r| Incident {
            number: r.get("number").to_owned(),
            title: r.get("short_description").to_owned(),
            description: r.get("description").to_owned(),
        })
        .ok_or(SeedError::NoIncident(prefix))
}

/// A console of the demo operator's, without a screen: the requests go
/// through the same engine end as the operator's.
struct Console {
    link: ConsoleLink,
    task: JoinHandle<()>,
    next: u64,
}

impl Console {
    fn start(engine: &Engine, settings: &Settings) -> Result<Console, SeedError> {
        let (link, engine_end) = ConsoleLink::pair();
        let task = local::spawn(local::EngineEnd::of(engine), settings, OPERATOR, engine_end)?;
        Ok(Console {
            link,
            task,
            next: 0,
        })
    }

    /// Sends `request` and waits for its answer: the case it touched, or
    /// the refusal in words.
    async fn ask(&mut self, request: Request) -> Result<Result<Option<CaseId>, String>, SeedError> {
        self.next += 1;
        let id = RequestId(self.next);
        self.link
            .send(id, request)
            .map_err(|_| SeedError::ConsoleGone)?;
        let answer = async {
            loop {
                match self.link.recv().await {
                    Some(Event::RequestAccepted { request, case }) if request == id => {
                        return Ok(Ok(case));
                    }
                    Some(Event::RequestFailed { request, reason }) if request == id => {
                        return Ok(Err(reason));
                    }
                    Some(_) => {}
                    None => return Err(SeedError::ConsoleGone),
                }
            }
        };
        tokio::time::timeout(ROUND_TIMEOUT, answer)
            .await
            .map_err(|_| SeedError::ConsoleGone)?
    }

    async fn open(
        &mut self,
        incident: &Incident,
        system: usize,
        priority: Priority,
    ) -> Result<CaseId, SeedError> {
        let request = Request::OpenCase(OpenCase {
            incident: incident.number.clone(),
            system: SYSTEMS[system].name.to_owned(),
            priority,
            title: incident.title.clone(),
            description: incident.description.clone(),
        });
        let refused = |reason| SeedError::Refused {
            incident: incident.number.clone(),
            reason,
        };
        match self.ask(request).await? {
            Ok(Some(case)) => Ok(case),
            Ok(None) => Err(refused("the engine named no case".to_owned())),
            Err(reason) => Err(refused(reason)),
        }
    }

    /// Ends the engine end by dropping the console's.
    async fn stop(self) {
        drop(self.link);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the demo's seeding console failed");
        }
    }
}

/// Runs the script, then opens the live cases. Returns once the engine has
/// processed everything.
pub async fn run(
    engine: &Engine,
    settings: &Settings,
    gsem: &GsemSim,
    servicenow: &ServiceNowSim,
) -> Result<(), SeedError> {
    let scripts = scripts(Utc::now());
    let mut incidents = Vec::new();
    for script in &scripts {
        incidents.push(find_incident(servicenow, script.incident)?);
    }
    // A case is opened from an incident the engine has read from ServiceNow.
    let numbers: Vec<String> = incidents.iter().map(|i| i.number.clone()).collect();
    wait(0, || {
        let numbers = numbers.clone();
        with_store(engine.store(), move |s| {
            numbers.iter().try_fold(true, |all, n| {
                Ok::<_, StoreError>(all && s.incident_by_number(n)?.is_some())
            })
        })
    })
    .await?;
    let mut console = Console::start(engine, settings)?;
    let mut cases = Vec::new();
    for (script, incident) in scripts.iter().zip(&incidents) {
        let id = console
            .open(incident, script.system, script.priority)
            .await?;
        let requester_id = with_store(engine.store(), move |s| {
            Ok::<_, StoreError>(s.case_by_id(id)?.map(|c| c.requester_id))
        })
        .await?
        .ok_or(SeedError::Vanished(id))?;
        cases.push((id, requester_id));
    }
    // HPE can only answer cases GSEM holds.
    wait(0, || {
        let all = cases.iter().all(|(_, r)| gsem.case(r).is_some());
        async move { Ok(all) }
    })
    .await?;
    let rounds = scripts.iter().map(|s| s.rounds.len()).max().unwrap_or(0);
    for round in 0..rounds {
        for ((script, incident), (id, requester_id)) in scripts.iter().zip(&incidents).zip(&cases) {
            for step in script.rounds.get(round).into_iter().flatten() {
                play(&mut console, gsem, incident, *id, requester_id, step).await?;
            }
        }
        settle(engine, gsem, round + 1).await?;
    }
    for (prefix, system, priority) in LIVE {
        let incident = find_incident(servicenow, prefix)?;
        console.open(&incident, system, priority).await?;
    }
    console.stop().await;
    settle(engine, gsem, rounds + 1).await
}

async fn play(
    console: &mut Console,
    gsem: &GsemSim,
    incident: &Incident,
    case: CaseId,
    requester_id: &str,
    step: &Step,
) -> Result<(), SeedError> {
    let request = match step {
        Step::Hpe(action) => {
            gsem.hpe(requester_id, action)?;
            return Ok(());
        }
        Step::Close(notes) => Request::Close {
            case,
            notes: (*notes).to_owned(),
        },
        Step::Reject(reason) => Request::RejectResolution {
            case,
            reason: (*reason).to_owned(),
        },
        Step::Note(text) => Request::Comment {
            case,
            text: (*text).to_owned(),
        },
    };
    match (console.ask(request).await?, step) {
        (Ok(_), _) => Ok(()),
        // Should the engine pull the resolution first, it refuses the note
        // itself; the demo is as good without the crossing.
        (Err(reason), Step::Note(_)) => {
            tracing::info!(incident = %incident.number, %reason, "the demo's crossing note was refused locally");
            Ok(())
        }
        (Err(reason), _) => Err(SeedError::Refused {
            incident: incident.number.clone(),
            reason,
        }),
    }
}

/// Polls `done` until it holds, for at most [`ROUND_TIMEOUT`].
async fn wait<F, Fut>(round: usize, mut done: F) -> Result<(), SeedError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool, StoreError>>,
{
    let started = Instant::now();
    while !done().await? {
        if started.elapsed() > ROUND_TIMEOUT {
            return Err(SeedError::Stalled { round });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Waits until GSEM's queue is empty, every inbound message is applied and
/// nothing of ours is waiting to be sent.
async fn settle(engine: &Engine, gsem: &GsemSim, round: usize) -> Result<(), SeedError> {
    wait(round, || {
        let queued = gsem.queue_len();
        let store = engine.store();
        async move {
            let idle = with_store(store, |s| {
                Ok::<_, StoreError>(
                    s.inbox_next_unprocessed()?.is_none() && s.outbox_head()?.is_none(),
                )
            })
            .await?;
            Ok(queued == 0 && idle)
        }
    })
    .await
}
