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
//!   timeline itself counts, not the loading one. The case view asks for
//!   the newest page of the timeline ([`History::FIRST_PAGE`], 200 of the
//!   busy case's 2,000 entries) and the rest when scrolled up to it, so
//!   the time of `g` (the whole timeline read and its first entry drawn) is
//!   printed beside it;
//! - `rss_mb`: the peak resident set (`VmHWM`) of the measuring process;
//! - `remote_event_p99_ms`: the 99th percentile, over 500 comments, of the
//!   time from a comment committed by an in-process `serve` to its event
//!   at a remote console over HTTPS (in a child process, see `remote`).
//!
//! The engine end of the link is the real one (`console::local`) of a real
//! engine (`Engine::start` on the built store), with the GSEM and
//! ServiceNow simulators on loopback behind it.
//!
//! `cargo bench --bench console` runs it in full. Run without `--bench`
//! (as `cargo test --all-targets` does) it uses 200 cases and a few frames.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use casebridge::config;
use casebridge::console::{ConsoleLink, Event, History, Request, RequestId, local};
use casebridge::engine::{Engine, StoreKind};
use casebridge::sim::gsem::{GsemSim, GsemSimConfig};
use casebridge::sim::pki::{ClientAuth, TestPki, server_config};
use casebridge::sim::servicenow::{
    INTEGRATION_PASSWORD, INTEGRATION_USER, ServiceNowSim, SimConfig,
};
use casebridge::store::prelude::*;
use casebridge::store::{
    JournalState, NewCase, NewJournal, NewSystem, PartUpdate, Role, Store, TaskUpdate,
};
use casebridge::tui::{Action, App, Screen, Settings, render};
use chrono::Utc;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

/// The child process that builds the store is started with this argument.
const BUILD: &str = "--build-store";
/// A directory to keep the built store in and reuse on later runs (the
/// build takes half a minute); each run works on a copy.
const STORE_CACHE: &str = "CONSOLE_BENCH_STORE_CACHE";
const AGENT_KEY: &str = "bench-agent-key";
const OPERATOR: &str = "ada";
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
    /// Comments timed from serve's commit to the remote console.
    remote_comments: usize,
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
    remote_comments: 500,
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
    remote_comments: 10,
};

#[path = "console/remote.rs"]
mod remote;
use remote::serve_rig::lab;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == remote::CHILD_FLAG) {
        let comments = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .context("usage: --remote-events <comments>")?;
        return remote::run(comments);
    }
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
    match std::env::var_os(STORE_CACHE) {
        Some(cache) => {
            let cache = Path::new(&cache).join(format!("console-{}.db", scale.name));
            if !cache.exists() {
                build_in_child(&cache, scale)?;
            }
            std::fs::copy(&cache, &path).context("copy the cached store")?;
        }
        None => build_in_child(&path, scale)?,
    }
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
    measure(dir, &path, scale)
}

