//! The engine's end of the console link, in-process: one task that answers
//! the console's requests from the engine's store and actions, and pushes
//! what the engine's own tasks change (HPE's messages, acknowledgements,
//! ServiceNow comments, health).
//!
//! The console never waits on it: every store call runs on the blocking
//! pool, and all the task does towards the console is send events.
//!
//! Change detection stays cheap with many cases. Every commit made through
//! the engine's connection (the engine shares one) wakes the task at once
//! ([`Store::commits`]); writes of other processes (e.g. the CLI) are found
//! by a look every [`POLL`], which compares SQLite's `data_version`. A look
//! first compares the connection's change counter and `data_version`; only
//! when one moved does it look at what changed: a narrow scan of the cases'
//! `updated_at`, journal ids past the last one seen, task and part records
//! updated since the newest seen, and the small set of queued and parked
//! outbox rows. Only the summaries of the cases touched are rebuilt.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::link::EngineLink;
use super::protocol::{Event, History, OpenCase, Request, RequestId, Snapshot};
use super::types::{
    CaseDetail, CaseFlags, CaseId, CaseSummary, EntryStatus, Health, IncidentSummary, Origin,
    ParkedMessage, PartView, Priority, QuarantineEntry, RecordEvent, SyncMode, SystemChoice,
    TaskView, TimelineEntry,
};
use crate::config::{Delivery, Settings, SeverityMap};
use crate::engine::Engine;
use crate::gsem::actions::{self, ActionError, Actions};
use crate::gsem::health::GsemHealth;
use crate::gsem::shared::{SharedStore, from_ms, now_ms, with_store};
use crate::sis::{self, Person, Requester, TransactionName};
use crate::store::prelude::*;
use crate::store::{
    Access, CaseRow, InboxState, JournalPosition, JournalRow, JournalState, NewCase, NewJournal,
    OutboxRow, OutboxState, QuarantineRow, QuarantineState, Store, StoreError, Via,
};
use crate::sync::health::ServiceNowHealth;

/// How often the store is checked for changes made by other processes (the
/// CLI beside `serve`, another console). Commits made through the engine's
/// own connection wake the console end at once.
pub const POLL: Duration = Duration::from_millis(250);

/// The least time from one look prompted by commits to the next.
const COMMIT_LOOK_SPACING: Duration = Duration::from_millis(20);

/// The most incidents the open-case dialog is offered, newest first.
const INCIDENT_LIMIT: u32 = 1000;

/// Why the console's engine end could not start.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "no operator profile {id:?} in the config: choose one of {known} (the `id` of an [[operators]] entry)"
    )]
    UnknownOperator { id: String, known: String },
}

/// Why a request was refused; shown to the operator as it reads.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error(transparent)]
    Action(#[from] ActionError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no system {0:?} in the config: choose one of the configured [[systems]]")]
    UnknownSystem(String),
    #[error(
        "incident {0} is not among the incidents casebridge has read from ServiceNow: check the number, or wait for the next poll (it reads those matching servicenow.incident_query)"
    )]
    UnknownIncident(String),
    #[error(
        "the edited message cannot be sent: {0}. Fix it in the editor (your text is kept), or retry the message unedited"
    )]
    EditedBody(String),
    #[error("no quarantine entry {0}")]
    NoQuarantine(i64),
    #[error("quarantine entry {id} is {state}: only open entries can be replayed or discarded")]
    QuarantineClosed { id: i64, state: QuarantineState },
    #[error(
        "only the first {kept} of the {size} bytes of quarantine entry {id} were kept, so it cannot be replayed: discard it and ask HPE to send the message again"
    )]
    Truncated { id: i64, kept: usize, size: u64 },
    #[error(
        "quarantine entry {0} is being replayed already: the inbox processor takes it within a second"
    )]
    Replaying(i64),
}

/// What the console's engine end works with: the parts of an engine
/// running in this process, or the bare store of one running in another
/// (the scripting CLI beside `serve`).
pub struct EngineEnd {
    store: SharedStore,
    actions: Actions,
    gsem_health: watch::Receiver<GsemHealth>,
    sn_health: watch::Receiver<ServiceNowHealth>,
    warnings: Vec<String>,
}

impl EngineEnd {
    /// The engine running in this process.
    pub fn of(engine: &Engine) -> Self {
        EngineEnd {
            store: Arc::clone(engine.store()),
            actions: engine.actions().clone(),
            gsem_health: engine.gsem_health(),
            sn_health: engine.servicenow_health(),
            warnings: engine.warnings().to_vec(),
        }
    }

    /// The store of the engine configured by `settings`, opened beside it
    /// without its lock. What is queued here is sent by that engine, which
    /// looks for rows committed by other processes every second; the sync
    /// health is that engine's to know, so it reads as unknown here.
    pub fn beside(settings: &Settings) -> Result<Self, StoreError> {
        let store = Store::open(&settings.store.path, crate::store::Role::Tool)?;
        let store: SharedStore = Arc::new(Mutex::new(store));
        let actions = Actions::new(
            Arc::clone(&store),
            sis::MessageBuilder::new(
                crate::engine::destination(settings),
                sis::ActivityTable::default(),
            ),
            Arc::new(tokio::sync::Notify::new()),
        );
        // The senders go at once: `changed()` then reports them closed and
        // the console end stops watching.
        Ok(EngineEnd {
            store,
            actions,
            gsem_health: watch::channel(GsemHealth::default()).1,
            sn_health: watch::channel(ServiceNowHealth::default()).1,
            warnings: Vec::new(),
        })
    }
}

/// Starts the console's engine end for `operator_id` (an `[[operators]]`
/// id: the requester of the cases this console opens and the author of what
/// it writes). The task sends [`Event::Snapshot`] first, then answers
/// requests and pushes changes until the console drops its end of `link`.
pub fn spawn(
    end: EngineEnd,
    settings: &Settings,
    operator_id: &str,
    link: EngineLink,
) -> Result<JoinHandle<()>, LocalError> {
    let context = Context::new(settings, operator_id, &end.warnings)?;
    let local = Local {
        store: end.store,
        actions: end.actions,
        context: Arc::new(context),
        events: link.events,
        gsem_health: end.gsem_health,
        sn_health: end.sn_health,
        watcher: Arc::new(Mutex::new(Watcher::default())),
        started: Utc::now(),
        demo: false,
        last_health: None,
        poll_every: POLL,
    };
    Ok(tokio::spawn(local.run(link.requests)))
}

/// What the settings say, fixed for the console's life.
#[derive(Debug)]
struct Context {
    operator_id: String,
    requester: Requester,
    severity: SeverityMap,
    systems: Vec<crate::config::System>,
    choices: Vec<SystemChoice>,
    overdue_after_ms: i64,
    mode: SyncMode,
    warnings: Vec<String>,
}

