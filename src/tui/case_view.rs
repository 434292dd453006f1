//! The case view: the narrative timeline beside the onsite-task and
//! part-order panes (tabs below 120 columns). The timeline is wrapped an
//! entry at a time, the first time a frame or a scroll reaches it, and kept
//! until the detail or the width changes: a case with thousands of entries
//! costs a screenful of wrapping, not all of it, when it opens or refreshes.
//! Nor is all of it read: the view opens on the newest page of entries
//! ([`History::FIRST_PAGE`]) and asks for a page more when the operator
//! scrolls up to the oldest one it has (`g` asks for the whole timeline).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Tabs};

use super::clock::Zone;
use super::keymap::Command;
use super::text::{fit, wrap};
use super::theme::Theme;
use crate::console::{
    CaseDetail, CaseId, CaseSummary, EntryStatus, History, Origin, RecordEvent, TimelineEntry,
    state_words,
};

/// Below this width the panes become tabs.
pub const WIDE: u16 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Timeline,
    Tasks,
    Parts,
}

impl Pane {
    const ALL: [Pane; 3] = [Pane::Timeline, Pane::Tasks, Pane::Parts];

    pub fn cycle(self, forward: bool) -> Pane {
        let i = Self::ALL.iter().position(|p| *p == self).unwrap_or(0);
        let n = Self::ALL.len();
        Self::ALL[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

/// Where the parts of the case view go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseLayout {
    pub header: Rect,
    pub tabs: Option<Rect>,
    pub timeline: Rect,
    pub tasks: Rect,
    pub parts: Rect,
}

impl CaseLayout {
    /// The same function places the panes when drawing and tells `update`
    /// how wide the timeline is, so wrapping and drawing agree.
    pub fn new(area: Rect) -> CaseLayout {
        let [header, body] =
            Layout::vertical([Constraint::Length(3), Constraint::Fill(1)]).areas(area);
        if area.width >= WIDE {
            let [timeline, side] =
                Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                    .areas(body);
            let [tasks, parts] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(side);
            CaseLayout {
                header,
                tabs: None,
                timeline,
                tasks,
                parts,
            }
        } else {
            let [tabs, pane] =
                Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
            CaseLayout {
                header,
                tabs: Some(tabs),
                timeline: pane,
                tasks: pane,
                parts: pane,
            }
        }
    }

    /// Text area of the timeline inside its border.
    pub fn timeline_inner(&self) -> Rect {
        Block::bordered().inner(self.timeline)
    }
}

/// One selectable row of the tasks or parts pane: a record, or one of its
/// events when the record is expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaneRow {
    pub record: usize,
    pub event: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneState {
    pub selected: usize,
    /// Ids of the expanded records (ids, not positions, survive refreshes).
    pub expanded: BTreeSet<String>,
}

/// The first visible timeline line: line `line` of entry `entry`'s lines
/// (its header, its wrapped text, a blank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Anchor {
    entry: usize,
    line: usize,
}

/// Each entry's display lines once made, for the style and width in use.
/// Filled from `&self` (a frame may reach entries no scroll did), which is
/// only memoising: what a frame shows still follows from the detail, the
/// width and the scroll position alone.
#[derive(Debug, Clone, Default)]
struct Wrapped {
    width: usize,
    style: Option<(Theme, Zone)>,
    entries: RefCell<Vec<Option<Arc<[Line<'static>]>>>>,
}

#[derive(Debug, Clone)]
pub struct CaseView {
    pub case: CaseId,
    pub detail: Option<Box<CaseDetail>>,
    pub pane: Pane,
    wrapped: Wrapped,
    scroll: Anchor,
    /// Follow the newest entry until the operator scrolls up.
    follow: bool,
    /// The older entries asked for, until they come.
    history_asked: Option<History>,
    /// `g` asked for the whole timeline: its first entry is to start the
    /// view once it comes.
    top_when_loaded: bool,
    pub tasks: PaneState,
    pub parts: PaneState,
}

fn origin_style(theme: &Theme, origin: Origin) -> Style {
    match origin {
        Origin::Local => theme.local(),
        Origin::Hpe => theme.hpe(),
        Origin::ServiceNow => theme.servicenow(),
    }
}

fn entry_header(entry: &TimelineEntry, theme: &Theme, zone: &Zone) -> Line<'static> {
    let (who, arrow) = match entry.origin {
        Origin::Hpe => ("HPE".to_owned(), "←"),
        Origin::Local => (format!("{} (casebridge)", fit(&entry.author, 30)), "→"),
        Origin::ServiceNow => (format!("{} (ServiceNow)", fit(&entry.author, 30)), "→"),
    };
    let mut spans = vec![
        Span::styled(zone.date_time(entry.time), theme.dim()),
        Span::raw("  "),
        Span::raw(format!("{arrow} ")),
        Span::styled(who, origin_style(theme, entry.origin)),
        Span::raw("  "),
        Span::styled(fit(&entry.kind, 40), theme.title()),
    ];
    match &entry.status {
        EntryStatus::Pending => spans.push(Span::styled("  ⧗ pending", theme.pending())),
        EntryStatus::Failed { reason } => {
            spans.push(Span::styled(
                format!("  ✗ failed: {}", fit(reason, 80)),
                theme.error(),
            ));
        }
        EntryStatus::NotSent { reason } => {
            spans.push(Span::styled(
                format!("  ∅ not sent: {}", fit(reason, 80)),
                theme.warning(),
            ));
        }
        EntryStatus::Sent => spans.push(Span::styled("  ✓ sent", theme.good())),
        EntryStatus::Received => {}
    }
    Line::from(spans)
}

/// A task's or part order's row: its expansion mark, id, status (marked
/// when HPE's word is not one the rules know) and what else fits.
fn record_line(
    expanded: bool,
    id: &str,
    (status, known): (&str, bool),
    rest: &str,
    width: usize,
    theme: &Theme,
) -> Line<'static> {
    let mark = if expanded { "▾" } else { "▸" };
    let status = status_text(status, known);
    let used = 3 + id.len() + 2 + status.chars().count() + 2;
    Line::from(vec![
        Span::raw(format!("{mark} ")),
        Span::styled(id.to_owned(), theme.title()),
        Span::raw("  "),
        Span::styled(status, if known { theme.text() } else { theme.warning() }),
        Span::raw("  "),
        Span::raw(fit(rest, width.saturating_sub(used))),
    ])
}

