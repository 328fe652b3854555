//! Modal dialogs drawn over the screen: the confirm dialogs (lifecycle, key remove / import /
//! move, apply, upgrade) and the host-key trust prompt, one function per dialog.
//!
//! Owns: how each dialog reads. May not touch: the state (it only reads [`App`]), I/O, what an
//! answer does (that is the reducer's `update::dialogs`).
//!
//! ```text
//!         +- Confirm restart ---------------------------------+
//!         | Restart 2 nodes on 2 hosts?                        |
//!         |                                                    |
//!         |   nhtui-1  demo  (nodeherd-demo.service)           |
//!         |   nhtui-2  demo  (nodeherd-demo.service)           |
//!         |                                                    |
//!         |   y restart      n / esc cancel                    |
//!         +----------------------------------------------------+
//! ```

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::keymap::Action;
use crate::msg::lifecycle_of;
use crate::state::{
    App, Dialog, HostKeyAsk, ImportAsk, KeyEntry, MoveAsk, UpgradeAsk, short_pubkey,
};
use crate::views::{centered, clean, cut};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::plan::apply::Planned;

/// The most nodes a confirm dialog lists by name before summarising the rest.
const LIST_MAX: usize = 8;
/// The most keys an import dialog lists before summarising the rest.
const KEYS_MAX: usize = 5;

/// What a dialog draws: its title, its colour and its lines.
type Drawn = (String, Color, Vec<Line<'static>>);

/// `  y VERB      n / esc cancel`, the last line of every confirm dialog.
fn confirm_footer(verb: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            verb.into(),
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        Span::raw("      n / esc cancel"),
    ])
}

/// `  host  NAME (address)` and `  node  NAME`, the first facts of every one-node dialog.
fn host_and_node(app: &App, r: NodeRef, host: &str, node: &str) -> [Line<'static>; 2] {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let address = app
        .row_of(r)
        .map(|r| format!(" ({})", clean(&r.address)))
        .unwrap_or_default();
    [
        Line::from(vec![
            Span::raw("  host  "),
            Span::styled(clean(host), bold),
            Span::raw(address),
        ]),
        Line::from(vec![Span::raw("  node  "), Span::styled(clean(node), bold)]),
    ]
}

/// A full pubkey in two halves (so it fits an 80-column terminal), labelled `key`.
fn full_pubkey(pk: &str) -> Vec<Line<'static>> {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let chars: Vec<char> = pk.chars().collect();
    chars
        .chunks(50)
        .enumerate()
        .map(|(i, part)| {
            Line::from(vec![
                Span::raw(if i == 0 { "  key   " } else { "        " }),
                Span::styled(part.iter().collect::<String>(), bold.fg(Color::Yellow)),
            ])
        })
        .collect()
}

/// The open dialog, if any, centred over the screen.
pub fn render(frame: &mut Frame, area: Rect, app: &App, _now: DateTime<Utc>) {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let (title, color, lines) = match &app.dialog {
        None => return,
        Some(Dialog::Confirm { action, nodes }) => confirm_lifecycle(app, *action, nodes),
        Some(Dialog::RemoveKey { key }) => remove_key(app, key),
        Some(Dialog::ImportKeys(ask)) => import_keys(app, ask),
        Some(Dialog::MoveKey(ask)) => move_key(app, ask),
        Some(Dialog::Apply { changes }) => apply(changes),
        Some(Dialog::Upgrade(ask)) => upgrade(app, ask),
        Some(Dialog::HostKey { ask, .. }) => host_key(ask),
    };
    let width = lines
        .iter()
        .map(ratatui::prelude::Line::width)
        .max()
        .unwrap_or(20)
        .clamp(40, 76) as u16
        + 4;
    let height = lines.len() as u16 + 2;
    let rect = centered(area, width, height);
    frame.render_widget(Clear, rect);
    let block = Block::bordered()
        .title(Line::styled(title, bold.fg(color)))
        .border_style(Style::default().fg(color));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// The lifecycle confirm: the verb, and the nodes by host, name and unit.
fn confirm_lifecycle(app: &App, action: Action, nodes: &[NodeRef]) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let verb = lifecycle_of(action).map_or("act on", nodeherd_core::facts::systemd::Action::verb);
    let rows: Vec<_> = nodes.iter().filter_map(|n| app.row_of(*n)).collect();
    let mut hosts: Vec<&str> = rows.iter().map(|r| r.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let mut capital = verb.to_string();
    if let Some(f) = capital.get_mut(0..1) {
        f.make_ascii_uppercase();
    }
    let mut lines = vec![
        Line::styled(
            format!(
                "{capital} {} node{} on {} host{}?",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" },
                hosts.len(),
                if hosts.len() == 1 { "" } else { "s" }
            ),
            bold,
        ),
        Line::from(""),
    ];
    for r in rows.iter().take(LIST_MAX) {
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<14}", cut(&clean(&r.host), 14)), bold),
            Span::raw(format!(" {:<12}", cut(&clean(&r.node), 12))),
            Span::styled(
                format!(" ({})", cut(&clean(&r.unit), 28)),
                Style::default().fg(Color::DarkGray),
            ),
        ]));
    }
    if rows.len() > LIST_MAX {
        lines.push(Line::from(format!(
            "  … and {} more",
            rows.len() - LIST_MAX
        )));
    }
    lines.push(Line::from(""));
    lines.push(confirm_footer(format!("  y {verb}")));
    (format!(" Confirm {verb} "), Color::Red, lines)
}

