//! Drawing: a pure function of the [`App`]. No I/O, no clock, nothing
//! mutated.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};

use super::app::{App, Screen, main_area};
use super::dialogs::DialogContext;
use super::health;
use super::keymap::Command;
use super::parked::ParkedData;

/// Draws the whole console.
pub fn render(app: &App, frame: &mut Frame) {
    let size = frame.area();
    let theme = &app.settings.theme;
    let zone = &app.settings.zone;
    health::render(
        frame,
        Rect { height: 1, ..size },
        app.health.as_ref(),
        app.connection.as_ref(),
        theme,
        zone,
        app.now,
    );
    let main = main_area(size);
    match &app.screen {
        Screen::List => render_list(app, frame, main),
        Screen::Case(view) => view.render(frame, main, app.list.get(view.case), theme, zone),
        Screen::Parked(view) => {
            let data = ParkedData {
                parked: &app.parked,
                quarantine: &app.quarantine,
                now: app.now,
            };
            view.render(frame, main, &data, theme, zone);
        }
    }
    render_key_bar(
        app,
        frame,
        Rect {
            y: size.bottom().saturating_sub(1),
            height: 1,
            ..size
        },
    );
    if let Some(dialog) = &app.dialog {
        let cx = DialogContext {
            keymap: &app.settings.keymap,
            theme,
            incidents: app.incidents.as_deref(),
            systems: &app.systems,
        };
        dialog.render(frame, size, &cx);
    }
}

fn render_list(app: &App, frame: &mut Frame, area: Rect) {
    let [title, table] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    let list = &app.list;
    let (key, descending) = list.sort();
    let mut spans = vec![
        Span::styled(
            format!("Cases: {}", list.scope().label()),
            app.settings.theme.title(),
        ),
        Span::raw(format!(
            " · {} of {} · sorted by {} {}",
            list.shown(),
            list.len(),
            key.label(),
            if descending { "↓" } else { "↑" }
        )),
    ];
    if !list.filter_text().is_empty() {
        spans.push(Span::raw(" · filter: "));
        spans.push(Span::styled(
            super::text::fit(list.filter_text(), 60),
            app.settings.theme.key(),
        ));
    }
    frame.render_widget(Line::from(spans), title);
    list.render(frame, table, &app.settings.theme, app.now);
}

fn render_key_bar(app: &App, frame: &mut Frame, area: Rect) {
    let theme = &app.settings.theme;
    if let Some(status) = &app.status {
        let style = if status.error {
            theme.error()
        } else {
            theme.good()
        };
        frame.render_widget(
            Line::styled(
                super::text::fit(&status.text, usize::from(area.width)),
                style,
            ),
            area,
        );
        return;
    }
    let commands: &[Command] = match app.screen {
        Screen::List => &[
            Command::Help,
            Command::ShowCase,
            Command::Filter,
            Command::OpenCase,
            Command::Comment,
            Command::Close,
            Command::View,
            Command::Sort,
            Command::ParkedView,
            Command::Quit,
        ],
        Screen::Case(_) => &[
            Command::Back,
            Command::NextPane,
            Command::Comment,
            Command::Close,
            Command::Reject,
            Command::Query,
            Command::Raw,
            Command::Expand,
            Command::Help,
        ],
        Screen::Parked(_) => &[
            Command::Back,
            Command::NextPane,
            Command::Retry,
            Command::EditRetry,
            Command::Drop,
            Command::Expand,
            Command::Help,
        ],
    };
    let mut spans = Vec::new();
    let pending = app.pending.len();
    if pending > 0 {
        spans.push(Span::styled(
            format!("⧗ {pending} pending "),
            theme.pending(),
        ));
    }
    for command in commands {
        if let Some(key) = app.settings.keymap.first_key(*command) {
            spans.push(Span::styled(key.to_string(), theme.key()));
            spans.push(Span::raw(format!(" {}  ", command.short())));
        }
    }
    frame.render_widget(Line::from(spans), area);
}