fn status_text(event_status: &str, known: bool) -> String {
    if known {
        event_status.to_owned()
    } else {
        format!("{}?", fit(event_status, 24))
    }
}

impl CaseView {
    pub fn new(case: CaseId) -> CaseView {
        CaseView {
            case,
            detail: None,
            pane: Pane::Timeline,
            wrapped: Wrapped::default(),
            scroll: Anchor::default(),
            follow: true,
            history_asked: None,
            top_when_loaded: false,
            tasks: PaneState::default(),
            parts: PaneState::default(),
        }
    }

    pub fn set_detail(
        &mut self,
        detail: Box<CaseDetail>,
        theme: &Theme,
        zone: &Zone,
        width: usize,
    ) {
        let older_before = self.detail.as_ref().map(|d| d.older_entries);
        // Scrolled up, the view stays on the entry it showed, wherever
        // older entries or a late one put it in the new timeline.
        let shown = self
            .detail
            .as_ref()
            .filter(|_| !self.follow)
            .and_then(|d| d.timeline.get(self.scroll.entry))
            .map(|e| e.id);
        if let Some(at) = shown.and_then(|id| detail.timeline.iter().position(|e| e.id == id)) {
            self.scroll.entry = at;
        }
        // A refresh of the same page is not the older entries asked for.
        if older_before.is_none_or(|before| detail.older_entries < before) {
            self.history_asked = None;
        }
        if detail.older_entries == 0 && std::mem::take(&mut self.top_when_loaded) {
            self.scroll = Anchor::default();
        }
        self.detail = Some(detail);
        self.rewrap(theme, zone, width);
        self.tasks.selected = self
            .tasks
            .selected
            .min(self.task_rows().len().saturating_sub(1));
        self.parts.selected = self
            .parts
            .selected
            .min(self.part_rows().len().saturating_sub(1));
    }

