#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The shipped example parses to the values it documents; every file in
//! `tests/invalid_configs/` fails with the message its `# expect:` lines give.

use std::path::{Path, PathBuf};
use std::time::Duration;

use casebridge::config::{
    self, CallerAuth, ConfigError, Delivery, Environment, Journal, ServiceNowAuth, Settings,
};

#[path = "support/lab.rs"]
mod lab;

const SN_PASSWORD_ENV: &str = "CASEBRIDGE_SERVICENOW_PASSWORD";
const SN_PASSWORD: &str = "sn-password-c0ffee";
const PROD_AGENT_KEY: &str = "prod-agent-key-5f1e9d";
const DEV_AGENT_KEY: &str = "dev-agent-key-77aa31";
const AGENT_KEY: &str = "minimal-agent-key-42";
const MINIMAL_SN_PASSWORD: &str = "minimal-sn-password-43";

/// A directory holding the files configs refer to: certificates (their
/// content is not checked here) and secret files.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Fixture { dir };
        for cert in [
            "certs/casebridge-prod.pem",
            "certs/casebridge-prod.key",
            "certs/casebridge-dev.pem",
            "certs/casebridge-dev.key",
            "certs/gsem-ca.pem",
            "certs/gsem-client-ca.pem",
            "certs/client.pem",
            "certs/client.key",
        ] {
            fixture.write(cert, "-----BEGIN CERTIFICATE-----\n");
        }
        fixture.write(
            "secrets/gsem-prod-agent-key",
            &format!("{PROD_AGENT_KEY}\n"),
        );
        fixture.write("secrets/gsem-dev-agent-key", DEV_AGENT_KEY);
        fixture.write("secrets/agent-key", &format!("{AGENT_KEY}\r\n"));
        fixture.write("secrets/sn-password", MINIMAL_SN_PASSWORD);
        // SAFETY: every test that sets this variable sets it to the same
        // value and none removes it, so concurrent readers always see a
        // complete value.
        unsafe { std::env::set_var(SN_PASSWORD_ENV, SN_PASSWORD) };
        fixture
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn example(&self, edit: impl Fn(String) -> String) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(example_path()).unwrap();
        let path = self.write("config.toml", &edit(text));
        config::load(&path)
    }

    fn minimal(&self, extra: &str) -> Result<Settings, ConfigError> {
        let path = self.write("config.toml", &format!("{}\n{extra}", minimal()));
        config::load(&path)
    }
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml")
}

/// What the site tables are followed by in [`minimal`].
const MINIMAL_BACKENDS: &str = r#"
[gsem]
environment = "prod"
[gsem.prod]
base_url = "https://gsem.example.com/api"
agent_key = { file = "secrets/agent-key" }
remote_agent_name = "AGENT"
remote_agent_type = "CUSTOMER"
client_cert = "certs/client.pem"
client_key = "certs/client.key"

[servicenow]
instance_url = "https://example.service-now.com"
user = "svc"
password = { file = "secrets/sn-password" }
"#;

/// Only the required keys.
fn minimal() -> String {
    lab::site_toml("Example Lab", &[]) + MINIMAL_BACKENDS
}

