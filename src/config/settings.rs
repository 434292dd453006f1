//! The validated settings: what the rest of casebridge reads.
//!
//! Every value here has passed validation and carries its default when the
//! file left it out. Fields are public so that tests of other modules can
//! build the pieces they need; a whole [`Settings`] only comes from
//! [`super::load`] or [`super::load_str`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use super::secret::Secret;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub site: Site,
    /// At least one; ids are unique.
    pub operators: Vec<Operator>,
    /// At least one; names, serials and CIs are unique.
    pub systems: Vec<System>,
    pub gsem: Gsem,
    pub servicenow: ServiceNow,
    pub severity: SeverityMap,
    pub sync: SyncSettings,
    pub updates: Updates,
    pub store: Store,
    pub log: Log,
    pub ui: Ui,
    /// `[serve]`, when this host runs the console API.
    pub serve: Option<super::serve::Serve>,
    pub(crate) paths: Paths,
}

impl Settings {
    /// Where the file was found and the directories derived from it.
    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The operator profile with this id (`[[operators]] id`).
    pub fn operator(&self, id: &str) -> Option<&Operator> {
        self.operators.iter().find(|o| o.id == id)
    }

    /// The system with this serial number (`SN=` in `AgreementType`).
    pub fn system_by_serial(&self, serial: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.serial == serial)
    }

    /// The system whose ServiceNow CI (the incident's `cmdb_ci`) is `ci`.
    pub fn system_by_ci(&self, ci: &str) -> Option<&System> {
        self.systems.iter().find(|s| s.cmdb_ci == ci)
    }
}

/// Files and directories casebridge uses besides the config values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The config file, made absolute.
    pub config_file: PathBuf,
    /// Its directory: relative paths in the file start here, and the
    /// update-rules override (`update-rules.toml`) is looked for here.
    pub config_dir: PathBuf,
    /// Per-user data directory (store, logs): the `directories` data dir,
    /// else the store file's directory.
    pub data_dir: PathBuf,
}

/// `[site]`: the organisation that opens cases (SIS `SERVICE_REQUESTER`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub organization: String,
    pub address: Address,
    /// Default phone and email of the requester person.
    pub contact: Contact,
    /// Sent as the alternate contact of every SERVICE REQUEST.
    pub alternate_contact: Contact,
}

/// A postal address (SIS `ADDRESS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `GeoAddress1`.
    pub street: String,
    /// `GeoAddress2`, when the address needs a second line.
    pub street2: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    /// ISO 3166 alpha-2 code, e.g. `US`.
    pub country: String,
}

/// A person reachable by phone and email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
}

/// `[[operators]]`: a person who may open cases; the one who opens a case is
/// its SIS requester `PERSON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// Short unique handle (e.g. the login name) the console selects the profile by.
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    /// Falls back to the site contact's phone.
    pub phone: Option<String>,
    /// Falls back to the site contact's email.
    pub email: Option<String>,
}

impl Operator {
    /// This operator as the requester person: own phone and email where the
    /// profile has them, the site contact's otherwise.
    pub fn as_contact(&self, site_contact: &Contact) -> Contact {
        Contact {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            phone: self
                .phone
                .clone()
                .unwrap_or_else(|| site_contact.phone.clone()),
            email: self
                .email
                .clone()
                .unwrap_or_else(|| site_contact.email.clone()),
        }
    }
}

/// `[[systems]]`: an HPE system under contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct System {
    pub name: String,
    /// `SN=` in `AgreementType`; contains no `;`.
    pub serial: String,
    /// `CN=` in `ContractID`; contains no `;`.
    pub contract: String,
    /// The ServiceNow configuration item that identifies the system: the
    /// value of the incident's `cmdb_ci` (a sys_id).
    pub cmdb_ci: String,
    /// `PN=` in `AgreementType`, when HPE asks for it.
    pub product_number: Option<String>,
}

/// GSEM environment; development and production are authorised separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Dev,
    Prod,
}

impl Environment {
    /// The config key of its table: `dev` or `prod`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Dev => "dev",
            Environment::Prod => "prod",
        }
    }
}

/// Start and cap of exponential backoff (jitter is the caller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub start: Duration,
    /// Never below `start`.
    pub cap: Duration,
}

