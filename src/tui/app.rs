//! The console's state and its one place of change, [`App::update`].
//! Nothing here waits: requests are queued in `outgoing` for the runner to
//! hand to the engine, and answers come back as [`Action::Engine`].

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;

use super::case_view::{CaseLayout, CaseView, Pane};
use super::clock::Zone;
use super::dialogs::{
    Confirm, Dialog, FormField, OpenCaseForm, Picker, RawView, TextDialog, TextPurpose,
};
use super::editor::Editor;
use super::keymap::{Command, Group, KeyChord, Keymap, KeymapError};
use super::list::CaseList;
use super::parked::{ParkedView, Tab};
use super::theme::Theme;
use crate::console::rules::{self, CloseKind};
use crate::console::{
    CaseSummary, Connection, Event, Health, History, IncidentSummary, OpenCase, ParkedMessage,
    Priority, QuarantineEntry, Request, RequestId, SystemChoice,
};

/// How the console looks and which keys it answers to.
#[derive(Debug, Clone)]
pub struct Settings {
    pub keymap: Keymap,
    pub theme: Theme,
    pub zone: Zone,
}

impl Settings {
    /// From `[ui.keys]`, `NO_COLOR` and the local time zone.
    pub fn from_config<'a>(
        keys: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Settings, KeymapError> {
        Ok(Settings {
            keymap: Keymap::with_overrides(keys)?,
            theme: Theme::from_env(),
            zone: Zone::Local,
        })
    }
}

/// Everything that changes the console's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Key(KeyEvent),
    Paste(String),
    Resize {
        width: u16,
        height: u16,
    },
    /// The wall clock, for ages; the runner ticks once a second.
    Tick(DateTime<Utc>),
    Engine(Event),
    /// The engine's end of the link is gone.
    EngineGone,
}

#[derive(Debug, Clone)]
pub enum Screen {
    List,
    Case(Box<CaseView>),
    Parked(ParkedView),
}

/// A request sent and not yet answered.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// How the status line names it.
    pub(super) label: String,
    /// The dialog it was submitted from, with what was typed, to bring back
    /// if the engine refuses it.
    pub(super) draft: Option<Dialog>,
}

/// The message line at the bottom; cleared by the next key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub(super) settings: Settings,
    pub(super) now: DateTime<Utc>,
    pub(super) size: Rect,
    pub(super) list: CaseList,
    pub(super) health: Option<Health>,
    /// The link to a remote engine (`serve`), when there is one.
    pub(super) connection: Option<Connection>,
    pub(super) systems: Vec<SystemChoice>,
    pub(super) parked: Vec<ParkedMessage>,
    pub(super) quarantine: Vec<QuarantineEntry>,
    pub(super) incidents: Option<Vec<IncidentSummary>>,
    pub(super) screen: Screen,
    pub(super) dialog: Option<Dialog>,
    pub(super) status: Option<StatusLine>,
    /// Requests sent and not yet answered, with how to name them.
    pub(super) pending: BTreeMap<RequestId, Pending>,
    /// Drafts of refused requests that came back while another dialog was
    /// open: each reopens, oldest first, when the dialog on screen closes.
    pub(super) drafts: VecDeque<Dialog>,
    next_request: u64,
    outgoing: Vec<(RequestId, Request)>,
    quit: bool,
    dirty: bool,
    pub(super) engine_gone: bool,
}

/// The area between the health line and the key bar.
pub fn main_area(size: Rect) -> Rect {
    Rect {
        y: size.y.saturating_add(1),
        height: size.height.saturating_sub(2),
        ..size
    }
}

fn ctrl_c() -> KeyChord {
    KeyChord::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
}

