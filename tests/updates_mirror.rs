#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ServiceNow mirror of onsite tasks and part orders, end to end: sample
//! messages parsed and recorded in a real store file, then mirrored to the
//! simulator on loopback, faults and retries included.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use casebridge::config::{self, Secret};
use casebridge::servicenow::{Auth, ClientOptions, SnError, TableClient};
use casebridge::sim::servicenow::{
    AfterCommit, INTEGRATION_PASSWORD, INTEGRATION_USER, LoggedRequest, ServiceNowSim, SimConfig,
    SimRecord,
};
use casebridge::store::prelude::*;
use casebridge::store::{IncidentRow, NewCase, Role, Store, TaskUpdate};
use casebridge::updates::{
    Applied, Mirror, MirrorAction, MirrorError, MirrorItem, MirrorOutcome, RecordKind, Rules,
    UpdateContext, UpdateInput, apply_parsed, parse_update,
};
use chrono::NaiveDateTime;

#[path = "support/lab.rs"]
mod lab;

const NOW: i64 = 1_714_600_000_000;
const CASE_NUMBER: &str = "5381923377";
const TASKS: &str = "u_hpe_onsite_task";
const PARTS: &str = "u_hpe_part_order";

fn sample_input(file: &str) -> (Option<String>, Vec<(String, String)>, Option<String>) {
    let path = format!("{}/assets/samples/{file}", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let incident = &json["Message"]["SERVICE_INCIDENT"];
    let activity = &incident["ACTIVITY"];
    let log = activity["ActionLog"].as_str().map(str::to_string);
    let pairs = activity["NameValuePairList"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let comment = incident["Comment"].as_str().map(str::to_string);
    (log, pairs, comment)
}

/// A store with one case (HPE case [`CASE_NUMBER`]) on a demo incident of
/// the simulator, and a client of that simulator.
struct Fixture {
    dir: tempfile::TempDir,
    store: Store,
    case_id: i64,
    incident_sys_id: String,
    sim: ServiceNowSim,
    client: Arc<TableClient>,
    rules: Rules,
}

impl Fixture {
    async fn new() -> Self {
        let sim = ServiceNowSim::start(SimConfig::demo()).await.unwrap();
        let incident = sim.records("incident").unwrap()[0].clone();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("casebridge.db"), Role::Tool).unwrap();
        store
            .upsert_incident(
                &IncidentRow {
                    sys_id: incident.sys_id().to_owned(),
                    number: incident.get("number").to_owned(),
                    short_description: incident.get("short_description").to_owned(),
                    description: incident.get("description").to_owned(),
                    state: incident.get("state").to_owned(),
                    priority: incident.get("priority").to_owned(),
                    cmdb_ci: None,
                    sys_mod_count: incident.mod_count() as i64,
                    sys_updated_on: incident.get("sys_updated_on").to_owned(),
                    raw_json: "{}".to_owned(),
                    seen_at: 0,
                },
                NOW,
            )
            .unwrap();
        let case = store
            .create_case(
                &NewCase {
                    incident_number: incident.get("number").to_owned(),
                    severity: "MAJOR".to_owned(),
                    title: "HSN switch blade down".to_owned(),
                    description: "c3s2 blade unreachable".to_owned(),
                    system_id: None,
                    opened_by: "ada".to_owned(),
                },
                NOW,
            )
            .unwrap();
        store
            .set_case_provider_id(case.id, CASE_NUMBER, NOW)
            .unwrap();
        let client = TableClient::new(
            sim.base_url(),
            Auth::Basic {
                user: INTEGRATION_USER.into(),
                password: Secret::new(INTEGRATION_PASSWORD),
            },
            ClientOptions::default(),
        )
        .unwrap();
        Fixture {
            dir,
            store,
            case_id: case.id,
            incident_sys_id: incident.sys_id().to_owned(),
            sim,
            client: Arc::new(client),
            rules: Rules::shipped().unwrap(),
        }
    }

    fn mirror(&self) -> Mirror {
        Mirror::new(self.client.clone(), &mirror_config())
    }

    /// Parses and records one sample message whose event time is `at`.
    fn apply(&self, file: &str, message_id: &str, at: &str) -> Applied {
        let (log, pairs, comment) = sample_input(file);
        let parsed = parse_update(
            &UpdateInput {
                action_log: log.as_deref(),
                pairs: &pairs,
                comment: comment.as_deref(),
            },
            &self.rules,
        );
        let at_ms = NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let ctx = UpdateContext {
            inbox_id: None,
            message_id: Some(message_id),
            event_time: Some(at),
            event_at_ms: Some(at_ms),
            author: "HPE",
        };
        self.store
            .transaction(|tx| apply_parsed(tx, self.case_id, &parsed, &ctx, NOW))
            .unwrap()
    }

    /// [`Self::apply`], then the items of the records the message changed.
    fn deliver(&self, mirror: &Mirror, file: &str, message_id: &str, at: &str) -> Vec<MirrorItem> {
        let applied = self.apply(file, message_id, at);
        mirror
            .changed_items(&self.store, self.case_id, &applied.changed)
            .unwrap()
    }

    fn only(&self, table: &str) -> SimRecord {
        let records = self.sim.records(table).unwrap();
        assert_eq!(records.len(), 1, "{table}: {records:?}");
        records.into_iter().next().unwrap()
    }

    /// (method, path without query, status) of the requests since the last clear.
    fn requests(&self) -> Vec<(String, String, u16)> {
        self.sim
            .requests()
            .iter()
            .map(
                |LoggedRequest {
                     method,
                     path_and_query,
                     status,
                     ..
                 }| {
                    let path = path_and_query.split('?').next().unwrap().to_owned();
                    (method.clone(), path, *status)
                },
            )
            .collect()
    }
}

fn mirror_config() -> config::Mirror {
    config::Mirror {
        task_table: TASKS.to_owned(),
        part_table: PARTS.to_owned(),
        task_fields: config::TaskFields::default(),
        part_fields: config::PartFields::default(),
    }
}

/// The mirror-owned fields of a record, the system fields left out.
fn own_fields(record: &SimRecord) -> Vec<(String, String)> {
    record
        .fields()
        .filter(|(k, v)| k.starts_with("u_") && !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

fn req(method: &str, path: &str, status: u16) -> (String, String, u16) {
    (method.to_owned(), path.to_owned(), status)
}

const TASK_PATH: &str = "/api/now/table/u_hpe_onsite_task";
const PART_PATH: &str = "/api/now/table/u_hpe_part_order";

async fn push_one(mirror: &Mirror, items: &[MirrorItem]) -> MirrorOutcome {
    assert_eq!(items.len(), 1, "{items:?}");
    mirror.push(&items[0]).await.unwrap()
}

#[tokio::test]
async fn a_task_and_a_part_order_are_created_once_then_patched_in_place() {
    let f = Fixture::new().await;
    let mirror = f.mirror();

    let task = f.deliver(
        &mirror,
        "04-onsite-task-structured.json",
        "q-000130",
        "2024-04-29 09:00:12",
    );
    let created = push_one(&mirror, &task).await;
    assert_eq!(created.action, MirrorAction::Created);
    assert_eq!(
        (created.kind, created.hpe_id.as_str()),
        (RecordKind::Task, "WO-4417")
    );
    let record = f.only(TASKS);
    assert_eq!(created.sys_id, record.sys_id());
    assert_eq!(
        own_fields(&record),
        pairs(&[
            ("u_hpe_id", "WO-4417"),
            ("u_incident", &f.incident_sys_id),
            ("u_hpe_case", CASE_NUMBER),
            ("u_status", "dispatched"),
            ("u_scheduled_start", "2024-04-29 14:00:00"),
            ("u_engineer_eta", "2024-04-29 13:45:00"),
            ("u_description", "Replace HSN switch blade in c3s2"),
        ])
    );
    assert_eq!(record.mod_count(), 0);

    let part = f.deliver(
        &mirror,
        "05-part-order-text.json",
        "q-000131",
        "2024-04-29 09:05:39",
    );
    assert_eq!(push_one(&mirror, &part).await.action, MirrorAction::Created);
    assert_eq!(
        own_fields(&f.only(PARTS)),
        pairs(&[
            ("u_hpe_id", "7730021"),
            ("u_incident", &f.incident_sys_id),
            ("u_hpe_case", CASE_NUMBER),
            ("u_status", "shipped"),
            ("u_part_number", "P05591-001"),
            ("u_part_description", "HDR200 NIC"),
            ("u_quantity", "2"),
            ("u_carrier", "FEDEX"),
            ("u_tracking_number", "771234567890"),
            ("u_eta", "2024-04-30"),
        ])
    );

    // Later events: the same ServiceNow records, patched in what changed.
    f.sim.clear_requests();
    let task = f.deliver(
        &mirror,
        "09-onsite-task-text.json",
        "q-000145",
        "2024-04-30 18:02:10",
    );
    let updated = push_one(&mirror, &task).await;
    assert_eq!(
        updated.action,
        MirrorAction::Updated {
            fields: vec!["u_status".to_owned(), "u_engineer_eta".to_owned()]
        }
    );
    assert_eq!(updated.sys_id, created.sys_id);
    let record = f.only(TASKS);
    assert_eq!(record.get("u_status"), "onsite");
    assert_eq!(record.get("u_engineer_eta"), "2024-04-30 18:00");
    assert_eq!(
        record.get("u_scheduled_start"),
        "2024-04-29 14:00:00",
        "a field the update did not carry keeps its value"
    );
    assert_eq!(record.mod_count(), 1);

    let part = f.deliver(
        &mirror,
        "08-part-order-structured.json",
        "q-000140",
        "2024-04-30 16:20:04",
    );
    assert_eq!(
        push_one(&mirror, &part).await.action,
        MirrorAction::Updated {
            fields: vec![
                "u_status".to_owned(),
                "u_return_required".to_owned(),
                "u_return_status".to_owned()
            ]
        }
    );
    let record = f.only(PARTS);
    assert_eq!(
        (
            record.get("u_status"),
            record.get("u_return_required"),
            record.get("u_return_status"),
            record.get("u_eta"),
            record.mod_count()
        ),
        ("delivered", "true", "AWAITING PICKUP", "2024-04-30", 1)
    );
    assert_eq!(
        f.requests(),
        [
            req("GET", TASK_PATH, 200),
            req("PATCH", &format!("{TASK_PATH}/{}", created.sys_id), 200),
            req("GET", PART_PATH, 200),
            req("PATCH", &format!("{PART_PATH}/{}", record.sys_id()), 200),
        ]
    );

    // A sweep of the case finds nothing to write.
    f.sim.clear_requests();
    let items = mirror.case_items(&f.store, f.case_id).unwrap();
    assert_eq!(items.len(), 2);
    let sweep = mirror.push_all(&items).await;
    assert!(
        sweep.failed.is_empty() && sweep.stopped.is_none(),
        "{sweep:?}"
    );
    assert_eq!(
        sweep
            .outcomes
            .iter()
            .map(|o| (o.hpe_id.as_str(), &o.action))
            .collect::<Vec<_>>(),
        [
            ("WO-4417", &MirrorAction::Unchanged),
            ("7730021", &MirrorAction::Unchanged)
        ]
    );
    assert_eq!(
        f.requests(),
        [req("GET", TASK_PATH, 200), req("GET", PART_PATH, 200)]
    );
    assert_eq!(f.only(TASKS).mod_count(), 1);
    assert_eq!(f.only(PARTS).mod_count(), 1);
}

/// A POST that commits and then fails, retried as the caller would.
async fn retried_create_leaves_one_record(how: AfterCommit) {
    let f = Fixture::new().await;
    let mirror = f.mirror();
    let part = f.deliver(
        &mirror,
        "05-part-order-text.json",
        "q-000131",
        "2024-04-29 09:05:39",
    );
    f.sim.fail_after_commit_next(1, how);
    let err = mirror.push(&part[0]).await.unwrap_err();
    assert!(err.is_transient(), "{how:?}: {err:?}");
    let MirrorError::ServiceNow { source, .. } = &err else {
        panic!("{how:?}: {err:?}");
    };
    match (source.as_ref(), how) {
        (SnError::Status { status: 500, .. }, AfterCommit::Error500)
        | (SnError::Transport { .. }, AfterCommit::DropConnection) => {}
        (other, _) => panic!("unexpected error for {how:?}: {other:?}"),
    }
    assert_eq!(f.sim.records(PARTS).unwrap().len(), 1);

    f.sim.clear_requests();
    let retried = mirror.push(&part[0]).await.unwrap();
    assert_eq!(retried.action, MirrorAction::Unchanged);
    let record = f.only(PARTS);
    assert_eq!(retried.sys_id, record.sys_id());
    assert_eq!(record.get("u_tracking_number"), "771234567890");
    assert_eq!(record.mod_count(), 0);
    assert_eq!(f.requests(), [req("GET", PART_PATH, 200)]);
}

#[tokio::test]
async fn a_retry_after_a_500_on_the_committed_post_makes_no_second_record() {
    retried_create_leaves_one_record(AfterCommit::Error500).await;
}

#[tokio::test]
async fn a_retry_after_a_dropped_connection_on_the_committed_post_makes_no_second_record() {
    retried_create_leaves_one_record(AfterCommit::DropConnection).await;
}

#[tokio::test]
async fn a_rate_limit_is_transient_with_its_retry_after_and_stops_a_sweep() {
    let f = Fixture::new().await;
    let mirror = f.mirror();
    f.deliver(
        &mirror,
        "04-onsite-task-structured.json",
        "q-000130",
        "2024-04-29 09:00:12",
    );
    f.deliver(
        &mirror,
        "05-part-order-text.json",
        "q-000131",
        "2024-04-29 09:05:39",
    );
    let items = mirror.case_items(&f.store, f.case_id).unwrap();

    f.sim.rate_limit(1, Some(Duration::from_secs(7)));
    let err = mirror.push(&items[0]).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert!(
        err.to_string()
            .starts_with("cannot mirror onsite task WO-4417 to ServiceNow table u_hpe_onsite_task: ServiceNow is rate limiting us (HTTP 429)"),
        "{err}"
    );

    f.sim.rate_limit(1, None);
    let sweep = mirror.push_all(&items).await;
    let stopped = sweep.stopped.as_ref().unwrap();
    assert!(stopped.is_transient());
    assert_eq!(stopped.retry_after(), None);
    assert_eq!(
        (sweep.outcomes.len(), sweep.failed.len(), sweep.not_tried),
        (0, 0, 1)
    );
    assert!(f.sim.records(TASKS).unwrap().is_empty());
    assert!(f.sim.records(PARTS).unwrap().is_empty());

    let sweep = mirror.push_all(&items).await;
    assert!(
        sweep.stopped.is_none() && sweep.failed.is_empty(),
        "{sweep:?}"
    );
    assert_eq!(sweep.outcomes.len(), 2);
    assert!(
        sweep
            .outcomes
            .iter()
            .all(|o| o.action == MirrorAction::Created)
    );
    f.only(TASKS);
    f.only(PARTS);
}

#[tokio::test]
async fn a_misnamed_field_is_a_permanent_error_naming_its_key() {
    let f = Fixture::new().await;
    let mut config = mirror_config();
    config.part_fields.eta = "u_eta_date".to_owned();
    let mirror = Mirror::new(f.client.clone(), &config);
    let part = f.deliver(
        &mirror,
        "05-part-order-text.json",
        "q-000131",
        "2024-04-29 09:05:39",
    );
    let err = mirror.push(&part[0]).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        "ServiceNow table u_hpe_part_order has no field u_eta_date, which the part order mirror \
         writes: fix servicenow.mirror.part_fields.eta or add the field to the table"
    );
    // The record was created; a retry finds it and reports the same, not a second one.
    let again = mirror.push(&part[0]).await.unwrap_err();
    assert!(
        matches!(again, MirrorError::MissingField { .. }),
        "{again:?}"
    );
    f.only(PARTS);
}

#[tokio::test]
async fn an_hpe_id_that_would_change_the_query_is_refused_before_sending() {
    let f = Fixture::new().await;
    let mirror = f.mirror();
    let outcome = f
        .store
        .record_task_event(
            f.case_id,
            &TaskUpdate {
                task_id: "WO-1^ORu_hpe_idISNOTEMPTY".to_owned(),
                status: Some("scheduled".to_owned()),
                status_known: true,
                ..TaskUpdate::default()
            },
            NOW,
        )
        .unwrap();
    let items = mirror
        .changed_items(
            &f.store,
            f.case_id,
            &[(RecordKind::Task, outcome.record_id)],
        )
        .unwrap();
    let err = mirror.push(&items[0]).await.unwrap_err();
    assert!(
        matches!(
            &err,
            MirrorError::ServiceNow { source, .. }
                if matches!(source.as_ref(), SnError::QueryValue { bad: '^', .. })
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(f.sim.requests().is_empty());
}

#[tokio::test]
async fn records_of_a_case_whose_incident_was_not_read_wait_for_the_sweep() {
    let f = Fixture::new().await;
    let mirror = f.mirror();
    let orphan = f
        .store
        .create_case(
            &NewCase {
                incident_number: "INC0999999".to_owned(),
                severity: "MAJOR".to_owned(),
                title: "t".to_owned(),
                description: "d".to_owned(),
                system_id: None,
                opened_by: "ada".to_owned(),
            },
            NOW,
        )
        .unwrap();
    let err = mirror.case_items(&f.store, orphan.id).unwrap_err();
    assert!(
        matches!(&err, MirrorError::NoIncident { number, .. } if number == "INC0999999"),
        "{err:?}"
    );
    assert!(matches!(
        mirror.case_items(&f.store, 9999).unwrap_err(),
        MirrorError::NoCase { case_id: 9999 }
    ));
}

// ---- configuration -------------------------------------------------------------

/// What the site tables are followed by in [`minimal`].
const MINIMAL_BACKENDS: &str = r#"
[gsem]
environment = "prod"
[gsem.prod]
base_url = "https://gsem.example.com/api"
agent_key = { file = "agent-key" }
remote_agent_name = "AGENT"
remote_agent_type = "CUSTOMER"
client_cert = "client.pem"
client_key = "client.key"

[servicenow]
instance_url = "https://example.service-now.com"
user = "svc"
password = { file = "sn-password" }
"#;

/// Only the required keys.
fn minimal() -> String {
    lab::site_toml("Example Lab", &[]) + MINIMAL_BACKENDS
}

fn load_config(dir: &Path, extra: &str) -> config::Settings {
    for (name, text) in [
        ("agent-key", "agent-key-1234567890"),
        ("sn-password", "sn-password-1234"),
        ("client.pem", "-----BEGIN CERTIFICATE-----\n"),
        ("client.key", "-----BEGIN PRIVATE KEY-----\n"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    config::load_str(&format!("{}\n{extra}", minimal()), &dir.join("config.toml")).unwrap()
}

#[tokio::test]
async fn the_mirror_is_off_unless_configured() {
    let f = Fixture::new().await;
    let dir = f.dir.path();
    let off = load_config(dir, "");
    assert_eq!(off.servicenow.mirror, None);
    assert!(Mirror::configured(f.client.clone(), &off.servicenow).is_none());
    let disabled = load_config(dir, "[servicenow.mirror]\nenabled = false\n");
    assert!(Mirror::configured(f.client.clone(), &disabled.servicenow).is_none());

    // What an engine does with each message: record it, then mirror the
    // records it changed if the mirror is configured.
    let applied = f.apply(
        "04-onsite-task-structured.json",
        "q-1",
        "2024-04-29 09:00:12",
    );
    assert_eq!(applied.changed.len(), 1);
    let mirror = Mirror::configured(f.client.clone(), &off.servicenow);
    assert!(mirror.is_none());
    assert!(f.sim.records(TASKS).unwrap().is_empty());
    assert!(f.sim.requests().is_empty());

    // Turned on later, a sweep mirrors what was recorded meanwhile.
    let on = load_config(dir, "[servicenow.mirror]\nenabled = true\n");
    assert_eq!(on.servicenow.mirror, Some(mirror_config()));
    let mirror = Mirror::configured(f.client.clone(), &on.servicenow).unwrap();
    let items = mirror.case_items(&f.store, f.case_id).unwrap();
    let sweep = mirror.push_all(&items).await;
    assert_eq!(sweep.outcomes.len(), 1);
    assert_eq!(sweep.outcomes[0].action, MirrorAction::Created);
    assert_eq!(f.only(TASKS).get("u_hpe_id"), "WO-4417");
}