/// `[gsem]` and its active environment's table.
#[derive(Debug, Clone)]
pub struct Gsem {
    /// Which of `[gsem.dev]` / `[gsem.prod]` these settings come from.
    pub environment: Environment,
    /// Ends in `/`; https unless `allow_insecure_http` on a loopback host.
    pub base_url: Url,
    /// `base_url` joined with `config_path` (default `redfish/v1/gsem`).
    pub config_url: Url,
    /// `base_url` joined with `message_path` (default `redfish/v1/message`).
    pub message_url: Url,
    /// Request header carrying the agent key (default `X-Agent-Key`).
    pub agent_key_header: String,
    pub agent_key: Secret,
    /// Destination agent of what we send (`RemoteAgentName`).
    pub remote_agent_name: String,
    /// `RemoteAgentType`.
    pub remote_agent_type: String,
    /// Client certificate (PEM) HPE registered for this host.
    pub client_cert: PathBuf,
    /// Its private key (PEM).
    pub client_key: PathBuf,
    /// CA bundle (PEM) pinning GSEM's server certificate; `None`: the system roots.
    pub ca_bundle: Option<PathBuf>,
    /// Default 30 s.
    pub request_timeout: Duration,
    /// Default 1 s to 30 s.
    pub backoff: Backoff,
    /// Largest inbound body accepted, in bytes (default 32 MiB).
    pub inbound_body_limit: u64,
    pub delivery: Delivery,
}

/// How HPE's transactions reach us.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// We fetch the head of our queue; `poll_interval` (default 15 s) is the
    /// sleep once the queue is empty.
    Pull { poll_interval: Duration },
    /// GSEM POSTs to our listener.
    Push(Webhook),
}

/// `[gsem.<env>.webhook]`: the listener GSEM pushes to.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub listen: SocketAddr,
    /// Starts with `/` (default `/gsem/message`).
    pub path: String,
    /// Server certificate (PEM) of the listener; default the client certificate.
    pub tls_cert: PathBuf,
    /// Its key (PEM); default the client key.
    pub tls_key: PathBuf,
    pub auth: CallerAuth,
}

/// How the webhook authenticates GSEM.
#[derive(Debug, Clone)]
pub enum CallerAuth {
    /// Mutual TLS: GSEM's client certificate must be signed by this CA (PEM).
    ClientCert { ca: PathBuf },
    /// HTTP basic auth.
    Basic { user: String, password: Secret },
    /// `Authorization: Bearer <token>`.
    Bearer { token: Secret },
}

/// `[servicenow]`.
#[derive(Debug, Clone)]
pub struct ServiceNow {
    /// Ends in `/`; https unless `allow_insecure_http` on a loopback host.
    pub instance_url: Url,
    /// CA bundle (PEM) for the instance's certificate; `None`: the system roots.
    pub ca_bundle: Option<PathBuf>,
    pub auth: ServiceNowAuth,
    /// User name our writes appear under (`sys_updated_by`, journal
    /// `sys_created_by`), to recognise our own changes; default the auth user.
    pub integration_user: String,
    /// Default 30 s.
    pub poll_interval: Duration,
    /// How far back each poll re-reads before the watermark (default 60 s).
    pub overlap: Duration,
    /// Default 30 s.
    pub request_timeout: Duration,
    /// Default 1 s to 5 min (429s honour `Retry-After` on top).
    pub backoff: Backoff,
    /// `sysparm_limit` per page, 1 to 10000 (default 100).
    pub page_size: u32,
    /// Time zone of the API user, for display values (default UTC).
    pub time_zone: chrono_tz::Tz,
    /// Encoded query selecting the incidents that matter (default `active=true`).
    pub incident_query: String,
    /// Journal whose new entries go to HPE as notes (default comments).
    pub comment_journal: Journal,
    /// Read journals from the incident's display value when
    /// `sys_journal_field` is not readable (default false).
    pub journal_fallback_to_display_value: bool,
    /// Longest journal entry the instance keeps, in characters (the
    /// dictionary's max length of the journal field); longer HPE notes are
    /// cut visibly by casebridge. `None` (the default): no limit.
    pub max_journal_length: Option<usize>,
    /// Set `hold_reason` Awaiting Vendor while HPE works (default false).
    pub mark_hold_reason: bool,
    /// Reflect the case's state on the incident (default true).
    pub sync_state_to_incident: bool,
    /// Close the case when its incident is resolved (default true).
    pub close_case_when_incident_resolved: bool,
    /// Listener for change hints from a business rule; `None`: poll only.
    pub push_hint: Option<PushHint>,
    /// Mirror records of onsite tasks and part orders; `None`: off (the default).
    pub mirror: Option<Mirror>,
}

