//! The certification rig: the GSEM simulator over mutual TLS on loopback, a
//! ServiceNow simulator for the engine's `[servicenow]` section, a config
//! file in a tempdir, the engine (in-process or the real binary as a child
//! process), the store opened beside it, and waits that poll with deadlines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge::config::{self, Settings};
use casebridge::engine::destination;
use casebridge::gsem::actions::{Actions, OpenCase};
use casebridge::gsem::shared::SharedStore;
use casebridge::sim::gsem::{Delivery, GsemSim, GsemSimConfig, PushAuth, PushConfig, Received};
use casebridge::sim::pki::{ClientAuth, TestPki, TestPkiPaths, server_config};
use casebridge::sim::servicenow::{
    INTEGRATION_PASSWORD, INTEGRATION_USER, ServiceNowSim, SimConfig,
};
use casebridge::sis::{ActivityTable, Address, MessageBuilder, Person, Requester};
use casebridge::store::prelude::*;
use casebridge::store::{
    CaseRow, InboxRow, JournalRow, NewCase, Origin, OutboxRow, QuarantineRow, QuarantineState,
    Role, Store,
};
use tokio::sync::Notify;

pub const AGENT_KEY: &str = "certification-agent-key";
pub const WEBHOOK_TOKEN: &str = "certification-webhook-token";
pub const WEBHOOK_PATH: &str = "/gsem/message";
#[path = "../support/lab.rs"]
mod lab;
pub use lab::ServeProcess;

/// The operator the lab's config names first.
pub const OPERATOR: &str = "ada";

// ---------------------------------------------------------------------------
// Seeded randomness: the seed is printed at start and named in every
// assertion message, so a failing run can be repeated exactly.

/// The seed from `CASEBRIDGE_TEST_SEED`, else the clock; printed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("CASEBRIDGE_TEST_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            (nanos as u64) | 1
        });
    eprintln!("{test}: seed {seed} (repeat with CASEBRIDGE_TEST_SEED={seed})");
    seed
}

/// xorshift64*: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------
// Text that must survive byte for byte.

/// Quotes, backslashes, CR LF, tabs, NUL, emoji (with a ZWJ sequence) and
/// right-to-left text with bidi controls.
pub const HOSTILE: &str = "\"quoted\" \\back\\slash\\ \r\n\ttab\t NUL\u{0}here 🚀👩‍💻🇫🇷 \
                           שלום עולם مرحبا بالعالم \u{202E}reversed\u{202C} \\u0000 '\"' ";

/// `tag`, then hostile text repeated, exactly `len` bytes long.
pub fn hostile(tag: &str, len: usize) -> String {
    let mut text = format!("{tag} ");
    while text.len() < len {
        text.push_str(HOSTILE);
    }
    let mut cut = len.min(text.len());
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    while text.len() < len {
        text.push('x');
    }
    text
}

// ---------------------------------------------------------------------------
// The rig.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Pull,
    Push,
}

/// How the simulators and the engine's config are set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// The engine's receiving mode.
    pub mode: Mode,
    /// Whether the simulator pushes to the engine (push mode only).
    pub sim_pushes: bool,
    pub answer_delay: Option<Duration>,
    pub contracts: Option<BTreeMap<String, String>>,
    pub request_timeout: &'static str,
    pub body_limit: &'static str,
}

impl Options {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            sim_pushes: mode == Mode::Push,
            answer_delay: None,
            contracts: None,
            request_timeout: "2s",
            body_limit: "8MiB",
        }
    }
}