    /// Summary changes arrive before the new detail: show them at once.
    pub fn set_summary(&mut self, summary: &CaseSummary) {
        if let Some(detail) = &mut self.detail {
            detail.summary = summary.clone();
        }
    }

    pub fn rewrap(&mut self, theme: &Theme, zone: &Zone, width: usize) {
        let count = self.entry_count();
        self.wrapped = Wrapped {
            width,
            style: Some((*theme, *zone)),
            entries: RefCell::new(vec![None; count]),
        };
    }

    pub fn wrapped_for(&self) -> usize {
        self.wrapped.width
    }

    fn entry_count(&self) -> usize {
        self.detail.as_ref().map_or(0, |d| d.timeline.len())
    }

    /// Entry `i`'s lines, made now if no frame or scroll needed them yet.
    fn entry_lines(&self, i: usize) -> Arc<[Line<'static>]> {
        let mut cache = self.wrapped.entries.borrow_mut();
        if let Some(Some(lines)) = cache.get(i) {
            return Arc::clone(lines);
        }
        let entry = self.detail.as_ref().and_then(|d| d.timeline.get(i));
        let (Some(entry), Some((theme, zone))) = (entry, &self.wrapped.style) else {
            return Arc::from(Vec::new());
        };
        let mut lines = vec![entry_header(entry, theme, zone)];
        lines.extend(
            wrap(&entry.text, self.wrapped.width.saturating_sub(2))
                .into_iter()
                .map(|text| Line::raw(format!("  {text}"))),
        );
        lines.push(Line::raw(""));
        let lines: Arc<[Line<'static>]> = Arc::from(lines);
        if let Some(slot) = cache.get_mut(i) {
            *slot = Some(Arc::clone(&lines));
        }
        lines
    }

    /// The top line when the newest entry's last line ends the window.
    fn bottom(&self, height: usize) -> Anchor {
        let mut need = height;
        for entry in (0..self.entry_count()).rev() {
            let len = self.entry_lines(entry).len();
            if len >= need {
                return Anchor {
                    entry,
                    line: len - need,
                };
            }
            need -= len;
        }
        Anchor::default()
    }

    /// First visible line, for a window of `height` lines.
    fn top(&self, height: usize) -> Anchor {
        let bottom = self.bottom(height);
        if self.follow {
            return bottom;
        }
        // A narrower width or a new detail may have left the entry shorter.
        let len = self.entry_lines(self.scroll.entry).len();
        let line = self.scroll.line.min(len.saturating_sub(1));
        bottom.min(Anchor {
            entry: self.scroll.entry,
            line,
        })
    }

    /// `from` moved `delta` lines, no further than `bottom` or the first line.
    fn step(&self, from: Anchor, delta: isize, bottom: Anchor) -> Anchor {
        let Anchor {
            mut entry,
            mut line,
        } = from;
        let mut remaining = delta.unsigned_abs();
        if delta >= 0 {
            loop {
                let len = self.entry_lines(entry).len();
                if line + remaining < len {
                    return bottom.min(Anchor {
                        entry,
                        line: line + remaining,
                    });
                }
                if entry >= bottom.entry {
                    return bottom;
                }
                remaining -= len - line;
                entry += 1;
                line = 0;
            }
        }
        loop {
            if remaining <= line {
                return Anchor {
                    entry,
                    line: line - remaining,
                };
            }
            if entry == 0 {
                return Anchor::default();
            }
            remaining -= line + 1;
            entry -= 1;
            line = self.entry_lines(entry).len().saturating_sub(1);
        }
    }

    /// Moves as `command` asks in the focused pane: the timeline scrolls
    /// (`height` lines high), a record pane moves its selection `delta`
    /// rows. Returns the history to ask for when the timeline has reached
    /// the oldest entry it has and older ones are left.
    pub fn navigate(&mut self, command: Command, delta: isize, height: usize) -> Option<History> {
        match (self.pane, command) {
            (Pane::Timeline, Command::Top) => self.scroll_top(),
            (Pane::Timeline, Command::Bottom) => {
                self.scroll_bottom();
                None
            }
            (Pane::Timeline, _) => self.scroll_by(delta, height),
            _ => {
                self.move_selection(delta);
                None
            }
        }
    }

    /// Scrolls `delta` lines; returns the history to ask for when scrolling
    /// up reached the oldest entry the view has and older ones are left.
    fn scroll_by(&mut self, delta: isize, height: usize) -> Option<History> {
        let bottom = self.bottom(height);
        let top = self.step(self.top(height), delta, bottom);
        self.scroll = top;
        self.follow = top == bottom;
        let at_oldest = delta < 0 && top == Anchor::default();
        if !at_oldest || !self.has_older() || self.history_asked.is_some() {
            return None;
        }
        let page = History::Newest(
            u32::try_from(self.entry_count())
                .unwrap_or(u32::MAX)
                .saturating_add(History::PAGE),
        );
        self.history_asked = Some(page);
        Some(page)
    }

    /// Goes to the first entry; returns the history to ask for when the
    /// view does not have it yet.
    fn scroll_top(&mut self) -> Option<History> {
        self.scroll = Anchor::default();
        self.follow = self.entry_count() == 0;
        if !self.has_older() {
            return None;
        }
        self.top_when_loaded = true;
        if self.history_asked == Some(History::All) {
            return None;
        }
        self.history_asked = Some(History::All);
        Some(History::All)
    }

    /// Whether the case has entries older than the oldest the view has.
    fn has_older(&self) -> bool {
        self.detail.as_ref().is_some_and(|d| d.older_entries > 0)
    }

    fn scroll_bottom(&mut self) {
        self.follow = true;
    }

    /// The entry whose lines start the view: what `raw` shows.
    pub fn current_entry(&self, height: usize) -> Option<&TimelineEntry> {
        let detail = self.detail.as_ref()?;
        detail.timeline.get(self.top(height).entry)
    }

    fn rows(records: impl Iterator<Item = (String, usize)>, state: &PaneState) -> Vec<PaneRow> {
        let mut rows = Vec::new();
        for (record, (id, events)) in records.enumerate() {
            rows.push(PaneRow {
                record,
                event: None,
            });
            if state.expanded.contains(&id) {
                rows.extend((0..events).map(|e| PaneRow {
                    record,
                    event: Some(e),
                }));
            }
        }
        rows
    }

    pub fn task_rows(&self) -> Vec<PaneRow> {
        let Some(d) = &self.detail else {
            return Vec::new();
        };
        Self::rows(
            d.tasks.iter().map(|t| (t.task_id.clone(), t.events.len())),
            &self.tasks,
        )
    }

    pub fn part_rows(&self) -> Vec<PaneRow> {
        let Some(d) = &self.detail else {
            return Vec::new();
        };
        Self::rows(
            d.parts.iter().map(|p| (p.order_id.clone(), p.events.len())),
            &self.parts,
        )
    }

    /// Moves the selection of the focused record pane.
    fn move_selection(&mut self, delta: isize) {
        let len = match self.pane {
            Pane::Tasks => self.task_rows().len(),
            Pane::Parts => self.part_rows().len(),
            Pane::Timeline => return,
        };
        let state = if self.pane == Pane::Tasks {
            &mut self.tasks
        } else {
            &mut self.parts
        };
        state.selected = state
            .selected
            .saturating_add_signed(delta)
            .min(len.saturating_sub(1));
    }

    /// Expands or collapses the record under the selection.
    pub fn toggle_expand(&mut self) {
        let Some(detail) = &self.detail else { return };
        let (rows, state) = match self.pane {
            Pane::Tasks => (self.task_rows(), &self.tasks),
            Pane::Parts => (self.part_rows(), &self.parts),
            Pane::Timeline => return,
        };
        let Some(row) = rows.get(state.selected).copied() else {
            return;
        };
        let id = match self.pane {
            Pane::Tasks => detail.tasks.get(row.record).map(|t| t.task_id.clone()),
            _ => detail.parts.get(row.record).map(|p| p.order_id.clone()),
        };
        let Some(id) = id else { return };
        let state = if self.pane == Pane::Tasks {
            &mut self.tasks
        } else {
            &mut self.parts
        };
        if !state.expanded.remove(&id) {
            state.expanded.insert(id);
        }
        // The record's own row stays (or, collapsing from an event, becomes)
        // the selection.
        let rows = if self.pane == Pane::Tasks {
            self.task_rows()
        } else {
            self.part_rows()
        };
        let state = if self.pane == Pane::Tasks {
            &mut self.tasks
        } else {
            &mut self.parts
        };
        state.selected = rows
            .iter()
            .position(|r| r.record == row.record && r.event.is_none())
            .unwrap_or(0);
    }

    /// The parsed update under the selection of a record pane: the event's,
    /// or the newest event's for a record row.
    pub fn selected_event(&self) -> Option<(String, &RecordEvent)> {
        let detail = self.detail.as_ref()?;
        let (row, events, id) = match self.pane {
            Pane::Tasks => {
                let row = *self.task_rows().get(self.tasks.selected)?;
                let t = detail.tasks.get(row.record)?;
                (row, &t.events, format!("task {}", t.task_id))
            }
            Pane::Parts => {
                let row = *self.part_rows().get(self.parts.selected)?;
                let p = detail.parts.get(row.record)?;
                (row, &p.events, format!("part order {}", p.order_id))
            }
            Pane::Timeline => return None,
        };
        let event = match row.event {
            Some(e) => events.get(e)?,
            None => events.iter().max_by_key(|e| e.time)?,
        };
        Some((id, event))
    }

    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        summary: Option<&CaseSummary>,
        theme: &Theme,
        zone: &Zone,
    ) {
        let layout = CaseLayout::new(area);
        let summary = self.detail.as_ref().map(|d| &d.summary).or(summary);
        self.render_header(frame, layout.header, summary, theme);
        match layout.tabs {
            None => {
                self.render_timeline(frame, layout.timeline, theme);
                self.render_tasks(frame, layout.tasks, theme, zone);
                self.render_parts(frame, layout.parts, theme, zone);
            }
            Some(tabs_area) => {
                let (tasks, parts) = self
                    .detail
                    .as_ref()
                    .map_or((0, 0), |d| (d.tasks.len(), d.parts.len()));
                let titles = vec![
                    "Timeline".to_owned(),
                    format!("Onsite tasks ({tasks})"),
                    format!("Part orders ({parts})"),
                ];
                let selected = Pane::ALL.iter().position(|p| *p == self.pane);
                let tabs = Tabs::new(titles)
                    .select(selected)
                    .highlight_style(theme.selected());
                frame.render_widget(tabs, tabs_area);
                match self.pane {
                    Pane::Timeline => self.render_timeline(frame, layout.timeline, theme),
                    Pane::Tasks => self.render_tasks(frame, layout.tasks, theme, zone),
                    Pane::Parts => self.render_parts(frame, layout.parts, theme, zone),
                }
            }
        }
    }

