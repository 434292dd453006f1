#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `casebridge doctor` against a real set-up on loopback: the GSEM
//! simulator over mutual TLS, the ServiceNow simulator, certificates from
//! the test PKI and a store on disk, all named by a config file. The
//! healthy set-up passes; each test then breaks one thing and checks the
//! line that says so, with its fix, and the exit status.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use casebridge::doctor::{self, DoctorArgs, DoctorReport, Status};
use casebridge::sim::gsem::Fault;
use casebridge::sim::servicenow::{INTEGRATION_USER, NewIncident};
use casebridge::store::{Role, SCHEMA_VERSION, Store};

#[path = "support/lab.rs"]
mod lab;
use lab::{Lab, LabOptions, write_private};

const AGENT_KEY: &str = "doctor-test-agent-key";

struct SetUp {
    lab: Lab,
    /// The test incident's number.
    incident: String,
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The healthy set-up: a dev environment, 5 s timeouts, the store next to
/// the config.
fn options() -> LabOptions {
    let mut options = LabOptions::new("Example Lab", "casebridge.example.org", AGENT_KEY);
    options.environment = "dev";
    options.store = "casebridge.db";
    options.gsem.request_timeout = "5s";
    options.servicenow.request_timeout = "5s";
    options
}

impl SetUp {
    async fn start() -> SetUp {
        let lab = Lab::start(options()).await;
        let set_up = SetUp {
            incident: lab.create_incident(&NewIncident::new("doctor test incident")),
            lab,
        };
        drop(Store::open(&set_up.lab.store_path, Role::Engine { demo: false }).unwrap());
        set_up
    }

    fn path(&self, name: &str) -> PathBuf {
        self.lab.dir.path().join(name)
    }

    fn write_secret(&self, name: &str, value: &str) {
        write_private(&self.path(name), &format!("{value}\n"));
    }

    fn gsem_url(&self) -> String {
        format!("{}redfish/v1/gsem", self.lab.gsem.base_url())
    }

    fn sn_url(&self) -> String {
        format!("{}/", self.lab.sn.base_url())
    }

    /// The healthy config, changed by `edit`.
    fn write_config(&self, edit: impl FnOnce(String) -> String) {
        write_private(&self.lab.config_path, &edit(self.lab.render(&options())));
    }

    async fn doctor(&self, args: &DoctorArgs) -> (DoctorReport, String) {
        let mut out = Vec::new();
        let report = doctor::run(Some(&self.path("config.toml")), args, &mut out)
            .await
            .unwrap();
        (report, String::from_utf8(out).unwrap())
    }

    async fn doctor_probing(&self) -> (DoctorReport, String) {
        self.doctor(&DoctorArgs {
            probe_journal: Some(self.incident.clone()),
            json: false,
        })
        .await
    }
}

/// The line of check `name`, as printed.
fn line<'a>(output: &'a str, name: &str) -> &'a str {
    output
        .lines()
        .find(|l| {
            l.get(5..)
                .is_some_and(|rest| rest.starts_with(&format!("{name}: ")))
        })
        .unwrap_or_else(|| panic!("no {name} line in\n{output}"))
}

fn statuses(report: &DoctorReport) -> Vec<(&'static str, Status)> {
    report.checks.iter().map(|c| (c.name, c.status)).collect()
}

