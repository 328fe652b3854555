//! The keys screen: per validator node of the session the keys it holds (pubkey, read-only,
//! derivation path), nodes that could not be asked, and the loading/empty states.
//!
//! ```text
//! +- Keys · 2 validator nodes · 3 keys · listed 4s ago -----------------------------+
//! |  NODE                 PUBKEY          RO   PATH                                  |
//! |> eth-a1/lodestar-vc   0xa99a76…e2ac   no   m/12381/3600/0/0/0                    |
//! |  eth-a1/lodestar-vc   0xb89bca…43b7~  no   m/12381/3600/1/0/0   (~ removing)     |
//! |  eth-b1/lodestar-vc   error (below)                                              |
//! |                                                                                  |
//! | eth-b1/lodestar-vc: keymanager API: connection refused (127.0.0.1:5062)          |
//! +----------------------------------------------------------------------------------+
//! ```
//! Wide terminals (>= 156 columns) show the full pubkey. CometBFT nodes show their consensus key
//! (base64; RO `cosmos`; PATH holds the consensus address and the last signed
//! `h<height>/<round>/<step>`, or `no state` when the state file could not be read). A key listed on two nodes
//! is marked `!!` in red on both rows and named in a DOUBLE-SIGN RISK line under the table.
//!
//! Owns: how the keys screen reads. May not touch: the state (it only reads [`App`]), I/O.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, TableState, Wrap};

use crate::views::{age, clean, cut};
use std::collections::BTreeSet;

use crate::state::{App, KeyEntry, NodeKeys, short_pubkey};

/// Width from which the full 98-character pubkey fits.
const FULL_PUBKEY_WIDTH: u16 = 156;

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let f = &app.keys;
    let nodes = f.data.as_deref().unwrap_or(&[]);
    let title = title(app, now);
    let block = Block::bordered()
        .title(Line::styled(
            title,
            Style::default().add_modifier(Modifier::BOLD),
        ))
        .border_style(Style::default().fg(Color::Yellow));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let dim = Style::default().fg(Color::DarkGray);
    let red = Style::default().fg(Color::Red);
    if f.data.is_none() {
        let p = if f.loading {
            Paragraph::new("Asking every validator node's keymanager API…").style(dim)
        } else {
            Paragraph::new("Not loaded yet (R loads).").style(dim)
        };
        frame.render_widget(p, inner);
        return;
    }
    if nodes.is_empty() {
        frame.render_widget(
            Paragraph::new(
                "No node of this session has a keymanager API \
                 (keymanager_port and keymanager_token_file in the inventory).",
            )
            .style(dim)
            .wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    // a key on two nodes first (the worst news this screen can give), then nodes that could not
    // be asked: their errors in full under the table
    let risks = crate::feed::double_sign_risks(nodes);
    let risky: BTreeSet<(&str, String)> = risks
        .iter()
        .flat_map(|r| r.nodes.iter().map(move |n| (r.pubkey.as_str(), n.clone())))
        .collect();
    let errors = error_lines(&risks, nodes);
    let err_height = if errors.is_empty() {
        0
    } else {
        (errors.len() as u16 * 2).min(inner.height / 3)
    };
    let [inner, err_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(err_height)]).areas(inner);
    frame.render_widget(Paragraph::new(errors).wrap(Wrap { trim: false }), err_area);
    let full = area.width >= FULL_PUBKEY_WIDTH;
    // one line per key; nodes without keys or with an error get one line of their own
    let mut lines: Vec<(Row, Option<usize>)> = Vec::new();
    let mut k = 0usize;
    for n in nodes {
        let at = cut(&format!("{}/{}", clean(&n.host), clean(&n.node)), 22);
        match &n.keys {
            Err(_) => lines.push((
                Row::new(vec![Cell::from(at), Cell::from("error (below)").style(red)]),
                None,
            )),
            Ok(keys) if keys.is_empty() => lines.push((
                Row::new(vec![Cell::from(at), Cell::from("no keys").style(dim)]),
                None,
            )),
            Ok(keys) => {
                for key in keys {
                    let row = key_row(
                        app,
                        key,
                        &at,
                        &format!("{}/{}", n.host, n.node),
                        full,
                        &risky,
                    );
                    lines.push((row, Some(k)));
                    k += 1;
                }
            }
        }
    }
    let header = Row::new(["NODE", "PUBKEY", "RO", "PATH"])
        .style(Style::default().add_modifier(Modifier::BOLD));
    let height = usize::from(inner.height.saturating_sub(1)).max(1);
    let cursor = lines
        .iter()
        .position(|(_, i)| *i == Some(app.keys_selected));
    let offset = cursor.map_or(0, |c| (c + 1).saturating_sub(height));
    let rows: Vec<Row> = lines
        .into_iter()
        .skip(offset)
        .take(height)
        .map(|(r, _)| r)
        .collect();
    let widths = [
        Constraint::Length(22),
        Constraint::Length(if full { 98 } else { 15 }),
        Constraint::Length(6),
        Constraint::Min(10),
    ];
    let table = crate::views::cursor_table(rows, widths, header);
    let mut state = TableState::default().with_selected(cursor.map(|c| c - offset));
    frame.render_stateful_widget(table, inner, &mut state);
}