impl App {
    pub fn new(settings: Settings, now: DateTime<Utc>, size: Rect) -> App {
        App {
            settings,
            now,
            size,
            list: CaseList::new(),
            health: None,
            connection: None,
            systems: Vec::new(),
            parked: Vec::new(),
            quarantine: Vec::new(),
            incidents: None,
            screen: Screen::List,
            dialog: None,
            status: None,
            pending: BTreeMap::new(),
            drafts: VecDeque::new(),
            next_request: 1,
            outgoing: Vec::new(),
            quit: false,
            dirty: true,
            engine_gone: false,
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Whether something changed since the last call (the runner draws only
    /// then).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The requests to hand to the engine, oldest first.
    pub fn take_requests(&mut self) -> Vec<(RequestId, Request)> {
        std::mem::take(&mut self.outgoing)
    }

    pub fn screen(&self) -> &Screen {
        &self.screen
    }

    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    pub fn status(&self) -> Option<&StatusLine> {
        self.status.as_ref()
    }

    pub fn list(&self) -> &CaseList {
        &self.list
    }

    /// Names of the requests the engine has not answered yet.
    pub fn pending(&self) -> impl Iterator<Item = &str> {
        self.pending.values().map(|p| p.label.as_str())
    }

    /// How many refused drafts wait for the dialog on screen to close.
    pub fn waiting_drafts(&self) -> usize {
        self.drafts.len()
    }

    pub fn update(&mut self, action: Action) {
        self.dirty = true;
        match action {
            Action::Key(key) => self.on_key(key),
            Action::Paste(text) => self.on_paste(&text),
            Action::Resize { width, height } => self.on_resize(Rect::new(0, 0, width, height)),
            Action::Tick(now) => self.now = now,
            Action::Engine(event) => self.on_event(event),
            Action::EngineGone => {
                self.engine_gone = true;
                self.error(crate::console::LinkClosed.to_string());
            }
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(StatusLine {
            text: text.into(),
            error: false,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some(StatusLine {
            text: text.into(),
            error: true,
        });
    }

    fn send(&mut self, request: Request, label: Option<String>) {
        self.send_draft(request, label, None);
    }

    /// Sends a request typed in `draft`, which comes back if it is refused.
    fn send_draft(&mut self, request: Request, label: Option<String>, draft: Option<Dialog>) {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        if let Some(label) = label {
            self.pending.insert(id, Pending { label, draft });
        }
        self.outgoing.push((id, request));
    }

    fn list_height(&self) -> usize {
        usize::from(main_area(self.size).height.saturating_sub(2))
    }

    fn case_layout(&self) -> CaseLayout {
        CaseLayout::new(main_area(self.size))
    }

    fn timeline_width(&self) -> usize {
        usize::from(self.case_layout().timeline_inner().width)
    }

    fn timeline_height(&self) -> usize {
        usize::from(self.case_layout().timeline_inner().height)
    }

    fn on_resize(&mut self, size: Rect) {
        self.size = size;
        let width = self.timeline_width();
        let (theme, zone) = (self.settings.theme, self.settings.zone);
        if let Screen::Case(view) = &mut self.screen
            && view.wrapped_for() != width
        {
            view.rewrap(&theme, &zone, width);
        }
        if let Some(Dialog::Raw(raw)) = &mut self.dialog {
            raw.rewrap(size);
        }
        let height = self.list_height();
        self.list.scroll_into_view(height);
    }

    fn on_paste(&mut self, text: &str) {
        match &mut self.dialog {
            Some(Dialog::Text(t)) => t.editor.insert_str(text),
            Some(Dialog::Filter { editor, .. }) => {
                editor.insert_str(text);
                let filter = editor.text();
                self.list.set_filter(&filter);
            }
            Some(Dialog::Picker(p)) => {
                p.query.insert_str(text);
                p.selected = 0;
            }
            Some(Dialog::OpenCase(form)) => match form.field {
                FormField::Title => form.title.insert_str(text),
                FormField::Description => form.description.insert_str(text),
                FormField::System | FormField::Priority => {}
            },
            _ => {}
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Snapshot(snapshot) => {
                let snapshot = *snapshot;
                self.list.replace_all(snapshot.cases);
                self.health = Some(snapshot.health);
                self.systems = snapshot.systems;
                self.parked = snapshot.parked;
                self.quarantine = snapshot.quarantine;
                let height = self.list_height();
                self.list.scroll_into_view(height);
            }
            Event::CaseChanged(summary) => {
                if let Screen::Case(view) = &mut self.screen
                    && view.case == summary.id
                {
                    view.set_summary(&summary);
                }
                self.list.upsert(summary);
            }
            Event::CaseDetail(detail) => {
                let width = self.timeline_width();
                let (theme, zone) = (self.settings.theme, self.settings.zone);
                self.list.upsert(detail.summary.clone());
                if let Screen::Case(view) = &mut self.screen
                    && view.case == detail.summary.id
                {
                    view.set_detail(detail, &theme, &zone, width);
                }
            }
            Event::Incidents(incidents) => self.incidents = Some(incidents),
            Event::IncidentFound(incident) => {
                let waiting = matches!(&self.dialog, Some(Dialog::Picker(p)) if p.waiting.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(&incident.number)));
                if let Some(all) = &mut self.incidents
                    && !all.iter().any(|i| i.number == incident.number)
                {
                    all.push(incident.clone());
                }
                if waiting {
                    self.dialog = Some(Dialog::OpenCase(Box::new(OpenCaseForm::new(
                        incident,
                        &self.systems,
                    ))));
                }
            }
            Event::Health(health) => self.health = Some(health),
            Event::Parked(parked) => {
                self.parked = parked;
                self.clamp_parked();
            }
            Event::Quarantine(quarantine) => {
                self.quarantine = quarantine;
                self.clamp_parked();
            }
            Event::RequestAccepted { request, .. } => {
                if let Some(pending) = self.pending.remove(&request) {
                    self.info(format!("✓ {}: queued", pending.label));
                }
            }
            // The health bar shows it for as long as it lasts; the status
            // line tells of the change.
            Event::Connection(connection) => {
                match &connection {
                    Connection::Connected { to } => self.info(format!("Connected to {to}")),
                    Connection::Lost { to, reason, .. } => self.error(format!(
                        "Lost the connection to {to}: {reason}. Reconnecting; what you type is kept"
                    )),
                }
                self.connection = Some(connection);
            }
            Event::RequestFailed { request, reason } => {
                let pending = self.pending.remove(&request);
                if let Some(Dialog::Picker(p)) = &mut self.dialog {
                    p.waiting = None;
                }
                match pending {
                    Some(Pending {
                        label,
                        draft: Some(draft),
                    }) => {
                        let kept = if self.dialog.is_none() {
                            self.dialog = Some(draft);
                            "your text is back in the dialog"
                        } else {
                            self.drafts.push_back(draft);
                            "your text is kept: it reopens when this dialog closes"
                        };
                        self.error(format!("✗ {label}: {reason}. {}", capitalized(kept)));
                    }
                    Some(Pending { label, draft: None }) => {
                        self.error(format!("✗ {label}: {reason}"))
                    }
                    None => self.error(format!("✗ {reason}")),
                }
            }
        }
    }

    fn clamp_parked(&mut self) {
        let len = self.parked_len();
        if let Screen::Parked(view) = &mut self.screen {
            view.move_by(0, len);
        }
    }

    fn parked_len(&self) -> usize {
        match &self.screen {
            Screen::Parked(view) if view.tab == Tab::Quarantine => self.quarantine.len(),
            _ => self.parked.len(),
        }
    }

    fn is(&self, command: Command, chord: KeyChord) -> bool {
        self.settings.keymap.keys(command).contains(&chord)
    }

    fn groups(&self) -> &'static [Group] {
        match self.screen {
            Screen::List => &[
                Group::List,
                Group::CaseActions,
                Group::Navigation,
                Group::Global,
            ],
            Screen::Case(_) => &[
                Group::CaseView,
                Group::Panes,
                Group::CaseActions,
                Group::Navigation,
                Group::Global,
            ],
            Screen::Parked(_) => &[
                Group::Parked,
                Group::Panes,
                Group::Navigation,
                Group::Global,
            ],
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        let chord = KeyChord::from_event(&key);
        if chord == ctrl_c() {
            self.quit = true;
            return;
        }
        self.status = None;
        if let Some(dialog) = self.dialog.take() {
            self.dialog = self.dialog_key(dialog, &key, chord);
            if self.dialog.is_none() {
                self.dialog = self.drafts.pop_front();
            }
            return;
        }
        if let Some(command) = self.settings.keymap.command(self.groups(), chord) {
            self.command(command);
        }
    }

    /// The case an action from the current screen is about.
    fn target(&self) -> Option<CaseSummary> {
        match &self.screen {
            Screen::List => self.list.selected().cloned(),
            Screen::Case(view) => self
                .list
                .get(view.case)
                .cloned()
                .or_else(|| view.detail.as_ref().map(|d| d.summary.clone())),
            Screen::Parked(_) => None,
        }
    }

    fn page(&self) -> isize {
        let height = match &self.screen {
            Screen::List => self.list_height(),
            Screen::Case(_) => self.timeline_height(),
            Screen::Parked(_) => 10,
        };
        isize::try_from(height.max(1)).unwrap_or(isize::MAX)
    }

    fn navigate(&mut self, command: Command) {
        let delta = match command {
            Command::Up => -1,
            Command::Down => 1,
            Command::PageUp => -self.page(),
            Command::PageDown => self.page(),
            Command::Top => isize::MIN / 2,
            _ => isize::MAX / 2,
        };
        let list_height = self.list_height();
        let timeline_height = self.timeline_height();
        let parked_len = self.parked_len();
        let more = match &mut self.screen {
            Screen::List => {
                self.list.move_by(delta, list_height);
                None
            }
            Screen::Case(view) => view
                .navigate(command, delta, timeline_height)
                .map(|history| (view.case, history)),
            Screen::Parked(view) => {
                view.move_by(delta, parked_len);
                None
            }
        };
        if let Some((case, history)) = more {
            self.send(Request::LoadCase { case, history }, None);
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Quit => self.quit = true,
            Command::Help => self.dialog = Some(Dialog::Help { scroll: 0 }),
            Command::Back => self.back(),
            Command::ParkedView => self.leave_case(Screen::Parked(ParkedView::default())),
            Command::OpenCase => self.start_open_case(),
            Command::Up
            | Command::Down
            | Command::Top
            | Command::Bottom
            | Command::PageUp
            | Command::PageDown => {
                self.navigate(command);
            }
            Command::NextPane | Command::PrevPane => {
                let forward = command == Command::NextPane;
                match &mut self.screen {
                    Screen::Case(view) => view.pane = view.pane.cycle(forward),
                    Screen::Parked(view) => view.switch(),
                    Screen::List => {}
                }
            }
            Command::ShowCase => {
                if let Some(case) = self.list.selected().map(|c| c.id) {
                    self.screen = Screen::Case(Box::new(CaseView::new(case)));
                    let history = History::FIRST_PAGE;
                    self.send(Request::LoadCase { case, history }, None);
                }
            }
            Command::Filter => {
                let previous = self.list.filter_text().to_owned();
                self.dialog = Some(Dialog::Filter {
                    editor: Editor::single_line(&previous),
                    previous,
                });
            }
            Command::Sort => self.list.next_sort(),
            Command::Reverse => self.list.reverse(),
            Command::View => self.list.next_scope(),
            Command::Comment | Command::Close | Command::Reject | Command::Query => {
                self.case_action(command)
            }
            Command::Raw => self.show_raw(),
            Command::Expand => self.expand(),
            Command::Retry | Command::EditRetry | Command::Drop => self.parked_action(command),
            Command::Submit | Command::NextField | Command::PrevField | Command::Confirm => {}
        }
    }

    fn leave_case(&mut self, to: Screen) {
        if matches!(self.screen, Screen::Case(_)) {
            self.send(Request::UnloadCase, None);
        }
        self.screen = to;
    }

    fn back(&mut self) {
        match self.screen {
            Screen::List => {
                if !self.list.filter_text().is_empty() {
                    self.list.set_filter("");
                    self.info("Filter cleared");
                }
            }
            Screen::Case(_) | Screen::Parked(_) => self.leave_case(Screen::List),
        }
    }

    fn start_open_case(&mut self) {
        // Before the first snapshot the systems are not known yet, not absent.
        if self.health.is_none() {
            self.error("The engine has not sent its cases and systems yet (still starting or connecting): try again in a moment");
            return;
        }
        if self.systems.is_empty() {
            self.error("No HPE system is configured: add the systems to the config ([[systems]]) to open cases");
            return;
        }
        self.send(Request::LoadIncidents, None);
        self.dialog = Some(Dialog::Picker(Picker {
            query: Editor::single_line(""),
            selected: 0,
            waiting: None,
        }));
    }

    fn case_action(&mut self, command: Command) {
        let Some(case) = self.target() else {
            self.error("No case selected");
            return;
        };
        let subject = case.incident.clone();
        let text_dialog = |purpose| {
            Some(Dialog::Text(TextDialog {
                purpose,
                case: Some(case.id),
                subject: subject.clone(),
                editor: Editor::multi_line(""),
            }))
        };
        let outcome = match command {
            Command::Comment => {
                rules::may_comment(&case).map(|()| text_dialog(TextPurpose::Comment))
            }
            Command::Close => {
                rules::may_close(&case).map(|kind| text_dialog(TextPurpose::Close(kind)))
            }
            Command::Reject => rules::may_reject(&case).map(|()| text_dialog(TextPurpose::Reject)),
            _ => rules::check_query(&case).map(|()| {
                self.send(
                    Request::Query { case: case.id },
                    Some(format!("query of {}", case.incident)),
                );
                None
            }),
        };
        match outcome {
            Ok(dialog) => {
                if dialog.is_none() {
                    self.info(format!("Query of {} sent to the engine", case.incident));
                }
                self.dialog = dialog;
            }
            Err(refusal) => self.error(format!("Refused: {refusal}")),
        }
    }

    fn show_raw(&mut self) {
        let Screen::Case(view) = &self.screen else {
            return;
        };
        let raw = match view.pane {
            Pane::Timeline => view
                .current_entry(self.timeline_height())
                .map(|e| match &e.raw {
                    Some(raw) => Ok((
                        format!(
                            "Raw message: {} {}",
                            e.kind,
                            self.settings.zone.date_time(e.time)
                        ),
                        raw.clone(),
                    )),
                    None => Err(
                        "This entry has no raw message: it was written here or in ServiceNow"
                            .to_owned(),
                    ),
                }),
            Pane::Tasks | Pane::Parts => view.selected_event().map(|(what, event)| {
                Ok((
                    format!(
                        "Raw update of {what}: {} {}",
                        event.status,
                        self.settings.zone.date_time(event.time)
                    ),
                    event.raw.clone(),
                ))
            }),
        };
        match raw {
            Some(Ok((title, text))) => {
                self.dialog = Some(Dialog::Raw(RawView::new(title, text, self.size)))
            }
            Some(Err(message)) => self.error(message),
            None => self.error("Nothing selected"),
        }
    }

    fn expand(&mut self) {
        match &mut self.screen {
            Screen::Case(view) => view.toggle_expand(),
            Screen::Parked(view) => {
                let shown = match view.tab {
                    Tab::Parked => self
                        .parked
                        .get(view.selected)
                        .map(|m| (format!("Parked message #{}", m.seq), m.body.clone())),
                    Tab::Quarantine => self
                        .quarantine
                        .get(view.selected)
                        .map(|q| (format!("Quarantined message #{}", q.id), q.body.clone())),
                };
                if let Some((title, body)) = shown {
                    self.dialog = Some(Dialog::Raw(RawView::new(title, body, self.size)));
                }
            }
            Screen::List => {}
        }
    }

    fn parked_action(&mut self, command: Command) {
        let Screen::Parked(view) = &self.screen else {
            return;
        };
        match view.tab {
            Tab::Parked => {
                let Some(m) = self.parked.get(view.selected).cloned() else {
                    return;
                };
                let label = format!(
                    "parked message #{} ({} for {})",
                    m.seq, m.transaction, m.incident
                );
                match command {
                    Command::Retry => self.send(
                        Request::RetryOutbox { seq: m.seq },
                        Some(format!("retry of {label}")),
                    ),
                    Command::EditRetry => {
                        self.dialog = Some(Dialog::Text(TextDialog {
                            purpose: TextPurpose::EditBody { seq: m.seq },
                            case: None,
                            subject: format!("#{}", m.seq),
                            editor: Editor::multi_line(&m.body),
                        }));
                    }
                    _ => {
                        let consequence = if m.transaction.eq_ignore_ascii_case("SERVICE REQUEST") {
                            "This cancels the case locally, with its queued messages."
                        } else {
                            "It will never be sent; later messages of the case go ahead."
                        };
                        self.dialog = Some(Dialog::Confirm(Confirm {
                            question: vec![format!("Drop {label}?"), consequence.to_owned()],
                            request: Request::DropOutbox { seq: m.seq },
                            label: format!("drop of {label}"),
                            back: None,
                        }));
                    }
                }
            }
            Tab::Quarantine => {
                let Some(q) = self.quarantine.get(view.selected).cloned() else {
                    return;
                };
                let label = format!("quarantined message #{}", q.id);
                match command {
                    Command::Retry => self.send(Request::ReplayQuarantine { id: q.id }, Some(format!("replay of {label}"))),
                    Command::EditRetry => self.error("A quarantined message is replayed as received; fix the rules or the config, then replay it"),
                    _ => {
                        self.dialog = Some(Dialog::Confirm(Confirm {
                            question: vec![format!("Discard {label} ({})?", q.reason), "It will never be applied.".to_owned()],
                            request: Request::DiscardQuarantine { id: q.id },
                            label: format!("discard of {label}"),
                            back: None,
                        }));
                    }
                }
            }
        }
    }

    /// Handles a key in a dialog; returns the dialog to show next.
    fn dialog_key(&mut self, dialog: Dialog, key: &KeyEvent, chord: KeyChord) -> Option<Dialog> {
        let back = self.is(Command::Back, chord);
        match dialog {
            Dialog::Help { scroll } => {
                let command = self
                    .settings
                    .keymap
                    .command(&[Group::Navigation, Group::Global], chord);
                match command {
                    Some(Command::Down) => Some(Dialog::Help { scroll: scroll + 1 }),
                    Some(Command::Up) => Some(Dialog::Help {
                        scroll: scroll.saturating_sub(1),
                    }),
                    Some(Command::PageDown) => Some(Dialog::Help {
                        scroll: scroll + 10,
                    }),
                    Some(Command::PageUp) => Some(Dialog::Help {
                        scroll: scroll.saturating_sub(10),
                    }),
                    Some(Command::Quit) => {
                        self.quit = true;
                        None
                    }
                    _ => None,
                }
            }
            Dialog::Raw(mut raw) => {
                let command = self
                    .settings
                    .keymap
                    .command(&[Group::Navigation, Group::CaseView, Group::Global], chord);
                let delta = match command {
                    Some(Command::Down) => 1,
                    Some(Command::Up) => -1,
                    Some(Command::PageDown) => 20,
                    Some(Command::PageUp) => -20,
                    Some(Command::Top) => isize::MIN / 2,
                    Some(Command::Bottom) => isize::MAX / 2,
                    _ => return None,
                };
                raw.scroll_by(delta, self.size);
                Some(Dialog::Raw(raw))
            }
            Dialog::Filter {
                mut editor,
                previous,
            } => {
                if back {
                    self.list.set_filter(&previous);
                    return None;
                }
                if key.code == KeyCode::Enter {
                    return None;
                }
                editor.handle_key(key);
                self.list.set_filter(&editor.text());
                let height = self.list_height();
                self.list.scroll_into_view(height);
                Some(Dialog::Filter { editor, previous })
            }
            Dialog::Picker(picker) => self.picker_key(picker, key, back),
            Dialog::OpenCase(form) => self.form_key(form, key, chord, back),
            Dialog::Text(text) => self.text_key(text, key, chord, back),
            Dialog::Confirm(confirm) => {
                if self.is(Command::Confirm, chord) {
                    self.info(format!(
                        "{} sent to the engine",
                        capitalized(&confirm.label)
                    ));
                    self.send_draft(
                        confirm.request,
                        Some(confirm.label),
                        confirm.back.map(|b| *b),
                    );
                    None
                } else if back || key.code == KeyCode::Char('n') {
                    confirm.back.map(|b| *b)
                } else {
                    Some(Dialog::Confirm(confirm))
                }
            }
        }
    }

    fn picker_key(&mut self, mut picker: Picker, key: &KeyEvent, back: bool) -> Option<Dialog> {
        if back {
            return None;
        }
        let incidents = self.incidents.as_deref().unwrap_or(&[]);
        let matches = picker.matches(incidents);
        match key.code {
            KeyCode::Up => picker.selected = picker.selected.saturating_sub(1),
            KeyCode::Down => {
                picker.selected = (picker.selected + 1).min(matches.len().saturating_sub(1))
            }
            KeyCode::Enter if picker.waiting.is_none() => {
                if let Some(incident) = matches.get(picker.selected) {
                    return Some(Dialog::OpenCase(Box::new(OpenCaseForm::new(
                        (*incident).clone(),
                        &self.systems,
                    ))));
                }
                let number = picker.query.text().trim().to_uppercase();
                if number.is_empty() {
                    self.error("Type an incident number, or choose one from the list");
                } else {
                    picker.waiting = Some(number.clone());
                    self.send(
                        Request::LookupIncident {
                            number: number.clone(),
                        },
                        Some(format!("look-up of {number}")),
                    );
                }
            }
            _ => {
                if picker.query.handle_key(key) {
                    picker.selected = 0;
                }
            }
        }
        Some(Dialog::Picker(picker))
    }

    fn form_key(
        &mut self,
        mut form: Box<OpenCaseForm>,
        key: &KeyEvent,
        chord: KeyChord,
        back: bool,
    ) -> Option<Dialog> {
        if back {
            return None;
        }
        if self.is(Command::Submit, chord) {
            return self.submit_form(form);
        }
        if self.is(Command::NextField, chord) || self.is(Command::PrevField, chord) {
            form.field = form.field.cycle(self.is(Command::NextField, chord));
            return Some(Dialog::OpenCase(form));
        }
        let step = match key.code {
            KeyCode::Right | KeyCode::Char(' ') => Some(1),
            KeyCode::Left => Some(-1),
            _ => None,
        };
        match (form.field, step) {
            (FormField::System, Some(step)) if !self.systems.is_empty() => {
                form.system = (form.system + self.systems.len()).saturating_add_signed(step)
                    % self.systems.len();
            }
            (FormField::Priority, Some(step)) => {
                let all = Priority::ALL;
                let i = all.iter().position(|p| *p == form.priority).unwrap_or(0);
                form.priority = all[(i + all.len()).saturating_add_signed(step) % all.len()];
            }
            (FormField::Title, _) => {
                form.title.handle_key(key);
            }
            (FormField::Description, _) => {
                form.description.handle_key(key);
            }
            _ => {}
        }
        Some(Dialog::OpenCase(form))
    }

    fn submit_form(&mut self, form: Box<OpenCaseForm>) -> Option<Dialog> {
        let Some(system) = self.systems.get(form.system) else {
            self.error("No HPE system is configured: add the systems to the config to open cases");
            return Some(Dialog::OpenCase(form));
        };
        if form.title.is_blank() {
            self.error("Refused: a title is mandatory (it is HPE's problem title)");
            return Some(Dialog::OpenCase(form));
        }
        if form.description.is_blank() {
            self.error("Refused: a description is mandatory (it is HPE's problem description)");
            return Some(Dialog::OpenCase(form));
        }
        let request = Request::OpenCase(OpenCase {
            incident: form.incident.number.clone(),
            system: system.name.clone(),
            priority: form.priority,
            title: form.title.text(),
            description: form.description.text(),
        });
        let question = vec![
            format!(
                "Open an HPE case for {} on {} with priority {}?",
                form.incident.number,
                system.name,
                form.priority.label()
            ),
            "HPE receives a SERVICE REQUEST: the case cannot be withdrawn, only closed.".to_owned(),
        ];
        let label = format!("new case for {}", form.incident.number);
        Some(Dialog::Confirm(Confirm {
            question,
            request,
            label,
            back: Some(Box::new(Dialog::OpenCase(form))),
        }))
    }

    fn text_key(
        &mut self,
        mut dialog: TextDialog,
        key: &KeyEvent,
        chord: KeyChord,
        back: bool,
    ) -> Option<Dialog> {
        if back {
            return None;
        }
        if !self.is(Command::Submit, chord) {
            dialog.editor.handle_key(key);
            return Some(Dialog::Text(dialog));
        }
        let text = dialog.editor.text();
        if let TextPurpose::EditBody { seq } = dialog.purpose {
            self.send_draft(
                Request::EditAndRetry { seq, body: text },
                Some(format!("edited retry of parked message #{seq}")),
                Some(Dialog::Text(dialog)),
            );
            return None;
        }
        // The case as it is now: its state may have moved while typing.
        let Some(case) = dialog.case.and_then(|id| self.list.get(id)).cloned() else {
            self.error("This case is no longer known to the engine");
            return Some(Dialog::Text(dialog));
        };
        let checked = match dialog.purpose {
            TextPurpose::Comment => rules::check_comment(&case, &text).map(|()| None),
            TextPurpose::Close(_) => rules::close_transaction(&case, &text).map(Some),
            _ => rules::check_reject(&case, &text).map(|()| None),
        };
        match (checked, dialog.purpose) {
            (Err(refusal), _) => {
                self.error(format!("Refused: {refusal}"));
                Some(Dialog::Text(dialog))
            }
            (Ok(_), TextPurpose::Comment) => {
                let label = format!("comment on {}", case.incident);
                self.info(format!("{} sent to the engine", capitalized(&label)));
                self.send_draft(
                    Request::Comment {
                        case: case.id,
                        text,
                    },
                    Some(label),
                    Some(Dialog::Text(dialog)),
                );
                None
            }
            (Ok(kind), TextPurpose::Close(_)) => {
                let kind = kind.unwrap_or(CloseKind::RequestClosure);
                let question = vec![
                    format!("Send {} for {}?", kind.transaction(), case.incident),
                    "The case closes for good: nothing more can be sent to HPE on it.".to_owned(),
                ];
                let request = Request::Close {
                    case: case.id,
                    notes: text,
                };
                let label = format!("{} of {}", kind.transaction(), case.incident);
                Some(Dialog::Confirm(Confirm {
                    question,
                    request,
                    label,
                    back: Some(Box::new(Dialog::Text(dialog))),
                }))
            }
            (Ok(_), _) => {
                let question = vec![
                    format!("Reject HPE's proposed resolution of {}?", case.incident),
                    "The case goes back to HPE (state 5) with your reason.".to_owned(),
                ];
                let request = Request::RejectResolution {
                    case: case.id,
                    reason: text,
                };
                let label = format!("rejection of the resolution of {}", case.incident);
                Some(Dialog::Confirm(Confirm {
                    question,
                    request,
                    label,
                    back: Some(Box::new(Dialog::Text(dialog))),
                }))
            }
        }
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
