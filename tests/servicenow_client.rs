#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Table API client against the ServiceNow simulator on loopback.

use std::sync::Arc;
use std::time::Duration;

use casebridge::config::Secret;
use casebridge::servicenow::{
    Auth, ClientOptions, Display, INCIDENT, JOURNAL, Query, RefValue, SnError, TableClient,
    TableDef, TlsRoots, incident, journal,
};
use casebridge::sim::pki::{ClientAuth, TestPki, server_config};
use casebridge::sim::servicenow::{
    INTEGRATION_PASSWORD, INTEGRATION_USER, NewIncident, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET,
    OAuthClient, Outage, ServiceNowSim, SimConfig,
};
use serde_json::{Map, Value, json};

fn basic() -> Auth {
    Auth::Basic {
        user: INTEGRATION_USER.into(),
        password: Secret::new(INTEGRATION_PASSWORD),
    }
}

fn oauth() -> Auth {
    Auth::OAuth {
        user: INTEGRATION_USER.into(),
        password: Secret::new(INTEGRATION_PASSWORD),
        client_id: OAUTH_CLIENT_ID.into(),
        client_secret: Secret::new(OAUTH_CLIENT_SECRET),
    }
}

fn client(sim: &ServiceNowSim, auth: Auth, page_size: u32) -> TableClient {
    let options = ClientOptions {
        page_size,
        ..ClientOptions::default()
    };
    TableClient::new(sim.base_url(), auth, options).unwrap()
}

fn new_incident(short: &str) -> NewIncident {
    NewIncident {
        caller: "alee".into(),
        assigned_to: "jsmith".into(),
        cmdb_ci: "Perlmutter".into(),
        ..NewIncident::new(short)
    }
}