/// The title: how many nodes and keys, and how old the listing is.
fn title(app: &App, now: DateTime<Utc>) -> String {
    let f = &app.keys;
    let nodes = f.data.as_deref().unwrap_or(&[]);
    let entries = app.key_entries();
    let mut title = " Keys".to_string();
    if f.data.is_some() {
        title.push_str(&format!(
            " · {} validator node{} · {} key{}",
            nodes.len(),
            if nodes.len() == 1 { "" } else { "s" },
            entries.len(),
            if entries.len() == 1 { "" } else { "s" }
        ));
    }
    if f.loading {
        title.push_str(" · loading…");
    } else if let Some(at) = f.at {
        title.push_str(&format!(" · listed {} ago", age(now, at)));
    }
    title.push(' ');
    title
}

/// The lines under the table: a key on two nodes first (the worst news this screen can give),
/// then nodes that could not be asked, their errors in full.
fn error_lines(
    risks: &[nodeherd_engine::keys::DoubleSignRisk],
    nodes: &[NodeKeys],
) -> Vec<Line<'static>> {
    let red = Style::default().fg(Color::Red);
    let risk_lines = risks.iter().map(|r| {
        Line::styled(
            format!("DOUBLE-SIGN RISK: {}", clean(&r.to_string())),
            red.add_modifier(Modifier::BOLD),
        )
    });
    let errors: Vec<Line> = risk_lines
        .chain(nodes.iter().filter_map(|n| {
            let e = n.keys.as_ref().err()?;
            let at = format!("{}/{}", clean(&n.host), clean(&n.node));
            let e = clean(&e.to_string());
            let e = e.strip_prefix(&format!("{at}: ")).unwrap_or(&e).to_string();
            Some(Line::styled(format!("{at}: {e}"), red))
        }))
        .collect();
    errors
}

/// One key's row: node, pubkey (`~` while removed, `!!` at risk), read-only kind and path.
fn key_row(
    app: &App,
    key: &KeyEntry,
    at: &str,
    node_key: &str,
    full: bool,
    risky: &BTreeSet<(&str, String)>,
) -> Row<'static> {
    let red = Style::default().fg(Color::Red);
    let pk = clean(&key.pubkey);
    let mut pk = if full { pk } else { short_pubkey(&pk) };
    let removing = app.keys_removing.contains(&key.pubkey);
    if removing {
        pk.push('~');
    }
    let at_risk = risky.contains(&(key.pubkey.as_str(), node_key.to_string()));
    if at_risk {
        pk.push_str("!!");
    }
    let ro = match (key.remote, key.readonly, &key.cosmos) {
        (_, _, Some(_)) => "cosmos",
        (true, _, None) => "remote",
        (false, Some(true), None) => "yes",
        (false, Some(false), None) => "no",
        (false, None, None) => "-",
    };
    // a consensus key: its address and the last height/round/step it signed
    let path = match &key.cosmos {
        Some(c) => format!(
            "{} {}",
            short_pubkey(&clean(&c.address)),
            c.last_signed
                .map_or_else(|| "no state".into(), |(h, r, s)| format!("h{h}/{r}/{s}"))
        ),
        None => key
            .derivation_path
            .as_deref()
            .map_or_else(|| "-".into(), clean),
    };
    let style = if at_risk {
        red.add_modifier(Modifier::BOLD)
    } else if removing {
        Style::default().fg(Color::Yellow)
    } else {
        Style::default()
    };
    Row::new(vec![
        Cell::from(at.to_string()),
        Cell::from(pk),
        Cell::from(ro),
        Cell::from(path),
    ])
    .style(style)
}
