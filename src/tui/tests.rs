//! Snapshots of every screen and dialog at 80×24 and 160×48, driving the
//! real [`App`] with keys and fake engine events built from fixture data.
//! Times and HPE case numbers are masked so the snapshots review as layout.

use chrono::{DateTime, FixedOffset, TimeDelta, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;
use regex::Regex;

use super::clock::Zone;
use super::keymap::Keymap;
use super::theme::Theme;
use super::{Action, App, Settings, render};
use crate::console::{
    CaseDetail, CaseFlags, CaseSummary, Connection, EntryStatus, Event, Health, History,
    IncidentSummary, Origin, ParkedMessage, PartView, Priority, QuarantineEntry, RecordEvent,
    Request, Snapshot, SyncMode, SystemChoice, TaskView, TimelineEntry,
};

pub(super) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 20, 0, 0).unwrap()
}

fn ago(minutes: i64) -> DateTime<Utc> {
    now() - TimeDelta::minutes(minutes)
}

pub(super) const HOSTILE: &str =
    "Screen wipe:\u{1b}[2J\u{1b}[H done; file \u{202e}fdp.exe\u{202c} attached\u{7}";

pub(super) fn long_unicode() -> String {
    "Grüße aus Berkeley — le nœud nid042 a redémarré deux fois; ノードが再起動しました; \
     Узел перезагрузился; 🔥 fans at 100%, DIMM B3 reports correctable ECC errors every 30 s. "
        .repeat(6)
}

fn case(id: i64, state: u8, minutes_ago: i64) -> CaseSummary {
    CaseSummary {
        id,
        incident: format!("INC00100{id:02}"),
        tracking: format!("INC00100{id:02}_1"),
        provider_id: (state >= 2 || state == 1).then(|| format!("50{:08}", 1_234_500 + id)),
        system: if id % 3 == 0 {
            "muller".into()
        } else {
            "perlmutter".into()
        },
        priority: match id % 4 {
            1 => Priority::CriticalDown,
            2 => Priority::CriticalDegraded,
            _ => Priority::Normal,
        },
        state,
        pending_state: state,
        workflow_status: match state {
            0 => None,
            1 => Some("Not entitled".into()),
            4 => Some("Awaiting customer".into()),
            5 => Some("Engineer assigned".into()),
            6 => Some("Solution proposed".into()),
            7 => Some("Closed".into()),
            _ => Some("New".into()),
        },
        updated: ago(minutes_ago),
        open_tasks: 0,
        parts_in_transit: 0,
        flags: CaseFlags::default(),
    }
}

pub(super) fn cases() -> Vec<CaseSummary> {
    let mut all: Vec<CaseSummary> = [
        (1, 0, 1),
        (2, 1, 300),
        (3, 2, 20),
        (4, 3, 45),
        (5, 4, 90),
        (6, 5, 3),
        (7, 6, 600),
        (8, 7, 3000),
        (9, 5, 15),
        (10, 5, 7),
        (11, 5, 130),
        (12, 3, 8),
    ]
    .into_iter()
    .map(|(id, state, minutes)| case(id, state, minutes))
    .collect();
    all[0].flags.pending = true;
    all[3].flags.overdue = true;
    all[4].flags.info_requested = true;
    all[5].open_tasks = 1;
    all[5].parts_in_transit = 1;
    all[8].flags.failed = true;
    all[9].pending_state = 7;
    all[9].flags.pending = true;
    all[10].workflow_status = Some(HOSTILE.into());
    all[11].provider_id = None;
    all[11].state = 0;
    all[11].pending_state = 0;
    all
}

pub(super) fn health() -> Health {
    Health {
        gsem_reachable: true,
        gsem_since: ago(185),
        mode: SyncMode::Pull,
        outbox_depth: 2,
        outbox_oldest: Some(ago(1)),
        next_retry: None,
        last_gsem_contact: Some(now() - TimeDelta::seconds(20)),
        last_servicenow_contact: Some(now() - TimeDelta::seconds(40)),
        parked_count: 1,
        quarantine_count: 1,
        inbound_blocked_since: None,
        problem: None,
        demo: false,
    }
}