fn values(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn numbers(records: &[casebridge::servicenow::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.value(incident::NUMBER).unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_by_next_links_while_rows_are_inserted() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    for i in 0..5 {
        sim.create_incident(&new_incident(&format!("node {i}")))
            .unwrap();
    }
    let client = client(&sim, basic(), 2);
    let query = Query::new().order_by(incident::NUMBER);
    let mut pager = client
        .pages(&INCIDENT, &query, &[incident::NUMBER], Display::VALUES)
        .unwrap();
    let first = pager.next_page().await.unwrap().unwrap();
    assert_eq!(numbers(&first), ["INC0010001", "INC0010002"]);
    assert_eq!(pager.total_count(), Some(5));
    sim.create_incident(&new_incident("inserted between pages"))
        .unwrap();
    let mut rest = Vec::new();
    while let Some(page) = pager.next_page().await.unwrap() {
        rest.extend(page);
    }
    assert_eq!(
        numbers(&rest),
        ["INC0010003", "INC0010004", "INC0010005", "INC0010006"]
    );
    assert_eq!(pager.pages(), 3);
    let offsets: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| {
            r.path_and_query
                .split("sysparm_offset=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(offsets, ["0", "2", "4"]);

    // A page made short by an ACL is not the last page.
    let hidden = sim.incident("INC0010002").unwrap();
    sim.set_hidden("incident", hidden.sys_id(), true).unwrap();
    let page = client
        .get_records(&INCIDENT, &query, &[incident::NUMBER], Display::VALUES)
        .await
        .unwrap();
    assert_eq!(
        numbers(&page.records),
        [
            "INC0010001",
            "INC0010003",
            "INC0010004",
            "INC0010005",
            "INC0010006"
        ]
    );
    assert_eq!(page.total_count, Some(6));
    assert_eq!(page.pages, 3);
}

#[tokio::test]
async fn every_reference_shape_parses() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    let created = sim.create_incident(&new_incident("refs")).unwrap();
    let caller = created.get("caller_id").to_owned();
    let client = client(&sim, basic(), 100);
    let read = |display: Display| {
        let client = &client;
        let sys_id = created.sys_id().to_owned();
        async move {
            client
                .get_record(
                    &INCIDENT,
                    &sys_id,
                    &[
                        incident::CALLER_ID,
                        incident::ASSIGNMENT_GROUP,
                        incident::STATE,
                    ],
                    display,
                )
                .await
                .unwrap()
        }
    };
    let both = RefValue {
        value: Some(caller.clone()),
        display: Some("Alex Lee".into()),
    };
    let only_value = RefValue {
        value: Some(caller.clone()),
        display: None,
    };
    let only_display = RefValue {
        value: None,
        display: Some("Alex Lee".into()),
    };
    let cases = [
        (Display::VALUES, only_value.clone()),
        (Display::VALUES.without_links(), only_value),
        (Display::DISPLAY, both.clone()),
        (Display::DISPLAY.without_links(), only_display),
        (Display::ALL, both),
    ];
    for (display, expected) in cases {
        let record = read(display).await;
        assert_eq!(
            record.reference(incident::CALLER_ID),
            expected,
            "{display:?}"
        );
        assert_eq!(
            record.reference(incident::ASSIGNMENT_GROUP),
            RefValue::default(),
            "{display:?}"
        );
    }
    let all = read(Display::ALL).await;
    assert_eq!(all.value(incident::STATE), Some("1"));
    assert_eq!(all.display_value(incident::STATE), Some("New"));
}

#[tokio::test]
async fn rate_limits_carry_retry_after_when_the_instance_sends_it() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    let client = client(&sim, basic(), 100);
    sim.rate_limit(1, Some(Duration::from_secs(7)));
    let error = client
        .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(matches!(error, SnError::RateLimited { .. }), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    sim.rate_limit(1, None);
    let bare = client
        .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(bare.is_transient());
    assert_eq!(bare.retry_after(), None);
    assert!(
        client
            .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_failed_page_can_be_asked_for_again() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    for i in 0..3 {
        sim.create_incident(&new_incident(&format!("n{i}")))
            .unwrap();
    }
    let client = client(&sim, basic(), 2);
    let query = Query::new();
    let mut pager = client
        .pages(&INCIDENT, &query, &[incident::NUMBER], Display::VALUES)
        .unwrap();
    assert_eq!(pager.next_page().await.unwrap().unwrap().len(), 2);
    sim.rate_limit(1, Some(Duration::from_secs(1)));
    assert!(pager.next_page().await.is_err());
    assert_eq!(
        numbers(&pager.next_page().await.unwrap().unwrap()),
        ["INC0010003"]
    );
    assert!(pager.next_page().await.unwrap().is_none());
}

#[tokio::test]
async fn bad_credentials_say_what_to_check() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    let auth = Auth::Basic {
        user: INTEGRATION_USER.into(),
        password: Secret::new("wrong"),
    };
    let error = client(&sim, auth, 100)
        .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(matches!(error, SnError::Credentials));
    assert!(!error.is_transient());
    assert_eq!(
        error.to_string(),
        "ServiceNow refuses our credentials: check servicenow.user/password"
    );
    let oauth = Auth::OAuth {
        user: INTEGRATION_USER.into(),
        password: Secret::new(INTEGRATION_PASSWORD),
        client_id: OAUTH_CLIENT_ID.into(),
        client_secret: Secret::new("wrong"),
    };
    let error = client(&sim, oauth, 100)
        .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(matches!(error, SnError::OAuthRefused), "{error:?}");
}

#[tokio::test]
async fn oauth_refreshes_once_on_401() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    let client = client(&sim, oauth(), 100);
    let all = Query::new();
    let read = || client.get_records(&INCIDENT, &all, &[], Display::VALUES);
    read().await.unwrap();
    read().await.unwrap();
    assert_eq!(sim.oauth_grants(), ["password"]);
    sim.expire_tokens();
    read().await.unwrap();
    assert_eq!(sim.oauth_grants(), ["password", "refresh_token"]);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 401, 200, 200]);
}

