//! Dialogs drawn over the screens: help, filter, the open-case dialog and
//! its incident picker, the text dialogs (comment, close, reject, edit),
//! confirmation and the raw-text viewer.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::editor::Editor;
use super::keymap::{Command, Keymap};
use super::text::{fit, wrap};
use super::theme::Theme;
use crate::console::rules::CloseKind;
use crate::console::{CaseId, IncidentSummary, Priority, Request, SystemChoice};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Help { scroll: usize },
    Filter { editor: Editor, previous: String },
    Picker(Picker),
    OpenCase(Box<OpenCaseForm>),
    Text(TextDialog),
    Confirm(Confirm),
    Raw(RawView),
}

/// Choosing the incident a case is opened from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picker {
    pub query: Editor,
    pub selected: usize,
    /// A typed number being looked up by the engine.
    pub waiting: Option<String>,
}

impl Picker {
    /// The incidents matching the query (number or words).
    pub fn matches<'a>(&self, incidents: &'a [IncidentSummary]) -> Vec<&'a IncidentSummary> {
        let query = self.query.text().trim().to_lowercase();
        incidents
            .iter()
            .filter(|i| {
                query.is_empty()
                    || i.number.to_lowercase().contains(&query)
                    || i.short_description.to_lowercase().contains(&query)
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    System,
    Priority,
    Title,
    Description,
}

impl FormField {
    const ALL: [FormField; 4] = [
        FormField::System,
        FormField::Priority,
        FormField::Title,
        FormField::Description,
    ];

    pub fn cycle(self, forward: bool) -> FormField {
        let i = Self::ALL.iter().position(|f| *f == self).unwrap_or(0);
        let n = Self::ALL.len();
        Self::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// The open-case dialog of the NERSC integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCaseForm {
    pub incident: IncidentSummary,
    /// Index into the configured systems.
    pub system: usize,
    pub priority: Priority,
    pub title: Editor,
    pub description: Editor,
    pub field: FormField,
}

impl OpenCaseForm {
    /// Prefilled from the incident: its CI picks the system when one
    /// matches, its texts become title and description.
    pub fn new(incident: IncidentSummary, systems: &[SystemChoice]) -> OpenCaseForm {
        let system = incident
            .ci
            .as_deref()
            .and_then(|ci| systems.iter().position(|s| s.matches_ci(ci)))
            .unwrap_or(0);
        OpenCaseForm {
            title: Editor::single_line(&incident.short_description),
            description: Editor::multi_line(&incident.description),
            incident,
            system,
            priority: Priority::Normal,
            field: FormField::System,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextPurpose {
    Comment,
    Close(CloseKind),
    Reject,
    EditBody { seq: i64 },
}

/// A dialog around one multi-line editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextDialog {
    pub purpose: TextPurpose,
    pub case: Option<CaseId>,
    /// What the dialog is about, e.g. the incident number.
    pub subject: String,
    pub editor: Editor,
}

/// A question before something that cannot be undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub question: Vec<String>,
    pub request: Request,
    /// How the pending request is named in the status line.
    pub label: String,
    /// Where "no" returns to (the dialog whose text must not be lost).
    pub back: Option<Box<Dialog>>,
}

/// A text shown verbatim (sanitized), wrapped for the dialog width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawView {
    pub title: String,
    pub text: String,
    pub lines: Vec<String>,
    pub scroll: usize,
}

impl RawView {
    pub fn new(title: String, text: String, screen: Rect) -> RawView {
        let mut view = RawView {
            title,
            text,
            lines: Vec::new(),
            scroll: 0,
        };
        view.rewrap(screen);
        view
    }

    pub fn rewrap(&mut self, screen: Rect) {
        let inner = Block::bordered().inner(big(screen));
        self.lines = wrap(&self.text, usize::from(inner.width));
    }

    pub fn scroll_by(&mut self, delta: isize, screen: Rect) {
        let height = usize::from(Block::bordered().inner(big(screen)).height);
        let max = self.lines.len().saturating_sub(height);
        self.scroll = self.scroll.saturating_add_signed(delta).min(max);
    }
}

/// The area of a large dialog: nearly the whole screen.
pub fn big(screen: Rect) -> Rect {
    centered(
        screen,
        screen.width.saturating_sub(4).min(110),
        screen.height.saturating_sub(2),
    )
}

fn centered(screen: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(screen);
    let [area] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    area
}

fn frame_block(frame: &mut Frame, area: Rect, title: String, theme: &Theme) -> Rect {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Span::styled(title, theme.title()))
        .border_style(theme.focus_border());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

fn hint(keymap: &Keymap, theme: &Theme, items: &[(Command, &str)]) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (c, what)) in items.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(keymap.keys_text(*c), theme.key()));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

/// What the dialogs need besides themselves.
pub struct DialogContext<'a> {
    pub keymap: &'a Keymap,
    pub theme: &'a Theme,
    pub incidents: Option<&'a [IncidentSummary]>,
    pub systems: &'a [SystemChoice],
}

