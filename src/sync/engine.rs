//! The executor: a polling round reads what changed in ServiceNow, asks the
//! planner what to do, and does it. Every request is retried on its own:
//! transient failures and 429s wait (a 429's `Retry-After` exactly, else
//! capped backoff) and try again without an attempt cap or deadline, so an
//! outage of any length ends with the round carrying on where it stood.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use serde_json::{Map, Value};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::display;
use super::health::ServiceNowHealth;
use super::hpe::{self, Queued};
use super::ledger::{self, Done, Ledger};
use super::plan::{self, CaseView, CommentWrite, FieldWrite, IncidentView, Pair, Route, SnComment};
use super::text;
use super::{SyncConfig, SyncError};
use crate::gsem::backoff::{Backoff, jitter};
use crate::gsem::shared::{SharedStore, Shutdown, now_ms, sleep_or_stop, stopping, with_store};
use crate::servicenow::{
    Display, INCIDENT, JOURNAL, Query, Record, SnError, TableClient, TableDef, USER,
    format_datetime, incident, journal, parse_datetime, user,
};
use crate::sis::{MessageBuilder, TransactionName};
use crate::store::prelude::*;
use crate::store::{CaseFilter, CaseRow, IncidentChange, IncidentRow, Origin, Store};

/// Fields read from each incident (and kept in the store's `raw_json`).
const INCIDENT_FIELDS: &[&str] = &[
    incident::SYS_ID,
    incident::NUMBER,
    incident::SHORT_DESCRIPTION,
    incident::DESCRIPTION,
    incident::CATEGORY,
    incident::STATE,
    incident::HOLD_REASON,
    incident::ACTIVE,
    incident::IMPACT,
    incident::URGENCY,
    incident::PRIORITY,
    incident::CMDB_CI,
    incident::ASSIGNMENT_GROUP,
    incident::ASSIGNED_TO,
    incident::CALLER_ID,
    incident::OPENED_AT,
    incident::RESOLVED_AT,
    incident::CLOSE_CODE,
    incident::CLOSE_NOTES,
    incident::CORRELATION_ID,
    incident::CORRELATION_DISPLAY,
    incident::SYS_UPDATED_ON,
    incident::SYS_UPDATED_BY,
    incident::SYS_MOD_COUNT,
];

const JOURNAL_FIELDS: &[&str] = &[
    journal::SYS_ID,
    journal::ELEMENT,
    journal::ELEMENT_ID,
    journal::VALUE,
    journal::SYS_CREATED_ON,
    journal::SYS_CREATED_BY,
];

/// Values per `IN` list, to keep request URLs short.
const IN_CHUNK: usize = 100;

/// Incidents looked up per hold of the store (a few milliseconds' worth).
const PAIRED_BATCH: usize = 500;
/// Cases read per hold of the store (as long a hold as [`PAIRED_BATCH`]).
const CASE_PAGE: u32 = 1000;
/// How far before its intent a write of ours is looked for: covers the
/// clock difference between this host and the instance.
const READ_BACK_WINDOW: chrono::Duration = chrono::Duration::minutes(10);
/// At most this many known entries are probed to tell "no new entries"
/// from "journal not readable".
const PROBE_IDS: usize = 5;

/// Retries `$call` (an expression giving a future of `Result<_, SnError>`)
/// until it succeeds, waiting as [`ServiceNowSync::wait_after`] says.
macro_rules! retrying {
    ($sync:expr, $call:expr) => {{
        let mut failures = 0u32;
        loop {
            match $call.await {
                Ok(value) => {
                    $sync.contact();
                    break value;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    $sync.wait_after(error, failures).await?;
                }
            }
        }
    }};
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub incidents_read: usize,
    pub incidents_changed: usize,
    pub journal_entries_read: usize,
    pub notes_queued: usize,
    pub comments_held: usize,
    pub comments_not_sent: usize,
    pub comments_written: usize,
    pub field_writes: usize,
    pub closes_queued: usize,
}

impl RoundReport {
    /// Whether the round sent or wrote anything, to either side.
    pub fn did_work(&self) -> bool {
        self.notes_queued
            + self.comments_not_sent
            + self.comments_written
            + self.field_writes
            + self.closes_queued
            > 0
    }
}

/// A paired incident as the store knows it.
#[derive(Debug, Clone)]
struct Paired {
    number: String,
    /// Oldest first.
    cases: Vec<CaseRow>,
    incident: Option<IncidentRow>,
}

/// Everything the planner needs about one paired incident.
#[derive(Debug, Clone)]
struct PairInput {
    view: IncidentView,
    updated_by: String,
    cases: Vec<CaseView>,
    ledger: Ledger,
    /// Comment sys_ids already in casebridge's journal.
    known: HashSet<String>,
}

/// A comment read and not yet settled.
#[derive(Debug, Clone)]
struct Held {
    incident_sys_id: String,
    comment: SnComment,
    /// It waited at least one round (for the case to leave 6).
    waited: bool,
}

/// Store `meta` key of the incident watermark (`YYYY-MM-DD HH:MM:SS`, UTC).
pub const WATERMARK_KEY: &str = "servicenow.watermark";
/// Store `meta` key of the journal marks: a JSON object, incident sys_id →
/// newest journal `sys_created_on` read and settled.
pub const JOURNAL_MARKS_KEY: &str = "servicenow.journal_marks";

