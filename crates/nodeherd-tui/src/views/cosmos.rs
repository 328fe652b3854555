//! The Cosmos screen: what a Cosmos operator watches between upgrades, on one page. A screen of
//! its own (not columns of the releases screen) because these are chain events, not releases of
//! a feed: a governance plan halts every node of a chain at one height, proposals are voted per
//! validator, and signing health is the validator's, not the binary's.
//!
//! Owns: how the Cosmos screen reads. May not touch: the state (it only reads [`App`]), I/O.
//! The countdowns move with `now`: the time left is the watch's estimate minus the time since
//! it read it, and a block's age is `now` minus the block's time.
//!
//! ```text
//! +- Cosmos · 3 nodes · read 4s ago -----------------------------------------------+
//! | Chain upgrades                                                                  |
//! |  cosmoshub-4  upgrade `v19` at height 20739800, in ~15m 26s                     |
//! |     val-1/gaia              staged (releases/v19)                               |
//! |     val-2/gaia              NOT STAGED                                          |
//! | Proposals in their voting period                                                |
//! |  cosmoshub-4                                                                    |
//! |    #957 Community pool spend: validat…  val-1/gaia       NOT VOTED, ends in 9h  |
//! | Signing health                                                                  |
//! |  NODE               HEIGHT    LAST BLOCK PEERS MISSED (OF WINDOW)  STANDING     |
//! |  val-1/gaia         20739707  6s         12    3.12% (312/10000)   ok           |
//! | Problems                                                                        |
//! +---------------------------------------------------------------------------------+
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use crate::state::App;
use crate::views::{age, clean, cut};
use nodeherd_core::cosmos::chain;
use nodeherd_engine::cosmos::watch::{NodeWatch, Staged};

fn dim() -> Style {
    Style::default().fg(Color::DarkGray)
}
fn red() -> Style {
    Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
}
fn green() -> Style {
    Style::default().fg(Color::Green)
}
fn yellow() -> Style {
    Style::default().fg(Color::Yellow)
}
fn bold() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

/// The Cosmos screen: title, the loading/empty states, then the sections.
pub fn render(frame: &mut Frame, area: Rect, app: &App, now: DateTime<Utc>) {
    let f = &app.cosmos;
    let mut title = " Cosmos".to_string();
    if let Some(d) = &f.data {
        title.push_str(&format!(" · {} nodes", d.len()));
    }
    if f.loading {
        title.push_str(" · reading…");
    } else if let Some(at) = f.at {
        title.push_str(&format!(" · read {} ago", age(now, at)));
    }
    title.push(' ');
    let block = Block::bordered()
        .title(Line::styled(title, bold()))
        .border_style(Style::default().fg(Color::Cyan));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = match &f.data {
        None if f.loading => vec![Line::styled("Reading every Cosmos node…", dim())],
        None => vec![Line::styled("Not read yet (R reads).", dim())],
        Some(d) if d.is_empty() => vec![Line::styled(
            "No Cosmos node (client = \"cosmos\") in this session.",
            dim(),
        )],
        Some(d) => body(app, d, now, inner.width >= 120),
    };
    let top = app.cosmos_scroll.min(lines.len().saturating_sub(1));
    let scroll = u16::try_from(top).unwrap_or(u16::MAX);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}

/// The chain a node is on: its inventory `network`, else `-`.
fn chain_of(app: &App, w: &NodeWatch) -> String {
    w.chain
        .node
        .split_once('/')
        .and_then(|(h, n)| app.row_index(h, n))
        .and_then(|i| app.rows[i].network.clone())
        .map_or_else(|| "-".to_string(), |n| clean(&n))
}

