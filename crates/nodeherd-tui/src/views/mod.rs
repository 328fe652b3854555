//! Pure render functions: one per screen or region, `render(frame, area, &App, now)`.
//!
//! Owns: how state looks. May not touch: state (read only), I/O, clocks (time is `now`), colours
//! beyond the 16 base ones. Text from servers is sanitized again here ([`clean`]) so nothing that
//! reaches the terminal can carry escape sequences.
//!
//! ```text
//! +------------------------------------------------------------------+
//! | header: nodeherd  ok 9 sync 1 down 2 alert 0  fleet > node  polled |  1 line
//! +------------------------------------------------------------------+
//! | body: fleet | detail | alerts | releases | keys | plan | history | cosmos | help |
//! +------------------------------------------------------------------+
//! | flash line (messages, results, errors)                           |  1 line
//! | hint bar (keys of this screen) or the active `/` `:` prompt      |  1 line
//! +------------------------------------------------------------------+
//!   dialogs (confirm, host key) are drawn centered over everything
//! ```

pub mod alerts;
pub mod bars;
pub mod cosmos;
pub mod detail;
pub mod dialog;
pub mod fleet;
pub mod help;
pub mod history;
pub mod keys;
pub mod plan;
pub mod releases;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::state::{App, Screen};

/// A list screen's table: the cursor row reversed and marked `>` (the marker column always kept,
/// so rows do not shift when the cursor appears). Every list screen draws its rows through this.
pub fn cursor_table<'a>(
    rows: impl IntoIterator<Item = ratatui::widgets::Row<'a>>,
    widths: impl IntoIterator<Item = Constraint>,
    header: ratatui::widgets::Row<'a>,
) -> ratatui::widgets::Table<'a> {
    use ratatui::style::{Modifier, Style};
    use ratatui::widgets::{HighlightSpacing, Table};
    Table::new(rows, widths)
        .header(header)
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol(">")
        .highlight_spacing(HighlightSpacing::Always)
}

/// Draw the whole UI.
pub fn draw(frame: &mut Frame, app: &App, now: DateTime<Utc>) {
    let [header, body, flash, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    bars::render_header(frame, header, app, now);
    match app.screen {
        Screen::Fleet => fleet::render(frame, body, app, now),
        Screen::Detail => detail::render(frame, body, app, now),
        Screen::Alerts => alerts::render(frame, body, app, now),
        Screen::Releases => releases::render(frame, body, app, now),
        Screen::Keys => keys::render(frame, body, app, now),
        Screen::Plan => plan::render(frame, body, app, now),
        Screen::History => history::render(frame, body, app, now),
        Screen::Cosmos => cosmos::render(frame, body, app, now),
        Screen::Help => help::render(frame, body, app, now),
    }
    bars::render_flash(frame, flash, app, now);
    bars::render_hints(frame, hints, app, now);
    if app.dialog.is_some() {
        dialog::render(frame, frame.area(), app, now);
    }
}

/// How many fleet rows fit on a terminal of this height (for paging).
pub fn page_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(1 + 2 + 2 + 1)).max(1)
}

/// Sanitize server text for display (idempotent on already clean text).
pub fn clean(s: &str) -> String {
    nodeherd_core::text::sanitize(s)
}

/// A short age: `42s`, `5m`, `3h`, `2d`.
pub fn age(now: DateTime<Utc>, then: DateTime<Utc>) -> String {
    let s = (now - then).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `Some(x)` as text, `None` as `-`.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// A percentage without decimals, or `-`.
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}%"))
}

/// A rectangle of at most `w` x `h` centered in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Cut `s` to at most `n` characters, marking the cut with `…`.
pub fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}