    fn render_header(
        &self,
        frame: &mut Frame,
        area: Rect,
        summary: Option<&CaseSummary>,
        theme: &Theme,
    ) {
        let Some(s) = summary else {
            frame.render_widget(
                Paragraph::new("This case is no longer known to the engine."),
                area,
            );
            return;
        };
        let hpe = s
            .provider_id
            .clone()
            .unwrap_or_else(|| "requested…".to_owned());
        let mut state = format!("{} ({})", state_words(s.state), s.state);
        if s.pending_state != s.state {
            state.push_str(&format!(" → {} pending", state_words(s.pending_state)));
        }
        let mut first = vec![
            Span::styled(s.incident.clone(), theme.title()),
            Span::raw(format!("  HPE case {}  ", fit(&hpe, 20))),
            Span::raw(format!("{}  ", fit(&s.system, 20))),
            Span::styled(s.priority.label(), theme.warning()),
        ];
        if s.flags.failed {
            first.push(Span::styled("  ✗ failed", theme.error()));
        }
        if s.flags.overdue {
            first.push(Span::styled("  ! overdue", theme.error()));
        }
        if s.flags.info_requested {
            first.push(Span::styled("  ? HPE waits on us", theme.warning()));
        }
        if s.flags.pending {
            first.push(Span::styled("  … pending", theme.pending()));
        }
        let second = Line::from(vec![
            Span::raw("State: "),
            Span::styled(state, theme.title()),
            Span::raw("   HPE status: "),
            Span::raw(fit(s.workflow_status.as_deref().unwrap_or("—"), 40)),
        ]);
        let title = match &self.detail {
            Some(d) => Line::from(vec![
                Span::raw("Title: "),
                Span::styled(fit(&d.title, 200), theme.title()),
            ]),
            None => Line::styled("Loading the case from the engine…", theme.pending()),
        };
        frame.render_widget(Paragraph::new(vec![Line::from(first), second, title]), area);
    }