/// Every section, in order.
fn body(app: &App, list: &[NodeWatch], now: DateTime<Utc>, wide: bool) -> Vec<Line<'static>> {
    let mut chains: BTreeMap<String, Vec<&NodeWatch>> = BTreeMap::new();
    for w in list {
        chains.entry(chain_of(app, w)).or_default().push(w);
    }
    let at = app.cosmos.at.unwrap_or(now);
    let mut out = vec![Line::styled("Chain upgrades", bold())];
    for (name, nodes) in &chains {
        upgrades(&mut out, name, nodes, at, now);
    }
    out.push(Line::styled("Proposals in their voting period", bold()));
    let before = out.len();
    for (name, nodes) in &chains {
        proposals(&mut out, name, nodes, now, wide);
    }
    if out.len() == before {
        out.push(Line::styled(
            "  no validator (`valoper`) among these nodes",
            dim(),
        ));
    }
    out.push(Line::styled("Signing health", bold()));
    signing(&mut out, list, now);
    let problems: Vec<Line> = list
        .iter()
        .flat_map(|w| {
            w.chain.errors.iter().map(move |e| {
                Line::styled(format!("  {}: {}", clean(&w.chain.node), clean(e)), red())
            })
        })
        .collect();
    if !problems.is_empty() {
        out.push(Line::styled("Problems", bold()));
        out.extend(problems);
    }
    out
}

/// Time left to a plan's height, counted down since the read.
fn left(w: &NodeWatch, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let Some(p) = &w.chain.plan else {
        return String::new();
    };
    if w.chain
        .head
        .as_ref()
        .is_some_and(|h| h.height + 1 >= p.height)
    {
        return ", at the height now".into();
    }
    match w.chain.eta {
        Some(eta) => {
            let gone = (now - at).to_std().unwrap_or_default();
            format!(", in {}", chain::countdown(eta.saturating_sub(gone)))
        }
        None => String::new(),
    }
}

/// One chain's pending plans and, per node, whether the binary is staged.
fn upgrades(
    out: &mut Vec<Line<'static>>,
    name: &str,
    nodes: &[&NodeWatch],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) {
    let mut plans: Vec<(String, u64)> = nodes
        .iter()
        .filter_map(|w| w.chain.plan.as_ref().map(|p| (p.name.clone(), p.height)))
        .collect();
    plans.sort();
    plans.dedup();
    if plans.is_empty() {
        out.push(Line::from(vec![
            Span::raw(format!("  {name:<14} ")),
            Span::styled("no upgrade pending", dim()),
        ]));
        return;
    }
    for (plan, height) in plans {
        let on: Vec<&&NodeWatch> = nodes
            .iter()
            .filter(|w| {
                w.chain
                    .plan
                    .as_ref()
                    .is_some_and(|p| p.name == plan && p.height == height)
            })
            .collect();
        // the countdown of the node with the best estimate (the highest head)
        let best = on
            .iter()
            .filter(|w| w.chain.eta.is_some() || w.chain.head.is_some())
            .max_by_key(|w| w.chain.head.as_ref().map_or(0, |h| h.height))
            .map_or_else(String::new, |w| left(w, at, now));
        out.push(Line::from(vec![
            Span::raw(format!("  {name:<14} ")),
            Span::styled(
                format!("upgrade `{}` at height {height}{best}", clean(&plan)),
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ),
        ]));
        for w in on {
            let (text, style) = match &w.staged {
                Some(Ok(Staged::Release)) => {
                    (format!("staged (releases/{})", clean(&plan)), green())
                }
                Some(Ok(Staged::Cosmovisor)) => ("staged for Cosmovisor".to_string(), green()),
                Some(Ok(Staged::No)) => ("NOT STAGED".to_string(), red()),
                Some(Err(e)) => (format!("staged? {}", clean(e)), yellow()),
                None => ("staged? not read".to_string(), yellow()),
            };
            out.push(Line::from(vec![
                Span::raw(format!("     {:<24} ", clean(&w.chain.node))),
                Span::styled(text, style),
            ]));
        }
    }
}

/// `9h 59m`, `2d 3h`, `42m`: a proposal's time left.
fn ends_in(end: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let m = (end - now).num_minutes().max(0);
    match m {
        0..=59 => format!("{m}m"),
        60..=1439 => format!("{}h {}m", m / 60, m % 60),
        _ => format!("{}d {}h", m / 1440, (m % 1440) / 60),
    }
}

