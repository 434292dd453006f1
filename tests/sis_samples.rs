#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One test per SIS sample of `assets/samples/`: what we send is built from
//! fixture inputs with a fixed clock and compared with the sample as JSON
//! values; what we receive parses to the exact expected fields.

use std::path::PathBuf;

use casebridge::sis::ack::{PullAckStatus, ack_envelope};
use casebridge::sis::inbound::empty_queue_reply;
use casebridge::sis::model::Statement;
use casebridge::sis::state::{Applied, Audit, Received, apply};
use casebridge::sis::{
    Ack, AckStatus, ActivityTable, Address, CaseRef, Decision, Destination, Envelope, Event,
    Inbound, MessageBuilder, Person, PullAck, PullReply, Requester, ServiceRequestInput, State,
    TransactionName, date, parse_ack, parse_inbound, parse_pull,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

const SAMPLES: [&str; 21] = [
    "01-service-request.json",
    "02-accept-problem.json",
    "03-note-from-hpe.json",
    "04-onsite-task-structured.json",
    "05-part-order-text.json",
    "06-problem-resolution.json",
    "07-entitlement-refused.json",
    "08-part-order-structured.json",
    "09-onsite-task-text.json",
    "10-ack-ok.json",
    "11-ack-error.json",
    "12-pull-empty.json",
    "13-pull-ack-request.json",
    "14-note-to-hpe.json",
    "15-confirm-close.json",
    "16-entitlement-granted.json",
    "17-request-closure.json",
    "18-reject-resolution.json",
    "19-query-incident-inbound.json",
    "20-closed-by-hpe.json",
    "21-query-incident.json",
];

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples")
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(samples_dir().join(name)).unwrap()
}

fn value(name: &str) -> Value {
    serde_json::from_slice(&bytes(name)).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    date::parse(text).unwrap()
}

fn builder() -> MessageBuilder {
    MessageBuilder::new(
        Destination {
            remote_agent_name: "SFDC_Train_REST_P042".into(),
            remote_agent_type: "CUSTOMER".into(),
        },
        ActivityTable::default(),
    )
}

fn case() -> CaseRef {
    CaseRef {
        requester_id: "INC0097539".into(),
        provider_id: Some("5381923377".into()),
    }
}

/// Built equals the sample as a JSON value and, where our struct order is
/// the sample's, byte for byte once both are compact.
fn assert_built(built: &Envelope, name: &str, same_key_order: bool) {
    let sample = value(name);
    let built_bytes = built.to_json().unwrap();
    let built_value: Value = serde_json::from_slice(&built_bytes).unwrap();
    assert_eq!(built_value, sample, "{name}");
    if same_key_order {
        assert_eq!(
            String::from_utf8(built_bytes).unwrap(),
            serde_json::to_string(&sample).unwrap(),
            "{name}: key order"
        );
    }
}

fn inbound(name: &str) -> Inbound {
    parse_inbound(&bytes(name)).unwrap()
}

fn received(inbound: &Inbound, state: State) -> Decision {
    apply(Some(state), &Event::Received(inbound.received()))
}

fn applied(state: State) -> Decision {
    Decision::Apply(Applied {
        state,
        audit: None,
        acknowledges_service_request: false,
    })
}

fn pairs(inbound: &Inbound) -> Vec<(&str, &str)> {
    inbound.name_value_pairs().unwrap().iter().collect()
}

#[test]
fn every_sample_file_has_a_test() {
    let mut names: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert_eq!(names, SAMPLES);
}

