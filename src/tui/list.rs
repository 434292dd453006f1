//! The case list: every case, filtered, sorted and scoped once per change
//! (an index of positions is kept), drawn a screenful at a time, so 10,000
//! cases cost no more per frame than 20.

use std::cell::OnceCell;
use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::clock::age;
use super::text::fit;
use super::theme::Theme;
use crate::console::{CaseId, CaseSummary, Priority, state_words};

/// Which cases the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Open,
    Closed,
    All,
}

impl Scope {
    fn next(self) -> Scope {
        match self {
            Scope::Open => Scope::Closed,
            Scope::Closed => Scope::All,
            Scope::All => Scope::Open,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scope::Open => "open",
            Scope::Closed => "closed",
            Scope::All => "all",
        }
    }

    fn admits(self, case: &CaseSummary) -> bool {
        match self {
            Scope::Open => !case.finished(),
            Scope::Closed => case.finished(),
            Scope::All => true,
        }
    }
}

/// The column the list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Updated,
    Incident,
    HpeCase,
    System,
    Priority,
    State,
}

impl SortKey {
    const ORDER: [SortKey; 6] = [
        SortKey::Updated,
        SortKey::Incident,
        SortKey::HpeCase,
        SortKey::System,
        SortKey::Priority,
        SortKey::State,
    ];

    fn next(self) -> SortKey {
        let i = Self::ORDER.iter().position(|k| *k == self).unwrap_or(0);
        Self::ORDER[(i + 1) % Self::ORDER.len()]
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Updated => "updated",
            SortKey::Incident => "incident",
            SortKey::HpeCase => "HPE case",
            SortKey::System => "system",
            SortKey::Priority => "priority",
            SortKey::State => "state",
        }
    }

    /// Newest, most urgent first; names alphabetically.
    fn descending_by_default(self) -> bool {
        matches!(self, SortKey::Updated | SortKey::Priority)
    }

    fn compare(self, a: &CaseSummary, b: &CaseSummary) -> Ordering {
        match self {
            SortKey::Updated => a.updated.cmp(&b.updated),
            SortKey::Incident => a.incident.cmp(&b.incident),
            SortKey::HpeCase => a.provider_id.cmp(&b.provider_id),
            SortKey::System => a.system.cmp(&b.system),
            SortKey::Priority => a.priority.cmp(&b.priority),
            SortKey::State => a.pending_state.cmp(&b.pending_state),
        }
    }
}

/// One condition of the filter; a case must meet all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Text(String),
    State(u8),
    StateWords(String),
    System(String),
    Pending,
    Failed,
    Info,
    Overdue,
}

/// A parsed filter: `word`, `state:5`, `state:hpe`, `system:perl`,
/// `is:pending|failed|info|overdue`. Everything is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

impl Filter {
    pub fn parse(text: &str) -> Filter {
        let terms = text
            .split_whitespace()
            .map(|token| {
                let lower = token.to_lowercase();
                if let Some(v) = lower.strip_prefix("state:") {
                    match v.parse::<u8>() {
                        Ok(code) => Term::State(code),
                        Err(_) => Term::StateWords(v.to_owned()),
                    }
                } else if let Some(v) = lower.strip_prefix("system:") {
                    Term::System(v.to_owned())
                } else {
                    match lower.as_str() {
                        "is:pending" => Term::Pending,
                        "is:failed" => Term::Failed,
                        "is:info" => Term::Info,
                        "is:overdue" => Term::Overdue,
                        _ => Term::Text(lower),
                    }
                }
            })
            .collect();
        Filter { terms }
    }

    fn admits(&self, row: &ListRow) -> bool {
        let c = &row.case;
        self.terms.iter().all(|t| match t {
            Term::Text(word) => row.haystack().contains(word.as_str()),
            Term::State(code) => c.state == *code || c.pending_state == *code,
            Term::StateWords(words) => state_words(c.pending_state)
                .to_lowercase()
                .replace(' ', "")
                .contains(words.as_str()),
            Term::System(name) => c.system.to_lowercase().contains(name.as_str()),
            Term::Pending => c.flags.pending,
            Term::Failed => c.flags.failed,
            Term::Info => c.flags.info_requested,
            Term::Overdue => c.flags.overdue,
        })
    }
}

#[derive(Debug, Clone)]
struct ListRow {
    case: CaseSummary,
    /// Lower-case text the filter's words search, made the first time a
    /// filter has words (not for every case of a snapshot) and kept until
    /// the case changes.
    haystack: OnceCell<String>,
}

impl ListRow {
    fn new(case: CaseSummary) -> ListRow {
        ListRow {
            case,
            haystack: OnceCell::new(),
        }
    }