pub(super) fn systems() -> Vec<SystemChoice> {
    vec![
        SystemChoice {
            name: "perlmutter".into(),
            serial: "CZ2D4X0001".into(),
            cis: vec!["Perlmutter".into(), "pm-login".into()],
        },
        SystemChoice {
            name: "muller".into(),
            serial: "CZ2D4X0002".into(),
            cis: vec!["Muller".into()],
        },
    ]
}

fn parked() -> Vec<ParkedMessage> {
    vec![ParkedMessage {
        seq: 41,
        incident: "INC0010009".into(),
        transaction: "PROVIDE PROBLEM INFORMATION".into(),
        detail: "1003 transaction not valid in the current state".into(),
        body: "{\n  \"Message\": {\n    \"TransactionName\": \"PROVIDE PROBLEM INFORMATION\",\n    \"SERVICE_INCIDENT\": {\"RequesterID\": \"INC0010009\", \"Comment\": \"Swapped the DIMM\"}\n  }\n}".into(),
        queued_at: ago(14),
        attempts: 1,
    }]
}

fn quarantine() -> Vec<QuarantineEntry> {
    vec![QuarantineEntry {
        id: 7,
        reason: "unknown case: no case has RequesterID INC0099999".into(),
        transaction: Some("PROVIDE PROBLEM INFORMATION".into()),
        received_at: ago(50),
        delivery_count: 2,
        sha256: "9f2c1d7a3b4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e".into(),
        body: format!("{{\"Message\": {{\"SERVICE_INCIDENT\": {{\"Comment\": \"{HOSTILE}\"}}}}}}"),
    }]
}

pub(super) fn snapshot_event() -> Event {
    Event::Snapshot(Box::new(Snapshot {
        cases: cases(),
        health: health(),
        systems: systems(),
        parked: parked(),
        quarantine: quarantine(),
    }))
}

fn entry(
    id: i64,
    origin: Origin,
    author: &str,
    kind: &str,
    text: &str,
    minutes_ago: i64,
    status: EntryStatus,
) -> TimelineEntry {
    TimelineEntry {
        id,
        origin,
        author: author.into(),
        kind: kind.into(),
        text: text.into(),
        time: ago(minutes_ago),
        status,
        raw: (origin == Origin::Hpe).then(|| {
            format!("{{\"Message\": {{\"TransactionName\": \"{kind}\", \"Comment\": {text:?}}}}}")
        }),
    }
}

fn event(status: &str, known: bool, minutes_ago: i64, raw: &str) -> RecordEvent {
    RecordEvent {
        status: status.into(),
        known,
        time: ago(minutes_ago),
        raw: raw.into(),
    }
}