#[test]
fn s01_service_request() {
    let input = ServiceRequestInput {
        requester_id: "INC0097539".into(),
        severity: "MAJOR".into(),
        requester: Requester {
            organization_name: "NERSC".into(),
            address: Address {
                geo_address1: "1 Cyclotron Rd".into(),
                city: "Berkeley".into(),
                region: "CA".into(),
                postal_code: "94720".into(),
                country: "US".into(),
            },
            person: Person {
                first_name: "John".into(),
                last_name: "Gann".into(),
                phone: "5104866821".into(),
                email: "jgann@lbl.gov".into(),
            },
            alternate: Some(Person {
                first_name: "NERSC".into(),
                last_name: "Operations".into(),
                phone: "5104866821".into(),
                email: "operator@nersc.gov".into(),
            }),
        },
        contract: "2155240525".into(),
        serial: "5UF044F7CY".into(),
        tracking_number: "INC0097539_3".into(),
        title: "HSN issues caused by possible hardware fault.".into(),
        description: "There are issues on the high speed network that we suspect are caused by faulty hardware.".into(),
    };
    let built = builder()
        .service_request(&input, at("2024-04-29 04:52:40"))
        .unwrap();
    assert_built(&built, "01-service-request.json", false);
    let first_pair = built
        .message
        .service_incident
        .and_then(|si| si.activity)
        .and_then(|a| a.name_value_pairs)
        .map(|p| p.0[0].clone());
    assert_eq!(
        first_pair,
        Some(("eCPExtMessage_eCPExtControl_Version".into(), "1.0".into()))
    );
}

#[test]
fn s02_accept_problem() {
    let msg = inbound("02-accept-problem.json");
    assert_eq!(msg.transaction(), &TransactionName::AcceptProblem);
    assert_eq!(msg.message_id(), Some("q-000101"));
    assert_eq!(msg.enqueued_at(), Some(at("2024-04-29 04:57:51")));
    assert_eq!(msg.delivery_count(), Some(1));
    assert_eq!(msg.remote_agent_name(), Some("NERSC_Train_R"));
    assert_eq!(msg.remote_agent_type(), Some("HPE"));
    assert_eq!(msg.requester_id(), Some("INC0097539"));
    assert_eq!(msg.provider_id(), Some("5381923377"));
    assert_eq!(msg.provider_priority(), Some(2));
    assert_eq!(msg.workflow_status(), Some("Assigned"));
    assert_eq!(msg.current_state(), Some(State::OpenProvider));
    assert_eq!(msg.activity_local_date(), Some(at("2024-04-29 04:57:50")));
    assert_eq!(msg.action_log(), Some("Case accepted"));
    assert_eq!(msg.comment(), None);
    assert_eq!(msg.entitled(), None);
    assert!(!msg.info_requested());
    assert_eq!(msg.raw.as_bytes(), bytes("02-accept-problem.json"));
    assert_eq!(
        received(&msg, State::ProblemSubmitted),
        applied(State::OpenProvider)
    );
    assert_eq!(
        received(&msg, State::Beginning),
        Decision::Apply(Applied {
            state: State::OpenProvider,
            audit: None,
            acknowledges_service_request: true
        })
    );
}

#[test]
fn s03_note_from_hpe_requests_information() {
    let msg = inbound("03-note-from-hpe.json");
    assert_eq!(
        msg.transaction(),
        &TransactionName::ProvideProblemInformation
    );
    assert_eq!(msg.message_id(), Some("q-000117"));
    assert_eq!(
        msg.comment(),
        Some(
            "Please attach the output of \"sudo fmn status --details\" from x1000c3s2b0.\r\nThanks — HPE support"
        )
    );
    assert_eq!(msg.action_log(), Some("Note"));
    assert_eq!(msg.activity_local_date(), Some(at("2024-04-29 06:10:00")));
    assert_eq!(pairs(&msg), vec![("eCPExtMessage_InfoRequested", "Y")]);
    assert!(msg.info_requested());
    assert_eq!(msg.current_state(), None);
    assert_eq!(
        received(&msg, State::OpenProvider),
        applied(State::OpenRequester)
    );
}

