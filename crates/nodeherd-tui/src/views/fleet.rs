//! The fleet table: one row per node, columns dropped by priority when the terminal is narrow.
//!
//! May not touch: the state (it only reads [`App`](crate::state::App)), I/O.
//!
//! ```text
//! +- Fleet 12/12 · sort host ------------------------------------------------------+
//! |   HOST       NODE        CLIENT   STATE          VERSION  LAG   PEERS AL ...    |
//! |>* nhtui-1     demo        generic  active/running 1.5.1    -     -     0         |
//! | ~ nhtui-2     demo        generic  failed/failed  -        -     -     !         |  (`>` + reversed = cursor)
//! |  ...                                                                            |
//! +---------------------------------------------------------------------------------+
//!  `*` marked, `~` action running; only the rows that fit are built (1000 nodes stay cheap).
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, TableState};

use crate::state::{App, Health, NodeRow};
use crate::views::{clean, opt, pct};

/// One column: title, width at <100 columns, width from 100 on, priority (lower stays longer).
struct Col {
    title: &'static str,
    narrow: u16,
    wide: u16,
    priority: u8,
    cell: fn(&NodeRow) -> Cell<'static>,
}

fn health_style(h: Health) -> Style {
    match h {
        Health::Ok => Style::default().fg(Color::Green),
        Health::Syncing => Style::default().fg(Color::Yellow),
        Health::Down => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Health::Unreachable => Style::default()
            .fg(Color::Magenta)
            .add_modifier(Modifier::BOLD),
        Health::Unknown => Style::default().fg(Color::DarkGray),
    }
}

const COLS: &[Col] = &[
    Col {
        title: "HOST",
        narrow: 12,
        wide: 16,
        priority: 0,
        cell: |r| Cell::from(clean(&r.host)),
    },
    Col {
        title: "NODE",
        narrow: 12,
        wide: 16,
        priority: 0,
        cell: |r| Cell::from(clean(&r.node)),
    },
    Col {
        title: "CLIENT",
        narrow: 8,
        wide: 10,
        priority: 2,
        cell: |r| Cell::from(r.client.clone()),
    },
    Col {
        title: "NET",
        narrow: 7,
        wide: 8,
        priority: 8,
        cell: |r| Cell::from(opt(r.network.as_deref().map(clean))),
    },
    Col {
        title: "STATE",
        narrow: 14,
        wide: 22,
        priority: 0,
        cell: |r| Cell::from(clean(&r.state_word())).style(health_style(r.health())),
    },
    Col {
        title: "VERSION",
        narrow: 9,
        wide: 12,
        priority: 3,
        cell: |r| {
            Cell::from(opt(r
                .status
                .as_ref()
                .and_then(|s| s.version.as_deref())
                .map(clean)))
        },
    },
    Col {
        title: "LAG",
        narrow: 5,
        wide: 6,
        priority: 3,
        cell: |r| Cell::from(opt(r.metrics.sync_distance)),
    },
    Col {
        title: "HEAD",
        narrow: 8,
        wide: 9,
        priority: 7,
        cell: |r| Cell::from(opt(r.metrics.head_slot)),
    },
    Col {
        title: "PEERS",
        narrow: 5,
        wide: 5,
        priority: 4,
        cell: |r| Cell::from(opt(r.metrics.peers)),
    },
    Col {
        title: "CPU",
        narrow: 4,
        wide: 5,
        priority: 6,
        cell: |r| Cell::from(pct(r.metrics.cpu_pct)),
    },
    Col {
        title: "MEM",
        narrow: 4,
        wide: 5,
        priority: 6,
        cell: |r| Cell::from(pct(r.metrics.mem_pct)),
    },
    Col {
        title: "DISK",
        narrow: 4,
        wide: 5,
        priority: 7,
        cell: |r| Cell::from(pct(r.metrics.disk_pct)),
    },
    Col {
        title: "AL",
        narrow: 2,
        wide: 3,
        priority: 1,
        cell: |r| {
            if r.alerts > 0 {
                Cell::from(r.alerts.to_string()).style(
                    Style::default()
                        .fg(Color::Magenta)
                        .add_modifier(Modifier::BOLD),
                )
            } else {
                Cell::from("-")
            }
        },
    },
    Col {
        title: "UPGRADE",
        narrow: 8,
        wide: 10,
        priority: 5,
        cell: |r| match &r.upgrade {
            Some(v) => Cell::from(format!("↑{}", clean(v))).style(Style::default().fg(Color::Cyan)),
            None => Cell::from("-"),
        },
    },
    Col {
        title: "PROBLEM",
        narrow: 20,
        wide: 30,
        priority: 9,
        cell: |r| {
            let text = r
                .status
                .as_ref()
                .and_then(|s| s.error.as_deref().or(s.last_log.as_deref()))
                .map(clean)
                .unwrap_or_default();
            Cell::from(text).style(Style::default().fg(Color::Red))
        },
    },
];