/// Only the named checks failed, and the exit status says so.
fn assert_fails_only(report: &DoctorReport, output: &str, names: &[&str]) {
    let failed: Vec<&str> = report.failures().map(|c| c.name).collect();
    assert_eq!(failed, names, "{output}");
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn passes_on_the_demo_set_up() {
    let s = SetUp::start().await;
    let d = |name: &str| s.path(name).display().to_string();

    // Reading only, before any comment exists: the empty journal is a warning.
    let (report, output) = s.doctor(&DoctorArgs::default()).await;
    assert!(report.passed(), "{output}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(
        line(&output, "journal"),
        format!(
            "warn journal: sys_journal_field shows no comments entries to {INTEGRATION_USER}: either there are none yet, or an ACL hides them (ServiceNow answers an empty list, not an error). Fix: Run `casebridge doctor --probe-journal <test incident>`: it writes a probe comment and reads it back"
        )
    );

    let (report, output) = s.doctor_probing().await;
    use Status::Ok;
    assert_eq!(
        statuses(&report),
        vec![
            ("config", Ok),
            ("config permissions", Ok),
            ("key permissions", Ok),
            ("secret permissions", Ok),
            ("secret permissions", Ok),
            ("client certificate", Ok),
            ("certificate validity", Ok),
            ("certificate host", Ok),
            ("gsem CA", Ok),
            ("gsem", Ok),
            ("servicenow CA", Ok),
            ("servicenow", Ok),
            ("journal", Ok),
            ("store", Ok),
            ("store lock", Ok),
            ("outbox", Ok),
            ("quarantine", Ok),
        ],
        "{output}"
    );
    assert_eq!(report.exit_code(), 0);
    assert_eq!(output.lines().count(), report.checks.len());
    let expected = [
        format!(
            "ok   config: {} (GSEM environment dev, 1 system(s), 1 operator(s))",
            d("config.toml")
        ),
        format!(
            "ok   config permissions: {} is not readable by others (mode 0600)",
            d("config.toml")
        ),
        format!(
            "ok   key permissions: {} is not readable by others (mode 0600)",
            d("certs/client.key")
        ),
        format!(
            "ok   client certificate: {} (CN=casebridge.example.org) and its key {} match",
            d("certs/client.crt"),
            d("certs/client.key")
        ),
        format!(
            "ok   certificate host: {} names CN=casebridge.example.org",
            d("certs/client.crt")
        ),
        format!(
            "ok   gsem CA: {} holds 1 certificate(s), pinning GSEM's certificate",
            d("certs/ca.crt")
        ),
        format!(
            "ok   gsem: GET {}: 200 with its configuration for agent SFDC_Train_REST_P042 (CUSTOMER)",
            s.gsem_url()
        ),
        "ok   servicenow CA: servicenow.ca_bundle is not set: the instance's certificate is checked against the system's roots".to_owned(),
        format!(
            "ok   servicenow: signed in to {} as {INTEGRATION_USER}; the incident table answers (1 incident(s) match servicenow.incident_query)",
            s.sn_url()
        ),
        format!(
            "ok   journal: wrote a probe to comments of {} and read it back from sys_journal_field",
            s.incident
        ),
        format!(
            "ok   store: {}: integrity ok, schema version {SCHEMA_VERSION}",
            d("casebridge.db")
        ),
        "ok   store lock: free: no engine is running on this store".to_owned(),
        "ok   outbox: empty".to_owned(),
        "ok   quarantine: nothing waits for the operator".to_owned(),
    ];
    for want in &expected {
        assert!(
            output.lines().any(|l| l == want),
            "missing {want:?} in\n{output}"
        );
    }
    let secrets: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("ok   secret permissions: "))
        .collect();
    assert_eq!(
        secrets,
        vec![
            format!(
                "ok   secret permissions: {} (gsem.dev.agent_key) is not readable by others (mode 0600)",
                d("secrets/agent-key")
            ),
            format!(
                "ok   secret permissions: {} (servicenow.password) is not readable by others (mode 0600)",
                d("secrets/sn-password")
            ),
        ]
    );
    assert!(
        line(&output, "certificate validity").starts_with(&format!(
            "ok   certificate validity: {} expires at 4096-01-01T00:00:00+00:00, in ",
            d("certs/client.crt")
        )),
        "{output}"
    );
    let probes = s.lab.sn.journal(&s.incident).unwrap();
    assert_eq!(probes.len(), 1);
    assert!(
        probes[0].value.starts_with("casebridge doctor probe "),
        "{}",
        probes[0].value
    );

    // With an entry there, reading alone proves the table readable.
    let (_, output) = s.doctor(&DoctorArgs::default()).await;
    assert_eq!(
        line(&output, "journal"),
        "ok   journal: sys_journal_field is readable (1 comments entries)"
    );

    // A running engine is named, not disturbed.
    let engine = Store::open(&s.path("casebridge.db"), Role::Engine { demo: false }).unwrap();
    let (report, output) = s.doctor(&DoctorArgs::default()).await;
    assert!(report.passed(), "{output}");
    assert!(
        line(&output, "store lock").starts_with(&format!(
            "ok   store lock: held by the engine, pid {} (",
            std::process::id()
        )),
        "{output}"
    );
    drop(engine);
}

#[tokio::test]
async fn json_gives_the_same_checks_as_one_document() {
    let s = SetUp::start().await;
    let (report, output) = s
        .doctor(&DoctorArgs {
            probe_journal: None,
            json: true,
        })
        .await;
    let value: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(value["passed"], serde_json::json!(true));
    let checks = value["checks"].as_array().unwrap();
    assert_eq!(checks.len(), report.checks.len());
    assert_eq!(checks[0]["name"], "config");
    assert_eq!(checks[0]["status"], "ok");
    assert_eq!(checks[0]["fix"], serde_json::Value::Null);
}