#[test]
fn example_parses_to_its_documented_values() {
    let fx = Fixture::new();
    let s = fx.example(|t| t).unwrap();

    assert_eq!(s.site.organization, "NERSC");
    assert_eq!(s.site.address.street, "1 Cyclotron Rd");
    assert_eq!(s.site.address.street2.as_deref(), Some("Building 59"));
    assert_eq!(s.site.address.city, "Berkeley");
    assert_eq!(s.site.address.region, "CA");
    assert_eq!(s.site.address.postal_code, "94720");
    assert_eq!(s.site.address.country, "US");
    assert_eq!(s.site.contact.last_name, "Operations");
    assert_eq!(s.site.alternate_contact.email, "operator@nersc.gov");

    assert_eq!(s.operators.len(), 2);
    let john = s.operator("jgann").unwrap();
    assert_eq!(john.phone.as_deref(), Some("5104866821"));
    let maria = s.operator("mrios").unwrap().as_contact(&s.site.contact);
    assert_eq!(
        (maria.first_name.as_str(), maria.last_name.as_str()),
        ("Maria", "Rios")
    );
    assert_eq!(maria.phone, "5104866821", "falls back to the site contact");
    assert_eq!(maria.email, "mrios@lbl.gov");

    assert_eq!(s.systems.len(), 2);
    let perlmutter = s.system_by_serial("5UF044F7CY").unwrap();
    assert_eq!(perlmutter.name, "Perlmutter compute");
    assert_eq!(perlmutter.contract, "2155240525");
    assert_eq!(perlmutter.product_number.as_deref(), Some("R4K95A"));
    let storage = s.system_by_ci("0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e").unwrap();
    assert_eq!(storage.serial, "CZ2D1504KP");
    assert_eq!(storage.product_number, None);

    let g = &s.gsem;
    assert_eq!(g.environment, Environment::Prod);
    assert_eq!(g.base_url.as_str(), "https://gsem.ext.hpe.com/");
    assert_eq!(
        g.config_url.as_str(),
        "https://gsem.ext.hpe.com/redfish/v1/gsem"
    );
    assert_eq!(
        g.message_url.as_str(),
        "https://gsem.ext.hpe.com/redfish/v1/message"
    );
    assert_eq!(g.agent_key_header, "X-Agent-Key");
    assert_eq!(
        g.agent_key.expose(),
        PROD_AGENT_KEY,
        "trailing newline dropped"
    );
    assert_eq!(g.remote_agent_name, "SFDC_Prod_REST_P042");
    assert_eq!(g.remote_agent_type, "CUSTOMER");
    assert_eq!(g.client_cert, fx.path("certs/casebridge-prod.pem"));
    assert_eq!(g.client_key, fx.path("certs/casebridge-prod.key"));
    assert_eq!(g.ca_bundle, Some(fx.path("certs/gsem-ca.pem")));
    assert_eq!(g.request_timeout, Duration::from_secs(30));
    assert_eq!(g.backoff.start, Duration::from_secs(1));
    assert_eq!(g.backoff.cap, Duration::from_secs(30));
    assert_eq!(g.inbound_body_limit, 32 * 1024 * 1024);
    match &g.delivery {
        Delivery::Pull { poll_interval } => assert_eq!(*poll_interval, Duration::from_secs(15)),
        other => panic!("prod is pull: {other:?}"),
    }

    let sn = &s.servicenow;
    assert_eq!(sn.instance_url.as_str(), "https://nersc.service-now.com/");
    assert_eq!(sn.ca_bundle, None);
    match &sn.auth {
        ServiceNowAuth::Basic { user, password } => {
            assert_eq!(user, "svc_casebridge");
            assert_eq!(password.expose(), SN_PASSWORD);
        }
        other => panic!("basic auth expected: {other:?}"),
    }
    assert_eq!(sn.integration_user, "svc_casebridge");
    assert_eq!(sn.poll_interval, Duration::from_secs(30));
    assert_eq!(sn.overlap, Duration::from_secs(60));
    assert_eq!(sn.request_timeout, Duration::from_secs(30));
    assert_eq!(sn.backoff.start, Duration::from_secs(1));
    assert_eq!(sn.backoff.cap, Duration::from_secs(300));
    assert_eq!(sn.page_size, 100);
    assert_eq!(sn.time_zone, chrono_tz::America::Los_Angeles);
    assert_eq!(
        sn.incident_query,
        "active=true^assignment_group.name=Computational Systems"
    );
    assert_eq!(sn.comment_journal, Journal::Comments);
    assert_eq!(sn.comment_journal.field(), "comments");
    assert!(!sn.journal_fallback_to_display_value);
    assert_eq!(sn.max_journal_length, Some(4000));
    assert_eq!(
        casebridge::sync::SyncConfig::from_settings(&s).max_journal_chars,
        Some(4000)
    );
    assert!(sn.mark_hold_reason);
    assert!(sn.sync_state_to_incident);
    assert!(sn.close_case_when_incident_resolved);
    let hint = sn.push_hint.as_ref().unwrap();
    assert_eq!(hint.listen, "127.0.0.1:8445".parse().unwrap());
    assert_eq!(hint.path, "/servicenow/hint");
    let mirror = sn.mirror.as_ref().unwrap();
    assert_eq!(mirror.task_table, "u_hpe_onsite_task");
    assert_eq!(mirror.part_table, "u_hpe_part_order");
    assert_eq!(mirror.task_fields, config::TaskFields::default());
    assert_eq!(mirror.part_fields, config::PartFields::default());

    assert_eq!(s.severity, config::SeverityMap::default());
    assert_eq!(s.severity.critical_degraded, "MAJOR");
    assert_eq!(s.sync.overdue_after, Duration::from_secs(15 * 60));
    assert_eq!(s.updates.rules, None);
    assert_eq!(
        s.store.path,
        PathBuf::from("/var/lib/casebridge/casebridge.db")
    );
    assert!(s.ui.keys.is_empty());

    let paths = s.paths();
    assert_eq!(paths.config_file, fx.path("config.toml"));
    assert_eq!(paths.config_dir, fx.dir.path());
}

