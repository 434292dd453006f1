//! A GSEM gateway with HPE's provider behind it, on loopback, for the demo
//! and the tests (spec `gsem.md` §1–§5).
//!
//! A real HTTPS server: mutual TLS against a CA it is given, the agent key
//! header, the synchronous acknowledgement with GSEM's refusal codes, the
//! pull queue and push delivery, and a provider loop that answers a SERVICE
//! REQUEST like HPE's Dev Console does. It can fake outages ([`Fault`]) and
//! records everything it received, in order, for tests to assert on.
//!
//! It shares the SIS message types with [`crate::sis`] and none of the
//! engine's sending or receiving code.
//!
//! Scripting: in-process through the `hpe_*` methods of [`GsemSim`]; from
//! another process through the admin API (see [`admin`]).

pub mod admin;
pub mod cli;
mod http;
pub mod model;
mod net;
pub mod provider;
mod push;
pub mod queue;
mod story;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::sis;

pub use crate::sis::State;
pub use cli::{GsemSimArgs, run_cli};
pub use model::{Refusal, SimCase};
pub use net::Fault;
pub use provider::{HpeAction, HpeAgent, OnsiteTask, PartOrder, UpdateForm};
pub use push::{PushAttempt, PushAuth, PushConfig, PushHealth, PushOutcome};
pub use queue::{QueueBody, QueueEntry};

use model::Cases;
use net::FaultState;
use queue::InboundQueue;
use story::{Rng, Story};

/// What can go wrong starting, scripting or driving the simulator.
#[derive(Debug, thiserror::Error)]
pub enum GsemSimError {
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the simulator holds no case with ProviderID or RequesterID `{0}`: check the id")]
    UnknownCase(String),
    #[error("cannot build the push client: {0}")]
    PushClient(#[source] reqwest::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("test certificates: {0}")]
    Pki(#[from] crate::sim::pki::PkiError),
    #[error(
        "admin call to {url} failed: {source} (is `casebridge sim gsem run` running with that admin address?)"
    )]
    Admin {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the simulator refused the admin call ({status}): {body}")]
    AdminRefused { status: u16, body: String },
    #[error("invalid argument {arg}: {reason}")]
    Argument { arg: &'static str, reason: String },
    #[error("waiting for Ctrl-C failed: {0}")]
    Signal(#[source] std::io::Error),
}

/// How HPE's transactions reach the requester (§5).
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The requester pulls with `GET` and acknowledges with `PATCH`.
    Pull,
    /// The simulator POSTs each head to the requester's endpoint.
    Push(PushConfig),
}

/// How the provider loop behaves.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// How long after a SERVICE REQUEST HPE answers it (ACCEPT PROBLEM or
    /// the entitlement refusal); `None`: only when scripted.
    pub answer_delay: Option<Duration>,
    /// Send ENTITLEMENT `Entitled` 0 (sample 16) before ACCEPT PROBLEM,
    /// instead of the Problem_Submittal shortcut straight to acceptance.
    pub announce_entitlement: bool,
    /// The case number of the first accepted case; the next ones count up.
    pub first_provider_id: u64,
    /// Random mode for the demo; `None`: only scripted updates.
    pub random: Option<RandomConfig>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            answer_delay: Some(Duration::from_secs(5)),
            announce_entitlement: false,
            // Sample 02's case number, so sample 01 gets sample 02's answer.
            first_provider_id: 5_381_923_377,
            random: None,
        }
    }
}

/// Random mode: each accepted case gets a stream of notes, info requests,
/// onsite-task and part-order updates and a resolution.
#[derive(Debug, Clone)]
pub struct RandomConfig {
    pub seed: u64,
    /// Mean time between two updates of one case (each wait is 0.5–1.5 ×).
    pub interval: Duration,
    /// Percent chance that HPE closes a resolved case on its side.
    pub close_percent: u64,
}

