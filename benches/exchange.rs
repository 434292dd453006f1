//! Issue 3's exchange benchmark: how close the engine's GSEM exchange comes
//! to the cost of one durable commit per message.
//!
//! - drain: 2,000 notes queued on 20 accepted cases, sent to the GSEM
//!   simulator over mutual TLS; timed from `Engine::start` until the store
//!   has every one acknowledged;
//! - ingest: 2,000 of HPE's notes POSTed one at a time to the engine's push
//!   receiver by the bench acting as GSEM; timed until every one is
//!   committed and processed;
//! - floor: the same client (a `GsemClient`) against the same server stack
//!   (hyper + tokio-rustls with `sim::pki::server_config`) whose handler
//!   does one INSERT into a `synchronous=FULL` WAL database in the same
//!   directory, one request per message on a kept-alive connection.
//!
//! The three take turns in five rounds of 400 messages, each round in
//! another order; each round's rates are printed, and the final rates come
//! from the totals (messages over summed time). A drain round stops the
//! engine, queues its notes and times the engine from its start; ingest and
//! floor rounds each open one connection and keep it for the round; each
//! floor round has a database of its own, as each measurement always had.
//!
//! `cargo bench --bench exchange` runs it in full. Run without `--bench`
//! (as `cargo test --all-targets` does) it exchanges 20 messages and exits.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use casebridge::config::{self, Gsem, Settings};
use casebridge::engine::{Engine, StoreKind, destination};
use casebridge::gsem::actions::{Actions, OpenCase};
use casebridge::gsem::client::GsemClient;
use casebridge::gsem::shared::{SharedStore, now_ms};
use casebridge::sim::gsem::{GsemSim, GsemSimConfig};
use casebridge::sim::pki::{ClientAuth, TestPki, TestPkiPaths, server_config};
use casebridge::sim::servicenow::{
    INTEGRATION_PASSWORD, INTEGRATION_USER, ServiceNowSim, SimConfig,
};
use casebridge::sis::{ActivityTable, Address, MessageBuilder, Person, Requester};
use casebridge::store::prelude::*;
use casebridge::store::{NewCase, Origin, QuarantineState, Role, Store};
use chrono::Utc;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

#[path = "../tests/support/lab.rs"]
mod lab;

