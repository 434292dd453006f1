#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The GSEM simulator over real mutual TLS on loopback.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use casebridge::sim::gsem::{
    Delivery, Fault, GsemSim, GsemSimConfig, OnsiteTask, PartOrder, PushConfig, PushOutcome, State,
    UpdateForm,
};
use casebridge::sim::pki::{ClientAuth, TestPki, server_config};
use serde_json::{Value, json};

const KEY: &str = "test-agent-key";

struct Fixture {
    sim: GsemSim,
    pki: TestPki,
    client: reqwest::Client,
}

fn client(pki: &TestPki, with_cert: bool, timeout: Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(pki.ca.cert().cert_pem().as_bytes()).unwrap(),
        ])
        // Every call on a fresh connection, so that a fault is seen at once.
        .pool_max_idle_per_host(0)
        .timeout(timeout);
    if with_cert {
        builder =
            builder.identity(reqwest::Identity::from_pem(&pki.client.identity_pem()).unwrap());
    }
    builder.build().unwrap()
}

async fn start(tweak: impl FnOnce(&mut GsemSimConfig)) -> Fixture {
    casebridge::tls::install_crypto_provider();
    let pki = TestPki::generate("casebridge-test").unwrap();
    let tls = server_config(
        &pki.server,
        &ClientAuth::Required(vec![pki.ca.cert().cert_der()]),
    )
    .unwrap();
    let mut config = GsemSimConfig::new(Arc::new(tls), KEY);
    config.provider.answer_delay = Some(Duration::from_millis(50));
    tweak(&mut config);
    let sim = GsemSim::start(config).await.unwrap();
    let client = client(&pki, true, Duration::from_secs(5));
    Fixture { sim, pki, client }
}