pub struct Rig {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    pub paths: TestPkiPaths,
    pub gsem: GsemSim,
    pub servicenow: ServiceNowSim,
    pub options: Options,
    pub config_path: PathBuf,
    pub store_path: PathBuf,
    pub push_port: u16,
    /// Printed in every assertion message.
    pub seed: u64,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Rig {
    pub async fn start(options: Options, seed: u64) -> Rig {
        casebridge::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate("casebridge.certification").unwrap();
        let paths = pki.write_to(&dir.path().join("pki")).unwrap();
        let tls = server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )
        .unwrap();
        let push_port = free_port();
        let mut sim = GsemSimConfig::new(Arc::new(tls), AGENT_KEY);
        sim.provider.answer_delay = options.answer_delay;
        sim.contracts = options.contracts.clone();
        if options.sim_pushes {
            let mut push = PushConfig::new(format!("https://127.0.0.1:{push_port}{WEBHOOK_PATH}"));
            push.auth = PushAuth::Bearer(WEBHOOK_TOKEN.into());
            push.ca_pem = Some(pki.ca.cert().cert_pem().to_owned());
            push.timeout = Duration::from_secs(5);
            push.backoff_start = Duration::from_millis(20);
            push.backoff_cap = Duration::from_millis(300);
            sim.delivery = Delivery::Push(push);
        }
        let gsem = GsemSim::start(sim).await.unwrap();
        let servicenow = ServiceNowSim::start(SimConfig::default()).await.unwrap();
        let rig = Rig {
            config_path: dir.path().join("config.toml"),
            store_path: dir.path().join("data").join("casebridge.db"),
            dir,
            pki,
            paths,
            gsem,
            servicenow,
            options,
            push_port,
            seed,
        };
        for (name, secret) in [
            ("agent-key", AGENT_KEY),
            ("sn-password", INTEGRATION_PASSWORD),
            ("webhook-token", WEBHOOK_TOKEN),
        ] {
            let path = rig.dir.path().join("secrets").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, secret).unwrap();
        }
        rig.write_config(rig.options.body_limit);
        rig
    }

    /// Writes the engine's config with this inbound body limit.
    pub fn write_config(&self, body_limit: &str) {
        let mode = match self.options.mode {
            Mode::Pull => "pull",
            Mode::Push => "push",
        };
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
mode = "{mode}"
poll_interval = "100ms"
client_cert = "{client_cert}"
client_key = "{client_key}"
ca_bundle = "{ca}"
request_timeout = "{timeout}"
backoff_start = "50ms"
backoff_cap = "1s"
inbound_body_limit = "{body_limit}"
[gsem.prod.webhook]
listen = "127.0.0.1:{port}"
path = "{WEBHOOK_PATH}"
tls_cert = "{server_cert}"
tls_key = "{server_key}"
auth = "bearer"
token = {{ file = "secrets/webhook-token" }}

[servicenow]
instance_url = "{sn}"
allow_insecure_http = true
user = "{INTEGRATION_USER}"
password = {{ file = "secrets/sn-password" }}
poll_interval = "2s"
request_timeout = "2s"
backoff_start = "50ms"
backoff_cap = "1s"
sync_state_to_incident = false
close_case_when_incident_resolved = false

[store]
path = "{store}"

[log]
filter = "info"
"#,
            site = lab::site_toml_with("Certification Lab", &[], &[lab::COMPUTE, lab::STORAGE]),
            base = self.gsem.base_url(),
            client_cert = p.client.cert.display(),
            client_key = p.client.key.display(),
            ca = p.ca.cert.display(),
            timeout = self.options.request_timeout,
            port = self.push_port,
            server_cert = p.server.cert.display(),
            server_key = p.server.key.display(),
            sn = self.servicenow.base_url(),
            store = self.store_path.display(),
        );
        std::fs::write(&self.config_path, text).unwrap();
    }

    pub fn settings(&self) -> Settings {
        config::load(&self.config_path).unwrap()
    }

    /// A store handle beside the engine (no engine lock).
    pub fn tool_store(&self) -> SharedStore {
        Arc::new(Mutex::new(
            Store::open(&self.store_path, Role::Tool).unwrap(),
        ))
    }

    /// Actions on a tool store: rows committed here are found by the
    /// engine's drainer polling the store.
    pub fn tool_actions(&self, store: &SharedStore) -> Actions {
        Actions::new(
            Arc::clone(store),
            MessageBuilder::new(destination(&self.settings()), ActivityTable::default()),
            Arc::new(Notify::new()),
        )
    }

    /// Starts `casebridge serve` and waits until it says it runs.
    pub fn spawn_engine(&self) -> ServeProcess {
        ServeProcess::spawn(
            self.dir.path(),
            &self.config_path,
            "engine started",
            &self.ctx(),
        )
    }

    pub fn ctx(&self) -> String {
        format!("seed {}", self.seed)
    }
}

