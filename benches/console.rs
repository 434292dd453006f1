//! The console benchmark: how the terminal console copes with a big store.
//!
//! A store of 10,000 cases, 200,000 journal entries and 20,000 records
//! (10,000 onsite tasks and 10,000 part orders, three events each) is built
//! once in a tempdir by a child process, so its memory does not count in
//! the peak RSS. One case is busy (2,000 journal entries, 40 tasks, 40
//! part orders) and is the newest, so it heads the list. Then, with a
//! ratatui `TestBackend` of 160×48 (the widgets' real cost, and the
//! terminal's diff):
//!
//! - `first_frame_ms`: from opening the store and building the app until
//!   the first drawn frame that shows the cases (the runner's empty frame
//!   before the snapshot arrives does not count);
//! - `list_frame_ms`, `case_frame_ms`: median time of one draw of the list,
//!   and of the busy case's view, the selection or scroll moving one row
//!   between frames (untimed) so each frame differs from the last;
//! - `key_to_frame_ms`: the worse of the medians of `j` in the list and of
//!   `Enter` on the busy case, each timed from handing the key to the app
//!   until a frame is drawn that shows what the key asked for; for `Enter`
//!   that includes the `LoadCase` round trip through the link and the
//!   engine end reading the case from the store, and only a frame with the
//!   timeline itself counts, not the loading one;
//! - `rss_mb`: the peak resident set (`VmHWM`) of the measuring process.
//!
//! The engine end of the link is a stand-in in this file ([`StandIn`]):
//! it answers the snapshot and `LoadCase` from the store, the way the
//! engine's console end does, with the store's public operations.
//!
//! `cargo bench --bench console` runs it in full. Run without `--bench`
//! (as `cargo test --all-targets` does) it uses 200 cases and a few frames.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use casebridge::console::{
    CaseDetail, CaseFlags, CaseId, CaseSummary, ConsoleLink, EngineLink, EntryStatus, Event,
    Health, Origin, PartView, Priority, RecordEvent, Request, Snapshot, SyncMode, SystemChoice,
    TaskView, TimelineEntry,
};
use casebridge::store::prelude::*;
use casebridge::store::{
    Access, CaseFilter, CaseRow, EventRow, JournalRow, JournalState, NewCase, NewJournal,
    NewSystem, PartUpdate, Role, Store, TaskUpdate,
};
use casebridge::tui::{Action, App, Screen, Settings, render};
use chrono::{DateTime, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

/// The child process that builds the store is started with this argument.
const BUILD: &str = "--build-store";
const WIDTH: u16 = 160;
const HEIGHT: u16 = 48;
const SYSTEMS: [(&str, &str); 2] = [("perlmutter", "CZ2D4X0001"), ("muller", "CZ2D4X0002")];
const SEVERITIES: [&str; 3] = ["MEDIUM", "MAJOR", "CRITICAL"];

/// How big the store is and how many times each thing is measured.
#[derive(Debug, Clone, Copy)]
struct Scale {
    name: &'static str,
    cases: usize,
    journal: usize,
    tasks: usize,
    parts: usize,
    busy_entries: usize,
    busy_tasks: usize,
    busy_parts: usize,
    frames: usize,
    opens: usize,
}

const FULL: Scale = Scale {
    name: "full",
    cases: 10_000,
    journal: 200_000,
    tasks: 10_000,
    parts: 10_000,
    busy_entries: 2_000,
    busy_tasks: 40,
    busy_parts: 40,
    frames: 300,
    opens: 200,
};

const SMOKE: Scale = Scale {
    name: "smoke",
    cases: 200,
    journal: 4_000,
    tasks: 200,
    parts: 200,
    busy_entries: 200,
    busy_tasks: 5,
    busy_parts: 5,
    frames: 5,
    opens: 3,
};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == BUILD) {
        let (Some(path), Some(scale)) = (args.get(i + 1), args.get(i + 2)) else {
            bail!("usage: {BUILD} <store path> full|smoke");
        };
        let scale = if scale == FULL.name { FULL } else { SMOKE };
        return build_store(Path::new(path), scale);
    }
    // `cargo bench` passes `--bench`; `cargo test` runs this with nothing.
    let scale = if args.iter().any(|a| a == "--bench") {
        FULL
    } else {
        SMOKE
    };
    let dir = tempfile::tempdir().context("create the tempdir")?;
    let path = dir.path().join("casebridge.db");
    let started = Instant::now();
    let status = Command::new(std::env::current_exe().context("find the bench binary")?)
        .args([BUILD, &path.to_string_lossy(), scale.name])
        .status()
        .context("run the store builder")?;
    ensure!(status.success(), "the store builder failed: {status}");
    println!(
        "store: {} cases, {} journal entries, {} onsite tasks, {} part orders (busy case: {} entries, {} tasks, {} parts), built in {:.1} s, {:.0} MB on disk",
        scale.cases,
        scale.journal,
        scale.tasks,
        scale.parts,
        scale.busy_entries,
        scale.busy_tasks,
        scale.busy_parts,
        started.elapsed().as_secs_f64(),
        file_mb(&path)
    );
    measure(&path, scale)
}