/// Memory of the poller; everything else is in the store. The watermark
/// and the journal marks are also kept in the store's `meta`, so that a
/// restart reads on from where the last run stood.
#[derive(Debug, Default)]
struct PollState {
    /// Whether the watermark and marks were read from the store.
    loaded: bool,
    /// Newest `sys_updated_on` seen (instance time, UTC).
    watermark: Option<NaiveDateTime>,
    /// Per incident: newest journal `sys_created_on` seen.
    journal_marks: HashMap<String, NaiveDateTime>,
    /// The journal marks as last written to the store (JSON).
    saved_marks: Option<String>,
    /// Incidents whose journal must be read (changed, not read yet).
    journal_due: HashSet<String>,
    /// The fallback's authors: display name → user name.
    user_names: HashMap<String, String>,
    /// Comments in arrival order: (created on, arrival) → comment.
    held: BTreeMap<(NaiveDateTime, u64), Held>,
    arrivals: u64,
}

/// The ServiceNow half of the sync engine. Build with [`ServiceNowSync::new`],
/// then either [`spawn`](ServiceNowSync::spawn) it or drive rounds with
/// [`poll_once`](ServiceNowSync::poll_once) (tests).
pub struct ServiceNowSync {
    client: TableClient,
    store: SharedStore,
    config: SyncConfig,
    options: plan::Options,
    builder: MessageBuilder,
    backoff: Backoff,
    gsem_notify: Arc<Notify>,
    hint: Arc<Notify>,
    health: watch::Sender<ServiceNowHealth>,
    shutdown: Shutdown,
    state: PollState,
}

