//! The history screen: the merged journal of every action that changed a host (every host's
//! journal and the console's own), newest first; hosts whose journal could not be read are
//! listed under the table.
//!
//! Owns: how the history screen reads. May not touch: the state (it only reads [`App`]), I/O.
//!
//! ```text
//! +- History · 12 entries · read 4s ago ------------------------------------------+
//! |  TIME                  NODE              ACTION    FROM -> TO       RESULT      |
//! |> 2026-11-21 09:40:00   eth-a1/lodestar   upgrade   1.4.2 -> 1.5.1   ok          |
//! |  2026-11-21 09:12:00   eth-a2/geth       rollback  1.14.12 -> ...   failed      |
//! +-------------------------------------------------------------------------------+
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, TableState, Wrap};

use crate::state::{App, HistoryData};
use crate::views::{age, clean, cut};
use nodeherd_core::journal::Entry;

/// `2026-11-21T09:40:00Z` as `2026-11-21 09:40:00` (raw text when it is not RFC 3339).
fn when(t: &str, wide: bool) -> String {
    let fmt = if wide {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%m-%d %H:%M"
    };
    DateTime::parse_from_rfc3339(t).map_or_else(
        |_| clean(t),
        |d| d.with_timezone(&Utc).format(fmt).to_string(),
    )
}

/// The history screen: title, the loading/error states, the table and the problems box.
pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let f = &app.history;
    let dim = Style::default().fg(Color::DarkGray);
    let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    let mut title = " History".to_string();
    if let Some(d) = &f.data {
        title.push_str(&format!(" · {} entries", d.entries.len()));
    }
    if f.loading {
        title.push_str(" · reading…");
    } else if let Some(at) = f.at {
        title.push_str(&format!(" · read {} ago", age(now, at)));
    }
    title.push(' ');
    let block = Block::bordered()
        .title(Line::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::default().fg(Color::Cyan));
    let Some(data) = &f.data else {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let p = match (&f.error, f.loading) {
            (_, true) => Paragraph::new("Reading the journals of every host…").style(dim),
            (Some(e), false) => Paragraph::new(format!(
                "Cannot read the history: {}  (R tries again)",
                clean(e)
            ))
            .style(red),
            (None, false) => Paragraph::new("Not loaded yet (R loads).").style(dim),
        };
        frame.render_widget(p.wrap(Wrap { trim: false }), inner);
        return;
    };
    let problems: Vec<String> = f
        .error
        .iter()
        .map(|e| format!("last reload failed: {}", clean(e)))
        .chain(
            data.errors
                .iter()
                .map(|e| format!("journal not read: {}", clean(e))),
        )
        .collect();
    let ph = if problems.is_empty() {
        0
    } else {
        (problems.len().min(3) + 2) as u16
    };
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(ph)]).areas(area);
    let inner = block.inner(top);
    frame.render_widget(block, top);
    if data.entries.is_empty() {
        frame.render_widget(Paragraph::new("No action recorded yet.").style(dim), inner);
    } else {
        render_table(frame, inner, app, data);
    }
    if ph > 0 {
        let lines: Vec<Line> = problems
            .iter()
            .take(3)
            .map(|p| Line::styled(p.clone(), red))
            .collect();
        frame.render_widget(
            Paragraph::new(lines).block(Block::bordered().title(" problems ").border_style(dim)),
            bottom,
        );
    }
}

/// The journal table, newest first, the cursor kept in view.
fn render_table(frame: &mut Frame, inner: Rect, app: &App, data: &HistoryData) {
    let wide = inner.width >= 120;
    let header = Row::new([
        "TIME",
        "NODE",
        "ACTION",
        "FROM -> TO",
        "RESULT",
        "WHO",
        "DETAIL",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let offset = (app.history_selected + 1).saturating_sub(height);
    let body: Vec<Row> = data
        .entries
        .iter()
        .rev()
        .skip(offset)
        .take(height)
        .map(|e| entry_row(e, wide))
        .collect();
    let widths = if wide {
        vec![
            Constraint::Length(19),
            Constraint::Length(26),
            Constraint::Length(13),
            Constraint::Length(20),
            Constraint::Length(16),
            Constraint::Length(18),
            Constraint::Min(10),
        ]
    } else {
        vec![
            Constraint::Length(11),
            Constraint::Length(18),
            Constraint::Length(12),
            Constraint::Length(18),
            Constraint::Min(8),
            Constraint::Length(0),
            Constraint::Length(0),
        ]
    };
    let table = crate::views::cursor_table(body, widths, header);
    let mut state =
        TableState::default().with_selected(Some(app.history_selected.saturating_sub(offset)));
    frame.render_stateful_widget(table, inner, &mut state);
}

/// One journal entry as a table row.
fn entry_row(e: &Entry, wide: bool) -> Row<'static> {
    let res_style = if e.result == "ok" {
        Style::default().fg(Color::Green)
    } else {
        Style::default().fg(Color::Red)
    };
    let versions = if e.from.is_empty() && e.to.is_empty() {
        "-".to_string()
    } else {
        format!("{} -> {}", clean(&e.from), clean(&e.to))
    };
    Row::new(vec![
        Cell::from(when(&e.time, wide)),
        Cell::from(clean(&e.node)),
        Cell::from(clean(&e.action)),
        Cell::from(versions),
        Cell::from(clean(&e.result)).style(res_style),
        Cell::from(clean(&e.who)),
        Cell::from(cut(&clean(&e.detail), 200)),
    ])
}