pub(super) fn detail() -> CaseDetail {
    let summary = cases().remove(5);
    CaseDetail {
        title: "nid001234 down: DIMM errors on node board".into(),
        description: "The node crashed twice overnight with uncorrectable memory errors.".into(),
        timeline: vec![
            entry(
                1,
                Origin::Local,
                "jdoe",
                "SERVICE REQUEST",
                "nid001234 down: DIMM errors on node board",
                300,
                EntryStatus::Sent,
            ),
            entry(
                2,
                Origin::Hpe,
                "HPE",
                "ENTITLEMENT",
                "Entitled under contract CN=NERSC-2024",
                295,
                EntryStatus::Received,
            ),
            entry(
                3,
                Origin::Hpe,
                "HPE",
                "ACCEPT PROBLEM",
                "Case accepted, engineer assigned",
                290,
                EntryStatus::Received,
            ),
            entry(
                4,
                Origin::ServiceNow,
                "asmith",
                "NOTE",
                &long_unicode(),
                200,
                EntryStatus::Sent,
            ),
            entry(
                5,
                Origin::Hpe,
                "HPE",
                "NOTE",
                HOSTILE,
                120,
                EntryStatus::Received,
            ),
            entry(
                6,
                Origin::Local,
                "jdoe",
                "NOTE",
                "Rebooted once more, same errors.",
                30,
                EntryStatus::Failed {
                    reason: "1003 not valid in state".into(),
                },
            ),
            entry(
                7,
                Origin::Local,
                "jdoe",
                "NOTE",
                "Spare DIMM is on the shelf if the engineer needs it.",
                2,
                EntryStatus::Pending,
            ),
        ],
        tasks: vec![TaskView {
            task_id: "WO-77812".into(),
            status: "onsite".into(),
            known: true,
            open: true,
            description: Some("Replace DIMM B3 on nid001234".into()),
            scheduled_start: Some("2025-03-02 09:00".into()),
            engineer_eta: Some("2025-03-02 09:30".into()),
            events: vec![
                event(
                    "scheduled",
                    true,
                    240,
                    "ONSITE TASK WO-77812 STATUS: SCHEDULED ETA 2025-03-02 09:00",
                ),
                event(
                    "dispatched",
                    true,
                    100,
                    "ONSITE TASK WO-77812 STATUS: DISPATCHED",
                ),
                event(
                    "onsite",
                    true,
                    10,
                    "ONSITE TASK WO-77812 STATUS: ENGINEER ON SITE",
                ),
            ],
        }],
        parts: vec![
            PartView {
                order_id: "PO-5521".into(),
                part_number: Some("P06033-B21".into()),
                part_description: Some("32GB DDR4 RDIMM".into()),
                quantity: Some(2),
                status: "shipped".into(),
                known: true,
                in_transit: true,
                carrier: Some("UPS".into()),
                tracking_number: Some("1Z999AA10123456784".into()),
                eta: Some("2025-03-02".into()),
                return_required: Some(true),
                return_status: None,
                events: vec![
                    event(
                        "ordered",
                        true,
                        250,
                        "PART ORDER PO-5521 STATUS ORDERED PN P06033-B21 QTY 2",
                    ),
                    event(
                        "shipped",
                        true,
                        60,
                        "PART ORDER PO-5521 STATUS SHIPPED CARRIER UPS TRACKING 1Z999AA10123456784",
                    ),
                ],
            },
            PartView {
                order_id: "PO-5519".into(),
                part_number: Some("P01234-001".into()),
                part_description: None,
                quantity: Some(1),
                status: "delivered".into(),
                known: true,
                in_transit: false,
                carrier: None,
                tracking_number: None,
                eta: None,
                return_required: Some(true),
                return_status: Some("AWAITING PICKUP".into()),
                events: vec![event(
                    "delivered",
                    true,
                    400,
                    "eCPExtMessage_EXT_PART_Status=DELIVERED",
                )],
            },
        ],
        older_entries: 0,
        unparsed_updates: 1,
        summary,
    }
}

pub(super) fn incidents() -> Vec<IncidentSummary> {
    vec![
        IncidentSummary {
            number: "INC0020001".into(),
            short_description: "Slurm controller unreachable on pm-login".into(),
            description: "slurmctld stopped answering at 11:02.\nFailover did not happen.".into(),
            ci: Some("pm-login".into()),
            open_cases: 0,
        },
        IncidentSummary {
            number: "INC0020002".into(),
            short_description: "Muller cabinet 3 coolant leak alarm".into(),
            description: "CDU alarm in cabinet x1003.".into(),
            ci: Some("Muller".into()),
            open_cases: 1,
        },
    ]
}