/// Removing one key: where, which key (in full), and that its slashing data is saved first.
fn remove_key(app: &App, key: &KeyEntry) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let pk = clean(&key.pubkey);
    let mut lines = vec![
        Line::styled(
            format!(
                "Remove 1 validator key from {}/{}?",
                clean(&key.host),
                clean(&key.node)
            ),
            bold,
        ),
        Line::from(""),
    ];
    lines.extend(host_and_node(app, key.r, &key.host, &key.node));
    lines.extend(full_pubkey(&pk));
    lines.push(Line::from(format!(
        "  path  {}",
        key.derivation_path
            .as_deref()
            .map_or_else(|| "-".into(), clean)
    )));
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Its slashing protection is saved first (console state dir",
    ));
    lines.push(Line::from(
        "and the host); nothing is removed if that cannot be done.",
    ));
    lines.push(Line::from(""));
    lines.push(confirm_footer("  y remove"));
    (" Confirm remove key ".to_string(), Color::Red, lines)
}

/// Importing keys: where, which keys from which files, the slashing data, the guard's answer.
fn import_keys(app: &App, ask: &ImportAsk) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let n = ask.pubkeys.len();
    let mut lines = vec![
        Line::styled(
            format!(
                "Import {n} validator key{} into {}/{}?",
                if n == 1 { "" } else { "s" },
                clean(&ask.host),
                clean(&ask.node)
            ),
            bold,
        ),
        Line::from(""),
    ];
    lines.extend(host_and_node(app, ask.r, &ask.host, &ask.node));
    for (i, pk) in ask.pubkeys.iter().take(KEYS_MAX).enumerate() {
        let file = ask
            .files
            .get(i)
            .and_then(|f| f.file_name())
            .map(|f| clean(&f.to_string_lossy()))
            .unwrap_or_default();
        lines.push(Line::from(vec![
            Span::raw(if i == 0 { "  keys  " } else { "        " }),
            Span::styled(short_pubkey(&clean(pk)), bold.fg(Color::Yellow)),
            Span::styled(
                format!("  {}", cut(&file, 44)),
                Style::default().fg(Color::DarkGray),
            ),
        ]));
    }
    if n > KEYS_MAX {
        lines.push(Line::from(format!("        … and {} more", n - KEYS_MAX)));
    }
    lines.push(Line::from(format!(
        "  slashing protection  {}",
        ask.slashing.as_ref().map_or_else(
            || "none given (the client starts an empty history)".into(),
            |p| cut(&clean(&p.to_string_lossy()), 44)
        )
    )));
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        "Double-sign guard: none of the {} other validator node{}",
        ask.guard_asked,
        if ask.guard_asked == 1 { "" } else { "s" }
    )));
    lines.push(Line::from(
        "has these keys; it is asked again right before the import.",
    ));
    lines.push(Line::from(""));
    lines.push(confirm_footer("  y import"));
    (" Confirm import keys ".to_string(), Color::Red, lines)
}

/// Moving one key: from, to, which key, and the steps.
fn move_key(app: &App, ask: &MoveAsk) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let addr = |r| {
        app.row_of(r)
            .map(|r| format!(" ({})", clean(&r.address)))
            .unwrap_or_default()
    };
    let pk = clean(&ask.pubkey);
    let mut lines = vec![
        Line::styled(
            format!(
                "Move 1 validator key from {} to {}?",
                clean(&ask.from_label),
                clean(&ask.to_label)
            ),
            bold,
        ),
        Line::from(""),
        Line::from(vec![
            Span::raw("  from  "),
            Span::styled(clean(&ask.from_label), bold),
            Span::raw(addr(ask.from)),
        ]),
        Line::from(vec![
            Span::raw("  to    "),
            Span::styled(clean(&ask.to_label), bold),
            Span::raw(addr(ask.to)),
        ]),
    ];
    lines.extend(full_pubkey(&pk));
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Removed from the first node (slashing data saved first),",
    ));
    lines.push(Line::from(
        "verified gone, imported into the second with that data,",
    ));
    lines.push(Line::from(
        "verified there. It stops at the first uncertain step.",
    ));
    lines.push(Line::from(""));
    lines.push(confirm_footer("  y move"));
    (" Confirm move key ".to_string(), Color::Red, lines)
}

