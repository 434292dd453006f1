//! A ServiceNow instance on loopback, faithful to `shared/spec/servicenow.md`:
//! the Table API over HTTP or HTTPS for `incident`, `sys_journal_field`,
//! `cmdb_ci`, `sys_user`, `sys_user_group` and any configured mirror tables,
//! basic auth and `/oauth_token.do`, and the platform's quirks (string
//! values, `""` for empty, journal fields that read back `""`, unknown query
//! parts silently dropped, `prev` links with offset -1, ACL-empty 200s).
//!
//! Tests and the demo script it like a person working in ServiceNow
//! ([`ServiceNowSim::add_comment`], [`ServiceNowSim::resolve`], …) and
//! inject faults: outages, 429s, a journal ACL, writes that commit and then
//! fail.

mod api;
mod query;
mod schema;
mod seed;
mod server;
mod state;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use seed::{NewIncident, Seed, SeedCi, SeedUser};
pub use state::TRUNCATION_MARKER;

use state::{Instance, Row, Viewer, WriteError};

/// The integration user the demo and the tests authenticate as.
pub const INTEGRATION_USER: &str = "casebridge.integration";
/// Its password in [`SimConfig::default`].
pub const INTEGRATION_PASSWORD: &str = "casebridge-demo-password";
/// The OAuth client registered in [`SimConfig::default`].
pub const OAUTH_CLIENT_ID: &str = "casebridge-demo-client";
pub const OAUTH_CLIENT_SECRET: &str = "casebridge-demo-secret";

/// What goes wrong starting or scripting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the ServiceNow simulator cannot listen on {addr}: {source} (is the port free?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the simulated instance has no table {0}: add it to SimConfig::extra_tables")]
    NoTable(String),
    #[error("the simulated instance has no incident {0}")]
    NoIncident(String),
    #[error("the simulated instance has no {table} record {sys_id}")]
    NoRecord { table: String, sys_id: String },
    #[error("the simulated instance has no user {0}: add it to the seed's users")]
    NoUser(String),
    #[error("the simulated instance refuses the change: {0}")]
    Rejected(String),
}

/// An outage mode, switched at run time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outage {
    #[default]
    None,
    /// The port stops listening (connections are refused) and open
    /// connections are closed; the same port comes back with `None`.
    Refuse,
    /// Every request answers 503, as an instance under maintenance does.
    Unavailable503,
    /// Every request waits this long before it is handled.
    Slow(Duration),
}

/// How a write fails after it was committed (see
/// [`ServiceNowSim::fail_after_commit_next`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterCommit {
    /// Answer 500 with the error envelope.
    Error500,
    /// Break the connection instead of answering.
    DropConnection,
}

/// A mirror table (onsite tasks, part orders): string fields, plus the
/// system fields every table has.
#[derive(Clone, Debug)]
pub struct ExtraTable {
    pub name: String,
    pub fields: Vec<String>,
}

/// A user name and password accepted by basic auth and the OAuth password grant.
#[derive(Clone, Debug)]
pub struct Credential {
    pub user_name: String,
    pub password: String,
}

/// The registered OAuth client.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    /// `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Serve HTTPS with this configuration (see `sim::pki::server_config`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The API user's time zone: display values are shown in it.
    pub time_zone: chrono_tz::Tz,
    /// Longer journal entries are cut and marked with [`TRUNCATION_MARKER`].
    pub max_journal_len: Option<usize>,
    /// The instance's cap on `sysparm_limit` (the platform default is 10000).
    pub max_page_size: Option<usize>,
    pub extra_tables: Vec<ExtraTable>,
    pub credentials: Vec<Credential>,
    pub oauth: Option<OAuthClient>,
    pub seed: Seed,
}

impl Default for SimConfig {
    /// Loopback, plain HTTP, Pacific time, the integration user with basic
    /// and OAuth credentials, and the basic seed (users, groups, CIs; no
    /// incidents).
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: None,
            time_zone: chrono_tz::America::Los_Angeles,
            max_journal_len: None,
            max_page_size: None,
            extra_tables: Vec::new(),
            credentials: vec![Credential {
                user_name: INTEGRATION_USER.to_owned(),
                password: INTEGRATION_PASSWORD.to_owned(),
            }],
            oauth: Some(OAuthClient {
                client_id: OAUTH_CLIENT_ID.to_owned(),
                client_secret: OAUTH_CLIENT_SECRET.to_owned(),
                token_lifetime: Duration::from_secs(1800),
            }),
            seed: Seed::basic(),
        }
    }
}