impl Context {
    fn new(
        settings: &Settings,
        operator_id: &str,
        warnings: &[String],
    ) -> Result<Self, LocalError> {
        let operator =
            settings
                .operator(operator_id)
                .ok_or_else(|| LocalError::UnknownOperator {
                    id: operator_id.to_string(),
                    known: settings
                        .operators
                        .iter()
                        .map(|o| format!("{:?}", o.id))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
        let site = &settings.site;
        let person = |c: crate::config::Contact| Person {
            first_name: c.first_name,
            last_name: c.last_name,
            phone: c.phone,
            email: c.email,
        };
        let address = &site.address;
        let requester = Requester {
            organization_name: site.organization.clone(),
            address: sis::Address {
                // SIS has one street line: a second line joins the first.
                geo_address1: match &address.street2 {
                    Some(second) => format!("{}, {second}", address.street),
                    None => address.street.clone(),
                },
                city: address.city.clone(),
                region: address.region.clone(),
                postal_code: address.postal_code.clone(),
                country: address.country.clone(),
            },
            person: person(operator.as_contact(&site.contact)),
            alternate: Some(person(site.alternate_contact.clone())),
        };
        Ok(Context {
            operator_id: operator.id.clone(),
            requester,
            severity: settings.severity.clone(),
            systems: settings.systems.clone(),
            choices: settings
                .systems
                .iter()
                .map(|s| SystemChoice {
                    name: s.name.clone(),
                    serial: s.serial.clone(),
                    cis: vec![s.cmdb_ci.clone()],
                })
                .collect(),
            overdue_after_ms: i64::try_from(settings.sync.overdue_after.as_millis())
                .unwrap_or(i64::MAX),
            mode: match settings.gsem.delivery {
                Delivery::Pull { .. } => SyncMode::Pull,
                Delivery::Push(_) => SyncMode::Push,
            },
            warnings: warnings.to_vec(),
        })
    }

    fn severity(&self, priority: Priority) -> &str {
        match priority {
            Priority::Normal => &self.severity.normal,
            Priority::CriticalDegraded => &self.severity.critical_degraded,
            Priority::CriticalDown => &self.severity.critical_down,
        }
    }

    fn priority(&self, severity: &str) -> Priority {
        Priority::ALL
            .into_iter()
            .find(|p| self.severity(*p).eq_ignore_ascii_case(severity))
            .unwrap_or_default()
    }
}

struct Local {
    store: SharedStore,
    actions: Actions,
    context: Arc<Context>,
    events: mpsc::UnboundedSender<Event>,
    gsem_health: watch::Receiver<GsemHealth>,
    sn_health: watch::Receiver<ServiceNowHealth>,
    /// Shared with the blocking closures, which do all the store work.
    watcher: Arc<Mutex<Watcher>>,
    started: DateTime<Utc>,
    demo: bool,
    last_health: Option<Health>,
    /// [`POLL`], but for tests.
    poll_every: Duration,
}

impl Local {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<(RequestId, Request)>) {
        // Subscribed before the snapshot is read: a commit in between is
        // looked at after it.
        let commits = with_store(&self.store, |s| Ok::<_, StoreError>(s.commits())).await;
        let (mut commits, mut commits_open) = match commits {
            Ok(commits) => (commits, true),
            Err(e) => {
                tracing::error!(error = %e, "console: cannot watch the store's commits");
                (tokio::sync::watch::channel(0).1, false)
            }
        };
        if !self.snapshot().await {
            return;
        }
        // The snapshot was just read: the first look is a period away.
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.poll_every,
            self.poll_every,
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut gsem_open, mut sn_open) = (true, true);
        // A look prompted by commits waits until `next_look`, so that a
        // burst of engine writes (a drained outbox, HPE's backlog) is seen
        // in a few looks rather than one between every two writes, each
        // holding the store the engine needs.
        let mut next_look = tokio::time::Instant::now();
        let mut look_due = false;
        loop {
            let alive = tokio::select! {
                request = requests.recv() => match request {
                    Some((id, request)) => self.handle(id, request).await,
                    None => false,
                },
                // `changed` marks every commit so far seen at once.
                changed = commits.changed(), if commits_open && !look_due => {
                    commits_open = changed.is_ok();
                    look_due = commits_open;
                    true
                }
                () = tokio::time::sleep_until(next_look), if look_due => {
                    look_due = false;
                    let alive = self.poll().await;
                    next_look = tokio::time::Instant::now() + COMMIT_LOOK_SPACING;
                    alive
                }
                changed = self.gsem_health.changed(), if gsem_open => {
                    gsem_open = changed.is_ok();
                    self.send_health()
                }
                changed = self.sn_health.changed(), if sn_open => {
                    sn_open = changed.is_ok();
                    self.send_health()
                }
                _ = tick.tick() => self.poll().await,
            };
            if !alive {
                break;
            }
        }
    }

    /// Sends `event`; false once the console has gone.
    fn send(&self, event: Event) -> bool {
        self.events.send(event).is_ok()
    }

    fn lock(watcher: &Mutex<Watcher>) -> std::sync::MutexGuard<'_, Watcher> {
        watcher.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn snapshot(&mut self) -> bool {
        let watcher = Arc::clone(&self.watcher);
        let context = Arc::clone(&self.context);
        let taken = with_store(&self.store, move |s| {
            let mut w = Self::lock(&watcher);
            s.read(|s| {
                let cases = w.reset(s, &context, now_ms())?;
                Ok::<_, StoreError>((cases, parked(s)?, quarantine(s)?, s.is_demo()))
            })
        })
        .await;
        match taken {
            Ok((cases, parked, quarantine, demo)) => {
                self.demo = demo;
                let health = self.health();
                self.last_health = Some(health.clone());
                self.send(Event::Snapshot(Box::new(Snapshot {
                    cases,
                    health,
                    systems: self.context.choices.clone(),
                    parked,
                    quarantine,
                })))
            }
            Err(e) => {
                tracing::error!(error = %e, "console: cannot read the store for the snapshot");
                let mut health = self.health();
                health.problem = Some(format!("cannot read the store: {e}"));
                self.send(Event::Health(health))
            }
        }
    }

    /// Looks for changes and sends what they mean; false once the console
    /// has gone.
    async fn poll(&mut self) -> bool {
        let watcher = Arc::clone(&self.watcher);
        let context = Arc::clone(&self.context);
        let found = with_store(&self.store, move |s| {
            Self::lock(&watcher).poll(s, &context, now_ms())
        })
        .await;
        let changes = match found {
            Ok(changes) => changes,
            Err(e) => {
                tracing::error!(error = %e, "console: cannot read changes from the store");
                return true;
            }
        };
        let mut events: Vec<Event> = changes.cases.into_iter().map(Event::CaseChanged).collect();
        events.extend(changes.detail.map(|d| Event::CaseDetail(Box::new(d))));
        events.extend(changes.parked.map(Event::Parked));
        events.extend(changes.quarantine.map(Event::Quarantine));
        events.into_iter().all(|e| self.send(e)) && self.send_health()
    }

    /// Sends the health if it differs from what the console last got.
    fn send_health(&mut self) -> bool {
        let health = self.health();
        if self.last_health.as_ref() == Some(&health) {
            return true;
        }
        self.last_health = Some(health.clone());
        self.send(Event::Health(health))
    }

