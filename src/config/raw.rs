//! The file as written: serde structs that mirror the TOML one to one.
//!
//! Everything the file may leave out is an `Option` here; defaults and
//! cross-field rules live in `validate`, so that this layer only judges
//! shape (unknown keys, types) and `validate` can name what is missing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::secret::SecretRef;
use super::values::{ByteSize, HumanDuration};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub site: RawSite,
    pub operators: Vec<RawOperator>,
    pub systems: Vec<RawSystem>,
    pub gsem: RawGsem,
    pub servicenow: RawServiceNow,
    pub severity: Option<RawSeverity>,
    pub sync: Option<RawSync>,
    pub updates: Option<RawUpdates>,
    pub store: Option<RawStore>,
    pub log: Option<RawLog>,
    pub ui: Option<RawUi>,
    pub serve: Option<super::serve::RawServe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    pub organization: String,
    pub address: RawAddress,
    pub contact: RawContact,
    pub alternate_contact: RawContact,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAddress {
    pub street: String,
    pub street2: Option<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContact {
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOperator {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSystem {
    pub name: String,
    pub serial: String,
    pub contract: String,
    pub cmdb_ci: String,
    pub product_number: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawEnvironment {
    Dev,
    Prod,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGsem {
    pub environment: RawEnvironment,
    pub dev: Option<RawGsemEnv>,
    pub prod: Option<RawGsemEnv>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawMode {
    Pull,
    Push,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGsemEnv {
    pub base_url: Option<String>,
    pub allow_insecure_http: Option<bool>,
    pub config_path: Option<String>,
    pub message_path: Option<String>,
    pub agent_key_header: Option<String>,
    pub agent_key: Option<SecretRef>,
    pub remote_agent_name: Option<String>,
    pub remote_agent_type: Option<String>,
    pub mode: Option<RawMode>,
    pub poll_interval: Option<HumanDuration>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub ca_bundle: Option<PathBuf>,
    pub request_timeout: Option<HumanDuration>,
    pub backoff_start: Option<HumanDuration>,
    pub backoff_cap: Option<HumanDuration>,
    pub inbound_body_limit: Option<ByteSize>,
    pub webhook: Option<RawWebhook>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawCallerAuth {
    ClientCert,
    Basic,
    Bearer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    pub listen: Option<String>,
    pub path: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub auth: Option<RawCallerAuth>,
    pub client_ca: Option<PathBuf>,
    pub user: Option<String>,
    pub password: Option<SecretRef>,
    pub token: Option<SecretRef>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawServiceNowAuth {
    Basic,
    Oauth,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RawJournal {
    Comments,
    WorkNotes,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServiceNow {
    pub instance_url: String,
    pub allow_insecure_http: Option<bool>,
    pub ca_bundle: Option<PathBuf>,
    pub auth: Option<RawServiceNowAuth>,
    pub user: String,
    pub password: SecretRef,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
    pub integration_user: Option<String>,
    pub poll_interval: Option<HumanDuration>,
    pub overlap: Option<HumanDuration>,
    pub request_timeout: Option<HumanDuration>,
    pub backoff_start: Option<HumanDuration>,
    pub backoff_cap: Option<HumanDuration>,
    pub page_size: Option<i64>,
    pub time_zone: Option<String>,
    pub incident_query: Option<String>,
    pub comment_journal: Option<RawJournal>,
    pub journal_fallback_to_display_value: Option<bool>,
    pub max_journal_length: Option<i64>,
    pub mark_hold_reason: Option<bool>,
    pub sync_state_to_incident: Option<bool>,
    pub close_case_when_incident_resolved: Option<bool>,
    pub push_hint: Option<RawPushHint>,
    pub mirror: Option<RawMirror>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPushHint {
    pub listen: String,
    pub path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMirror {
    pub enabled: Option<bool>,
    pub task_table: Option<String>,
    pub part_table: Option<String>,
    pub task_fields: Option<RawTaskFields>,
    pub part_fields: Option<RawPartFields>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTaskFields {
    pub hpe_id: Option<String>,
    pub incident: Option<String>,
    pub case_number: Option<String>,
    pub status: Option<String>,
    pub scheduled_start: Option<String>,
    pub engineer_eta: Option<String>,
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPartFields {
    pub hpe_id: Option<String>,
    pub incident: Option<String>,
    pub case_number: Option<String>,
    pub status: Option<String>,
    pub part_number: Option<String>,
    pub part_description: Option<String>,
    pub quantity: Option<String>,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub eta: Option<String>,
    pub return_required: Option<String>,
    pub return_status: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSeverity {
    pub normal: Option<String>,
    pub critical_degraded: Option<String>,
    pub critical_down: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSync {
    pub overdue_after: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpdates {
    pub rules: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    pub path: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    pub filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUi {
    pub keys: Option<BTreeMap<String, String>>,
}