impl SimConfig {
    /// The default configuration with the demo's incidents, and the onsite
    /// task and part order mirror tables.
    pub fn demo() -> Self {
        Self {
            seed: Seed::demo(),
            extra_tables: seed::demo_mirror_tables(),
            ..Self::default()
        }
    }
}

/// A record as stored: every value a string, `""` when empty, references as
/// sys_ids, date-times in UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRecord {
    fields: std::collections::BTreeMap<String, String>,
}

impl SimRecord {
    fn from_row(row: &Row) -> Self {
        Self {
            fields: row.fields.clone(),
        }
    }

    /// The stored value, `""` for an empty or unknown field.
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map_or("", String::as_str)
    }

    pub fn sys_id(&self) -> &str {
        self.get("sys_id")
    }

    pub fn mod_count(&self) -> u64 {
        self.get("sys_mod_count").parse().unwrap_or(0)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// One entry of `sys_journal_field`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalEntry {
    pub sys_id: String,
    /// `comments` or `work_notes`.
    pub element: String,
    /// The sys_id of the record the entry belongs to.
    pub element_id: String,
    pub value: String,
    /// UTC, second precision.
    pub sys_created_on: NaiveDateTime,
    pub sys_created_by: String,
}

/// One request as the simulator saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path_and_query: String,
    pub status: u16,
    pub at: DateTime<Utc>,
}

pub(crate) struct Auth {
    credentials: Vec<Credential>,
    oauth: Option<OAuthClient>,
    /// access token → (user name, expiry on the instance clock)
    access: std::collections::HashMap<String, (String, NaiveDateTime)>,
    refresh: std::collections::HashMap<String, String>,
    grants: Vec<String>,
}

#[derive(Default)]
pub(crate) struct Faults {
    outage: Outage,
    rate_limited: usize,
    retry_after: Option<Duration>,
    fail_after_commit: usize,
    after_commit: Option<AfterCommit>,
    journal_acl_blocked: bool,
}

impl Faults {
    fn take_commit_failure(&mut self) -> Option<AfterCommit> {
        if self.fail_after_commit == 0 {
            return None;
        }
        self.fail_after_commit -= 1;
        self.after_commit
    }
}

pub(crate) struct SimState {
    instance: Instance,
    auth: Auth,
    faults: Faults,
    log: Vec<LoggedRequest>,
    max_page_size: Option<usize>,
}

pub(crate) struct Shared {
    state: Mutex<SimState>,
    base_url: String,
    refuse: watch::Sender<bool>,
}

impl Shared {
    /// A panic in one handler must not take the simulator down for the
    /// rest of a test run, so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulator. Dropping it stops the server.
pub struct ServiceNowSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ServiceNowSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceNowSim")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

fn write_error(table: &str, target: Option<&str>, error: WriteError) -> SimError {
    match error {
        WriteError::NoTable(t) => SimError::NoTable(t),
        WriteError::NoRecord => SimError::NoRecord {
            table: table.to_owned(),
            sys_id: target.unwrap_or_default().to_owned(),
        },
        WriteError::Forbidden(detail) => SimError::Rejected(detail),
    }
}

impl ServiceNowSim {
    /// Seeds the instance and starts serving. Must run inside a tokio runtime.
    pub async fn start(config: SimConfig) -> Result<Self, SimError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let extra: Vec<(String, Vec<String>)> = config
            .extra_tables
            .iter()
            .map(|t| (t.name.clone(), t.fields.clone()))
            .collect();
        let mut instance = Instance::new(config.time_zone, config.max_journal_len, &extra);
        config.seed.apply(&mut instance)?;
        let (refuse, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(SimState {
                instance,
                auth: Auth {
                    credentials: config.credentials,
                    oauth: config.oauth,
                    access: Default::default(),
                    refresh: Default::default(),
                    grants: Vec::new(),
                },
                faults: Faults::default(),
                log: Vec::new(),
                max_page_size: config.max_page_size,
            }),
            base_url: format!("{scheme}://{addr}"),
            refuse,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(
            listener,
            addr,
            config.tls,
            api::router(shared.clone()),
            shutdown_rx,
            shared.refuse.subscribe(),
        ));
        Ok(Self {
            shared,
            addr,
            shutdown,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and closes every connection.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            // The accept loop only ends by this signal; a join error would
            // mean it panicked, which the test output already shows.
            let _ = task.await;
        }
    }