    fn health(&self) -> Health {
        let g = self.gsem_health.borrow().clone();
        let sn = self.sn_health.borrow().clone();
        let counts = Self::lock(&self.watcher).counts;
        let unreachable = g.outbound.unreachable_since.or(g.inbound.unreachable_since);
        let mut problems: Vec<String> = [
            g.outbound.config_problem.clone(),
            g.inbound.config_problem.clone(),
            g.inbound.blocked_head.as_ref().map(|b| b.alert.clone()),
            g.inbound.oversized_alert.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        if sn.credentials_problem {
            problems.push(
                "ServiceNow refuses casebridge's credentials (401): fix servicenow.user and its password or OAuth client in the config".into(),
            );
        }
        if sn.journal_blocked {
            problems.push(
                "ServiceNow hides incident comments from the integration user: grant it read access to sys_journal_field".into(),
            );
        }
        problems.extend(self.context.warnings.iter().cloned());
        Health {
            gsem_reachable: unreachable.is_none(),
            gsem_since: unreachable
                .or(g.outbound.reachable_since)
                .unwrap_or(self.started),
            mode: self.context.mode,
            outbox_depth: counts.queued,
            outbox_oldest: counts.oldest_queued.map(from_ms),
            next_retry: g.outbound.next_retry_at,
            last_gsem_contact: g.inbound.last_received_at.max(g.outbound.reachable_since),
            last_servicenow_contact: sn.last_contact,
            parked_count: counts.parked,
            quarantine_count: counts.quarantined,
            inbound_blocked_since: g.inbound.blocked_head.as_ref().map(|b| b.since),
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
            demo: self.demo,
        }
    }

    /// Answers one request; false once the console has gone.
    async fn handle(&mut self, id: RequestId, request: Request) -> bool {
        let answer = match request {
            Request::LoadCase { case, history } => return self.load(case, history).await,
            Request::UnloadCase => {
                Self::lock(&self.watcher).loaded = None;
                return true;
            }
            Request::LoadIncidents => {
                return match self.on_store(incidents).await {
                    Ok(list) => self.send(Event::Incidents(list)),
                    Err(e) => self.refuse(id, &e),
                };
            }
            Request::LookupIncident { number } => {
                let wanted = number.trim().to_string();
                return match self.on_store(move |s| incident(s, &wanted)).await {
                    Ok(Some(found)) => self.send(Event::IncidentFound(found)),
                    Ok(None) => self.refuse(id, &Refused::UnknownIncident(number)),
                    Err(e) => self.refuse(id, &e),
                };
            }
            Request::OpenCase(open) => self.open_case(open).await,
            Request::Comment { case, text } => self
                .actions
                .add_note(case, &self.context.operator_id, &text, Utc::now())
                .await
                .map(|q| Some(q.case_id))
                .map_err(Refused::from),
            Request::Close { case, notes } => self
                .actions
                .close(case, &self.context.operator_id, &notes, Utc::now())
                .await
                .map(|q| Some(q.case_id))
                .map_err(Refused::from),
            Request::RejectResolution { case, reason } => self
                .actions
                .reject_resolution(case, &self.context.operator_id, &reason, Utc::now())
                .await
                .map(|q| Some(q.case_id))
                .map_err(Refused::from),
            Request::Query { case } => self
                .actions
                .query(case, &self.context.operator_id, Utc::now())
                .await
                .map(|q| Some(q.case_id))
                .map_err(Refused::from),
            Request::RetryOutbox { seq } => self.retry(seq, None).await,
            Request::EditAndRetry { seq, body } => self.retry(seq, Some(body)).await,
            Request::DropOutbox { seq } => {
                let author = self.context.operator_id.clone();
                self.on_store(move |s| drop_outbox(s, seq, &author, now_ms()))
                    .await
                    .map(Some)
            }
            Request::ReplayQuarantine { id: entry } => self.replay(entry).await,
            Request::DiscardQuarantine { id: entry } => {
                let author = self.context.operator_id.clone();
                self.on_store(move |s| discard(s, entry, &author, now_ms()))
                    .await
                    .map(|()| None)
            }
        };
        let answered = match answer {
            Ok(case) => self.send(Event::RequestAccepted { request: id, case }),
            Err(e) => self.refuse(id, &e),
        };
        // What the request changed reaches the console at once, not at the
        // next tick.
        answered && self.poll().await
    }

    fn refuse(&self, request: RequestId, reason: &Refused) -> bool {
        self.send(Event::RequestFailed {
            request,
            reason: reason.to_string(),
        })
    }

    /// Runs store work off the async threads.
    async fn on_store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, Refused> + Send + 'static,
    ) -> Result<T, Refused> {
        with_store(&self.store, f).await
    }

    async fn load(&mut self, case: CaseId, history: History) -> bool {
        let watcher = Arc::clone(&self.watcher);
        let context = Arc::clone(&self.context);
        let loaded = with_store(&self.store, move |s| {
            let from = match history {
                History::Newest(entries) => s.journal_newest_start(case, entries)?,
                History::All => None,
            };
            let mut w = Self::lock(&watcher);
            w.loaded = Some(Loaded { case, from });
            w.last_detail = None;
            w.refresh_detail(s, &context, now_ms())
        })
        .await;
        match loaded {
            Ok(Some(detail)) => self.send(Event::CaseDetail(Box::new(detail))),
            Ok(None) => true,
            Err(e) => {
                tracing::error!(error = %e, case, "console: cannot read the case");
                true
            }
        }
    }

    async fn open_case(&self, open: OpenCase) -> Result<Option<CaseId>, Refused> {
        let context = &self.context;
        let system = context
            .systems
            .iter()
            .find(|s| s.name == open.system)
            .ok_or_else(|| Refused::UnknownSystem(open.system.clone()))?
            .clone();
        let number = open.incident.trim().to_string();
        let serial = system.serial.clone();
        let (known, system_id) = self
            .on_store(move |s| {
                let known = s.incident_by_number(&number)?.is_some();
                Ok((known, s.system_by_serial(&serial)?.map(|row| row.id)))
            })
            .await?;
        if !known {
            return Err(Refused::UnknownIncident(open.incident));
        }
        let request = actions::OpenCase {
            case: NewCase {
                incident_number: open.incident.trim().to_string(),
                severity: context.severity(open.priority).to_string(),
                title: open.title,
                description: open.description,
                system_id,
                opened_by: context.operator_id.clone(),
            },
            requester: context.requester.clone(),
            contract: system.contract,
            serial: system.serial,
        };
        let (case, _) = self.actions.open_case(request, Utc::now()).await?;
        Ok(Some(case.id))
    }

    async fn retry(&self, seq: i64, body: Option<String>) -> Result<Option<CaseId>, Refused> {
        let author = self.context.operator_id.clone();
        self.on_store(move |s| {
            let now = now_ms();
            s.transaction(|tx| {
                let row = tx.outbox_get(seq)?.ok_or(StoreError::NotFound {
                    what: "outbox message",
                    id: seq.to_string(),
                })?;
                if let Some(body) = &body {
                    check_edited_body(body, &row.transaction_name)?;
                }
                tx.outbox_retry(seq, body.as_deref(), now)?;
                let how = if body.is_some() {
                    "edited and retried"
                } else {
                    "retried"
                };
                tx.audit_append(
                    &author,
                    Some(row.case_id),
                    "outbox",
                    &format!("{} (message {seq}) {how}", row.transaction_name),
                    now,
                )?;
                // The drainer looks at the store every half second; it
                // takes the row from there.
                Ok(Some(row.case_id))
            })
        })
        .await
    }