/// Everything the simulator is started with. [`GsemSimConfig::new`] gives
/// the spec's defaults; every field can be changed before [`GsemSim::start`].
#[derive(Clone)]
pub struct GsemSimConfig {
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Server identity and client-certificate policy, usually
    /// `sim::pki::server_config(.., &ClientAuth::Required(..))`.
    pub tls: Arc<rustls::ServerConfig>,
    /// A second listener for the admin API (same TLS config, never faulted).
    pub admin_bind: Option<SocketAddr>,
    pub agent_key: String,
    pub agent_key_header: String,
    pub config_path: String,
    pub message_path: String,
    /// The name this agent answers to: a POST whose `RemoteAgentName`
    /// differs is refused with 1005.
    pub agent_name: String,
    pub agent_type: String,
    /// The agent identity HPE's messages carry.
    pub hpe_agent: HpeAgent,
    /// Serial → contract. A SERVICE REQUEST whose serial is missing from the
    /// map or whose contract differs is refused entitlement. `None`: every
    /// contract covers every serial.
    pub contracts: Option<BTreeMap<String, String>>,
    pub provider: ProviderConfig,
    pub delivery: Delivery,
    /// Largest request body accepted; larger ones get 413.
    pub body_limit: usize,
}

impl std::fmt::Debug for GsemSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The agent key is a secret, even a simulated one.
        f.debug_struct("GsemSimConfig")
            .field("bind", &self.bind)
            .field("admin_bind", &self.admin_bind)
            .field("agent_key_header", &self.agent_key_header)
            .field("config_path", &self.config_path)
            .field("message_path", &self.message_path)
            .field("agent_name", &self.agent_name)
            .field("contracts", &self.contracts)
            .field("provider", &self.provider)
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

impl GsemSimConfig {
    pub fn new(tls: Arc<rustls::ServerConfig>, agent_key: impl Into<String>) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls,
            admin_bind: None,
            agent_key: agent_key.into(),
            agent_key_header: "X-Agent-Key".into(),
            config_path: "redfish/v1/gsem".into(),
            message_path: "redfish/v1/message".into(),
            agent_name: "SFDC_Train_REST_P042".into(),
            agent_type: "CUSTOMER".into(),
            hpe_agent: HpeAgent {
                name: "NERSC_Train_R".into(),
                kind: "HPE".into(),
            },
            contracts: None,
            provider: ProviderConfig::default(),
            delivery: Delivery::Pull,
            body_limit: 32 * 1024 * 1024,
        }
    }
}

/// One request the simulator received, and what it answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    /// Order of arrival, from 1.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub method: String,
    /// The request path without its leading `/`.
    pub path: String,
    #[serde(serialize_with = "lossy_text")]
    pub body: Vec<u8>,
    /// Canonical transaction name of a POSTed message that could be read.
    pub transaction: Option<String>,
    pub requester_id: Option<String>,
    pub provider_id: Option<String>,
    pub comment: Option<String>,
    /// HTTP status answered.
    pub status: u16,
    /// `Some` for a POST answered with an acknowledgement: `None` inside
    /// means `OK`, else the refusal.
    pub ack: Option<Option<Refusal>>,
    #[serde(serialize_with = "lossy_text")]
    pub answer: Vec<u8>,
}

impl Received {
    /// True for a POSTed transaction acknowledged `OK`.
    pub fn is_accepted(&self) -> bool {
        self.ack == Some(None)
    }
}

fn lossy_text<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// Everything behind the lock: short critical sections, never held across
/// an `.await`.
struct SimState {
    cases: Cases,
    queue: InboundQueue,
    received: Vec<Received>,
    push: PushHealth,
    push_attempts: Vec<PushAttempt>,
    rng: Rng,
}

/// What the server, the provider tasks and the handle share.
pub(crate) struct Shared {
    config: GsemSimConfig,
    state: Mutex<SimState>,
    faults: watch::Sender<FaultState>,
    /// Wakes the push loop when a message is queued.
    queue_changed: Notify,
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread must not take the simulator down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current_fault(&self) -> Fault {
        self.faults.borrow().effective(std::time::Instant::now()).0
    }

