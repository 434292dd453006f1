//! What the serve tests share: the simulators, the PKI, and a config file
//! with a `[serve]` section for two users (ada and bob) listening on `listen`.

// Each test binary compiles this module and uses its own part of it; the
// directory and simulators are held only to keep them alive.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use casebridge::config;
use casebridge::sim::gsem::{GsemSim, GsemSimConfig};
use casebridge::sim::pki::{ClientAuth, TestPki, server_config};
use casebridge::sim::servicenow::{
    INTEGRATION_PASSWORD, INTEGRATION_USER, NewIncident, ServiceNowSim, SimConfig,
};

pub const AGENT_KEY: &str = "serve-api-agent-key";
pub const ADA_PASSWORD: &str = "ada-password-0451";
pub const BOB_PASSWORD: &str = "bob-password-7731";

pub struct Backends {
    pub dir: tempfile::TempDir,
    pub pki: TestPki,
    pub gsem: GsemSim,
    pub sn: ServiceNowSim,
    /// An incident the sync reads, to open cases on.
    pub incident: String,
    pub config_path: PathBuf,
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

impl Backends {
    /// The simulators, and the config written; `listen` is `[serve] listen`.
    pub async fn start(listen: &str) -> Backends {
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
        // HPE answers only when a test says so.
        sim.provider.answer_delay = None;
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
            store = dir.path().join("data/casebridge.db").display(),
            server_cert = paths.server.cert.display(),
            server_key = paths.server.key.display(),
            ada_hash = config::hash_password(ADA_PASSWORD).unwrap(),
            bob_hash = config::hash_password(BOB_PASSWORD).unwrap(),
        );
        write_private(&config_path, &text);
        Backends {
            dir,
            pki,
            gsem,
            sn,
            incident,
            config_path,
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