    async fn replay(&self, entry: i64) -> Result<Option<CaseId>, Refused> {
        let author = self.context.operator_id.clone();
        let watcher = Arc::clone(&self.watcher);
        self.on_store(move |s| {
            let mut w = Self::lock(&watcher);
            if w.replays.iter().any(|r| r.quarantine_id == entry) {
                return Err(Refused::Replaying(entry));
            }
            let inbox_id = replay(s, entry, &author, now_ms())?;
            w.replays.push(Replay {
                quarantine_id: entry,
                inbox_id,
            });
            Ok(None)
        })
        .await
    }
}

/// Queued or parked: an outbox row that still matters to its case.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Active {
    case_id: i64,
    state: OutboxState,
    /// The case's state once GSEM acknowledges it, if it moves it.
    state_after: Option<u8>,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
}

/// A quarantined body put back in the inbox, until the processor took it.
#[derive(Debug, Clone, Copy)]
struct Replay {
    quarantine_id: i64,
    inbox_id: i64,
}

/// Totals the health line shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    queued: u32,
    oldest_queued: Option<i64>,
    parked: u32,
    quarantined: u32,
}

/// What one look at the store found for the console.
#[derive(Debug, Default)]
struct Changes {
    cases: Vec<CaseSummary>,
    detail: Option<CaseDetail>,
    parked: Option<Vec<ParkedMessage>>,
    quarantine: Option<Vec<QuarantineEntry>>,
}

/// The case on the console's screen, and where its timeline starts (`None`:
/// at the case's first entry). The start stays put while the case is open,
/// so entries that arrive are added and none drops off.
#[derive(Debug, Clone, Copy)]
struct Loaded {
    case: CaseId,
    from: Option<JournalPosition>,
}

/// What the console was last told, to send only differences.
#[derive(Debug, Default)]
struct Watcher {
    total_changes: u64,
    data_version: i64,
    case_updated: HashMap<i64, i64>,
    journal_max: i64,
    /// Newest `updated_at` of task and part records seen.
    records_mark: i64,
    record_updated: HashMap<i64, i64>,
    outbox: BTreeMap<i64, Active>,
    /// (open entries, highest id, deliveries): moves on any quarantine change.
    quarantine_mark: (i64, i64, i64),
    /// Cases in 0 or 3 not yet overdue, and when they will be.
    deadlines: HashMap<CaseId, i64>,
    systems: HashMap<i64, String>,
    counts: Counts,
    loaded: Option<Loaded>,
    last_detail: Option<CaseDetail>,
    replays: Vec<Replay>,
}

impl Watcher {
    /// Reads everything afresh; returns every case's summary.
    fn reset(
        &mut self,
        s: &Store,
        context: &Context,
        now: i64,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let c = s.conn();
        self.total_changes = c.total_changes();
        self.data_version = data_version(c)?;
        self.systems = s
            .list_systems()?
            .into_iter()
            .map(|row| (row.id, row.system.name))
            .collect();
        self.deadlines.clear();
        self.journal_max =
            c.query_row("SELECT COALESCE(MAX(id), 0) FROM journal", [], |r| r.get(0))?;
        // Only the records at the newest stamp need remembering (see
        // `records_since`); the summaries count every record anyway.
        self.record_updated.clear();
        self.records_mark = c.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(updated_at) FROM onsite_tasks), 0),
                        COALESCE((SELECT MAX(updated_at) FROM part_orders), 0))",
            [],
            |r| r.get(0),
        )?;
        self.records_since(c)?;
        self.outbox = active_outbox(c)?;
        self.quarantine_mark = quarantine_mark(c)?;
        self.counts = self.counts(c)?;
        self.case_updated.clear();
        self.summarize(c, context, None, now)
    }

    fn poll(&mut self, s: &Store, context: &Context, now: i64) -> Result<Changes, StoreError> {
        let c = s.conn();
        let mut touched: BTreeSet<CaseId> = self
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline < now)
            .map(|(id, _)| *id)
            .collect();
        let (total, version) = (c.total_changes(), data_version(c)?);
        let moved = total != self.total_changes || version != self.data_version;
        let mut changes = Changes::default();
        if moved {
            self.total_changes = total;
            self.data_version = version;
            self.finish_replays(s)?;
            touched.extend(self.store_changes(c)?);
            let outbox = active_outbox(c)?;
            let parked_before = parked_view(&self.outbox);
            for (seq, row) in outbox.iter().chain(self.outbox.iter()) {
                if outbox.get(seq) != self.outbox.get(seq) {
                    touched.insert(row.case_id);
                }
            }
            self.outbox = outbox;
            if parked_view(&self.outbox) != parked_before {
                changes.parked = Some(parked(s)?);
            }
            let mark = quarantine_mark(c)?;
            if mark != self.quarantine_mark {
                self.quarantine_mark = mark;
                changes.quarantine = Some(quarantine(s)?);
            }
            self.counts = self.counts(c)?;
        }
        if touched.is_empty() {
            return Ok(changes);
        }
        let ids: Vec<i64> = touched.iter().copied().collect();
        // Touched: the store changed for the case (or it turned overdue),
        // so its summary is sent without comparing it to the last one.
        changes.cases = self.summarize(c, context, Some(&ids), now)?;
        if self.loaded.is_some_and(|l| touched.contains(&l.case)) {
            changes.detail = self.refresh_detail(s, context, now)?;
        }
        Ok(changes)
    }

    /// Cases whose row, journal or records changed since the last look.
    fn store_changes(&mut self, c: &Connection) -> Result<BTreeSet<CaseId>, StoreError> {
        let mut touched = BTreeSet::new();
        for (id, updated) in case_updates(c)? {
            if self.case_updated.insert(id, updated) != Some(updated) {
                touched.insert(id);
            }
        }
        let mut stmt =
            c.prepare("SELECT case_id, MAX(id) FROM journal WHERE id > ?1 GROUP BY case_id")?;
        let rows = stmt.query_map([self.journal_max], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (case, max) = row?;
            touched.insert(case);
            self.journal_max = self.journal_max.max(max);
        }
        touched.extend(self.records_since(c)?);
        Ok(touched)
    }

    /// Cases with a task or part record updated at or after the newest seen
    /// (the processor stamps records inside its transaction, so stamps
    /// follow commit order).
    fn records_since(&mut self, c: &Connection) -> Result<BTreeSet<CaseId>, StoreError> {
        let mut stmt = c.prepare(
            "SELECT id, case_id, updated_at FROM onsite_tasks WHERE updated_at >= ?1
             UNION ALL
             SELECT -id, case_id, updated_at FROM part_orders WHERE updated_at >= ?1",
        )?;
        let rows = stmt.query_map([self.records_mark], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut touched = BTreeSet::new();
        for row in rows {
            // Tasks by id, parts by negated id: one map for both.
            let (key, case, updated) = row?;
            if self.record_updated.insert(key, updated) != Some(updated) {
                touched.insert(case);
            }
            self.records_mark = self.records_mark.max(updated);
        }
        // The next look starts at the mark: older stamps cannot come back.
        let mark = self.records_mark;
        self.record_updated.retain(|_, updated| *updated == mark);
        Ok(touched)
    }

    /// Marks replayed the entries whose copy the processor applied; an
    /// entry whose copy was quarantined again stays open, with the new
    /// reason.
    fn finish_replays(&mut self, s: &Store) -> Result<(), StoreError> {
        let mut pending = Vec::new();
        for replay in std::mem::take(&mut self.replays) {
            match s.inbox_get(replay.inbox_id)?.map(|row| row.state) {
                Some(InboxState::New) => pending.push(replay),
                Some(InboxState::Processed) => {
                    s.quarantine_set_state(replay.quarantine_id, QuarantineState::Replayed)?;
                }
                Some(InboxState::Quarantined) | None => {}
            }
        }
        self.replays = pending;
        Ok(())
    }

    fn counts(&self, c: &Connection) -> Result<Counts, StoreError> {
        let queued = self
            .outbox
            .values()
            .filter(|r| r.state == OutboxState::Queued);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(Counts {
            queued: count(queued.clone().count()),
            oldest_queued: queued.map(|r| r.created_at).min(),
            parked: count(
                self.outbox
                    .values()
                    .filter(|r| r.state == OutboxState::Parked)
                    .count(),
            ),
            quarantined: c.query_row(
                "SELECT COUNT(*) FROM quarantine WHERE state = 'open'",
                [],
                |r| r.get(0),
            )?,
        })
    }

    /// The summaries of the cases `ids` (`None`: every case, by id).
    fn summarize(
        &mut self,
        c: &Connection,
        context: &Context,
        ids: Option<&[i64]>,
        now: i64,
    ) -> Result<Vec<CaseSummary>, StoreError> {
        let rows = summary_rows(c, ids)?;
        let records = record_aggregates(c, ids)?;
        // By seq: the last queued or parked message with a `state_after`
        // gives the pending state, as `case_pending_state` has it.
        let mut active: HashMap<i64, (bool, bool, Option<u8>)> = HashMap::new();
        for row in self.outbox.values() {
            let flags = active.entry(row.case_id).or_default();
            flags.0 |= row.state == OutboxState::Queued;
            flags.1 |= row.state == OutboxState::Parked;
            flags.2 = row.state_after.or(flags.2);
        }
        let summaries = rows
            .into_iter()
            .map(|row| {
                self.case_updated.insert(row.id, row.updated_at);
                let agg = records.get(&row.id).copied().unwrap_or_default();
                let (pending, failed, after) = active.get(&row.id).copied().unwrap_or_default();
                // Waiting for HPE's answer to the SERVICE REQUEST since it
                // went out, or since it was queued while unacknowledged.
                let since = row.sent_at.unwrap_or(row.created_at);
                let overdue = matches!(row.state, 0 | 3)
                    && now.saturating_sub(since) > context.overdue_after_ms;
                self.deadlines.remove(&row.id);
                if matches!(row.state, 0 | 3) && !overdue {
                    self.deadlines
                        .insert(row.id, since.saturating_add(context.overdue_after_ms));
                }
                CaseSummary {
                    id: row.id,
                    provider_id: row.provider_id,
                    system: row
                        .system_id
                        .and_then(|id| self.systems.get(&id).cloned())
                        .unwrap_or_default(),
                    priority: context.priority(&row.severity),
                    state: row.state,
                    pending_state: after.unwrap_or(row.state),
                    workflow_status: row.workflow_status,
                    updated: from_ms(
                        row.updated_at
                            .max(row.journal_latest.unwrap_or(0))
                            .max(agg.latest),
                    ),
                    open_tasks: agg.open_tasks,
                    parts_in_transit: agg.parts_in_transit,
                    flags: CaseFlags {
                        pending,
                        failed,
                        info_requested: row.state == 4,
                        overdue,
                    },
                    incident: row.incident_number,
                    tracking: row.tracking_number,
                }
            })
            .collect();
        Ok(summaries)
    }

    /// The loaded case's detail if it differs from the one last sent.
    fn refresh_detail(
        &mut self,
        s: &Store,
        context: &Context,
        now: i64,
    ) -> Result<Option<CaseDetail>, StoreError> {
        let Some(Loaded { case: id, from }) = self.loaded else {
            return Ok(None);
        };
        let detail = s.read(|s| {
            let Some(row) = s.case_by_id(id)? else {
                return Ok(None);
            };
            let Some(summary) = self.summarize(s.conn(), context, Some(&[id]), now)?.pop() else {
                return Ok(None);
            };
            detail(s, summary, row, from).map(Some)
        })?;
        let Some(detail) = detail else {
            return Ok(None);
        };
        if self.last_detail.as_ref() == Some(&detail) {
            return Ok(None);
        }
        self.last_detail = Some(detail.clone());
        Ok(Some(detail))
    }
}