#[test]
fn s04_onsite_task_structured() {
    let msg = inbound("04-onsite-task-structured.json");
    assert_eq!(
        msg.transaction(),
        &TransactionName::ProvideProblemInformation
    );
    assert_eq!(msg.message_id(), Some("q-000130"));
    assert_eq!(msg.action_log(), Some("Onsite Task Update"));
    assert_eq!(msg.activity_local_date(), Some(at("2024-04-29 09:00:12")));
    assert_eq!(msg.comment(), None);
    assert_eq!(
        pairs(&msg),
        vec![
            ("eCPExtMessage_EXT_TASK_TaskID", "WO-4417"),
            ("eCPExtMessage_EXT_TASK_TaskStatus", "DISPATCHED"),
            (
                "eCPExtMessage_EXT_TASK_ScheduledStart",
                "2024-04-29 14:00:00"
            ),
            ("eCPExtMessage_EXT_TASK_EngineerETA", "2024-04-29 13:45:00"),
            (
                "eCPExtMessage_EXT_TASK_Description",
                "Replace HSN switch blade in c3s2"
            ),
        ]
    );
    assert!(!msg.info_requested());
    assert_eq!(
        received(&msg, State::OpenProvider),
        applied(State::OpenProvider)
    );
}

#[test]
fn s05_part_order_text() {
    let msg = inbound("05-part-order-text.json");
    assert_eq!(msg.message_id(), Some("q-000131"));
    assert_eq!(
        msg.comment(),
        Some(
            "PART ORDER 7730021 PN P05591-001 (HDR200 NIC) QTY 2 STATUS SHIPPED CARRIER FEDEX TRACKING 771234567890 ETA 2024-04-30"
        )
    );
    assert_eq!(msg.action_log(), Some("Note"));
    assert_eq!(msg.activity_local_date(), Some(at("2024-04-29 09:05:39")));
    assert_eq!(msg.name_value_pairs(), None);
}

#[test]
fn s06_problem_resolution() {
    let msg = inbound("06-problem-resolution.json");
    assert_eq!(msg.transaction(), &TransactionName::ProblemResolution);
    assert_eq!(msg.message_id(), Some("q-000160"));
    assert_eq!(msg.workflow_status(), Some("Resolved"));
    assert_eq!(msg.current_state(), Some(State::ClosedPendingConfirmation));
    assert_eq!(
        msg.solution().unwrap().statements(),
        [Statement::new(
            "FIX",
            "Switch blade replaced; link errors cleared after 24 h soak."
        )]
    );
    assert_eq!(
        msg.solution_text().as_deref(),
        Some("Switch blade replaced; link errors cleared after 24 h soak.")
    );
    assert_eq!(msg.action_log(), Some("Resolution proposed"));
    assert_eq!(
        received(&msg, State::OpenProvider),
        applied(State::ClosedPendingConfirmation)
    );
}

#[test]
fn s07_entitlement_refused() {
    let msg = inbound("07-entitlement-refused.json");
    assert_eq!(msg.transaction(), &TransactionName::Entitlement);
    assert_eq!(msg.message_id(), Some("q-000102"));
    assert_eq!(msg.requester_id(), Some("INC0098001"));
    assert_eq!(msg.provider_id(), None);
    assert_eq!(msg.entitled(), Some(false));
    assert_eq!(msg.current_state(), Some(State::NotEntitled));
    assert_eq!(
        msg.comment(),
        Some("Contract CN=2155240599 does not cover serial 5UF044F7CZ")
    );
    assert_eq!(msg.action_log(), Some("Entitlement check failed"));
    assert_eq!(
        received(&msg, State::ProblemSubmitted),
        applied(State::NotEntitled)
    );
}

