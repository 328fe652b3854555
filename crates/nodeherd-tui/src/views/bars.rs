//! The one-line bars: header (pulse), flash line, hint bar / prompt.
//!
//! May not touch: the state (it only reads [`App`](crate::state::App)), I/O.
//!
//! ```text
//! | nodeherd  ok 9 sync 1 down 2 alert 0  fleet > node      polled 3s ago READONLY |  header
//! | restart nhtui-1/demo: ok, pid 812 → 933                                     |  flash
//! | enter open  space mark  / filter  s sort  r restart  ? help  q quit         |  hints
//! | :restart█                                                                   |  (prompt)
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::{App, Prompt, Screen};
use crate::views::{age, clean};

/// Header: program, breadcrumb, fleet pulse, poll age, readonly badge.
pub fn render_header(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let (ok, sync, down, alerting) = app.pulse();
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let wide = area.width >= 100;
    let mut spans = vec![
        Span::styled(" nodeherd ", bold.fg(Color::Black).bg(Color::Cyan)),
        Span::raw(" "),
    ];
    if wide {
        spans.push(Span::raw(format!("nodes {}  ", app.rows.len())));
    }
    // the pulse comes before the breadcrumb: on a narrow terminal the breadcrumb is what gets cut
    spans.extend([
        Span::styled(format!("ok {ok}"), Style::default().fg(Color::Green)),
        Span::raw(" "),
        Span::styled(format!("sync {sync}"), Style::default().fg(Color::Yellow)),
        Span::raw(" "),
        Span::styled(
            format!("down {down}"),
            if down > 0 {
                bold.fg(Color::Red)
            } else {
                Style::default().fg(Color::Red)
            },
        ),
        Span::raw(" "),
        Span::styled(
            format!("alert {alerting}"),
            Style::default().fg(Color::Magenta),
        ),
        Span::raw("  "),
        Span::styled(crumb(app), bold),
    ]);
    // right side: poll age and the readonly badge always stay visible; the left side is cut
    let poll = match (app.polling, app.last_poll) {
        (true, _) => "polling…".to_string(),
        (false, Some(t)) => format!("polled {} ago", age(now, t)),
        (false, None) => "not polled yet".to_string(),
    };
    let mut right = vec![
        Span::raw("  "),
        Span::styled(poll, Style::default().fg(Color::DarkGray)),
    ];
    if app.readonly {
        right.push(Span::raw(" "));
        right.push(Span::styled(
            "READONLY",
            bold.fg(Color::Black).bg(Color::Yellow),
        ));
    }
    right.push(Span::raw(" "));
    let right = Line::from(right);
    let rw = u16::try_from(right.width())
        .unwrap_or(area.width)
        .min(area.width);
    let [left_area, right_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(rw)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), left_area);
    frame.render_widget(Paragraph::new(right), right_area);
}

/// k9s-style breadcrumb of the current screen.
fn crumb(app: &App) -> String {
    let mut parts: Vec<String> = app
        .back
        .iter()
        .chain(std::iter::once(&app.screen))
        .map(|s| match s {
            Screen::Detail => app
                .detail
                .and_then(|r| app.row_of(r))
                .map_or_else(|| "node".into(), |r| format!("{}/{}", r.host, r.node)),
            other => other.title().to_string(),
        })
        .collect();
    if parts.first().map(String::as_str) != Some("fleet") {
        parts.insert(0, "fleet".into());
    }
    parts.join(" > ")
}

/// The flash line: the last message while it is fresh; otherwise the active filter/search.
pub fn render_flash(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let line = match &app.flash {
        Some(f) if f.until > now => Line::from(Span::styled(
            format!(" {}", clean(&f.text)),
            if f.error {
                Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(Color::Green)
            },
        )),
        _ => {
            let mut spans = Vec::new();
            if !app.filter.is_empty() && app.screen == Screen::Fleet {
                spans.push(Span::styled(
                    format!(
                        " filter: {} ({} of {})",
                        clean(&app.filter),
                        app.view.len(),
                        app.rows.len()
                    ),
                    Style::default().fg(Color::Cyan),
                ));
            }
            if !app.busy.is_empty() {
                spans.push(Span::styled(
                    format!(" {} action(s) running…", app.busy.len()),
                    Style::default().fg(Color::Yellow),
                ));
            }
            Line::from(spans)
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The hint bar from the keymap, or the open prompt with its text.
pub fn render_hints(frame: &mut Frame, area: Rect, app: &App, _now: DateTime<Utc>) {
    if let Some(p) = &app.prompt {
        let (sigil, text, what) = match p {
            Prompt::Filter(t) => ("/", t, "filter nodes · enter keep · esc clear"),
            Prompt::Command(t) => (
                ":",
                t,
                "fleet alerts help sort <col> restart stop start quit",
            ),
            Prompt::Search(t) => ("/", t, "search log · enter keep · esc clear"),
        };
        let line = Line::from(vec![
            Span::styled(
                sigil,
                Style::default()
                    .fg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(clean(text)),
            Span::styled("█", Style::default().fg(Color::Cyan)),
            Span::styled(format!("   {what}"), Style::default().fg(Color::DarkGray)),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut spans = Vec::new();
    let mut used = 0usize;
    let hints = app.keymap.hints(app.context());
    for (k, d) in hints {
        let w = k.chars().count() + d.chars().count() + 3;
        if used + w > usize::from(area.width) {
            break;
        }
        used += w;
        spans.push(Span::styled(
            format!(" {k}"),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {d} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
