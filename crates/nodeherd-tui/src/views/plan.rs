//! The plan/apply screen: the playbook's plan as a diff (`+ start`, `- stop`, `~ 1.4.2 -> 1.5.1`
//! with reasons; no-ops dimmed with why; unknown nodes in red), live progress per node while an
//! apply runs, and the result summary when it ended.
//!
//! May not touch: the state (it only reads [`App`](crate::state::App)), I/O.
//!
//! ```text
//! +- Plan · playbooks/site.toml · 2 changes · 1 unchanged · 1 unknown · planned 3s ago ----+
//! |  ~ eth-a1/lodestar-bn  1.4.2 -> 1.5.1   newest allowed release      switching         |
//! |  + eth-a2/geth         start            desired running             verified          |
//! |    eth-a3/geth         no change        already running                               |
//! |  ? eth-b1/nimbus       cannot plan      ssh: connection refused                       |
//! +- Result ------------------------------------------------------------------------------+
//! | applied 2 change(s): 1 verified, 1 failed                                             |
//! +---------------------------------------------------------------------------------------+
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::state::App;
use crate::views::{age, clean, cut};
use nodeherd_core::plan::apply::{Change, Plan};
use nodeherd_engine::apply::run::ChangeResult;

/// `+ start`, `- stop`, `~ 1.4.2 -> 1.5.1`, `+ install 1.5.1`: the sign and the text of a change.
pub fn diff(c: &Change) -> (char, String) {
    match c {
        Change::Start => ('+', "start".into()),
        Change::Stop => ('-', "stop".into()),
        Change::Install { version } => ('+', format!("install {}", clean(version))),
        Change::RewriteUnit { diff_summary } => ('~', format!("unit: {}", clean(diff_summary))),
        Change::SwitchVersion { from, to } => (
            '~',
            format!("{} -> {}", clean(from.as_deref().unwrap_or("?")), clean(to)),
        ),
        Change::ChainUpgrade { .. } => ('~', clean(&c.describe())),
    }
}

fn sign_style(sign: char) -> Style {
    let c = match sign {
        '+' => Color::Green,
        '-' => Color::Red,
        _ => Color::Yellow,
    };
    Style::default().fg(c).add_modifier(Modifier::BOLD)
}

fn result_of<'a>(
    results: Option<&'a [ChangeResult]>,
    host: &str,
    node: &str,
) -> Option<&'a ChangeResult> {
    results?.iter().find(|r| r.host == host && r.node == node)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let pv = &app.plan;
    let dim = Style::default().fg(Color::DarkGray);
    let red = Style::default().fg(Color::Red).add_modifier(Modifier::BOLD);
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut title = " Plan".to_string();
    if let Some(p) = &pv.playbook {
        title.push_str(&format!(" · {}", clean(p)));
    }
    if let Some(p) = &pv.plan.data {
        title.push_str(&format!(
            " · {} change{} · {} unchanged · {} unknown",
            p.changes.len(),
            if p.changes.len() == 1 { "" } else { "s" },
            p.noops.len(),
            p.unknown.len()
        ));
    }
    if pv.applying {
        title.push_str(" · applying…");
    } else if pv.plan.loading {
        title.push_str(" · planning…");
    } else if let Some(at) = pv.plan.at {
        title.push_str(&format!(" · planned {} ago", age(now, at)));
    }
    title.push(' ');
    let block = Block::bordered()
        .title(Line::styled(title, bold))
        .border_style(Style::default().fg(Color::Cyan));
    let summary_h: u16 = if pv.results.is_some() { 5 } else { 0 };
    let [top, bottom] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(summary_h)]).areas(area);
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let Some(plan) = &pv.plan.data else {
        let p = match (&pv.playbook, &pv.plan.error, pv.plan.loading) {
            (None, _, _) => Paragraph::new(vec![
                Line::styled("No playbook: nothing to plan.", red),
                Line::from(""),
                Line::from(
                    "Start the console with `nodeherd tui -p PLAYBOOK` or set NODEHERD_PLAYBOOK;",
                ),
                Line::from(
                    "without either it reads playbooks/site.toml, which does not exist here.",
                ),
            ]),
            (_, _, true) => Paragraph::new("Gathering unit states, versions and feeds…").style(dim),
            (_, Some(e), false) => {
                Paragraph::new(format!("Cannot plan: {}  (R tries again)", clean(e))).style(red)
            }
            (_, None, false) => Paragraph::new("Not planned yet (R plans).").style(dim),
        };
        frame.render_widget(p.wrap(Wrap { trim: false }), inner);
        return;
    };
    if let Some(e) = &pv.plan.error {
        // the last replan failed: the older plan stays on screen under this line
        let [l, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
        frame.render_widget(
            Paragraph::new(format!("last replan failed: {}", clean(e))).style(red),
            l,
        );
        render_rows(frame, rest, app, plan);
    } else if plan_is_quiet(plan) {
        frame.render_widget(
            Paragraph::new("No nodes in this session.").style(dim),
            inner,
        );
    } else {
        render_rows(frame, inner, app, plan);
    }
    if let Some(results) = &pv.results {
        render_summary(frame, bottom, results);
    }
}

