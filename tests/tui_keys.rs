#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Key → action → state, without drawing: what each key asks of the engine,
//! and what the console refuses by itself.

use casebridge::console::rules::CloseKind;
use casebridge::console::{
    CaseFlags, CaseSummary, Event, Health, History, IncidentSummary, OpenCase, ParkedMessage,
    Priority, Request, RequestId, Snapshot, SyncMode, SystemChoice,
};
use casebridge::tui::clock::Zone;
use casebridge::tui::dialogs::{Dialog, TextPurpose};
use casebridge::tui::keymap::Keymap;
use casebridge::tui::theme::Theme;
use casebridge::tui::{Action, App, Screen, Settings, sanitize_for_display};
use chrono::{FixedOffset, TimeZone, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

fn case(id: i64, state: u8) -> CaseSummary {
    CaseSummary {
        id,
        incident: format!("INC00000{id:02}"),
        tracking: format!("INC00000{id:02}_1"),
        provider_id: Some(format!("500000{id:04}")),
        system: "perlmutter".into(),
        priority: Priority::Normal,
        state,
        pending_state: state,
        workflow_status: Some("In progress \u{1b}[2J\u{202e}".into()),
        updated: Utc
            .with_ymd_and_hms(2025, 3, 1, 12, 0, u32::try_from(id).unwrap())
            .unwrap(),
        open_tasks: 0,
        parts_in_transit: 0,
        flags: CaseFlags::default(),
    }
}

fn settings() -> Settings {
    Settings {
        keymap: Keymap::defaults(),
        theme: Theme::new(false),
        zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
    }
}

fn app_with(cases: Vec<CaseSummary>) -> App {
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 13, 0, 0).unwrap();
    let mut app = App::new(settings(), now, Rect::new(0, 0, 80, 24));
    let health = Health {
        gsem_reachable: true,
        gsem_since: now,
        mode: SyncMode::Push,
        outbox_depth: 0,
        outbox_oldest: None,
        next_retry: None,
        last_gsem_contact: None,
        last_servicenow_contact: None,
        parked_count: 0,
        quarantine_count: 0,
        inbound_blocked_since: None,
        problem: None,
        demo: true,
    };
    let systems = vec![SystemChoice {
        name: "perlmutter".into(),
        serial: "CZ1".into(),
        cis: vec!["pm".into()],
    }];
    app.update(Action::Engine(Event::Snapshot(Box::new(Snapshot {
        cases,
        health,
        systems,
        parked: Vec::new(),
        quarantine: Vec::new(),
    }))));
    app
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn ctrl(app: &mut App, c: char) {
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )));
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn status(app: &App) -> String {
    app.status().map(|s| s.text.clone()).unwrap_or_default()
}

#[test]
fn close_without_notes_is_refused_and_the_dialog_stays() {
    let mut app = app_with(vec![case(1, 5)]);
    press(&mut app, KeyCode::Char('x'));
    assert!(
        matches!(app.dialog(), Some(Dialog::Text(t)) if t.purpose == TextPurpose::Close(CloseKind::RequestClosure))
    );
    type_text(&mut app, "   ");
    ctrl(&mut app, 's');
    assert_eq!(
        status(&app),
        "Refused: closure notes are mandatory: write what was done before closing"
    );
    assert!(matches!(app.dialog(), Some(Dialog::Text(_))));
    assert!(app.take_requests().is_empty());
}

