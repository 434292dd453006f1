use super::*;
use crate::store::{JournalState, NewJournal, Origin};
use crate::sync::ledger::{ACTOR, DONE, Done, INTENDED, done_detail};

const T0: i64 = 1_700_000_000_000;

fn options() -> Options {
    Options {
        integration_user: "casebridge.integration".into(),
        mark_hold_reason: false,
        sync_state_to_incident: true,
        close_case_when_incident_resolved: true,
        max_journal_chars: None,
    }
}

fn case(id: i64, seq: i64, state: u8, provider_id: Option<&str>) -> CaseView {
    CaseView {
        case: CaseRow {
            id,
            incident_number: "INC0010001".into(),
            seq,
            tracking_number: format!("INC0010001_{seq}"),
            requester_id: "INC0010001".into(),
            provider_id: provider_id.map(str::to_owned),
            state,
            workflow_status: None,
            provider_priority: None,
            severity: "MEDIUM".into(),
            title: "t".into(),
            description: "d".into(),
            system_id: None,
            opened_by: "op".into(),
            created_at: T0 + 1000 * id,
            updated_at: T0 + 1000 * id,
            sent_at: None,
        },
        pending: state,
        rejections: 0,
        hpe_notes: Vec::new(),
    }
}

fn note(id: i64, case_id: i64, text: &str) -> JournalRow {
    JournalRow {
        id,
        created_at: T0,
        entry: NewJournal {
            case_id,
            origin: Origin::Hpe,
            kind: "note".into(),
            author: "HPE".into(),
            text: text.into(),
            event_at: T0,
            remote_id: Some(format!("m{id}")),
            state: JournalState::Received,
            outbox_seq: None,
        },
    }
}

fn incident() -> IncidentView {
    IncidentView {
        sys_id: "s1".into(),
        number: "INC0010001".into(),
        state: "2".into(),
        correlation_display: text::CORRELATION_DISPLAY.into(),
        ..IncidentView::default()
    }
}

fn at(ms: i64) -> NaiveDateTime {
    store_second(ms)
}

fn comment(id: &str, by: &str, created: i64, text: &str) -> SnComment {
    SnComment {
        sys_id: id.into(),
        created_on: at(created),
        created_by: by.into(),
        text: text.into(),
    }
}

fn ledger(entries: &[(i64, &str, Option<Done>)]) -> Ledger {
    let rows: Vec<_> = entries
        .iter()
        .enumerate()
        .flat_map(|(i, (case_id, key, done))| {
            let mut rows = vec![crate::store::AuditRow {
                id: i as i64,
                at: T0,
                actor: ACTOR.into(),
                case_id: Some(*case_id),
                action: INTENDED.into(),
                detail: (*key).into(),
            }];
            if let Some(done) = done {
                rows.push(crate::store::AuditRow {
                    id: i as i64,
                    at: T0,
                    actor: ACTOR.into(),
                    case_id: Some(*case_id),
                    action: DONE.into(),
                    detail: done_detail(key, done),
                });
            }
            rows
        })
        .collect();
    let mut ledger = Ledger::default();
    ledger.add_audit(&rows);
    ledger
}

