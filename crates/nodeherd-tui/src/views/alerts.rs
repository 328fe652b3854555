//! The alerts screen: firing, pending, silenced and resolved alerts, newest first per state.
//!
//! May not touch: the state (it only reads [`App`](crate::state::App)), I/O.
//!
//! ```text
//! +- Alerts · 2 firing · 1 pending · 0 silenced · 3 resolved ------------------+
//! |  STATE     SEV   RULE            NODE              SINCE  SUMMARY           |
//! |  firing    crit  node_down       nhtui-2/demo      5m     unit failed ...   |
//! |  pending   warn  sync_lag        nhtui-1/bn        40s    lag 12 slots      |
//! +----------------------------------------------------------------------------+
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, TableState};

use crate::state::{AlertState, App};
use crate::views::{age, clean};

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let count = |s: AlertState| app.alerts.iter().filter(|a| a.state == s).count();
    let title = format!(
        " Alerts · {} firing · {} pending · {} silenced · {} resolved ",
        count(AlertState::Firing),
        count(AlertState::Pending),
        count(AlertState::Silenced),
        count(AlertState::Resolved)
    );
    let block = Block::bordered()
        .title(Line::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::default().fg(Color::Magenta));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.alerts.is_empty() {
        frame.render_widget(
            Paragraph::new("No alerts.").style(Style::default().fg(Color::DarkGray)),
            inner,
        );
        return;
    }
    let header = Row::new(["STATE", "SEV", "RULE", "NODE", "SINCE", "SUMMARY"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let offset = (app.alerts_selected + 1).saturating_sub(height);
    let rows: Vec<Row> = app
        .alerts
        .iter()
        .skip(offset)
        .take(height)
        .map(|a| {
            let style = match a.state {
                AlertState::Firing => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                AlertState::Pending => Style::default().fg(Color::Yellow),
                AlertState::Silenced => Style::default().fg(Color::Blue),
                AlertState::Resolved => Style::default().fg(Color::DarkGray),
            };
            Row::new(vec![
                Cell::from(a.state.label()).style(style),
                Cell::from(clean(&a.severity)),
                Cell::from(clean(&a.rule)),
                Cell::from(if a.node.is_empty() {
                    clean(&a.host)
                } else {
                    format!("{}/{}", clean(&a.host), clean(&a.node))
                }),
                Cell::from(age(now, a.since)),
                Cell::from(clean(&a.summary)),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(14),
        Constraint::Length(18),
        Constraint::Length(5),
        Constraint::Min(10),
    ];
    let table = crate::views::cursor_table(rows, widths, header);
    let mut state = TableState::default().with_selected(Some(app.alerts_selected - offset));
    frame.render_stateful_widget(table, inner, &mut state);
}
