#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The update parser never panics and never loses text, on arbitrary input
//! and on input built from fragments of record lines.

use std::sync::OnceLock;

use casebridge::updates::{Origin, Parsed, Rules, UpdateInput, parse_update};
use proptest::prelude::*;

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules::shipped().unwrap())
}

/// The invariant documented on `Parsed`: record spans are disjoint and in
/// bounds, each record's raw text is its span, and the comment without the
/// spans is the remainder; structured not-understood text is in the note.
fn assert_nothing_lost(comment: &str, parsed: &Parsed) -> Result<(), TestCaseError> {
    let mut remainder = String::new();
    let mut at = 0;
    for span in parsed.record_spans() {
        prop_assert!(
            span.start >= at && span.end <= comment.len() && span.start < span.end,
            "bad span {span:?}"
        );
        remainder.push_str(&comment[at..span.start]);
        at = span.end;
    }
    remainder.push_str(&comment[at..]);
    prop_assert_eq!(&remainder, &parsed.remainder);
    let raws = parsed
        .tasks
        .iter()
        .map(|t| (&t.origin, &t.raw))
        .chain(parsed.parts.iter().map(|p| (&p.origin, &p.raw)));
    for (origin, raw) in raws {
        if let Origin::Text { span } = origin {
            prop_assert_eq!(&comment[span.clone()], raw.as_str());
        }
    }
    let note = parsed.note().unwrap_or_default();
    if !parsed.remainder.trim().is_empty() {
        prop_assert!(note.starts_with(&parsed.remainder));
    }
    for item in &parsed.not_understood {
        prop_assert!(
            note.contains(&item.text),
            "not-understood text missing from the note: {:?}",
            item.text
        );
    }
    Ok(())
}

const FRAGMENTS: &[&str] = &[
    "ONSITE TASK",
    "onsite task",
    "ONSITETASK",
    "PART ORDER",
    "part  order",
    "PARTORDER",
    " WO-4417",
    " wo-1",
    " 7730021",
    " #",
    ":",
    " STATUS",
    "STATUS:",
    " SHIPPED",
    " ENGINEER ON SITE",
    " BACK ORDERED",
    " ETA",
    " 2024-04-30",
    " 2024-04-30 18:00 UTC",
    "T18:00Z",
    " PN P05591-001",
    " (HDR200 NIC)",
    "(",
    ")",
    " QTY 2",
    " QTY",
    " CARRIER FEDEX",
    " CARRIER",
    " TRACKING 771234567890",
    " RETURN REQUIRED",
    " Y",
    " RETURNED",
    " AWAITING PICKUP",
    " DESCRIPTION",
    " SCHEDULED START",
    " COMPLETED AT",
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    ",",
    ";",
    "é",
    "👋",
    "\u{202e}",
    "\u{0}",
    "Thanks",
    " ???",
    "-",
    ".",
];

fn fragment_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|parts| parts.concat())
}

const KEYS: &[&str] = &[
    "eCPExtMessage_EXT_TASK_TaskID",
    "eCPExtMessage_EXT_TASK_TaskStatus",
    "eCPExtMessage_EXT_TASK_EngineerETA",
    "eCPExtMessage_EXT_PART_OrderID",
    "eCPExtMessage_EXT_PART_Quantity",
    "eCPExtMessage_EXT_PART_ReturnRequired",
    "eCPExtMessage_EXT_PART_ReturnStatus",
    "eCPExtMessage_EXT_PART_ETA",
    "eCPExtMessage_InfoRequested",
    "other",
];

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop::sample::select(KEYS).prop_map(str::to_string),
            prop_oneof![any::<String>(), fragment_text()],
        ),
        0..8,
    )
}

fn action_log() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("Onsite Task Update".to_string())),
        Just(Some("part order update".to_string())),
        Just(Some("Note".to_string())),
        any::<String>().prop_map(Some),
    ]
}

fn check(
    log: Option<String>,
    pairs: Vec<(String, String)>,
    comment: Option<String>,
) -> Result<(), TestCaseError> {
    let input = UpdateInput {
        action_log: log.as_deref(),
        pairs: &pairs,
        comment: comment.as_deref(),
    };
    let parsed = parse_update(&input, rules());
    assert_nothing_lost(comment.as_deref().unwrap_or(""), &parsed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_unicode_comment(comment in any::<String>()) {
        check(None, Vec::new(), Some(comment))?;
    }

    #[test]
    fn comment_from_record_fragments(comment in fragment_text()) {
        check(None, Vec::new(), Some(comment))?;
    }

    #[test]
    fn arbitrary_structured_and_text(log in action_log(), pairs in pairs(), comment in prop::option::of(fragment_text())) {
        check(log, pairs, comment)?;
    }

    /// Lines are read one by one: a valid record line next to arbitrary
    /// lines always comes out as a record whose raw text is that line.
    #[test]
    fn record_line_survives_human_neighbours(before in "[^\r\n]{0,40}", after in "[^\r\n]{0,40}") {
        let line = "PART ORDER 7730021 STATUS SHIPPED CARRIER FEDEX";
        let comment = format!("{before}\n{line}\n{after}");
        let parsed = parse_update(&UpdateInput { comment: Some(&comment), ..Default::default() }, rules());
        assert_nothing_lost(&comment, &parsed)?;
        let expected = format!("{line}\n");
        prop_assert!(parsed.parts.iter().any(|p| p.raw == expected && p.order_id == "7730021"));
    }
}