#[tokio::test]
async fn oauth_refreshes_before_the_token_expires() {
    let sim = ServiceNowSim::start(SimConfig {
        oauth: Some(OAuthClient {
            client_id: OAUTH_CLIENT_ID.into(),
            client_secret: OAUTH_CLIENT_SECRET.into(),
            token_lifetime: Duration::from_secs(2),
        }),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = client(&sim, oauth(), 100);
    let all = Query::new();
    let read = || client.get_records(&INCIDENT, &all, &[], Display::VALUES);
    read().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    read().await.unwrap();
    assert_eq!(sim.oauth_grants(), ["password", "refresh_token"]);
    assert!(sim.requests().iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn writes_and_their_errors() {
    let sim = ServiceNowSim::start(SimConfig::demo()).await.unwrap();
    let client = client(&sim, basic(), 100);
    let mirror = TableDef::named(
        "u_hpe_part_order",
        &["sys_id", "sys_mod_count", "u_hpe_id", "u_status"],
    );
    let created = client
        .create_record(
            &mirror,
            &values(json!({"u_hpe_id": "PO-77", "u_status": "ordered"})),
            Display::VALUES,
        )
        .await
        .unwrap();
    assert_eq!(created.mod_count(), Some(0));
    let sys_id = created.sys_id().unwrap().to_owned();
    let patched = client
        .patch_record(
            &mirror,
            &sys_id,
            &values(json!({"u_status": "shipped"})),
            Display::VALUES,
        )
        .await
        .unwrap();
    assert_eq!(patched.value("u_status"), Some("shipped"));
    assert_eq!(patched.mod_count(), Some(1));

    let target = sim.records("incident").unwrap()[0].clone();
    let journaled = client
        .patch_record(
            &INCIDENT,
            target.sys_id(),
            &values(json!({"comments": "HPE case 5400000123 opened"})),
            Display::VALUES,
        )
        .await
        .unwrap();
    assert_eq!(journaled.value(incident::COMMENTS), Some(""));
    assert_eq!(journaled.mod_count(), Some(target.mod_count() + 1));
    let entries = client
        .get_records(
            &JOURNAL,
            &Query::new()
                .eq(journal::ELEMENT, "comments")
                .eq(journal::ELEMENT_ID, target.sys_id())
                .order_by_desc(journal::SYS_CREATED_ON),
            &[journal::VALUE, journal::SYS_CREATED_BY],
            Display::VALUES,
        )
        .await
        .unwrap();
    assert_eq!(
        entries.records[0].value(journal::VALUE),
        Some("HPE case 5400000123 opened")
    );
    assert_eq!(
        entries.records[0].value(journal::SYS_CREATED_BY),
        Some(INTEGRATION_USER)
    );

    let refused = client
        .patch_record(
            &INCIDENT,
            target.sys_id(),
            &values(json!({"state": "6"})),
            Display::VALUES,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, SnError::Forbidden { message, .. } if message == "Operation Failed"),
        "{refused:?}"
    );
    let missing = client
        .get_record(
            &INCIDENT,
            "0123456789abcdef0123456789abcdef",
            &[],
            Display::VALUES,
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, SnError::NotFound { .. }), "{missing:?}");
    let no_table = TableDef::named("u_not_there", &["sys_id"]);
    let bad = client
        .get_records(&no_table, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, SnError::BadRequest { message, .. } if message == "Invalid table u_not_there"),
        "{bad:?}"
    );
}

#[tokio::test]
async fn unknown_fields_never_reach_the_instance() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    let client = client(&sim, basic(), 100);
    let query = Query::new().eq(journal::ELEMENT, "comments");
    let error = client
        .get_records(&INCIDENT, &query, &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(matches!(&error, SnError::UnknownField { field, .. } if field == "element"));
    let error = client
        .create_record(
            &INCIDENT,
            &values(json!({"short_descriptoin": "typo"})),
            Display::VALUES,
        )
        .await
        .unwrap_err();
    assert!(matches!(&error, SnError::UnknownField { field, .. } if field == "short_descriptoin"));
    assert!(sim.requests().is_empty());
}

#[tokio::test]
async fn outages_are_transient_errors() {
    let sim = ServiceNowSim::start(SimConfig::default()).await.unwrap();
    let client = client(&sim, basic(), 100);
    sim.set_outage(Outage::Unavailable503);
    let error = client
        .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(
        matches!(error, SnError::Status { status: 503, .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    sim.set_outage(Outage::Refuse);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = client
        .get_records(&INCIDENT, &Query::new(), &[], Display::VALUES)
        .await
        .unwrap_err();
    assert!(matches!(error, SnError::Transport { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn speaks_https_to_a_private_ca() {
    casebridge::tls::install_crypto_provider();
    let pki = TestPki::generate("casebridge").unwrap();
    let tls = server_config(&pki.server, &ClientAuth::None).unwrap();
    let sim = ServiceNowSim::start(SimConfig {
        tls: Some(Arc::new(tls)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let options = ClientOptions {
        tls_roots: TlsRoots::Only(pki.ca.cert().cert_pem().as_bytes().to_vec()),
        ..ClientOptions::default()
    };
    let client = TableClient::new(sim.base_url(), basic(), options).unwrap();
    let users = client
        .get_records(
            &casebridge::servicenow::USER,
            &Query::new(),
            &[],
            Display::VALUES,
        )
        .await
        .unwrap();
    assert_eq!(users.records.len(), 6);
}