#[test]
fn example_dev_environment_uses_its_own_table_and_push() {
    let fx = Fixture::new();
    let s = fx
        .example(|t| t.replace("environment = \"prod\"", "environment = \"dev\""))
        .unwrap();
    let g = &s.gsem;
    assert_eq!(g.environment, Environment::Dev);
    assert_eq!(
        g.message_url.as_str(),
        "https://gsem-dev.ext.hpe.com/redfish/v1/message"
    );
    assert_eq!(g.agent_key.expose(), DEV_AGENT_KEY);
    assert_eq!(g.remote_agent_name, "SFDC_Train_REST_P042");
    assert_eq!(g.request_timeout, Duration::from_secs(20));
    assert_eq!(g.backoff.start, Duration::from_millis(500));
    assert_eq!(g.backoff.cap, Duration::from_secs(10));
    let Delivery::Push(hook) = &g.delivery else {
        panic!("dev is push: {:?}", g.delivery);
    };
    assert_eq!(hook.listen, "0.0.0.0:8443".parse().unwrap());
    assert_eq!(hook.path, "/gsem/message");
    assert_eq!(hook.tls_cert, fx.path("certs/casebridge-dev.pem"));
    match &hook.auth {
        CallerAuth::ClientCert { ca } => assert_eq!(*ca, fx.path("certs/gsem-client-ca.pem")),
        other => panic!("client_cert expected: {other:?}"),
    }
}

#[test]
fn inactive_environment_is_not_read() {
    // The dev agent key is missing on this host: prod is active, so it does
    // not matter.
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("secrets/gsem-dev-agent-key")).unwrap();
    let s = fx.example(|t| t).unwrap();
    assert_eq!(s.gsem.environment, Environment::Prod);
}

#[test]
fn debug_output_shows_no_secret() {
    let fx = Fixture::new();
    let prod = fx.example(|t| t).unwrap();
    let dev = fx
        .example(|t| t.replace("environment = \"prod\"", "environment = \"dev\""))
        .unwrap();
    let push = minimal().replace(
        "client_key = \"certs/client.key\"\n",
        "client_key = \"certs/client.key\"\nmode = \"push\"\n",
    ) + "[gsem.prod.webhook]\nlisten = \"127.0.0.1:9443\"\nauth = \"bearer\"\ntoken = { file = \"secrets/gsem-dev-agent-key\" }\n";
    let bearer = config::load(&fx.write("bearer.toml", &push)).unwrap();
    match &bearer.gsem.delivery {
        Delivery::Push(hook) => match &hook.auth {
            CallerAuth::Bearer { token } => assert_eq!(token.expose(), DEV_AGENT_KEY),
            other => panic!("bearer expected: {other:?}"),
        },
        other => panic!("push expected: {other:?}"),
    }
    let bearer = format!("{bearer:?}");
    for text in [format!("{prod:?}"), format!("{dev:?}"), bearer] {
        for secret in [
            SN_PASSWORD,
            PROD_AGENT_KEY,
            DEV_AGENT_KEY,
            AGENT_KEY,
            MINIMAL_SN_PASSWORD,
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("Secret(***)"));
    }
}

