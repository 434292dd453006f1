//! The lab the engine-backed tests share: the test PKI, the GSEM simulator
//! behind mutual TLS, the ServiceNow simulator with one incident, the
//! secrets written 0600, and a site config naming all of them, rendered
//! from [`LabOptions`].

// Each test binary compiles this module and uses its own part of it; the
// benchmarks compile it too, and a lab that cannot start is a panic there
// as in a test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use casebridge::config;
use casebridge::sim::gsem::{GsemSim, GsemSimConfig};
use casebridge::sim::pki::{ClientAuth, TestPki, TestPkiPaths, server_config};
use casebridge::sim::servicenow::{
    INTEGRATION_PASSWORD, INTEGRATION_USER, NewIncident, ServiceNowSim, SimConfig,
};

/// An operator besides ada, who is always there.
pub struct Operator {
    pub id: &'static str,
    pub first_name: &'static str,
    pub last_name: &'static str,
}

/// A `[[serve.users]]` entry; the password is hashed into the config.
pub struct ServeUser {
    pub name: &'static str,
    pub password: &'static str,
    pub operator: &'static str,
}

/// The `[serve]` section, with the PKI's server certificate.
pub struct Serve {
    pub listen: String,
    pub users: Vec<ServeUser>,
}

/// How GSEM delivers and how hard the engine retries, in `[gsem.prod]`.
pub struct GsemTimings {
    pub mode: &'static str,
    pub poll_interval: &'static str,
    pub request_timeout: &'static str,
    pub backoff_start: &'static str,
    pub backoff_cap: &'static str,
}

/// How often and how hard the sync talks to ServiceNow, in `[servicenow]`.
pub struct ServiceNowTimings {
    pub poll_interval: &'static str,
    pub request_timeout: &'static str,
    pub backoff_start: &'static str,
    pub backoff_cap: &'static str,
}

pub struct LabOptions {
    pub organization: &'static str,
    /// `gsem.environment`, the name of the `[gsem.NAME]` table.
    pub environment: &'static str,
    /// The store's path in the lab's directory.
    pub store: &'static str,
    /// The common name of the client certificate the engine presents.
    pub client_cn: &'static str,
    pub agent_key: &'static str,
    /// HPE accepts each new case by itself this long after GSEM took it;
    /// `None` when only the test answers.
    pub hpe_answer_delay: Option<Duration>,
    /// `sync_state_to_incident` and `close_case_when_incident_resolved`.
    pub sync_back: bool,
    pub extra_operators: Vec<Operator>,
    pub gsem: GsemTimings,
    pub servicenow: ServiceNowTimings,
    pub serve: Option<Serve>,
    /// Appended to the config as it is, for tables of the test's own.
    pub extra_toml: String,
}

impl LabOptions {
    /// Pull delivery polled every 100 ms with short timeouts and backoffs,
    /// no serve section, no answers from HPE unless the test gives them,
    /// nothing written back to incidents.
    pub fn new(
        organization: &'static str,
        client_cn: &'static str,
        agent_key: &'static str,
    ) -> LabOptions {
        LabOptions {
            organization,
            environment: "prod",
            store: "data/casebridge.db",
            client_cn,
            agent_key,
            hpe_answer_delay: None,
            sync_back: false,
            extra_operators: Vec::new(),
            gsem: GsemTimings {
                mode: "pull",
                poll_interval: "100ms",
                request_timeout: "2s",
                backoff_start: "50ms",
                backoff_cap: "300ms",
            },
            servicenow: ServiceNowTimings {
                poll_interval: "1s",
                request_timeout: "2s",
                backoff_start: "50ms",
                backoff_cap: "1s",
            },
            serve: None,
            extra_toml: String::new(),
        }
    }
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    /// Where the PKI's PEM files are, in `certs/` (`paths.ca.cert` is
    /// serve's CA too); the keys are 0600 like a site's.
    pub paths: TestPkiPaths,
    pub gsem: GsemSim,
    pub sn: ServiceNowSim,
    pub config_path: PathBuf,
    pub store_path: PathBuf,
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

impl Lab {
    /// The simulators started and the config written to `config.toml` in a
    /// fresh directory.
    pub async fn start(options: LabOptions) -> Lab {
        casebridge::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(options.client_cn).unwrap();
        let paths = pki.write_to(&dir.path().join("certs")).unwrap();
        for key in [
            &paths.ca.key,
            &paths.server.key,
            &paths.client.key,
            &paths.expired.key,
            &paths.wildcard.key,
        ] {
            std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let tls = server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )
        .unwrap();
        let mut sim = GsemSimConfig::new(Arc::new(tls), options.agent_key);
        sim.provider.answer_delay = options.hpe_answer_delay;
        let gsem = GsemSim::start(sim).await.unwrap();
        let sn = ServiceNowSim::start(SimConfig::default()).await.unwrap();
        write_private(&dir.path().join("secrets/agent-key"), options.agent_key);
        write_private(
            &dir.path().join("secrets/sn-password"),
            INTEGRATION_PASSWORD,
        );
        let lab = Lab {
            config_path: dir.path().join("config.toml"),
            store_path: dir.path().join(options.store),
            dir,
            pki,
            paths,
            gsem,
            sn,
        };
        write_private(&lab.config_path, &lab.render(&options));
        lab
    }