impl std::fmt::Debug for ServiceNowSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowSync")
            .field("instance", &self.client.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// A running [`ServiceNowSync`].
#[derive(Debug)]
pub struct SyncHandle {
    pub health: watch::Receiver<ServiceNowHealth>,
    /// Notify to make the poller run now (what the push endpoint does).
    pub hint: Arc<Notify>,
    pub task: JoinHandle<()>,
}

impl ServiceNowSync {
    /// `gsem_notify` is woken whenever a message for HPE is queued (the
    /// outbox drainer's wake-up); `shutdown` stops the engine when `true`.
    pub fn new(
        config: SyncConfig,
        store: SharedStore,
        gsem_notify: Arc<Notify>,
        shutdown: Shutdown,
    ) -> Result<Self, SyncError> {
        let client = crate::servicenow::client_for(&config.servicenow)?;
        Ok(Self::with_client(
            client,
            config,
            store,
            gsem_notify,
            shutdown,
        ))
    }

    /// As [`new`](Self::new) with a client built by the caller (a test CA).
    pub fn with_client(
        client: TableClient,
        config: SyncConfig,
        store: SharedStore,
        gsem_notify: Arc<Notify>,
        shutdown: Shutdown,
    ) -> Self {
        let sn = &config.servicenow;
        let options = plan::Options {
            integration_user: sn.integration_user.clone(),
            mark_hold_reason: sn.mark_hold_reason,
            sync_state_to_incident: sn.sync_state_to_incident,
            close_case_when_incident_resolved: sn.close_case_when_incident_resolved,
            max_journal_chars: config.max_journal_chars,
        };
        let backoff = Backoff::new(sn.backoff.start, sn.backoff.cap);
        let builder = MessageBuilder::new(config.destination.clone(), config.activity.clone());
        Self {
            client,
            store,
            options,
            builder,
            backoff,
            gsem_notify,
            hint: Arc::new(Notify::new()),
            health: watch::channel(ServiceNowHealth::default()).0,
            shutdown,
            state: PollState::default(),
            config,
        }
    }

    pub fn health(&self) -> watch::Receiver<ServiceNowHealth> {
        self.health.subscribe()
    }

    /// Polls at the configured interval, or sooner on a hint, until shutdown.
    pub fn spawn(self) -> SyncHandle {
        let health = self.health.subscribe();
        let hint = Arc::clone(&self.hint);
        let task = tokio::spawn(self.run());
        SyncHandle { health, hint, task }
    }

    async fn run(mut self) {
        let mut shutdown = self.shutdown.clone();
        let hint = Arc::clone(&self.hint);
        loop {
            match self.poll_once().await {
                Ok(report) => tracing::debug!(?report, "ServiceNow round"),
                Err(SyncError::Stopped) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "ServiceNow round failed");
                    self.record_error(&e.to_string());
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.servicenow.poll_interval) => {}
                _ = hint.notified() => {}
                _ = shutdown.changed() => {}
            }
            if stopping(&shutdown) {
                break;
            }
        }
    }

    // ---- requests and their retries ----

    fn contact(&self) {
        self.health.send_modify(|h| {
            h.last_contact = Some(Utc::now());
            h.credentials_problem = false;
            h.rate_limited_until = None;
        });
    }

    fn record_error(&self, error: &str) {
        self.health.send_modify(|h| {
            h.last_error = Some(error.to_owned());
            h.last_error_at = Some(Utc::now());
        });
    }

    /// After a failed request: waits and returns `Ok` if it should be tried
    /// again, or returns the error. A 429 waits exactly its `Retry-After`
    /// (or backs off when it has none); a refusal of our credentials is
    /// reported and retried at the backoff pace, since a person may fix
    /// the account while the engine runs.
    async fn wait_after(&self, error: SnError, failures: u32) -> Result<(), SyncError> {
        let credentials = matches!(error, SnError::Credentials | SnError::OAuthRefused);
        if !error.is_transient() && !credentials {
            self.record_error(&error.to_string());
            return Err(SyncError::ServiceNow(error));
        }
        let delay = match error.retry_after() {
            // Zero would spin; the backoff start is the least wait.
            Some(asked) => asked.max(Duration::from_millis(1)),
            None => self.backoff.delay(failures, jitter()),
        };
        let until = Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        tracing::info!(error = %error, ?delay, failures, "ServiceNow request failed; retrying");
        self.health.send_modify(|h| {
            h.last_error = Some(error.to_string());
            h.last_error_at = Some(Utc::now());
            h.credentials_problem |= credentials;
            h.rate_limited_until = matches!(error, SnError::RateLimited { .. }).then_some(until);
        });
        let mut shutdown = self.shutdown.clone();
        if sleep_or_stop(delay, &mut shutdown).await {
            return Err(SyncError::Stopped);
        }
        Ok(())
    }

    /// Every record `query` matches, page by page along the `next` links;
    /// a failed page is retried by itself.
    async fn read_all(
        &self,
        table: &TableDef,
        query: &Query,
        fields: &[&'static str],
    ) -> Result<Vec<Record>, SyncError> {
        self.read_all_as(table, query, fields, Display::VALUES)
            .await
    }

    async fn read_all_as(
        &self,
        table: &TableDef,
        query: &Query,
        fields: &[&'static str],
        display: Display,
    ) -> Result<Vec<Record>, SyncError> {
        let mut pager = self.client.pages(table, query, fields, display)?;
        let mut out = Vec::new();
        while let Some(page) = retrying!(self, pager.next_page()) {
            out.extend(page);
        }
        Ok(out)
    }

    async fn store<T, F>(&self, f: F) -> Result<T, SyncError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, SyncError> + Send + 'static,
    {
        with_store(&self.store, f).await
    }

    // ---- one round ----

    /// One polling round: read, plan, execute. Returns what it did.
    pub async fn poll_once(&mut self) -> Result<RoundReport, SyncError> {
        let mut report = RoundReport::default();
        if !self.state.loaded {
            self.load_marks().await?;
        }
        // Every case row is in `paired`: the first list goes before the
        // second is read, so only one is held at a time.
        let records = {
            let paired = self.load_paired().await?;
            self.read_incidents(&paired).await?
        };
        report.incidents_read = records.len();
        let changed = self.store_incidents(records).await?;
        report.incidents_changed = changed.len();
        let (paired, mut inputs) = {
            let paired = self.load_paired().await?;
            self.store(move |s| {
                let inputs = load_inputs(s, &paired)?;
                Ok((paired, inputs))
            })
            .await?
        };
        for p in &paired {
            if let Some(inc) = &p.incident
                && (changed.contains(&inc.sys_id)
                    || !self.state.journal_marks.contains_key(&inc.sys_id))
            {
                self.state.journal_due.insert(inc.sys_id.clone());
            }
        }
        report.journal_entries_read = self.read_journal(&paired, &inputs).await?;
        self.route_comments(&mut inputs, &mut report).await?;
        for input in inputs.values_mut() {
            match self.execute_pair(input, &mut report).await {
                Ok(()) => {}
                // A write this incident cannot take (deleted, forbidden):
                // reported, and the other incidents go on.
                Err(SyncError::ServiceNow(e)) => {
                    tracing::warn!(incident = %input.view.number, error = %e, "ServiceNow write failed");
                }
                Err(e) => return Err(e),
            }
        }
        self.save_marks().await?;
        let held = self.state.held.len();
        self.health.send_modify(|h| {
            h.last_poll = Some(Utc::now());
            h.held_comments = held;
        });
        Ok(report)
    }

    /// Every paired incident: the cases read [`CASE_PAGE`] at a time, their
    /// incidents looked up [`PAIRED_BATCH`] at a time, so that the console
    /// and the GSEM tasks get the store between the two (10,000 cases in
    /// one read held it for 35 ms). A case opened meanwhile has a higher
    /// id than any read, so a later page has it.
    async fn load_paired(&self) -> Result<Vec<Paired>, SyncError> {
        let mut by_number: BTreeMap<String, Vec<CaseRow>> = BTreeMap::new();
        let mut after = 0;
        loop {
            let page = self
                .store(move |s| {
                    Ok(s.list_cases_page(&CaseFilter::default(), after, Some(CASE_PAGE))?)
                })
                .await?;
            let last_page = page.len() < CASE_PAGE as usize;
            for case in page {
                after = case.id;
                // Most incidents have one case: no room kept for four.
                by_number
                    .entry(case.incident_number.clone())
                    .or_insert_with(|| Vec::with_capacity(1))
                    .push(case);
            }
            if last_page {
                break;
            }
        }
        let mut paired = Vec::with_capacity(by_number.len());
        let mut rest = by_number.into_iter().peekable();
        while rest.peek().is_some() {
            let batch: Vec<(String, Vec<CaseRow>)> = rest.by_ref().take(PAIRED_BATCH).collect();
            let found = self
                .store(move |s| {
                    // One read transaction: one lock for the whole batch.
                    s.read(|s| {
                        batch
                            .into_iter()
                            .map(|(number, cases)| {
                                Ok(Paired {
                                    incident: s.incident_by_number(&number)?,
                                    number,
                                    cases,
                                })
                            })
                            .collect::<Result<Vec<_>, SyncError>>()
                    })
                })
                .await?;
            paired.extend(found);
        }
        Ok(paired)
    }

    /// Reads the watermark and journal marks a previous run left.
    async fn load_marks(&mut self) -> Result<(), SyncError> {
        let (watermark, marks) = self
            .store(|s| Ok((s.meta_get(WATERMARK_KEY)?, s.meta_get(JOURNAL_MARKS_KEY)?)))
            .await?;
        self.state.watermark = watermark.as_deref().and_then(parse_datetime);
        // An unreadable value (a newer or broken build wrote it) only
        // means reading from the start again: nothing is lost.
        self.state.journal_marks = marks
            .as_deref()
            .and_then(|m| serde_json::from_str::<BTreeMap<String, String>>(m).ok())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(id, at)| Some((id, parse_datetime(&at)?)))
            .collect();
        self.state.saved_marks = marks;
        self.state.loaded = true;
        Ok(())
    }

    /// The journal marks that are safe to keep across a restart: those of
    /// incidents with nothing unread (due) or unsettled (held). The others
    /// are left out, so a restart reads their journal from the start.
    fn settled_marks(&self) -> BTreeMap<String, String> {
        let unsettled: HashSet<&str> = self
            .state
            .held
            .values()
            .map(|h| h.incident_sys_id.as_str())
            .chain(self.state.journal_due.iter().map(String::as_str))
            .collect();
        self.state
            .journal_marks
            .iter()
            .filter(|(id, _)| !unsettled.contains(id.as_str()))
            .map(|(id, at)| (id.clone(), format_datetime(*at)))
            .collect()
    }

    async fn save_marks(&mut self) -> Result<(), SyncError> {
        let marks = marks_json(&self.settled_marks());
        if self.state.saved_marks.as_ref() == Some(&marks) {
            return Ok(());
        }
        let value = marks.clone();
        self.store(move |s| Ok(s.meta_set(JOURNAL_MARKS_KEY, &value)?))
            .await?;
        self.state.saved_marks = Some(marks);
        Ok(())
    }

    async fn read_incidents(&self, paired: &[Paired]) -> Result<Vec<Record>, SyncError> {
        let since = self.state.watermark.map(|w| {
            format_datetime(
                w - chrono::Duration::from_std(self.config.servicenow.overlap).unwrap_or_default(),
            )
        });
        // Newest first: a row changed while we page moves to the front, so
        // rows shift towards later pages (read twice, deduplicated) rather
        // than past us; its new version is caught next round.
        let shape = |q: Query, with_since: bool| {
            let q = match (&since, with_since) {
                (Some(s), true) => q.ge(incident::SYS_UPDATED_ON, s.clone()),
                _ => q,
            };
            q.order_by_desc(incident::SYS_UPDATED_ON)
                .order_by(incident::SYS_ID)
        };
        let known: Vec<&str> = paired
            .iter()
            .filter_map(|p| p.incident.as_ref().map(|i| i.sys_id.as_str()))
            .collect();
        let unknown: Vec<&str> = paired
            .iter()
            .filter(|p| p.incident.is_none())
            .map(|p| p.number.as_str())
            .collect();
        let mut out = Vec::new();
        // The paired incidents by sys_id: a set no row leaves while we page.
        for chunk in known.chunks(IN_CHUNK) {
            let q = shape(Query::new().is_in(incident::SYS_ID, chunk), true);
            out.extend(self.read_all(&INCIDENT, &q, INCIDENT_FIELDS).await?);
        }
        for chunk in unknown.chunks(IN_CHUNK) {
            let q = shape(Query::new().is_in(incident::NUMBER, chunk), false);
            out.extend(self.read_all(&INCIDENT, &q, INCIDENT_FIELDS).await?);
        }
        let q = shape(
            Query::new().and_encoded(&self.config.servicenow.incident_query)?,
            true,
        );
        out.extend(self.read_all(&INCIDENT, &q, INCIDENT_FIELDS).await?);
        Ok(out)
    }

    /// Stores what was read; returns the sys_ids seen at a new `sys_mod_count`.
    async fn store_incidents(
        &mut self,
        records: Vec<Record>,
    ) -> Result<HashSet<String>, SyncError> {
        let now = now_ms();
        let rows: Vec<IncidentRow> = records
            .iter()
            .filter_map(|r| incident_row(r, now))
            .collect();
        let newest = records
            .iter()
            .filter_map(|r| r.datetime(incident::SYS_UPDATED_ON))
            .max();
        let watermark = newest.map(|n| self.state.watermark.map_or(n, |w| w.max(n)));
        let moved = watermark != self.state.watermark;
        let save_watermark = watermark.filter(|_| moved).map(format_datetime);
        let mut marks = self.settled_marks();
        let saved_marks = self.state.saved_marks.clone();
        let (changed, marks) = self
            .store(move |s| {
                s.transaction(|tx| {
                    let mut changed = HashSet::new();
                    for row in &rows {
                        if tx.upsert_incident(row, now)? != IncidentChange::Unchanged {
                            changed.insert(row.sys_id.clone());
                        }
                    }
                    // A changed incident's journal is unread until this
                    // round reads it: a crash before then must not leave
                    // its old mark behind, or the restart would skip it.
                    marks.retain(|id, _| !changed.contains(id));
                    let marks = marks_json(&marks);
                    if saved_marks.as_ref() != Some(&marks) {
                        tx.meta_set(JOURNAL_MARKS_KEY, &marks)?;
                    }
                    if let Some(w) = &save_watermark {
                        tx.meta_set(WATERMARK_KEY, w)?;
                    }
                    Ok::<_, SyncError>((changed, marks))
                })
            })
            .await?;
        self.state.saved_marks = Some(marks);
        self.state.watermark = watermark.or(self.state.watermark);
        Ok(changed)
    }

    /// Reads new journal entries of the incidents due; returns how many.
    async fn read_journal(
        &mut self,
        paired: &[Paired],
        inputs: &BTreeMap<String, PairInput>,
    ) -> Result<usize, SyncError> {
        let overlap =
            chrono::Duration::from_std(self.config.servicenow.overlap).unwrap_or_default();
        let mut due: Vec<(String, NaiveDateTime)> = Vec::new();
        for p in paired {
            let Some(inc) = &p.incident else { continue };
            if !self.state.journal_due.contains(&inc.sys_id) {
                continue;
            }
            let floor = p
                .cases
                .first()
                .map(|c| second_of(c.created_at))
                .unwrap_or_default();
            let from = self
                .state
                .journal_marks
                .get(&inc.sys_id)
                .copied()
                .unwrap_or(floor);
            due.push((inc.sys_id.clone(), from));
        }
        let Some(since) = due.iter().map(|(_, from)| *from - overlap).min() else {
            return Ok(0);
        };
        let element = self.config.servicenow.comment_journal.field();
        let mut rows = Vec::new();
        let ids: Vec<&str> = due.iter().map(|(id, _)| id.as_str()).collect();
        for chunk in ids.chunks(IN_CHUNK) {
            let q = Query::new()
                .eq(journal::ELEMENT, element)
                .is_in(journal::ELEMENT_ID, chunk)
                .ge(journal::SYS_CREATED_ON, format_datetime(since))
                .order_by(journal::SYS_CREATED_ON);
            rows.extend(self.read_all(&JOURNAL, &q, JOURNAL_FIELDS).await?);
        }
        let mut entries: Vec<(String, SnComment)> = rows.iter().filter_map(journal_entry).collect();
        if rows.is_empty() {
            let known: Vec<String> = due
                .iter()
                .filter_map(|(id, _)| inputs.get(id))
                .flat_map(|i| i.ledger.claimed())
                .take(PROBE_IDS)
                .collect();
            let mut blocked = !known.is_empty() && !self.journal_readable(&known).await?;
            if self.config.servicenow.journal_fallback_to_display_value {
                // The text shows what the table hides: entries in the window
                // that `sys_journal_field` did not list mean it is blocked,
                // even before any entry of ours is known to probe with.
                let from_text = self.read_journal_text(&ids, since).await?;
                blocked |= !from_text.is_empty();
                if blocked {
                    entries = from_text;
                }
            }
            if blocked {
                self.set_journal_blocked(true);
                if entries.is_empty() {
                    // Not silence: the entries are there and we cannot see
                    // them. The incidents stay due until the journal can be
                    // read.
                    return Ok(0);
                }
            }
        } else {
            self.set_journal_blocked(false);
        }
        let count = entries.len();
        for (id, from) in &due {
            self.state.journal_due.remove(id);
            let mark = self.state.journal_marks.entry(id.clone()).or_insert(*from);
            *mark = (*mark).max(*from);
        }
        let queued: HashSet<String> = self
            .state
            .held
            .values()
            .map(|h| h.comment.sys_id.clone())
            .collect();
        for (incident_sys_id, comment) in entries {
            if let Some(mark) = self.state.journal_marks.get_mut(&incident_sys_id) {
                *mark = (*mark).max(comment.created_on);
            }
            if queued.contains(&comment.sys_id) {
                continue;
            }
            self.state.arrivals += 1;
            self.state.held.insert(
                (comment.created_on, self.state.arrivals),
                Held {
                    incident_sys_id,
                    comment,
                    waited: false,
                },
            );
        }
        Ok(count)
    }

    /// The fallback: the journal entries of `incidents` from `since` on,
    /// split out of the incidents' display values, oldest first. Authors
    /// are turned back into user names where `sys_user` knows the display
    /// name, so that our own entries are recognised and an entry read both
    /// ways has one identity.
    async fn read_journal_text(
        &mut self,
        incidents: &[&str],
        since: NaiveDateTime,
    ) -> Result<Vec<(String, SnComment)>, SyncError> {
        let sn = &self.config.servicenow;
        let element = sn.comment_journal.field();
        let label = display::label(sn.comment_journal);
        let time_zone = sn.time_zone;
        let mut found: Vec<(String, display::TextEntry)> = Vec::new();
        for chunk in incidents.chunks(IN_CHUNK) {
            let q = Query::new().is_in(incident::SYS_ID, chunk);
            let records = self
                .read_all_as(
                    &INCIDENT,
                    &q,
                    &[incident::SYS_ID, element],
                    Display::DISPLAY,
                )
                .await?;
            for record in records {
                let Some(sys_id) = record.sys_id().map(str::to_owned) else {
                    continue;
                };
                let text = record.text(element).unwrap_or_default();
                found.extend(
                    display::parse(text, label, time_zone)
                        .into_iter()
                        .map(|e| (sys_id.clone(), e)),
                );
            }
        }
        let names: Vec<String> = found
            .iter()
            .map(|(_, e)| e.author.clone())
            .filter(|a| !self.state.user_names.contains_key(a))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for chunk in names.chunks(IN_CHUNK) {
            let q = Query::new().is_in(user::NAME, chunk);
            let users = self
                .read_all(&USER, &q, &[user::NAME, user::USER_NAME])
                .await?;
            let mut by_name: HashMap<String, Vec<String>> = HashMap::new();
            for u in &users {
                if let (Some(name), Some(user_name)) = (u.text(user::NAME), u.text(user::USER_NAME))
                {
                    by_name
                        .entry(name.to_owned())
                        .or_default()
                        .push(user_name.to_owned());
                }
            }
            for name in chunk {
                // Two users of one display name cannot be told apart: the
                // name stays as shown.
                let user_name = match by_name.get(name).map(Vec::as_slice) {
                    Some([one]) => one.clone(),
                    _ => name.clone(),
                };
                self.state.user_names.insert(name.clone(), user_name);
            }
        }
        let mut by_incident: BTreeMap<String, Vec<SnComment>> = BTreeMap::new();
        for (sys_id, e) in found {
            let created_by = self
                .state
                .user_names
                .get(&e.author)
                .cloned()
                .unwrap_or(e.author);
            by_incident.entry(sys_id).or_default().push(SnComment {
                sys_id: String::new(),
                created_on: e.created_on,
                created_by,
                text: e.text,
            });
        }
        let mut out = Vec::new();
        for (incident_sys_id, comments) in by_incident {
            out.extend(
                comments
                    .into_iter()
                    .filter(|c| c.created_on >= since)
                    .map(|c| {
                        let comment = SnComment {
                            sys_id: c.key(),
                            ..c
                        };
                        (incident_sys_id.clone(), comment)
                    }),
            );
        }
        out.sort_by_key(|(_, c)| c.created_on);
        Ok(out)
    }

    fn set_journal_blocked(&self, blocked: bool) {
        self.health.send_if_modified(|h| {
            let changed = h.journal_blocked != blocked;
            h.journal_blocked = blocked;
            if changed && blocked {
                h.last_error = Some(
                    "ServiceNow's sys_journal_field answers empty for entries known to exist: give the integration user read access to sys_journal_field (or set servicenow.journal_fallback_to_display_value)".to_owned(),
                );
                h.last_error_at = Some(Utc::now());
            }
            changed
        });
    }

    /// Whether any of these known journal entries can be read.
    async fn journal_readable(&self, ids: &[String]) -> Result<bool, SyncError> {
        let q = Query::new().is_in(journal::SYS_ID, ids);
        Ok(!self
            .read_all(&JOURNAL, &q, &[journal::SYS_ID])
            .await?
            .is_empty())
    }

    /// Settles the comments read so far, in order: to HPE, waiting, kept as
    /// not sent, or not for HPE.
    async fn route_comments(
        &mut self,
        inputs: &mut BTreeMap<String, PairInput>,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        let held = std::mem::take(&mut self.state.held);
        let mut queued_any = false;
        for (key, mut item) in held {
            let Some(input) = inputs.get_mut(&item.incident_sys_id) else {
                // No longer paired (cannot happen: cases are never deleted).
                continue;
            };
            let mut known = input.known.clone();
            known.extend(input.ledger.claimed());
            match plan::route_comment(&item.comment, &input.cases, &known, &self.options) {
                Route::Skip(_) => {}
                Route::Hold { .. } => {
                    item.waited = true;
                    report.comments_held += 1;
                    self.state.held.insert(key, item);
                }
                Route::NotSent { case_id, reason } => {
                    let comment = item.comment.clone();
                    let waited = item.waited;
                    let now = Utc::now();
                    self.store(move |s| {
                        s.transaction(|tx| {
                            hpe::record_not_sent(tx, case_id, &comment, reason, waited, now)
                        })
                    })
                    .await?;
                    input.known.insert(item.comment.sys_id.clone());
                    input.known.insert(item.comment.key());
                    report.comments_not_sent += 1;
                }
                Route::Send { case_id } => {
                    let comment = item.comment.clone();
                    let builder = self.builder.clone();
                    let now = Utc::now();
                    let queued = self
                        .store(move |s| {
                            s.transaction(|tx| {
                                hpe::queue_note(tx, &builder, case_id, &comment, now)
                            })
                        })
                        .await?;
                    match queued {
                        Queued::Queued { pending, .. } => {
                            if let Some(case) =
                                input.cases.iter_mut().find(|c| c.case.id == case_id)
                            {
                                case.pending = pending;
                            }
                            input.known.insert(item.comment.sys_id.clone());
                            input.known.insert(item.comment.key());
                            report.notes_queued += 1;
                            queued_any = true;
                        }
                        Queued::Duplicate => {
                            input.known.insert(item.comment.sys_id.clone());
                            input.known.insert(item.comment.key());
                        }
                        // The case moved on since it was read: try again next round.
                        Queued::NotValid { pending } => {
                            if let Some(case) =
                                input.cases.iter_mut().find(|c| c.case.id == case_id)
                            {
                                case.pending = pending;
                            }
                            self.state.held.insert(key, item);
                        }
                    }
                }
            }
        }
        if queued_any {
            self.gsem_notify.notify_one();
        }
        Ok(())
    }

    async fn execute_pair(
        &mut self,
        input: &mut PairInput,
        report: &mut RoundReport,
    ) -> Result<(), SyncError> {
        let plan = plan::plan_pair(
            Pair {
                incident: &input.view,
                cases: &input.cases,
                ledger: &input.ledger,
            },
            &self.options,
        );
        let sys_id = input.view.sys_id.clone();
        let mut claimed = input.ledger.claimed();
        for write in &plan.comments {
            if !self
                .write_comment(&sys_id, write, &mut input.ledger, &mut claimed)
                .await?
            {
                // Unsure whether an earlier attempt landed and unable to
                // look: later comments wait too, to keep their order.
                break;
            }
            report.comments_written += 1;
        }
        if let Some(fields) = &plan.fields {
            self.write_fields(&sys_id, fields, &mut input.ledger)
                .await?;
            report.field_writes += 1;
        }
        if let Some(close) = plan.close {
            let builder = self.builder.clone();
            let author = input.updated_by.clone();
            let now = Utc::now();
            let queued = self
                .store(move |s| {
                    s.transaction(|tx| {
                        hpe::queue_close(tx, &builder, &close, &sys_id, &author, now)
                    })
                })
                .await?;
            if matches!(queued, Queued::Queued { .. }) {
                report.closes_queued += 1;
                self.gsem_notify.notify_one();
            }
        }
        Ok(())
    }

    async fn audit(
        &self,
        case_id: i64,
        action: &'static str,
        detail: String,
    ) -> Result<i64, SyncError> {
        let now = now_ms();
        self.store(move |s| {
            s.audit_append(ledger::ACTOR, Some(case_id), action, &detail, now)?;
            Ok(now)
        })
        .await
    }

    /// Writes one comment under the ledger; `false` if it must wait because
    /// an earlier attempt cannot be checked (journal not readable).
    async fn write_comment(
        &mut self,
        sys_id: &str,
        write: &CommentWrite,
        ledger: &mut Ledger,
        claimed: &mut HashSet<String>,
    ) -> Result<bool, SyncError> {
        let earlier = ledger.get(write.case_id, &write.key).cloned();
        let intended_at = match &earlier {
            Some(entry) => entry.intended_at,
            None => {
                let at = self
                    .audit(
                        write.case_id,
                        ledger::INTENDED,
                        ledger::intended_detail(&write.key),
                    )
                    .await?;
                ledger.mark(write.case_id, &write.key, at, None);
                at
            }
        };
        let mut check = earlier.is_some();
        let mut failures = 0u32;
        loop {
            if check {
                match self
                    .find_written(sys_id, &write.text, intended_at, claimed)
                    .await?
                {
                    Found::Entry(id) => {
                        self.record_done(write, ledger, claimed, Done::Entry(id))
                            .await?;
                        return Ok(true);
                    }
                    Found::Nothing => {}
                    Found::Unreadable => {
                        self.set_journal_blocked(true);
                        return Ok(false);
                    }
                }
            }
            let mut values = Map::new();
            values.insert(
                incident::COMMENTS.to_owned(),
                Value::String(write.text.clone()),
            );
            match self
                .client
                .patch_record(&INCIDENT, sys_id, &values, Display::VALUES)
                .await
            {
                Ok(_) => {
                    self.contact();
                    break;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    self.wait_after(error, failures).await?;
                    // It may have landed: look before writing again.
                    check = true;
                }
            }
        }
        let done = match self
            .find_written(sys_id, &write.text, intended_at, claimed)
            .await?
        {
            Found::Entry(id) => Done::Entry(id),
            Found::Nothing | Found::Unreadable => {
                self.set_journal_blocked(true);
                self.health.send_modify(|h| h.unverified_writes += 1);
                Done::Unverified
            }
        };
        self.record_done(write, ledger, claimed, done).await?;
        Ok(true)
    }

    async fn record_done(
        &self,
        write: &CommentWrite,
        ledger: &mut Ledger,
        claimed: &mut HashSet<String>,
        done: Done,
    ) -> Result<(), SyncError> {
        let at = self
            .audit(
                write.case_id,
                ledger::DONE,
                ledger::done_detail(&write.key, &done),
            )
            .await?;
        if let Done::Entry(id) = &done {
            claimed.insert(id.clone());
        }
        ledger.mark(write.case_id, &write.key, at, Some(done));
        Ok(())
    }

    /// Looks for our entry with `text` on the incident, not yet claimed by
    /// another write, oldest first.
    async fn find_written(
        &self,
        sys_id: &str,
        text: &str,
        intended_at: i64,
        claimed: &HashSet<String>,
    ) -> Result<Found, SyncError> {
        let since = second_of(intended_at) - READ_BACK_WINDOW;
        let q = Query::new()
            .eq(journal::ELEMENT, incident::COMMENTS)
            .eq(journal::ELEMENT_ID, sys_id)
            .eq(
                journal::SYS_CREATED_BY,
                self.options.integration_user.clone(),
            )
            .ge(journal::SYS_CREATED_ON, format_datetime(since))
            .order_by(journal::SYS_CREATED_ON);
        let rows = self.read_all(&JOURNAL, &q, JOURNAL_FIELDS).await?;
        let found = rows.iter().find_map(|r| {
            let id = r.sys_id()?;
            let value = r.text(journal::VALUE)?;
            (!claimed.contains(id) && text::same_entry(value, text)).then(|| id.to_owned())
        });
        if let Some(id) = found {
            return Ok(Found::Entry(id));
        }
        if rows.is_empty() && !claimed.is_empty() {
            let probe: Vec<String> = claimed.iter().take(PROBE_IDS).cloned().collect();
            if !self.journal_readable(&probe).await? {
                return Ok(Found::Unreadable);
            }
        }
        Ok(Found::Nothing)
    }

    /// Field changes need no read-back: the same PATCH again is harmless.
    /// The keys are recorded first, so that our own change coming back is
    /// recognised even after a crash.
    async fn write_fields(
        &self,
        sys_id: &str,
        fields: &FieldWrite,
        ledger: &mut Ledger,
    ) -> Result<(), SyncError> {
        for (case_id, key) in &fields.keys {
            if !ledger.has(*case_id, key) {
                let at = self
                    .audit(*case_id, ledger::INTENDED, ledger::intended_detail(key))
                    .await?;
                ledger.mark(*case_id, key, at, None);
            }
        }
        let values: Map<String, Value> = fields
            .values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        retrying!(
            self,
            self.client
                .patch_record(&INCIDENT, sys_id, &values, Display::VALUES)
        );
        for (case_id, key) in &fields.keys {
            if !ledger.is_done(*case_id, key) {
                let at = self
                    .audit(
                        *case_id,
                        ledger::DONE,
                        ledger::done_detail(key, &Done::Field),
                    )
                    .await?;
                ledger.mark(*case_id, key, at, Some(Done::Field));
            }
        }
        Ok(())
    }
}