fn file_mb(path: &Path) -> f64 {
    let wal = path.with_extension("db-wal");
    [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len() as f64)
        .sum::<f64>()
        / 1_048_576.0
}

// ---------------------------------------------------------------- the store

/// A small deterministic generator, so every run builds the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PHRASES: [&str; 12] = [
    "Node nid001234 rebooted with uncorrectable ECC errors on DIMM B3.",
    "Engineer reviewed the SEL and the HSN logs; no link flaps since Tuesday.",
    "Please collect a fresh diagnostics bundle (sdu) and attach it to the case.",
    "Replaced the blade's PSU; the chassis reports all fans nominal now.",
    "Customer confirms the job failures stopped after the firmware update.",
    "Waiting on the part: the replacement board ships from the Memphis depot.",
    "Grüße aus Berkeley — le nœud a redémarré deux fois cette nuit.",
    "Slingshot switch x1000c2r3 shows CRC errors on port 17; reseated the cable.",
    "The filesystem clients on the login nodes hung for 40 s during the failover.",
    "Onsite engineer arrives tomorrow 09:30 with the spare cooling distribution unit.",
    "Action plan: drain the node, swap the DIMM, run memtest for two hours, return to service.",
    "HPE support escalated the case to the level 3 team for a firmware analysis.",
];

fn note_text(rng: &mut Rng) -> String {
    let sentences = 1 + rng.below(6);
    let mut text = String::new();
    for i in 0..sentences {
        if i > 0 {
            text.push_str(if rng.below(4) == 0 { "\n" } else { " " });
        }
        text.push_str(PHRASES[rng.below(PHRASES.len())]);
    }
    text
}

/// How many of `total` items case `i` of `cases` gets, spread evenly.
fn share(total: usize, cases: usize, i: usize) -> usize {
    total / cases + usize::from(i < total % cases)
}

fn state_of(i: usize) -> u8 {
    match i % 10 {
        0..=3 => 5,
        4 => 4,
        5 => 6,
        6 => 3,
        _ => 7,
    }
}