impl Dialog {
    pub fn render(&self, frame: &mut Frame, screen: Rect, cx: &DialogContext<'_>) {
        match self {
            Dialog::Help { scroll } => render_help(frame, screen, *scroll, cx),
            Dialog::Filter { editor, .. } => {
                let area = Rect {
                    y: screen.bottom().saturating_sub(3),
                    height: 3,
                    ..screen
                };
                let inner = frame_block(
                    frame,
                    area,
                    "Filter: words, state:N, system:NAME, is:pending|failed|info|overdue".into(),
                    cx.theme,
                );
                let [prompt, field] =
                    Layout::horizontal([Constraint::Length(2), Constraint::Fill(1)]).areas(inner);
                frame.render_widget(Span::styled("/ ", cx.theme.key()), prompt);
                editor.render(frame, field, cx.theme.text(), true);
            }
            Dialog::Picker(p) => render_picker(frame, screen, p, cx),
            Dialog::OpenCase(form) => render_form(frame, screen, form, cx),
            Dialog::Text(t) => render_text(frame, screen, t, cx),
            Dialog::Confirm(c) => {
                let width = screen.width.saturating_sub(4).min(72);
                let mut lines: Vec<Line> = c
                    .question
                    .iter()
                    .flat_map(|q| wrap(q, usize::from(width.saturating_sub(2))))
                    .map(Line::raw)
                    .collect();
                lines.push(Line::raw(""));
                lines.push(hint(
                    cx.keymap,
                    cx.theme,
                    &[(Command::Confirm, "yes, send it"), (Command::Back, "no")],
                ));
                let height = u16::try_from(lines.len() + 2)
                    .unwrap_or(u16::MAX)
                    .min(screen.height);
                let inner = frame_block(
                    frame,
                    centered(screen, width, height),
                    "Confirm".into(),
                    cx.theme,
                );
                frame.render_widget(Paragraph::new(lines), inner);
            }
            Dialog::Raw(raw) => {
                let inner = frame_block(frame, big(screen), raw.title.clone(), cx.theme);
                let lines: Vec<Line> = raw
                    .lines
                    .iter()
                    .skip(raw.scroll)
                    .take(usize::from(inner.height))
                    .map(|l| Line::raw(l.clone()))
                    .collect();
                frame.render_widget(Paragraph::new(lines), inner);
            }
        }
    }
}

fn render_help(frame: &mut Frame, screen: Rect, scroll: usize, cx: &DialogContext<'_>) {
    let inner = frame_block(
        frame,
        big(screen),
        "Help (generated from the keymap; [ui.keys] in the config changes keys)".into(),
        cx.theme,
    );
    let mut lines = Vec::new();
    for (group, commands) in cx.keymap.help() {
        lines.push(Line::styled(group.title(), cx.theme.header()));
        for (keys, command) in commands {
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<18}"), cx.theme.key()),
                Span::styled(format!("{:<12}", command.name()), cx.theme.dim()),
                Span::raw(command.help()),
            ]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled("Marks", cx.theme.header()));
    for (mark, meaning) in [
        ("✗", "a message of ours was refused for good (parked)"),
        (
            "!",
            "overdue: no answer to the SERVICE REQUEST in time (query it)",
        ),
        (
            "?",
            "HPE waits on us (information requested); after a status: HPE's own word",
        ),
        ("…", "something of ours is pending (not yet acknowledged)"),
        (
            "␛ ⟨U+202E⟩",
            "control characters and bidi controls in outside text, shown not obeyed",
        ),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!("  {mark:<18}"), cx.theme.key()),
            Span::raw(meaning),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("In editors", cx.theme.header()));
    lines.push(Line::raw("  Enter new line · arrows, Home/End, Ctrl-a/e · Ctrl-w, Ctrl-k, Ctrl-u delete · paste keeps the text as is"));
    let max = lines.len().saturating_sub(usize::from(inner.height));
    let lines: Vec<Line> = lines.into_iter().skip(scroll.min(max)).collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn render_picker(frame: &mut Frame, screen: Rect, p: &Picker, cx: &DialogContext<'_>) {
    let inner = frame_block(
        frame,
        big(screen),
        "Open an HPE case: choose the incident".into(),
        cx.theme,
    );
    let [prompt, list, foot] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let [label, field] =
        Layout::horizontal([Constraint::Length(20), Constraint::Fill(1)]).areas(Rect {
            height: 1,
            ..prompt
        });
    frame.render_widget(Span::styled("Incident or words: ", cx.theme.title()), label);
    p.query.render(frame, field, cx.theme.text(), true);
    let width = usize::from(list.width);
    let lines: Vec<Line> = match (cx.incidents, &p.waiting) {
        (_, Some(number)) => vec![Line::styled(
            format!("Looking up {}…", fit(number, 40)),
            cx.theme.pending(),
        )],
        (None, None) => vec![Line::styled("Loading the incidents…", cx.theme.pending())],
        (Some(all), None) => {
            let matches = p.matches(all);
            if matches.is_empty() {
                vec![Line::styled(
                    "No incident matches; Enter looks the typed number up.",
                    cx.theme.dim(),
                )]
            } else {
                let height = usize::from(list.height);
                let top = (p.selected + 1).saturating_sub(height);
                matches
                    .iter()
                    .enumerate()
                    .skip(top)
                    .take(height)
                    .map(|(i, inc)| {
                        let open = if inc.open_cases > 0 {
                            format!("  ({} open case)", inc.open_cases)
                        } else {
                            String::new()
                        };
                        let ci = inc
                            .ci
                            .as_deref()
                            .map(|c| format!("[{}] ", fit(c, 16)))
                            .unwrap_or_default();
                        let line = Line::from(vec![
                            Span::styled(
                                format!("{:<11} ", fit(&inc.number, 11)),
                                cx.theme.title(),
                            ),
                            Span::styled(ci.clone(), cx.theme.dim()),
                            Span::raw(fit(
                                &inc.short_description,
                                width
                                    .saturating_sub(12 + ci.chars().count() + open.chars().count()),
                            )),
                            Span::styled(open, cx.theme.warning()),
                        ]);
                        if i == p.selected {
                            line.patch_style(cx.theme.selected())
                        } else {
                            line
                        }
                    })
                    .collect()
            }
        }
    };
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(
        hint(
            cx.keymap,
            cx.theme,
            &[
                (Command::ShowCase, "choose / look up"),
                (Command::Back, "cancel"),
            ],
        ),
        foot,
    );
}

