//! What the serve tests share: the simulators, the PKI, a config file
//! with a `[serve]` section for two users (ada and bob) listening on `listen`,
//! and `casebridge serve` on it as a child process.

// Each test binary compiles this module and uses its own part of it; the
// directory and simulators are held only to keep them alive.
#![allow(dead_code)]

use std::time::Duration;

use casebridge::sim::servicenow::NewIncident;

#[path = "../support/lab.rs"]
pub mod lab;
// Not every test binary that compiles this module writes a file of its own.
pub use lab::ServeProcess;
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

/// The real `casebridge serve` on the backends' config, waited for until
/// its console API listens.
pub fn spawn_serve(backends: &Backends) -> ServeProcess {
    ServeProcess::spawn(
        backends.dir.path(),
        &backends.config_path,
        "console API listening",
        "its console API",
    )
}
