//! What the serve tests share: the simulators, the PKI, a config file
//! with a `[serve]` section for two users (ada and bob) listening on `listen`,
//! and `casebridge serve` on it as a child process.

// Each test binary compiles this module and uses its own part of it; the
// directory and simulators are held only to keep them alive.
#![allow(dead_code)]

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

pub const AGENT_KEY: &str = "serve-api-agent-key";
pub const ADA_PASSWORD: &str = "ada-password-0451";
pub const BOB_PASSWORD: &str = "bob-password-7731";

pub struct Backends {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    /// Where the PKI's PEM files are (`paths.ca.cert` is serve's CA too).
    pub paths: TestPkiPaths,
    pub gsem: GsemSim,
    pub sn: ServiceNowSim,
    /// An incident the sync reads, to open cases on.
    pub incident: String,
    pub config_path: PathBuf,
    pub store_path: PathBuf,
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

impl Backends {
    /// The simulators, and the config written; `listen` is `[serve] listen`.
    /// HPE answers only when a test says so.
    pub async fn start(listen: &str) -> Backends {
        Backends::start_with(listen, None).await
    }

    /// [`Backends::start`] with HPE accepting every new case by itself
    /// `hpe_answer_delay` after GSEM took it, when given.
    pub async fn start_with(listen: &str, hpe_answer_delay: Option<Duration>) -> Backends {
        casebridge::tls::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate("casebridge.serve").unwrap();
        let paths = pki.write_to(&dir.path().join("pki")).unwrap();
        let tls = server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )
        .unwrap();
        let mut sim = GsemSimConfig::new(Arc::new(tls), AGENT_KEY);
        sim.provider.answer_delay = hpe_answer_delay;
        let gsem = GsemSim::start(sim).await.unwrap();
        let sn = ServiceNowSim::start(SimConfig::default()).await.unwrap();
        let incident = sn
            .create_incident(&NewIncident::new("Slingshot fabric manager down"))
            .unwrap()
            .get("number")
            .to_owned();
        write_private(&dir.path().join("secrets/agent-key"), AGENT_KEY);
        write_private(
            &dir.path().join("secrets/sn-password"),
            INTEGRATION_PASSWORD,
        );
        let config_path = dir.path().join("config.toml");
        let store_path = dir.path().join("data/casebridge.db");
        let text = format!(
            r#"
[site]
organization = "Serve Lab"
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

[[operators]]
id = "bob"
first_name = "Bob"
last_name = "Kahn"

[[systems]]
name = "compute"
serial = "SN0001"
contract = "CN0001"
cmdb_ci = "ci-0001"

[gsem]
environment = "prod"
[gsem.prod]
base_url = "{base}"
agent_key = {{ file = "secrets/agent-key" }}
remote_agent_name = "SFDC_Train_REST_P042"
remote_agent_type = "CUSTOMER"
mode = "pull"
poll_interval = "100ms"
client_cert = "{client_cert}"
client_key = "{client_key}"
ca_bundle = "{ca}"
request_timeout = "2s"
backoff_start = "50ms"
backoff_cap = "300ms"

[servicenow]
instance_url = "{sn}"
allow_insecure_http = true
user = "{INTEGRATION_USER}"
password = {{ file = "secrets/sn-password" }}
poll_interval = "1s"
request_timeout = "2s"
backoff_start = "50ms"
backoff_cap = "1s"
sync_state_to_incident = false
close_case_when_incident_resolved = false

[store]
path = "{store}"

[serve]
listen = "{listen}"
tls_cert = "{server_cert}"
tls_key = "{server_key}"

[[serve.users]]
name = "ada"
password_hash = "{ada_hash}"
operator = "ada"

[[serve.users]]
name = "bob"
password_hash = "{bob_hash}"
operator = "bob"
"#,
            base = gsem.base_url(),
            client_cert = paths.client.cert.display(),
            client_key = paths.client.key.display(),
            ca = paths.ca.cert.display(),
            sn = sn.base_url(),
            store = store_path.display(),
            server_cert = paths.server.cert.display(),
            server_key = paths.server.key.display(),
            ada_hash = config::hash_password(ADA_PASSWORD).unwrap(),
            bob_hash = config::hash_password(BOB_PASSWORD).unwrap(),
        );
        write_private(&config_path, &text);
        Backends {
            dir,
            pki,
            paths,
            gsem,
            sn,
            incident,
            config_path,
            store_path,
        }
    }

    /// An HTTPS client that trusts the test CA only.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(
                self.pki.ca.cert().cert_pem().as_bytes(),
            )
            .unwrap()])
            .build()
            .unwrap()
    }
}

/// A loopback port nobody listens on now, for a `listen` that must stay the
/// same across restarts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `casebridge serve` on the backends' config, its stderr in a
/// file of its own (`stderr/serve-NNN.log` in the backends' directory);
/// killed on drop.
pub struct ServeProcess {
    child: Child,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts `casebridge serve` and waits until its console API listens.
    pub fn spawn(backends: &Backends) -> ServeProcess {
        let dir = backends.dir.path();
        let logs = dir.join("stderr");
        std::fs::create_dir_all(&logs).unwrap();
        let n = std::fs::read_dir(&logs).unwrap().count();
        let log = logs.join(format!("serve-{n:03}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_casebridge"))
            .arg("serve")
            .arg("--config")
            .arg(&backends.config_path)
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
        while !serve.stderr().contains("console API listening") {
            if let Some(status) = serve.child.try_wait().unwrap() {
                panic!(
                    "casebridge serve exited with {status} before its API listened:\n{}",
                    serve.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "casebridge serve's API did not listen within 30 s:\n{}",
                serve.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
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
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // A failed test must not leave serve running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
