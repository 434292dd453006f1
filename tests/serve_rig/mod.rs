//! What the serve tests share: the simulators, the PKI, a config file
//! with a `[serve]` section for two users (ada and bob) listening on `listen`,
//! and `casebridge serve` on it as a child process.

// Each test binary compiles this module and uses its own part of it; the
// directory and simulators are held only to keep them alive.
#![allow(dead_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use casebridge::sim::servicenow::NewIncident;

#[path = "../support/lab.rs"]
pub mod lab;
// Not every test binary that compiles this module writes a file of its own.
#[allow(unused_imports)]
pub use lab::write_private;
use lab::{Lab, LabOptions, Operator, Serve, ServeUser};

pub const AGENT_KEY: &str = "serve-api-agent-key";
pub const ADA_PASSWORD: &str = "ada-password-0451";
pub const BOB_PASSWORD: &str = "bob-password-7731";

/// The lab with serve's config: its fields (`dir`, `paths`, `gsem`,
/// `config_path`, ...) are the lab's.
pub struct Backends {
    lab: Lab,
    /// An incident the sync reads, to open cases on.
    pub incident: String,
}

impl std::ops::Deref for Backends {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        &self.lab
    }
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
        let mut options = LabOptions::new("Serve Lab", "casebridge.serve", AGENT_KEY);
        options.hpe_answer_delay = hpe_answer_delay;
        options.extra_operators = vec![Operator {
            id: "bob",
            first_name: "Bob",
            last_name: "Kahn",
        }];
        options.serve = Some(Serve {
            listen: listen.to_owned(),
            users: vec![
                ServeUser {
                    name: "ada",
                    password: ADA_PASSWORD,
                    operator: "ada",
                },
                ServeUser {
                    name: "bob",
                    password: BOB_PASSWORD,
                    operator: "bob",
                },
            ],
        });
        let lab = Lab::start(options).await;
        Backends {
            incident: lab.create_incident(&NewIncident::new("Slingshot fabric manager down")),
            lab,
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