#[tokio::test]
async fn a_key_of_another_certificate_fails() {
    let s = SetUp::start().await;
    s.write_config(|t| t.replace("certs/client.key", "certs/expired.key"));
    let (report, output) = s.doctor_probing().await;
    assert_eq!(
        line(&output, "client certificate"),
        format!(
            "FAIL client certificate: the key in {key} does not belong to the certificate in {cert}. Fix: Set gsem.dev.client_key to the key generated with that certificate: `openssl x509 -noout -pubkey -in {cert}` and `openssl pkey -pubout -in {key}` print the same key when they match",
            key = s.path("certs/expired.key").display(),
            cert = s.path("certs/client.crt").display(),
        )
    );
    assert_eq!(
        line(&output, "gsem"),
        "skip gsem: not contacted: fix the certificate problems above first"
    );
    assert_fails_only(&report, &output, &["client certificate"]);
}

#[tokio::test]
async fn an_expired_certificate_fails() {
    let s = SetUp::start().await;
    s.write_config(|t| {
        t.replace("certs/client.crt", "certs/expired.crt")
            .replace("certs/client.key", "certs/expired.key")
    });
    let (report, output) = s.doctor_probing().await;
    assert_eq!(
        line(&output, "certificate validity"),
        format!(
            "FAIL certificate validity: {} expired at 2021-01-01T00:00:00+00:00. Fix: Renew it, have HPE register the new certificate, and point gsem.dev.client_cert at it",
            s.path("certs/expired.crt").display()
        )
    );
    // The key is still checked, and matches.
    assert!(
        line(&output, "client certificate").starts_with("ok   client certificate: "),
        "{output}"
    );
    assert_eq!(
        line(&output, "gsem"),
        "skip gsem: not contacted: fix the certificate problems above first"
    );
    assert_fails_only(&report, &output, &["certificate validity"]);
}

#[tokio::test]
async fn a_wildcard_certificate_fails() {
    let s = SetUp::start().await;
    s.write_config(|t| {
        t.replace("certs/client.crt", "certs/wildcard.crt")
            .replace("certs/client.key", "certs/wildcard.key")
    });
    let (report, output) = s.doctor_probing().await;
    assert_eq!(
        line(&output, "certificate host"),
        format!(
            "FAIL certificate host: {} names a wildcard host (*.example.test), which HPE refuses. Fix: Request a certificate for this host's own name (no *.) and have HPE register it",
            s.path("certs/wildcard.crt").display()
        )
    );
    // The simulator, like any TLS server, refuses a server-only certificate
    // offered as a client certificate.
    let gsem = line(&output, "gsem");
    assert!(
        gsem.starts_with(&format!(
            "FAIL gsem: GET {}: TLS handshake failed: ",
            s.gsem_url()
        )),
        "{output}"
    );
    assert!(
        gsem.ends_with(". Fix: If GSEM's certificate is not trusted, set gsem.dev.ca_bundle to the CA that signs it; if GSEM refused ours, have HPE register this client certificate for dev"),
        "{output}"
    );
    assert_fails_only(&report, &output, &["certificate host", "gsem"]);
}

#[tokio::test]
async fn a_world_readable_key_fails() {
    let s = SetUp::start().await;
    let key = s.path("certs/client.key");
    chmod(&key, 0o644);
    let (report, output) = s.doctor_probing().await;
    assert_eq!(
        line(&output, "key permissions"),
        format!(
            "FAIL key permissions: {0} is readable by others (mode 0644). Fix: chmod 600 {0}",
            key.display()
        )
    );
    assert_fails_only(&report, &output, &["key permissions"]);
}

#[tokio::test]
async fn world_readable_config_and_secret_files_only_warn() {
    let s = SetUp::start().await;
    chmod(&s.path("config.toml"), 0o644);
    chmod(&s.path("secrets/sn-password"), 0o604);
    let (report, output) = s.doctor_probing().await;
    assert!(report.passed(), "{output}");
    let config = s.path("config.toml");
    assert_eq!(
        line(&output, "config permissions"),
        format!(
            "warn config permissions: {0} is readable by others (mode 0644). Fix: chmod 600 {0}",
            config.display()
        )
    );
    let password = s.path("secrets/sn-password");
    assert!(
        output.lines().any(|l| l
            == format!(
                "warn secret permissions: {0} (servicenow.password) is readable by others (mode 0604). Fix: chmod 600 {0}",
                password.display()
            )),
        "{output}"
    );
}

#[tokio::test]
async fn an_unreachable_gsem_fails() {
    let s = SetUp::start().await;
    s.lab.gsem.set_fault(Fault::RefuseConnections);
    let (report, output) = s.doctor_probing().await;
    let gsem = line(&output, "gsem");
    assert!(
        gsem.starts_with(&format!(
            "FAIL gsem: GET {}: cannot connect: ",
            s.gsem_url()
        )),
        "{output}"
    );
    assert!(
        gsem.ends_with(". Fix: Check gsem.dev.base_url and that this host can reach it (DNS, firewall, proxy); if it is right, GSEM may be down: try again later"),
        "{output}"
    );
    assert_fails_only(&report, &output, &["gsem"]);
}