pub(super) fn key(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(super) fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

pub(super) fn typed(text: &str) -> Vec<Action> {
    text.chars().map(|c| key(KeyCode::Char(c))).collect()
}

pub(super) fn app(width: u16, height: u16) -> App {
    let settings = Settings {
        keymap: Keymap::defaults(),
        theme: Theme::new(false),
        zone: Zone::Fixed(FixedOffset::west_opt(8 * 3600).unwrap()),
    };
    let mut app = App::new(settings, now(), Rect::new(0, 0, width, height));
    app.update(Action::Engine(snapshot_event()));
    app
}

/// The app with the case view of fixture case 6 loaded.
fn case_app(width: u16, height: u16) -> App {
    case_app_showing(detail(), width, height)
}

/// The app with the case view of fixture case 6 showing `detail`.
fn case_app_showing(detail: CaseDetail, width: u16, height: u16) -> App {
    let mut app = app(width, height);
    app.update(key(KeyCode::Char('s')));
    // Sorted by incident ascending: case 6 is the fifth open case.
    for _ in 0..4 {
        app.update(key(KeyCode::Char('j')));
    }
    app.update(key(KeyCode::Enter));
    app.take_requests();
    app.update(Action::Engine(Event::CaseDetail(Box::new(detail))));
    app
}

/// Fixture case 6 as the engine sends its newest page: entries 3 to 7,
/// with the first two left in the store.
fn newest_page() -> CaseDetail {
    let mut page = detail();
    page.timeline.drain(..2);
    page.older_entries = 2;
    page
}

fn requests(app: &mut App) -> Vec<Request> {
    app.take_requests().into_iter().map(|(_, r)| r).collect()
}

fn press_times(app: &mut App, c: char, times: usize) {
    for _ in 0..times {
        app.update(key(KeyCode::Char(c)));
    }
}

fn draw(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(app.size.width, app.size.height)).unwrap();
    terminal.draw(|frame| render(app, frame)).unwrap();
    mask(&terminal.backend().to_string())
}

fn mask(text: &str) -> String {
    let rules = [
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "YYYY-MM-DD hh:mm"),
        (r"\d{4}-\d{2}-\d{2}", "YYYY-MM-DD"),
        (r"\b\d{2}-\d{2} \d{2}:\d{2}", "MM-DD hh:mm"),
        (r"\b\d{2}:\d{2}\b", "hh:mm"),
        (r"\b50\d{8}\b", "50########"),
    ];
    rules.iter().fold(text.to_owned(), |acc, (pattern, with)| {
        Regex::new(pattern)
            .unwrap()
            .replace_all(&acc, *with)
            .into_owned()
    })
}

/// Snapshots `build` at both sizes.
fn both(name: &str, build: impl Fn(u16, u16) -> App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let app = build(w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), draw(&app));
    }
}

fn with(mut app: App, actions: impl IntoIterator<Item = Action>) -> App {
    for action in actions {
        app.update(action);
    }
    app
}

#[test]
fn list() {
    both("list", app);
}

#[test]
fn list_connecting() {
    both("list_connecting", |w, h| {
        let settings = Settings {
            keymap: Keymap::defaults(),
            theme: Theme::new(false),
            zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        };
        App::new(settings, now(), Rect::new(0, 0, w, h))
    });
}

#[test]
fn list_closed_view_with_gsem_down() {
    both("list_closed_gsem_down", |w, h| {
        let mut down = health();
        down.gsem_reachable = false;
        down.gsem_since = ago(12);
        down.next_retry = Some(now() + TimeDelta::seconds(40));
        down.inbound_blocked_since = Some(ago(30));
        down.problem = Some("GSEM refuses our credentials: check the client certificate".into());
        with(
            app(w, h),
            [Action::Engine(Event::Health(down)), key(KeyCode::Char('v'))],
        )
    });
}

#[test]
fn health_bar_with_serve_unreachable() {
    both("health_serve_lost", |w, h| {
        with(
            app(w, h),
            [Action::Engine(Event::Connection(Connection::Lost {
                to: "https://serve.nersc.example:8443".into(),
                since: ago(3),
                reason: "connection refused (os error 111)".into(),
                retry_at: Some(now() + TimeDelta::seconds(20)),
            }))],
        )
    });
}

#[test]
fn health_bar_lost_before_the_first_snapshot() {
    both("health_serve_lost_connecting", |w, h| {
        let settings = Settings {
            keymap: Keymap::defaults(),
            theme: Theme::new(false),
            zone: Zone::Fixed(FixedOffset::east_opt(0).unwrap()),
        };
        with(
            App::new(settings, now(), Rect::new(0, 0, w, h)),
            [Action::Engine(Event::Connection(Connection::Lost {
                to: "https://serve.nersc.example:8443".into(),
                since: ago(1),
                reason: "401: the user or password is wrong".into(),
                retry_at: None,
            }))],
        )
    });
}

