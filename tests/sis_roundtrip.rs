#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Text is any Unicode and JSON escaping the only escaping (gsem.md §2):
//! what we build, written as JSON and read back, is byte for byte what went
//! in.

use casebridge::sis::{
    ActivityTable, CaseRef, DecodeError, Destination, Envelope, InboundError, MessageBuilder,
    Person, Requester, ServiceRequestInput, date, parse_inbound,
};
use proptest::prelude::*;

const MAX_BYTES: usize = 64 * 1024;

fn builder() -> MessageBuilder {
    MessageBuilder::new(
        Destination {
            remote_agent_name: "SFDC_Train_REST_P042".into(),
            remote_agent_type: "CUSTOMER".into(),
        },
        ActivityTable::default(),
    )
}

fn now() -> chrono::DateTime<chrono::Utc> {
    date::parse("2024-04-29 04:52:40").unwrap()
}

fn service_request(title: &str, description: &str) -> ServiceRequestInput {
    ServiceRequestInput {
        requester_id: "INC0097539".into(),
        severity: "MAJOR".into(),
        requester: Requester {
            person: Person {
                last_name: "Gann".into(),
                phone: "5104866821".into(),
                ..Person::default()
            },
            ..Requester::default()
        },
        contract: "2155240525".into(),
        serial: "5UF044F7CY".into(),
        tracking_number: "INC0097539_1".into(),
        title: title.into(),
        description: description.into(),
    }
}

/// Builds a SERVICE REQUEST, writes it, reads it back: (title, description).
fn round_trip_problem(title: &str, description: &str) -> (String, String) {
    let bytes = builder()
        .service_request(&service_request(title, description), now())
        .unwrap()
        .to_json()
        .unwrap();
    let read = Envelope::from_json(&bytes).unwrap();
    let problem = read.message.service_incident.unwrap().problem.unwrap();
    (
        problem.text_of("TITLE").unwrap().to_owned(),
        problem.text_of("DESCRIPTION").unwrap().to_owned(),
    )
}

/// Builds our note, writes it, reads it as an inbound message.
fn round_trip_note(note: &str) -> String {
    let case = CaseRef {
        requester_id: "INC0097539".into(),
        provider_id: Some("5381923377".into()),
    };
    let bytes = builder()
        .provide_problem_information(&case, note, now())
        .unwrap()
        .to_json()
        .unwrap();
    parse_inbound(&bytes).unwrap().comment().unwrap().to_owned()
}

/// Any Unicode, at most `MAX_BYTES` of UTF-8.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..MAX_BYTES).prop_map(|chars| {
        let mut text = String::new();
        for c in chars {
            if text.len() + c.len_utf8() > MAX_BYTES {
                break;
            }
            text.push(c);
        }
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_title_and_description_survive(title in text(), description in text()) {
        let (read_title, read_description) = round_trip_problem(&title, &description);
        prop_assert_eq!(read_title.as_bytes(), title.as_bytes());
        prop_assert_eq!(read_description.as_bytes(), description.as_bytes());
    }
}

/// `len` bytes of the characters the spec names: NUL, quotes, backslashes,
/// CRLF, tabs, emoji (with joiners and flags), RTL text and marks.
fn hostile(len: usize) -> String {
    let pattern =
        "\u{0}\"'\\\\\"\r\n\t😀👩‍👩‍👧🇺🇸 שלום עולם \u{202E}مرحبا\u{202C} \\u0000 \u{7f}\u{feff}";
    let mut text = String::with_capacity(len);
    'fill: loop {
        for c in pattern.chars() {
            if text.len() + c.len_utf8() > len {
                break 'fill;
            }
            text.push(c);
        }
    }
    while text.len() < len {
        text.push('x');
    }
    text
}

#[test]
fn a_4_kib_title_and_a_1_mib_description_survive() {
    let title = hostile(4 * 1024);
    let description = hostile(1024 * 1024);
    assert_eq!((title.len(), description.len()), (4096, 1_048_576));
    let (read_title, read_description) = round_trip_problem(&title, &description);
    assert!(read_title.as_bytes() == title.as_bytes());
    assert!(read_description.as_bytes() == description.as_bytes());
}

#[test]
fn a_1_mib_note_survives_the_inbound_parser() {
    let note = hostile(1024 * 1024);
    assert!(round_trip_note(&note).as_bytes() == note.as_bytes());
}

#[test]
fn nul_is_escaped_not_written_raw() {
    let bytes = builder()
        .service_request(&service_request("a\u{0}b", "c"), now())
        .unwrap()
        .to_json()
        .unwrap();
    assert!(!bytes.contains(&0));
    assert!(String::from_utf8(bytes).unwrap().contains(r#""a\u0000b""#));
}

#[test]
fn ten_thousand_levels_of_nesting_are_an_error_not_a_crash() {
    let depth = 10_000;
    let nested = format!(
        r#"{{"Message": {{"TransactionName": "QUERY INCIDENT", "SERVICE_INCIDENT": {{"Extra": {}0{}}}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    match parse_inbound(nested.as_bytes()) {
        Err(InboundError::Decode(DecodeError::NotJson(reason))) => {
            assert!(reason.starts_with("recursion limit exceeded"), "{reason}");
        }
        other => panic!("expected a recursion error, got {other:?}"),
    }
}