#[test]
fn close_in_6_confirms_then_sends_confirm_close() {
    let mut app = app_with(vec![case(1, 6)]);
    press(&mut app, KeyCode::Char('x'));
    type_text(&mut app, "Fixed by DIMM swap");
    ctrl(&mut app, 's');
    assert!(matches!(app.dialog(), Some(Dialog::Confirm(_))));
    assert!(app.take_requests().is_empty());
    // "n" returns to the notes, which are not lost.
    press(&mut app, KeyCode::Char('n'));
    match app.dialog() {
        Some(Dialog::Text(t)) => assert_eq!(t.editor.text(), "Fixed by DIMM swap"),
        other => panic!("expected the close dialog back, got {other:?}"),
    }
    ctrl(&mut app, 's');
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        app.take_requests(),
        vec![(
            RequestId(1),
            Request::Close {
                case: 1,
                notes: "Fixed by DIMM swap".into()
            }
        )]
    );
    assert_eq!(
        app.pending().collect::<Vec<_>>(),
        vec!["CONFIRM CLOSE of INC0000001"]
    );
    app.update(Action::Engine(Event::RequestAccepted {
        request: RequestId(1),
        case: Some(1),
    }));
    assert_eq!(status(&app), "✓ CONFIRM CLOSE of INC0000001: queued");
    assert_eq!(app.pending().count(), 0);
}

#[test]
fn close_in_0_is_refused_with_the_reason() {
    let mut app = app_with(vec![case(1, 0)]);
    press(&mut app, KeyCode::Char('x'));
    assert!(app.dialog().is_none());
    assert_eq!(
        status(&app),
        "Refused: case INC0000001 is in state 0 (Requested): closing is allowed only in states 2–6 \
         (wait for GSEM's acknowledgement of the SERVICE REQUEST)"
    );
}

#[test]
fn comment_on_a_closed_case_is_refused() {
    let mut app = app_with(vec![case(1, 7)]);
    press(&mut app, KeyCode::Char('v'));
    assert_eq!(app.list().selected().map(|c| c.id), Some(1));
    press(&mut app, KeyCode::Char('c'));
    assert!(app.dialog().is_none());
    assert_eq!(
        status(&app),
        "Refused: case INC0000001 is finished (Closed): nothing more can be sent to HPE; open a new case instead"
    );
    assert!(app.take_requests().is_empty());
}

#[test]
fn comment_keeps_unicode_paste_and_newlines() {
    let mut app = app_with(vec![case(1, 4)]);
    press(&mut app, KeyCode::Char('c'));
    app.update(Action::Paste("Grüße 🌍\r\nline two\u{1b}[2J".into()));
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "ok");
    ctrl(&mut app, 's');
    assert!(app.dialog().is_none());
    assert_eq!(
        app.take_requests(),
        vec![(
            RequestId(1),
            Request::Comment {
                case: 1,
                text: "Grüße 🌍\nline two\u{1b}[2J\nok".into()
            }
        )]
    );
}

#[test]
fn reject_needs_state_6_and_a_reason() {
    let mut app = app_with(vec![case(1, 5), case(2, 6)]);
    // Newest first: case 2, then case 1.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('d'));
    assert!(
        status(&app).starts_with(
            "Refused: case INC0000001 is in state 5 (With HPE): rejecting a resolution"
        )
    );
    press(&mut app, KeyCode::Char('k'));
    press(&mut app, KeyCode::Char('d'));
    ctrl(&mut app, 's');
    assert_eq!(
        status(&app),
        "Refused: a reason is mandatory: say why the proposed resolution does not solve the problem"
    );
}

#[test]
fn query_sends_at_once() {
    let mut app = app_with(vec![case(1, 3)]);
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(
        app.take_requests(),
        vec![(RequestId(1), Request::Query { case: 1 })]
    );
}

#[test]
fn open_case_from_a_typed_number() {
    let mut app = app_with(vec![]);
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(
        app.take_requests(),
        vec![(RequestId(1), Request::LoadIncidents)]
    );
    app.update(Action::Engine(Event::Incidents(Vec::new())));
    type_text(&mut app, "inc0000777");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        app.take_requests(),
        vec![(
            RequestId(2),
            Request::LookupIncident {
                number: "INC0000777".into()
            }
        )]
    );
    app.update(Action::Engine(Event::IncidentFound(IncidentSummary {
        number: "INC0000777".into(),
        short_description: "Login node hung".into(),
        description: "ssh times out".into(),
        ci: Some("PM".into()),
        open_cases: 0,
    })));
    assert!(
        matches!(app.dialog(), Some(Dialog::OpenCase(f)) if f.system == 0 && f.priority == Priority::Normal)
    );
    ctrl(&mut app, 's');
    press(&mut app, KeyCode::Char('y'));
    assert_eq!(
        app.take_requests(),
        vec![(
            RequestId(3),
            Request::OpenCase(OpenCase {
                incident: "INC0000777".into(),
                system: "perlmutter".into(),
                priority: Priority::Normal,
                title: "Login node hung".into(),
                description: "ssh times out".into(),
            })
        )]
    );
}