#[test]
fn health_bar_connected_to_serve() {
    both("health_serve_connected", |w, h| {
        with(
            app(w, h),
            [Action::Engine(Event::Connection(Connection::Connected {
                to: "https://serve.nersc.example:8443/".into(),
            }))],
        )
    });
}

#[test]
fn filter_dialog() {
    both("filter", |w, h| {
        with(
            app(w, h),
            [key(KeyCode::Char('/'))]
                .into_iter()
                .chain(typed("state:5 perl")),
        )
    });
}

#[test]
fn help_dialog() {
    both("help", |w, h| with(app(w, h), [key(KeyCode::Char('?'))]));
}

#[test]
fn case_view_timeline() {
    both("case_timeline", case_app);
}

#[test]
fn scrolling_up_to_the_oldest_entry_asks_for_a_page_more_once() {
    both("timeline_older_asked", |w, h| {
        let mut app = case_app_showing(newest_page(), w, h);
        press_times(&mut app, 'k', 100);
        assert_eq!(
            requests(&mut app),
            [Request::LoadCase {
                case: detail().summary.id,
                history: History::Newest(5 + History::PAGE),
            }]
        );
        app
    });
}

#[test]
fn a_page_that_fits_asks_for_more_only_when_scrolled_up() {
    let mut app = case_app_showing(newest_page(), 160, 48);
    assert!(draw(&app).contains("↑ 2 older entries: scroll up to read them"));
    press_times(&mut app, 'j', 1);
    assert_eq!(requests(&mut app), []);
    press_times(&mut app, 'k', 1);
    assert_eq!(
        requests(&mut app),
        [Request::LoadCase {
            case: detail().summary.id,
            history: History::Newest(5 + History::PAGE),
        }]
    );
    assert!(draw(&app).contains("↑ 2 older entries: loading them…"));
}

#[test]
fn the_older_page_keeps_the_view_on_the_entry_it_showed() {
    let mut app = case_app_showing(newest_page(), 80, 24);
    press_times(&mut app, 'k', 100);
    requests(&mut app);
    // A refresh of the same page is not the answer: nothing is asked again.
    app.update(Action::Engine(Event::CaseDetail(Box::new(newest_page()))));
    press_times(&mut app, 'k', 1);
    assert_eq!(requests(&mut app), []);
    assert!(draw(&app).contains("↑ 2 older entries: loading them…"));

    app.update(Action::Engine(Event::CaseDetail(Box::new(detail()))));
    let shown = draw(&app);
    assert!(shown.contains("ACCEPT PROBLEM"), "{shown}");
    assert!(!shown.contains("ENTITLEMENT"), "{shown}");
    assert!(!shown.contains("older entries"), "{shown}");
    // Entry 2 (header, one line of text, a blank) is just above.
    press_times(&mut app, 'k', 3);
    let shown = draw(&app);
    assert!(shown.contains("ENTITLEMENT"), "{shown}");
    assert!(!shown.contains("SERVICE REQUEST"), "{shown}");
    assert_eq!(requests(&mut app), []);
}

#[test]
fn g_asks_for_the_whole_timeline_and_starts_at_its_first_entry() {
    let mut app = case_app_showing(newest_page(), 80, 24);
    press_times(&mut app, 'g', 2);
    assert_eq!(
        requests(&mut app),
        [Request::LoadCase {
            case: detail().summary.id,
            history: History::All,
        }]
    );
    app.update(Action::Engine(Event::CaseDetail(Box::new(detail()))));
    let shown = draw(&app);
    assert!(shown.contains("SERVICE REQUEST"), "{shown}");
    assert!(shown.contains("Timeline (7)"), "{shown}");
}

#[test]
fn case_view_loading() {
    both("case_loading", |w, h| {
        with(app(w, h), [key(KeyCode::Enter)])
    });
}

