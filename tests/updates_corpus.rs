#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The update corpus: every sample and variants of every rule, each case
//! asserting the exact records produced and the exact note left.
//!
//! A case's expectation is one line per record or not-understood item, in a
//! compact form built by destructuring every field (so a new field cannot be
//! silently left unchecked), plus the exact note.

use casebridge::updates::{
    DateValue, NotUnderstood, NotUnderstoodReason, Origin, Parsed, PartUpdate, Rules, TaskUpdate,
    UpdateDate, UpdateInput, Word, parse_update,
};

fn date(d: &Option<UpdateDate>) -> Option<String> {
    d.as_ref().map(|d| {
        let shown = match d.value {
            DateValue::DateTime { .. } => format!("T:{}", d.canonical()),
            DateValue::Date(_) => format!("D:{}", d.canonical()),
            DateValue::Unparsed => return format!("?<{}>", d.raw),
        };
        if d.canonical() == d.raw {
            shown
        } else {
            format!("{shown}<{}>", d.raw)
        }
    })
}

fn word<C: casebridge::updates::Canonical>(w: &Option<Word<C>>) -> Option<String> {
    w.as_ref().map(|w| match &w.canonical {
        Some(_) if w.name() == w.raw => w.raw.clone(),
        Some(_) => format!("{}>{}", w.raw, w.name()),
        None => format!("{}>?", w.raw),
    })
}

fn origin(o: &Origin) -> String {
    match o {
        Origin::Structured => "pairs".to_string(),
        Origin::Text { span } => format!("@{}..{}", span.start, span.end),
    }
}

fn push(out: &mut Vec<String>, name: &str, value: Option<String>) {
    if let Some(v) = value {
        out.push(format!("{name}={v}"));
    }
}

fn describe_task(t: &TaskUpdate) -> String {
    let TaskUpdate {
        task_id,
        status,
        scheduled_start,
        engineer_eta,
        description,
        completed,
        origin: o,
        raw: _,
        warnings,
    } = t;
    let mut out = vec![format!("task {task_id} {}", origin(o))];
    push(&mut out, "status", word(status));
    push(&mut out, "start", date(scheduled_start));
    push(&mut out, "eta", date(engineer_eta));
    push(&mut out, "desc", description.clone());
    push(&mut out, "done", date(completed));
    push(
        &mut out,
        "warn",
        (!warnings.is_empty()).then(|| warnings.join("; ")),
    );
    out.join(" | ")
}

fn describe_part(p: &PartUpdate) -> String {
    let PartUpdate {
        order_id,
        part_number,
        description,
        quantity,
        status,
        carrier,
        tracking,
        eta,
        return_required,
        return_status,
        origin: o,
        raw: _,
        warnings,
    } = p;
    let mut out = vec![format!("part {order_id} {}", origin(o))];
    push(&mut out, "pn", part_number.clone());
    push(&mut out, "desc", description.clone());
    push(&mut out, "qty", quantity.map(|q| q.to_string()));
    push(&mut out, "status", word(status));
    push(&mut out, "carrier", word(carrier));
    push(&mut out, "tracking", tracking.clone());
    push(&mut out, "eta", date(eta));
    push(
        &mut out,
        "return",
        return_required.map(|r| if r { "Y".to_string() } else { "N".to_string() }),
    );
    push(&mut out, "returned", word(return_status));
    push(
        &mut out,
        "warn",
        (!warnings.is_empty()).then(|| warnings.join("; ")),
    );
    out.join(" | ")
}

fn describe_not_understood(n: &NotUnderstood) -> String {
    let reason = match &n.reason {
        NotUnderstoodReason::MissingId { kind } => format!("missing id ({})", kind.as_str()),
        NotUnderstoodReason::NoTags { kind, id } => format!("no tags ({} {id})", kind.as_str()),
        NotUnderstoodReason::UnexpectedText { kind, id, text } => {
            format!("unexpected `{text}` ({} {id})", kind.as_str())
        }
    };
    format!("? {} {reason}: {:?}", origin(&n.origin), n.text)
}

fn describe(p: &Parsed) -> Vec<String> {
    p.tasks
        .iter()
        .map(describe_task)
        .chain(p.parts.iter().map(describe_part))
        .chain(p.not_understood.iter().map(describe_not_understood))
        .collect()
}

/// The text invariant of `Parsed`, checked on every case.
fn check_text_invariant(comment: Option<&str>, p: &Parsed) {
    let comment = comment.unwrap_or("");
    let mut rebuilt_remainder = String::new();
    let mut at = 0;
    for span in p.record_spans() {
        assert!(span.start >= at, "spans overlap: {:?}", p.record_spans());
        rebuilt_remainder.push_str(&comment[at..span.start]);
        at = span.end;
    }
    rebuilt_remainder.push_str(&comment[at..]);
    assert_eq!(rebuilt_remainder, p.remainder);
    for (o, raw) in p
        .tasks
        .iter()
        .map(|t| (&t.origin, &t.raw))
        .chain(p.parts.iter().map(|p| (&p.origin, &p.raw)))
    {
        if let Origin::Text { span } = o {
            assert_eq!(&comment[span.clone()], raw);
        }
    }
    for n in &p.not_understood {
        if let Origin::Text { span } = &n.origin {
            assert_eq!(comment[span.clone()].trim_end_matches(['\r', '\n']), n.text);
            assert!(p.remainder.contains(&n.text));
        }
    }
}

struct Case {
    name: &'static str,
    log: Option<&'static str>,
    pairs: &'static [(&'static str, &'static str)],
    comment: Option<&'static str>,
    site: Option<&'static str>,
    want: &'static [&'static str],
    note: Option<&'static str>,
}

const fn text(
    name: &'static str,
    comment: &'static str,
    want: &'static [&'static str],
    note: Option<&'static str>,
) -> Case {
    Case {
        name,
        log: None,
        pairs: &[],
        comment: Some(comment),
        site: None,
        want,
        note,
    }
}