/// Builds the store at `path` in a child process, whose memory is not ours.
fn build_in_child(path: &Path, scale: Scale) -> anyhow::Result<()> {
    let status = Command::new(std::env::current_exe().context("find the bench binary")?)
        .args([BUILD, &path.to_string_lossy(), scale.name])
        .status()
        .context("run the store builder")?;
    ensure!(status.success(), "the store builder failed: {status}");
    // Closing the last connection folded the WAL into the one file.
    Ok(())
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
            // Case 0 is the busy one and the newest; the others go back 90
            // days. Every event of a case is older than its `updated`, so the
            // list's order is the cases' order.
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
                    let at = updated - i64::try_from(statuses.len() - k)? * 1_200_000;
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
                    let at = updated - i64::try_from(statuses.len() - k)? * 1_500_000;
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

// ------------------------------------------------------------ the engine

/// The engine's surroundings on loopback: the GSEM simulator over mutual
/// TLS, the ServiceNow simulator, and a config whose store is the one built.
struct Rig {
    /// Holds the store, the PKI and the config until the end.
    _dir: tempfile::TempDir,
    _gsem: GsemSim,
    _servicenow: ServiceNowSim,
    settings: config::Settings,
}

impl Rig {
    async fn start(dir: tempfile::TempDir, store: &Path) -> anyhow::Result<Rig> {
        let pki = TestPki::generate("casebridge.bench")?;
        let paths = pki.write_to(&dir.path().join("pki"))?;
        let tls = server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )?;
        let mut sim = GsemSimConfig::new(Arc::new(tls), AGENT_KEY);
        sim.provider.answer_delay = None;
        let gsem = GsemSim::start(sim).await?;
        let servicenow = ServiceNowSim::start(SimConfig::default()).await?;
        lab::write_private(&dir.path().join("secrets/agent-key"), AGENT_KEY);
        lab::write_private(
            &dir.path().join("secrets/sn-password"),
            INTEGRATION_PASSWORD,
        );
        let systems = SYSTEMS.map(|(name, serial)| lab::System {
            name,
            serial,
            contract: "CN-NERSC-2024",
            cmdb_ci: name,
        });
        let text = format!(
            r#"{site}
[gsem]
environment = "prod"
[gsem.prod]
base_url = "{base}"
agent_key = {{ file = "secrets/agent-key" }}
remote_agent_name = "SFDC_Train_REST_P042"
remote_agent_type = "CUSTOMER"
mode = "pull"
poll_interval = "5s"
client_cert = "{client_cert}"
client_key = "{client_key}"
ca_bundle = "{ca}"
request_timeout = "2s"

[servicenow]
instance_url = "{sn}"
allow_insecure_http = true
user = "{INTEGRATION_USER}"
password = {{ file = "secrets/sn-password" }}
poll_interval = "15s"
request_timeout = "2s"
sync_state_to_incident = false
close_case_when_incident_resolved = false

[store]
path = "{store}"
"#,
            site = lab::site_toml_with("Bench Lab", &[], &systems),
            base = gsem.base_url(),
            client_cert = paths.client.cert.display(),
            client_key = paths.client.key.display(),
            ca = paths.ca.cert.display(),
            sn = servicenow.base_url(),
            store = store.display(),
        );
        let config_path = dir.path().join("config.toml");
        lab::write_private(&config_path, &text);
        let settings = config::load(&config_path)?;
        Ok(Rig {
            _dir: dir,
            _gsem: gsem,
            _servicenow: servicenow,
            settings,
        })
    }
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

fn whole_timeline_loaded(app: &App) -> bool {
    matches!(app.screen(), Screen::Case(view)
        if view.detail.as_ref().is_some_and(|d| d.older_entries == 0))
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

fn measure(dir: tempfile::TempDir, path: &Path, scale: Scale) -> anyhow::Result<()> {
    casebridge::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let rig = runtime.block_on(Rig::start(dir, path))?;

    // First frame: the engine started on the store, the console's engine
    // end spawned, the app built, its empty frame drawn, then the snapshot
    // applied and drawn.
    let started = Instant::now();
    let engine = runtime.block_on(Engine::start(&rig.settings, StoreKind::Real))?;
    let engine_started = started.elapsed();
    let (link, engine_end) = ConsoleLink::pair();
    {
        let _entered = runtime.enter();
        local::spawn(
            local::EngineEnd::of(&engine),
            &rig.settings,
            OPERATOR,
            engine_end,
        )?;
    }
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
    let snapshot_applied = started.elapsed();
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
        .map(|c| (c.id, c.incident.clone()))
        .context("no case selected")?;
    ensure!(
        busy.1 == "INC0010000",
        "the busy case is not on top: {}",
        busy.1
    );

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

    // `g` in the busy case's view, until its first entry is drawn.
    let mut top = Vec::with_capacity(scale.opens / 4);
    for i in 0..(scale.opens / 4).max(1) {
        console.key(KeyCode::Enter)?;
        console.pump_until(timeline_loaded)?;
        console.draw()?;
        let t = Instant::now();
        console.key(KeyCode::Char('g'))?;
        console.pump_until(whole_timeline_loaded)?;
        console.draw()?;
        top.push(t.elapsed());
        if i == 0 {
            let shown = console.screen_text();
            ensure!(
                shown.contains("SERVICE REQUEST") && !shown.contains("older entries"),
                "g did not draw the busy case's first entry:\n{shown}"
            );
        }
        console.key(KeyCode::Esc)?;
        console.draw()?;
    }

    // The busy case's view, scrolled up a line between frames.
    console.key(KeyCode::Enter)?;
    console.pump_until(timeline_loaded)?;
    let case_frames = time_frames(&mut console, scale.frames, |c, _| c.key(KeyCode::Char('k')))?;

    // Where Enter's time goes: the engine end's answer to LoadCase (store
    // read and the channel), then the app taking the detail in.
    let mut answer = Vec::with_capacity(scale.opens);
    let mut apply = Vec::with_capacity(scale.opens);
    for i in 0..scale.opens {
        let t = Instant::now();
        console.link.send(
            RequestId(1_000_000 + u64::try_from(i)?),
            Request::LoadCase {
                case: busy.0,
                history: History::FIRST_PAGE,
            },
        )?;
        let detail = loop {
            match console.runtime.block_on(console.link.recv()) {
                Some(event @ Event::CaseDetail(_)) => break event,
                Some(other) => console.app.update(Action::Engine(other)),
                None => bail!("the engine end stopped"),
            }
        };
        answer.push(t.elapsed());
        let t = Instant::now();
        console.app.update(Action::Engine(detail));
        apply.push(t.elapsed());
    }
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
    let moved = console.app.list().selected().map(|c| c.id);
    ensure!(moved != Some(busy.0), "j did not move the selection");
    let rss = peak_rss_mb()?;

    console.runtime.block_on(engine.stop());
    drop(rig);

    println!(
        "first frame: engine started in {:.2} ms, snapshot applied at {:.2} ms, drawn at {:.2} ms",
        engine_started.as_secs_f64() * 1e3,
        snapshot_applied.as_secs_f64() * 1e3,
        first_frame.as_secs_f64() * 1e3
    );
    spread("list frame", &list_frames);
    spread("case frame", &case_frames);
    spread("j to frame", &down);
    spread("Enter to timeline frame", &enter);
    spread("  of which LoadCase answered (store read + link)", &answer);
    spread("  of which the app taking the detail in", &apply);
    spread("g to the whole timeline's first entry (not a target)", &top);
    let first_frame_ms = first_frame.as_secs_f64() * 1e3;
    let list_frame_ms = median_ms(list_frames);
    let case_frame_ms = median_ms(case_frames);
    let key_to_frame_ms = median_ms(down).max(median_ms(enter));
    let remote_event_p99_ms = remote::measure_in_child(scale.remote_comments)?;
    for (name, value, target) in [
        ("first_frame_ms", first_frame_ms, 150.0),
        ("list_frame_ms", list_frame_ms, 2.0),
        ("case_frame_ms", case_frame_ms, 2.0),
        ("key_to_frame_ms", key_to_frame_ms, 5.0),
        ("rss_mb", rss, 80.0),
        ("remote_event_p99_ms", remote_event_p99_ms, 100.0),
    ] {
        let verdict = if value < target { "met" } else { "MISSED" };
        println!("target {name} < {target}: {verdict}");
    }
    println!("first_frame_ms={first_frame_ms:.2}");
    println!("list_frame_ms={list_frame_ms:.3}");
    println!("case_frame_ms={case_frame_ms:.3}");
    println!("key_to_frame_ms={key_to_frame_ms:.3}");
    println!("rss_mb={rss:.1}");
    println!("remote_event_p99_ms={remote_event_p99_ms:.2}");
    Ok(())
}