/// One chain's proposals in their voting period, with each validator's vote (a line naming the
/// chain, then one line per proposal and validator).
fn proposals(
    out: &mut Vec<Line<'static>>,
    name: &str,
    nodes: &[&NodeWatch],
    now: DateTime<Utc>,
    wide: bool,
) {
    let validators: Vec<(&str, &nodeherd_engine::cosmos::validator::ValidatorView)> = nodes
        .iter()
        .filter_map(|w| Some((w.chain.node.as_str(), w.validator.as_ref()?)))
        .collect();
    if validators.is_empty() {
        return;
    }
    out.push(Line::raw(format!("  {name}")));
    let (cut_at, pad) = if wide { (60, 66) } else { (25, 31) };
    let mut any = false;
    for (node, v) in &validators {
        let Some(list) = &v.proposals else {
            out.push(Line::styled(
                format!("    {}: proposals not readable", clean(node)),
                yellow(),
            ));
            continue;
        };
        for p in list {
            any = true;
            let title = format!(
                "#{} {}",
                p.proposal.id,
                cut(&clean(&p.proposal.title), cut_at)
            );
            let ends = ends_in(p.proposal.voting_end, now);
            let (vote, style) = match p.voted {
                Some(true) => (format!("voted (ends in {ends})"), green()),
                Some(false) => (format!("NOT VOTED, ends in {ends}"), red()),
                None => (format!("vote unknown, ends in {ends}"), yellow()),
            };
            out.push(Line::from(vec![
                Span::raw(format!("    {title:<pad$} {:<16} ", clean(node))),
                Span::styled(vote, style),
            ]));
        }
        if v.proposals_cut {
            out.push(Line::styled(
                format!(
                    "    {}: more than {} pages of proposals; the rest not read",
                    clean(node),
                    nodeherd_engine::cosmos::validator::MAX_PAGES
                ),
                yellow(),
            ));
        }
    }
    if !any {
        out.push(Line::styled("    none in their voting period", dim()));
    }
}

/// One line per node: height, last block age, peers, missed blocks, jailed/tombstoned.
fn signing(out: &mut Vec<Line<'static>>, list: &[NodeWatch], now: DateTime<Utc>) {
    out.push(Line::styled(
        format!(
            "  {:<18} {:<9} {:<10} {:<5} {:<19} STANDING",
            "NODE", "HEIGHT", "LAST BLOCK", "PEERS", "MISSED (OF WINDOW)"
        ),
        dim(),
    ));
    for w in list {
        let head = w.chain.head.as_ref();
        let height = head.map_or_else(|| "-".to_string(), |h| h.height.to_string());
        let last = match head {
            Some(h) if h.catching_up => "catching up".to_string(),
            Some(h) => h.time.map_or_else(|| "-".to_string(), |t| age(now, t)),
            None => "-".to_string(),
        };
        let peers = w.peers.map_or_else(|| "-".to_string(), |p| p.to_string());
        let (missed, standing) = match &w.validator {
            None => ("-".to_string(), Span::styled("no valoper", dim())),
            Some(v) => {
                let missed = match (v.missed_percent(), v.missed_blocks, v.window) {
                    (Some(p), Some(m), Some(win)) => format!("{p:.2}% ({m}/{win})"),
                    _ => "?".to_string(),
                };
                let standing = match (v.jail_word(), v.jailed) {
                    (Some(word), _) => Span::styled(word.to_uppercase(), red()),
                    (None, Some(false)) => Span::styled("ok", green()),
                    (None, _) => Span::styled("unknown", yellow()),
                };
                (missed, standing)
            }
        };
        out.push(Line::from(vec![
            Span::raw(format!(
                "  {:<18} {height:<9} {last:<10} {peers:<5} {missed:<19} ",
                cut(&clean(&w.chain.node), 18)
            )),
            standing,
        ]));
    }
}