#[test]
fn s08_part_order_structured() {
    let msg = inbound("08-part-order-structured.json");
    assert_eq!(msg.message_id(), Some("q-000140"));
    assert_eq!(msg.action_log(), Some("Part Order Update"));
    assert_eq!(msg.activity_local_date(), Some(at("2024-04-30 16:20:04")));
    assert_eq!(
        pairs(&msg),
        vec![
            ("eCPExtMessage_EXT_PART_OrderID", "7730021"),
            ("eCPExtMessage_EXT_PART_PartNumber", "P05591-001"),
            ("eCPExtMessage_EXT_PART_PartDescription", "HDR200 NIC"),
            ("eCPExtMessage_EXT_PART_Quantity", "2"),
            ("eCPExtMessage_EXT_PART_Status", "DELIVERED"),
            ("eCPExtMessage_EXT_PART_Carrier", "FEDEX"),
            ("eCPExtMessage_EXT_PART_TrackingNumber", "771234567890"),
            ("eCPExtMessage_EXT_PART_ReturnRequired", "Y"),
            ("eCPExtMessage_EXT_PART_ReturnStatus", "AWAITING PICKUP"),
        ]
    );
}

#[test]
fn s09_onsite_task_text() {
    let msg = inbound("09-onsite-task-text.json");
    assert_eq!(msg.message_id(), Some("q-000145"));
    assert_eq!(
        msg.comment(),
        Some(
            "Engineer will badge in at the loading dock.\nONSITE TASK WO-4417 STATUS: ENGINEER ON SITE ETA: 2024-04-30 18:00 UTC"
        )
    );
    assert_eq!(msg.activity_local_date(), Some(at("2024-04-30 18:02:10")));
}

#[test]
fn s10_ack_ok() {
    let ack: Ack = parse_ack(&bytes("10-ack-ok.json")).unwrap();
    assert_eq!(ack.status, AckStatus::Ok);
    assert_eq!(ack.transaction(), &TransactionName::ServiceRequest);
    assert_eq!(ack.requester_id(), Some("INC0097539"));
    assert_eq!(ack.current_state(), Some(3));
    let rebuilt = ack_envelope(
        &TransactionName::ServiceRequest,
        Some("INC0097539"),
        &AckStatus::Ok,
        Some(State::ProblemSubmitted),
    );
    assert_built(&rebuilt, "10-ack-ok.json", true);
}

#[test]
fn s11_ack_error() {
    let ack = parse_ack(&bytes("11-ack-error.json")).unwrap();
    let status = AckStatus::Error {
        code: Some(1001),
        detail: Some("missing mandatory field: AGREEMENT.ContractID".into()),
    };
    assert_eq!(ack.status, status);
    assert_eq!(ack.requester_id(), Some("INC0098123"));
    assert_eq!(ack.current_state(), None);
    let rebuilt = ack_envelope(
        &TransactionName::ServiceRequest,
        Some("INC0098123"),
        &status,
        None,
    );
    assert_built(&rebuilt, "11-ack-error.json", true);
}

#[test]
fn s12_pull_empty() {
    assert_eq!(
        parse_pull(&bytes("12-pull-empty.json")).unwrap(),
        PullReply::Empty
    );
    assert_eq!(empty_queue_reply(), value("12-pull-empty.json"));
    match parse_pull(&bytes("02-accept-problem.json")).unwrap() {
        PullReply::Message(msg) => assert_eq!(msg.message_id(), Some("q-000101")),
        PullReply::Empty => panic!("a message read as an empty queue"),
    }
}

#[test]
fn s13_pull_ack_request() {
    let body = PullAck::processed("q-000101");
    let written: Value = serde_json::from_slice(&body.to_json().unwrap()).unwrap();
    assert_eq!(written, value("13-pull-ack-request.json"));
    let read: PullAck = serde_json::from_slice(&bytes("13-pull-ack-request.json")).unwrap();
    assert_eq!(read.message_id, "q-000101");
    assert_eq!(read.status, PullAckStatus::Processed);
}

#[test]
fn s14_note_to_hpe() {
    let note =
        "Output attached below:\r\n\tfabric port x1000c3r7j101p0: DOWN (\"link training failed\")";
    let built = builder()
        .provide_problem_information(&case(), note, at("2024-04-29 06:31:12"))
        .unwrap();
    assert_built(&built, "14-note-to-hpe.json", true);
}