    fn enqueue(&self, state: &mut SimState, message: sis::Message) -> String {
        let id = state.queue.push_message(message, Utc::now());
        self.queue_changed.notify_one();
        id
    }

    /// Sends one of HPE's transactions about the case with handle `key` and
    /// applies its state.
    fn act(&self, state: &mut SimState, key: u64, action: &HpeAction) -> Option<String> {
        if *action == HpeAction::Accept {
            state.cases.assign_provider_id(key)?;
        }
        let case = state.cases.get_mut(key)?;
        case.state = action.state_after(case.state);
        if let Some(status) = action.workflow_status() {
            case.workflow_status = Some(status.to_owned());
        }
        let message = action.message(case, &self.config.hpe_agent, Utc::now());
        Some(self.enqueue(state, message))
    }

    /// Runs `fut` until it ends or the simulator shuts down.
    fn spawn(self: &Arc<Self>, fut: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = fut => {}
                _ = shutdown.changed() => {}
            }
        });
    }

    /// After the configured delay, HPE answers the SERVICE REQUEST of case
    /// `key`: entitlement refused, or accepted (and then, in random mode,
    /// the case's story).
    fn schedule_answer(self: &Arc<Self>, key: u64) {
        let Some(delay) = self.config.provider.answer_delay else {
            return;
        };
        let shared = Arc::clone(self);
        self.spawn(async move {
            tokio::time::sleep(delay).await;
            let accepted = shared.answer(key);
            if accepted && let Some(random) = shared.config.provider.random.clone() {
                shared.tell_story(key, random).await;
            }
        });
    }

    /// HPE's answer to a SERVICE REQUEST; true when the case was accepted.
    fn answer(&self, key: u64) -> bool {
        let mut state = self.lock();
        let Some(case) = state.cases.get(key) else {
            return false;
        };
        // The requester may have closed or HPE may have answered by script
        // in the meantime.
        if !matches!(case.state, State::Beginning | State::ProblemSubmitted) {
            return false;
        }
        let refusal = self.entitlement_refusal(case);
        match refusal {
            Some(comment) => {
                let action = HpeAction::Entitlement {
                    entitled: false,
                    comment: Some(comment),
                };
                self.act(&mut state, key, &action);
                false
            }
            None => {
                if self.config.provider.announce_entitlement {
                    let granted = HpeAction::Entitlement {
                        entitled: true,
                        comment: None,
                    };
                    self.act(&mut state, key, &granted);
                }
                self.act(&mut state, key, &HpeAction::Accept).is_some()
            }
        }
    }

    fn entitlement_refusal(&self, case: &SimCase) -> Option<String> {
        let contracts = self.config.contracts.as_ref()?;
        let serial = case.serial.as_deref().unwrap_or_default();
        let contract = case.contract.as_deref().unwrap_or_default();
        (contracts.get(serial).map(String::as_str) != Some(contract))
            .then(|| provider::not_covered(contract, serial))
    }

    async fn tell_story(&self, key: u64, random: RandomConfig) {
        let (mut rng, mut story) = {
            let mut state = self.lock();
            let mut rng = Rng::new(random.seed ^ state.rng.next_u64() ^ key);
            let story = Story::new(&mut rng, random.close_percent);
            (rng, story)
        };
        loop {
            let half = random.interval / 2;
            let jitter = Duration::from_millis(
                rng.below(u64::try_from(random.interval.as_millis()).unwrap_or(u64::MAX)),
            );
            tokio::time::sleep(half + jitter).await;
            let mut state = self.lock();
            let Some(case_state) = state.cases.get(key).map(|c| c.state) else {
                return;
            };
            match story.step(case_state, &mut rng, Utc::now()) {
                story::Step::Act(action) => {
                    self.act(&mut state, key, &action);
                }
                story::Step::Wait => {}
                story::Step::Done => return,
            }
        }
    }

    fn key_of(&self, state: &SimState, case: &str) -> Result<u64, GsemSimError> {
        state
            .cases
            .find(case)
            .map(|c| c.key)
            .ok_or_else(|| GsemSimError::UnknownCase(case.to_owned()))
    }

    /// A scripted transaction of HPE's about `case` (ProviderID or RequesterID).
    fn script(&self, case: &str, action: &HpeAction) -> Result<String, GsemSimError> {
        let mut state = self.lock();
        let key = self.key_of(&state, case)?;
        self.act(&mut state, key, action)
            .ok_or_else(|| GsemSimError::UnknownCase(case.to_owned()))
    }
}