#[test]
fn minimal_config_gets_the_spec_defaults() {
    let fx = Fixture::new();
    let s = fx.minimal("").unwrap();

    let g = &s.gsem;
    assert_eq!(g.base_url.as_str(), "https://gsem.example.com/api/");
    assert_eq!(
        g.config_url.as_str(),
        "https://gsem.example.com/api/redfish/v1/gsem"
    );
    assert_eq!(
        g.message_url.as_str(),
        "https://gsem.example.com/api/redfish/v1/message"
    );
    assert_eq!(g.agent_key_header, "X-Agent-Key");
    assert_eq!(g.agent_key.expose(), AGENT_KEY);
    assert_eq!(g.ca_bundle, None);
    assert_eq!(g.request_timeout, Duration::from_secs(30));
    assert_eq!(g.backoff.start, Duration::from_secs(1));
    assert_eq!(g.backoff.cap, Duration::from_secs(30));
    assert_eq!(g.inbound_body_limit, 33_554_432);
    assert!(matches!(
        g.delivery,
        Delivery::Pull { poll_interval } if poll_interval == Duration::from_secs(15)
    ));

    let sn = &s.servicenow;
    assert_eq!(sn.instance_url.as_str(), "https://example.service-now.com/");
    assert!(matches!(&sn.auth, ServiceNowAuth::Basic { user, .. } if user == "svc"));
    assert_eq!(sn.integration_user, "svc", "defaults to the auth user");
    assert_eq!(sn.poll_interval, Duration::from_secs(30));
    assert_eq!(sn.overlap, Duration::from_secs(60));
    assert_eq!(sn.page_size, 100);
    assert_eq!(sn.time_zone, chrono_tz::UTC);
    assert_eq!(sn.incident_query, "active=true");
    assert_eq!(sn.comment_journal, Journal::Comments);
    assert!(!sn.journal_fallback_to_display_value);
    assert_eq!(sn.max_journal_length, None);
    assert!(!sn.mark_hold_reason);
    assert!(sn.sync_state_to_incident);
    assert!(sn.close_case_when_incident_resolved);
    assert!(sn.push_hint.is_none());
    assert!(sn.mirror.is_none());

    assert_eq!(s.severity.normal, "MEDIUM");
    assert_eq!(s.severity.critical_degraded, "MAJOR");
    assert_eq!(s.severity.critical_down, "CRITICAL");
    assert_eq!(s.sync.overdue_after, Duration::from_secs(900));
    assert_eq!(s.updates.rules, None);
    let data_dir = config::default_data_dir().expect("tests run with a home directory");
    assert_eq!(s.store.path, data_dir.join("casebridge.db"));
    assert_eq!(s.paths().data_dir, data_dir);
    assert!(s.ui.keys.is_empty());

    let ada = s.operator("ada").unwrap().as_contact(&s.site.contact);
    assert_eq!(ada.phone, "+1 217 555 0100");
    assert_eq!(ada.email, "ops@example.org");
}

#[test]
fn rules_override_is_used_when_present_beside_the_config() {
    let fx = Fixture::new();
    let rules = fx.write("update-rules.toml", "");
    assert_eq!(fx.minimal("").unwrap().updates.rules, Some(rules.clone()));
    let other = fx.write("rules/site.toml", "");
    let s = fx
        .minimal("[updates]\nrules = \"rules/site.toml\"\n")
        .unwrap();
    assert_eq!(s.updates.rules, Some(other));
    let err = fx
        .minimal("[updates]\nrules = \"rules/absent.toml\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("updates.rules: ")
            && err.contains("absent.toml is not a file. Fix the path, or remove the key"),
        "{err}"
    );
}

#[test]
fn oauth_mirror_store_and_ui_keys() {
    let fx = Fixture::new();
    let s = fx
        .minimal(
            r#"
[servicenow.mirror]
enabled = true
task_table = "x_onsite"
[servicenow.mirror.part_fields]
hpe_id = "x_order_id"

[store]
path = "state/cb.db"

[ui.keys]
refresh = "F5"
open_case = "n"
"#,
        )
        .unwrap();
    let mirror = s.servicenow.mirror.unwrap();
    assert_eq!(mirror.task_table, "x_onsite");
    assert_eq!(mirror.part_table, "u_hpe_part_order");
    assert_eq!(mirror.part_fields.hpe_id, "x_order_id");
    assert_eq!(mirror.part_fields.incident, "u_incident");
    assert_eq!(s.store.path, fx.path("state/cb.db"));
    assert_eq!(s.ui.keys.get("refresh").map(String::as_str), Some("F5"));
    assert_eq!(s.ui.keys.get("open_case").map(String::as_str), Some("n"));

    fx.write("secrets/client-secret", "oauth-client-secret-9");
    let oauth = minimal().replace(
        "user = \"svc\"\n",
        "user = \"svc\"\nauth = \"oauth\"\nclient_id = \"abc123\"\nclient_secret = { file = \"secrets/client-secret\" }\nintegration_user = \"casebridge.integration\"\n",
    );
    let s = config::load(&fx.write("oauth.toml", &oauth)).unwrap();
    match &s.servicenow.auth {
        ServiceNowAuth::OAuth {
            user,
            password,
            client_id,
            client_secret,
        } => {
            assert_eq!(user, "svc");
            assert_eq!(password.expose(), MINIMAL_SN_PASSWORD);
            assert_eq!(client_id, "abc123");
            assert_eq!(client_secret.expose(), "oauth-client-secret-9");
        }
        other => panic!("oauth expected: {other:?}"),
    }
    assert_eq!(s.servicenow.integration_user, "casebridge.integration");
    assert!(!format!("{s:?}").contains("oauth-client-secret-9"));
}