fn plan_is_quiet(p: &Plan) -> bool {
    p.changes.is_empty() && p.noops.is_empty() && p.unknown.is_empty()
}

fn render_rows(frame: &mut Frame, area: Rect, app: &App, plan: &Plan) {
    let dim = Style::default().fg(Color::DarkGray);
    let red = Style::default().fg(Color::Red);
    let wide = area.width >= 120;
    let (node_w, what_w) = if wide { (30, 22) } else { (22, 16) };
    let status_w: usize = if wide { 24 } else { 14 };
    let reason_w = usize::from(area.width)
        .saturating_sub(4 + node_w + what_w + status_w + 3)
        .max(4);
    let results = app.plan.results.as_deref();
    // only the rows on screen are built (a plan of 1000 nodes costs what a screenful costs)
    let head = usize::from(plan.changes.is_empty());
    let (nc, nn) = (plan.changes.len(), plan.noops.len());
    let total = head + nc + nn + plan.unknown.len();
    let height = usize::from(area.height).max(1);
    let sel = app.plan.selected + head;
    let offset = (sel + 1).saturating_sub(height);
    let line_at = |i: usize| -> Line {
        if i < head {
            return Line::styled(
                "  Nothing to change: every node matches the playbook.",
                Style::default().fg(Color::Green),
            );
        }
        let i = i - head;
        if let Some(c) = plan.changes.get(i) {
            let (sign, what) = diff(&c.change);
            let key = format!("{}/{}", c.host, c.node);
            let (status, st_style) =
                match (app.progress.get(&key), result_of(results, &c.host, &c.node)) {
                    (Some(p), _) => (format!("{p}…"), Style::default().fg(Color::Yellow)),
                    (None, Some(r)) if r.verified => {
                        ("verified".to_string(), Style::default().fg(Color::Green))
                    }
                    (None, Some(r)) if r.ok => (
                        "done, not verified".to_string(),
                        Style::default().fg(Color::Yellow),
                    ),
                    (None, Some(_)) => ("failed".to_string(), red.add_modifier(Modifier::BOLD)),
                    (None, None) => (String::new(), Style::default()),
                };
            return Line::from(vec![
                Span::styled(format!("  {sign} "), sign_style(sign)),
                Span::styled(
                    format!("{:<node_w$} ", cut(&clean(&key), node_w)),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("{:<what_w$} ", cut(&what, what_w)),
                    sign_style(sign),
                ),
                Span::raw(format!("{:<reason_w$} ", cut(&clean(&c.reason), reason_w))),
                Span::styled(cut(&status, status_w), st_style),
            ]);
        }
        if let Some(n) = plan.noops.get(i - nc) {
            let key = format!("{}/{}", n.host, n.node);
            return Line::styled(
                format!(
                    "    {:<node_w$} {:<what_w$} {}",
                    cut(&clean(&key), node_w),
                    "no change",
                    cut(&clean(&n.why), reason_w + status_w)
                ),
                dim,
            );
        }
        match plan.unknown.get(i - nc - nn) {
            Some(u) => Line::styled(
                format!(
                    "  ? {:<node_w$} {:<what_w$} {}",
                    cut(&clean(&format!("{}/{}", u.host, u.node)), node_w),
                    "cannot plan",
                    cut(&clean(&u.error), reason_w + status_w)
                ),
                red,
            ),
            None => Line::from(""),
        }
    };
    let visible: Vec<Line> = (offset..total.min(offset + height))
        .map(|i| {
            let l = line_at(i);
            if i != sel {
                return l;
            }
            // the cursor row: reversed and marked with `>`
            let style = l.style;
            let mut spans = l.spans;
            if let Some(first) = spans.first_mut() {
                let t = first.content.to_string();
                first.content = format!(">{}", t.get(1..).unwrap_or("")).into();
            }
            Line::from(spans)
                .style(style)
                .patch_style(Style::default().add_modifier(Modifier::REVERSED))
        })
        .collect();
    frame.render_widget(Paragraph::new(visible), area);
}

fn render_summary(frame: &mut Frame, area: Rect, results: &[ChangeResult]) {
    let verified = results.iter().filter(|r| r.verified).count();
    let failed: Vec<&ChangeResult> = results.iter().filter(|r| !r.ok).collect();
    let unverified = results.iter().filter(|r| r.ok && !r.verified).count();
    let good = failed.is_empty() && unverified == 0;
    let color = if good { Color::Green } else { Color::Red };
    let mut lines = vec![Line::styled(
        format!(
            "applied {} change(s): {verified} verified, {unverified} not verified, {} failed",
            results.len(),
            failed.len()
        ),
        Style::default().fg(color).add_modifier(Modifier::BOLD),
    )];
    for r in failed.iter().take(2) {
        lines.push(Line::styled(
            format!(
                "{}/{} {}: {}",
                clean(&r.host),
                clean(&r.node),
                r.change.describe(),
                clean(&r.detail)
            ),
            Style::default().fg(Color::Red),
        ));
    }
    if failed.len() > 2 {
        lines.push(Line::from(format!(
            "… and {} more failed",
            failed.len() - 2
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::bordered()
                .title(" Result ")
                .border_style(Style::default().fg(color)),
        ),
        area,
    );
}