    fn haystack(&self) -> &str {
        self.haystack.get_or_init(|| {
            let case = &self.case;
            [
                case.incident.as_str(),
                case.tracking.as_str(),
                case.provider_id.as_deref().unwrap_or(""),
                case.system.as_str(),
                case.priority.label(),
                state_words(case.pending_state),
                case.workflow_status.as_deref().unwrap_or(""),
            ]
            .join("\u{1f}")
            .to_lowercase()
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct CaseList {
    rows: Vec<ListRow>,
    index: HashMap<CaseId, usize>,
    /// Positions in `rows` of the cases shown, in display order.
    view: Vec<usize>,
    filter_text: String,
    filter: Filter,
    sort: SortKey,
    descending: bool,
    scope: Scope,
    selected: usize,
    offset: usize,
}

impl CaseList {
    pub fn new() -> CaseList {
        CaseList {
            descending: SortKey::Updated.descending_by_default(),
            ..CaseList::default()
        }
    }

    pub fn replace_all(&mut self, cases: Vec<CaseSummary>) {
        let keep = self.selected_id();
        self.rows = cases.into_iter().map(ListRow::new).collect();
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.case.id, i))
            .collect();
        self.recompute(keep);
    }

    /// Adds or replaces one case and moves it to its place in the view: a
    /// binary search, not a new sort of every case (a case view's detail
    /// brings its summary along each time it arrives).
    pub fn upsert(&mut self, case: CaseSummary) {
        let keep = self.selected_id();
        let i = match self.index.get(&case.id) {
            Some(&i) if self.rows[i].case == case => return,
            Some(&i) => {
                self.rows[i] = ListRow::new(case);
                if let Some(pos) = self.view.iter().position(|&v| v == i) {
                    self.view.remove(pos);
                }
                i
            }
            None => {
                let i = self.rows.len();
                self.index.insert(case.id, i);
                self.rows.push(ListRow::new(case));
                i
            }
        };
        if self.admits(i) {
            let pos = self
                .view
                .partition_point(|&v| self.order(v, i) == Ordering::Less);
            self.view.insert(pos, i);
        }
        self.reselect(keep);
    }

    pub fn get(&self, id: CaseId) -> Option<&CaseSummary> {
        self.index.get(&id).map(|&i| &self.rows[i].case)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn shown(&self) -> usize {
        self.view.len()
    }

    pub fn selected(&self) -> Option<&CaseSummary> {
        self.view.get(self.selected).map(|&i| &self.rows[i].case)
    }

    fn selected_id(&self) -> Option<CaseId> {
        self.selected().map(|c| c.id)
    }

    pub fn filter_text(&self) -> &str {
        &self.filter_text
    }

    pub fn set_filter(&mut self, text: &str) {
        if text == self.filter_text {
            return;
        }
        let keep = self.selected_id();
        self.filter_text = text.to_owned();
        self.filter = Filter::parse(text);
        self.recompute(keep);
    }

    pub fn next_sort(&mut self) {
        let keep = self.selected_id();
        self.sort = self.sort.next();
        self.descending = self.sort.descending_by_default();
        self.recompute(keep);
    }

    pub fn reverse(&mut self) {
        let keep = self.selected_id();
        self.descending = !self.descending;
        self.recompute(keep);
    }

    pub fn next_scope(&mut self) {
        self.scope = self.scope.next();
        self.recompute(None);
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    pub fn sort(&self) -> (SortKey, bool) {
        (self.sort, self.descending)
    }

    /// Rebuilds the view and keeps the same case selected when it is still
    /// shown.
    fn recompute(&mut self, keep: Option<CaseId>) {
        let mut view: Vec<usize> = (0..self.rows.len()).filter(|&i| self.admits(i)).collect();
        view.sort_by(|&a, &b| self.order(a, b));
        self.view = view;
        self.reselect(keep);
    }

    /// Whether row `i` is in the view.
    fn admits(&self, i: usize) -> bool {
        let row = &self.rows[i];
        self.scope.admits(&row.case) && self.filter.admits(row)
    }

    /// The view's order of rows `a` and `b`: the sort key, then the case id.
    fn order(&self, a: usize, b: usize) -> Ordering {
        let (a, b) = (&self.rows[a].case, &self.rows[b].case);
        let primary = self.sort.compare(a, b);
        let primary = if self.descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| a.id.cmp(&b.id))
    }

    fn reselect(&mut self, keep: Option<CaseId>) {
        self.selected = keep
            .and_then(|id| self.view.iter().position(|&i| self.rows[i].case.id == id))
            .unwrap_or(self.selected)
            .min(self.view.len().saturating_sub(1));
    }

    /// Moves the selection by `delta` rows and scrolls so it stays inside a
    /// window of `height` rows.
    pub fn move_by(&mut self, delta: isize, height: usize) {
        let last = self.view.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(delta).min(last);
        self.scroll_into_view(height);
    }

    pub fn select_first(&mut self, height: usize) {
        self.selected = 0;
        self.scroll_into_view(height);
    }

    pub fn select_last(&mut self, height: usize) {
        self.selected = self.view.len().saturating_sub(1);
        self.scroll_into_view(height);
    }

    pub fn scroll_into_view(&mut self, height: usize) {
        let height = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(self.view.len().saturating_sub(height));
    }

    /// Draws the visible window only.
    pub fn render(&self, frame: &mut Frame, area: Rect, theme: &Theme, now: DateTime<Utc>) {
        let columns = fit_columns(area.width);
        let header = Row::new(columns.iter().map(|c| Cell::from(c.title()))).style(theme.header());
        let height = usize::from(area.height.saturating_sub(1));
        // The window is clamped here too: the offset was set for the last
        // known size, and drawing must not depend on that being current.
        let offset = self.offset.min(self.view.len().saturating_sub(height));
        let rows = self
            .view
            .iter()
            .enumerate()
            .skip(offset)
            .take(height)
            .map(|(pos, &i)| {
                let case = &self.rows[i].case;
                let row = Row::new(columns.iter().map(|c| c.cell(case, theme, now)));
                if pos == self.selected {
                    row.style(theme.selected())
                } else {
                    row
                }
            });
        let widths = columns.iter().map(|c| c.constraint());
        let table = Table::new(rows, widths).header(header).column_spacing(1);
        frame.render_widget(table, area);
        if self.view.is_empty() {
            let message = if self.rows.is_empty() {
                "No cases yet. Press n to open one from an incident."
            } else {
                "No case matches: change the filter (/) or the view (v)."
            };
            let inner = Rect {
                y: area.y.saturating_add(2),
                height: 1,
                ..area
            };
            frame.render_widget(Line::styled(message, theme.dim()), inner);
        }
    }
}

/// The list's columns, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Marks,
    Incident,
    HpeCase,
    System,
    Priority,
    State,
    Workflow,
    Updated,
    Tasks,
    Parts,
}

impl Column {
    const DISPLAY: [Column; 10] = [
        Column::Marks,
        Column::Incident,
        Column::HpeCase,
        Column::System,
        Column::Priority,
        Column::State,
        Column::Workflow,
        Column::Updated,
        Column::Tasks,
        Column::Parts,
    ];

    /// Most needed first: narrow terminals drop from the end.
    const NEED: [Column; 10] = [
        Column::Marks,
        Column::Incident,
        Column::State,
        Column::HpeCase,
        Column::Updated,
        Column::Priority,
        Column::System,
        Column::Tasks,
        Column::Parts,
        Column::Workflow,
    ];

    fn width(self) -> u16 {
        match self {
            Column::Marks => 4,
            Column::Incident => 11,
            Column::HpeCase => 11,
            Column::System => 10,
            Column::Priority => 13,
            Column::State => 19,
            Column::Workflow => 20,
            Column::Updated => 5,
            Column::Tasks => 5,
            Column::Parts => 5,
        }
    }

    fn constraint(self) -> Constraint {
        match self {
            Column::Workflow => Constraint::Fill(1),
            other => Constraint::Length(other.width()),
        }
    }

    fn title(self) -> &'static str {
        match self {
            Column::Marks => "",
            Column::Incident => "Incident",
            Column::HpeCase => "HPE case",
            Column::System => "System",
            Column::Priority => "Priority",
            Column::State => "State",
            Column::Workflow => "HPE status",
            Column::Updated => "Age",
            Column::Tasks => "Tasks",
            Column::Parts => "Parts",
        }
    }

    fn cell(self, case: &CaseSummary, theme: &Theme, now: DateTime<Utc>) -> Cell<'static> {
        let limit = usize::from(self.width());
        match self {
            Column::Marks => Cell::from(marks(case, theme)),
            Column::Incident => Cell::from(fit(&case.incident, limit)),
            Column::HpeCase => match &case.provider_id {
                Some(id) => Cell::from(fit(id, limit)),
                None => Cell::from(Span::styled("requested…", theme.pending())),
            },
            Column::System => Cell::from(fit(&case.system, limit)),
            Column::Priority => {
                let text = short_priority(case.priority);
                match case.priority {
                    Priority::Normal => Cell::from(text),
                    _ => Cell::from(Span::styled(text, theme.warning())),
                }
            }
            Column::State => Cell::from(state_cell(case, limit)),
            Column::Workflow => Cell::from(fit(case.workflow_status.as_deref().unwrap_or(""), 60)),
            Column::Updated => Cell::from(age(case.updated, now)),
            Column::Tasks => Cell::from(count(case.open_tasks)),
            Column::Parts => Cell::from(count(case.parts_in_transit)),
        }
    }
}

