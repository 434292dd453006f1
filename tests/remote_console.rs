#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The remote console end against a real `casebridge serve` in-process on
//! loopback (HTTPS with certificates made here), whose engine talks to the
//! GSEM simulator over mutual TLS and to the ServiceNow simulator; and the
//! remote console's config loader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use casebridge::config::remote::{self, RemoteSettings, RemoteSource};
use casebridge::config::{self, Secret, Settings};
use casebridge::console::remote::{RemoteError, connect};
use casebridge::console::{
    CaseId, Connection, Event, History, OpenCase, Origin, Priority, Request,
};
use casebridge::engine::{Engine, StoreKind};
use casebridge::serve::Server;
use casebridge::sim::gsem::GsemSim;
use casebridge::sim::pki::TestPki;
use casebridge::sim::servicenow::{NewIncident, ServiceNowSim};

#[path = "support/lab.rs"]
mod lab;
use lab::{Lab, LabOptions, Serve, ServeUser, write_private};

#[path = "support/console.rs"]
mod console;
use console::Console;

const AGENT_KEY: &str = "remote-console-agent-key";
const PASSWORD: &str = "correct horse battery staple";
const WAIT: Duration = Duration::from_secs(30);

struct Rig {
    dir: tempfile::TempDir,
    _gsem: GsemSim,
    _sn: ServiceNowSim,
    incident: String,
    settings: Settings,
    server: Option<Server>,
    remote: RemoteSettings,
}

impl Rig {
    async fn start() -> Rig {
        let mut options = LabOptions::new("Remote Lab", "casebridge.remote", AGENT_KEY);
        // The simulator's own default: HPE accepts new cases by itself.
        options.hpe_answer_delay = Some(Duration::from_secs(5));
        options.serve = Some(Serve {
            listen: "127.0.0.1:0".into(),
            users: vec![ServeUser {
                name: "ada",
                password: PASSWORD,
                operator: "ada",
            }],
        });
        let lab = Lab::start(options).await;
        let mut new = NewIncident::new("Lustre OSS unreachable");
        new.description = "oss12 fails its health check".into();
        let incident = lab.create_incident(&new);
        let Lab {
            dir,
            paths,
            gsem,
            sn,
            config_path,
            ..
        } = lab;
        let mut settings = config::load(&config_path).unwrap();
        let server = start_serve(&settings).await;
        // A restart must come back on the same port.
        settings.serve.as_mut().unwrap().listen = server.local_addr();

        write_private(&dir.path().join("console/password"), PASSWORD);
        let remote_path = dir.path().join("console/remote.toml");
        write_private(
            &remote_path,
            &format!(
                "[remote]\nurl = \"{url}\"\nuser = \"ada\"\npassword = {{ file = \"password\" }}\nca = \"{ca}\"\n",
                url = server.url(),
                ca = paths.ca.cert.display(),
            ),
        );
        let remote = remote::load(&remote_path).unwrap();
        Rig {
            dir,
            _gsem: gsem,
            _sn: sn,
            incident,
            settings,
            server: Some(server),
            remote,
        }
    }

    async fn stop_serve(&mut self) {
        self.server.take().expect("serve runs").stop().await;
    }

    async fn restart_serve(&mut self) {
        assert!(self.server.is_none(), "serve is stopped first");
        self.server = Some(start_serve(&self.settings).await);
    }
}

async fn start_serve(settings: &Settings) -> Server {
    let engine = Engine::start(settings, StoreKind::Real).await.unwrap();
    Server::start(settings, engine).await.unwrap()
}

impl Console {
    async fn connect(remote: &RemoteSettings) -> (Console, tokio::task::JoinHandle<()>) {
        let (link, task) = connect(remote).await.unwrap();
        (Console::new(link, WAIT), task)
    }