const AGENT_KEY: &str = "bench-agent-key";
const WEBHOOK_PATH: &str = "/gsem/message";
const FLOOR_PATH: &str = "/floor";
const OPERATOR: &str = "ada";
const CASES: usize = 20;
/// A typical note: a few lines of an engineer's text.
const NOTE_LEN: usize = 300;
/// How often the bench looks at the store while waiting.
const POLL: Duration = Duration::from_millis(2);
/// Longest any phase may take before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(600);
/// How many turns the floor, the drain and the ingest take.
const ROUNDS: usize = 5;

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test` runs this with nothing.
    let full = std::env::args().any(|a| a == "--bench");
    let messages = if full { 2_000 } else { CASES };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CASEBRIDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    casebridge::tls::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    runtime.block_on(run(messages))
}

async fn run(messages: usize) -> anyhow::Result<()> {
    let rig = Rig::start().await?;
    let cases = rig.accepted_cases().await?;
    let bodies = rig.hpe_notes(&cases, messages)?;

    // The machine is shared and its load comes in bursts: the three kinds
    // take turns in short rounds, each round in another order, and every
    // rate comes from the totals, so a burst hits all three alike.
    let per_round = messages / ROUNDS;
    ensure!(
        per_round * ROUNDS == messages,
        "{messages} messages do not split into {ROUNDS} rounds"
    );
    let mut engine = None;
    let mut totals = [
        Measured::default(),
        Measured::default(),
        Measured::default(),
    ];
    for round in 0..ROUNDS {
        let range = round * per_round..(round + 1) * per_round;
        let order = Phase::order(round);
        let mut rates = Vec::new();
        for phase in order {
            let measured = match phase {
                Phase::Floor => rig.floor(round, &bodies[range.clone()]).await?,
                Phase::Drain => rig.drain(&mut engine, &cases, range.clone()).await?,
                Phase::Ingest => {
                    rig.ingest(&mut engine, &cases, &bodies[range.clone()])
                        .await?
                }
            };
            rates.push(format!("{} {:.1}/s", phase.name(), measured.rate()));
            totals[phase as usize].add(measured);
        }
        println!("round {}: {}", round + 1, rates.join(", "));
    }
    if let Some(engine) = engine {
        engine.stop().await;
    }

    let [floor, drain, ingest] = totals;
    report("floor", &floor);
    report("drain", &drain);
    report("ingest", &ingest);
    println!(
        "(drain p50: interval between notes arriving at the simulator; ingest and floor p50: one POST answered)"
    );
    println!(
        "floor_msgs_per_s={:.1} (totals of {ROUNDS} rounds)",
        floor.rate()
    );
    println!("drain_msgs_per_s={:.1}", drain.rate());
    println!("ingest_msgs_per_s={:.1}", ingest.rate());
    println!("drain_vs_floor={:.3}", drain.rate() / floor.rate());
    println!("ingest_vs_floor={:.3}", ingest.rate() / floor.rate());
    Ok(())
}

/// What a round measures, in the order of `run`'s totals.
#[derive(Clone, Copy)]
enum Phase {
    Floor,
    Drain,
    Ingest,
}

impl Phase {
    /// Round `round`'s order: the three rotated and, every other round,
    /// reversed, so that no kind always runs first, or always right after
    /// the engine started.
    fn order(round: usize) -> [Phase; 3] {
        let mut order = [Phase::Floor, Phase::Drain, Phase::Ingest];
        order.rotate_left(round % 3);
        if round % 2 == 1 {
            order.reverse();
        }
        order
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Floor => "floor",
            Phase::Drain => "drain",
            Phase::Ingest => "ingest",
        }
    }
}

fn report(name: &str, m: &Measured) {
    println!(
        "{name}: {} messages in {:.3} s ({:.1}/s), p50 {:.2} ms per message, {} fsyncs per message",
        m.messages,
        m.elapsed.as_secs_f64(),
        m.rate(),
        p50(m.samples.clone()).as_secs_f64() * 1e3,
        fsync::per_message(m.fsyncs, m.messages),
    );
}

/// What one timed phase measured, or the sum of several.
#[derive(Default)]
struct Measured {
    messages: usize,
    elapsed: Duration,
    /// The per-message times the p50 is taken of.
    samples: Vec<Duration>,
    fsyncs: Option<u64>,
}

impl Measured {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    fn add(&mut self, other: Measured) {
        self.messages += other.messages;
        self.elapsed += other.elapsed;
        self.samples.extend(other.samples);
        self.fsyncs = match (self.fsyncs, other.fsyncs) {
            (None, n) => n,
            (Some(a), Some(b)) => Some(a + b),
            (Some(_), None) => None,
        };
    }
}

fn p50(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The simulators, the PKI and the engine's config in one tempdir.
struct Rig {
    dir: tempfile::TempDir,
    pki: TestPki,
    paths: TestPkiPaths,
    gsem: GsemSim,
    /// Only there so the engine's ServiceNow side has something to talk to.
    servicenow: ServiceNowSim,
    config_path: PathBuf,
    store_path: PathBuf,
}

impl Rig {
    async fn start() -> anyhow::Result<Rig> {
        let dir = tempfile::tempdir().context("create the tempdir")?;
        let pki = TestPki::generate("casebridge.bench")?;
        let paths = pki.write_to(&dir.path().join("pki"))?;
        let mut sim = GsemSimConfig::new(Arc::new(rig_tls(&pki)?), AGENT_KEY);
        // HPE accepts each SERVICE REQUEST at once; nothing else unscripted.
        sim.provider.answer_delay = Some(Duration::ZERO);
        let gsem = GsemSim::start(sim).await?;
        let servicenow = ServiceNowSim::start(SimConfig::default()).await?;
        let rig = Rig {
            config_path: dir.path().join("config.toml"),
            store_path: dir.path().join("casebridge.db"),
            dir,
            pki,
            paths,
            gsem,
            servicenow,
        };
        let secrets = rig.dir.path().join("secrets");
        std::fs::create_dir_all(&secrets)?;
        std::fs::write(secrets.join("agent-key"), AGENT_KEY)?;
        std::fs::write(secrets.join("sn-password"), INTEGRATION_PASSWORD)?;
        rig.write_config(rig.servicenow.base_url())?;
        Ok(rig)
    }

    fn write_config(&self, servicenow_url: &str) -> anyhow::Result<()> {
        let p = &self.paths;
        let text = format!(
            r#"{site}
[gsem]
environment = "prod"
[gsem.prod]
base_url = "{base}"
agent_key = {{ file = "secrets/agent-key" }}
remote_agent_name = "SFDC_Train_REST_P042"
remote_agent_type = "CUSTOMER"
mode = "push"
client_cert = "{client_cert}"
client_key = "{client_key}"
ca_bundle = "{ca}"
request_timeout = "10s"
backoff_start = "50ms"
backoff_cap = "1s"
[gsem.prod.webhook]
listen = "127.0.0.1:0"
path = "{WEBHOOK_PATH}"
tls_cert = "{server_cert}"
tls_key = "{server_key}"
auth = "client_cert"
client_ca = "{ca}"

[servicenow]
instance_url = "{servicenow_url}"
allow_insecure_http = true
user = "{INTEGRATION_USER}"
password = {{ file = "secrets/sn-password" }}
poll_interval = "1h"
request_timeout = "2s"
sync_state_to_incident = false
close_case_when_incident_resolved = false

[store]
path = "{store}"
"#,
            site = lab::site_toml("Bench Lab", &[]),
            base = self.gsem.base_url(),
            client_cert = p.client.cert.display(),
            client_key = p.client.key.display(),
            ca = p.ca.cert.display(),
            server_cert = p.server.cert.display(),
            server_key = p.server.key.display(),
            store = self.store_path.display(),
        );
        std::fs::write(&self.config_path, text)?;
        Ok(())
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        Ok(config::load(&self.config_path)?)
    }

    /// The engine's own GSEM client settings, aimed at `url`: what the
    /// bench sends with when it plays GSEM, and what the floor is sent with.
    fn client_to(&self, url: &str) -> anyhow::Result<GsemClient> {
        let mut gsem: Gsem = self.settings()?.gsem;
        gsem.message_url = url.parse().with_context(|| format!("parse {url}"))?;
        Ok(GsemClient::new(&gsem)?)
    }

    /// Opens the cases and lets HPE accept them, untimed; the engine is
    /// stopped again afterwards. Returns (case id, ProviderID).
    async fn accepted_cases(&self) -> anyhow::Result<Vec<(i64, String)>> {
        let engine = Engine::start(&self.settings()?, StoreKind::Real).await?;
        let pusher = self.client_to(&push_url(&engine)?)?;
        let mut ids = Vec::new();
        for n in 0..CASES {
            let (case, _) = engine
                .actions()
                .open_case(open_case(&format!("INC{:07}", 20_001 + n)), Utc::now())
                .await?;
            ids.push(case.id);
        }
        let store = Arc::clone(engine.store());
        let deadline = Instant::now() + PHASE_LIMIT;
        let accepted = loop {
            self.forward_queue(&pusher).await?;
            let accepted = ids
                .iter()
                .map(|&id| {
                    let case = lock(&store).case_by_id(id)?;
                    Ok(case.filter(|c| c.state == 5).and_then(|c| c.provider_id))
                })
                .collect::<anyhow::Result<Option<Vec<String>>>>()?;
            if let Some(accepted) = accepted {
                break accepted;
            }
            ensure!(Instant::now() < deadline, "the cases were not accepted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        drop(store);
        engine.stop().await;
        Ok(ids.into_iter().zip(accepted).collect())
    }

    /// Delivers the simulator's queue to the engine, as push-mode GSEM would.
    async fn forward_queue(&self, pusher: &GsemClient) -> anyhow::Result<()> {
        for entry in self.gsem.queue() {
            let body = String::from_utf8(entry.delivery_bytes())?;
            let reply = pusher
                .post_message(&body)
                .await
                .map_err(|e| anyhow::anyhow!("push to the engine: {e}"))?;
            ensure!(reply.status == 200, "push answered {}", reply.status);
            self.gsem.remove_head();
        }
        Ok(())
    }

    /// Stops the engine if it runs, queues notes `range` with it stopped,
    /// then times the engine from start until all are acknowledged. The
    /// engine is left running.
    async fn drain(
        &self,
        engine: &mut Option<Engine>,
        cases: &[(i64, String)],
        range: Range<usize>,
    ) -> anyhow::Result<Measured> {
        if let Some(running) = engine.take() {
            running.stop().await;
        }
        let messages = range.len();
        let settings = self.settings()?;
        {
            let store: SharedStore =
                Arc::new(Mutex::new(Store::open(&self.store_path, Role::Tool)?));
            let actions = Actions::new(
                store,
                MessageBuilder::new(destination(&settings), ActivityTable::default()),
                Arc::new(Notify::new()),
            );
            for n in range {
                let (case_id, _) = cases[n % cases.len()];
                actions
                    .add_note(case_id, OPERATOR, &note_text("out", n), Utc::now())
                    .await?;
            }
        }
        let received_before = self.gsem.received().len();
        let fsyncs = fsync::count();
        let started = Instant::now();
        let store = Arc::clone(
            engine
                .insert(Engine::start(&settings, StoreKind::Real).await?)
                .store(),
        );
        wait_for("every note acknowledged", || {
            let stats = lock(&store).outbox_stats(now_ms())?;
            ensure!(stats.parked == 0, "{} notes were parked", stats.parked);
            Ok(stats.queued == 0)
        })
        .await?;
        let elapsed = started.elapsed();
        let fsyncs = fsync::since(fsyncs);
        let received = self.gsem.received();
        let arrivals: Vec<_> = received[received_before..]
            .iter()
            .filter(|r| r.is_accepted())
            .map(|r| r.at)
            .collect();
        ensure!(
            arrivals.len() == messages,
            "the simulator accepted {} notes of {messages}",
            arrivals.len()
        );
        let intervals = arrivals
            .windows(2)
            .map(|w| (w[1] - w[0]).to_std().unwrap_or_default())
            .collect();
        Ok(Measured {
            messages,
            elapsed,
            samples: intervals,
            fsyncs,
        })
    }

    /// HPE writes `messages` notes, untimed; returns them as GSEM would
    /// push them.
    fn hpe_notes(&self, cases: &[(i64, String)], messages: usize) -> anyhow::Result<Vec<String>> {
        for n in 0..messages {
            let (_, provider_id) = &cases[n % cases.len()];
            self.gsem.hpe_note(provider_id, &note_text("in", n))?;
        }
        let bodies = self
            .gsem
            .queue()
            .iter()
            .map(|e| String::from_utf8(e.delivery_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        ensure!(
            bodies.len() == messages,
            "the simulator queued {} notes",
            bodies.len()
        );
        Ok(bodies)
    }

    /// Starts the engine (untimed) unless it runs, then the bench pushes
    /// `bodies` one at a time on a new connection, as GSEM would, and waits
    /// until every one is processed.
    async fn ingest(
        &self,
        engine: &mut Option<Engine>,
        cases: &[(i64, String)],
        bodies: &[String],
    ) -> anyhow::Result<Measured> {
        let engine = match engine {
            Some(running) => running,
            None => engine.insert(Engine::start(&self.settings()?, StoreKind::Real).await?),
        };
        let messages = bodies.len();
        let pusher = self.client_to(&push_url(engine)?)?;
        let store = Arc::clone(engine.store());
        let journaled_before = hpe_notes(&store, cases)?;

        let fsyncs = fsync::count();
        let started = Instant::now();
        let latencies = post_all(&pusher, bodies).await?;
        wait_for("every pushed note processed", || {
            Ok(lock(&store).inbox_next_unprocessed()?.is_none())
        })
        .await?;
        let elapsed = started.elapsed();
        let fsyncs = fsync::since(fsyncs);

        let quarantined = lock(&store).quarantine_list(QuarantineState::Open)?.len();
        ensure!(
            quarantined == 0,
            "{quarantined} pushed notes were quarantined"
        );
        let journaled = hpe_notes(&store, cases)? - journaled_before;
        ensure!(
            journaled == messages,
            "{journaled} of {messages} notes journaled"
        );
        Ok(Measured {
            messages,
            elapsed,
            samples: latencies,
            fsyncs,
        })
    }

    /// Round `round` of the floor: `bodies` POSTed on a new connection, as
    /// the ingest does, into a database of its own. Fresh, like the
    /// engine's after a drain round's start: SQLite deletes the WAL when the
    /// last connection closes, and a growing WAL costs more per fsync than
    /// a reused one.
    async fn floor(&self, round: usize, bodies: &[String]) -> anyhow::Result<Measured> {
        let db = self.dir.path().join(format!("floor-{round}.db"));
        let floor = Floor::start(rig_tls(&self.pki)?, &db).await?;
        let client = self.client_to(&format!("https://{}{FLOOR_PATH}", floor.addr))?;
        let fsyncs = fsync::count();
        let started = Instant::now();
        let latencies = post_all(&client, bodies).await?;
        let elapsed = started.elapsed();
        let fsyncs = fsync::since(fsyncs);
        let rows = floor.rows()?;
        ensure!(
            rows == bodies.len(),
            "the floor stored {rows} of {}",
            bodies.len()
        );
        floor.task.abort();
        Ok(Measured {
            messages: bodies.len(),
            elapsed,
            samples: latencies,
            fsyncs,
        })
    }
}

/// The simulators' TLS: mutual, against the test CA.
fn rig_tls(pki: &TestPki) -> anyhow::Result<rustls::ServerConfig> {
    Ok(server_config(
        &pki.server,
        &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
    )?)
}

fn push_url(engine: &Engine) -> anyhow::Result<String> {
    let addr = engine
        .push_addr()
        .context("the engine runs no push receiver")?;
    Ok(format!("https://{addr}{WEBHOOK_PATH}"))
}

/// POSTs each body in turn on one kept-alive connection; every one must be
/// answered 200. Returns each request's time.
async fn post_all(client: &GsemClient, bodies: &[String]) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(bodies.len());
    for body in bodies {
        let sent = Instant::now();
        let reply = client
            .post_message(body)
            .await
            .map_err(|e| anyhow::anyhow!("POST {}: {e}", client.message_url()))?;
        ensure!(
            reply.status == 200,
            "answered {}: {}",
            reply.status,
            reply.body
        );
        latencies.push(sent.elapsed());
    }
    Ok(latencies)
}

fn lock(store: &SharedStore) -> std::sync::MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn wait_for(
    what: &str,
    mut done: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + PHASE_LIMIT;
    while !done()? {
        if Instant::now() > deadline {
            bail!("gave up waiting for {what} after {PHASE_LIMIT:?}");
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// HPE's notes in the journal of `cases`.
fn hpe_notes(store: &SharedStore, cases: &[(i64, String)]) -> anyhow::Result<usize> {
    let store = lock(store);
    let mut count = 0;
    for (id, _) in cases {
        count += store
            .journal_for_case(*id)?
            .iter()
            .filter(|j| j.entry.origin == Origin::Hpe && j.entry.kind == "note")
            .count();
    }
    Ok(count)
}

fn note_text(direction: &str, n: usize) -> String {
    let mut text = format!("note {direction} {n}: ");
    while text.len() < NOTE_LEN {
        text.push_str("fabric manager reports link flaps on x1000c3s2b0; ");
    }
    text.truncate(NOTE_LEN);
    text
}

fn open_case(incident: &str) -> OpenCase {
    OpenCase {
        case: NewCase {
            incident_number: incident.into(),
            severity: "MAJOR".into(),
            title: format!("{incident}: fabric down"),
            description: "x1000c3s2b0 lost its links".into(),
            system_id: None,
            opened_by: OPERATOR.into(),
        },
        requester: Requester {
            organization_name: "Bench Lab".into(),
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

/// The floor's server: the engine's server stack with a handler that only
/// makes one durable INSERT.
struct Floor {
    addr: std::net::SocketAddr,
    db: Arc<Mutex<rusqlite::Connection>>,
    task: tokio::task::JoinHandle<()>,
}

impl Floor {
    async fn start(tls: rustls::ServerConfig, path: &Path) -> anyhow::Result<Floor> {
        let conn = rusqlite::Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        ensure!(
            mode.eq_ignore_ascii_case("wal"),
            "floor db in {mode} mode, not WAL"
        );
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch("CREATE TABLE messages(id INTEGER PRIMARY KEY, body BLOB NOT NULL)")?;
        let db = Arc::new(Mutex::new(conn));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(tls));
        let router = Router::new()
            .route(FLOOR_PATH, post(floor_insert))
            .with_state(Arc::clone(&db));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(router))
                        .await;
                });
            }
        });
        Ok(Floor { addr, db, task })
    }

    fn rows(&self) -> anyhow::Result<usize> {
        let db = self
            .db
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rows: i64 = db.query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))?;
        Ok(usize::try_from(rows)?)
    }
}

/// As the engine does: SQLite blocks on the disk, so it runs on the
/// blocking pool.
async fn floor_insert(
    State(db): State<Arc<Mutex<rusqlite::Connection>>>,
    body: Bytes,
) -> StatusCode {
    let inserted = tokio::task::spawn_blocking(move || {
        let db = db.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        db.execute("INSERT INTO messages(body) VALUES (?1)", [body.as_ref()])
    })
    .await;
    match inserted {
        Ok(Ok(_)) => StatusCode::OK,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Counts the process's fsyncs by defining `fsync` and `fdatasync` in this
/// executable: the statically linked SQLite binds to these before libc's,
/// and they make the system call themselves.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod fsync {
    use std::os::raw::{c_int, c_long};
    use std::sync::atomic::{AtomicU64, Ordering};

    #[cfg(target_arch = "x86_64")]
    const SYS_FSYNC: c_long = 74;
    #[cfg(target_arch = "x86_64")]
    const SYS_FDATASYNC: c_long = 75;
    #[cfg(target_arch = "aarch64")]
    const SYS_FSYNC: c_long = 82;
    #[cfg(target_arch = "aarch64")]
    const SYS_FDATASYNC: c_long = 83;

    static CALLS: AtomicU64 = AtomicU64::new(0);

    unsafe extern "C" {
        fn syscall(number: c_long, ...) -> c_long;
    }

    fn counted(number: c_long, fd: c_int) -> c_int {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: fsync and fdatasync take one descriptor and touch no
        // memory of ours; libc's `syscall` sets errno as the wrappers would.
        let rc = unsafe { syscall(number, fd) };
        c_int::try_from(rc).unwrap_or(-1)
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn fsync(fd: c_int) -> c_int {
        counted(SYS_FSYNC, fd)
    }

    #[unsafe(no_mangle)]
    pub extern "C" fn fdatasync(fd: c_int) -> c_int {
        counted(SYS_FDATASYNC, fd)
    }

    pub fn count() -> Option<u64> {
        Some(CALLS.load(Ordering::Relaxed))
    }

    pub fn since(before: Option<u64>) -> Option<u64> {
        Some(CALLS.load(Ordering::Relaxed) - before.unwrap_or(0))
    }

    pub fn per_message(fsyncs: Option<u64>, messages: usize) -> String {
        match fsyncs {
            Some(n) => format!("{:.2}", n as f64 / messages as f64),
            None => "?".into(),
        }
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod fsync {
    pub fn count() -> Option<u64> {
        None
    }

    pub fn since(_: Option<u64>) -> Option<u64> {
        None
    }

    pub fn per_message(_: Option<u64>, _: usize) -> String {
        "(not counted on this platform)".into()
    }
}