#[test]
fn case_view_tasks_expanded() {
    both("case_tasks", |w, h| {
        with(
            case_app(w, h),
            [
                key(KeyCode::Tab),
                key(KeyCode::Enter),
                key(KeyCode::Char('j')),
            ],
        )
    });
}

#[test]
fn case_view_parts() {
    both("case_parts", |w, h| {
        with(
            case_app(w, h),
            [
                key(KeyCode::Tab),
                key(KeyCode::Tab),
                key(KeyCode::Char('j')),
            ],
        )
    });
}

#[test]
fn raw_of_a_part_update() {
    both("raw_part", |w, h| {
        with(
            case_app(w, h),
            [
                key(KeyCode::Tab),
                key(KeyCode::Tab),
                key(KeyCode::Char('r')),
            ],
        )
    });
}

#[test]
fn raw_of_a_timeline_entry_scrolled_up() {
    both("raw_timeline", |w, h| {
        with(
            case_app(w, h),
            [
                key(KeyCode::Char('g')),
                key(KeyCode::Char('j')),
                key(KeyCode::Char('j')),
                key(KeyCode::Char('r')),
            ],
        )
    });
}

#[test]
fn comment_dialog_with_long_unicode() {
    both("comment", |w, h| {
        let mut app = case_app(w, h);
        app.update(key(KeyCode::Char('c')));
        app.update(Action::Paste(long_unicode()));
        app
    });
}

#[test]
fn close_dialog_refuses_empty_notes() {
    both("close_refused", |w, h| {
        with(case_app(w, h), [key(KeyCode::Char('x')), ctrl('s')])
    });
}

#[test]
fn close_confirmation() {
    both("close_confirm", |w, h| {
        with(
            case_app(w, h),
            [key(KeyCode::Char('x'))]
                .into_iter()
                .chain(typed("DIMM replaced, node back in service"))
                .chain([ctrl('s')]),
        )
    });
}

#[test]
fn reject_refused_outside_6() {
    both("reject_refused", |w, h| {
        with(case_app(w, h), [key(KeyCode::Char('d'))])
    });
}

#[test]
fn comment_on_a_closed_case_is_refused() {
    both("comment_closed_refused", |w, h| {
        with(
            app(w, h),
            [key(KeyCode::Char('v')), key(KeyCode::Char('c'))],
        )
    });
}

#[test]
fn open_case_picker() {
    both("picker", |w, h| {
        with(
            app(w, h),
            [
                key(KeyCode::Char('n')),
                Action::Engine(Event::Incidents(incidents())),
            ],
        )
    });
}

#[test]
fn open_case_form() {
    both("open_case_form", |w, h| {
        with(
            app(w, h),
            [
                key(KeyCode::Char('n')),
                Action::Engine(Event::Incidents(incidents())),
                key(KeyCode::Enter),
                key(KeyCode::Tab),
                key(KeyCode::Right),
                key(KeyCode::Right),
            ],
        )
    });
}

#[test]
fn open_case_confirmation() {
    both("open_case_confirm", |w, h| {
        with(
            app(w, h),
            [
                key(KeyCode::Char('n')),
                Action::Engine(Event::Incidents(incidents())),
                key(KeyCode::Enter),
                ctrl('s'),
            ],
        )
    });
}

#[test]
fn parked_view() {
    both("parked", |w, h| with(app(w, h), [key(KeyCode::Char('p'))]));
}

#[test]
fn quarantine_view() {
    both("quarantine", |w, h| {
        with(app(w, h), [key(KeyCode::Char('p')), key(KeyCode::Tab)])
    });
}

#[test]
fn drop_confirmation() {
    both("drop_confirm", |w, h| {
        with(
            app(w, h),
            [key(KeyCode::Char('p')), key(KeyCode::Char('x'))],
        )
    });
}

#[test]
fn resize_rewraps_the_timeline() {
    let mut app = case_app(160, 48);
    app.update(Action::Resize {
        width: 80,
        height: 24,
    });
    insta::assert_snapshot!("resized_to_80x24", draw(&app));
}