/// The columns that fit in `width` (inner width of the table).
fn fitting(width: u16) -> Vec<(&'static Col, u16)> {
    let wide = width >= 100;
    let mut cols: Vec<(&'static Col, u16)> = COLS
        .iter()
        .map(|c| (c, if wide { c.wide } else { c.narrow }))
        .collect();
    let need = |cols: &[(&Col, u16)]| -> u16 {
        // highlight symbol + marker column + one space between columns
        4 + cols.iter().map(|(_, w)| w + 1).sum::<u16>()
    };
    while need(&cols) > width {
        let Some((i, _)) = cols
            .iter()
            .enumerate()
            .filter(|(_, (c, _))| c.priority > 0)
            .max_by_key(|(i, (c, _))| (c.priority, *i))
        else {
            break;
        };
        cols.remove(i);
    }
    cols
}

/// Render the fleet table into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App, _now: DateTime<Utc>) {
    let title = format!(
        " Fleet {}/{} · sort {}{} ",
        app.view.len(),
        app.rows.len(),
        app.sort.label(),
        if app.marked.is_empty() {
            String::new()
        } else {
            format!(" · {} marked", app.marked.len())
        }
    );
    let block = Block::bordered()
        .title(Line::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::default().fg(Color::Cyan));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.rows.is_empty() || app.view.is_empty() {
        let msg = if app.rows.is_empty() {
            vec![
                Line::from("The inventory has no nodes."),
                Line::from(""),
                Line::from(
                    "Add a host with [hosts.NAME] and its nodes with [hosts.NAME.nodes.NODE],",
                ),
                Line::from("then run `nodeherd check` and start again."),
            ]
        } else {
            vec![Line::from("No node matches the filter (esc clears it).")]
        };
        frame.render_widget(
            Paragraph::new(msg).style(Style::default().fg(Color::DarkGray)),
            inner,
        );
        return;
    }
    let cols = fitting(inner.width);
    let header = Row::new(
        std::iter::once(Cell::from(""))
            .chain(cols.iter().map(|(c, _)| Cell::from(c.title)))
            .collect::<Vec<_>>(),
    )
    .style(Style::default().add_modifier(Modifier::BOLD));
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(1))
        .chain(cols.iter().map(|(_, w)| Constraint::Length(*w)))
        .collect();
    // only the window of rows that fits is built
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let offset = (app.selected + 1).saturating_sub(height);
    let rows: Vec<Row> = app
        .view
        .iter()
        .skip(offset)
        .take(height)
        .filter_map(|i| app.rows.get(*i))
        .map(|r| {
            let mark = if app.busy.contains(&r.r) {
                Cell::from("~").style(Style::default().fg(Color::Yellow))
            } else if app.marked.contains(&r.r) {
                Cell::from("*").style(
                    Style::default()
                        .fg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                )
            } else {
                Cell::from(" ")
            };
            Row::new(
                std::iter::once(mark)
                    .chain(cols.iter().map(|(c, _)| (c.cell)(r)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let table = crate::views::cursor_table(rows, widths, header);
    let mut state = TableState::default().with_selected(Some(app.selected - offset));
    frame.render_stateful_widget(table, inner, &mut state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_terminals_keep_the_essential_columns() {
        let titles = |w| fitting(w).iter().map(|(c, _)| c.title).collect::<Vec<_>>();
        let at80 = titles(78);
        for must in ["HOST", "NODE", "STATE", "AL"] {
            assert!(
                at80.contains(&must),
                "{must} missing at 80 columns: {at80:?}"
            );
        }
        assert!(!at80.contains(&"PROBLEM"));
        let at160 = titles(158);
        assert!(at160.contains(&"CPU") && at160.contains(&"DISK") && at160.contains(&"NET"));
        let need: u16 = 4 + fitting(78).iter().map(|(_, w)| w + 1).sum::<u16>();
        assert!(need <= 78);
    }
}