fn known(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

// ---- routing of ServiceNow comments ----

#[test]
fn a_human_comment_goes_to_the_newest_unfinished_case_in_2_to_5() {
    for state in 2..=5 {
        let cases = [case(1, 1, 7, Some("P1")), case(2, 2, state, Some("P2"))];
        let c = comment("j1", "jsmith", T0 + 5000, "disk replaced?");
        assert_eq!(
            route_comment(&c, &cases, &known(&[]), &options()),
            Route::Send { case_id: 2 },
            "state {state}"
        );
    }
}

#[test]
fn a_comment_waits_while_a_resolution_is_proposed_or_the_request_is_unacknowledged() {
    for state in [0, 6] {
        let cases = [case(1, 1, state, None)];
        let c = comment("j1", "jsmith", T0 + 5000, "x");
        assert_eq!(
            route_comment(&c, &cases, &known(&[]), &options()),
            Route::Hold { case_id: 1 },
            "state {state}"
        );
    }
}

#[test]
fn pending_state_decides_not_the_confirmed_one() {
    let mut c6 = case(1, 1, 5, Some("P"));
    c6.pending = 6;
    let mut c7 = case(1, 1, 5, Some("P"));
    c7.pending = 7;
    let mut c5 = case(1, 1, 4, Some("P"));
    c5.pending = 5;
    let c = comment("j1", "jsmith", T0 + 5000, "x");
    let o = options();
    assert_eq!(
        route_comment(&c, &[c6], &known(&[]), &o),
        Route::Hold { case_id: 1 }
    );
    assert_eq!(
        route_comment(&c, &[c7], &known(&[]), &o),
        Route::NotSent {
            case_id: 1,
            reason: NotSent::CaseClosing
        }
    );
    assert_eq!(
        route_comment(&c, &[c5], &known(&[]), &o),
        Route::Send { case_id: 1 }
    );
}

#[test]
fn with_no_unfinished_case_the_comment_is_not_sent_and_kept_on_the_newest_case() {
    for last in [1, 7] {
        let cases = [case(1, 1, 7, Some("P1")), case(2, 2, last, None)];
        let c = comment("j1", "jsmith", T0 + 5000, "x");
        assert_eq!(
            route_comment(&c, &cases, &known(&[]), &options()),
            Route::NotSent {
                case_id: 2,
                reason: NotSent::NoOpenCase
            }
        );
    }
}

#[test]
fn ours_marked_known_and_old_comments_are_skipped() {
    let cases = [case(1, 1, 5, Some("P"))];
    let o = options();
    let k = known(&["j3"]);
    let route = |c: &SnComment| route_comment(c, &cases, &k, &o);
    assert_eq!(
        route(&comment("j1", "casebridge.integration", T0 + 5000, "x")),
        Route::Skip(Skip::Ours)
    );
    assert_eq!(
        route(&comment("j2", "jsmith", T0 + 5000, "[HPE 123] copied back")),
        Route::Skip(Skip::Marker)
    );
    assert_eq!(
        route(&comment("j3", "jsmith", T0 + 5000, "x")),
        Route::Skip(Skip::Known)
    );
    // Case 1 was created at T0 + 1 s: a comment of T0 is history...
    assert_eq!(
        route(&comment("j4", "jsmith", T0, "x")),
        Route::Skip(Skip::BeforePairing)
    );
    // ...one in the same second as the case counts.
    assert_eq!(
        route(&comment("j5", "jsmith", T0 + 1000, "x")),
        Route::Send { case_id: 1 }
    );
    assert_eq!(
        route_comment(&comment("j6", "jsmith", T0, "x"), &[], &k, &o),
        Route::Skip(Skip::BeforePairing)
    );
}

// ---- comments written onto the incident ----

fn keys(plan: &PairPlan) -> Vec<(i64, &str)> {
    plan.comments
        .iter()
        .map(|c| (c.case_id, c.key.as_str()))
        .collect()
}

#[test]
fn a_new_case_is_announced_then_its_acceptance_then_hpe_notes_in_order() {
    let mut c = case(1, 1, 5, Some("5381923377"));
    c.hpe_notes = vec![note(10, 1, "first"), note(11, 1, "second")];
    let cases = [c];
    let inc = incident();
    let l = ledger(&[]);
    let plan = plan_pair(
        Pair {
            incident: &inc,
            cases: &cases,
            ledger: &l,
        },
        &options(),
    );
    assert_eq!(
        keys(&plan),
        [
            (1, "requested"),
            (1, "accepted"),
            (1, "hpe-note:10"),
            (1, "hpe-note:11")
        ]
    );
    assert_eq!(
        plan.comments[0].text,
        "casebridge: an HPE support case was requested for this incident (tracking number INC0010001_1)."
    );
    assert_eq!(
        plan.comments[1].text,
        "casebridge: HPE accepted the support case: HPE case 5381923377 (tracking number INC0010001_1)."
    );
    assert_eq!(plan.comments[2].text, "[HPE 5381923377] first");
    assert_eq!(plan.comments[3].text, "[HPE 5381923377] second");
}

#[test]
fn done_writes_are_not_repeated_but_intended_ones_are_planned_again() {
    let mut c = case(1, 1, 5, Some("P"));
    c.hpe_notes = vec![note(10, 1, "a"), note(11, 1, "b")];
    let cases = [c];
    let inc = incident();
    let l = ledger(&[
        (1, "requested", Some(Done::Entry("e1".into()))),
        (1, "accepted", Some(Done::Unverified)),
        (1, "hpe-note:10", None),
    ]);
    let plan = plan_pair(
        Pair {
            incident: &inc,
            cases: &cases,
            ledger: &l,
        },
        &options(),
    );
    assert_eq!(keys(&plan), [(1, "hpe-note:10"), (1, "hpe-note:11")]);
}

#[test]
fn resolution_closure_and_refusal_are_reported() {
    let inc = IncidentView {
        state: "6".into(),
        ..incident()
    };
    let done = |c: i64| {
        vec![
            (c, "requested", Some(Done::Field)),
            (c, "accepted", Some(Done::Field)),
        ]
    };
    let mut c6 = case(1, 1, 6, Some("P"));
    c6.rejections = 2;
    for (c, expect, text) in [
        (
            c6,
            "resolution:2",
            "casebridge: HPE case P proposes a resolution (see HPE's notes). Resolve or close this incident with close notes to confirm it.",
        ),
        (
            case(1, 1, 7, Some("P")),
            "closed",
            "casebridge: HPE case P is closed.",
        ),
        (
            case(1, 1, 1, None),
            "not-entitled",
            "casebridge: HPE refused the support case INC0010001_1: not entitled (check the system's contract and serial number).",
        ),
    ] {
        let l = ledger(&done(1));
        let cases = [c];
        let plan = plan_pair(
            Pair {
                incident: &inc,
                cases: &cases,
                ledger: &l,
            },
            &options(),
        );
        assert_eq!(keys(&plan), [(1, expect)]);
        assert_eq!(plan.comments[0].text, text);
    }
}

#[test]
fn long_hpe_notes_are_cut_visibly() {
    let mut c = case(1, 1, 5, Some("P"));
    c.hpe_notes = vec![note(10, 1, &"y".repeat(5000))];
    let cases = [c];
    let inc = incident();
    let l = ledger(&[
        (1, "requested", Some(Done::Field)),
        (1, "accepted", Some(Done::Field)),
    ]);
    let o = Options {
        max_journal_chars: Some(4000),
        ..options()
    };
    let plan = plan_pair(
        Pair {
            incident: &inc,
            cases: &cases,
            ledger: &l,
        },
        &o,
    );
    let text = &plan.comments[0].text;
    assert_eq!(text.chars().count(), 4000);
    assert!(text.starts_with("[HPE P] yyy"));
    assert!(text.ends_with("of 5008 characters]"), "{}", &text[3900..]);
}

// ---- fields ----

fn fields(
    inc: &IncidentView,
    cases: &[CaseView],
    l: &Ledger,
    o: &Options,
) -> Vec<(&'static str, String)> {
    plan_pair(
        Pair {
            incident: inc,
            cases,
            ledger: l,
        },
        o,
    )
    .fields
    .map(|f| f.values)
    .unwrap_or_default()
}

#[test]
fn correlation_is_the_newest_unfinished_cases_number_empty_until_accepted() {
    let o = options();
    let l = ledger(&[]);
    let blank = IncidentView {
        correlation_display: String::new(),
        ..incident()
    };
    assert_eq!(
        fields(&blank, &[case(1, 1, 3, None)], &l, &o),
        [("correlation_display", "HPE GSEM".to_owned())]
    );
    assert_eq!(
        fields(&incident(), &[case(1, 1, 5, Some("P1"))], &l, &o),
        [("correlation_id", "P1".to_owned())]
    );
    let two = [case(1, 1, 5, Some("P1")), case(2, 2, 5, Some("P2"))];
    let has_p1 = IncidentView {
        correlation_id: "P1".into(),
        ..incident()
    };
    assert_eq!(
        fields(&has_p1, &two, &l, &o),
        [("correlation_id", "P2".to_owned())]
    );
    let newest_finished = [case(1, 1, 5, Some("P1")), case(2, 2, 1, None)];
    assert!(fields(&has_p1, &newest_finished, &l, &o).is_empty());
    let has_p2 = IncidentView {
        correlation_id: "P2".into(),
        ..incident()
    };
    // All finished: cleared. (The newest is in 1, so nothing is resolved.)
    assert_eq!(
        fields(
            &has_p2,
            &[case(1, 1, 7, Some("P1")), case(2, 2, 1, None)],
            &l,
            &o
        ),
        [("correlation_id", String::new())]
    );
}

#[test]
fn hpe_resolution_resolves_the_incident_once() {
    let o = options();
    let cases = [case(1, 1, 6, Some("P"))];
    let inc = IncidentView {
        correlation_id: "P".into(),
        ..incident()
    };
    assert_eq!(
        fields(&inc, &cases, &ledger(&[]), &o),
        [
            ("state", "6".to_owned()),
            ("close_code", CLOSE_CODE.to_owned()),
            (
                "close_notes",
                "HPE case P proposes a resolution; see HPE's notes in the comments.".to_owned()
            ),
        ]
    );
    // Once done, a person reopening the incident is not overruled.
    assert!(
        fields(
            &inc,
            &cases,
            &ledger(&[(1, "incident-resolved", Some(Done::Field))]),
            &o
        )
        .is_empty()
    );
    let off = Options {
        sync_state_to_incident: false,
        ..options()
    };
    assert!(fields(&inc, &cases, &ledger(&[]), &off).is_empty());
    let resolved = IncidentView {
        state: "6".into(),
        ..inc.clone()
    };
    assert!(
        fields(&resolved, &[case(1, 1, 7, Some("P"))], &ledger(&[]), &o)
            .iter()
            .all(|(f, _)| *f == "correlation_id")
    );
}

#[test]
fn hold_reason_is_set_while_hpe_works_and_released_after() {
    let o = Options {
        mark_hold_reason: true,
        sync_state_to_incident: false,
        ..options()
    };
    let inc = IncidentView {
        correlation_id: "P".into(),
        ..incident()
    };
    assert_eq!(
        fields(&inc, &[case(1, 1, 5, Some("P"))], &ledger(&[]), &o),
        [("state", "3".to_owned()), ("hold_reason", "4".to_owned())]
    );
    let l = ledger(&[(1, "hold", Some(Done::Field))]);
    // Already set once: a person taking it off hold is not overruled.
    assert!(fields(&inc, &[case(1, 1, 5, Some("P"))], &l, &o).is_empty());
    let on_hold = IncidentView {
        state: "3".into(),
        hold_reason: "4".into(),
        ..inc.clone()
    };
    assert_eq!(
        fields(&on_hold, &[case(1, 1, 6, Some("P"))], &l, &o),
        [("state", "2".to_owned()), ("hold_reason", String::new())]
    );
    let released = ledger(&[
        (1, "hold", Some(Done::Field)),
        (1, "hold-released", Some(Done::Field)),
    ]);
    assert!(fields(&on_hold, &[case(1, 1, 6, Some("P"))], &released, &o).is_empty());
    // Resolving and releasing together: one state, the hold reason cleared.
    let both = Options {
        sync_state_to_incident: true,
        ..o.clone()
    };
    let plan = plan_pair(
        Pair {
            incident: &on_hold,
            cases: &[case(1, 1, 6, Some("P"))],
            ledger: &l,
        },
        &both,
    )
    .fields
    .unwrap();
    assert_eq!(
        plan.values.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        ["state", "close_code", "close_notes", "hold_reason"]
    );
    assert_eq!(
        plan.keys,
        [
            (1, "incident-resolved".to_owned()),
            (1, "hold-released".to_owned())
        ]
    );
}

// ---- closing from ServiceNow ----

fn close(inc: &IncidentView, cases: &[CaseView], l: &Ledger, o: &Options) -> Option<CloseCase> {
    plan_pair(
        Pair {
            incident: inc,
            cases,
            ledger: l,
        },
        o,
    )
    .close
}

fn resolved(state: &str, notes: &str) -> IncidentView {
    IncidentView {
        state: state.into(),
        close_notes: notes.into(),
        resolved_at: Some(at(T0 + 60_000)),
        correlation_id: "P".into(),
        ..incident()
    }
}

#[test]
fn a_resolved_incident_closes_its_case_by_the_right_transaction() {
    let o = options();
    let l = ledger(&[]);
    for (state, closing) in [
        (2, Closing::Request),
        (3, Closing::Request),
        (4, Closing::Request),
        (5, Closing::Request),
        (6, Closing::Confirm),
    ] {
        for inc_state in ["6", "7"] {
            assert_eq!(
                close(
                    &resolved(inc_state, "fixed by reseat"),
                    &[case(1, 1, state, Some("P"))],
                    &l,
                    &o
                ),
                Some(CloseCase {
                    case_id: 1,
                    closing,
                    notes: "fixed by reseat".into()
                }),
                "case {state}, incident {inc_state}"
            );
        }
    }
}

#[test]
fn no_close_when_not_wanted_not_possible_or_ours() {
    let o = options();
    let l = ledger(&[]);
    let c5 = [case(1, 1, 5, Some("P"))];
    assert_eq!(close(&resolved("2", "x"), &c5, &l, &o), None);
    assert_eq!(close(&resolved("6", "  "), &c5, &l, &o), None);
    let off = Options {
        close_case_when_incident_resolved: false,
        ..options()
    };
    assert_eq!(close(&resolved("6", "x"), &c5, &l, &off), None);
    // A close already queued (pending 7), a request not yet acknowledged (0).
    for pending in [0, 7] {
        let mut c = case(1, 1, 5, Some("P"));
        c.pending = pending;
        assert_eq!(close(&resolved("6", "x"), &[c], &l, &o), None);
    }
    assert_eq!(
        close(&resolved("6", "x"), &[case(1, 1, 7, Some("P"))], &l, &o),
        None
    );
    // Resolved before the case was opened.
    let early = IncidentView {
        resolved_at: Some(at(T0)),
        ..resolved("6", "x")
    };
    assert_eq!(close(&early, &c5, &l, &o), None);
    // Our own resolution coming back; but a person closing it after is a close.
    let ours = ledger(&[(1, "incident-resolved", Some(Done::Field))]);
    let c6 = [case(1, 1, 6, Some("P"))];
    let our_notes = "HPE case P proposes a resolution; see HPE's notes in the comments.";
    assert_eq!(close(&resolved("6", our_notes), &c6, &ours, &o), None);
    // The same state with a person's own close notes is a close.
    assert_eq!(
        close(&resolved("6", "x"), &c6, &ours, &o).map(|c| c.closing),
        Some(Closing::Confirm)
    );
    assert_eq!(
        close(&resolved("7", "x"), &c6, &ours, &o).map(|c| c.closing),
        Some(Closing::Confirm)
    );
}