#[tokio::test]
async fn a_wrong_agent_key_fails() {
    let s = SetUp::start().await;
    s.write_secret("secrets/agent-key", "not-the-key");
    let (report, output) = s.doctor_probing().await;
    let gsem = line(&output, "gsem");
    assert!(
        gsem.starts_with(&format!(
            "FAIL gsem: GET {}: HTTP 401: GSEM refuses our agent key or certificate (",
            s.gsem_url()
        )),
        "{output}"
    );
    assert!(
        gsem.ends_with(". Fix: Check gsem.dev.agent_key (HPE issues one per environment) and that HPE registered this client certificate for dev"),
        "{output}"
    );
    assert_fails_only(&report, &output, &["gsem"]);
}

#[tokio::test]
async fn a_wrong_servicenow_password_fails() {
    let s = SetUp::start().await;
    s.write_secret("secrets/sn-password", "not-the-password");
    let (report, output) = s.doctor_probing().await;
    assert_eq!(
        line(&output, "servicenow"),
        format!(
            "FAIL servicenow: {} refuses the password of {INTEGRATION_USER} (HTTP 401). Fix: Check servicenow.password and servicenow.user: the account must exist, be active, and may not be locked out",
            s.sn_url()
        )
    );
    assert_eq!(
        line(&output, "journal"),
        "skip journal: not checked: ServiceNow must answer first"
    );
    assert_fails_only(&report, &output, &["servicenow"]);
}

#[tokio::test]
async fn a_blocked_journal_table_fails_and_the_fallback_only_warns() {
    let s = SetUp::start().await;
    s.lab.sn.set_journal_acl_blocked(true);
    let (report, output) = s.doctor_probing().await;
    assert_eq!(
        line(&output, "journal"),
        format!(
            "FAIL journal: wrote a probe to comments of {}, but sys_journal_field does not show it to {INTEGRATION_USER}: an ACL hides the journal table (ServiceNow answers an empty list, not an error). Fix: Grant {INTEGRATION_USER} read access to sys_journal_field (an ACL on the table, or a role that has one), or set servicenow.journal_fallback_to_display_value = true to read journals from the incident's display value",
            s.incident
        )
    );
    assert_fails_only(&report, &output, &["journal"]);

    s.write_config(|t| {
        t.replace(
            "close_case_when_incident_resolved = false\n",
            "close_case_when_incident_resolved = false\njournal_fallback_to_display_value = true\n",
        )
    });
    let (report, output) = s.doctor_probing().await;
    assert!(report.passed(), "{output}");
    let journal = line(&output, "journal");
    assert!(
        journal.starts_with("warn journal: ")
            && journal.contains(
                "; the configured fallback reads it from the incident's display value. Fix: "
            ),
        "{output}"
    );
}

#[tokio::test]
async fn a_pkcs12_file_gets_the_conversion_commands() {
    let s = SetUp::start().await;
    std::fs::write(s.path("certs/site.p12"), [0x30u8, 0x82, 0x0a, 0x01]).unwrap();
    s.write_config(|t| {
        t.replace("certs/client.crt", "certs/site.p12")
            .replace("certs/client.key", "certs/site.p12")
    });
    chmod(&s.path("certs/site.p12"), 0o600);
    let (report, output) = s.doctor_probing().await;
    let p12 = s.path("certs/site.p12");
    assert_eq!(
        line(&output, "client certificate"),
        format!(
            "FAIL client certificate: {p} is a PKCS#12 file (.p12); casebridge reads PEM only. Fix: Convert it to PEM with `openssl pkcs12 -in {p} -clcerts -nokeys -out client.crt` and `openssl pkcs12 -in {p} -nocerts -nodes -out client.key`, then set gsem.dev.client_cert = \"client.crt\" and gsem.dev.client_key = \"client.key\"",
            p = p12.display()
        )
    );
    assert_fails_only(&report, &output, &["client certificate"]);
}

#[tokio::test]
async fn a_bad_config_fails_first_and_stops() {
    let s = SetUp::start().await;
    s.write_config(|t| t.replace("[store]", "[store]\nbogus = 1"));
    let (report, output) = s.doctor(&DoctorArgs::default()).await;
    assert_eq!(
        statuses(&report),
        vec![("config", Status::Fail), ("checks", Status::Skip)],
        "{output}"
    );
    let config = line(&output, "config");
    assert!(
        config.starts_with(&format!(
            "FAIL config: {}: store.bogus: unknown key",
            s.path("config.toml").display()
        )),
        "{output}"
    );
    assert_eq!(report.exit_code(), 1);
}
