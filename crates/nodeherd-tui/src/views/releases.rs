//! The releases screen: per node the running version, the newest version its policy allows now,
//! the next version that becomes eligible (with a countdown), and why; the selected node's
//! reasons in full below; a node being upgraded or rolled back shows its live progress in the
//! WHY column (a quiet-window wait its countdown, in full with `c cancels` in the panel below).
//! `u` / `b` (upgrade, rollback) are confirmed in a dialog (see the reducer). Loading, failed and empty states are drawn from [`Fetched`].
//!
//! May not touch: the state (it only reads [`App`](crate::state::App)), I/O.
//!
//! ```text
//! +- Releases · 4 nodes · 1 upgrade ready · planned 12s ago ------------------------+
//! |  NODE                RUNNING   ALLOWED   UPGRADE   NEXT              WHY         |
//! |> eth-a1/lodestar-bn  1.5.1     1.6.0     1.6.0     1.7.0 in 2d 3h    newest ...  |
//! |  eth-a2/geth         1.14.11   1.14.11   -         -                 up to date  |
//! +- eth-a1/lodestar-bn -------------------------------------------------------------+
//! | newest allowed release                                                           |
//! | 1.7.0: in its delay until 2026-11-23 10:00 UTC                                   |
//! +----------------------------------------------------------------------------------+
//! ```

use chrono::{DateTime, NaiveDateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, TableState, Wrap};

use crate::msg::wait_text;
use crate::state::{App, ReleaseRow};
use crate::views::{age, clean, cut, opt};
use nodeherd_engine::upgrade::progress::{Step, countdown as countdown_of};

/// Lines of the "why" panel under the table (borders included).
const WHY_HEIGHT: u16 = 8;

/// `in 2d 3h`, `in 5h 10m`, `in 12m`, `now`; the raw text when it is not the engine's format.
pub fn countdown(now: DateTime<Utc>, when: &str) -> String {
    let Ok(t) = NaiveDateTime::parse_from_str(when, "%Y-%m-%d %H:%M UTC") else {
        return when.to_string();
    };
    let secs = (t.and_utc() - now).num_seconds();
    if secs <= 0 {
        return "now".into();
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("in {d}d {h}h")
    } else if h > 0 {
        format!("in {h}h {m}m")
    } else {
        format!("in {}m", m.max(1))
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let f = &app.releases;
    let rows: &[ReleaseRow] = f.data.as_deref().unwrap_or(&[]);
    let ready = rows.iter().filter(|r| r.to.is_some()).count();
    let mut title = " Releases".to_string();
    if f.data.is_some() {
        title.push_str(&format!(" · {} nodes · {ready} upgrade ready", rows.len()));
    }
    if f.loading {
        title.push_str(" · loading…");
    } else if let Some(at) = f.at {
        title.push_str(&format!(" · planned {} ago", age(now, at)));
    }
    title.push(' ');
    let block = Block::bordered()
        .title(Line::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::default().fg(Color::Cyan));
    let dim = Style::default().fg(Color::DarkGray);
    let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    if f.data.is_none() {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let p = match (&f.error, f.loading) {
            (_, true) => Paragraph::new("Fetching release feeds and running versions…").style(dim),
            (Some(e), false) => Paragraph::new(format!(
                "Cannot plan releases: {}  (R tries again)",
                clean(e)
            ))
            .style(red)
            .wrap(Wrap { trim: false }),
            (None, false) => Paragraph::new("Not loaded yet (R loads).").style(dim),
        };
        frame.render_widget(p, inner);
        return;
    }
    let sel = rows.get(app.releases_selected);
    let why_title = sel.map_or_else(
        || " why ".into(),
        |r| format!(" {}/{} ", clean(&r.host), clean(&r.node)),
    );
    let mut lines: Vec<Line> = Vec::new();
    if let Some(e) = &f.error {
        lines.push(Line::styled(
            format!("last reload failed: {}", clean(e)),
            red,
        ));
    }
    if let Some(r) = sel {
        lines.extend(wait_line(app, &format!("{}/{}", r.host, r.node)));
        lines.push(Line::from(clean(&r.reason)));
        if let Some((v, at)) = &r.next {
            lines.push(Line::from(format!(
                "next: {} eligible {} ({})",
                clean(v),
                clean(at),
                countdown(now, at)
            )));
        }
        lines.extend(r.why.iter().map(|w| Line::styled(clean(w), dim)));
        if let Some(to) = r.to.as_deref().filter(|_| !r.notes.is_empty()) {
            lines.push(Line::from(format!("notes of {}:", clean(to))));
            lines.extend(
                r.notes
                    .iter()
                    .map(|n| Line::from(format!("  {}", clean(n)))),
            );
        }
        // last: the urgency of the notes matters more on a small terminal
        lines.push(Line::styled(
            match &r.previous {
                Some(p) => format!("previous on the host: {} (b rolls back to it)", clean(p)),
                None => "no previous release on the host: nothing to roll back to".into(),
            },
            dim,
        ));
    }
    // the panel grows with what it has to say, up to half the screen
    let why_height = if rows.is_empty() && f.error.is_none() {
        0
    } else {
        (lines.len() as u16 + 2).clamp(WHY_HEIGHT, (area.height / 2).max(WHY_HEIGHT))
    };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(why_height)]).areas(area);
    let inner = block.inner(top);
    frame.render_widget(block, top);
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new("No node of this session follows a release feed.").style(dim),
            inner,
        );
    } else {
        render_table(frame, inner, app, rows, now);
    }
    if why_height == 0 {
        return;
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(why_title).border_style(dim)),
        bottom,
    );
}

