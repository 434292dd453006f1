#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The ServiceNow simulator, driven with raw HTTP: each quirk of
//! `shared/spec/servicenow.md` it must reproduce.

use std::time::{Duration, Instant};

use casebridge::sim::pki::{ClientAuth, TestPki, server_config};
use casebridge::sim::servicenow::{
    AfterCommit, INTEGRATION_PASSWORD, INTEGRATION_USER, NewIncident, OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET, Outage, ServiceNowSim, SimConfig, TRUNCATION_MARKER,
};
use chrono::{NaiveDateTime, TimeZone};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn start() -> ServiceNowSim {
    ServiceNowSim::start(SimConfig::default()).await.unwrap()
}

fn http() -> reqwest::Client {
    casebridge::tls::install_crypto_provider();
    reqwest::Client::new()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn call(
    sim: &ServiceNowSim,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut request = http()
        .request(method, format!("{}{path}", sim.base_url()))
        .basic_auth(INTEGRATION_USER, Some(INTEGRATION_PASSWORD))
        .header("Accept", "application/json");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(sim: &ServiceNowSim, path: &str) -> Answer {
    call(sim, reqwest::Method::GET, path, None).await
}

fn q(query: &str) -> String {
    form_urlencoded::byte_serialize(query.as_bytes()).collect()
}

fn header(answer: &Answer, name: &str) -> String {
    answer.headers[name].to_str().unwrap().to_owned()
}

fn incident(short: &str, impact: u8, urgency: u8) -> NewIncident {
    NewIncident {
        impact,
        urgency,
        caller: "alee".into(),
        cmdb_ci: "Perlmutter".into(),
        assignment_group: "HPC Operations".into(),
        ..NewIncident::new(short)
    }
}

/// One request over a bare TCP connection, for headers reqwest always adds.
async fn raw_http(sim: &ServiceNowSim, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn values_are_strings_and_empty_is_empty_string() {
    let sim = start().await;
    let created = sim.create_incident(&incident("nid001 down", 2, 2)).unwrap();
    let answer = get(
        &sim,
        &format!("/api/now/table/incident/{}", created.sys_id()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let result = answer.body["result"].as_object().unwrap();
    assert_eq!(result["state"], json!("1"));
    assert_eq!(result["sys_mod_count"], json!("0"));
    assert_eq!(result["priority"], json!("3"));
    assert_eq!(result["description"], json!(""));
    assert_eq!(result["close_notes"], json!(""));
    assert_eq!(result["assigned_to"], json!(""));
    for (name, value) in result {
        assert!(
            value.is_string() || (value.is_object() && value["value"].is_string()),
            "{name} is {value}"
        );
    }
}

#[tokio::test]
async fn errors_come_in_the_envelope() {
    let sim = start().await;
    let answer = get(&sim, "/api/now/table/u_no_such_table").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer.body,
        json!({"error": {"message": "Invalid table u_no_such_table", "detail": null}, "status": "failure"})
    );
    let answer = get(
        &sim,
        "/api/now/table/incident/0123456789abcdef0123456789abcdef",
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.body["error"]["message"], json!("No Record found"));
    assert_eq!(answer.body["status"], json!("failure"));
}

#[tokio::test]
async fn post_answers_201_with_location_one_record_per_call() {
    let sim = start().await;
    let answer = call(
        &sim,
        reqwest::Method::POST,
        "/api/now/table/incident",
        Some(json!({"short_description": "PDU alarm", "impact": 1, "urgency": "2", "caller_id": "jsmith", "u_unknown": "x"})),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let sys_id = answer.body["result"]["sys_id"].as_str().unwrap();
    assert_eq!(
        header(&answer, "location"),
        format!("{}/api/now/table/incident/{sys_id}", sim.base_url())
    );
    assert_eq!(answer.body["result"]["number"], json!("INC0010001"));
    assert_eq!(answer.body["result"]["impact"], json!("1"));
    assert_eq!(answer.body["result"]["priority"], json!("2"));
    assert_eq!(
        answer.body["result"]["sys_created_by"],
        json!(INTEGRATION_USER)
    );
    let caller = sim
        .incident("INC0010001")
        .unwrap()
        .get("caller_id")
        .to_owned();
    let jsmith = get(
        &sim,
        &format!(
            "/api/now/table/sys_user?sysparm_query={}",
            q("user_name=jsmith")
        ),
    )
    .await;
    assert_eq!(jsmith.body["result"][0]["sys_id"], json!(caller));

    let list = call(
        &sim,
        reqwest::Method::POST,
        "/api/now/table/incident",
        Some(json!([{"short_description": "a"}, {"short_description": "b"}])),
    )
    .await;
    assert_eq!(list.status, StatusCode::BAD_REQUEST);
    assert_eq!(sim.records("incident").unwrap().len(), 1);
}

#[tokio::test]
async fn writes_without_accept_or_content_type_are_400() {
    let sim = start().await;
    let created = sim.create_incident(&incident("nid002 down", 3, 3)).unwrap();
    let auth =
        "Authorization: Basic Y2FzZWJyaWRnZS5pbnRlZ3JhdGlvbjpjYXNlYnJpZGdlLWRlbW8tcGFzc3dvcmQ=";
    let body = r#"{"short_description":"x"}"#;
    let no_accept = format!(
        "POST /api/now/table/incident HTTP/1.1\r\nHost: x\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_http(&sim, &no_accept).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Accept header is required"), "{answer}");
    let no_content_type = format!(
        "PATCH /api/now/table/incident/{} HTTP/1.1\r\nHost: x\r\n{auth}\r\nAccept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        created.sys_id(),
        body.len()
    );
    let answer = raw_http(&sim, &no_content_type).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Content-Type header"), "{answer}");
    let with_both = format!(
        "PATCH /api/now/table/incident/{} HTTP/1.1\r\nHost: x\r\n{auth}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        created.sys_id(),
        body.len()
    );
    assert!(raw_http(&sim, &with_both).await.starts_with("HTTP/1.1 200"));
    assert_eq!(
        sim.incident("INC0010001").unwrap().get("short_description"),
        "x"
    );
}

#[tokio::test]
async fn query_parts_on_unknown_fields_are_dropped_and_widen() {
    let sim = start().await;
    for (short, state) in [("a", "2"), ("b", "2"), ("c", "1")] {
        let record = sim.create_incident(&incident(short, 3, 3)).unwrap();
        sim.set_state(record.get("number"), state, "jsmith")
            .unwrap();
    }
    let count = |answer: &Answer| answer.body["result"].as_array().unwrap().len();
    let narrowed = get(
        &sim,
        &format!("/api/now/table/incident?sysparm_query={}", q("state=2")),
    )
    .await;
    assert_eq!(count(&narrowed), 2);
    let widened = get(
        &sim,
        &format!("/api/now/table/incident?sysparm_query={}", q("u_stat=2")),
    )
    .await;
    assert_eq!(count(&widened), 3);
    let half = get(
        &sim,
        &format!(
            "/api/now/table/incident?sysparm_query={}",
            q("state=1^u_typo=zzz")
        ),
    )
    .await;
    assert_eq!(count(&half), 1);
    let ordered = get(
        &sim,
        &format!(
            "/api/now/table/incident?sysparm_fields=short_description,u_nope&sysparm_query={}",
            q("stateIN1,2^ORDERBYDESCshort_description")
        ),
    )
    .await;
    assert_eq!(
        ordered.body["result"],
        json!([{"short_description": "c"}, {"short_description": "b"}, {"short_description": "a"}])
    );
    let or = get(
        &sim,
        &format!(
            "/api/now/table/incident?sysparm_query={}",
            q("short_description=a^ORshort_description=c^NQshort_descriptionSTARTSWITHB")
        ),
    )
    .await;
    assert_eq!(count(&or), 3);
    let dotted = get(
        &sim,
        &format!(
            "/api/now/table/incident?sysparm_query={}",
            q("caller_id.user_name=alee^short_descriptionLIKEa")
        ),
    )
    .await;
    assert_eq!(count(&dotted), 1);
}

#[tokio::test]
async fn paging_sends_total_count_and_link_with_prev_offset_minus_one() {
    let sim = start().await;
    for i in 0..5 {
        sim.create_incident(&incident(&format!("node {i}"), 3, 3))
            .unwrap();
    }
    let base = sim.base_url().to_owned();
    let link = |offset: i64| {
        format!(
            "<{base}/api/now/table/incident?sysparm_fields=number&sysparm_limit=2&sysparm_offset={offset}>"
        )
    };
    let first = get(
        &sim,
        "/api/now/table/incident?sysparm_fields=number&sysparm_limit=2",
    )
    .await;
    assert_eq!(header(&first, "x-total-count"), "5");
    assert_eq!(
        header(&first, "link"),
        format!(
            "{};rel=\"first\",{};rel=\"prev\",{};rel=\"next\",{};rel=\"last\"",
            link(0),
            link(-1),
            link(2),
            link(4)
        )
    );
    assert_eq!(
        first.body["result"],
        json!([{"number": "INC0010001"}, {"number": "INC0010002"}])
    );
    let second = get(
        &sim,
        "/api/now/table/incident?sysparm_fields=number&sysparm_limit=2&sysparm_offset=2",
    )
    .await;
    assert_eq!(
        header(&second, "link"),
        format!(
            "{};rel=\"first\",{};rel=\"prev\",{};rel=\"next\",{};rel=\"last\"",
            link(0),
            link(0),
            link(4),
            link(4)
        )
    );
    let last = get(
        &sim,
        "/api/now/table/incident?sysparm_fields=number&sysparm_limit=2&sysparm_offset=4",
    )
    .await;
    assert_eq!(last.body["result"], json!([{"number": "INC0010005"}]));
    assert!(!header(&last, "link").contains("rel=\"next\""));
    let negative = get(
        &sim,
        "/api/now/table/incident?sysparm_fields=number&sysparm_limit=2&sysparm_offset=-1",
    )
    .await;
    assert_eq!(negative.body["result"][0]["number"], json!("INC0010001"));

    sim.set_max_page_size(Some(3));
    let capped = get(
        &sim,
        "/api/now/table/incident?sysparm_fields=number&sysparm_limit=100",
    )
    .await;
    assert_eq!(capped.body["result"].as_array().unwrap().len(), 3);
    assert!(header(&capped, "link").contains("sysparm_limit=3&sysparm_offset=3>;rel=\"next\""));

    let hidden = sim.incident("INC0010002").unwrap();
    sim.set_hidden("incident", hidden.sys_id(), true).unwrap();
    let short = get(
        &sim,
        "/api/now/table/incident?sysparm_fields=number&sysparm_limit=2",
    )
    .await;
    assert_eq!(short.body["result"], json!([{"number": "INC0010001"}]));
    assert_eq!(header(&short, "x-total-count"), "5");
    assert!(header(&short, "link").contains("rel=\"next\""));
}

#[tokio::test]
async fn reference_fields_take_the_shape_of_the_display_mode() {
    let sim = start().await;
    let created = sim.create_incident(&incident("HSN errors", 2, 3)).unwrap();
    let caller = created.get("caller_id").to_owned();
    let link = format!("{}/api/now/table/sys_user/{caller}", sim.base_url());
    let path = |params: &str| {
        format!(
            "/api/now/table/incident/{}?sysparm_fields=caller_id,assigned_to,state&{params}",
            created.sys_id()
        )
    };
    let shapes = [
        (
            "sysparm_display_value=false",
            json!({"caller_id": {"link": link, "value": caller}, "assigned_to": "", "state": "1"}),
        ),
        (
            "sysparm_display_value=true",
            json!({"caller_id": {"display_value": "Alex Lee", "link": link}, "assigned_to": "", "state": "New"}),
        ),
        (
            "sysparm_display_value=true&sysparm_exclude_reference_link=true",
            json!({"caller_id": "Alex Lee", "assigned_to": "", "state": "New"}),
        ),
        (
            "sysparm_display_value=false&sysparm_exclude_reference_link=true",
            json!({"caller_id": caller, "assigned_to": "", "state": "1"}),
        ),
        (
            "sysparm_display_value=all",
            json!({
                "caller_id": {"display_value": "Alex Lee", "value": caller},
                "assigned_to": {"display_value": "", "value": ""},
                "state": {"display_value": "New", "value": "1"},
            }),
        ),
    ];
    for (params, expected) in shapes {
        let answer = get(&sim, &path(params)).await;
        assert_eq!(answer.body["result"], expected, "{params}");
    }
}

#[tokio::test]
async fn display_values_are_in_the_configured_time_zone() {
    let zone = chrono_tz::Asia::Kolkata;
    let sim = ServiceNowSim::start(SimConfig {
        time_zone: zone,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let created = sim.create_incident(&incident("cooling", 1, 1)).unwrap();
    let stored = created.get("sys_created_on").to_owned();
    let utc = NaiveDateTime::parse_from_str(&stored, "%Y-%m-%d %H:%M:%S").unwrap();
    let expected = zone
        .from_utc_datetime(&utc)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let path = format!(
        "/api/now/table/incident/{}?sysparm_fields=sys_created_on,opened_at",
        created.sys_id()
    );
    let raw = get(&sim, &path).await;
    assert_eq!(raw.body["result"]["sys_created_on"], json!(stored));
    let shown = get(&sim, &format!("{path}&sysparm_display_value=true")).await;
    assert_eq!(shown.body["result"]["sys_created_on"], json!(expected));
    assert_eq!(shown.body["result"]["opened_at"], json!(expected));
    assert_ne!(expected, stored);
}

#[tokio::test]
async fn priority_follows_impact_and_urgency() {
    let sim = start().await;
    let matrix = [
        (1, 1, "1"),
        (1, 2, "2"),
        (2, 1, "2"),
        (1, 3, "3"),
        (2, 2, "3"),
        (3, 1, "3"),
        (2, 3, "4"),
        (3, 2, "4"),
        (3, 3, "5"),
    ];
    for (impact, urgency, priority) in matrix {
        let answer = call(
            &sim,
            reqwest::Method::POST,
            "/api/now/table/incident",
            Some(json!({"short_description": "p", "impact": impact.to_string(), "urgency": urgency.to_string(), "priority": "1"})),
        )
        .await;
        assert_eq!(
            answer.body["result"]["priority"],
            json!(priority),
            "{impact}+{urgency}"
        );
    }
    let record = sim.incident("INC0010009").unwrap();
    let patched = call(
        &sim,
        reqwest::Method::PATCH,
        &format!(
            "/api/now/table/incident/{}?sysparm_display_value=true",
            record.sys_id()
        ),
        Some(json!({"impact": "1", "urgency": "1"})),
    )
    .await;
    assert_eq!(patched.body["result"]["priority"], json!("1 - Critical"));
}

#[tokio::test]
async fn journal_writes_bump_the_record_and_read_back_empty() {
    let sim = start().await;
    let created = sim.create_incident(&incident("OSS disk", 2, 2)).unwrap();
    let before = created.get("sys_updated_on").to_owned();
    sim.advance_clock(Duration::from_secs(5));
    let patched = call(
        &sim,
        reqwest::Method::PATCH,
        &format!("/api/now/table/incident/{}", created.sys_id()),
        Some(json!({"comments": "HPE case 5400000001 opened"})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK);
    let result = &patched.body["result"];
    assert_eq!(result["comments"], json!(""));
    assert_eq!(result["sys_mod_count"], json!("1"));
    assert_eq!(result["sys_updated_by"], json!(INTEGRATION_USER));
    assert!(result["sys_updated_on"].as_str().unwrap() > before.as_str());

    sim.advance_clock(Duration::from_secs(5));
    sim.add_comment("INC0010001", "mchen", "Drive replaced")
        .unwrap();
    sim.add_work_note("INC0010001", "mchen", "internal only")
        .unwrap();
    assert_eq!(sim.incident("INC0010001").unwrap().mod_count(), 3);
    assert_eq!(
        sim.incident("INC0010001").unwrap().get("sys_updated_by"),
        "mchen"
    );

    let query = q(&format!(
        "element=comments^element_id={}^ORDERBYsys_created_on",
        created.sys_id()
    ));
    let entries = get(&sim, &format!("/api/now/table/sys_journal_field?sysparm_query={query}&sysparm_fields=element,element_id,name,value,sys_created_by")).await;
    assert_eq!(
        entries.body["result"],
        json!([
            {"element": "comments", "element_id": created.sys_id(), "name": "incident", "value": "HPE case 5400000001 opened", "sys_created_by": INTEGRATION_USER},
            {"element": "comments", "element_id": created.sys_id(), "name": "incident", "value": "Drive replaced", "sys_created_by": "mchen"},
        ])
    );
    let journal = sim.journal("INC0010001").unwrap();
    assert_eq!(journal.len(), 3);
    assert_eq!(journal[0].element, "work_notes");
    assert_eq!(journal[0].sys_id.len(), 32);

    let shown = get(&sim, &format!("/api/now/table/incident/{}?sysparm_display_value=true&sysparm_fields=comments,work_notes", created.sys_id())).await;
    let local = |e: &casebridge::sim::servicenow::JournalEntry| {
        chrono_tz::America::Los_Angeles
            .from_utc_datetime(&e.sys_created_on)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    assert_eq!(
        shown.body["result"]["comments"],
        json!(format!(
            "{} - Mei Chen (Additional comments)\nDrive replaced\n\n{} - casebridge Integration (Additional comments)\nHPE case 5400000001 opened\n\n",
            local(&journal[1]),
            local(&journal[2])
        ))
    );
    assert_eq!(
        shown.body["result"]["work_notes"],
        json!(format!(
            "{} - Mei Chen (Work notes)\ninternal only\n\n",
            local(&journal[0])
        ))
    );

    sim.set_journal_acl_blocked(true);
    let blocked = get(
        &sim,
        &format!("/api/now/table/sys_journal_field?sysparm_query={query}"),
    )
    .await;
    assert_eq!(blocked.status, StatusCode::OK);
    assert_eq!(blocked.body, json!({"result": []}));
}

#[tokio::test]
async fn an_unchanged_patch_is_no_write() {
    let sim = start().await;
    let created = sim.create_incident(&incident("same", 3, 3)).unwrap();
    let patched = call(
        &sim,
        reqwest::Method::PATCH,
        &format!("/api/now/table/incident/{}", created.sys_id()),
        Some(json!({"short_description": "same"})),
    )
    .await;
    assert_eq!(patched.body["result"]["sys_mod_count"], json!("0"));
}

#[tokio::test]
async fn long_journal_entries_are_truncated_with_a_marker() {
    let sim = ServiceNowSim::start(SimConfig {
        max_journal_len: Some(12),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.create_incident(&incident("long", 3, 3)).unwrap();
    sim.add_comment("INC0010001", "jsmith", "0123456789abcdefghij")
        .unwrap();
    sim.add_comment("INC0010001", "jsmith", "short").unwrap();
    let journal = sim.journal("INC0010001").unwrap();
    assert_eq!(journal[1].value, format!("0123456789ab{TRUNCATION_MARKER}"));
    assert_eq!(journal[0].value, "short");
    sim.set_max_journal_len(None);
    sim.add_comment("INC0010001", "jsmith", "0123456789abcdefghij")
        .unwrap();
    assert_eq!(
        sim.journal("INC0010001").unwrap()[0].value,
        "0123456789abcdefghij"
    );
}

#[tokio::test]
async fn resolving_needs_close_code_and_notes() {
    let sim = start().await;
    let created = sim
        .create_incident(&incident("login23 panic", 2, 2))
        .unwrap();
    let path = format!("/api/now/table/incident/{}", created.sys_id());
    let refused = call(
        &sim,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"state": "6"})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["error"]["message"], json!("Operation Failed"));
    assert_eq!(
        refused.body["error"]["detail"],
        json!(
            "Data Policy Exception: \n The following fields are mandatory: Resolution code, Resolution notes"
        )
    );
    assert_eq!(sim.incident("INC0010001").unwrap().get("state"), "1");
    assert!(sim.set_state("INC0010001", "6", "jsmith").is_err());
    let resolved = sim
        .resolve(
            "INC0010001",
            "Solved (Permanently)",
            "System board replaced",
            "jsmith",
        )
        .unwrap();
    assert_eq!(resolved.get("state"), "6");
    assert_eq!(resolved.get("active"), "true");
    assert_eq!(resolved.get("close_code"), "Solved (Permanently)");
    assert_eq!(resolved.get("resolved_at"), resolved.get("sys_updated_on"));
    assert_eq!(resolved.get("sys_updated_by"), "jsmith");
    let closed = sim.set_state("INC0010001", "7", "jsmith").unwrap();
    assert_eq!(closed.get("active"), "false");
}

#[tokio::test]
async fn basic_auth_failures_are_401_envelopes() {
    let sim = start().await;
    let wrong = http()
        .get(format!("{}/api/now/table/incident", sim.base_url()))
        .basic_auth(INTEGRATION_USER, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"}, "status": "failure"})
    );
    let none = http()
        .get(format!("{}/api/now/table/incident", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
}

async fn token_request(sim: &ServiceNowSim, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().copied())
        .finish();
    let response = http()
        .post(format!("{}/oauth_token.do", sim.base_url()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn oauth_password_and_refresh_grants() {
    let sim = start().await;
    let client = [
        ("client_id", OAUTH_CLIENT_ID),
        ("client_secret", OAUTH_CLIENT_SECRET),
    ];
    let (status, token) = token_request(
        &sim,
        &[
            client[0],
            client[1],
            ("grant_type", "password"),
            ("username", INTEGRATION_USER),
            ("password", INTEGRATION_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(token["expires_in"], json!(1800));
    assert_eq!(token["token_type"], json!("Bearer"));
    let access = token["access_token"].as_str().unwrap().to_owned();
    let refresh = token["refresh_token"].as_str().unwrap().to_owned();
    let with = |token: &str| {
        http()
            .get(format!(
                "{}/api/now/table/sys_user?sysparm_limit=1",
                sim.base_url()
            ))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(with(&access).await.unwrap().status(), StatusCode::OK);
    sim.expire_tokens();
    assert_eq!(
        with(&access).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, renewed) = token_request(
        &sim,
        &[
            client[0],
            client[1],
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let access = renewed["access_token"].as_str().unwrap().to_owned();
    assert_eq!(with(&access).await.unwrap().status(), StatusCode::OK);
    let (status, _) = token_request(
        &sim,
        &[
            ("client_id", OAUTH_CLIENT_ID),
            ("client_secret", "wrong"),
            ("grant_type", "password"),
            ("username", INTEGRATION_USER),
            ("password", INTEGRATION_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = token_request(
        &sim,
        &[
            client[0],
            client[1],
            ("grant_type", "password"),
            ("username", INTEGRATION_USER),
            ("password", "wrong"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sim.oauth_grants(), vec!["password", "refresh_token"]);
}

#[tokio::test]
async fn rate_limits_with_and_without_headers() {
    let sim = start().await;
    sim.rate_limit(1, Some(Duration::from_secs(42)));
    let limited = get(&sim, "/api/now/table/incident").await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "retry-after"), "42");
    assert_eq!(header(&limited, "x-ratelimit-limit"), "5000");
    assert!(limited.headers.contains_key("x-ratelimit-reset"));
    assert!(limited.headers.contains_key("x-ratelimit-rule"));
    assert_eq!(
        get(&sim, "/api/now/table/incident").await.status,
        StatusCode::OK
    );

    sim.rate_limit(2, None);
    for _ in 0..2 {
        let bare = get(&sim, "/api/now/table/incident").await;
        assert_eq!(bare.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(!bare.headers.contains_key("retry-after"));
        assert!(!bare.headers.contains_key("x-ratelimit-limit"));
    }
    assert_eq!(
        get(&sim, "/api/now/table/incident").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn outages_refuse_fail_and_slow_down() {
    let sim = start().await;
    let url = format!("{}/api/now/table/incident", sim.base_url());
    sim.set_outage(Outage::Unavailable503);
    assert_eq!(
        get(&sim, "/api/now/table/incident").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    sim.set_outage(Outage::Slow(Duration::from_millis(400)));
    let started = Instant::now();
    assert_eq!(
        get(&sim, "/api/now/table/incident").await.status,
        StatusCode::OK
    );
    assert!(started.elapsed() >= Duration::from_millis(400));

    sim.set_outage(Outage::Refuse);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = http().get(&url).send().await.unwrap_err();
    assert!(refused.is_connect(), "{refused:?}");

    sim.set_outage(Outage::None);
    let mut status = None;
    for _ in 0..50 {
        if let Ok(response) = http()
            .get(&url)
            .basic_auth(INTEGRATION_USER, Some(INTEGRATION_PASSWORD))
            .send()
            .await
        {
            status = Some(response.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, Some(StatusCode::OK));
}

#[tokio::test]
async fn writes_can_commit_and_then_fail() {
    let sim = start().await;
    let created = sim.create_incident(&incident("retry me", 3, 3)).unwrap();
    let path = format!("/api/now/table/incident/{}", created.sys_id());
    sim.fail_after_commit_next(1, AfterCommit::Error500);
    let failed = call(
        &sim,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"comments": "once"})),
    )
    .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(sim.journal("INC0010001").unwrap().len(), 1);

    sim.fail_after_commit_next(1, AfterCommit::DropConnection);
    let dropped = http()
        .patch(format!("{}{path}", sim.base_url()))
        .basic_auth(INTEGRATION_USER, Some(INTEGRATION_PASSWORD))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(json!({"comments": "twice"}).to_string())
        .send()
        .await;
    let failed = match dropped {
        Err(_) => true,
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "the connection should have broken");
    // The retry a client makes appends the entry a second time.
    let retried = call(
        &sim,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"comments": "twice"})),
    )
    .await;
    assert_eq!(retried.status, StatusCode::OK);
    let values: Vec<String> = sim
        .journal("INC0010001")
        .unwrap()
        .into_iter()
        .map(|e| e.value)
        .collect();
    assert_eq!(values, vec!["twice", "twice", "once"]);
    assert_eq!(sim.incident("INC0010001").unwrap().mod_count(), 3);
}

#[tokio::test]
async fn requests_are_logged() {
    let sim = start().await;
    get(&sim, "/api/now/table/incident?sysparm_limit=1").await;
    get(&sim, "/api/now/table/u_nope").await;
    let log: Vec<(String, String, u16)> = sim
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path_and_query, r.status))
        .collect();
    assert_eq!(
        log,
        vec![
            (
                "GET".to_owned(),
                "/api/now/table/incident?sysparm_limit=1".to_owned(),
                200
            ),
            ("GET".to_owned(), "/api/now/table/u_nope".to_owned(), 400),
        ]
    );
    sim.clear_requests();
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn mirror_tables_hold_string_records() {
    let sim = ServiceNowSim::start(SimConfig::demo()).await.unwrap();
    let created = call(
        &sim,
        reqwest::Method::POST,
        "/api/now/table/u_hpe_part_order",
        Some(json!({"u_hpe_id": "PO-1", "u_quantity": 2})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["result"]["u_quantity"], json!("2"));
    assert_eq!(created.body["result"]["u_status"], json!(""));
    assert_eq!(created.body["result"]["sys_mod_count"], json!("0"));
    let found = get(
        &sim,
        &format!(
            "/api/now/table/u_hpe_part_order?sysparm_query={}",
            q("u_hpe_id=PO-1")
        ),
    )
    .await;
    assert_eq!(found.body["result"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_demo_seed_is_realistic() {
    let sim = ServiceNowSim::start(SimConfig::demo()).await.unwrap();
    let incidents = sim.records("incident").unwrap();
    assert_eq!(incidents.len(), 12);
    assert!(
        incidents
            .iter()
            .any(|i| i.get("short_description").contains("OST0042"))
    );
    let resolved = incidents.iter().find(|i| i.get("state") == "6").unwrap();
    assert_eq!(resolved.get("close_code"), "Solved (Permanently)");
    let on_hold = incidents.iter().find(|i| i.get("state") == "3").unwrap();
    assert_eq!(on_hold.get("hold_reason"), "4");
    let cis = get(
        &sim,
        &format!(
            "/api/now/table/cmdb_ci?sysparm_fields=name&sysparm_query={}",
            q("nameSTARTSWITHperlmutter^ORDERBYname")
        ),
    )
    .await;
    assert_eq!(cis.body["result"][0]["name"], json!("Perlmutter"));
    assert!(!sim.journal(incidents[0].get("number")).unwrap().is_empty());
    let users = get(
        &sim,
        &format!(
            "/api/now/table/sys_user?sysparm_query={}",
            q(&format!("user_name={INTEGRATION_USER}"))
        ),
    )
    .await;
    assert_eq!(
        users.body["result"][0]["name"],
        json!("casebridge Integration")
    );
}

#[tokio::test]
async fn serves_https_with_the_test_pki() {
    casebridge::tls::install_crypto_provider();
    let pki = TestPki::generate("casebridge").unwrap();
    let tls = server_config(&pki.server, &ClientAuth::None).unwrap();
    let sim = ServiceNowSim::start(SimConfig {
        tls: Some(std::sync::Arc::new(tls)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    let client = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(pki.ca.cert().cert_pem().as_bytes()).unwrap(),
        ])
        .build()
        .unwrap();
    let response = client
        .get(format!(
            "{}/api/now/table/sys_user?sysparm_limit=1",
            sim.base_url()
        ))
        .basic_auth(INTEGRATION_USER, Some(INTEGRATION_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let untrusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            TestPki::generate("other")
                .unwrap()
                .ca
                .cert()
                .cert_pem()
                .as_bytes(),
        )
        .unwrap()])
        .build()
        .unwrap();
    assert!(untrusting.get(sim.base_url()).send().await.is_err());
    sim.shutdown().await;
}