const fn pairs(
    name: &'static str,
    log: &'static str,
    pairs: &'static [(&'static str, &'static str)],
    want: &'static [&'static str],
    note: Option<&'static str>,
) -> Case {
    Case {
        name,
        log: Some(log),
        pairs,
        comment: None,
        site: None,
        want,
        note,
    }
}

const fn site(
    name: &'static str,
    site: &'static str,
    comment: &'static str,
    want: &'static [&'static str],
) -> Case {
    Case {
        name,
        log: None,
        pairs: &[],
        comment: Some(comment),
        site: Some(site),
        want,
        note: None,
    }
}

fn run(case: &Case) -> Parsed {
    let rules = match case.site {
        None => Rules::shipped().unwrap(),
        Some(toml) => Rules::shipped_with(toml, "site.toml").unwrap(),
    };
    let owned: Vec<(String, String)> = case
        .pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let input = UpdateInput {
        action_log: case.log,
        pairs: &owned,
        comment: case.comment,
    };
    parse_update(&input, &rules)
}

#[test]
fn corpus() {
    let mut failures = Vec::new();
    for case in CASES {
        let parsed = run(case);
        check_text_invariant(case.comment, &parsed);
        let got = describe(&parsed);
        let note = parsed.note();
        if got != case.want || note.as_deref() != case.note {
            failures.push(format!(
                "case `{}`:\n  want {:#?}\n  got  {:#?}\n  note want {:?}\n  note got  {:?}",
                case.name, case.want, got, case.note, note
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    assert!(
        CASES.len() + SAMPLES.len() >= 60,
        "the corpus must hold at least 60 cases"
    );
}

// ---- the samples ---------------------------------------------------------------

const SAMPLES: &[(&str, &[&str], Option<&str>)] = &[
    (
        "04-onsite-task-structured.json",
        &[
            "task WO-4417 pairs | status=DISPATCHED>dispatched | start=T:2024-04-29 14:00:00 | eta=T:2024-04-29 13:45:00 | desc=Replace HSN switch blade in c3s2",
        ],
        None,
    ),
    (
        "05-part-order-text.json",
        &[
            "part 7730021 @0..117 | pn=P05591-001 | desc=HDR200 NIC | qty=2 | status=SHIPPED>shipped | carrier=FEDEX | tracking=771234567890 | eta=D:2024-04-30",
        ],
        None,
    ),
    (
        "08-part-order-structured.json",
        &[
            "part 7730021 pairs | pn=P05591-001 | desc=HDR200 NIC | qty=2 | status=DELIVERED>delivered | carrier=FEDEX | tracking=771234567890 | return=Y | returned=AWAITING PICKUP>?",
        ],
        None,
    ),
    (
        "09-onsite-task-text.json",
        &[
            "task WO-4417 @44..114 | status=ENGINEER ON SITE>onsite | eta=T:2024-04-30 18:00<2024-04-30 18:00 UTC>",
        ],
        Some("Engineer will badge in at the loading dock.\n"),
    ),
    (
        "03-note-from-hpe.json",
        &[],
        Some(
            "Please attach the output of \"sudo fmn status --details\" from x1000c3s2b0.\r\nThanks — HPE support",
        ),
    ),
];

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

#[test]
fn samples() {
    let rules = Rules::shipped().unwrap();
    for (file, want, note) in SAMPLES {
        let (log, pairs, comment) = sample_input(file);
        let input = UpdateInput {
            action_log: log.as_deref(),
            pairs: &pairs,
            comment: comment.as_deref(),
        };
        let parsed = parse_update(&input, &rules);
        check_text_invariant(comment.as_deref(), &parsed);
        assert_eq!(describe(&parsed), *want, "{file}");
        assert_eq!(parsed.note().as_deref(), *note, "{file}");
    }
}

#[test]
fn structured_raw_is_the_pairs_read() {
    let (log, pairs, _) = sample_input("08-part-order-structured.json");
    let input = UpdateInput {
        action_log: log.as_deref(),
        pairs: &pairs,
        comment: None,
    };
    let parsed = parse_update(&input, &Rules::shipped().unwrap());
    assert_eq!(
        parsed.parts[0].raw,
        "eCPExtMessage_EXT_PART_OrderID=7730021\neCPExtMessage_EXT_PART_PartNumber=P05591-001\n\
         eCPExtMessage_EXT_PART_PartDescription=HDR200 NIC\neCPExtMessage_EXT_PART_Quantity=2\n\
         eCPExtMessage_EXT_PART_Status=DELIVERED\neCPExtMessage_EXT_PART_Carrier=FEDEX\n\
         eCPExtMessage_EXT_PART_TrackingNumber=771234567890\neCPExtMessage_EXT_PART_ReturnRequired=Y\n\
         eCPExtMessage_EXT_PART_ReturnStatus=AWAITING PICKUP"
    );
}

/// A site that knows AWAITING PICKUP: sample 08's return status becomes known.
#[test]
fn site_word_makes_sample_08_known() {
    let rules = Rules::shipped_with(
        "[return.status]\npending = [\"AWAITING PICKUP\"]\n",
        "site.toml",
    )
    .unwrap();
    let (log, pairs, _) = sample_input("08-part-order-structured.json");
    let input = UpdateInput {
        action_log: log.as_deref(),
        pairs: &pairs,
        comment: None,
    };
    let parsed = parse_update(&input, &rules);
    assert_eq!(
        describe(&parsed),
        [
            "part 7730021 pairs | pn=P05591-001 | desc=HDR200 NIC | qty=2 | status=DELIVERED>delivered | carrier=FEDEX | tracking=771234567890 | return=Y | returned=AWAITING PICKUP>pending"
        ]
    );
}

#[test]
fn not_understood_are_counted() {
    let comment = "ONSITE TASK\nPART ORDER ???\nPART ORDER 5 arriving soon\nPART ORDER 6 STATUS SHIPPED\nthanks";
    let parsed = parse_update(
        &UpdateInput {
            comment: Some(comment),
            ..Default::default()
        },
        &Rules::shipped().unwrap(),
    );
    assert_eq!(parsed.not_understood.len(), 3);
    assert_eq!(parsed.parts.len(), 1);
    assert_eq!(
        parsed.note().as_deref(),
        Some("ONSITE TASK\nPART ORDER ???\nPART ORDER 5 arriving soon\nthanks")
    );
}

// ---- the cases -----------------------------------------------------------------

const SITE_WORDS: &str = "[status.task]\nonsite = [\"TECH ARRIVED\"]\n[status.part]\nshipped = [\"HANDED TO CARRIER\"]\n";
const SITE_CARRIER: &str = "[carriers]\nPUROLATOR = [\"PURO\"]\n";
const SITE_REWORDED: &str =
    "[text.part]\nkeyword = 'PART\\s*ORDER|SHIPMENT'\n[text.part.tags]\ncarrier = 'CARRIER|VIA'\n";

const CASES: &[Case] = &[
    // -- task lines: case, spacing, order, colons, missing fields
    text(
        "task lower case",
        "onsite task wo-4417 status: engineer on site eta: 2024-04-30 18:00 utc",
        &[
            "task WO-4417 @0..70 | status=engineer on site>onsite | eta=T:2024-04-30 18:00<2024-04-30 18:00 utc>",
        ],
        None,
    ),
    text(
        "task extra spaces",
        "   ONSITE   TASK   WO-4417   STATUS :  DISPATCHED    ETA :  2024-04-29 13:45   ",
        &["task WO-4417 @0..79 | status=DISPATCHED>dispatched | eta=T:2024-04-29 13:45"],
        None,
    ),
    text(
        "task missing spaces",
        "ONSITETASK WO-4417 STATUS:DISPATCHED ETA:2024-04-29T13:45Z",
        &[
            "task WO-4417 @0..58 | status=DISPATCHED>dispatched | eta=T:2024-04-29 13:45<2024-04-29T13:45Z>",
        ],
        None,
    ),
    text(
        "task tags reordered",
        "ONSITE TASK WO-4417 ETA 2024-04-29 13:45:00 STATUS DISPATCHED",
        &["task WO-4417 @0..61 | status=DISPATCHED>dispatched | eta=T:2024-04-29 13:45:00"],
        None,
    ),
    text(
        "task no colons, no eta",
        "ONSITE TASK WO-4417 STATUS WORK COMPLETE",
        &["task WO-4417 @0..40 | status=WORK COMPLETE>complete"],
        None,
    ),
    text(
        "task status only, mixed case words",
        "Onsite Task WO-4417 Status: Work Completed",
        &["task WO-4417 @0..42 | status=Work Completed>complete"],
        None,
    ),
    text(
        "task canceled (US spelling)",
        "ONSITE TASK WO-9 STATUS CANCELED",
        &["task WO-9 @0..32 | status=CANCELED>cancelled"],
        None,
    ),
    text(
        "task cancelled (UK spelling)",
        "ONSITE TASK WO-9 STATUS: CANCELLED",
        &["task WO-9 @0..34 | status=CANCELLED>cancelled"],
        None,
    ),
    text(
        "task unknown status kept verbatim",
        "ONSITE TASK WO-4417 STATUS: WAITING FOR CUSTOMER ACCESS",
        &["task WO-4417 @0..55 | status=WAITING FOR CUSTOMER ACCESS>?"],
        None,
    ),
    text(
        "task status word that is also a tag prefix",
        "ONSITE TASK WO-5 STATUS SCHEDULED SCHEDULED START 2024-05-02 08:00 DESCRIPTION Replace DIMM in c1s4",
        &[
            "task WO-5 @0..99 | status=SCHEDULED>scheduled | start=T:2024-05-02 08:00 | desc=Replace DIMM in c1s4",
        ],
        None,
    ),
    text(
        "task completed with completion time",
        "ONSITE TASK WO-5 STATUS COMPLETED COMPLETED AT 2024-05-02 11:30:00Z",
        &[
            "task WO-5 @0..67 | status=COMPLETED>complete | done=T:2024-05-02 11:30:00<2024-05-02 11:30:00Z>",
        ],
        None,
    ),
    text(
        "task engineer eta spelled out",
        "ONSITE TASK WO-5 ENGINEER ETA: 2024-05-02 07:45 STATUS: EN ROUTE",
        &["task WO-5 @0..64 | status=EN ROUTE>dispatched | eta=T:2024-05-02 07:45"],
        None,
    ),
    text(
        "task date-only eta",
        "ONSITE TASK WO-5 STATUS SCHEDULED ETA 2024-05-02",
        &["task WO-5 @0..48 | status=SCHEDULED>scheduled | eta=D:2024-05-02"],
        None,
    ),
    text(
        "task unparseable eta keeps the record",
        "ONSITE TASK WO-5 STATUS DISPATCHED ETA: tomorrow morning",
        &["task WO-5 @0..56 | status=DISPATCHED>dispatched | eta=?<tomorrow morning>"],
        None,
    ),
    text(
        "task eta with offset and slashes",
        "ONSITE TASK WO-5 ETA 2024/05/02 09:45+02:00 STATUS DISPATCHED",
        &[
            "task WO-5 @0..61 | status=DISPATCHED>dispatched | eta=T:2024-05-02 07:45<2024/05/02 09:45+02:00>",
        ],
        None,
    ),
    text(
        "task eta with seconds and Z",
        "ONSITE TASK WO-5 STATUS ONSITE ETA 2024-05-02T07:45:30Z",
        &[
            "task WO-5 @0..55 | status=ONSITE>onsite | eta=T:2024-05-02 07:45:30<2024-05-02T07:45:30Z>",
        ],
        None,
    ),
    text(
        "task id after a colon and a hash",
        "ONSITE TASK: #WO-5 STATUS: DISPATCHED",
        &["task WO-5 @0..37 | status=DISPATCHED>dispatched"],
        None,
    ),
    text(
        "task empty status value is a missing field",
        "ONSITE TASK WO-5 STATUS: ETA 2024-05-02 07:45",
        &["task WO-5 @0..45 | eta=T:2024-05-02 07:45"],
        None,
    ),
    // -- part lines
    text(
        "part lower case sample 05",
        "part order 7730021 pn p05591-001 (hdr200 nic) qty 2 status shipped carrier fedex tracking 771234567890 eta 2024-04-30",
        &[
            "part 7730021 @0..117 | pn=p05591-001 | desc=hdr200 nic | qty=2 | status=shipped | carrier=fedex>FEDEX | tracking=771234567890 | eta=D:2024-04-30",
        ],
        None,
    ),
    text(
        "part tags reordered with colons",
        "PART ORDER 7730021 STATUS: SHIPPED TRACKING: 771234567890 CARRIER: FedEx PN: P05591-001 QTY: 2",
        &[
            "part 7730021 @0..94 | pn=P05591-001 | qty=2 | status=SHIPPED>shipped | carrier=FedEx>FEDEX | tracking=771234567890",
        ],
        None,
    ),
    text(
        "part commas between tags",
        "PART ORDER 7730021, STATUS: SHIPPED, CARRIER: UPS, TRACKING: 1Z999AA10123456784",
        &[
            "part 7730021 @0..79 | status=SHIPPED>shipped | carrier=UPS | tracking=1Z999AA10123456784",
        ],
        None,
    ),
    text(
        "part missing spaces",
        "PARTORDER 7730021 STATUS:SHIPPED QTY:3 CARRIER:DHL",
        &["part 7730021 @0..50 | qty=3 | status=SHIPPED>shipped | carrier=DHL"],
        None,
    ),
    text(
        "part status only",
        "PART ORDER 7730021 STATUS ORDERED",
        &["part 7730021 @0..33 | status=ORDERED>ordered"],
        None,
    ),
    text(
        "part back ordered, two words",
        "PART ORDER 7730022 PN P11111-B21 STATUS BACK ORDERED ETA 2024-05-06",
        &[
            "part 7730022 @0..67 | pn=P11111-B21 | status=BACK ORDERED>backordered | eta=D:2024-05-06",
        ],
        None,
    ),
    text(
        "part backorder, one word",
        "PART ORDER 7730022 STATUS BACKORDER",
        &["part 7730022 @0..35 | status=BACKORDER>backordered"],
        None,
    ),
    text(
        "part back-ordered, hyphen",
        "PART ORDER 7730022 STATUS: Back-Ordered",
        &["part 7730022 @0..39 | status=Back-Ordered>backordered"],
        None,
    ),
    text(
        "part carrier alias",
        "PART ORDER 7730021 STATUS SHIPPED CARRIER Federal Express TRACKING 771234567890",
        &[
            "part 7730021 @0..79 | status=SHIPPED>shipped | carrier=Federal Express>FEDEX | tracking=771234567890",
        ],
        None,
    ),
    text(
        "part unknown carrier kept verbatim",
        "PART ORDER 7730021 STATUS SHIPPED CARRIER Purolator",
        &["part 7730021 @0..51 | status=SHIPPED>shipped | carrier=Purolator>?"],
        None,
    ),
    text(
        "part unknown status kept verbatim",
        "PART ORDER 7730021 STATUS LOST IN TRANSIT",
        &["part 7730021 @0..41 | status=LOST IN TRANSIT>?"],
        None,
    ),
    text(
        "part return required and returned",
        "PART ORDER 7730021 STATUS DELIVERED RETURN REQUIRED: Y RETURNED: AWAITING PICKUP",
        &[
            "part 7730021 @0..80 | status=DELIVERED>delivered | return=Y | returned=AWAITING PICKUP>?",
        ],
        None,
    ),
    text(
        "part bare return required",
        "PART ORDER 7730021 STATUS DELIVERED RETURN REQUIRED",
        &["part 7730021 @0..51 | status=DELIVERED>delivered | return=Y"],
        None,
    ),
    text(
        "part return not required",
        "PART ORDER 7730021 STATUS DELIVERED RETURN REQUIRED N",
        &["part 7730021 @0..53 | status=DELIVERED>delivered | return=N"],
        None,
    ),
    text(
        "part bare returned",
        "PART ORDER 7730021 RETURNED",
        &["part 7730021 @0..27 | returned=RETURNED>returned"],
        None,
    ),
    text(
        "part returned with a known word",
        "PART ORDER 7730021 RETURNED: received by HPE",
        &["part 7730021 @0..44 | returned=received by HPE>returned"],
        None,
    ),
    text(
        "part return answer not understood",
        "PART ORDER 7730021 STATUS DELIVERED RETURN REQUIRED: maybe",
        &[
            "part 7730021 @0..58 | status=DELIVERED>delivered | warn=return required `maybe` is neither yes nor no",
        ],
        None,
    ),
    text(
        "part quantity not a number",
        "PART ORDER 7730021 PN P05591-001 QTY two STATUS ORDERED",
        &[
            "part 7730021 @0..55 | pn=P05591-001 | status=ORDERED>ordered | warn=quantity `two` is not a whole number",
        ],
        None,
    ),
    text(
        "part description with a tag word inside the parentheses",
        "PART ORDER 7730021 PN P05591-001 (HDR200 NIC, ETA board) STATUS ORDERED",
        &[
            "part 7730021 @0..71 | pn=P05591-001 | desc=HDR200 NIC, ETA board | status=ORDERED>ordered",
        ],
        None,
    ),
    text(
        "part id after hash",
        "PART ORDER #7730021 STATUS SHIPPED TRACKING # 771234567890",
        &["part 7730021 @0..58 | status=SHIPPED>shipped | tracking=771234567890"],
        None,
    ),
    text(
        "part tracking number spelled out",
        "PART ORDER: 7730021 TRACKING NUMBER: 771234567890 STATUS: DELIVERED",
        &["part 7730021 @0..67 | status=DELIVERED>delivered | tracking=771234567890"],
        None,
    ),
    text(
        "part empty status then carrier",
        "PART ORDER 7730021 STATUS: CARRIER UPS",
        &["part 7730021 @0..38 | carrier=UPS"],
        None,
    ),
    text(
        "part repeated tag: the later wins",
        "PART ORDER 7730021 STATUS SHIPPED STATUS DELIVERED",
        &["part 7730021 @0..50 | status=DELIVERED>delivered"],
        None,
    ),
    text(
        "part eta with seconds and UTC",
        "PART ORDER 7730021 STATUS SHIPPED ETA 2024-04-30 17:00:00 UTC",
        &[
            "part 7730021 @0..61 | status=SHIPPED>shipped | eta=T:2024-04-30 17:00:00<2024-04-30 17:00:00 UTC>",
        ],
        None,
    ),
    text(
        "part unparseable eta",
        "PART ORDER 7730021 STATUS BACKORDERED ETA: TBD",
        &["part 7730021 @0..46 | status=BACKORDERED>backordered | eta=?<TBD>"],
        None,
    ),
    text(
        "part P/N and QUANTITY spelled out",
        "PART ORDER 7730023 P/N 867055-B21 QUANTITY 1 STATUS ORDERED",
        &["part 7730023 @0..59 | pn=867055-B21 | qty=1 | status=ORDERED>ordered"],
        None,
    ),
    // -- several records, human text
    text(
        "two records on two lines with human text",
        "Hello team,\nPART ORDER 1 STATUS SHIPPED CARRIER UPS\nONSITE TASK WO-7 STATUS SCHEDULED\nRegards, HPE",
        &[
            "task WO-7 @52..86 | status=SCHEDULED>scheduled",
            "part 1 @12..52 | status=SHIPPED>shipped | carrier=UPS",
        ],
        Some("Hello team,\nRegards, HPE"),
    ),
    text(
        "two records on one line",
        "part order 1 status:shipped; PART ORDER 2 STATUS BACK ORDERED",
        &[
            "part 1 @0..29 | status=shipped",
            "part 2 @29..61 | status=BACK ORDERED>backordered",
        ],
        None,
    ),
    text(
        "task and part on one line",
        "ONSITE TASK WO-8 STATUS DISPATCHED PART ORDER 9 STATUS DELIVERED",
        &[
            "task WO-8 @0..35 | status=DISPATCHED>dispatched",
            "part 9 @35..64 | status=DELIVERED>delivered",
        ],
        None,
    ),
    text(
        "keyword inside a value stays words of the value",
        "ONSITE TASK WO-1 STATUS DISPATCHED DESCRIPTION bring the part order 7730021 paperwork",
        &[
            "task WO-1 @0..85 | status=DISPATCHED>dispatched | desc=bring the part order 7730021 paperwork",
        ],
        None,
    ),
    text(
        "CRLF lines",
        "Update below.\r\nPART ORDER 1 STATUS SHIPPED\r\nONSITE TASK WO-2 STATUS ONSITE\r\nBye\r\n",
        &[
            "task WO-2 @44..76 | status=ONSITE>onsite",
            "part 1 @15..44 | status=SHIPPED>shipped",
        ],
        Some("Update below.\r\nBye\r\n"),
    ),
    text(
        "blank lines around a record leave no note",
        "\n\nPART ORDER 1 STATUS SHIPPED\n\n",
        &["part 1 @2..30 | status=SHIPPED>shipped"],
        None,
    ),
    text(
        "indented record lines",
        "\tPART ORDER 1 STATUS SHIPPED\n    ONSITE TASK WO-3 STATUS DISPATCHED",
        &[
            "task WO-3 @29..67 | status=DISPATCHED>dispatched",
            "part 1 @0..29 | status=SHIPPED>shipped",
        ],
        None,
    ),
    text(
        "records, a line not understood and human text",
        "Status of your parts:\nPART ORDER 1 STATUS SHIPPED\nPART ORDER 2 will follow\nPART ORDER 3 STATUS ORDERED\n",
        &[
            "part 1 @22..50 | status=SHIPPED>shipped",
            "part 3 @75..103 | status=ORDERED>ordered",
            "? @50..75 no tags (part 2): \"PART ORDER 2 will follow\"",
        ],
        Some("Status of your parts:\nPART ORDER 2 will follow\n"),
    ),
    text(
        "good record then a bad one on the same line",
        "PART ORDER 1 STATUS SHIPPED PART ORDER ???",
        &["part 1 @0..42 | status=SHIPPED PART ORDER ???>?"],
        None,
    ),
    text(
        "keyword mid-sentence is human text",
        "We discussed the onsite task WO-4417 STATUS with the engineer yesterday.",
        &[],
        Some("We discussed the onsite task WO-4417 STATUS with the engineer yesterday."),
    ),
    // -- not understood and garbage
    text(
        "task keyword without id",
        "ONSITE TASK STATUS: DISPATCHED",
        &["? @0..30 missing id (task): \"ONSITE TASK STATUS: DISPATCHED\""],
        Some("ONSITE TASK STATUS: DISPATCHED"),
    ),
    text(
        "task id without tags",
        "ONSITE TASK WO-4417 has been rescheduled",
        &["? @0..40 no tags (task WO-4417): \"ONSITE TASK WO-4417 has been rescheduled\""],
        Some("ONSITE TASK WO-4417 has been rescheduled"),
    ),
    text(
        "words between id and tags",
        "ONSITE TASK WO-4417 will be late STATUS DISPATCHED\n",
        &[
            "? @0..51 unexpected `will be late` (task WO-4417): \"ONSITE TASK WO-4417 will be late STATUS DISPATCHED\"",
        ],
        Some("ONSITE TASK WO-4417 will be late STATUS DISPATCHED\n"),
    ),
    text(
        "part keyword alone",
        "PART ORDER",
        &["? @0..10 missing id (part): \"PART ORDER\""],
        Some("PART ORDER"),
    ),
    text(
        "part keyword with punctuation for an id",
        "Thanks\nPART ORDER ???\n",
        &["? @7..22 missing id (part): \"PART ORDER ???\""],
        Some("Thanks\nPART ORDER ???\n"),
    ),
    text("empty comment", "", &[], None),
    text("whitespace only comment", " \r\n\t\n", &[], None),
    text(
        "garbage",
        "%%%$$ @@@ \u{0} zzz ::: PART",
        &[],
        Some("%%%$$ @@@ \u{0} zzz ::: PART"),
    ),
    text(
        "emoji and RTL human text survive byte for byte",
        "שלום 👋 \u{202e}reversed\u{202c}\nONSITE TASK WO-1 STATUS ✅ DONE",
        &["task WO-1 @29..61 | status=✅ DONE>?"],
        Some("שלום 👋 \u{202e}reversed\u{202c}\n"),
    ),
    text(
        "word glued to the keyword is no record",
        "XPART ORDER 1 STATUS SHIPPED",
        &[],
        Some("XPART ORDER 1 STATUS SHIPPED"),
    ),
    // -- structured variants
    pairs(
        "structured lower-case keys and action log",
        "onsite task update",
        &[
            ("ecpextmessage_ext_task_taskid", "wo-4417"),
            ("ECPEXTMESSAGE_EXT_TASK_TASKSTATUS", "engineer on site"),
        ],
        &["task WO-4417 pairs | status=engineer on site>onsite"],
        None,
    ),
    pairs(
        "structured only id and status",
        "Part Order Update",
        &[
            ("eCPExtMessage_EXT_PART_OrderID", "7730021"),
            ("eCPExtMessage_EXT_PART_Status", "BACK ORDERED"),
        ],
        &["part 7730021 pairs | status=BACK ORDERED>backordered"],
        None,
    ),
    pairs(
        "structured unknown status",
        "Onsite Task Update",
        &[
            ("eCPExtMessage_EXT_TASK_TaskID", "WO-1"),
            ("eCPExtMessage_EXT_TASK_TaskStatus", "PARTS REQUIRED"),
        ],
        &["task WO-1 pairs | status=PARTS REQUIRED>?"],
        None,
    ),
    pairs(
        "structured without an id is not understood and kept as a note",
        "Part Order Update",
        &[
            ("eCPExtMessage_EXT_PART_Status", "SHIPPED"),
            ("eCPExtMessage_EXT_PART_Carrier", "UPS"),
        ],
        &[
            "? pairs missing id (part): \"ActionLog=Part Order Update\\neCPExtMessage_EXT_PART_Status=SHIPPED\\neCPExtMessage_EXT_PART_Carrier=UPS\"",
        ],
        Some(
            "ActionLog=Part Order Update\neCPExtMessage_EXT_PART_Status=SHIPPED\neCPExtMessage_EXT_PART_Carrier=UPS",
        ),
    ),
    pairs(
        "structured action log with no pairs at all",
        "Onsite Task Update",
        &[],
        &["? pairs missing id (task): \"ActionLog=Onsite Task Update\""],
        Some("ActionLog=Onsite Task Update"),
    ),
    pairs(
        "structured pairs under another action log",
        "Note",
        &[
            ("eCPExtMessage_EXT_PART_OrderID", "7730021"),
            ("eCPExtMessage_EXT_PART_Status", "SHIPPED"),
        ],
        &["part 7730021 pairs | status=SHIPPED>shipped"],
        None,
    ),
    pairs(
        "structured other extension pairs are not updates",
        "Note",
        &[("eCPExtMessage_InfoRequested", "Y")],
        &[],
        None,
    ),
    pairs(
        "structured return not required, quantity with spaces",
        "Part Order Update",
        &[
            ("eCPExtMessage_EXT_PART_OrderID", " 7730024 "),
            ("eCPExtMessage_EXT_PART_Quantity", " 4 "),
            ("eCPExtMessage_EXT_PART_ReturnRequired", "N"),
            ("eCPExtMessage_EXT_PART_ETA", "2024-05-01T12:00Z"),
        ],
        &["part 7730024 pairs | qty=4 | eta=T:2024-05-01 12:00<2024-05-01T12:00Z> | return=N"],
        None,
    ),
    pairs(
        "structured bad quantity and empty values",
        "Part Order Update",
        &[
            ("eCPExtMessage_EXT_PART_OrderID", "7730024"),
            ("eCPExtMessage_EXT_PART_Quantity", "-1"),
            ("eCPExtMessage_EXT_PART_Carrier", ""),
            ("eCPExtMessage_EXT_PART_Status", "  "),
        ],
        &["part 7730024 pairs | warn=quantity `-1` is not a whole number"],
        None,
    ),
    pairs(
        "structured unparseable scheduled start",
        "Onsite Task Update",
        &[
            ("eCPExtMessage_EXT_TASK_TaskID", "WO-2"),
            ("eCPExtMessage_EXT_TASK_TaskStatus", "SCHEDULED"),
            ("eCPExtMessage_EXT_TASK_ScheduledStart", "week 19"),
            ("eCPExtMessage_EXT_TASK_EngineerETA", "2024-05-06"),
        ],
        &["task WO-2 pairs | status=SCHEDULED>scheduled | start=?<week 19> | eta=D:2024-05-06"],
        None,
    ),
    pairs(
        "structured task and part in one message",
        "Onsite Task Update",
        &[
            ("eCPExtMessage_EXT_TASK_TaskID", "WO-2"),
            ("eCPExtMessage_EXT_TASK_TaskStatus", "COMPLETE"),
            ("eCPExtMessage_EXT_PART_OrderID", "7730021"),
            ("eCPExtMessage_EXT_PART_ReturnStatus", "SHIPPED BACK"),
        ],
        &[
            "task WO-2 pairs | status=COMPLETE>complete",
            "part 7730021 pairs | returned=SHIPPED BACK>in_transit",
        ],
        None,
    ),
    Case {
        name: "structured update with a human comment",
        log: Some("Onsite Task Update"),
        pairs: &[
            ("eCPExtMessage_EXT_TASK_TaskID", "WO-4417"),
            ("eCPExtMessage_EXT_TASK_TaskStatus", "WORK COMPLETE"),
        ],
        comment: Some("Engineer replaced the blade; system healthy."),
        site: None,
        want: &["task WO-4417 pairs | status=WORK COMPLETE>complete"],
        note: Some("Engineer replaced the blade; system healthy."),
    },
    Case {
        name: "update action log over a text record line",
        log: Some("Part Order Update"),
        pairs: &[],
        comment: Some("PART ORDER 7730021 STATUS DELIVERED"),
        site: None,
        want: &["part 7730021 @0..35 | status=DELIVERED>delivered"],
        note: None,
    },
    Case {
        name: "structured and text for the same part",
        log: Some("Part Order Update"),
        pairs: &[
            ("eCPExtMessage_EXT_PART_OrderID", "7730021"),
            ("eCPExtMessage_EXT_PART_Status", "SHIPPED"),
        ],
        comment: Some("FYI\nPART ORDER 7730021 TRACKING 771234567890"),
        site: None,
        want: &[
            "part 7730021 @4..44 | tracking=771234567890",
            "part 7730021 pairs | status=SHIPPED>shipped",
        ],
        note: Some("FYI\n"),
    },
    // -- site rules
    site(
        "site adds a task status word",
        SITE_WORDS,
        "ONSITE TASK WO-1 STATUS: TECH ARRIVED",
        &["task WO-1 @0..37 | status=TECH ARRIVED>onsite"],
    ),
    site(
        "site adds a part status word",
        SITE_WORDS,
        "PART ORDER 1 STATUS HANDED TO CARRIER CARRIER UPS",
        &["part 1 @0..49 | status=HANDED TO CARRIER>shipped | carrier=UPS"],
    ),
    site(
        "site adds a carrier",
        SITE_CARRIER,
        "PART ORDER 1 STATUS SHIPPED CARRIER puro",
        &["part 1 @0..40 | status=SHIPPED>shipped | carrier=puro>PUROLATOR"],
    ),
    site(
        "site rewords the line",
        SITE_REWORDED,
        "SHIPMENT 7730021 STATUS SHIPPED VIA UPS",
        &["part 7730021 @0..39 | status=SHIPPED>shipped | carrier=UPS"],
    ),
    site(
        "site rewording keeps the shipped keyword too",
        SITE_REWORDED,
        "PART ORDER 7730021 STATUS SHIPPED CARRIER DHL",
        &["part 7730021 @0..45 | status=SHIPPED>shipped | carrier=DHL"],
    ),
];

// ---- late and repeated updates, through the real store -------------------------

mod through_the_store {
    use super::sample_input;
    use casebridge::store::prelude::*;
    use casebridge::store::{EventRow, NewCase, Role, Store};
    use casebridge::updates::{
        Applied, NOT_UNDERSTOOD_KIND, NOTE_KIND, Rules, UpdateContext, UpdateInput, apply_parsed,
        parse_update,
    };
    use chrono::NaiveDateTime;

    const NOW: i64 = 1_714_600_000_000;

    fn ms(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_millis()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        case_id: i64,
        rules: Rules,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("casebridge.db"), Role::Tool).unwrap();
        let case = store
            .create_case(
                &NewCase {
                    incident_number: "INC0097539".to_string(),
                    severity: "MAJOR".to_string(),
                    title: "HSN switch blade down".to_string(),
                    description: "c3s2 blade unreachable".to_string(),
                    system_id: None,
                    opened_by: "alice".to_string(),
                },
                NOW,
            )
            .unwrap();
        Fixture {
            _dir: dir,
            store,
            case_id: case.id,
            rules: Rules::shipped().unwrap(),
        }
    }

    impl Fixture {
        /// Parses and records one message whose event time is `at`.
        fn deliver(
            &self,
            message_id: &str,
            log: Option<&str>,
            pairs: &[(String, String)],
            comment: Option<&str>,
            at: &str,
        ) -> Applied {
            let parsed = parse_update(
                &UpdateInput {
                    action_log: log,
                    pairs,
                    comment,
                },
                &self.rules,
            );
            let ctx = UpdateContext {
                inbox_id: None,
                message_id: Some(message_id),
                event_time: Some(at),
                event_at_ms: Some(ms(at)),
                author: "HPE",
            };
            self.store
                .transaction(|tx| apply_parsed(tx, self.case_id, &parsed, &ctx, NOW))
                .unwrap()
        }

        fn sample(&self, file: &str, message_id: &str, at: &str) -> Applied {
            let (log, pairs, comment) = sample_input(file);
            self.deliver(message_id, log.as_deref(), &pairs, comment.as_deref(), at)
        }

        fn text(&self, message_id: &str, comment: &str, at: &str) -> Applied {
            self.deliver(message_id, None, &[], Some(comment), at)
        }
    }

    fn events(rows: &[EventRow]) -> Vec<(String, bool, Option<String>)> {
        rows.iter()
            .map(|e| (e.status.clone(), e.status_known, e.event_time.clone()))
            .collect()
    }

    fn ev(status: &str, known: bool, at: &str) -> (String, bool, Option<String>) {
        (status.to_string(), known, Some(at.to_string()))
    }

    #[test]
    fn task_timeline_from_samples_04_and_09_and_a_repeat() {
        let f = fixture();
        let first = f.sample(
            "04-onsite-task-structured.json",
            "q-000130",
            "2024-04-29 09:00:12",
        );
        assert_eq!(
            (
                first.events_added,
                first.repeats,
                first.status_changes,
                first.note
            ),
            (1, 0, 1, None)
        );
        let second = f.sample(
            "09-onsite-task-text.json",
            "q-000145",
            "2024-04-30 18:02:10",
        );
        assert_eq!(
            (second.events_added, second.repeats, second.status_changes),
            (1, 0, 1)
        );
        assert!(second.note.unwrap().is_inserted());

        let tasks = f.store.tasks_for_case(f.case_id).unwrap();
        assert_eq!(tasks.len(), 1);
        let task = &tasks[0];
        assert_eq!(task.task_id, "WO-4417");
        assert_eq!(task.status.as_deref(), Some("onsite"));
        assert!(task.status_known);
        assert_eq!(task.scheduled_start.as_deref(), Some("2024-04-29 14:00:00"));
        assert_eq!(task.engineer_eta.as_deref(), Some("2024-04-30 18:00"));
        assert_eq!(
            task.description.as_deref(),
            Some("Replace HSN switch blade in c3s2")
        );
        assert_eq!(task.completion, None);
        assert_eq!(
            events(&f.store.task_timeline(task.id).unwrap()),
            [
                ev("dispatched", true, "2024-04-29 09:00:12"),
                ev("onsite", true, "2024-04-30 18:02:10")
            ]
        );

        // GSEM delivers sample 09 again: nothing is added, nothing changes.
        let again = f.sample(
            "09-onsite-task-text.json",
            "q-000145",
            "2024-04-30 18:02:10",
        );
        assert_eq!(
            (
                again.events_added,
                again.repeats,
                again.status_changes,
                again.changed.len()
            ),
            (0, 1, 0, 0)
        );
        assert!(!again.note.unwrap().is_inserted());
        assert_eq!(f.store.task_timeline(task.id).unwrap().len(), 2);
        let notes: Vec<String> = f
            .store
            .journal_for_case(f.case_id)
            .unwrap()
            .into_iter()
            .map(|j| j.entry.text)
            .collect();
        assert_eq!(notes, ["Engineer will badge in at the loading dock.\n"]);
    }

    #[test]
    fn a_late_older_update_never_moves_the_status_back() {
        let f = fixture();
        f.sample("05-part-order-text.json", "q-000131", "2024-04-29 09:05:39");
        f.sample(
            "08-part-order-structured.json",
            "q-000140",
            "2024-04-30 16:20:04",
        );
        // An "ordered" report from before both arrives last, with a carrier
        // the record already has from newer updates.
        let late = f.text(
            "q-000150",
            "PART ORDER 7730021 STATUS ORDERED CARRIER UPS QTY 1",
            "2024-04-28 20:00:00",
        );
        assert_eq!((late.events_added, late.status_changes), (1, 0));

        let parts = f.store.parts_for_case(f.case_id).unwrap();
        assert_eq!(parts.len(), 1);
        let part = &parts[0];
        assert_eq!(part.order_id, "7730021");
        assert_eq!(part.status.as_deref(), Some("delivered"));
        assert_eq!(part.carrier.as_deref(), Some("FEDEX"));
        assert_eq!(part.quantity, Some(2));
        assert_eq!(part.part_number.as_deref(), Some("P05591-001"));
        assert_eq!(part.part_description.as_deref(), Some("HDR200 NIC"));
        assert_eq!(part.tracking_number.as_deref(), Some("771234567890"));
        assert_eq!(part.eta.as_deref(), Some("2024-04-30"));
        assert_eq!(part.return_required, Some(true));
        assert_eq!(part.return_status.as_deref(), Some("AWAITING PICKUP"));
        assert!(!part.return_status_known);
        assert_eq!(
            events(&f.store.part_timeline(part.id).unwrap()),
            [
                ev("ordered", true, "2024-04-28 20:00:00"),
                ev("shipped", true, "2024-04-29 09:05:39"),
                ev("delivered", true, "2024-04-30 16:20:04"),
            ]
        );
    }

    #[test]
    fn same_status_later_is_a_new_event_and_unknown_words_stay_flagged() {
        let f = fixture();
        f.text(
            "m1",
            "ONSITE TASK WO-1 STATUS: WAITING FOR ACCESS",
            "2024-05-01 08:00:00",
        );
        f.text(
            "m2",
            "ONSITE TASK WO-1 STATUS ONSITE",
            "2024-05-01 09:00:00",
        );
        f.text(
            "m3",
            "onsite task wo-1 status on site",
            "2024-05-02 09:00:00",
        );
        let done = f.text(
            "m4",
            "ONSITE TASK WO-1 STATUS WORK COMPLETE",
            "2024-05-02 12:30:00",
        );
        assert_eq!(done.status_changes, 1);
        let task = &f.store.tasks_for_case(f.case_id).unwrap()[0];
        assert_eq!(task.status.as_deref(), Some("complete"));
        assert_eq!(task.completion.as_deref(), Some("2024-05-02 12:30:00"));
        assert_eq!(
            events(&f.store.task_timeline(task.id).unwrap()),
            [
                ev("WAITING FOR ACCESS", false, "2024-05-01 08:00:00"),
                ev("onsite", true, "2024-05-01 09:00:00"),
                ev("onsite", true, "2024-05-02 09:00:00"),
                ev("complete", true, "2024-05-02 12:30:00"),
            ]
        );
    }

    #[test]
    fn several_records_in_one_message_commit_together_and_misreads_are_journaled() {
        let f = fixture();
        let comment = "Status below.\nPART ORDER 1 STATUS SHIPPED\nPART ORDER 2 STATUS BACKORDER\nONSITE TASK soon\n";
        let applied = f.text("m9", comment, "2024-05-03 10:00:00");
        assert_eq!(
            (
                applied.parts.len(),
                applied.events_added,
                applied.not_understood
            ),
            (2, 2, 1)
        );
        let parts = f.store.parts_for_case(f.case_id).unwrap();
        let statuses: Vec<(&str, Option<&str>)> = parts
            .iter()
            .map(|p| (p.order_id.as_str(), p.status.as_deref()))
            .collect();
        assert_eq!(
            statuses,
            [("1", Some("shipped")), ("2", Some("backordered"))]
        );
        let journal: Vec<(String, String)> = f
            .store
            .journal_for_case(f.case_id)
            .unwrap()
            .into_iter()
            .map(|j| (j.entry.kind, j.entry.text))
            .collect();
        assert_eq!(
            journal,
            [
                (
                    NOTE_KIND.to_string(),
                    "Status below.\nONSITE TASK soon\n".to_string()
                ),
                (
                    NOT_UNDERSTOOD_KIND.to_string(),
                    "onsite task soon: no STATUS or other tag (comment line):\nONSITE TASK soon"
                        .to_string()
                ),
            ]
        );
        // Redelivered: the journal stays as it is.
        f.text("m9", comment, "2024-05-03 10:00:00");
        assert_eq!(f.store.journal_for_case(f.case_id).unwrap().len(), 2);
    }
}