/// What opening case `incident` on system (`serial`, `contract`) sends.
pub fn open_case(
    incident: &str,
    title: &str,
    description: &str,
    serial: &str,
    contract: &str,
) -> OpenCase {
    OpenCase {
        case: NewCase {
            incident_number: incident.into(),
            severity: "MAJOR".into(),
            title: title.into(),
            description: description.into(),
            system_id: None,
            opened_by: OPERATOR.into(),
        },
        requester: Requester {
            organization_name: "Certification Lab".into(),
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
            alternate: Some(Person {
                first_name: "Night".into(),
                last_name: "Shift".into(),
                phone: "+1 217 555 0101".into(),
                email: "night@example.org".into(),
            }),
        },
        contract: contract.into(),
        serial: serial.into(),
    }
}

// ---------------------------------------------------------------------------
// Waiting and observing.

/// Polls `condition` every 25 ms until it holds; panics after `timeout`.
pub async fn wait_until(what: &str, ctx: &str, timeout: Duration, condition: impl FnMut() -> bool) {
    assert!(
        try_wait_until(timeout, condition).await,
        "timed out after {timeout:?} waiting for {what} ({ctx})"
    );
}

/// Polls `condition` every 25 ms; false if it did not hold within `timeout`.
pub async fn try_wait_until(timeout: Duration, condition: impl FnMut() -> bool) -> bool {
    try_wait_every(Duration::from_millis(25), timeout, condition).await
}

/// Polls `condition` every `every`; false if it did not hold within `timeout`.
pub async fn try_wait_every(
    every: Duration,
    timeout: Duration,
    mut condition: impl FnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while !condition() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(every).await;
    }
    true
}

/// The bodies of the POSTs the simulator acknowledged OK, in order, with
/// consecutive repeats (a resend after a lost reply) collapsed.
pub fn accepted_bodies(received: &[Received]) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    for r in received.iter().filter(|r| r.is_accepted()) {
        if bodies.last() != Some(&r.body) {
            bodies.push(r.body.clone());
        }
    }
    bodies
}

/// The ids of a table, in order (ids may have gaps: a deduplicated insert
/// may use up an AUTOINCREMENT value).
fn ids(store: &Store, table: &str, key: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut statement = conn
        .prepare(&format!("SELECT {key} FROM {table} ORDER BY {key}"))
        .unwrap();
    statement
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

pub fn outbox_rows(store: &Store) -> Vec<OutboxRow> {
    ids(store, "outbox", "seq")
        .into_iter()
        .map(|seq| store.outbox_get(seq).unwrap().unwrap())
        .collect()
}

pub fn inbox_rows(store: &Store) -> Vec<InboxRow> {
    ids(store, "inbox", "id")
        .into_iter()
        .map(|id| store.inbox_get(id).unwrap().unwrap())
        .collect()
}

pub fn quarantine(store: &Store) -> Vec<QuarantineRow> {
    store.quarantine_list(QuarantineState::Open).unwrap()
}

pub fn case(store: &SharedStore, id: i64) -> CaseRow {
    store.lock().unwrap().case_by_id(id).unwrap().unwrap()
}

/// What HPE wrote on the case, oldest first.
pub fn hpe_journal(store: &SharedStore, case_id: i64) -> Vec<JournalRow> {
    store
        .lock()
        .unwrap()
        .journal_for_case(case_id)
        .unwrap()
        .into_iter()
        .filter(|j| j.entry.origin == Origin::Hpe)
        .collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}
