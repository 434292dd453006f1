//! Parked outbound messages and quarantined inbound ones, with what can be
//! done about each.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Tabs, Wrap};

use super::clock::{Zone, age};
use super::sanitize::sanitize_for_display;
use super::text::fit;
use super::theme::Theme;
use crate::console::{ParkedMessage, QuarantineEntry};

/// Lines of a body previewed beside the list; the whole body is one key
/// away (`expand`), so a 1 MiB message costs nothing per frame.
const DETAIL_LINES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Parked,
    Quarantine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedView {
    pub tab: Tab,
    pub selected: usize,
}

impl Default for ParkedView {
    fn default() -> ParkedView {
        ParkedView {
            tab: Tab::Parked,
            selected: 0,
        }
    }
}

/// What the parked view draws besides itself.
pub struct ParkedData<'a> {
    pub parked: &'a [ParkedMessage],
    pub quarantine: &'a [QuarantineEntry],
    pub now: DateTime<Utc>,
}

impl ParkedView {
    pub fn switch(&mut self) {
        self.tab = match self.tab {
            Tab::Parked => Tab::Quarantine,
            Tab::Quarantine => Tab::Parked,
        };
        self.selected = 0;
    }

    pub fn move_by(&mut self, delta: isize, len: usize) {
        self.selected = self
            .selected
            .saturating_add_signed(delta)
            .min(len.saturating_sub(1));
    }

    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        data: &ParkedData<'_>,
        theme: &Theme,
        zone: &Zone,
    ) {
        let ParkedData {
            parked,
            quarantine,
            now,
        } = *data;
        let [tabs_area, list_area, detail_area] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Percentage(40),
            Constraint::Fill(1),
        ])
        .areas(area);
        let titles = vec![
            format!("Parked outbound ({})", parked.len()),
            format!("Quarantined inbound ({})", quarantine.len()),
        ];
        let index = match self.tab {
            Tab::Parked => 0,
            Tab::Quarantine => 1,
        };
        frame.render_widget(
            Tabs::new(titles)
                .select(index)
                .highlight_style(theme.selected()),
            tabs_area,
        );
        let width = usize::from(list_area.width);
        let (rows, detail): (Vec<Line>, Vec<Line>) = match self.tab {
            Tab::Parked => (
                parked
                    .iter()
                    .map(|m| {
                        Line::from(vec![
                            Span::styled(format!("#{:<6} ", m.seq), theme.dim()),
                            Span::styled(format!("{:<11} ", fit(&m.incident, 11)), theme.title()),
                            Span::raw(format!("{:<28} ", fit(&m.transaction, 28))),
                            Span::raw(format!("{:>4} ", age(m.queued_at, now))),
                            Span::styled(fit(&m.detail, width.saturating_sub(53)), theme.error()),
                        ])
                    })
                    .collect(),
                parked.get(self.selected).map_or_else(Vec::new, |m| {
                    let mut lines = vec![
                        Line::from(vec![
                            Span::raw("GSEM said: "),
                            Span::styled(
                                sanitize_for_display(&m.detail).into_owned(),
                                theme.error(),
                            ),
                        ]),
                        Line::raw(format!(
                            "Queued {} · {} attempts",
                            zone.date_time(m.queued_at),
                            m.attempts
                        )),
                        Line::raw(""),
                    ];
                    lines.extend(
                        sanitize_for_display(&m.body)
                            .lines()
                            .take(DETAIL_LINES)
                            .map(|l| Line::raw(l.to_owned())),
                    );
                    lines
                }),
            ),
            Tab::Quarantine => (
                quarantine
                    .iter()
                    .map(|q| {
                        Line::from(vec![
                            Span::styled(format!("#{:<6} ", q.id), theme.dim()),
                            Span::raw(format!(
                                "{:<28} ",
                                fit(q.transaction.as_deref().unwrap_or("(unreadable)"), 28)
                            )),
                            Span::raw(format!(
                                "{:>4} ×{:<3} ",
                                age(q.received_at, now),
                                q.delivery_count
                            )),
                            Span::styled(fit(&q.reason, width.saturating_sub(45)), theme.warning()),
                        ])
                    })
                    .collect(),
                quarantine.get(self.selected).map_or_else(Vec::new, |q| {
                    let mut lines = vec![
                        Line::from(vec![
                            Span::raw("Reason: "),
                            Span::styled(
                                sanitize_for_display(&q.reason).into_owned(),
                                theme.warning(),
                            ),
                        ]),
                        Line::raw(format!(
                            "Received {} · delivered {} times · SHA-256 {}",
                            zone.date_time(q.received_at),
                            q.delivery_count,
                            fit(&q.sha256, 16)
                        )),
                        Line::raw(""),
                    ];
                    lines.extend(
                        sanitize_for_display(&q.body)
                            .lines()
                            .take(DETAIL_LINES)
                            .map(|l| Line::raw(l.to_owned())),
                    );
                    lines
                }),
            ),
        };
        let list_block = Block::bordered().title(match self.tab {
            Tab::Parked => {
                "Refused for good by GSEM: later messages of the same case wait behind these"
            }
            Tab::Quarantine => "Received but not applied",
        });
        let inner = list_block.inner(list_area);
        frame.render_widget(list_block, list_area);
        if rows.is_empty() {
            frame.render_widget(Line::styled("Nothing here.", theme.dim()), inner);
        } else {
            let height = usize::from(inner.height);
            let top = (self.selected + 1).saturating_sub(height);
            let rows: Vec<Line> = rows
                .into_iter()
                .enumerate()
                .skip(top)
                .take(height)
                .map(|(i, l)| {
                    if i == self.selected {
                        l.patch_style(theme.selected())
                    } else {
                        l
                    }
                })
                .collect();
            frame.render_widget(Paragraph::new(rows), inner);
        }
        let detail_block = Block::bordered().title("Message");
        frame.render_widget(
            Paragraph::new(detail)
                .wrap(Wrap { trim: false })
                .block(detail_block),
            detail_area,
        );
    }
}