    fn block(&self, pane: Pane, title: String, theme: &Theme) -> Block<'static> {
        let block = Block::default().borders(Borders::ALL).title(title);
        if self.pane == pane {
            block.border_style(theme.focus_border())
        } else {
            block
        }
    }

    fn render_timeline(&self, frame: &mut Frame, area: Rect, theme: &Theme) {
        let older = self.detail.as_ref().map_or(0, |d| d.older_entries);
        let count = self.entry_count() + usize::try_from(older).unwrap_or(usize::MAX);
        let mut title = format!("Timeline ({count})");
        if let Some(d) = &self.detail
            && d.unparsed_updates > 0
        {
            title.push_str(&format!(
                " · unparsed updates kept as notes: {}",
                d.unparsed_updates
            ));
        }
        let block = self.block(Pane::Timeline, title, theme);
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if self.detail.is_none() {
            frame.render_widget(Line::styled("Loading…", theme.pending()), inner);
            return;
        }
        if self.entry_count() == 0 {
            frame.render_widget(Line::styled("No entries yet.", theme.dim()), inner);
            return;
        }
        let height = usize::from(inner.height);
        let top = self.top(height);
        let mut lines: Vec<Line> = Vec::with_capacity(height);
        if older > 0 && top == Anchor::default() {
            let what = if self.history_asked.is_some() {
                "loading them…"
            } else {
                "scroll up to read them"
            };
            lines.push(Line::styled(
                format!("↑ {older} older entries: {what}"),
                theme.pending(),
            ));
        }
        for entry in top.entry..self.entry_count() {
            let skip = if entry == top.entry { top.line } else { 0 };
            let wrapped = self.entry_lines(entry);
            for (i, line) in wrapped.iter().enumerate().skip(skip) {
                if lines.len() == height {
                    break;
                }
                // The header of the entry that starts the view is the one
                // `raw` would show.
                if i == 0 && entry == top.entry && self.pane == Pane::Timeline {
                    lines.push(line.clone().patch_style(theme.selected()));
                } else {
                    lines.push(line.clone());
                }
            }
            if lines.len() == height {
                break;
            }
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    /// Draws the rows that fit, `line` making each (only those: a case
    /// can have hundreds of part orders).
    fn render_rows(
        frame: &mut Frame,
        area: Rect,
        rows: &[PaneRow],
        line: impl Fn(PaneRow) -> Option<Line<'static>>,
        selected: usize,
        focused: bool,
        theme: &Theme,
    ) {
        let height = usize::from(area.height);
        let top = (selected + 1).saturating_sub(height);
        let lines: Vec<Line> = rows
            .iter()
            .enumerate()
            .skip(top)
            .take(height)
            .filter_map(|(i, row)| {
                let l = line(*row)?;
                Some(if focused && i == selected {
                    l.patch_style(theme.selected())
                } else {
                    l
                })
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), area);
    }

    fn event_line(event: &RecordEvent, theme: &Theme, zone: &Zone) -> Line<'static> {
        Line::from(vec![
            Span::raw("    "),
            Span::styled(zone.date_time(event.time), theme.dim()),
            Span::raw("  "),
            Span::styled(
                status_text(&event.status, event.known),
                if event.known {
                    theme.text()
                } else {
                    theme.warning()
                },
            ),
        ])
    }

    fn render_tasks(&self, frame: &mut Frame, area: Rect, theme: &Theme, zone: &Zone) {
        let tasks = self.detail.as_ref().map_or(&[][..], |d| d.tasks.as_slice());
        let open = tasks.iter().filter(|t| t.open).count();
        let block = self.block(
            Pane::Tasks,
            format!("Onsite tasks ({open} open of {})", tasks.len()),
            theme,
        );
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if tasks.is_empty() {
            frame.render_widget(Line::styled("No onsite tasks.", theme.dim()), inner);
            return;
        }
        let width = usize::from(inner.width);
        let line = |row: PaneRow| {
            let t = tasks.get(row.record)?;
            Some(match row.event {
                Some(e) => Self::event_line(t.events.get(e)?, theme, zone),
                None => {
                    let when = t
                        .engineer_eta
                        .as_deref()
                        .map(|e| format!("ETA {e}"))
                        .or_else(|| t.scheduled_start.as_deref().map(|s| format!("start {s}")));
                    let rest = [
                        when.unwrap_or_default(),
                        t.description.clone().unwrap_or_default(),
                    ]
                    .join("  ");
                    record_line(
                        self.tasks.expanded.contains(&t.task_id),
                        &t.task_id,
                        (&t.status, t.known),
                        &rest,
                        width,
                        theme,
                    )
                }
            })
        };
        Self::render_rows(
            frame,
            inner,
            &self.task_rows(),
            line,
            self.tasks.selected,
            self.pane == Pane::Tasks,
            theme,
        );
    }

    fn render_parts(&self, frame: &mut Frame, area: Rect, theme: &Theme, zone: &Zone) {
        let parts = self.detail.as_ref().map_or(&[][..], |d| d.parts.as_slice());
        let moving = parts.iter().filter(|p| p.in_transit).count();
        let block = self.block(
            Pane::Parts,
            format!("Part orders ({moving} in transit of {})", parts.len()),
            theme,
        );
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if parts.is_empty() {
            frame.render_widget(Line::styled("No part orders.", theme.dim()), inner);
            return;
        }
        let width = usize::from(inner.width);
        let line = |row: PaneRow| {
            let p = parts.get(row.record)?;
            Some(match row.event {
                Some(e) => Self::event_line(p.events.get(e)?, theme, zone),
                None => {
                    let mut rest = Vec::new();
                    let qty = p.quantity.map(|q| format!("{q}× ")).unwrap_or_default();
                    if let Some(pn) = &p.part_number {
                        rest.push(format!("{qty}{pn}"));
                    }
                    if let Some(d) = &p.part_description {
                        rest.push(d.clone());
                    }
                    if let Some(c) = &p.carrier {
                        rest.push(
                            format!("{c} {}", p.tracking_number.as_deref().unwrap_or(""))
                                .trim_end()
                                .to_owned(),
                        );
                    }
                    if let Some(eta) = &p.eta {
                        rest.push(format!("ETA {eta}"));
                    }
                    match (p.return_required, &p.return_status) {
                        (Some(true), Some(s)) => rest.push(format!("return: {s}")),
                        (Some(true), None) => rest.push("return required".to_owned()),
                        _ => {}
                    }
                    record_line(
                        self.parts.expanded.contains(&p.order_id),
                        &p.order_id,
                        (&p.status, p.known),
                        &rest.join("  "),
                        width,
                        theme,
                    )
                }
            })
        };
        Self::render_rows(
            frame,
            inner,
            &self.part_rows(),
            line,
            self.parts.selected,
            self.pane == Pane::Parts,
            theme,
        );
    }
}