    /// A new incident at the ServiceNow simulator; its number.
    pub fn create_incident(&self, new: &NewIncident) -> String {
        self.sn
            .create_incident(new)
            .unwrap()
            .get("number")
            .to_owned()
    }

    /// The config `options` give for this lab, as [`Lab::start`] wrote it.
    pub fn render(&self, options: &LabOptions) -> String {
        let mut serve = String::new();
        if let Some(section) = &options.serve {
            write!(
                serve,
                "\n[serve]\nlisten = \"{}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                section.listen,
                self.paths.server.cert.display(),
                self.paths.server.key.display(),
            )
            .unwrap();
            for user in &section.users {
                write!(
                    serve,
                    "\n[[serve.users]]\nname = \"{}\"\npassword_hash = \"{}\"\noperator = \"{}\"\n",
                    user.name,
                    config::hash_password(user.password).unwrap(),
                    user.operator,
                )
                .unwrap();
            }
        }
        let g = &options.gsem;
        let s = &options.servicenow;
        format!(
            r#"{site}
[gsem]
environment = "{environment}"
[gsem.{environment}]
base_url = "{base}"
agent_key = {{ file = "secrets/agent-key" }}
remote_agent_name = "SFDC_Train_REST_P042"
remote_agent_type = "CUSTOMER"
mode = "{mode}"
poll_interval = "{gsem_poll}"
client_cert = "{client_cert}"
client_key = "{client_key}"
ca_bundle = "{ca}"
request_timeout = "{gsem_timeout}"
backoff_start = "{gsem_backoff_start}"
backoff_cap = "{gsem_backoff_cap}"

[servicenow]
instance_url = "{sn}"
allow_insecure_http = true
user = "{INTEGRATION_USER}"
password = {{ file = "secrets/sn-password" }}
poll_interval = "{sn_poll}"
request_timeout = "{sn_timeout}"
backoff_start = "{sn_backoff_start}"
backoff_cap = "{sn_backoff_cap}"
sync_state_to_incident = {sync_back}
close_case_when_incident_resolved = {sync_back}

[store]
path = "{store}"
{serve}{extra}"#,
            site = site_toml(options.organization, &options.extra_operators),
            environment = options.environment,
            base = self.gsem.base_url(),
            mode = g.mode,
            gsem_poll = g.poll_interval,
            client_cert = self.paths.client.cert.display(),
            client_key = self.paths.client.key.display(),
            ca = self.paths.ca.cert.display(),
            gsem_timeout = g.request_timeout,
            gsem_backoff_start = g.backoff_start,
            gsem_backoff_cap = g.backoff_cap,
            sn = self.sn.base_url(),
            sn_poll = s.poll_interval,
            sn_timeout = s.request_timeout,
            sn_backoff_start = s.backoff_start,
            sn_backoff_cap = s.backoff_cap,
            sync_back = options.sync_back,
            store = self.store_path.display(),
            extra = options.extra_toml,
        )
    }
}

/// A `[[systems]]` table.
pub struct System {
    pub name: &'static str,
    pub serial: &'static str,
    pub contract: &'static str,
    pub cmdb_ci: &'static str,
}

pub const COMPUTE: System = System {
    name: "compute",
    serial: "SN0001",
    contract: "CN0001",
    cmdb_ci: "ci-0001",
};

pub const STORAGE: System = System {
    name: "storage",
    serial: "SN0002",
    contract: "CN0002",
    cmdb_ci: "ci-0002",
};

/// The `[site]`, `[[operators]]` (ada, then `extra_operators`) and
/// `[[systems]]` (one, [`COMPUTE`]) tables a config starts with; `[gsem]`
/// and the rest follow.
pub fn site_toml(organization: &str, extra_operators: &[Operator]) -> String {
    site_toml_with(organization, extra_operators, &[COMPUTE])
}

/// [`site_toml`] with these systems.
pub fn site_toml_with(
    organization: &str,
    extra_operators: &[Operator],
    systems: &[System],
) -> String {
    let mut operators = String::new();
    for op in extra_operators {
        write!(
            operators,
            "\n[[operators]]\nid = \"{}\"\nfirst_name = \"{}\"\nlast_name = \"{}\"\n",
            op.id, op.first_name, op.last_name
        )
        .unwrap();
    }
    let mut system_tables = String::new();
    for system in systems {
        write!(
            system_tables,
            "\n[[systems]]\nname = \"{}\"\nserial = \"{}\"\ncontract = \"{}\"\ncmdb_ci = \"{}\"\n",
            system.name, system.serial, system.contract, system.cmdb_ci
        )
        .unwrap();
    }
    format!(
        r#"
[site]
organization = "{organization}"
[site.address]
street = "1 Main St"
city = "Springfield"
region = "IL"
postal_code = "62701"
country = "US"
[site.contact]
first_name = "Ops"
last_name = "Desk"
phone = "+1 217 555 0100"
email = "ops@example.org"
[site.alternate_contact]
first_name = "Night"
last_name = "Shift"
phone = "+1 217 555 0101"
email = "night@example.org"

[[operators]]
id = "ada"
first_name = "Ada"
last_name = "Lovelace"
{operators}{system_tables}"#
    )
}

/// The real `casebridge serve` on a config, its stderr in a file of its own
/// (`stderr/serve-NNN.log` under the test's directory); killed on drop.
pub struct ServeProcess {
    child: Child,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts `casebridge serve --config config` with its logs under `dir`
    /// and waits (30 s at most) until its stderr has `ready`; `context` is
    /// named in the panic when it does not.
    pub fn spawn(dir: &Path, config: &Path, ready: &str, context: &str) -> ServeProcess {
        let logs = dir.join("stderr");
        std::fs::create_dir_all(&logs).unwrap();
        let n = std::fs::read_dir(&logs).unwrap().count();
        let log = logs.join(format!("serve-{n:03}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_casebridge"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            // Its log file goes to the tempdir, never to the user's data dir.
            .env("XDG_DATA_HOME", dir.join("xdg-data"))
            .env("HOME", dir)
            .env_remove("CASEBRIDGE_LOG")
            .env_remove("CASEBRIDGE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut serve = ServeProcess { child, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !serve.stderr().contains(ready) {
            if let Some(status) = serve.child.try_wait().unwrap() {
                panic!(
                    "casebridge serve exited with {status} before it said {ready:?} ({context}):\n{}",
                    serve.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "casebridge serve did not say {ready:?} within 30 s ({context}):\n{}",
                serve.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        serve
    }

    /// What it wrote on stderr so far (its log).
    pub fn stderr(&self) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then its exit status once it has stopped (within `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-s", "TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -s TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "casebridge serve still runs {timeout:?} after SIGTERM:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, and reap it.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // A failed test must not leave serve running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