/// ServiceNow credentials.
#[derive(Debug, Clone)]
pub enum ServiceNowAuth {
    Basic {
        user: String,
        password: Secret,
    },
    /// Password grant at `/oauth_token.do`, then refresh.
    OAuth {
        user: String,
        password: Secret,
        client_id: String,
        client_secret: Secret,
    },
}

/// A ServiceNow journal field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    Comments,
    WorkNotes,
}

impl Journal {
    /// Its field name on the incident and in `sys_journal_field.element`.
    pub fn field(self) -> &'static str {
        match self {
            Journal::Comments => "comments",
            Journal::WorkNotes => "work_notes",
        }
    }
}

/// `[servicenow.push_hint]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushHint {
    pub listen: SocketAddr,
    /// Starts with `/` (default `/servicenow/hint`).
    pub path: String,
}

/// `[servicenow.mirror]` when enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Default `u_hpe_onsite_task`.
    pub task_table: String,
    /// Default `u_hpe_part_order`.
    pub part_table: String,
    pub task_fields: TaskFields,
    pub part_fields: PartFields,
}

/// Field names of the onsite-task mirror table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFields {
    /// HPE's task id: the record is looked up by it before one is created.
    pub hpe_id: String,
    /// Reference to the incident.
    pub incident: String,
    /// HPE case number.
    pub case_number: String,
    pub status: String,
    pub scheduled_start: String,
    pub engineer_eta: String,
    pub description: String,
}

impl Default for TaskFields {
    fn default() -> Self {
        TaskFields {
            hpe_id: "u_hpe_id".into(),
            incident: "u_incident".into(),
            case_number: "u_hpe_case".into(),
            status: "u_status".into(),
            scheduled_start: "u_scheduled_start".into(),
            engineer_eta: "u_engineer_eta".into(),
            description: "u_description".into(),
        }
    }
}

/// Field names of the part-order mirror table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartFields {
    /// HPE's order id: the record is looked up by it before one is created.
    pub hpe_id: String,
    pub incident: String,
    pub case_number: String,
    pub status: String,
    pub part_number: String,
    pub part_description: String,
    pub quantity: String,
    pub carrier: String,
    pub tracking_number: String,
    pub eta: String,
    pub return_required: String,
    pub return_status: String,
}

impl Default for PartFields {
    fn default() -> Self {
        PartFields {
            hpe_id: "u_hpe_id".into(),
            incident: "u_incident".into(),
            case_number: "u_hpe_case".into(),
            status: "u_status".into(),
            part_number: "u_part_number".into(),
            part_description: "u_part_description".into(),
            quantity: "u_quantity".into(),
            carrier: "u_carrier".into(),
            tracking_number: "u_tracking_number".into(),
            eta: "u_eta".into(),
            return_required: "u_return_required".into(),
            return_status: "u_return_status".into(),
        }
    }
}

/// `[severity]`: `RequesterSeverity` for each priority of the open dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityMap {
    /// Default `MEDIUM`.
    pub normal: String,
    /// Default `MAJOR`.
    pub critical_degraded: String,
    /// Default `CRITICAL`.
    pub critical_down: String,
}

impl Default for SeverityMap {
    fn default() -> Self {
        SeverityMap {
            normal: "MEDIUM".into(),
            critical_degraded: "MAJOR".into(),
            critical_down: "CRITICAL".into(),
        }
    }
}

/// `[sync]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncSettings {
    /// A case still in state 0 or 3 this long after it was sent is flagged
    /// (default 15 min).
    pub overdue_after: Duration,
}

/// `[updates]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updates {
    /// Rules file overriding the shipped update-parsing rules: `updates.rules`
    /// if set (it must exist), else `update-rules.toml` in the config dir if
    /// that exists, else `None` (the shipped rules).
    pub rules: Option<PathBuf>,
}

/// `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// SQLite file (default `casebridge.db` in the data dir).
    pub path: PathBuf,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// `tracing` filter directives: `$CASEBRIDGE_LOG` if set, else
    /// `log.filter`, else `info`.
    pub filter: String,
}

impl Log {
    /// The filter when there is no config file (demo mode): `$CASEBRIDGE_LOG`
    /// if set, else `info`, checked the same way as in a file.
    pub fn without_config() -> Result<Log, super::ConfigError> {
        Ok(super::validate::env_log_filter()?.unwrap_or_else(|| Log {
            filter: super::defaults::LOG_FILTER.to_owned(),
        }))
    }
}

/// `[ui]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ui {
    /// `[ui.keys]`: action name → key, overriding single default keys. Only
    /// the shape is checked here; the console knows the action names.
    pub keys: BTreeMap<String, String>,
}