#[test]
fn filter_by_state_and_text_then_escape_restores() {
    let mut app = app_with(vec![case(1, 5), case(2, 4), case(3, 5)]);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "state:5 0003");
    assert_eq!(app.list().shown(), 1);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.list().shown(), 3);
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "is:pending");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.list().shown(), 0);
    assert_eq!(app.list().filter_text(), "is:pending");
}

#[test]
fn enter_opens_the_case_and_asks_the_engine() {
    let mut app = app_with(vec![case(1, 5)]);
    press(&mut app, KeyCode::Enter);
    assert!(matches!(app.screen(), Screen::Case(v) if v.case == 1 && v.detail.is_none()));
    assert_eq!(
        app.take_requests(),
        vec![(
            RequestId(1),
            Request::LoadCase {
                case: 1,
                history: History::FIRST_PAGE,
            }
        )]
    );
    press(&mut app, KeyCode::Esc);
    assert!(matches!(app.screen(), Screen::List));
    assert_eq!(
        app.take_requests(),
        vec![(RequestId(2), Request::UnloadCase)]
    );
}

#[test]
fn q_quits_but_is_text_in_an_editor_and_ctrl_c_always_quits() {
    let mut app = app_with(vec![case(1, 5)]);
    press(&mut app, KeyCode::Char('c'));
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit());
    ctrl(&mut app, 'c');
    assert!(app.should_quit());
    let mut app = app_with(vec![]);
    press(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit());
}

#[test]
fn user_keymap_overrides_a_single_key() {
    let overrides: std::collections::BTreeMap<String, String> =
        [("comment".to_owned(), "m".to_owned())].into();
    let settings = Settings {
        keymap: Keymap::with_overrides(&overrides).unwrap(),
        ..settings()
    };
    let mut app = App::new(settings, Utc::now(), Rect::new(0, 0, 80, 24));
    app.update(Action::Engine(Event::CaseChanged(case(1, 5))));
    press(&mut app, KeyCode::Char('c'));
    assert!(app.dialog().is_none());
    press(&mut app, KeyCode::Char('m'));
    assert!(matches!(app.dialog(), Some(Dialog::Text(t)) if t.purpose == TextPurpose::Comment));
}

#[test]
fn escape_sequences_are_shown_not_obeyed_and_stored_unchanged() {
    let app = app_with(vec![case(1, 5)]);
    let stored = app
        .list()
        .selected()
        .unwrap()
        .workflow_status
        .clone()
        .unwrap();
    assert_eq!(stored, "In progress \u{1b}[2J\u{202e}");
    assert_eq!(sanitize_for_display(&stored), "In progress ␛[2J⟨U+202E⟩");
}

#[test]
fn engine_failure_shows_the_reason() {
    let mut app = app_with(vec![case(1, 5)]);
    press(&mut app, KeyCode::Char('a'));
    let (id, _) = app.take_requests().remove(0);
    app.update(Action::Engine(Event::RequestFailed {
        request: id,
        reason: "GSEM would refuse: 1003".into(),
    }));
    assert_eq!(
        status(&app),
        "✗ query of INC0000001: GSEM would refuse: 1003"
    );
}

/// The engine refuses the one request the app has just handed over.
fn refuse(app: &mut App, reason: &str) {
    let requests = app.take_requests();
    assert_eq!(requests.len(), 1, "one request sent: {requests:?}");
    app.update(Action::Engine(Event::RequestFailed {
        request: requests[0].0,
        reason: reason.into(),
    }));
}