fn count(n: u32) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

fn short_priority(p: Priority) -> &'static str {
    match p {
        Priority::Normal => "Normal",
        Priority::CriticalDegraded => "Crit Degraded",
        Priority::CriticalDown => "Crit Down",
    }
}

/// The state in words; a pending change shows as `old → new`.
fn state_cell(case: &CaseSummary, limit: usize) -> String {
    if case.pending_state == case.state {
        fit(state_words(case.state), limit)
    } else {
        fit(&format!("→ {}", state_words(case.pending_state)), limit)
    }
}

/// `…` pending, `✗` failed, `?` waiting on us, `!` overdue: marks, not
/// colours, so they read without colour too.
fn marks(case: &CaseSummary, theme: &Theme) -> Line<'static> {
    let f = case.flags;
    let mut spans = Vec::new();
    if f.failed {
        spans.push(Span::styled("✗", theme.error()));
    }
    if f.overdue {
        spans.push(Span::styled("!", theme.error()));
    }
    if f.info_requested {
        spans.push(Span::styled("?", theme.warning()));
    }
    if f.pending {
        spans.push(Span::styled("…", theme.pending()));
    }
    Line::from(spans)
}

/// The columns that fit in `width`, most needed first, in display order.
fn fit_columns(width: u16) -> Vec<Column> {
    let mut used: u16 = 0;
    let mut chosen = Vec::new();
    for c in Column::NEED {
        let extra = c.width() + u16::from(!chosen.is_empty());
        if used + extra > width {
            break;
        }
        used += extra;
        chosen.push(c);
    }
    Column::DISPLAY
        .into_iter()
        .filter(|c| chosen.contains(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_drop_the_least_needed_columns() {
        assert_eq!(fit_columns(160).len(), 10);
        assert_eq!(fit_columns(120).len(), 10);
        assert_eq!(
            fit_columns(80),
            vec![
                Column::Marks,
                Column::Incident,
                Column::HpeCase,
                Column::System,
                Column::Priority,
                Column::State,
                Column::Updated
            ]
        );
    }

    fn summary(id: CaseId, minutes: i64, state: u8) -> CaseSummary {
        CaseSummary {
            id,
            incident: format!("INC{id:07}"),
            tracking: format!("INC{id:07}_1"),
            provider_id: None,
            system: "perlmutter".into(),
            priority: Priority::Normal,
            state,
            pending_state: state,
            workflow_status: None,
            updated: DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap(),
            open_tasks: 0,
            parts_in_transit: 0,
            flags: Default::default(),
        }
    }

    fn shown(list: &CaseList) -> Vec<CaseId> {
        list.view.iter().map(|&i| list.rows[i].case.id).collect()
    }

    #[test]
    fn an_upsert_puts_the_case_where_a_full_sort_would() {
        let mut list = CaseList::new();
        list.replace_all((1..=6).map(|id| summary(id, id * 10, 5)).collect());
        assert_eq!(shown(&list), vec![6, 5, 4, 3, 2, 1]);
        list.move_by(2, 10);
        assert_eq!(list.selected().map(|c| c.id), Some(4));
        // Newer than all, as old as another (the id breaks the tie), closed
        // (out of the open view), new, and back open.
        list.upsert(summary(2, 100, 5));
        assert_eq!(shown(&list), vec![2, 6, 5, 4, 3, 1]);
        list.upsert(summary(1, 40, 5));
        assert_eq!(shown(&list), vec![2, 6, 5, 1, 4, 3]);
        list.upsert(summary(5, 50, 7));
        assert_eq!(shown(&list), vec![2, 6, 1, 4, 3]);
        list.upsert(summary(7, 35, 3));
        assert_eq!(shown(&list), vec![2, 6, 1, 4, 7, 3]);
        list.upsert(summary(5, 0, 5));
        assert_eq!(shown(&list), vec![2, 6, 1, 4, 7, 3, 5]);
        assert_eq!(list.selected().map(|c| c.id), Some(4));
        let incremental = shown(&list);
        list.recompute(None);
        assert_eq!(shown(&list), incremental);
    }

    #[test]
    fn filter_terms_parse() {
        assert_eq!(
            Filter::parse("Perl state:5 state:Hpe system:X is:overdue").terms,
            vec![
                Term::Text("perl".into()),
                Term::State(5),
                Term::StateWords("hpe".into()),
                Term::System("x".into()),
                Term::Overdue
            ]
        );
    }
}