fn render_form(frame: &mut Frame, screen: Rect, form: &OpenCaseForm, cx: &DialogContext<'_>) {
    let inner = frame_block(
        frame,
        big(screen),
        format!("Open an HPE case for {}", fit(&form.incident.number, 20)),
        cx.theme,
    );
    let [
        incident,
        system,
        priority,
        title,
        desc_label,
        description,
        foot,
    ] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let label = |field: Option<FormField>, text: &str| -> Span<'static> {
        let focused = field == Some(form.field);
        let mark = if focused { "› " } else { "  " };
        Span::styled(
            format!("{mark}{text:<13}"),
            if focused {
                cx.theme.key()
            } else {
                cx.theme.title()
            },
        )
    };
    let width = usize::from(inner.width).saturating_sub(15);
    frame.render_widget(
        Line::from(vec![
            label(None, "Incident"),
            Span::styled(
                fit(
                    &format!(
                        "{}  {}",
                        form.incident.number, form.incident.short_description
                    ),
                    width,
                ),
                cx.theme.dim(),
            ),
        ]),
        incident,
    );
    let system_text = cx.systems.get(form.system).map_or_else(
        || "no HPE system is configured".to_owned(),
        |s| format!("◂ {} (serial {}) ▸", s.name, s.serial),
    );
    frame.render_widget(
        Line::from(vec![
            label(Some(FormField::System), "HPE system"),
            Span::raw(fit(&system_text, width)),
        ]),
        system,
    );
    frame.render_widget(
        Line::from(vec![
            label(Some(FormField::Priority), "Priority"),
            Span::raw(format!("◂ {} ▸", form.priority.label())),
        ]),
        priority,
    );
    let [title_label, title_field] =
        Layout::horizontal([Constraint::Length(15), Constraint::Fill(1)]).areas(title);
    frame.render_widget(label(Some(FormField::Title), "Title"), title_label);
    form.title.render(
        frame,
        title_field,
        cx.theme.text(),
        form.field == FormField::Title,
    );
    frame.render_widget(
        label(Some(FormField::Description), "Description"),
        desc_label,
    );
    let desc_area = Rect {
        x: description.x.saturating_add(2),
        width: description.width.saturating_sub(2),
        ..description
    };
    form.description.render(
        frame,
        desc_area,
        cx.theme.text(),
        form.field == FormField::Description,
    );
    frame.render_widget(
        hint(
            cx.keymap,
            cx.theme,
            &[
                (Command::Submit, "submit"),
                (Command::NextField, "next field"),
                (Command::Back, "cancel"),
            ],
        ),
        foot,
    );
}

fn render_text(frame: &mut Frame, screen: Rect, t: &TextDialog, cx: &DialogContext<'_>) {
    let (title, note) = match t.purpose {
        TextPurpose::Comment => (
            format!("Comment on {}", t.subject),
            "Sent to HPE and to the incident.",
        ),
        TextPurpose::Close(kind) => (
            format!("Close {}: sends {}", t.subject, kind.transaction()),
            "Closure notes are mandatory; they go to HPE and the incident.",
        ),
        TextPurpose::Reject => (
            format!("Reject the resolution of {}", t.subject),
            "Say why HPE's proposed resolution does not solve the problem.",
        ),
        TextPurpose::EditBody { .. } => (
            format!("Edit parked message {}", t.subject),
            "The JSON body as it will be sent again.",
        ),
    };
    let inner = frame_block(
        frame,
        big(screen),
        fit(&title, usize::from(screen.width).saturating_sub(8)),
        cx.theme,
    );
    let [note_area, editor_area, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Line::styled(note, cx.theme.dim()), note_area);
    t.editor.render(frame, editor_area, cx.theme.text(), true);
    frame.render_widget(
        hint(
            cx.keymap,
            cx.theme,
            &[(Command::Submit, "send"), (Command::Back, "cancel")],
        ),
        foot,
    );
}