fn text_of(app: &App) -> String {
    match app.dialog() {
        Some(Dialog::Text(t)) => t.editor.text(),
        other => panic!("expected a text dialog, got {other:?}"),
    }
}

#[test]
fn a_refused_comment_comes_back_with_its_text() {
    let mut app = app_with(vec![case(1, 5)]);
    press(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "Reseated DIMM B3");
    app.update(Action::Paste("\nlog: ECC ✓ 0 errors".into()));
    ctrl(&mut app, 's');
    assert!(app.dialog().is_none());
    refuse(&mut app, "the store is busy, try again");
    assert_eq!(
        status(&app),
        "✗ comment on INC0000001: the store is busy, try again. Your text is back in the dialog"
    );
    assert!(
        matches!(app.dialog(), Some(Dialog::Text(t)) if t.purpose == TextPurpose::Comment && t.case == Some(1))
    );
    assert_eq!(text_of(&app), "Reseated DIMM B3\nlog: ECC ✓ 0 errors");
    // Sent again from the dialog that came back.
    ctrl(&mut app, 's');
    assert_eq!(
        app.take_requests(),
        vec![(
            RequestId(2),
            Request::Comment {
                case: 1,
                text: "Reseated DIMM B3\nlog: ECC ✓ 0 errors".into()
            }
        )]
    );
}

#[test]
fn refused_close_and_reject_bring_back_their_notes() {
    let mut app = app_with(vec![case(1, 6)]);
    press(&mut app, KeyCode::Char('x'));
    type_text(&mut app, "Fixed by DIMM swap");
    ctrl(&mut app, 's');
    press(&mut app, KeyCode::Char('y'));
    refuse(&mut app, "the case moved to 7 meanwhile");
    assert_eq!(
        status(&app),
        "✗ CONFIRM CLOSE of INC0000001: the case moved to 7 meanwhile. Your text is back in the dialog"
    );
    assert!(
        matches!(app.dialog(), Some(Dialog::Text(t)) if t.purpose == TextPurpose::Close(CloseKind::ConfirmClose))
    );
    assert_eq!(text_of(&app), "Fixed by DIMM swap");

    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('d'));
    type_text(&mut app, "Still failing after the swap");
    ctrl(&mut app, 's');
    press(&mut app, KeyCode::Char('y'));
    refuse(&mut app, "GSEM is unreachable");
    assert!(matches!(app.dialog(), Some(Dialog::Text(t)) if t.purpose == TextPurpose::Reject));
    assert_eq!(text_of(&app), "Still failing after the swap");
}

#[test]
fn a_refused_open_case_brings_back_the_edited_form() {
    let mut app = app_with(vec![]);
    press(&mut app, KeyCode::Char('n'));
    app.update(Action::Engine(Event::Incidents(vec![IncidentSummary {
        number: "INC0000777".into(),
        short_description: "Login node hung".into(),
        description: "ssh times out".into(),
        ci: Some("PM".into()),
        open_cases: 0,
    }])));
    press(&mut app, KeyCode::Enter);
    // Description: one Tab to priority, two more to the description.
    for _ in 0..3 {
        press(&mut app, KeyCode::Tab);
    }
    type_text(&mut app, " since 09:00");
    ctrl(&mut app, 's');
    press(&mut app, KeyCode::Char('y'));
    let requests = app.take_requests();
    let (id, request) = requests.last().unwrap();
    assert!(matches!(request, Request::OpenCase(_)), "{request:?}");
    app.update(Action::Engine(Event::RequestFailed {
        request: *id,
        reason: "perlmutter is not entitled".into(),
    }));
    assert_eq!(
        status(&app),
        "✗ new case for INC0000777: perlmutter is not entitled. Your text is back in the dialog"
    );
    match app.dialog() {
        Some(Dialog::OpenCase(form)) => {
            assert_eq!(form.incident.number, "INC0000777");
            assert_eq!(form.title.text(), "Login node hung");
            assert_eq!(form.description.text(), "ssh times out since 09:00");
        }
        other => panic!("expected the open-case form back, got {other:?}"),
    }
    press(&mut app, KeyCode::Esc);
    assert!(app.dialog().is_none());
}

