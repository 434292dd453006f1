//! The embedded demo: `casebridge` with no config file. The console runs
//! against the real engine, which talks to in-process simulators of GSEM
//! (mutual TLS with certificates generated on the spot) and ServiceNow, on
//! real servers on ephemeral loopback ports, with a store of its own that is
//! marked as a demo store. Nothing real is contacted or touched.
//!
//! Everything lives in one directory, `<data dir>/demo-<pid>`, removed by
//! [`Demo::stop`]: certificates, secrets, the generated config file, the
//! store and the logs. The seeded cases are made by driving the real engine
//! and scripting HPE at the simulator (see [`seed`]), so what the console
//! shows is exactly what the real code paths produce; afterwards HPE's
//! provider loop answers new cases and sends updates on its own.

pub mod config;
pub mod seed;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{ConfigError, Settings};
use crate::engine::{Engine, EngineError, StoreKind};
use crate::sim::gsem::{GsemSim, GsemSimConfig, GsemSimError, ProviderConfig, RandomConfig};
use crate::sim::pki::{ClientAuth, PkiError, TestPki, server_config};
use crate::sim::servicenow::{ServiceNowSim, SimConfig, SimError};

/// What the console's banner says in demo mode.
pub const BANNER: &str = "DEMO: simulated HPE GSEM and ServiceNow, nothing real is contacted. \
     To use casebridge for real, write ~/.config/casebridge/config.toml (see config.example.toml) \
     or pass --config PATH.";

/// How long HPE takes to answer a new case in the demo.
pub const ANSWER_DELAY: Duration = Duration::from_secs(3);
/// Mean time between two of HPE's updates of one live case.
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(20);

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot {action} {}: {source}. Make the data directory writable", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("demo certificates: {0}")]
    Pki(#[from] PkiError),
    #[error("demo GSEM simulator: {0}")]
    Gsem(#[from] GsemSimError),
    #[error("demo ServiceNow simulator: {0}")]
    ServiceNow(#[from] SimError),
    #[error("the ServiceNow simulator's seed has no CI {0:?} (a casebridge bug)")]
    MissingCi(&'static str),
    #[error("the generated demo config is invalid (a casebridge bug): {0}")]
    Config(#[from] ConfigError),
    #[error("demo engine: {0}")]
    Engine(#[from] EngineError),
    #[error("seeding the demo cases: {0}")]
    Seed(Box<seed::SeedError>),
}

impl From<seed::SeedError> for DemoError {
    fn from(error: seed::SeedError) -> Self {
        DemoError::Seed(Box::new(error))
    }
}

/// The directory of this process's demo under `data_dir`. Never the real
/// store's directory itself: a fresh one per process.
pub fn demo_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(format!("demo-{}", std::process::id()))
}

/// A running demo: both simulators and the engine on the demo store.
pub struct Demo {
    dir: PathBuf,
    settings: Settings,
    engine: Engine,
    gsem: GsemSim,
    servicenow: ServiceNowSim,
    seed: u64,
}

impl std::fmt::Debug for Demo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demo")
            .field("dir", &self.dir)
            .field("gsem", &self.gsem.base_url())
            .field("servicenow", &self.servicenow.base_url())
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Demo {
    /// Creates `dir` (the caller may have opened the log in `dir/logs`),
    /// starts the simulators and the engine, and seeds the cases. Takes a
    /// few seconds. Must run inside a tokio runtime; the crypto provider must
    /// be installed.
    pub async fn start(dir: &Path) -> Result<Demo, DemoError> {
        let seed = random_seed();
        tracing::info!(dir = %dir.display(), seed, "starting the demo");
        match Self::start_in(dir, seed).await {
            Ok(demo) => Ok(demo),
            Err(error) => {
                remove_dir(dir);
                Err(error)
            }
        }
    }

    async fn start_in(dir: &Path, seed: u64) -> Result<Demo, DemoError> {
        // A crashed demo of a process with the same id may have left its
        // store; the logs (perhaps already opened by the caller) stay.
        for suffix in ["", "-wal", "-shm"] {
            let stale = dir.join(format!("{}{suffix}", config::STORE_FILE));
            match std::fs::remove_file(&stale) {
                Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                    return Err(DemoError::Io {
                        action: "remove the stale demo store",
                        path: stale,
                        source,
                    });
                }
                _ => {}
            }
        }
        let pki = TestPki::generate("casebridge.demo")?;
        let pki_paths = pki.write_to(&dir.join("pki"))?;
        for key in [
            &pki_paths.client.key,
            &pki_paths.server.key,
            &pki_paths.ca.key,
        ] {
            config::make_private(key)?;
        }
        let tls = server_config(
            &pki.server,
            &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
        )?;
        let mut gsem_config = GsemSimConfig::new(Arc::new(tls), config::AGENT_KEY);
        gsem_config.agent_name = config::REMOTE_AGENT.to_owned();
        gsem_config.provider = ProviderConfig {
            answer_delay: Some(ANSWER_DELAY),
            random: Some(RandomConfig {
                seed,
                interval: UPDATE_INTERVAL,
                close_percent: 30,
            }),
            ..ProviderConfig::default()
        };
        let gsem = GsemSim::start(gsem_config).await?;
        let servicenow = ServiceNowSim::start(SimConfig::demo()).await?;
        let cis = servicenow.records("cmdb_ci")?;
        let cmdb_cis = config::SYSTEMS
            .iter()
            .map(|system| {
                cis.iter()
                    .find(|ci| ci.get("name") == system.ci_name)
                    .map(|ci| ci.sys_id().to_owned())
                    .ok_or(DemoError::MissingCi(system.ci_name))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let settings = config::write_and_load(
            dir,
            &config::Endpoints {
                gsem_url: &gsem.base_url(),
                servicenow_url: servicenow.base_url(),
                pki: &pki_paths,
                cmdb_cis: &cmdb_cis,
            },
        )?;
        let engine = Engine::start(&settings, StoreKind::Demo).await?;
        tracing::info!(
            gsem = %gsem.base_url(),
            servicenow = %servicenow.base_url(),
            "demo simulators and engine running; seeding"
        );
        let demo = Demo {
            dir: dir.to_path_buf(),
            settings,
            engine,
            gsem,
            servicenow,
            seed,
        };
        seed::run(&demo.engine, &demo.settings, &demo.gsem, &demo.servicenow).await?;
        tracing::info!(seed, "demo seeded; HPE's provider loop is live");
        Ok(demo)
    }

    /// The demo's directory (removed by [`Demo::stop`]).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings the demo's engine runs with (loaded from its generated
    /// config file).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn gsem(&self) -> &GsemSim {
        &self.gsem
    }

    pub fn servicenow(&self) -> &ServiceNowSim {
        &self.servicenow
    }

    /// The seed of HPE's random provider loop (also in the log).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Stops the engine and the simulators and removes the demo directory.
    pub async fn stop(self) {
        self.engine.stop().await;
        self.gsem.shutdown().await;
        self.servicenow.shutdown().await;
        remove_dir(&self.dir);
    }
}

fn remove_dir(dir: &Path) {
    if let Err(error) = std::fs::remove_dir_all(dir)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), %error, "cannot remove the demo directory");
    }
}

/// `CASEBRIDGE_DEMO_SEED` repeats a run; else the clock.
fn random_seed() -> u64 {
    std::env::var("CASEBRIDGE_DEMO_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos());
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or(1) | 1
        })
}

#[cfg(test)]
mod tests;