fn render_table(frame: &mut Frame, area: Rect, app: &App, rows: &[ReleaseRow], now: DateTime<Utc>) {
    let wide = area.width >= 120;
    let header = Row::new(["NODE", "RUNNING", "ALLOWED", "UPGRADE", "NEXT", "WHY"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let height = usize::from(area.height.saturating_sub(1)).max(1);
    let offset = (app.releases_selected + 1).saturating_sub(height);
    let body: Vec<Row> = rows
        .iter()
        .skip(offset)
        .take(height)
        .map(|r| {
            let next = r.next.as_ref().map_or_else(
                || "-".into(),
                |(v, at)| {
                    if wide {
                        format!("{} {} ({})", clean(v), clean(at), countdown(now, at))
                    } else {
                        format!("{} {}", clean(v), countdown(now, at))
                    }
                },
            );
            let up = match &r.to {
                Some(v) => Cell::from(clean(v)).style(
                    Style::default()
                        .fg(Color::Green)
                        .add_modifier(Modifier::BOLD),
                ),
                None => Cell::from("-"),
            };
            Row::new(vec![
                Cell::from(cut(&format!("{}/{}", clean(&r.host), clean(&r.node)), 24)),
                Cell::from(opt(r.running.as_deref().map(clean))),
                Cell::from(opt(r.allowed.as_deref().map(clean))),
                up,
                Cell::from(next),
                match progress_text(app, &format!("{}/{}", r.host, r.node)) {
                    // an upgrade or rollback of this node is running: its live progress
                    Some(p) => Cell::from(format!("~ {p}…")).style(
                        Style::default()
                            .fg(Color::Yellow)
                            .add_modifier(Modifier::BOLD),
                    ),
                    None => Cell::from(clean(&r.reason)),
                },
            ])
        })
        .collect();
    let widths = if wide {
        [
            Constraint::Length(24),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(40),
            Constraint::Min(10),
        ]
    } else {
        [
            Constraint::Length(18),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(15),
            Constraint::Min(6),
        ]
    };
    let table = crate::views::cursor_table(body, widths, header);
    let mut state =
        TableState::default().with_selected(Some(app.releases_selected.saturating_sub(offset)));
    frame.render_stateful_widget(table, area, &mut state);
}

/// An upgrade of `key` waiting: the full countdown (or gate), and whether `c` cancels it.
fn wait_line(app: &App, key: &str) -> Option<Line<'static>> {
    let w = app.waits.get(key).and_then(wait_text)?;
    let cancel = if app.switching.contains(key) {
        "switch in flight: no cancel"
    } else {
        "c cancels"
    };
    Some(Line::styled(
        format!("{w} ({cancel})"),
        Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
    ))
}

/// The live progress of `key`'s upgrade or rollback, short for its row: what it waits for (the
/// quiet window's countdown, the gate), else the engine's last event.
fn progress_text(app: &App, key: &str) -> Option<String> {
    let event = app.progress.get(key)?;
    Some(match app.waits.get(key) {
        Some(Step::Quiet {
            next_in,
            gives_up_in,
            ..
        }) => format!(
            "quiet window: duty in {}, gives up in {}",
            countdown_of(*next_in),
            countdown_of(*gives_up_in)
        ),
        Some(step) => wait_text(step).unwrap_or_else(|| clean(event)),
        None => clean(event),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns() {
        let now = NaiveDateTime::parse_from_str("2026-11-21 10:00 UTC", "%Y-%m-%d %H:%M UTC")
            .map(|t| t.and_utc())
            .unwrap_or_default();
        assert_eq!(countdown(now, "2026-11-23 13:30 UTC"), "in 2d 3h");
        assert_eq!(countdown(now, "2026-11-21 15:10 UTC"), "in 5h 10m");
        assert_eq!(countdown(now, "2026-11-21 10:12 UTC"), "in 12m");
        assert_eq!(countdown(now, "2026-11-21 09:00 UTC"), "now");
        assert_eq!(countdown(now, "soon"), "soon");
    }
}