#[test]
fn a_refused_edit_and_retry_brings_back_the_edited_body() {
    let mut app = app_with(vec![case(1, 5)]);
    app.update(Action::Engine(Event::Parked(vec![ParkedMessage {
        seq: 41,
        incident: "INC0000001".into(),
        transaction: "PROVIDE PROBLEM INFORMATION".into(),
        detail: "1003".into(),
        body: "{\"a\": 1}".into(),
        queued_at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
        attempts: 1,
    }])));
    press(&mut app, KeyCode::Char('p'));
    press(&mut app, KeyCode::Char('e'));
    press(&mut app, KeyCode::End);
    type_text(&mut app, " // fixed");
    ctrl(&mut app, 's');
    assert!(app.dialog().is_none());
    refuse(&mut app, "the body is not JSON: expected value at line 1");
    assert_eq!(
        status(&app),
        "✗ edited retry of parked message #41: the body is not JSON: expected value at line 1. Your text is back in the dialog"
    );
    assert!(
        matches!(app.dialog(), Some(Dialog::Text(t)) if t.purpose == TextPurpose::EditBody { seq: 41 })
    );
    assert_eq!(text_of(&app), "{\"a\": 1} // fixed");
}

#[test]
fn a_draft_refused_behind_another_dialog_waits_for_it_to_close() {
    // The newest first: INC0000002, then INC0000001.
    let mut app = app_with(vec![case(1, 5), case(2, 5)]);
    press(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "first note");
    ctrl(&mut app, 's');
    let (first, _) = app.take_requests().remove(0);
    // A second comment is being typed when the first is refused.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "second");
    app.update(Action::Engine(Event::RequestFailed {
        request: first,
        reason: "GSEM is unreachable".into(),
    }));
    assert_eq!(
        status(&app),
        "✗ comment on INC0000002: GSEM is unreachable. Your text is kept: it reopens when this dialog closes"
    );
    assert_eq!(text_of(&app), "second");
    assert_eq!(app.waiting_drafts(), 1);
    // Sending the second closes its dialog: the first comes back.
    ctrl(&mut app, 's');
    assert!(matches!(app.dialog(), Some(Dialog::Text(t)) if t.case == Some(2)));
    assert_eq!(text_of(&app), "first note");
    assert_eq!(app.waiting_drafts(), 0);
    // An answer for an accepted draft brings nothing back.
    let (second, _) = app.take_requests().remove(0);
    press(&mut app, KeyCode::Esc);
    app.update(Action::Engine(Event::RequestAccepted {
        request: second,
        case: Some(1),
    }));
    assert!(app.dialog().is_none());
}

#[test]
fn a_draft_refused_behind_help_reopens_when_help_closes() {
    let mut app = app_with(vec![case(1, 5)]);
    press(&mut app, KeyCode::Char('c'));
    type_text(&mut app, "note");
    ctrl(&mut app, 's');
    press(&mut app, KeyCode::Char('?'));
    refuse(&mut app, "busy");
    assert!(matches!(app.dialog(), Some(Dialog::Help { .. })));
    press(&mut app, KeyCode::Esc);
    assert_eq!(text_of(&app), "note");
}

#[test]
fn opening_a_case_before_the_first_snapshot_says_the_engine_is_not_there_yet() {
    let now = Utc.with_ymd_and_hms(2025, 3, 1, 13, 0, 0).unwrap();
    let mut app = App::new(settings(), now, Rect::new(0, 0, 80, 24));
    press(&mut app, KeyCode::Char('n'));
    assert!(app.dialog().is_none());
    assert_eq!(
        status(&app),
        "The engine has not sent its cases and systems yet (still starting or connecting): try again in a moment"
    );
    let mut app = app_with(Vec::new());
    press(&mut app, KeyCode::Char('n'));
    assert!(matches!(app.dialog(), Some(Dialog::Picker(_))));
}