#[test]
fn loopback_http_is_allowed_only_when_asked() {
    let fx = Fixture::new();
    let local = minimal().replace(
        "base_url = \"https://gsem.example.com/api\"",
        "base_url = \"http://127.0.0.1:18080\"\nallow_insecure_http = true",
    );
    let s = config::load(&fx.write("local.toml", &local)).unwrap();
    assert_eq!(
        s.gsem.message_url.as_str(),
        "http://127.0.0.1:18080/redfish/v1/message"
    );
    let refused = local.replace("allow_insecure_http = true", "");
    let err = config::load(&fx.write("local.toml", &refused))
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(
            "gsem.prod.base_url: \"http://127.0.0.1:18080\" is not an https URL. Use the https:// address your GSEM team gave you."
        ),
        "{err}"
    );
}

#[test]
fn unreadable_or_missing_config_file_is_named_with_a_fix() {
    let fx = Fixture::new();
    let absent = fx.path("absent.toml");
    let err = config::load(&absent).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: cannot read the config file: ",
            absent.display()
        )) && err
            .ends_with("Create it from config.example.toml, or pass the right path with --config."),
        "{err}"
    );

    let err = config::load(fx.dir.path()).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: cannot read the config file",
            fx.dir.path().display()
        )),
        "{err}"
    );

    let err = config::locate(Some(&absent)).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: --config: no such file. Check the path, or create the file from config.example.toml.",
            absent.display()
        )
    );
    let present = fx.write("present.toml", "");
    assert_eq!(config::locate(Some(&present)).unwrap(), Some(present));
}

#[test]
fn log_filter_comes_from_the_file_or_casebridge_log() {
    let fx = Fixture::new();
    // SAFETY: this is the only test that touches CASEBRIDGE_LOG, and it only
    // ever holds valid filters, so concurrent loads in other tests succeed
    // whichever value they read (none of them asserts the filter).
    unsafe { std::env::remove_var(config::LOG_ENV) };
    assert_eq!(
        fx.example(|t| t).unwrap().log.filter,
        "info,casebridge=debug"
    );
    assert_eq!(fx.minimal("").unwrap().log.filter, "info");
    assert_eq!(config::Log::without_config().unwrap().filter, "info");
    unsafe { std::env::set_var(config::LOG_ENV, "warn,casebridge=trace") };
    let from_env = fx.example(|t| t).unwrap().log.filter;
    let without = config::Log::without_config().unwrap().filter;
    unsafe { std::env::remove_var(config::LOG_ENV) };
    assert_eq!(from_env, "warn,casebridge=trace");
    assert_eq!(without, "warn,casebridge=trace");
}

/// `# expect:` lines are fragments the message must contain; `# absent:`
/// lines must not appear in it (secrets).
fn directives<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    text.lines()
        .filter_map(|l| l.strip_prefix(tag))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect()
}

#[test]
fn every_invalid_config_fails_naming_file_key_and_fix() {
    let fx = Fixture::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 12, "only {} invalid configs", files.len());

    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let expects = directives(&text, "# expect:");
        assert!(!expects.is_empty(), "{}: no # expect: line", file.display());
        let name = file.file_name().unwrap().to_str().unwrap();
        let copy = fx.write(name, &text);
        let err = match config::load(&copy) {
            Ok(_) => panic!("{name}: loaded, but it should fail"),
            Err(e) => e,
        };
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}: ", copy.display())),
            "{name}: message does not start with the file: {message}"
        );
        for fragment in &expects {
            assert!(
                message.contains(fragment),
                "{name}: expected {fragment:?} in\n{message}"
            );
        }
        for secret in directives(&text, "# absent:") {
            assert!(!message.contains(secret), "{name}: leaks {secret:?}");
        }
        // Every message ends with a fix: a full sentence after the problem.
        assert!(message.ends_with('.'), "{name}: {message}");
        match &err {
            ConfigError::Invalid { key, .. } => {
                assert!(
                    message.contains(&format!(": {key}: ")),
                    "{name}: key not named: {message}"
                );
            }
            ConfigError::Syntax { line, .. } => assert!(*line > 1, "{name}"),
            other => panic!("{name}: unexpected kind {other:?}"),
        }
    }
}