    /// Opens a case on `incident` once serve's sync has read it, and waits
    /// for GSEM's acknowledgement (comments are allowed from then on).
    async fn acknowledged_case(&mut self, incident: &str) -> CaseId {
        loop {
            self.send(Request::LoadIncidents);
            let found = self
                .wait("the incident list", |e| match e {
                    Event::Incidents(list) => Some(list.iter().any(|i| i.number == incident)),
                    _ => None,
                })
                .await;
            if found {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let open = self.send(Request::OpenCase(OpenCase {
            incident: incident.to_owned(),
            system: "compute".into(),
            priority: Priority::CriticalDegraded,
            title: "Lustre OSS unreachable".into(),
            description: "oss12 fails its health check".into(),
        }));
        let case = self.answer(open).await.unwrap().expect("the case id");
        let acked = self
            .wait("the acknowledged case", |e| match e {
                Event::CaseChanged(c) if c.id == case && !c.flags.pending => Some(c.clone()),
                _ => None,
            })
            .await;
        assert_eq!((acked.state, acked.pending_state), (3, 3));
        case
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_console_gets_a_snapshot_and_its_comment_appears() {
    let rig = Rig::start().await;
    let (mut console, task) = Console::connect(&rig.remote).await;
    let url = rig.server.as_ref().unwrap().url();
    let connected = console
        .wait("the connection", |e| match e {
            Event::Connection(c) => Some(c.clone()),
            _ => None,
        })
        .await;
    assert_eq!(connected, Connection::Connected { to: url });
    let snapshot = console
        .wait("the snapshot", |e| match e {
            Event::Snapshot(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(console.seen.len(), 2, "the snapshot follows the connection");
    assert_eq!(snapshot.cases, vec![]);
    assert_eq!(snapshot.systems.len(), 1);
    assert_eq!(snapshot.systems[0].name, "compute");
    assert!(!snapshot.health.demo);

    let case = console.acknowledged_case(&rig.incident).await;
    console.send(Request::LoadCase {
        case,
        history: History::All,
    });
    let text = "rebooted oss12\nlnet up again";
    let comment = console.send(Request::Comment {
        case,
        text: text.into(),
    });
    assert_eq!(console.answer(comment).await, Ok(Some(case)));
    let detail = console
        .wait("the comment in the timeline", |e| match e {
            Event::CaseDetail(d) if d.timeline.iter().any(|t| t.text == text) => Some(d.clone()),
            _ => None,
        })
        .await;
    let note = detail.timeline.iter().find(|t| t.text == text).unwrap();
    assert_eq!(
        (note.origin, note.author.as_str(), note.kind.as_str()),
        (Origin::Local, "ada", "NOTE")
    );

    // Dropping the console ends the task (and the session).
    drop(console);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the remote task ends with the console")
        .unwrap();
    let mut rig = rig;
    rig.stop_serve().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_connect_naming_the_fix() {
    let mut rig = Rig::start().await;
    let mut wrong = rig.remote.clone();
    wrong.password = Secret::new("not the password at all");
    let err = connect(&wrong).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, RemoteError::LoginRefused { .. }), "{err:?}");
    let password_file = rig.dir.path().join("console/remote.toml");
    let message = err.to_string();
    let url = rig.server.as_ref().unwrap().url();
    assert!(
        message.starts_with(&format!("{url} refused the login of \"ada\": ")),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "Check the user name (remote.user in {file}) and the password (remote.password in {file}); serve's [[serve.users]] holds both",
            file = password_file.display()
        )),
        "{message}"
    );
    rig.stop_serve().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_or_no_server_fails_connect_naming_the_fix() {
    let mut rig = Rig::start().await;
    let url = rig.server.as_ref().unwrap().url();
    let file = rig.dir.path().join("console/remote.toml");
    let mut other_ca = rig.remote.clone();
    other_ca.ca = Some(ca_pem(&rig.dir.path().join("other")));
    let err = connect(&other_ca).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, RemoteError::Tls { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("TLS with {url} failed: invalid peer certificate")),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "Check that remote.ca in {file} is the CA that signed serve's certificate and that the host in remote.url in {file} is a name that certificate carries",
            file = file.display()
        )),
        "{message}"
    );
    rig.stop_serve().await;

    // Nothing listens there any more.
    let err = connect(&rig.remote).await.map(|_| ()).unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("cannot connect to {url}: ")),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_stopped_and_restarted_is_lost_then_connected_with_a_fresh_snapshot() {
    let mut rig = Rig::start().await;
    let (mut console, task) = Console::connect(&rig.remote).await;
    console
        .wait("the first snapshot", |e| match e {
            Event::Snapshot(_) => Some(()),
            _ => None,
        })
        .await;
    let case = console.acknowledged_case(&rig.incident).await;
    let load = console.send(Request::LoadCase {
        case,
        history: History::All,
    });
    console
        .wait("the open case", |e| match e {
            Event::CaseDetail(d) if d.summary.id == case => Some(()),
            _ => None,
        })
        .await;

    rig.stop_serve().await;
    let url = rig.remote.url.as_str().trim_end_matches('/').to_owned();
    let (to, reason, retry_at) = console
        .wait("the lost connection", |e| match e {
            Event::Connection(Connection::Lost {
                to,
                reason,
                retry_at,
                ..
            }) => Some((to.clone(), reason.clone(), *retry_at)),
            _ => None,
        })
        .await;
    assert_eq!(to, url);
    assert!(!reason.is_empty());
    assert!(retry_at.is_some_and(|at| at > chrono::Utc::now() - chrono::Duration::seconds(1)));

    // While serve is away a request is answered at once, with the reason.
    let comment = console.send(Request::Comment {
        case,
        text: "during the outage".into(),
    });
    let refused = tokio::time::timeout(Duration::from_secs(2), console.answer(comment))
        .await
        .expect("refused at once")
        .unwrap_err();
    assert!(
        refused.starts_with(&format!("not sent: the connection to {url} is lost (")),
        "{refused}"
    );
    assert!(
        refused.ends_with("casebridge reconnects by itself, send it again once connected"),
        "{refused}"
    );

    rig.restart_serve().await;
    let back = console
        .wait("the reconnection", |e| match e {
            Event::Connection(Connection::Connected { to }) => Some(to.clone()),
            _ => None,
        })
        .await;
    assert_eq!(back, url);
    let at = console.seen.len();
    let snapshot = console
        .wait("the fresh snapshot", |e| match e {
            Event::Snapshot(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert_eq!(console.seen.len(), at + 1, "the snapshot comes right after");
    assert_eq!(
        snapshot.cases.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![case]
    );
    // The case on screen is loaded again, under the console's own request,
    // and the refused comment was not sent behind the operator's back.
    let reloaded = console
        .wait("the reloaded case", |e| match e {
            Event::CaseDetail(d) if d.summary.id == case => Some(d.clone()),
            _ => None,
        })
        .await;
    assert!(
        !console.seen.iter().any(|e| matches!(
            e,
            Event::RequestFailed { request, .. } if *request == load
        )),
        "the reload was not refused: {:#?}",
        console.seen
    );
    assert!(
        !reloaded
            .timeline
            .iter()
            .any(|t| t.text == "during the outage"),
        "{:#?}",
        reloaded.timeline
    );

    drop(console);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the remote task ends with the console")
        .unwrap();
    rig.stop_serve().await;
}

fn remote_file(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("remote.toml");
    std::fs::write(&path, body).unwrap();
    path
}

fn ca_pem(dir: &Path) -> PathBuf {
    let pki = TestPki::generate("casebridge.remote").unwrap();
    pki.write_to(&dir.join("pki")).unwrap().ca.cert
}

#[test]
fn a_remote_config_is_loaded_and_told_from_a_site_config() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_pem(dir.path());
    write_private(&dir.path().join("pw"), "s3cret-passphrase\n");
    let path = remote_file(
        dir.path(),
        &format!(
            "[remote]\nurl = \"https://relay.example.org:8443\"\nuser = \"ada\"\n\
             password = {{ file = \"pw\" }}\nca = \"{}\"\n\n[ui.keys]\nopen_case = \"o\"\n",
            ca.display()
        ),
    );
    assert!(remote::is_remote_config(&path).unwrap());
    let s = remote::load(&path).unwrap();
    assert_eq!(s.url.as_str(), "https://relay.example.org:8443/");
    assert_eq!(s.user, "ada");
    assert_eq!(s.password.expose(), "s3cret-passphrase");
    assert_eq!(s.ca.as_deref(), Some(ca.as_path()));
    assert_eq!(s.ui.keys.get("open_case").map(String::as_str), Some("o"));
    assert_eq!(s.source, RemoteSource::File(path.clone()));

    let site = dir.path().join("site.toml");
    std::fs::write(&site, "[site]\norganization = \"x\"\n").unwrap();
    assert!(!remote::is_remote_config(&site).unwrap());
    let err = remote::load(&site).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: remote: required table is missing: this is not a remote console's config. \
             Add [remote] with url, user, password and ca to run the console against `casebridge serve`, \
             or use this file as the site config (without --remote).",
            site.display()
        )
    );
}

#[test]
fn a_missing_remote_key_is_named_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_pem(dir.path());
    let path = remote_file(
        dir.path(),
        &format!(
            "[remote]\nurl = \"https://relay.example.org:8443\"\npassword = {{ env = \"X\" }}\nca = \"{}\"\n",
            ca.display()
        ),
    );
    let err = remote::load(&path).unwrap_err();
    assert_eq!(err.key(), Some("remote.user"));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: remote.user: required key is missing. Add it (config.example.toml shows every key with a comment).",
            path.display()
        )
    );

    let path = remote_file(
        dir.path(),
        "[remote]\nurl = \"https://relay.example.org:8443\"\nuser = \"ada\"\npassword = { env = \"CASEBRIDGE_TEST_UNSET_REMOTE_PW\" }\n",
    );
    let err = remote::load(&path).unwrap_err();
    assert_eq!(err.key(), Some("remote.password"));

    let path = remote_file(
        dir.path(),
        "[remote]\nurl = \"https://relay.example.org:8443\"\nuser = \"ada\"\npassword = \"inline\"\n",
    );
    let err = remote::load(&path).unwrap_err().to_string();
    assert!(!err.contains("inline"), "{err}");
    assert!(
        err.contains("remote.password: a secret is never written in the config file itself"),
        "{err}"
    );
}