#[test]
fn s15_confirm_close() {
    let built = builder()
        .confirm_close(
            &case(),
            "Blade replaced, 48 h without link errors. Closing.",
            at("2024-05-03 15:00:00"),
        )
        .unwrap();
    assert_built(&built, "15-confirm-close.json", true);
}

#[test]
fn s16_entitlement_granted_numbers_as_strings() {
    let msg = inbound("16-entitlement-granted.json");
    assert_eq!(msg.transaction(), &TransactionName::Entitlement);
    assert_eq!(msg.message_id(), Some("q-000100"));
    assert_eq!(msg.entitled(), Some(true));
    assert_eq!(msg.current_state(), Some(State::Entitled));
    assert_eq!(
        msg.received(),
        Received {
            transaction: TransactionName::Entitlement,
            current_state: Some(2),
            entitled: Some(0),
            info_requested: false
        }
    );
    assert_eq!(msg.action_log(), Some("Entitlement verified"));
    assert_eq!(
        received(&msg, State::ProblemSubmitted),
        applied(State::Entitled)
    );
}

#[test]
fn s17_request_closure() {
    let case = CaseRef {
        requester_id: "INC0098200".into(),
        provider_id: Some("5381930001".into()),
    };
    let built = builder()
        .request_closure(
            &case,
            "Resolved by a firmware reflash on our side; no part needed.",
            at("2024-05-02 10:15:00"),
        )
        .unwrap();
    assert_built(&built, "17-request-closure.json", true);
}

#[test]
fn s18_reject_resolution() {
    let built = builder()
        .reject_resolution(
            &case(),
            "Link errors returned after 6 hours on the same port.",
            at("2024-05-02 08:40:00"),
        )
        .unwrap();
    assert_built(&built, "18-reject-resolution.json", true);
}

#[test]
fn s19_query_incident_inbound() {
    let msg = inbound("19-query-incident-inbound.json");
    assert_eq!(msg.transaction(), &TransactionName::QueryIncident);
    assert_eq!(msg.message_id(), Some("q-000170"));
    assert_eq!(msg.delivery_count(), Some(2));
    assert_eq!(msg.requester_id(), Some("INC0097539"));
    assert_eq!(msg.provider_id(), Some("5381923377"));
    assert_eq!(msg.action_log(), Some("Query"));
    assert_eq!(msg.activity_local_date(), Some(at("2024-05-02 08:59:59")));
    assert_eq!(
        received(&msg, State::OpenProvider),
        applied(State::OpenProvider)
    );
    assert_eq!(received(&msg, State::Closed), applied(State::Closed));
}

#[test]
fn s20_closed_by_hpe() {
    let msg = inbound("20-closed-by-hpe.json");
    assert_eq!(
        msg.transaction(),
        &TransactionName::ProvideProblemInformation
    );
    assert_eq!(msg.message_id(), Some("q-000180"));
    assert_eq!(msg.requester_id(), Some("INC0098300"));
    assert_eq!(msg.provider_id(), Some("5381930002"));
    assert_eq!(msg.workflow_status(), Some("Closed"));
    assert_eq!(msg.current_state(), Some(State::Closed));
    assert_eq!(
        msg.comment(),
        Some("Case closed after 7 days without customer response.")
    );
    assert_eq!(
        received(&msg, State::OpenRequester),
        Decision::Apply(Applied {
            state: State::Closed,
            audit: Some(Audit::Overridden {
                table: State::OpenRequester,
                hpe: State::Closed
            }),
            acknowledges_service_request: false
        })
    );
}

#[test]
fn s21_query_incident() {
    let built = builder()
        .query_incident(&case(), at("2024-04-29 05:20:00"))
        .unwrap();
    assert_built(&built, "21-query-incident.json", true);
}
