//! Node detail: facts, sparklines of whatever series exist, and the live journal tail.
//!
//! ```text
//! +- nhtui-1/demo · generic · active/running ---------------------------------+
//! | host     nhtui-1 (10.218.0.11)        pid       812                        |
//! | unit     demo.service                 restarts  0                          |
//! | state    active/running               client    generic (other)            |
//! | since    5m ago                       network   -                          |
//! | version  1.5.1                        head/lag  -/-  peers -               |
//! | checked  3s ago                       cpu/mem   -/-  disk -                |
//! | problem  -                                                                 |
//! +---------------------------------------------------------------------------+
//! +- head slot 812 --++- peers 3 ------++- cpu 2% -------++- mem 41% --------+  (when series exist)
//! | ▁▂▃▄▅▆▇█         || ▃▃▃▃▄▄         || ▁▁▂▁           || ▅▅▅▅             |
//! +------------------++----------------++----------------++------------------+
//! +- journal · following · 120 lines · search "err" ----------------------------+
//! | 10:00:01 demo[812]: message (sanitized, matches highlighted)               |
//! +---------------------------------------------------------------------------+
//! ```
//!
//! Owns: how the detail screen reads. May not touch: the state (it only reads [`App`]), I/O.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Sparkline};

use crate::state::{App, Health, NodeRow};
use crate::views::{age, clean, opt, pct};
use nodeherd_core::facts::systemd::{JournalLine, UnitState};

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let Some(row) = app.detail.and_then(|r| app.row_of(r)) else {
        frame.render_widget(Paragraph::new("no node selected"), area);
        return;
    };
    let has_series = row.metrics.series.iter().any(|(_, s)| !s.is_empty());
    let [facts, sparks, log] = Layout::vertical([
        Constraint::Length(9),
        Constraint::Length(if has_series { 4 } else { 0 }),
        Constraint::Min(3),
    ])
    .areas(area);
    render_facts(frame, facts, row, now);
    if has_series {
        render_sparklines(frame, sparks, row);
    }
    render_log(frame, log, app, now);
}

fn label(s: &'static str) -> Span<'static> {
    Span::styled(format!("{s:<9}"), Style::default().fg(Color::DarkGray))
}

fn render_facts(frame: &mut Frame, area: Rect, row: &NodeRow, now: DateTime<Utc>) {
    let health = row.health();
    let state_style = match health {
        Health::Ok => Style::default().fg(Color::Green),
        Health::Syncing => Style::default().fg(Color::Yellow),
        Health::Unknown => Style::default().fg(Color::DarkGray),
        _ => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    };
    let title = Line::from(vec![
        Span::styled(
            format!(" {}/{} ", clean(&row.host), clean(&row.node)),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("· {} · ", row.client)),
        Span::styled(format!("{} ", clean(&row.state_word())), state_style),
    ]);
    let block = Block::bordered()
        .title(title)
        .border_style(Style::default().fg(Color::Cyan));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [top, bottom] = Layout::vertical([Constraint::Length(6), Constraint::Min(1)]).areas(inner);
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);

    let unit = row.status.as_ref().and_then(|s| s.unit_state.as_ref());
    let since = unit
        .and_then(|u| {
            if u.is_active() {
                u.active_since
            } else {
                u.inactive_since
            }
        })
        .map_or_else(|| "-".into(), |t| format!("{} ago", age(now, t)));
    let version = row
        .status
        .as_ref()
        .and_then(|s| s.version.as_deref())
        .map_or_else(|| "-".into(), clean);
    let checked = row.status.as_ref().map_or_else(
        || "not yet".into(),
        |s| format!("{} ago", age(now, s.checked_at)),
    );
    let left_lines = vec![
        Line::from(vec![
            label("host"),
            Span::raw(format!("{} ({})", clean(&row.host), clean(&row.address))),
        ]),
        Line::from(vec![label("unit"), Span::raw(clean(&row.unit))]),
        Line::from(vec![
            label("state"),
            Span::styled(clean(&row.state_word()), state_style),
        ]),
        Line::from(vec![label("since"), Span::raw(since)]),
        Line::from(vec![
            label("version"),
            Span::raw(version),
            Span::styled(
                row.upgrade
                    .as_ref()
                    .map(|v| format!("  ↑{}", clean(v)))
                    .unwrap_or_default(),
                Style::default().fg(Color::Cyan),
            ),
        ]),
        Line::from(vec![label("checked"), Span::raw(checked)]),
    ];
    let right_lines = right_lines(row, unit);
    frame.render_widget(Paragraph::new(left_lines), left);
    frame.render_widget(Paragraph::new(right_lines), right);
    let problem = row
        .status
        .as_ref()
        .and_then(|s| match (&s.error, &s.last_log) {
            (Some(e), Some(l)) => Some(format!("{} · {}", clean(e), clean(l))),
            (Some(e), None) => Some(clean(e)),
            (None, Some(l)) => Some(clean(l)),
            (None, None) => None,
        });
    let p = match problem {
        Some(p) => Line::from(vec![
            label("problem"),
            Span::styled(p, Style::default().fg(Color::Red)),
        ]),
        None => Line::from(vec![label("problem"), Span::raw("-")]),
    };
    frame.render_widget(Paragraph::new(p), bottom);
}