/// Runs in the child process: the whole store in one transaction.
fn build_store(path: &Path, scale: Scale) -> anyhow::Result<()> {
    let store = Store::open(path, Role::Tool)?;
    let now = Utc::now().timestamp_millis();
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    store.transaction(|tx| -> anyhow::Result<()> {
        let systems = SYSTEMS
            .iter()
            .map(|(name, serial)| {
                tx.upsert_system(&NewSystem {
                    name: (*name).to_owned(),
                    serial: (*serial).to_owned(),
                    contract: Some("CN-NERSC-2024".to_owned()),
                    product_number: Some("S-9000".to_owned()),
                    cmdb_ci: Some((*name).to_owned()),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let others = scale.cases - 1;
        for i in 0..scale.cases {
            // Case 0 is the busy one and the newest; the others go back 90 days.
            let updated = if i == 0 {
                now - 60_000
            } else {
                now - 120_000 - i64::try_from(rng.below(90 * 86_400_000))?
            };
            let (entries, tasks, parts) = if i == 0 {
                (scale.busy_entries, scale.busy_tasks, scale.busy_parts)
            } else {
                (
                    share(scale.journal - scale.busy_entries, others, i - 1),
                    share(scale.tasks - scale.busy_tasks, others, i - 1),
                    share(scale.parts - scale.busy_parts, others, i - 1),
                )
            };
            let opened = updated - i64::try_from(entries + 1)? * 600_000;
            let case = tx.create_case(
                &NewCase {
                    incident_number: format!("INC{:07}", 10_000 + i),
                    severity: SEVERITIES[i % SEVERITIES.len()].to_owned(),
                    title: format!("nid{:06} down: {}", i, PHRASES[i % PHRASES.len()]),
                    description: PHRASES[(i + 3) % PHRASES.len()].to_owned(),
                    system_id: Some(systems[i % systems.len()]),
                    opened_by: "ada".to_owned(),
                },
                opened,
            )?;
            let state = if i == 0 { 5 } else { state_of(i) };
            if state >= 2 {
                tx.set_case_provider_id(case.id, &format!("50{:08}", 1_000_000 + i), opened)?;
            }
            for e in 0..entries {
                let at = opened + i64::try_from(e + 1)? * 600_000;
                let origin = match rng.below(3) {
                    0 => casebridge::store::Origin::Local,
                    1 => casebridge::store::Origin::Hpe,
                    _ => casebridge::store::Origin::ServiceNow,
                };
                let local = origin == casebridge::store::Origin::Local;
                tx.journal_insert(
                    &NewJournal {
                        case_id: case.id,
                        origin,
                        kind: if e == 0 { "service request" } else { "note" }.to_owned(),
                        author: match origin {
                            casebridge::store::Origin::Hpe => "HPE".to_owned(),
                            _ => ["ada", "jdoe", "asmith"][rng.below(3)].to_owned(),
                        },
                        text: note_text(&mut rng),
                        event_at: at,
                        remote_id: (!local).then(|| format!("{}-{e}", case.id)),
                        state: if local {
                            JournalState::Sent
                        } else {
                            JournalState::Received
                        },
                        outbox_seq: None,
                    },
                    at,
                )?;
            }
            let finished = state == 7;
            for t in 0..tasks {
                let statuses: &[&str] = if finished {
                    &["scheduled", "dispatched", "complete"]
                } else {
                    &["scheduled", "dispatched", "onsite"]
                };
                let task_id = format!("WO-{}-{t}", case.id);
                for (k, status) in statuses.iter().enumerate() {
                    let at = opened + i64::try_from(k + 1)? * 3_600_000;
                    tx.record_task_event(
                        case.id,
                        &TaskUpdate {
                            task_id: task_id.clone(),
                            status: Some((*status).to_owned()),
                            status_known: true,
                            scheduled_start: Some("2025-03-02 09:00".to_owned()),
                            engineer_eta: (k > 0).then(|| "2025-03-02 09:30".to_owned()),
                            description: Some(format!("Replace DIMM B{t} on nid{i:06}")),
                            event_time: Some(format!("t{at}")),
                            event_at_ms: Some(at),
                            raw_text: Some(format!(
                                "ONSITE TASK {task_id} STATUS: {}",
                                status.to_uppercase()
                            )),
                            ..TaskUpdate::default()
                        },
                        at,
                    )?;
                }
            }
            for p in 0..parts {
                let statuses: &[&str] = if finished || p % 2 == 0 {
                    &["ordered", "shipped", "delivered"]
                } else {
                    &["ordered", "backordered", "shipped"]
                };
                let order_id = format!("PO-{}-{p}", case.id);
                for (k, status) in statuses.iter().enumerate() {
                    let at = opened + i64::try_from(k + 1)? * 7_200_000;
                    tx.record_part_event(
                        case.id,
                        &PartUpdate {
                            order_id: order_id.clone(),
                            status: Some((*status).to_owned()),
                            status_known: true,
                            part_number: Some("P06033-B21".to_owned()),
                            part_description: Some("32GB DDR4 RDIMM".to_owned()),
                            quantity: Some(2),
                            carrier: (k > 0).then(|| "UPS".to_owned()),
                            tracking_number: (k > 0)
                                .then(|| format!("1Z999AA1{:010}", i * 100 + p)),
                            eta: Some("2025-03-04".to_owned()),
                            return_required: Some(p % 3 == 0),
                            event_time: Some(format!("t{at}")),
                            event_at_ms: Some(at),
                            raw_text: Some(format!(
                                "PART ORDER {order_id} STATUS {} PN P06033-B21 QTY 2",
                                status.to_uppercase()
                            )),
                            ..PartUpdate::default()
                        },
                        at,
                    )?;
                }
            }
            if state != 0 {
                tx.set_case_hpe_status(case.id, Some(workflow(state)), None, updated)?;
                tx.set_case_state(case.id, state, updated)?;
            }
        }
        Ok(())
    })
}

fn workflow(state: u8) -> &'static str {
    match state {
        3 => "New",
        4 => "Awaiting customer",
        5 => "Engineer assigned",
        6 => "Solution proposed",
        _ => "Closed",
    }
}

// ----------------------------------------------------- the engine stand-in

/// The engine's end of the link for this bench: the snapshot first, then
/// `LoadCase` answered with the case's detail read from the store.
struct StandIn {
    store: Store,
    systems: HashMap<i64, String>,
    choices: Vec<SystemChoice>,
    link: EngineLink,
}

impl StandIn {
    fn start(store: Store, link: EngineLink) -> anyhow::Result<thread::JoinHandle<()>> {
        let rows = store.list_systems()?;
        let stand_in = StandIn {
            systems: rows.iter().map(|s| (s.id, s.system.name.clone())).collect(),
            choices: rows
                .into_iter()
                .map(|s| SystemChoice {
                    cis: s.system.cmdb_ci.into_iter().collect(),
                    name: s.system.name,
                    serial: s.system.serial,
                })
                .collect(),
            store,
            link,
        };
        Ok(thread::spawn(move || {
            if let Err(e) = stand_in.run() {
                eprintln!("engine stand-in: {e:#}");
            }
        }))
    }

    fn run(mut self) -> anyhow::Result<()> {
        let snapshot = self.snapshot()?;
        if self.link.events.send(Event::Snapshot(snapshot)).is_err() {
            return Ok(());
        }
        while let Some((request, what)) = self.link.requests.blocking_recv() {
            let event = match what {
                Request::LoadCase { case } => Event::CaseDetail(Box::new(self.detail(case)?)),
                Request::UnloadCase => continue,
                other => Event::RequestFailed {
                    request,
                    reason: format!("not part of the bench: {other:?}"),
                },
            };
            if self.link.events.send(event).is_err() {
                break;
            }
        }
        Ok(())
    }

    /// Per-case counts of open tasks or of parts in transit, in one query.
    fn counts(&self, sql: &str) -> anyhow::Result<HashMap<i64, u32>> {
        let mut stmt = self.store.conn().prepare(sql)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn snapshot(&self) -> anyhow::Result<Box<Snapshot>> {
        let tasks = self.counts(
            "SELECT case_id, COUNT(*) FROM onsite_tasks
             WHERE COALESCE(status, '') NOT IN ('complete', 'cancelled') GROUP BY case_id",
        )?;
        let parts = self.counts(
            "SELECT case_id, COUNT(*) FROM part_orders
             WHERE status IN ('ordered', 'backordered', 'shipped') GROUP BY case_id",
        )?;
        let cases = self
            .store
            .list_cases(&CaseFilter::default())?
            .iter()
            .map(|row| {
                self.summary(
                    row,
                    tasks.get(&row.id).copied().unwrap_or(0),
                    parts.get(&row.id).copied().unwrap_or(0),
                )
            })
            .collect();
        let now = Utc::now();
        Ok(Box::new(Snapshot {
            cases,
            health: Health {
                gsem_reachable: true,
                gsem_since: now,
                mode: SyncMode::Pull,
                outbox_depth: 0,
                outbox_oldest: None,
                next_retry: None,
                last_gsem_contact: Some(now),
                last_servicenow_contact: Some(now),
                parked_count: 0,
                quarantine_count: 0,
                inbound_blocked_since: None,
                problem: None,
                demo: false,
            },
            systems: self.choices.clone(),
            parked: Vec::new(),
            quarantine: Vec::new(),
        }))
    }

    fn summary(&self, row: &CaseRow, open_tasks: u32, parts_in_transit: u32) -> CaseSummary {
        CaseSummary {
            id: row.id,
            incident: row.incident_number.clone(),
            tracking: row.tracking_number.clone(),
            provider_id: row.provider_id.clone(),
            system: row
                .system_id
                .and_then(|id| self.systems.get(&id).cloned())
                .unwrap_or_default(),
            priority: match SEVERITIES.iter().position(|s| *s == row.severity) {
                Some(1) => Priority::CriticalDegraded,
                Some(2) => Priority::CriticalDown,
                _ => Priority::Normal,
            },
            state: row.state,
            pending_state: row.state,
            workflow_status: row.workflow_status.clone(),
            updated: time(row.updated_at),
            open_tasks,
            parts_in_transit,
            flags: CaseFlags {
                info_requested: row.state == 4,
                ..CaseFlags::default()
            },
        }
    }

    fn detail(&self, case: CaseId) -> anyhow::Result<CaseDetail> {
        let Some(row) = self.store.case_by_id(case)? else {
            bail!("no case {case}");
        };
        let timeline = self
            .store
            .journal_for_case(case)?
            .into_iter()
            .map(timeline_entry)
            .collect();
        let tasks = self
            .store
            .tasks_for_case(case)?
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                Ok(TaskView {
                    open: !matches!(status.as_str(), "complete" | "cancelled"),
                    task_id: t.task_id,
                    status,
                    known: t.status_known,
                    description: t.description,
                    scheduled_start: t.scheduled_start,
                    engineer_eta: t.engineer_eta,
                    events: events(self.store.task_timeline(t.id)?),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let parts = self
            .store
            .parts_for_case(case)?
            .into_iter()
            .map(|p| {
                let status = p.status.unwrap_or_default();
                Ok(PartView {
                    in_transit: matches!(status.as_str(), "ordered" | "backordered" | "shipped"),
                    order_id: p.order_id,
                    part_number: p.part_number,
                    part_description: p.part_description,
                    quantity: p.quantity.and_then(|q| u32::try_from(q).ok()),
                    status,
                    known: p.status_known,
                    carrier: p.carrier,
                    tracking_number: p.tracking_number,
                    eta: p.eta,
                    return_required: p.return_required,
                    return_status: p.return_status,
                    events: events(self.store.part_timeline(p.id)?),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let open_tasks = count(tasks.iter().filter(|t: &&TaskView| t.open).count());
        let in_transit = count(parts.iter().filter(|p: &&PartView| p.in_transit).count());
        Ok(CaseDetail {
            summary: self.summary(&row, open_tasks, in_transit),
            title: row.title,
            description: row.description,
            timeline,
            tasks,
            parts,
            unparsed_updates: 0,
        })
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn timeline_entry(row: JournalRow) -> TimelineEntry {
    let e = row.entry;
    TimelineEntry {
        id: row.id,
        origin: match e.origin {
            casebridge::store::Origin::Local => Origin::Local,
            casebridge::store::Origin::Hpe => Origin::Hpe,
            casebridge::store::Origin::ServiceNow => Origin::ServiceNow,
        },
        author: e.author,
        kind: e.kind.to_uppercase(),
        text: e.text,
        time: time(e.event_at),
        status: match e.state {
            JournalState::Pending => EntryStatus::Pending,
            JournalState::Sent => EntryStatus::Sent,
            JournalState::Failed => EntryStatus::Failed {
                reason: "refused by GSEM".to_owned(),
            },
            JournalState::Dropped => EntryStatus::NotSent {
                reason: "dropped by an operator".to_owned(),
            },
            JournalState::Received => EntryStatus::Received,
        },
        raw: None,
    }
}

fn events(rows: Vec<EventRow>) -> Vec<RecordEvent> {
    rows.into_iter()
        .map(|e| RecordEvent {
            status: e.status,
            known: e.status_known,
            time: time(e.event_at.unwrap_or(e.created_at)),
            raw: e.raw_text.unwrap_or_default(),
        })
        .collect()
}

// ------------------------------------------------------------ the console

/// The app, its terminal and the console's end of the link, driven the way
/// the runner drives them.
struct Console {
    app: App,
    terminal: Terminal<TestBackend>,
    link: ConsoleLink,
    runtime: tokio::runtime::Runtime,
}

impl Console {
    fn key(&mut self, code: KeyCode) -> anyhow::Result<()> {
        self.app
            .update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        for (id, request) in self.app.take_requests() {
            self.link.send(id, request)?;
        }
        Ok(())
    }

    fn draw(&mut self) -> anyhow::Result<()> {
        let app = &self.app;
        self.terminal.draw(|frame| render(app, frame))?;
        Ok(())
    }

    /// Applies engine events, a burst at a time as the runner does, until
    /// `done` holds.
    fn pump_until(&mut self, done: impl Fn(&App) -> bool) -> anyhow::Result<()> {
        while !done(&self.app) {
            let Some(event) = self.runtime.block_on(self.link.recv()) else {
                bail!("the engine end stopped");
            };
            self.app.update(Action::Engine(event));
            while let Some(event) = self.link.try_recv() {
                self.app.update(Action::Engine(event));
            }
        }
        Ok(())
    }

    fn screen_text(&self) -> String {
        let buffer = self.terminal.backend().buffer();
        let width = usize::from(buffer.area.width);
        buffer
            .content()
            .chunks(width)
            .map(|row| row.iter().map(|c| c.symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn timeline_loaded(app: &App) -> bool {
    matches!(app.screen(), Screen::Case(view) if view.detail.is_some())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    samples
        .get(samples.len() / 2)
        .copied()
        .unwrap_or_default()
        .as_secs_f64()
        * 1e3
}

fn spread(name: &str, samples: &[Duration]) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| {
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).copied().unwrap_or_default().as_secs_f64() * 1e3
    };
    println!(
        "{name}: {} samples, min {:.3} ms, median {:.3} ms, p95 {:.3} ms, max {:.3} ms",
        sorted.len(),
        at(0.0),
        at(0.5),
        at(0.95),
        at(1.0)
    );
}

/// Times `frames` draws, running `between` untimed before each.
fn time_frames(
    console: &mut Console,
    frames: usize,
    mut between: impl FnMut(&mut Console, usize) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(frames);
    for i in 0..frames {
        between(console, i)?;
        let t = Instant::now();
        console.draw()?;
        samples.push(t.elapsed());
    }
    Ok(samples)
}

fn peak_rss_mb() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/self/status")?;
    Ok(kb / 1024.0)
}

fn measure(path: &Path, scale: Scale) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;

    // First frame: the store opened, the engine end started, the app built,
    // its empty frame drawn, then the snapshot applied and drawn.
    let started = Instant::now();
    let store = Store::open(path, Role::Tool)?;
    let (link, engine_end) = ConsoleLink::pair();
    let engine = StandIn::start(store, engine_end)?;
    let app = App::new(
        Settings::from_config(std::iter::empty())?,
        Utc::now(),
        Rect::new(0, 0, WIDTH, HEIGHT),
    );
    let mut console = Console {
        app,
        terminal: Terminal::new(TestBackend::new(WIDTH, HEIGHT))?,
        link,
        runtime,
    };
    console.draw()?;
    console.pump_until(|app| app.list().len() == scale.cases)?;
    console.draw()?;
    let first_frame = started.elapsed();
    let shown = console.screen_text();
    ensure!(
        shown.contains(&format!("of {} · sorted by updated", scale.cases)),
        "the first frame does not show the list of {} cases:\n{shown}",
        scale.cases
    );
    let busy = console
        .app
        .list()
        .selected()
        .map(|c| c.incident.clone())
        .context("no case selected")?;
    ensure!(busy == "INC0010000", "the busy case is not on top: {busy}");

    // Enter on the busy case, until its timeline is drawn; Esc back untimed.
    let mut enter = Vec::with_capacity(scale.opens);
    for i in 0..scale.opens {
        let t = Instant::now();
        console.key(KeyCode::Enter)?;
        console.pump_until(timeline_loaded)?;
        console.draw()?;
        enter.push(t.elapsed());
        if i == 0 {
            let shown = console.screen_text();
            ensure!(
                shown.contains(&format!("Timeline ({})", scale.busy_entries))
                    && !shown.contains("Loading"),
                "Enter did not draw the busy case's timeline:\n{shown}"
            );
        }
        console.key(KeyCode::Esc)?;
        console.draw()?;
    }

    // The busy case's view, scrolled up a line between frames.
    console.key(KeyCode::Enter)?;
    console.pump_until(timeline_loaded)?;
    let case_frames = time_frames(&mut console, scale.frames, |c, _| c.key(KeyCode::Char('k')))?;
    console.key(KeyCode::Esc)?;
    console.draw()?;

    // The list, the selection moving down a row between frames.
    let list_frames = time_frames(&mut console, scale.frames, |c, _| c.key(KeyCode::Char('j')))?;

    // `j` in the list: the key and its frame timed together.
    let mut down = Vec::with_capacity(scale.frames);
    for _ in 0..scale.frames {
        let t = Instant::now();
        console.key(KeyCode::Char('j'))?;
        console.draw()?;
        down.push(t.elapsed());
    }
    let moved = console.app.list().selected().map(|c| c.incident.clone());
    ensure!(
        moved.as_deref() != Some(busy.as_str()),
        "j did not move the selection"
    );

    drop(console);
    if engine.join().is_err() {
        bail!("the engine stand-in panicked");
    }
    let rss = peak_rss_mb()?;

    println!("engine end: the bench's stand-in (snapshot and LoadCase read from the store)");
    spread("list frame", &list_frames);
    spread("case frame", &case_frames);
    spread("j to frame", &down);
    spread("Enter to timeline frame", &enter);
    let first_frame_ms = first_frame.as_secs_f64() * 1e3;
    let list_frame_ms = median_ms(list_frames);
    let case_frame_ms = median_ms(case_frames);
    let key_to_frame_ms = median_ms(down).max(median_ms(enter));
    for (name, value, target) in [
        ("first_frame_ms", first_frame_ms, 150.0),
        ("list_frame_ms", list_frame_ms, 2.0),
        ("case_frame_ms", case_frame_ms, 2.0),
        ("key_to_frame_ms", key_to_frame_ms, 5.0),
        ("rss_mb", rss, 80.0),
    ] {
        let verdict = if value < target { "met" } else { "MISSED" };
        println!("target {name} < {target}: {verdict}");
    }
    println!("first_frame_ms={first_frame_ms:.2}");
    println!("list_frame_ms={list_frame_ms:.3}");
    println!("case_frame_ms={case_frame_ms:.3}");
    println!("key_to_frame_ms={key_to_frame_ms:.3}");
    println!("rss_mb={rss:.1}");
    Ok(())
}
