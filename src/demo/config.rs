//! The demo's configuration: a real config file written into the demo
//! directory, with the generated certificates and the secrets as files
//! beside it, and loaded by the same validation as a site's file.

use std::path::{Path, PathBuf};

use crate::config::{self, Settings};
use crate::sim::pki::TestPkiPaths;
use crate::sim::servicenow::{INTEGRATION_PASSWORD, INTEGRATION_USER};

use super::DemoError;

/// The GSEM agent key the simulator expects; a demo-only value.
pub const AGENT_KEY: &str = "casebridge-demo-agent-key";
/// The agent name the simulator answers to (its default).
pub const REMOTE_AGENT: &str = "SFDC_Train_REST_P042";
/// The demo's store, in the demo directory.
pub const STORE_FILE: &str = "casebridge-demo.db";
/// The operator the demo console runs as.
pub const OPERATOR: &str = "demo";

/// An HPE system of the demo, and the ServiceNow CI that designates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSystem {
    pub name: &'static str,
    pub serial: &'static str,
    pub contract: &'static str,
    pub product_number: Option<&'static str>,
    /// The CI's name in the ServiceNow simulator's seed.
    pub ci_name: &'static str,
}

/// The systems under contract, one per Perlmutter CI HPE supports (the
/// facility power has no HPE contract, as at a real site).
pub const SYSTEMS: [DemoSystem; 3] = [
    DemoSystem {
        name: "Compute nodes",
        serial: "5UF044F7CY",
        contract: "2155240525",
        product_number: Some("R4K95A"),
        ci_name: "Perlmutter",
    },
    DemoSystem {
        name: "Slingshot fabric",
        serial: "5UF044F8SS",
        contract: "2155240525",
        product_number: None,
        ci_name: "Perlmutter Slingshot",
    },
    DemoSystem {
        name: "Scratch storage",
        serial: "CZ2D1504KP",
        contract: "2155240526",
        product_number: None,
        ci_name: "perlmutter-scratch",
    },
];

/// Where the simulators listen and what the config refers to.
pub struct Endpoints<'a> {
    pub gsem_url: &'a str,
    pub servicenow_url: &'a str,
    pub pki: &'a TestPkiPaths,
    /// The sys_id of each [`SYSTEMS`] entry's CI, in the same order.
    pub cmdb_cis: &'a [String],
}

/// Writes the secrets and `config.toml` into `dir`, then loads it.
pub fn write_and_load(dir: &Path, endpoints: &Endpoints<'_>) -> Result<Settings, DemoError> {
    let secrets = dir.join("secrets");
    for (name, value) in [
        ("gsem-agent-key", AGENT_KEY),
        ("servicenow-password", INTEGRATION_PASSWORD),
    ] {
        write_private(&secrets.join(name), value)?;
    }
    let path = dir.join("config.toml");
    let text = config_text(dir, endpoints);
    write_private(&path, &text)?;
    Ok(config::load_str(&text, &path)?)
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, contents: &str) -> Result<(), DemoError> {
    let io = |source| DemoError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, contents).map_err(io)?;
    make_private(path)
}

/// Secrets and keys are the owner's only, as `doctor` asks of a site.
pub(super) fn make_private(path: &Path) -> Result<(), DemoError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        DemoError::Io {
            action: "restrict the permissions of",
            path: path.to_path_buf(),
            source,
        }
    })
}

fn toml_path(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

fn config_text(dir: &Path, e: &Endpoints<'_>) -> String {
    let mut systems = String::new();
    for (system, ci) in SYSTEMS.iter().zip(e.cmdb_cis) {
        systems.push_str(&format!(
            "[[systems]]\nname = \"{}\"\nserial = \"{}\"\ncontract = \"{}\"\ncmdb_ci = \"{ci}\"\n",
            system.name, system.serial, system.contract
        ));
        if let Some(pn) = system.product_number {
            systems.push_str(&format!("product_number = \"{pn}\"\n"));
        }
        systems.push('\n');
    }
    let store: PathBuf = dir.join(STORE_FILE);
    format!(
        r#"# The embedded demo's configuration, generated at start-up. Nothing here
# is real: both servers are simulators on loopback.

[site]
organization = "NERSC"
[site.address]
street = "1 Cyclotron Rd"
street2 = "Building 59"
city = "Berkeley"
region = "CA"
postal_code = "94720"
country = "US"
[site.contact]
first_name = "NERSC"
last_name = "Operations"
phone = "5104866821"
email = "operator@nersc.example"
[site.alternate_contact]
first_name = "NERSC"
last_name = "Night Shift"
phone = "5104866822"
email = "nightshift@nersc.example"

[[operators]]
id = "{OPERATOR}"
first_name = "Demo"
last_name = "Operator"
email = "demo.operator@nersc.example"

{systems}[gsem]
environment = "prod"
[gsem.prod]
base_url = "{gsem}"
agent_key = {{ file = "secrets/gsem-agent-key" }}
remote_agent_name = "{REMOTE_AGENT}"
remote_agent_type = "CUSTOMER"
mode = "pull"
poll_interval = "500ms"
client_cert = {client_cert}
client_key = {client_key}
ca_bundle = {ca}
request_timeout = "10s"
backoff_start = "200ms"
backoff_cap = "3s"

[servicenow]
instance_url = "{servicenow}"
allow_insecure_http = true
user = "{INTEGRATION_USER}"
password = {{ file = "secrets/servicenow-password" }}
poll_interval = "2s"
request_timeout = "10s"
backoff_start = "200ms"
backoff_cap = "5s"
time_zone = "America/Los_Angeles"
mark_hold_reason = true
[servicenow.mirror]
enabled = true

[store]
path = {store}

[log]
filter = "info,casebridge=debug"
"#,
        gsem = e.gsem_url,
        servicenow = e.servicenow_url,
        client_cert = toml_path(&e.pki.client.cert),
        client_key = toml_path(&e.pki.client.key),
        ca = toml_path(&e.pki.ca.cert),
        store = toml_path(&store),
    )
}