enum Found {
    Entry(String),
    Nothing,
    /// Nothing, and known entries cannot be read either.
    Unreadable,
}

fn marks_json(marks: &BTreeMap<String, String>) -> String {
    serde_json::Value::Object(
        marks
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
    .to_string()
}

/// The second a store time (unix ms) falls in, UTC.
fn second_of(ms: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(ms.div_euclid(1000), 0)
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
        .naive_utc()
}

/// An incident record as the store keeps it; `None` without the fields
/// every record has.
fn incident_row(record: &Record, now: i64) -> Option<IncidentRow> {
    let text = |f: &str| record.text(f).unwrap_or_default().to_owned();
    Some(IncidentRow {
        sys_id: record.sys_id()?.to_owned(),
        number: record.text(incident::NUMBER)?.to_owned(),
        short_description: text(incident::SHORT_DESCRIPTION),
        description: text(incident::DESCRIPTION),
        state: text(incident::STATE),
        priority: text(incident::PRIORITY),
        cmdb_ci: record.reference(incident::CMDB_CI).value,
        sys_mod_count: i64::try_from(record.mod_count()?).ok()?,
        sys_updated_on: record.value(incident::SYS_UPDATED_ON)?.to_owned(),
        raw_json: serde_json::to_string(record.fields()).ok()?,
        seen_at: now,
    })
}

/// The planner's view of a stored incident.
fn incident_view(row: &IncidentRow) -> (IncidentView, String) {
    let fields: Map<String, Value> = serde_json::from_str(&row.raw_json).unwrap_or_default();
    let record = Record::new(fields, crate::servicenow::DisplayMode::Values);
    let text = |f: &str| record.text(f).unwrap_or_default().to_owned();
    (
        IncidentView {
            sys_id: row.sys_id.clone(),
            number: row.number.clone(),
            state: row.state.clone(),
            hold_reason: text(incident::HOLD_REASON),
            close_notes: text(incident::CLOSE_NOTES),
            correlation_id: text(incident::CORRELATION_ID),
            correlation_display: text(incident::CORRELATION_DISPLAY),
            resolved_at: record.datetime(incident::RESOLVED_AT),
        },
        text(incident::SYS_UPDATED_BY),
    )
}

/// A `sys_journal_field` row: (incident sys_id, comment).
fn journal_entry(record: &Record) -> Option<(String, SnComment)> {
    Some((
        record.text(journal::ELEMENT_ID)?.to_owned(),
        SnComment {
            sys_id: record.sys_id()?.to_owned(),
            created_on: record.datetime(journal::SYS_CREATED_ON)?,
            created_by: record
                .text(journal::SYS_CREATED_BY)
                .unwrap_or_default()
                .to_owned(),
            text: record.text(journal::VALUE).unwrap_or_default().to_owned(),
        },
    ))
}

/// The planner's input for every paired incident already read, by sys_id.
fn load_inputs(store: &Store, paired: &[Paired]) -> Result<BTreeMap<String, PairInput>, SyncError> {
    let mut out = BTreeMap::new();
    for paired in paired {
        let Some(incident) = &paired.incident else {
            continue;
        };
        let (view, updated_by) = incident_view(incident);
        let mut ledger = Ledger::default();
        let mut known = HashSet::new();
        let mut cases = Vec::new();
        for case in &paired.cases {
            ledger.add_audit(&store.audit_for_case(case.id)?);
            let journal = store.journal_for_case(case.id)?;
            for j in journal
                .iter()
                .filter(|j| j.entry.origin == Origin::ServiceNow)
            {
                known.extend(j.entry.remote_id.clone());
                known.insert(display::entry_key(
                    second_of(j.entry.event_at),
                    &j.entry.author,
                    &j.entry.text,
                ));
            }
            let hpe_notes = journal
                .into_iter()
                .filter(|j| j.entry.origin == Origin::Hpe)
                .collect();
            let rejections = store
                .outbox_for_case(case.id)?
                .iter()
                .filter(|o| {
                    TransactionName::parse(&o.transaction_name) == TransactionName::RejectResolution
                        && o.state != crate::store::OutboxState::Dropped
                })
                .count();
            cases.push(CaseView {
                pending: store.case_pending_state(case.id)?,
                rejections,
                hpe_notes,
                case: case.clone(),
            });
        }
        out.insert(
            view.sys_id.clone(),
            PairInput {
                view,
                updated_by,
                cases,
                ledger,
                known,
            },
        );
    }
    Ok(out)
}