fn sample(name: &str) -> Value {
    let path = format!("{}/assets/samples/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Removes the generated dates and the queue id, which vary per run.
fn without_times(mut value: Value) -> Value {
    if let Some(details) = value.get_mut("QueueDetails").and_then(Value::as_object_mut) {
        details.remove("EnqueuedAt");
        details.remove("MessageId");
    }
    if let Some(activity) = value
        .pointer_mut("/Message/SERVICE_INCIDENT/ACTIVITY")
        .and_then(Value::as_object_mut)
    {
        activity.remove("LocalDate");
    }
    value
}

impl Fixture {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn post(&self, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url("redfish/v1/message"))
            .header("X-Agent-Key", KEY)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn pull(&self) -> Value {
        let response = self
            .client
            .get(self.url("redfish/v1/message"))
            .header("X-Agent-Key", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn patch(&self, id: &str) -> u16 {
        self.client
            .patch(self.url("redfish/v1/message"))
            .header("X-Agent-Key", KEY)
            .json(&json!({"MessageId": id, "Status": "PROCESSED"}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Pulls and acknowledges the head.
    async fn take(&self) -> Value {
        let head = self.pull().await;
        let id = head["QueueDetails"]["MessageId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(self.patch(&id).await, 200);
        head
    }

    async fn wait_queue(&self, len: usize) {
        wait_for(|| self.sim.queue_len() == len).await;
    }
}

async fn wait_for(mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("condition not met within 4 s");
}

fn status_of(ack: &Value) -> (&str, &str, Option<&str>, Option<i64>) {
    let control = &ack["Message"]["eCPControl"];
    (
        control["transactionStatus"].as_str().unwrap(),
        control["transactionStatusCode"].as_str().unwrap(),
        control["transactionStatusDetail"].as_str(),
        ack["Message"]["SERVICE_INCIDENT"]["CurrentState"].as_i64(),
    )
}

/// Sample 01 under another RequesterID.
fn service_request(requester_id: &str) -> Value {
    let mut sr = sample("01-service-request");
    sr["Message"]["SERVICE_INCIDENT"]["RequesterID"] = json!(requester_id);
    sr
}

/// A transaction of ours about the sample case, from sample `name`.
fn ours(name: &str, provider_id: &str) -> Value {
    let mut message = sample(name);
    message["Message"]["SERVICE_INCIDENT"]["RequesterID"] = json!("INC0097539");
    message["Message"]["SERVICE_INCIDENT"]["ProviderID"] = json!(provider_id);
    message
}

#[tokio::test]
async fn transport_requires_the_client_certificate_and_the_agent_key() {
    let f = start(|_| {}).await;
    let no_cert = client(&f.pki, false, Duration::from_secs(5));
    let err = no_cert
        .get(f.url("redfish/v1/gsem"))
        .header("X-Agent-Key", KEY)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    for key in [None, Some("wrong")] {
        let mut request = f.client.get(f.url("redfish/v1/gsem"));
        if let Some(key) = key {
            request = request.header("X-Agent-Key", key);
        }
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
    let response = f
        .client
        .get(f.url("redfish/v1/gsem"))
        .header("X-Agent-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let config: Value = response.json().await.unwrap();
    assert_eq!(config["AgentName"], "SFDC_Train_REST_P042");
    assert_eq!(
        config["Partners"][0]["RemoteAgents"][0]["RemoteAgentName"],
        "NERSC_Train_R"
    );

    let received = f.sim.received();
    assert_eq!(
        received
            .iter()
            .map(|r| (r.method.as_str(), r.status))
            .collect::<Vec<_>>(),
        [("GET", 401), ("GET", 401), ("GET", 200)]
    );
    f.sim.shutdown().await;
}

#[tokio::test]
async fn a_service_request_is_acknowledged_then_accepted_after_the_delay() {
    let f = start(|_| {}).await;
    let ack = f.post(&sample("01-service-request")).await;
    assert_eq!(ack, sample("10-ack-ok"));
    f.wait_queue(1).await;

    let accept = f.take().await;
    assert_eq!(accept["QueueDetails"]["DeliveryCount"], 1);
    assert_eq!(
        without_times(accept),
        without_times(sample("02-accept-problem"))
    );
    let case = f.sim.case("5381923377").unwrap();
    assert_eq!(case.state, State::OpenProvider);
    assert_eq!(case.requester_id, "INC0097539");
    assert_eq!(case.workflow_status.as_deref(), Some("Assigned"));
    f.sim.shutdown().await;
}

#[tokio::test]
async fn missing_mandatory_fields_are_refused_with_1001() {
    let f = start(|_| {}).await;
    let mut no_contract = service_request("INC0098123");
    no_contract["Message"]["SERVICE_INCIDENT"]["AGREEMENT"]
        .as_object_mut()
        .unwrap()
        .remove("ContractID");
    assert_eq!(f.post(&no_contract).await, sample("11-ack-error"));

    let mut no_last_name = service_request("INC0098124");
    no_last_name["Message"]["SERVICE_INCIDENT"]["SERVICE_REQUESTER"]["PERSON"]
        .as_object_mut()
        .unwrap()
        .remove("LastName");
    assert_eq!(
        status_of(&f.post(&no_last_name).await),
        (
            "ERROR",
            "1001",
            Some("missing mandatory field: SERVICE_REQUESTER.PERSON.LastName"),
            None
        )
    );

    let mut no_phone = service_request("INC0098125");
    no_phone["Message"]["SERVICE_INCIDENT"]["SERVICE_REQUESTER"]["PERSON"]["ADDRESS"]["LOCATION"] =
        json!([{"Type": "EMAIL", "ID": "jgann@lbl.gov"}]);
    assert_eq!(
        status_of(&f.post(&no_phone).await),
        (
            "ERROR",
            "1001",
            Some(
                "missing mandatory field: SERVICE_REQUESTER.PERSON.ADDRESS.LOCATION PRIMARY VOICE"
            ),
            None
        )
    );

    let mut no_activity = service_request("INC0098126");
    no_activity["Message"]["SERVICE_INCIDENT"]
        .as_object_mut()
        .unwrap()
        .remove("ACTIVITY");
    assert_eq!(
        status_of(&f.post(&no_activity).await),
        (
            "ERROR",
            "1001",
            Some("missing mandatory field: ACTIVITY"),
            None
        )
    );
    assert!(f.sim.cases().is_empty());
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(f.sim.queue_len(), 0);
    f.sim.shutdown().await;
}

#[tokio::test]
async fn unknown_ids_states_duplicates_and_agents_are_refused() {
    let f = start(|_| {}).await;
    f.post(&sample("01-service-request")).await;
    f.wait_queue(1).await;

    assert_eq!(
        status_of(&f.post(&ours("14-note-to-hpe", "9999999999")).await),
        ("ERROR", "1002", Some("unknown ProviderID 9999999999"), None)
    );
    assert_eq!(
        status_of(&f.post(&ours("15-confirm-close", "5381923377")).await),
        (
            "ERROR",
            "1003",
            Some("CONFIRM CLOSE is not valid in state 5 (Open, provider)"),
            Some(5)
        )
    );
    assert_eq!(
        status_of(&f.post(&sample("01-service-request")).await),
        (
            "ERROR",
            "1003",
            Some("duplicate RequesterID INC0097539: an unfinished case holds it"),
            Some(5)
        )
    );
    let mut stranger = ours("14-note-to-hpe", "5381923377");
    stranger["Message"]["RemoteAgentName"] = json!("SFDC_Prod_REST_P001");
    assert_eq!(
        status_of(&f.post(&stranger).await),
        (
            "ERROR",
            "1005",
            Some("unknown agent `SFDC_Prod_REST_P001`"),
            None
        )
    );
    let mut no_comment = ours("14-note-to-hpe", "5381923377");
    no_comment["Message"]["SERVICE_INCIDENT"]
        .as_object_mut()
        .unwrap()
        .remove("Comment");
    assert_eq!(
        status_of(&f.post(&no_comment).await),
        (
            "ERROR",
            "1001",
            Some("missing mandatory field: SERVICE_INCIDENT.Comment"),
            Some(5)
        )
    );
    let note = f.post(&ours("14-note-to-hpe", "5381923377")).await;
    assert_eq!(status_of(&note), ("OK", "0", None, Some(5)));

    let comments = f.sim.received_comments_for("5381923377");
    assert_eq!(
        comments,
        [
            "Output attached below:\r\n\tfabric port x1000c3r7j101p0: DOWN (\"link training failed\")"
        ]
    );
    let transactions: Vec<_> = f
        .sim
        .received()
        .into_iter()
        .map(|r| {
            (
                r.transaction.unwrap(),
                r.ack.unwrap().map(|refusal| refusal.code),
            )
        })
        .collect();
    assert_eq!(
        transactions,
        [
            ("SERVICE REQUEST".to_owned(), None),
            ("PROVIDE PROBLEM INFORMATION".to_owned(), Some(1002)),
            ("CONFIRM CLOSE".to_owned(), Some(1003)),
            ("SERVICE REQUEST".to_owned(), Some(1003)),
            ("PROVIDE PROBLEM INFORMATION".to_owned(), Some(1005)),
            ("PROVIDE PROBLEM INFORMATION".to_owned(), Some(1001)),
            ("PROVIDE PROBLEM INFORMATION".to_owned(), None),
        ]
    );
    f.sim.shutdown().await;
}

#[tokio::test]
async fn a_scripted_case_runs_to_its_close_in_both_update_forms() {
    let f = start(|c| c.provider.answer_delay = None).await;
    f.post(&sample("01-service-request")).await;
    assert_eq!(f.sim.queue_len(), 0);
    f.sim.hpe_accept("INC0097539").unwrap();
    f.take().await;

    f.sim.hpe_request_info("5381923377", "Please attach the output of \"sudo fmn status --details\" from x1000c3s2b0.\r\nThanks — HPE support").unwrap();
    assert_eq!(
        without_times(f.take().await),
        without_times(sample("03-note-from-hpe"))
    );
    assert_eq!(
        f.sim.case("5381923377").unwrap().state,
        State::OpenRequester
    );
    let reply = f.post(&ours("14-note-to-hpe", "5381923377")).await;
    assert_eq!(status_of(&reply), ("OK", "0", None, Some(5)));

    let task = OnsiteTask {
        task_id: "WO-4417".into(),
        status: "DISPATCHED".into(),
        scheduled_start: Some("2024-04-29 14:00:00".into()),
        engineer_eta: Some("2024-04-29 13:45:00".into()),
        description: Some("Replace HSN switch blade in c3s2".into()),
        note: None,
    };
    f.sim
        .hpe_onsite_task("5381923377", &task, UpdateForm::Structured)
        .unwrap();
    assert_eq!(
        without_times(f.take().await),
        without_times(sample("04-onsite-task-structured"))
    );
    let order = PartOrder {
        order_id: "7730021".into(),
        part_number: Some("P05591-001".into()),
        part_description: Some("HDR200 NIC".into()),
        quantity: Some(2),
        status: "SHIPPED".into(),
        carrier: Some("FEDEX".into()),
        tracking_number: Some("771234567890".into()),
        eta: Some("2024-04-30".into()),
        ..PartOrder::default()
    };
    f.sim
        .hpe_part_order("5381923377", &order, UpdateForm::Text)
        .unwrap();
    assert_eq!(
        without_times(f.take().await),
        without_times(sample("05-part-order-text"))
    );
    let delivered = PartOrder {
        status: "DELIVERED".into(),
        eta: None,
        return_required: Some(true),
        return_status: Some("AWAITING PICKUP".into()),
        ..order
    };
    f.sim
        .hpe_part_order("5381923377", &delivered, UpdateForm::Structured)
        .unwrap();
    assert_eq!(
        without_times(f.take().await),
        without_times(sample("08-part-order-structured"))
    );
    let onsite = OnsiteTask {
        status: "ENGINEER ON SITE".into(),
        engineer_eta: Some("2024-04-30 18:00 UTC".into()),
        note: Some("Engineer will badge in at the loading dock.".into()),
        ..task
    };
    f.sim
        .hpe_onsite_task("5381923377", &onsite, UpdateForm::Text)
        .unwrap();
    assert_eq!(
        without_times(f.take().await),
        without_times(sample("09-onsite-task-text"))
    );

    f.sim
        .hpe_resolve(
            "5381923377",
            "Switch blade replaced; link errors cleared after 24 h soak.",
        )
        .unwrap();
    assert_eq!(
        without_times(f.take().await),
        without_times(sample("06-problem-resolution"))
    );
    let close = f.post(&ours("15-confirm-close", "5381923377")).await;
    assert_eq!(status_of(&close), ("OK", "0", None, Some(7)));
    // A resend whose first attempt got through: refused, with the case's 7.
    let again = f.post(&ours("15-confirm-close", "5381923377")).await;
    assert_eq!(
        status_of(&again),
        (
            "ERROR",
            "1003",
            Some("CONFIRM CLOSE is not valid in state 7 (Closed)"),
            Some(7)
        )
    );
    // The RequesterID is free again once its case is finished.
    assert_eq!(
        status_of(&f.post(&sample("01-service-request")).await).0,
        "OK"
    );
    f.sim.shutdown().await;
}

#[tokio::test]
async fn hpe_closing_on_its_side_matches_sample_20() {
    let f = start(|c| c.provider.answer_delay = None).await;
    f.post(&service_request("INC0098300")).await;
    f.sim.hpe_accept("INC0098300").unwrap();
    f.take().await;
    f.sim
        .hpe_close(
            "INC0098300",
            "Case closed after 7 days without customer response.",
        )
        .unwrap();
    let mut expected = without_times(sample("20-closed-by-hpe"));
    expected["Message"]["SERVICE_INCIDENT"]["ProviderID"] = json!("5381923377");
    assert_eq!(without_times(f.take().await), expected);
    assert_eq!(f.sim.case("INC0098300").unwrap().state, State::Closed);
    f.sim.shutdown().await;
}

#[tokio::test]
async fn a_contract_that_does_not_cover_the_serial_is_refused_entitlement() {
    let f = start(|c| {
        c.contracts = Some(BTreeMap::from([(
            "5UF044F7CY".to_owned(),
            "2155240599".to_owned(),
        )]));
    })
    .await;
    let ack = f.post(&sample("01-service-request")).await;
    assert_eq!(status_of(&ack), ("OK", "0", None, Some(3)));
    f.wait_queue(1).await;
    let refusal = f.take().await;
    assert_eq!(
        refusal["Message"],
        json!({
            "TransactionName": "ENTITLEMENT",
            "RemoteAgentName": "NERSC_Train_R",
            "RemoteAgentType": "HPE",
            "eCPControl": {"ECPVersion": "1.0"},
            "SERVICE_INCIDENT": {
                "RequesterID": "INC0097539",
                "Comment": "Contract CN=2155240525 does not cover serial 5UF044F7CY",
                "CurrentState": 1,
                "Entitled": 1,
                "ACTIVITY": {
                    "LocalDate": refusal["Message"]["SERVICE_INCIDENT"]["ACTIVITY"]["LocalDate"],
                    "ActionLog": "Entitlement check failed"
                }
            }
        })
    );
    let case = f.sim.case("INC0097539").unwrap();
    assert_eq!((case.state, case.provider_id), (State::NotEntitled, None));
    f.sim.shutdown().await;
}

#[tokio::test]
async fn the_pull_queue_redelivers_the_head_until_it_is_acknowledged() {
    let f = start(|c| c.provider.answer_delay = None).await;
    f.post(&sample("01-service-request")).await;
    let first = f.sim.hpe_accept("INC0097539").unwrap();
    let second = f
        .sim
        .hpe_note("INC0097539", "We are reviewing the logs.")
        .unwrap();

    let once = f.pull().await;
    let twice = f.pull().await;
    assert_eq!(once["QueueDetails"]["MessageId"], first.as_str());
    assert_eq!(twice["QueueDetails"]["MessageId"], first.as_str());
    assert_eq!(twice["QueueDetails"]["DeliveryCount"], 2);
    assert_eq!(f.patch(&second).await, 409);
    assert_eq!(f.patch(&first).await, 200);
    assert_eq!(f.patch(&first).await, 200);
    assert_eq!(f.patch("q-424242").await, 404);
    let next = f.pull().await;
    assert_eq!(next["QueueDetails"]["MessageId"], second.as_str());
    assert_eq!(next["QueueDetails"]["DeliveryCount"], 1);
    assert_eq!(f.patch(&second).await, 200);
    assert_eq!(f.pull().await, sample("12-pull-empty"));

    // Test hooks: a head without MessageId stays until GSEM removes it.
    f.sim.enqueue_raw(
        br#"{"Message": {"TransactionName": "PROVIDE PROBLEM INFORMATION"}}"#.to_vec(),
    );
    let stuck = f.pull().await;
    assert_eq!(
        stuck,
        json!({"Message": {"TransactionName": "PROVIDE PROBLEM INFORMATION"}})
    );
    assert_eq!(f.sim.queue_len(), 1);
    assert!(f.sim.remove_head().is_some());
    assert_eq!(f.pull().await, sample("12-pull-empty"));
    f.sim.shutdown().await;
}

/// A requester endpoint that fails its first `failures` calls with 500.
async fn endpoint(failures: usize) -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(Mutex::new(0usize));
    let app = axum::Router::new().route(
        "/gsem/inbound",
        axum::routing::post({
            let seen = Arc::clone(&seen);
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                let calls = Arc::clone(&calls);
                async move {
                    assert_eq!(headers["authorization"], "Bearer push-token");
                    let mut calls = calls.lock().unwrap();
                    *calls += 1;
                    if *calls <= failures {
                        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/gsem/inbound", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn push_delivery_retries_the_head_until_2xx_and_keeps_the_order() {
    let (url, seen) = endpoint(3).await;
    let f = start(|c| {
        c.provider.answer_delay = None;
        let mut push = PushConfig::new(url);
        push.auth = casebridge::sim::gsem::PushAuth::Bearer("push-token".into());
        push.backoff_start = Duration::from_millis(10);
        push.backoff_cap = Duration::from_millis(40);
        c.delivery = Delivery::Push(push);
    })
    .await;
    f.post(&sample("01-service-request")).await;
    let ids = [
        f.sim.hpe_accept("INC0097539").unwrap(),
        f.sim.hpe_note("INC0097539", "first").unwrap(),
        f.sim.hpe_note("INC0097539", "second").unwrap(),
    ];
    wait_for(|| f.sim.push_health().delivered == 3).await;

    let seen = seen.lock().unwrap().clone();
    let seen_ids: Vec<_> = seen
        .iter()
        .map(|m| m["QueueDetails"]["MessageId"].as_str().unwrap())
        .collect();
    assert_eq!(seen_ids, ids);
    assert_eq!(seen[0]["QueueDetails"]["DeliveryCount"], 4);
    assert_eq!(seen[1]["QueueDetails"]["DeliveryCount"], 1);
    let outcomes: Vec<_> = f
        .sim
        .push_attempts()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    let status = PushOutcome::Status;
    assert_eq!(
        outcomes,
        [
            status(500),
            status(500),
            status(500),
            status(200),
            status(200),
            status(200)
        ]
    );
    let health = f.sim.push_health();
    assert_eq!(
        (
            health.failed_attempts,
            health.consecutive_failures,
            health.failing_since
        ),
        (3, 0, None)
    );
    assert_eq!(f.sim.queue_len(), 0);
    // In push mode the queue is not pulled.
    let pull = f
        .client
        .get(f.url("redfish/v1/message"))
        .header("X-Agent-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(pull.status(), 409);
    f.sim.shutdown().await;
}

/// One GET of the configuration on a fresh connection.
async fn probe(f: &Fixture, timeout: Duration) -> Result<reqwest::Response, reqwest::Error> {
    client(&f.pki, true, timeout)
        .get(f.url("redfish/v1/gsem"))
        .header("X-Agent-Key", KEY)
        .send()
        .await
}

fn is_refused(result: &Result<reqwest::Response, reqwest::Error>) -> bool {
    matches!(result, Err(e) if format!("{e:?}").contains("ConnectionRefused"))
}

async fn wait_probe(
    f: &Fixture,
    check: impl Fn(&Result<reqwest::Response, reqwest::Error>) -> bool,
) {
    for _ in 0..100 {
        if check(&probe(f, Duration::from_secs(2)).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the fault was not observed");
}

fn is_ok(result: &Result<reqwest::Response, reqwest::Error>) -> bool {
    matches!(result, Ok(r) if r.status() == 200)
}

#[tokio::test]
async fn faults_are_seen_by_clients_and_recovery_keeps_the_port() {
    let f = start(|_| {}).await;
    let addr = f.sim.addr();

    f.sim.set_fault(Fault::RefuseConnections);
    wait_probe(&f, is_refused).await;
    f.sim.set_fault(Fault::None);
    wait_probe(&f, is_ok).await;
    assert_eq!(f.sim.addr(), addr);

    f.sim.set_fault(Fault::Unavailable503 {
        retry_after: Some(7),
    });
    let response = probe(&f, Duration::from_secs(2)).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "7");

    f.sim.set_fault(Fault::Hang);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hung = probe(&f, Duration::from_millis(300)).await.unwrap_err();
    assert!(hung.is_timeout(), "{hung:?}");

    f.sim.set_fault(Fault::Reset);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let reset = probe(&f, Duration::from_secs(2)).await.unwrap_err();
    let text = format!("{reset:?}");
    assert!(
        text.contains("ConnectionReset") || text.contains("reset"),
        "{text}"
    );

    f.sim.set_fault(Fault::Flap {
        period: Duration::from_millis(150),
    });
    wait_probe(&f, is_refused).await;
    wait_probe(&f, is_ok).await;
    wait_probe(&f, is_refused).await;

    f.sim.set_fault(Fault::None);
    wait_probe(&f, is_ok).await;
    assert_eq!(f.sim.addr(), addr);
    f.sim.shutdown().await;
}

#[tokio::test]
async fn the_admin_api_scripts_the_provider_with_the_same_client_certificate() {
    let f = start(|c| {
        c.provider.answer_delay = None;
        c.admin_bind = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    f.post(&sample("01-service-request")).await;
    let admin = f.sim.admin_url().unwrap();
    let response = f
        .client
        .post(format!("{admin}_sim/hpe"))
        .json(&json!({"case": "INC0097539", "action": "accept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = f
        .client
        .post(format!("{admin}_sim/hpe"))
        .json(&json!({"case": "5381923377", "action": {"note": "from the command line"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message_id": "q-000002"})
    );
    let response = f
        .client
        .post(format!("{admin}_sim/fault"))
        .json(&json!({"kind": "unavailable503", "retry_after": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(f.sim.fault(), Fault::Unavailable503 { retry_after: None });
    let unknown = f
        .client
        .post(format!("{admin}_sim/hpe"))
        .json(&json!({"case": "INC0000000", "action": "query"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let no_cert = client(&f.pki, false, Duration::from_secs(2));
    assert!(
        no_cert
            .get(format!("{admin}_sim/cases"))
            .send()
            .await
            .is_err()
    );
    f.sim.shutdown().await;
}
