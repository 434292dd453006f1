//! The engine as one running thing: the store, the GSEM tasks (outbox
//! drainer, pull poller or push receiver, inbox processor) and the
//! ServiceNow sync, started together from the settings and stopped together.
//!
//! `serve` runs it headless; the console runs it in-process. Everything it
//! knows is in the store, so stopping at any instant (even SIGKILL) loses
//! nothing: the next start carries on from the rows.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{Delivery, Settings};
use crate::gsem::actions::Actions;
use crate::gsem::client::{ClientError, GsemClient};
use crate::gsem::drainer::{Drainer, DrainerConfig};
use crate::gsem::health::{GsemHealth, Health};
use crate::gsem::poller::PullPoller;
use crate::gsem::processor::InboxProcessor;
use crate::gsem::push::{PushError, PushReceiver};
use crate::gsem::shared::SharedStore;
use crate::sis::{ActivityTable, Destination, MessageBuilder};
use crate::store::prelude::*;
use crate::store::{NewSystem, Role, Store, StoreError};
use crate::sync::health::ServiceNowHealth;
use crate::sync::{ServiceNowSync, SyncConfig, SyncError};
use crate::updates::{Mirror, Rules, RulesError};

/// Why the engine could not start. Each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("GSEM client: {0}")]
    Gsem(#[from] ClientError),
    #[error("GSEM push receiver: {0}")]
    Push(#[from] PushError),
    #[error("ServiceNow: {0}")]
    ServiceNow(#[from] SyncError),
    #[error("ServiceNow mirror: {0}")]
    Mirror(#[from] crate::servicenow::SetupError),
    #[error("the shipped update rules are broken (a casebridge bug): {0}")]
    Rules(#[from] RulesError),
    #[error(
        "cannot listen for ServiceNow hints on {addr}: {source}. Free the port or change servicenow.push_hint.listen"
    )]
    Hint {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What kind of store the engine runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The site's store: a demo store is refused.
    Real,
    /// The embedded demo's own store: a real store is refused.
    Demo,
}

/// A running engine. Dropping it without [`Engine::stop`] leaves the tasks
/// running until the runtime ends; stop it to finish cleanly.
pub struct Engine {
    store: SharedStore,
    store_path: PathBuf,
    actions: Actions,
    gsem_health: Health,
    servicenow_health: watch::Receiver<ServiceNowHealth>,
    /// Problems found at start that do not stop the engine (a broken site
    /// rules file: the shipped rules are used), for health views.
    warnings: Vec<String>,
    push_addr: Option<SocketAddr>,
    hint_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store_path)
            .field("push_addr", &self.push_addr)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens the store (taking the one-engine lock), checks the client
    /// certificate, and starts every task. Must run inside a tokio runtime.
    pub async fn start(settings: &Settings, kind: StoreKind) -> Result<Engine, EngineError> {
        let store = open_store(&settings.store.path, kind, settings)?;
        let store: SharedStore = Arc::new(Mutex::new(store));
        let (rules, rules_problem) = Rules::load_with_override(settings.updates.rules.as_deref())?;
        let warnings: Vec<String> = rules_problem.iter().map(ToString::to_string).collect();
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let rules = Arc::new(rules);
        let client = GsemClient::new(&settings.gsem)?;
        let (shutdown, stop_rx) = watch::channel(false);
        let gsem_health = Health::new();
        let drainer_wake = Arc::new(Notify::new());
        let inbox_wake = Arc::new(Notify::new());
        let mut tasks = Vec::new();

        tasks.push(Drainer::spawn(
            client.clone(),
            Arc::clone(&store),
            DrainerConfig {
                backoff: crate::gsem::backoff::Backoff::new(
                    settings.gsem.backoff.start,
                    settings.gsem.backoff.cap,
                ),
                remote_agent: settings.gsem.remote_agent_name.clone(),
            },
            Arc::clone(&drainer_wake),
            gsem_health.clone(),
            stop_rx.clone(),
        ));
        let push_addr = match &settings.gsem.delivery {
            Delivery::Pull { poll_interval } => {
                tasks.push(PullPoller::spawn(
                    client,
                    Arc::clone(&store),
                    *poll_interval,
                    Arc::clone(&inbox_wake),
                    gsem_health.clone(),
                    stop_rx.clone(),
                ));
                None
            }
            Delivery::Push(webhook) => {
                let receiver = PushReceiver::bind(
                    webhook,
                    settings.gsem.inbound_body_limit,
                    Arc::clone(&store),
                    Arc::clone(&inbox_wake),
                    gsem_health.clone(),
                    stop_rx.clone(),
                )
                .await?;
                tasks.push(receiver.task);
                Some(receiver.local_addr)
            }
        };
        tasks.push(InboxProcessor::spawn(
            Arc::clone(&store),
            rules,
            inbox_wake,
            gsem_health.clone(),
            stop_rx.clone(),
        ));

        let sync = ServiceNowSync::new(
            SyncConfig::from_settings(settings),
            Arc::clone(&store),
            Arc::clone(&drainer_wake),
            stop_rx.clone(),
        )?;
        let sync = sync.spawn();
        let hint_addr = match &settings.servicenow.push_hint {
            Some(hint) => {
                let (addr, task) = crate::sync::hint::serve(
                    hint.listen,
                    &hint.path,
                    Arc::clone(&sync.hint),
                    stop_rx.clone(),
                )
                .await
                .map_err(|source| EngineError::Hint {
                    addr: hint.listen,
                    source,
                })?;
                tasks.push(task);
                Some(addr)
            }
            None => None,
        };
        tasks.push(sync.task);
        if let Some(mirror) = mirror_for(settings)? {
            tasks.push(crate::updates::mirror_task::spawn(
                mirror,
                Arc::clone(&store),
                crate::gsem::backoff::Backoff::new(
                    settings.servicenow.backoff.start,
                    settings.servicenow.backoff.cap,
                ),
                stop_rx.clone(),
            ));
        }

        let actions = Actions::new(
            Arc::clone(&store),
            MessageBuilder::new(destination(settings), ActivityTable::default()),
            drainer_wake,
        );
        tracing::info!(
            store = %settings.store.path.display(),
            gsem = %settings.gsem.message_url,
            servicenow = %settings.servicenow.instance_url,
            "engine started"
        );
        Ok(Engine {
            store,
            store_path: settings.store.path.clone(),
            actions,
            gsem_health,
            servicenow_health: sync.health,
            warnings,
            push_addr,
            hint_addr,
            shutdown,
            tasks,
        })
    }

    /// The outbound actions (open, note, close, reject, query).
    pub fn actions(&self) -> &Actions {
        &self.actions
    }

    /// The store, shared with the engine's tasks.
    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn gsem_health(&self) -> watch::Receiver<GsemHealth> {
        self.gsem_health.subscribe()
    }

    pub fn servicenow_health(&self) -> watch::Receiver<ServiceNowHealth> {
        self.servicenow_health.clone()
    }

    /// Problems found at start that the engine runs despite.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the GSEM push receiver listens (push mode only).
    pub fn push_addr(&self) -> Option<SocketAddr> {
        self.push_addr
    }

    /// Where the ServiceNow hint endpoint listens, if configured.
    pub fn hint_addr(&self) -> Option<SocketAddr> {
        self.hint_addr
    }

    /// Asks every task to stop and waits for them. An in-flight GSEM request
    /// is abandoned safely: its row stays queued and the resend is
    /// recognised (spec §4).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "an engine task failed while stopping");
            }
        }
        tracing::info!("engine stopped");
    }
}

fn open_store(path: &Path, kind: StoreKind, settings: &Settings) -> Result<Store, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            action: "create the store's directory",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let store = Store::open(
        path,
        Role::Engine {
            demo: kind == StoreKind::Demo,
        },
    )?;
    for system in &settings.systems {
        store.upsert_system(&NewSystem {
            name: system.name.clone(),
            serial: system.serial.clone(),
            contract: Some(system.contract.clone()),
            product_number: system.product_number.clone(),
            cmdb_ci: Some(system.cmdb_ci.clone()),
        })?;
    }
    Ok(store)
}

/// The ServiceNow mirror of tasks and part orders, when configured on.
fn mirror_for(settings: &Settings) -> Result<Option<Mirror>, EngineError> {
    if settings.servicenow.mirror.is_none() {
        return Ok(None);
    }
    let client = Arc::new(crate::servicenow::client_for(&settings.servicenow)?);
    Ok(Mirror::configured(client, &settings.servicenow))
}

/// Where what we send is addressed.
pub fn destination(settings: &Settings) -> Destination {
    Destination {
        remote_agent_name: settings.gsem.remote_agent_name.clone(),
        remote_agent_type: settings.gsem.remote_agent_type.clone(),
    }
}
