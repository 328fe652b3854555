//! `?` help, generated from the active keymap (so `--readonly` help has no restart/stop/start).
//!
//! May not touch: the state (it only reads [`App`](crate::state::App)), I/O.
//!
//! ```text
//! +- Help · keys of this session (esc or ? to close) ---------------------------+
//! | Everywhere                                                                  |
//! |   ?              help (this screen)                                         |
//! |   ↑/k            move up                                                    |
//! | Fleet                                                                       |
//! |   r              restart marked or selected nodes        confirm            |
//! +----------------------------------------------------------------------------+
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use crate::state::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, _now: DateTime<Utc>) {
    let mut lines: Vec<Line> = Vec::new();
    if app.readonly {
        lines.push(Line::styled(
            "READONLY: every action that changes a server is removed from this session.",
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        ));
    }
    for (ctx, rows) in app.keymap.help_sections() {
        lines.push(Line::styled(
            ctx.title(),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ));
        for (keys, desc, dangerous) in rows {
            let mut spans = vec![
                Span::styled(
                    format!("  {keys:<16}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(desc.to_string()),
            ];
            if dangerous {
                spans.push(Span::styled(
                    "  (asks to confirm)",
                    Style::default().fg(Color::Red),
                ));
            }
            lines.push(Line::from(spans));
        }
    }
    let block = Block::bordered()
        .title(Line::styled(
            " Help · keys of this session (esc or ? closes) ",
            Style::default().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::default().fg(Color::Cyan));
    let inner_h = usize::from(area.height.saturating_sub(2));
    let max_scroll = lines.len().saturating_sub(inner_h);
    let scroll = app.help_scroll.min(max_scroll);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
        area,
    );
}