/// The right column of the facts: process, client and the metrics engine's numbers.
fn right_lines(row: &NodeRow, unit: Option<&UnitState>) -> Vec<Line<'static>> {
    let m = &row.metrics;
    vec![
        Line::from(vec![
            label("pid"),
            Span::styled(
                opt(row.pid()),
                Style::default().add_modifier(Modifier::BOLD),
            ),
        ]),
        Line::from(vec![
            label("restarts"),
            Span::raw(opt(unit.and_then(|u| u.restarts))),
        ]),
        Line::from(vec![
            label("client"),
            Span::raw(format!("{} ({})", row.client, row.role)),
        ]),
        Line::from(vec![
            label("network"),
            Span::raw(opt(row.network.as_deref().map(clean))),
        ]),
        Line::from(vec![
            label("head/lag"),
            Span::raw(format!(
                "{}/{}  peers {}",
                opt(m.head_slot),
                opt(m.sync_distance),
                opt(m.peers)
            )),
        ]),
        Line::from(vec![
            label("cpu/mem"),
            Span::raw(format!(
                "{}/{}  disk {}  alerts {}",
                pct(m.cpu_pct),
                pct(m.mem_pct),
                pct(m.disk_pct),
                row.alerts
            )),
        ]),
    ]
}

fn render_sparklines(frame: &mut Frame, area: Rect, row: &NodeRow) {
    let series: Vec<_> = row
        .metrics
        .series
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .take(4)
        .collect();
    let n = series.len().max(1) as u32;
    let areas = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n))).split(area);
    for ((name, s), a) in series.into_iter().zip(areas.iter()) {
        let points: Vec<f64> = s.points().map(|(_, v)| v).collect();
        let min = points.iter().copied().fold(f64::INFINITY, f64::min);
        // relative to the window's minimum, so a slowly growing head slot still shows its shape
        let data: Vec<u64> = points
            .iter()
            .map(|v| ((v - min).max(0.0) * 100.0).round() as u64 + 1)
            .rev()
            .take(usize::from(a.width.saturating_sub(2)))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let last = s.last().map(|(_, v)| v).unwrap_or_default();
        let block = Block::bordered()
            .title(format!(" {} {} ", clean(name), trim_num(last)))
            .border_style(Style::default().fg(Color::DarkGray));
        frame.render_widget(
            Sparkline::default()
                .block(block)
                .data(&data)
                .style(Style::default().fg(Color::Cyan)),
            *a,
        );
    }
}

/// `812`, `41.5`: integers without decimals.
fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn render_log(frame: &mut Frame, area: Rect, app: &App, _now: DateTime<Utc>) {
    let log = &app.log;
    let mode = match (&log.ended, log.paused_at) {
        (Some(e), _) => format!("ended: {}", clean(e)),
        (None, Some(_)) => "PAUSED".to_string(),
        (None, None) if log.scroll > 0 => format!("scrolled up {}", log.scroll),
        (None, None) => "following".to_string(),
    };
    let visible: Vec<&JournalLine> = log.visible().collect();
    let mut title = vec![
        Span::styled(" journal ", Style::default().add_modifier(Modifier::BOLD)),
        Span::styled(
            format!("· {mode} "),
            if log.paused_at.is_some() || log.ended.is_some() {
                Style::default().fg(Color::Yellow)
            } else {
                Style::default().fg(Color::Green)
            },
        ),
        Span::raw(format!("· {} lines ", visible.len())),
    ];
    if let Some(s) = &log.search {
        title.push(Span::styled(
            format!("· search \"{}\" ", clean(s)),
            Style::default().fg(Color::Cyan),
        ));
    }
    if log.wrap {
        title.push(Span::raw("· wrap "));
    }
    let block = Block::bordered()
        .title(Line::from(title))
        .border_style(Style::default().fg(Color::DarkGray));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if visible.is_empty() {
        let msg = if log.search.is_some() {
            "no line matches the search"
        } else {
            "waiting for journal lines…"
        };
        frame.render_widget(
            Paragraph::new(msg).style(Style::default().fg(Color::DarkGray)),
            inner,
        );
        return;
    }
    let width = usize::from(inner.width).max(1);
    let height = usize::from(inner.height);
    let end = visible.len().saturating_sub(log.scroll);
    // walk back from the end collecting screen lines until the area is full
    let mut out: Vec<Line> = Vec::new();
    for l in visible[..end].iter().rev() {
        let text = format_line(l);
        let pieces: Vec<String> = if log.wrap {
            wrap(&text, width)
        } else {
            vec![text]
        };
        for p in pieces.into_iter().rev() {
            out.push(highlight(p, log.search.as_deref()));
            if out.len() >= height {
                break;
            }
        }
        if out.len() >= height {
            break;
        }
    }
    out.reverse();
    frame.render_widget(Paragraph::new(out), inner);
}

/// `HH:MM:SS ident: message` (UTC, so the same state always draws the same screen).
fn format_line(l: &JournalLine) -> String {
    let t = l
        .time
        .map_or_else(|| "--:--:--".into(), |t| t.format("%H:%M:%S").to_string());
    if l.ident.is_empty() {
        format!("{t} {}", clean(&l.message))
    } else {
        format!("{t} {}: {}", clean(&l.ident), clean(&l.message))
    }
}

fn wrap(s: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars.chunks(width).map(|c| c.iter().collect()).collect()
}

/// The line with every case-insensitive match of `needle` in reverse video.
fn highlight(text: String, needle: Option<&str>) -> Line<'static> {
    let Some(n) = needle.filter(|n| !n.is_empty()) else {
        return Line::from(text);
    };
    let lower = text.to_lowercase();
    let nl = n.to_lowercase();
    // lowercase can change byte lengths; highlight only when offsets line up
    if lower.len() != text.len() {
        return Line::from(text);
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(pos) = lower[at..].find(&nl) {
        let start = at + pos;
        let end = start + nl.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        spans.push(Span::raw(text[at..start].to_string()));
        spans.push(Span::styled(
            text[start..end].to_string(),
            Style::default().fg(Color::Black).bg(Color::Yellow),
        ));
        at = end;
    }
    spans.push(Span::raw(text[at..].to_string()));
    Line::from(spans)
}