#[test]
fn plain_http_is_refused_unless_allowed_and_loopback() {
    let dir = tempfile::tempdir().unwrap();
    write_private(&dir.path().join("pw"), "pw");
    let body = |url: &str, allow: bool| {
        format!(
            "[remote]\nurl = \"{url}\"\nallow_insecure_http = {allow}\nuser = \"ada\"\npassword = {{ file = \"pw\" }}\n"
        )
    };
    let path = remote_file(dir.path(), &body("http://relay.example.org:8080", true));
    let err = remote::load(&path).unwrap_err();
    assert_eq!(err.key(), Some("remote.url"));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: remote.url: \"http://relay.example.org:8080\" is plain http to a host that is not loopback. \
             Use https; allow_insecure_http only permits http to 127.0.0.1, ::1 or localhost.",
            path.display()
        )
    );
    let path = remote_file(dir.path(), &body("http://127.0.0.1:8080", false));
    let err = remote::load(&path).unwrap_err().to_string();
    assert!(
        err.ends_with("remote.url: \"http://127.0.0.1:8080\" is not an https URL. Write the address of `casebridge serve`, e.g. \"https://relay.example.org:8443\"."),
        "{err}"
    );
    let path = remote_file(dir.path(), &body("http://127.0.0.1:8080", true));
    let s = remote::load(&path).unwrap();
    assert_eq!((s.url.as_str(), s.ca), ("http://127.0.0.1:8080/", None));
}

#[test]
fn the_example_remote_config_loads() {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
            .unwrap();
    let start = example.find("# [remote]\n").expect("the [remote] example");
    let block: String = example[start..]
        .lines()
        .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_pem(dir.path());
    std::fs::create_dir_all(dir.path().join("certs")).unwrap();
    std::fs::copy(&ca, dir.path().join("certs/relay-ca.pem")).unwrap();
    write_private(&dir.path().join("secrets/console-password"), "pw");
    let s = remote::load_str(&block, &dir.path().join("console.toml")).unwrap();
    assert_eq!(s.url.as_str(), "https://relay.example.org:9443/");
    assert_eq!(s.user, "ada");
    assert_eq!(s.ca, Some(dir.path().join("certs/relay-ca.pem")));
    assert!(s.ui.keys.is_empty());
}