    fn user_name(state: &SimState, user: &str) -> Result<String, SimError> {
        state
            .instance
            .find_by(schema::USER, "user_name", user)
            .map(|u| u.get("user_name").to_owned())
            .ok_or_else(|| SimError::NoUser(user.to_owned()))
    }

    fn incident_id(state: &SimState, number: &str) -> Result<String, SimError> {
        state
            .instance
            .find_by(schema::INCIDENT, "number", number)
            .map(|r| r.get("sys_id").to_owned())
            .ok_or_else(|| SimError::NoIncident(number.to_owned()))
    }

    /// Changes fields of an incident as `user` would in the UI. Journal
    /// fields (`comments`, `work_notes`) add entries; references take a
    /// sys_id or a display value.
    pub fn update_incident(
        &self,
        number: &str,
        user: &str,
        values: &[(&str, &str)],
    ) -> Result<SimRecord, SimError> {
        let mut state = self.shared.lock();
        let sys_id = Self::incident_id(&state, number)?;
        self.write_locked(&mut state, schema::INCIDENT, Some(&sys_id), user, values)
    }

    fn write_locked(
        &self,
        state: &mut SimState,
        table: &str,
        target: Option<&str>,
        user: &str,
        values: &[(&str, &str)],
    ) -> Result<SimRecord, SimError> {
        let user = Self::user_name(state, user)?;
        let values: Vec<(String, String)> = values
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let at = state.instance.now();
        let sys_id = state
            .instance
            .write(table, target, &values, &user, at, Viewer::Script)
            .map_err(|e| write_error(table, target, e))?;
        state
            .instance
            .find(table, &sys_id)
            .map(SimRecord::from_row)
            .ok_or_else(|| SimError::NoRecord {
                table: table.to_owned(),
                sys_id,
            })
    }

    /// Adds a customer-visible comment ("Additional comments") as `user`.
    pub fn add_comment(&self, number: &str, user: &str, text: &str) -> Result<SimRecord, SimError> {
        self.update_incident(number, user, &[("comments", text)])
    }

    pub fn add_work_note(
        &self,
        number: &str,
        user: &str,
        text: &str,
    ) -> Result<SimRecord, SimError> {
        self.update_incident(number, user, &[("work_notes", text)])
    }

    /// Sets `state` (1 New, 2 In Progress, 3 On Hold, 6 Resolved, 7 Closed,
    /// 8 Canceled). Resolving or closing this way fails without close fields:
    /// use [`Self::resolve`].
    pub fn set_state(&self, number: &str, state: &str, user: &str) -> Result<SimRecord, SimError> {
        self.update_incident(number, user, &[("state", state)])
    }

    pub fn resolve(
        &self,
        number: &str,
        close_code: &str,
        close_notes: &str,
        user: &str,
    ) -> Result<SimRecord, SimError> {
        self.update_incident(
            number,
            user,
            &[
                ("state", "6"),
                ("close_code", close_code),
                ("close_notes", close_notes),
            ],
        )
    }

    /// Opens an incident as `incident.caller` (or the integration user).
    pub fn create_incident(&self, incident: &NewIncident) -> Result<SimRecord, SimError> {
        let mut state = self.shared.lock();
        let at = state.instance.now();
        let sys_id = incident.insert(&mut state.instance, at)?;
        state
            .instance
            .find(schema::INCIDENT, &sys_id)
            .map(SimRecord::from_row)
            .ok_or_else(|| SimError::NoRecord {
                table: schema::INCIDENT.to_owned(),
                sys_id,
            })
    }

    /// Inserts a record into any table (mirror tables included) as `user`.
    pub fn insert_record(
        &self,
        table: &str,
        user: &str,
        values: &[(&str, &str)],
    ) -> Result<SimRecord, SimError> {
        let mut state = self.shared.lock();
        self.write_locked(&mut state, table, None, user, values)
    }

    pub fn incident(&self, number: &str) -> Result<SimRecord, SimError> {
        let state = self.shared.lock();
        state
            .instance
            .find_by(schema::INCIDENT, "number", number)
            .map(SimRecord::from_row)
            .ok_or_else(|| SimError::NoIncident(number.to_owned()))
    }

