//! The sync-health line, always on screen. Segments come most important
//! first, so a narrow terminal cuts the least important ones.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::clock::{Zone, age, until};
use super::text::fit;
use super::theme::Theme;
use crate::console::{Connection, Health, SyncMode};

pub fn render(
    frame: &mut Frame,
    area: Rect,
    health: Option<&Health>,
    connection: Option<&Connection>,
    theme: &Theme,
    zone: &Zone,
    now: DateTime<Utc>,
) {
    let mut segments: Vec<Span<'static>> = Vec::new();
    // First: while it is lost, everything after it is as of `since`.
    match connection {
        Some(Connection::Lost {
            since,
            reason,
            retry_at,
            ..
        }) => {
            // Short words: at 80 columns the reason must still fit.
            let retry = retry_at.map_or_else(
                || "not retrying".to_owned(),
                |at| format!("retry {}", zone.short(at, now)),
            );
            segments.push(Span::styled(
                format!(
                    "✗ serve unreachable since {}, {retry}: {}",
                    zone.short(*since, now),
                    fit(reason, 100)
                ),
                theme.error(),
            ));
        }
        Some(Connection::Connected { to }) => {
            segments.push(Span::styled(format!("remote: {}", host(to)), theme.dim()));
        }
        None => {}
    }
    let Some(h) = health else {
        segments.push(Span::styled("Connecting to the engine…", theme.pending()));
        frame.render_widget(Line::from(join(segments, theme)), area);
        return;
    };
    if h.demo {
        segments.push(Span::styled("DEMO: simulators only", theme.warning()));
    }
    if h.gsem_reachable {
        segments.push(Span::styled(
            format!("GSEM ● up {}", age(h.gsem_since, now)),
            theme.good(),
        ));
    } else {
        segments.push(Span::styled(
            format!(
                "GSEM ✗ DOWN since {} ({})",
                zone.short(h.gsem_since, now),
                age(h.gsem_since, now)
            ),
            theme.error(),
        ));
    }
    if let Some(problem) = &h.problem {
        segments.push(Span::styled(
            format!("⚠ {}", fit(problem, 100)),
            theme.error(),
        ));
    }
    if let Some(since) = h.inbound_blocked_since {
        segments.push(Span::styled(
            format!(
                "⚠ inbound queue blocked by an oversized message since {}",
                zone.short(since, now)
            ),
            theme.error(),
        ));
    }
    let outbox = match (h.outbox_depth, h.outbox_oldest) {
        (0, _) => "outbox empty".to_owned(),
        (n, Some(oldest)) => format!("outbox {n} · oldest {}", age(oldest, now)),
        (n, None) => format!("outbox {n}"),
    };
    segments.push(Span::styled(
        outbox,
        if h.outbox_depth > 0 {
            theme.pending()
        } else {
            theme.text()
        },
    ));
    if let Some(retry) = h.next_retry {
        segments.push(Span::raw(format!("retry {}", until(retry, now))));
    }
    if h.parked_count > 0 {
        segments.push(Span::styled(
            format!("parked {}", h.parked_count),
            theme.error(),
        ));
    }
    if h.quarantine_count > 0 {
        segments.push(Span::styled(
            format!("quarantine {}", h.quarantine_count),
            theme.warning(),
        ));
    }
    let seen = |t: Option<DateTime<Utc>>| t.map_or_else(|| "never".to_owned(), |t| age(t, now));
    segments.push(Span::raw(format!(
        "HPE seen {} · SN seen {}",
        seen(h.last_gsem_contact),
        seen(h.last_servicenow_contact)
    )));
    segments.push(Span::raw(match h.mode {
        SyncMode::Pull => "pull",
        SyncMode::Push => "push",
    }));
    if h.demo {
        // Last, so that on a narrow terminal the sync health stays visible.
        segments.push(Span::styled(
            "for real use: casebridge --config PATH (see config.example.toml)",
            theme.warning(),
        ));
    }
    frame.render_widget(Line::from(join(segments, theme)), area);
}

fn join(segments: Vec<Span<'static>>, theme: &Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::with_capacity(segments.len() * 2);
    for (i, s) in segments.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" │ ", theme.dim()));
        }
        spans.push(s);
    }
    spans
}

/// `serve.example.org:8443` from `https://serve.example.org:8443/api`.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest)
}