fn data_version(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

// The queries below read columns the store's operations do not offer in
// bulk (change marks, per-case counts); they only read.

/// Every case's `updated_at`, read from the covering index `cases_updated`.
fn case_updates(c: &Connection) -> Result<HashMap<i64, i64>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT id, updated_at FROM cases")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn active_outbox(c: &Connection) -> Result<BTreeMap<i64, Active>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT seq, case_id, state, state_after, attempts, last_error, created_at FROM outbox
         WHERE state IN ('queued', 'parked')",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            Active {
                case_id: r.get(1)?,
                state: r.get(2)?,
                state_after: r.get(3)?,
                attempts: r.get(4)?,
                last_error: r.get(5)?,
                created_at: r.get(6)?,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn quarantine_mark(c: &Connection) -> Result<(i64, i64, i64), StoreError> {
    Ok(c.query_row(
        "SELECT COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(delivery_count), 0)
         FROM quarantine WHERE state = 'open'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// What the parked list shows of the parked rows, to tell when it changed.
fn parked_view(outbox: &BTreeMap<i64, Active>) -> Vec<(i64, i64, Option<String>)> {
    outbox
        .iter()
        .filter(|(_, r)| r.state == OutboxState::Parked)
        .map(|(seq, r)| (*seq, r.attempts, r.last_error.clone()))
        .collect()
}

/// The columns of a case its summary shows, with the time of its newest
/// journal entry.
#[derive(Debug)]
struct SummaryRow {
    id: i64,
    incident_number: String,
    tracking_number: String,
    provider_id: Option<String>,
    system_id: Option<i64>,
    severity: String,
    state: u8,
    workflow_status: Option<String>,
    created_at: i64,
    updated_at: i64,
    sent_at: Option<i64>,
    journal_latest: Option<i64>,
}

/// `ids`: only those cases (`None`: every case). The journal's newest entry
/// of each case is one probe of the (case_id, created_at) index, cheaper
/// than grouping the whole journal; the case rows are read without their
/// title and description.
fn summary_rows(c: &Connection, ids: Option<&[i64]>) -> Result<Vec<SummaryRow>, StoreError> {
    let (filter, condition) = id_filter(ids, "id");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT id, incident_number, tracking_number, provider_id, system_id, severity, state,
             workflow_status, created_at, updated_at, sent_at,
             (SELECT MAX(created_at) FROM journal WHERE journal.case_id = cases.id)
         FROM cases {condition} ORDER BY id"
    ))?;
    let rows = stmt.query_map(rusqlite::params_from_iter(&filter), |r| {
        Ok(SummaryRow {
            id: r.get(0)?,
            incident_number: r.get(1)?,
            tracking_number: r.get(2)?,
            provider_id: r.get(3)?,
            system_id: r.get(4)?,
            severity: r.get(5)?,
            state: r.get(6)?,
            workflow_status: r.get(7)?,
            created_at: r.get(8)?,
            updated_at: r.get(9)?,
            sent_at: r.get(10)?,
            journal_latest: r.get(11)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The SQL condition limiting `column` to `ids` (none for `None`: a filter
/// that may be NULL would keep SQLite from using the indexes), and its
/// parameter.
fn id_filter(ids: Option<&[i64]>, column: &str) -> (Option<String>, String) {
    match ids {
        Some(ids) => (
            Some(serde_json::Value::from(ids.to_vec()).to_string()),
            format!("WHERE {column} IN (SELECT value FROM json_each(?1))"),
        ),
        None => (None, String::new()),
    }
}

/// Per-case counts and latest activity of tasks and parts.
#[derive(Debug, Clone, Copy, Default)]
struct Aggregate {
    open_tasks: u32,
    parts_in_transit: u32,
    latest: i64,
}

/// `ids`: only those cases (`None`: every case). The rows are counted
/// here: for every case, a plain scan of the two tables beats SQLite's
/// grouping through the case_id index, which visits each row by rowid.
fn record_aggregates(
    c: &Connection,
    ids: Option<&[i64]>,
) -> Result<HashMap<i64, Aggregate>, StoreError> {
    let (filter, condition) = id_filter(ids, "case_id");
    let mut out: HashMap<i64, Aggregate> = HashMap::new();
    for (table, tasks) in [("onsite_tasks", true), ("part_orders", false)] {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT case_id, status, updated_at FROM {table} {condition}"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(&filter))?;
        while let Some(r) = rows.next()? {
            let status: Option<String> = r.get(1)?;
            let agg = out.entry(r.get(0)?).or_default();
            if tasks {
                agg.open_tasks += u32::from(task_open(status.as_deref()));
            } else {
                agg.parts_in_transit += u32::from(part_in_transit(status.as_deref()));
            }
            agg.latest = agg.latest.max(r.get(2)?);
        }
    }
    Ok(out)
}

/// Not complete or cancelled (a task without a status yet is open).
fn task_open(status: Option<&str>) -> bool {
    !matches!(status, Some("complete" | "cancelled"))
}

/// Ordered, backordered or shipped: not delivered yet.
fn part_in_transit(status: Option<&str>) -> bool {
    matches!(status, Some("ordered" | "backordered" | "shipped"))
}

fn parked(s: &Store) -> Result<Vec<ParkedMessage>, StoreError> {
    s.outbox_parked()?
        .into_iter()
        .map(|m| {
            let incident = s
                .case_by_id(m.case_id)?
                .map(|c| c.incident_number)
                .unwrap_or_default();
            Ok(ParkedMessage {
                seq: m.seq,
                incident,
                transaction: m.transaction_name,
                detail: m.last_error.unwrap_or_default(),
                body: m.body,
                queued_at: from_ms(m.created_at),
                attempts: u32::try_from(m.attempts).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

fn quarantine(s: &Store) -> Result<Vec<QuarantineEntry>, StoreError> {
    Ok(s.quarantine_list(QuarantineState::Open)?
        .into_iter()
        .map(|q| QuarantineEntry {
            id: q.id,
            transaction: sis::parse_inbound(&q.raw)
                .ok()
                .map(|m| m.transaction().to_string()),
            reason: q.reason,
            received_at: from_ms(q.first_seen_at),
            delivery_count: u32::try_from(q.delivery_count).unwrap_or(u32::MAX),
            sha256: q.sha256,
            body: String::from_utf8_lossy(&q.raw).into_owned(),
        })
        .collect())
}

fn detail(
    s: &Store,
    summary: CaseSummary,
    row: CaseRow,
    from: Option<JournalPosition>,
) -> Result<CaseDetail, StoreError> {
    let outbox: HashMap<i64, OutboxRow> = s
        .outbox_for_case(row.id)?
        .into_iter()
        .map(|m| (m.seq, m))
        .collect();
    let journal = s.journal_for_case_from(row.id, from)?;
    let older_entries = match from {
        Some(from) => s.journal_count_before(row.id, from)?,
        None => 0,
    };
    let unparsed_updates = s.journal_not_understood_count(row.id)?;
    let inbound = inbound_raw(s.conn(), &journal)?;
    let timeline = journal
        .into_iter()
        .map(|j| timeline_entry(j, &outbox, &inbound))
        .collect();
    let mut task_events = record_events(s.conn(), "onsite_tasks", "task_events", row.id)?;
    let tasks = s
        .tasks_for_case(row.id)?
        .into_iter()
        .map(|t| TaskView {
            events: task_events.remove(&t.id).unwrap_or_default(),
            open: task_open(t.status.as_deref()),
            status: t.status.unwrap_or_default(),
            known: t.status_known,
            task_id: t.task_id,
            description: t.description,
            scheduled_start: t.scheduled_start,
            engineer_eta: t.engineer_eta,
        })
        .collect();
    let mut part_events = record_events(s.conn(), "part_orders", "part_events", row.id)?;
    let parts = s
        .parts_for_case(row.id)?
        .into_iter()
        .map(|p| PartView {
            events: part_events.remove(&p.id).unwrap_or_default(),
            in_transit: part_in_transit(p.status.as_deref()),
            status: p.status.unwrap_or_default(),
            known: p.status_known,
            order_id: p.order_id,
            part_number: p.part_number,
            part_description: p.part_description,
            quantity: p.quantity.and_then(|q| u32::try_from(q).ok()),
            carrier: p.carrier,
            tracking_number: p.tracking_number,
            eta: p.eta,
            return_required: p.return_required,
            return_status: p.return_status,
        })
        .collect();
    Ok(CaseDetail {
        summary,
        title: row.title,
        description: row.description,
        timeline,
        tasks,
        parts,
        older_entries,
        unparsed_updates,
    })
}

/// The events of every task (or part order) of a case in one query, by
/// record id, each record's oldest first as the store orders a record's
/// timeline.
fn record_events(
    c: &Connection,
    records: &str,
    events: &str,
    case_id: CaseId,
) -> Result<HashMap<i64, Vec<RecordEvent>>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT e.record_id, e.status, e.status_known, COALESCE(e.event_at, e.created_at),
             e.raw_text
         FROM {events} AS e JOIN {records} AS r ON r.id = e.record_id
         WHERE r.case_id = ?1
         ORDER BY e.record_id, COALESCE(e.event_at, e.created_at), e.id"
    ))?;
    let rows = stmt.query_map([case_id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            RecordEvent {
                status: r.get(1)?,
                known: r.get(2)?,
                time: from_ms(r.get(3)?),
                raw: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            },
        ))
    })?;
    let mut out: HashMap<i64, Vec<RecordEvent>> = HashMap::new();
    for row in rows {
        let (record, event) = row?;
        out.entry(record).or_default().push(event);
    }
    Ok(out)
}

/// The MessageId an HPE entry came in with: entries split out of one
/// message share it before `#`.
fn message_id(remote_id: &str) -> &str {
    remote_id.split('#').next().unwrap_or(remote_id)
}

/// The received bodies of the HPE entries of `journal`, by MessageId, in
/// one query.
fn inbound_raw(
    c: &Connection,
    journal: &[JournalRow],
) -> Result<HashMap<String, String>, StoreError> {
    let ids: BTreeSet<&str> = journal
        .iter()
        .filter(|j| j.entry.origin == crate::store::Origin::Hpe)
        .filter_map(|j| j.entry.remote_id.as_deref().map(message_id))
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = serde_json::Value::from(ids.into_iter().collect::<Vec<_>>()).to_string();
    let mut stmt = c.prepare_cached(
        "SELECT message_id, raw FROM inbox
         WHERE message_id IN (SELECT value FROM json_each(?1))",
    )?;
    let rows = stmt.query_map([ids], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (id, raw) = row?;
        out.insert(id, String::from_utf8_lossy(&raw).into_owned());
    }
    Ok(out)
}

fn timeline_entry(
    row: JournalRow,
    outbox: &HashMap<i64, OutboxRow>,
    inbound: &HashMap<String, String>,
) -> TimelineEntry {
    let j = row.entry;
    let message = j.outbox_seq.and_then(|seq| outbox.get(&seq));
    let status = match j.state {
        JournalState::Pending => EntryStatus::Pending,
        JournalState::Sent => EntryStatus::Sent,
        JournalState::Failed => EntryStatus::Failed {
            reason: message
                .and_then(|m| m.last_error.clone())
                .unwrap_or_else(|| "refused by GSEM".into()),
        },
        JournalState::Dropped => EntryStatus::NotSent {
            reason: "dropped by the operator".into(),
        },
        JournalState::Received => EntryStatus::Received,
    };
    let (origin, author, raw) = match j.origin {
        crate::store::Origin::Local => (Origin::Local, j.author, message.map(|m| m.body.clone())),
        crate::store::Origin::ServiceNow => (Origin::ServiceNow, j.author, None),
        crate::store::Origin::Hpe => (
            Origin::Hpe,
            crate::gsem::processor::HPE_AUTHOR.to_string(),
            j.remote_id
                .as_deref()
                .and_then(|id| inbound.get(message_id(id)).cloned()),
        ),
    };
    TimelineEntry {
        id: row.id,
        origin,
        author,
        kind: j.kind.replace('_', " ").to_uppercase(),
        text: j.text,
        time: from_ms(j.event_at),
        status,
        raw,
    }
}

/// Incidents the dialog offers (`number`: just that one, resolved or not),
/// with their unfinished cases counted.
fn incident_rows(c: &Connection, number: Option<&str>) -> Result<Vec<IncidentSummary>, StoreError> {
    let mut stmt = c.prepare(
        "SELECT i.number, i.short_description, i.description, i.cmdb_ci,
             (SELECT COUNT(*) FROM cases
              WHERE cases.incident_number = i.number AND cases.state NOT IN (1, 7))
         FROM incidents AS i
         WHERE CASE WHEN ?1 IS NULL THEN i.state NOT IN ('6', '7', '8')
                    ELSE i.number = ?1 COLLATE NOCASE END
         ORDER BY i.seen_at DESC, i.number DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![number, INCIDENT_LIMIT], |r| {
        Ok(IncidentSummary {
            number: r.get(0)?,
            short_description: r.get(1)?,
            description: r.get(2)?,
            ci: r.get(3)?,
            open_cases: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn incidents(s: &Store) -> Result<Vec<IncidentSummary>, Refused> {
    Ok(incident_rows(s.conn(), None)?)
}

fn incident(s: &Store, number: &str) -> Result<Option<IncidentSummary>, Refused> {
    Ok(incident_rows(s.conn(), Some(number))?.pop())
}

/// Drops a queued or parked message. Dropping the SERVICE REQUEST of a case
/// HPE never accepted cancels the case locally (spec §4): its other queued
/// messages are dropped too and it is closed (7) here, which frees its
/// RequesterID for a new case.
/// An edited body must still be the parked SIS message: JSON whose
/// `Message.TransactionName` is the one queued, since the state the case
/// is expected in once it is acknowledged was fixed with the row.
fn check_edited_body(body: &str, transaction: &str) -> Result<(), Refused> {
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| Refused::EditedBody(format!("it is not JSON ({e})")))?;
    match value
        .pointer("/Message/TransactionName")
        .and_then(serde_json::Value::as_str)
    {
        Some(name) if name == transaction => Ok(()),
        Some(name) => Err(Refused::EditedBody(format!(
            "its TransactionName is {name:?}, the parked message's is {transaction:?}"
        ))),
        None => Err(Refused::EditedBody(
            "it has no Message.TransactionName".to_owned(),
        )),
    }
}

fn drop_outbox(s: &Store, seq: i64, author: &str, now: i64) -> Result<CaseId, Refused> {
    s.transaction(|tx| {
        let message = tx.outbox_get(seq)?.ok_or(StoreError::NotFound {
            what: "outbox message",
            id: seq.to_string(),
        })?;
        tx.outbox_drop(seq, now)?;
        tx.audit_append(
            author,
            Some(message.case_id),
            "outbox",
            &format!("{} (message {seq}) dropped", message.transaction_name),
            now,
        )?;
        let service_request =
            TransactionName::parse(&message.transaction_name) == TransactionName::ServiceRequest;
        if let Some(case) = tx.case_by_id(message.case_id)?
            && service_request
            && case.provider_id.is_none()
            && !case.is_finished()
        {
            for later in tx.outbox_for_case(case.id)? {
                if matches!(later.state, OutboxState::Queued | OutboxState::Parked) {
                    tx.outbox_drop(later.seq, now)?;
                }
            }
            tx.set_case_state(case.id, 7, now)?;
            let text = format!(
                "Case {} cancelled here: its SERVICE REQUEST (message {seq}) was dropped, so HPE never had it",
                case.tracking_number
            );
            tx.journal_insert(
                &NewJournal {
                    case_id: case.id,
                    origin: crate::store::Origin::Local,
                    kind: "cancelled".into(),
                    author: author.to_string(),
                    text: text.clone(),
                    event_at: now,
                    remote_id: None,
                    state: JournalState::Dropped,
                    outbox_seq: None,
                },
                now,
            )?;
            tx.audit_append(author, Some(case.id), "cancelled", &text, now)?;
        }
        Ok(message.case_id)
    })
}

/// Puts a quarantined body back in the inbox for the processor; returns
/// the new inbox row. The copy carries no inbox MessageId (the first copy
/// holds it); the processor reads the MessageId from the body as always,
/// so what it journals stays keyed on it.
fn replay(s: &Store, id: i64, author: &str, now: i64) -> Result<i64, Refused> {
    s.transaction(|tx| {
        let entry = open_entry(tx.quarantine_get(id)?, id)?;
        if entry.size != entry.raw.len() as u64 {
            return Err(Refused::Truncated {
                id,
                kept: entry.raw.len(),
                size: entry.size,
            });
        }
        let via = match entry.inbox_id {
            Some(inbox) => tx.inbox_get(inbox)?.map_or(Via::Pull, |row| row.via),
            None => Via::Pull,
        };
        let inbox = tx.inbox_insert(None, &entry.raw, via, now)?.id();
        tx.audit_append(
            author,
            None,
            "quarantine",
            &format!("entry {id} replayed as inbox message {inbox}"),
            now,
        )?;
        Ok(inbox)
    })
}

fn discard(s: &Store, id: i64, author: &str, now: i64) -> Result<(), Refused> {
    s.transaction(|tx| {
        open_entry(tx.quarantine_get(id)?, id)?;
        tx.quarantine_set_state(id, QuarantineState::Discarded)?;
        tx.audit_append(
            author,
            None,
            "quarantine",
            &format!("entry {id} discarded"),
            now,
        )?;
        Ok(())
    })
}

fn open_entry(entry: Option<QuarantineRow>, id: i64) -> Result<QuarantineRow, Refused> {
    let entry = entry.ok_or(Refused::NoQuarantine(id))?;
    if entry.state != QuarantineState::Open {
        return Err(Refused::QuarantineClosed {
            id,
            state: entry.state,
        });
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;

    fn context() -> Context {
        Context {
            operator_id: "ada".into(),
            requester: Requester::default(),
            severity: SeverityMap::default(),
            systems: Vec::new(),
            choices: Vec::new(),
            overdue_after_ms: 60_000,
            mode: SyncMode::Pull,
            warnings: Vec::new(),
        }
    }

    fn new_case(n: usize) -> NewCase {
        NewCase {
            incident_number: format!("INC{n:07}"),
            severity: "MAJOR".into(),
            title: "t".into(),
            description: "d".into(),
            system_id: None,
            opened_by: "ada".into(),
        }
    }

    #[test]
    fn a_look_at_ten_thousand_cases_rebuilds_only_those_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cases.db"), Role::Tool).unwrap();
        let t0 = 1_700_000_000_000;
        store
            .transaction(|tx| {
                for n in 0..10_000 {
                    let case = tx.create_case(&new_case(n), t0)?;
                    tx.set_case_state(case.id, 5, t0)?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let context = context();
        let mut w = Watcher::default();
        let all = w.reset(&store, &context, t0).unwrap();
        assert_eq!(all.len(), 10_000);
        assert_eq!(all[0].priority, Priority::CriticalDegraded);
        assert_eq!(all[0].flags, CaseFlags::default());

        let quiet = w.poll(&store, &context, t0 + 1).unwrap();
        assert!(quiet.cases.is_empty());
        assert!(quiet.parked.is_none() && quiet.quarantine.is_none());

        store.set_case_state(42, 4, t0 + 10).unwrap();
        let seq = store
            .outbox_enqueue(5000, "PROVIDE PROBLEM INFORMATION", "{}", Some(5), t0 + 10)
            .unwrap();
        let changed = w.poll(&store, &context, t0 + 20).unwrap();
        let ids: Vec<_> = changed.cases.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![42, 5000]);
        assert!(changed.cases[0].flags.info_requested);
        assert_eq!(changed.cases[0].updated, from_ms(t0 + 10));
        assert!(changed.cases[1].flags.pending);
        assert_eq!(w.counts.queued, 1);
        assert_eq!(w.counts.oldest_queued, Some(t0 + 10));

        store.outbox_park(seq, "ERROR 1003", t0 + 30).unwrap();
        let parked = w.poll(&store, &context, t0 + 40).unwrap();
        assert_eq!(parked.cases.len(), 1);
        assert!(parked.cases[0].flags.failed && !parked.cases[0].flags.pending);
        let list = parked.parked.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].detail, "ERROR 1003");
        assert_eq!(list[0].incident, "INC0004999");

        // A queued answer to HPE's question moves the pending state, and a
        // fresh look (in one read transaction, as the snapshot takes it)
        // reads the same.
        store
            .outbox_enqueue(42, "PROVIDE PROBLEM INFORMATION", "{}", Some(5), t0 + 50)
            .unwrap();
        let queued = w.poll(&store, &context, t0 + 60).unwrap();
        assert_eq!(queued.cases.len(), 1);
        assert_eq!(
            (queued.cases[0].state, queued.cases[0].pending_state),
            (4, 5)
        );
        let again = store.read(|s| w.reset(s, &context, t0 + 70)).unwrap();
        assert_eq!(again[41], queued.cases[0]);
        assert_eq!(again[4999], parked.cases[0]);
    }

    /// A console end on `store` whose periodic look is an hour away: what
    /// it reports sooner was woken by a commit.
    fn local_without_ticks(store: SharedStore, events: mpsc::UnboundedSender<Event>) -> Local {
        let actions = Actions::new(
            Arc::clone(&store),
            sis::MessageBuilder::new(
                sis::Destination {
                    remote_agent_name: "SFDC_Train_REST_P042".into(),
                    remote_agent_type: "CUSTOMER".into(),
                },
                sis::ActivityTable::default(),
            ),
            Arc::new(tokio::sync::Notify::new()),
        );
        Local {
            store,
            actions,
            context: Arc::new(context()),
            events,
            gsem_health: watch::channel(GsemHealth::default()).1,
            sn_health: watch::channel(ServiceNowHealth::default()).1,
            watcher: Arc::new(Mutex::new(Watcher::default())),
            started: Utc::now(),
            demo: false,
            last_health: None,
            poll_every: Duration::from_secs(3600),
        }
    }

    async fn next_event(console: &mut super::super::link::ConsoleLink) -> Event {
        tokio::time::timeout(Duration::from_secs(30), console.recv())
            .await
            .expect("no event from the console end")
            .expect("the console end stopped")
    }

    #[tokio::test]
    async fn a_commit_through_the_engines_connection_wakes_the_console_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cases.db"), Role::Tool).unwrap();
        let t0 = 1_700_000_000_000;
        let case = store.create_case(&new_case(1), t0).unwrap();
        let store: SharedStore = Arc::new(Mutex::new(store));
        let (mut console, engine) = super::super::link::ConsoleLink::pair();
        let end = local_without_ticks(Arc::clone(&store), engine.events);
        let task = tokio::spawn(end.run(engine.requests));
        let Event::Snapshot(snapshot) = next_event(&mut console).await else {
            panic!("the console end did not start with a snapshot");
        };
        assert_eq!(snapshot.cases.len(), 1);
        assert_eq!(snapshot.cases[0].state, 0);

        // Another task of the engine commits through the shared connection.
        with_store(&store, move |s| s.set_case_state(case.id, 5, t0 + 10))
            .await
            .unwrap();
        let changed = loop {
            match next_event(&mut console).await {
                Event::CaseChanged(summary) => break summary,
                Event::Health(_) => continue,
                other => panic!("unexpected event {other:?}"),
            }
        };
        assert_eq!(changed.id, case.id);
        assert_eq!(changed.state, 5);
        assert_eq!(changed.updated, from_ms(t0 + 10));
        drop(console);
        task.await.unwrap();
    }

    #[test]
    fn a_case_waiting_for_hpe_turns_overdue_without_any_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cases.db"), Role::Tool).unwrap();
        let t0 = 1_700_000_000_000;
        let case = store.create_case(&new_case(1), t0).unwrap();
        store.set_case_state(case.id, 3, t0).unwrap();
        store.set_case_sent_at(case.id, t0).unwrap();
        let context = context();
        let mut w = Watcher::default();
        let all = w.reset(&store, &context, t0 + 59_000).unwrap();
        assert!(!all[0].flags.overdue);
        assert!(
            w.poll(&store, &context, t0 + 60_000)
                .unwrap()
                .cases
                .is_empty()
        );
        let late = w.poll(&store, &context, t0 + 60_001).unwrap();
        assert_eq!(late.cases.len(), 1);
        assert!(late.cases[0].flags.overdue);
        assert!(
            w.poll(&store, &context, t0 + 90_000)
                .unwrap()
                .cases
                .is_empty()
        );
    }
}