    pub fn record(&self, table: &str, sys_id: &str) -> Result<SimRecord, SimError> {
        let state = self.shared.lock();
        if state.instance.table(table).is_none() {
            return Err(SimError::NoTable(table.to_owned()));
        }
        state
            .instance
            .find(table, sys_id)
            .map(SimRecord::from_row)
            .ok_or_else(|| SimError::NoRecord {
                table: table.to_owned(),
                sys_id: sys_id.to_owned(),
            })
    }

    /// Every record of a table, in insertion order.
    pub fn records(&self, table: &str) -> Result<Vec<SimRecord>, SimError> {
        let state = self.shared.lock();
        let t = state
            .instance
            .table(table)
            .ok_or_else(|| SimError::NoTable(table.to_owned()))?;
        Ok(t.rows.iter().map(SimRecord::from_row).collect())
    }

    /// The incident's journal (comments and work notes), newest first.
    pub fn journal(&self, number: &str) -> Result<Vec<JournalEntry>, SimError> {
        let state = self.shared.lock();
        let sys_id = Self::incident_id(&state, number)?;
        Ok(state
            .instance
            .journal_entries(&sys_id, None)
            .into_iter()
            .map(|r| JournalEntry {
                sys_id: r.get("sys_id").to_owned(),
                element: r.get("element").to_owned(),
                element_id: r.get("element_id").to_owned(),
                value: r.get("value").to_owned(),
                sys_created_on: NaiveDateTime::parse_from_str(
                    r.get("sys_created_on"),
                    state::TIME_FORMAT,
                )
                .unwrap_or_default(),
                sys_created_by: r.get("sys_created_by").to_owned(),
            })
            .collect())
    }

    /// Hides a record from the API user, as an ACL would: it still counts in
    /// `X-Total-Count` and takes its place in a page, which comes back short.
    pub fn set_hidden(&self, table: &str, sys_id: &str, hidden: bool) -> Result<(), SimError> {
        self.shared
            .lock()
            .instance
            .set_hidden(table, sys_id, hidden)
            .map_err(|e| write_error(table, Some(sys_id), e))
    }

    /// Without the ACL, `sys_journal_field` answers 200 with an empty list.
    pub fn set_journal_acl_blocked(&self, blocked: bool) {
        self.shared.lock().faults.journal_acl_blocked = blocked;
    }

    pub fn set_outage(&self, outage: Outage) {
        self.shared.lock().faults.outage = outage;
        self.shared.refuse.send_replace(outage == Outage::Refuse);
    }

    /// The next `requests` API requests answer 429: with `Retry-After` (and
    /// the `X-RateLimit-*` headers) when `retry_after` is set, with no
    /// headers at all otherwise, as some real 429s come.
    pub fn rate_limit(&self, requests: usize, retry_after: Option<Duration>) {
        let mut state = self.shared.lock();
        state.faults.rate_limited = requests;
        state.faults.retry_after = retry_after;
    }

    /// The next `writes` POST/PATCH/PUT requests are committed and then
    /// answered as `how` says, to test retried writes (a retried journal
    /// write appends twice, as on the platform).
    pub fn fail_after_commit_next(&self, writes: usize, how: AfterCommit) {
        let mut state = self.shared.lock();
        state.faults.fail_after_commit = writes;
        state.faults.after_commit = Some(how);
    }

    pub fn set_max_journal_len(&self, max: Option<usize>) {
        self.shared.lock().instance.max_journal_len = max;
    }

    pub fn set_max_page_size(&self, max: Option<usize>) {
        self.shared.lock().max_page_size = max;
    }

    /// Moves the instance clock (timestamps, token expiry) forward.
    pub fn advance_clock(&self, by: Duration) {
        let mut state = self.shared.lock();
        state.instance.clock_offset +=
            chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
    }

    /// The instance clock, UTC, second precision.
    pub fn now(&self) -> NaiveDateTime {
        self.shared.lock().instance.now()
    }

    /// Expires every issued access token: the next request with one gets 401.
    pub fn expire_tokens(&self) {
        let mut state = self.shared.lock();
        let past = state.instance.now() - chrono::Duration::seconds(1);
        for (_, expiry) in state.auth.access.values_mut() {
            *expiry = past;
        }
    }

    /// The OAuth grants served, in order (`password`, `refresh_token`).
    pub fn oauth_grants(&self) -> Vec<String> {
        self.shared.lock().auth.grants.clone()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().log.clear();
    }
}

impl Drop for ServiceNowSim {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}