/// A running simulator. Dropping it without [`GsemSim::shutdown`] leaves
/// its tasks running until the runtime ends.
pub struct GsemSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl GsemSim {
    /// Binds, and serves until [`GsemSim::shutdown`]. Must run inside a
    /// tokio runtime.
    pub async fn start(config: GsemSimConfig) -> Result<GsemSim, GsemSimError> {
        let listener = net::bind(config.bind)?;
        let addr = listener.local_addr().map_err(|source| GsemSimError::Bind {
            addr: config.bind,
            source,
        })?;
        let admin_listener = config.admin_bind.map(net::bind).transpose()?;
        let admin_addr = admin_listener
            .as_ref()
            .map(tokio::net::TcpListener::local_addr)
            .transpose()
            .map_err(|source| GsemSimError::Bind {
                addr: config.admin_bind.unwrap_or(config.bind),
                source,
            })?;
        let push = match &config.delivery {
            Delivery::Push(push) => Some((push.clone(), push::client(push)?)),
            Delivery::Pull => None,
        };
        let acceptor = TlsAcceptor::from(Arc::clone(&config.tls));
        let (faults, faults_rx) = watch::channel(FaultState::new(Fault::None));
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState {
                cases: Cases::new(config.provider.first_provider_id),
                queue: InboundQueue::default(),
                received: Vec::new(),
                push: PushHealth::default(),
                push_attempts: Vec::new(),
                rng: Rng::new(config.provider.random.as_ref().map_or(1, |r| r.seed)),
            }),
            config,
            faults,
            queue_changed: Notify::new(),
            shutdown,
        });
        let mut tasks = vec![tokio::spawn(
            net::AcceptLoop {
                addr,
                listener,
                acceptor: acceptor.clone(),
                router: http::router(Arc::clone(&shared)),
                faults: faults_rx,
                shutdown: shared.shutdown.subscribe(),
            }
            .run(),
        )];
        if let Some(listener) = admin_listener {
            tasks.push(tokio::spawn(net::run_admin(
                listener,
                acceptor,
                admin::router(Arc::clone(&shared)),
                shared.shutdown.subscribe(),
            )));
        }
        if let Some((config, client)) = push {
            let shared = Arc::clone(&shared);
            tasks.push(tokio::spawn(push::run(shared, config, client)));
        }
        Ok(GsemSim {
            shared,
            addr,
            admin_addr,
            tasks,
        })
    }

    /// `https://127.0.0.1:<port>/`: the base URL the engine is configured with.
    pub fn base_url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://<admin addr>/` when an admin listener was configured.
    pub fn admin_url(&self) -> Option<String> {
        self.admin_addr.map(|a| format!("https://{a}/"))
    }

    /// Stops serving (open connections are closed) and waits for the tasks.
    pub async fn shutdown(self) {
        self.shared.shutdown.send_replace(true);
        for task in self.tasks {
            // A task that panicked has nothing left to clean up.
            let _ = task.await;
        }
    }

    /// Fakes an outage (or ends one with [`Fault::None`]). Kept-alive
    /// connections are closed, so clients see the fault on their next call.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.faults.send_replace(FaultState::new(fault));
    }

    pub fn fault(&self) -> Fault {
        self.shared.faults.borrow().fault.clone()
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().received.clone()
    }

    /// The `Comment`s of the transactions acknowledged `OK` for `case`
    /// (RequesterID or ProviderID), in order.
    pub fn received_comments_for(&self, case: &str) -> Vec<String> {
        self.shared
            .lock()
            .received
            .iter()
            .filter(|r| r.is_accepted())
            .filter(|r| {
                r.requester_id.as_deref() == Some(case) || r.provider_id.as_deref() == Some(case)
            })
            .filter_map(|r| r.comment.clone())
            .collect()
    }

    pub fn cases(&self) -> Vec<SimCase> {
        self.shared.lock().cases.all().to_vec()
    }

    /// The case with that ProviderID, else the newest with that RequesterID.
    pub fn case(&self, case: &str) -> Option<SimCase> {
        self.shared.lock().cases.find(case).cloned()
    }

    pub fn queue_len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// The inbound queue, head first.
    pub fn queue(&self) -> Vec<QueueEntry> {
        self.shared.lock().queue.entries()
    }

    /// Queues bytes verbatim (a head without `MessageId`, an oversized body,
    /// garbage); returns the `QueueDetails.MessageId` they carry, if any.
    pub fn enqueue_raw(&self, bytes: impl Into<Vec<u8>>) -> Option<String> {
        let id = self.shared.lock().queue.push_raw(bytes.into(), Utc::now());
        self.shared.queue_changed.notify_one();
        id
    }

    /// Queues any transaction as HPE would send it, without touching the
    /// case model (to test how the engine copes with odd messages).
    pub fn enqueue_message(&self, message: sis::Message) -> String {
        let mut state = self.shared.lock();
        self.shared.enqueue(&mut state, message)
    }

    /// Removes the head, as GSEM's operators would for a stuck message.
    pub fn remove_head(&self) -> Option<QueueEntry> {
        self.shared.lock().queue.remove_head()
    }

    pub fn push_health(&self) -> PushHealth {
        self.shared.lock().push.clone()
    }

    /// Every push delivery attempt, in order.
    pub fn push_attempts(&self) -> Vec<PushAttempt> {
        self.shared.lock().push_attempts.clone()
    }

    /// Sends one of HPE's transactions about `case` (ProviderID or
    /// RequesterID) and applies its state; returns the queue's MessageId.
    pub fn hpe(&self, case: &str, action: &HpeAction) -> Result<String, GsemSimError> {
        self.shared.script(case, action)
    }

    /// ACCEPT PROBLEM now (gives the case its ProviderID).
    pub fn hpe_accept(&self, case: &str) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::Accept)
    }

    /// ENTITLEMENT granted (sample 16) or refused (sample 07).
    pub fn hpe_entitlement(
        &self,
        case: &str,
        entitled: bool,
        comment: Option<&str>,
    ) -> Result<String, GsemSimError> {
        let action = HpeAction::Entitlement {
            entitled,
            comment: comment.map(str::to_owned),
        };
        self.hpe(case, &action)
    }

    pub fn hpe_note(&self, case: &str, text: &str) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::Note(text.to_owned()))
    }

    /// A note with `eCPExtMessage_InfoRequested` `Y`: the case goes to 4.
    pub fn hpe_request_info(&self, case: &str, text: &str) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::RequestInfo(text.to_owned()))
    }

    pub fn hpe_onsite_task(
        &self,
        case: &str,
        task: &OnsiteTask,
        form: UpdateForm,
    ) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::OnsiteTask(task.clone(), form))
    }

    pub fn hpe_part_order(
        &self,
        case: &str,
        order: &PartOrder,
        form: UpdateForm,
    ) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::PartOrder(order.clone(), form))
    }

    /// PROBLEM RESOLUTION with a `FIX` statement: the case goes to 6.
    pub fn hpe_resolve(&self, case: &str, solution: &str) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::Resolve(solution.to_owned()))
    }

    /// HPE closes on its side (sample 20): the case goes to 7.
    pub fn hpe_close(&self, case: &str, comment: &str) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::Close(comment.to_owned()))
    }

    /// QUERY INCIDENT from HPE (sample 19).
    pub fn hpe_query(&self, case: &str) -> Result<String, GsemSimError> {
        self.hpe(case, &HpeAction::Query)
    }
}