/// Applying the plan: every change by host and node.
fn apply(changes: &[Planned]) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut hosts: Vec<&str> = changes.iter().map(|c| c.host.as_str()).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let mut lines = vec![
        Line::styled(
            format!(
                "Apply {} change{} on {} host{}?",
                changes.len(),
                if changes.len() == 1 { "" } else { "s" },
                hosts.len(),
                if hosts.len() == 1 { "" } else { "s" }
            ),
            bold,
        ),
        Line::from(""),
    ];
    for c in changes.iter().take(LIST_MAX) {
        let (sign, what) = crate::views::plan::diff(&c.change);
        lines.push(Line::from(vec![
            Span::styled(format!("  {sign} {:<14}", cut(&clean(&c.host), 14)), bold),
            Span::raw(format!(" {:<14}", cut(&clean(&c.node), 14))),
            Span::styled(
                format!(" {}", cut(&what, 30)),
                Style::default().fg(Color::Yellow),
            ),
        ]));
    }
    if changes.len() > LIST_MAX {
        lines.push(Line::from(format!(
            "  … and {} more",
            changes.len() - LIST_MAX
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(
        "Version switches go through the guarded upgrade engine",
    ));
    lines.push(Line::from(
        "(canary, batches, health gate, rollback on failure).",
    ));
    lines.push(Line::from(""));
    lines.push(confirm_footer("  y apply"));
    (" Confirm apply ".to_string(), Color::Red, lines)
}

/// An upgrade or rollback of one node: from which version to which.
fn upgrade(app: &App, ask: &UpgradeAsk) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let down = !ask.rollback
        && ask.to.as_deref().is_some_and(|to| {
            nodeherd_core::plan::upgrade::direction(ask.from.as_deref(), to) == "downgrade"
        });
    let verb = match (ask.rollback, down) {
        (true, _) => "Roll back",
        (false, true) => "Downgrade",
        (false, false) => "Upgrade",
    };
    let from = ask.from.as_deref().map_or_else(|| "unknown".into(), clean);
    let to = match &ask.to {
        Some(t) => clean(t),
        None => "its previous version".into(),
    };
    let [host, node] = host_and_node(app, ask.r, &ask.host, &ask.node);
    let lines = vec![
        Line::styled(
            format!("{verb} {}/{}?", clean(&ask.host), clean(&ask.node)),
            bold,
        ),
        Line::from(""),
        host,
        node,
        Line::from(vec![
            Span::raw("  from  "),
            Span::styled(from, bold),
            Span::raw("  ->  "),
            Span::styled(to, bold.fg(Color::Yellow)),
        ]),
        Line::from(""),
        Line::from("The node restarts; a failed health gate rolls it back."),
        Line::from(""),
        confirm_footer(match (ask.rollback, down) {
            (true, _) => "  y roll back",
            (false, true) => "  y downgrade",
            (false, false) => "  y upgrade",
        }),
    ];
    let title = match (ask.rollback, down) {
        (true, _) => " Confirm rollback ",
        (false, true) => " Confirm downgrade ",
        (false, false) => " Confirm upgrade ",
    };
    (title.to_string(), Color::Red, lines)
}

/// The trust question for an unknown host key, with its fingerprint.
fn host_key(ask: &HostKeyAsk) -> Drawn {
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let lines = vec![
        Line::from(vec![
            Span::raw("The host "),
            Span::styled(clean(&ask.host), bold),
            Span::raw(format!(" ({}:{})", clean(&ask.address), ask.port)),
        ]),
        Line::from("presented a key that is not in its known_hosts files:"),
        Line::from(""),
        Line::styled(format!("  {}", clean(&ask.key_type)), bold),
        Line::styled(
            format!("  {}", clean(&ask.fingerprint)),
            bold.fg(Color::Yellow),
        ),
        Line::from(""),
        Line::from("Compare the fingerprint with the server's own"),
        Line::from("(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)."),
        Line::from("Trust it and record it in known_hosts?"),
        Line::from(""),
        Line::from(vec![
            Span::styled(
                "  y trust",
                Style::default()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw("      n / esc refuse"),
        ]),
    ];
    (" Unknown host key ".to_string(), Color::Yellow, lines)
}
