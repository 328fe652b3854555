//! `nodeherd alerts [SELECTOR]`: one evaluation round (gather, evaluate, notify, save state) and a summary of
//! firing / pending / resolved / silenced alerts; `nodeherd alerts silence RULE[/HOST[/NODE]] --for 2h`.

use super::context::{self, Fail};
use super::{Output, exit, table};
use chrono::Utc;
use nodeherd_core::alerts::Notification;
use nodeherd_core::alerts::channels::AlertsConfig;
use nodeherd_engine::alerts::{self, Round};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fail(e: impl std::fmt::Display) -> Fail {
    eprintln!("error: {e}");
    Fail(exit::USAGE)
}

fn config_path(file: Option<&Path>) -> (PathBuf, bool) {
    match file {
        Some(p) => (p.to_path_buf(), true),
        None => (
            context::playbook_default(alerts::DEFAULT_ALERTS_FILE),
            false,
        ),
    }
}

/// The alerts file (`--file`, or the default one when it exists), or every problem in it (exit 2).
fn load_config(file: Option<&Path>, out: Output) -> Result<AlertsConfig, Fail> {
    let (path, explicit) = config_path(file);
    alerts::load_config(&path, explicit).map_err(|e| match e {
        alerts::AlertsError::Config(e) => {
            eprint!("{}", nodeherd_core::inventory::render(&e, out.color));
            Fail(exit::USAGE)
        }
        e => fail(e),
    })
}

pub async fn run(
    inventory: &Path,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    file: Option<&Path>,
    out: Output,
) -> Result<i32, Fail> {
    let cfg = load_config(file, out)?;
    let state_path = alerts::state_file().map_err(fail)?;
    let inv = context::load_inventory(inventory, out.color)?;
    let nodes = context::select(&inv, selector, limit)?;
    let pool = context::pool();
    let round = alerts::run(&pool, &inv, &nodes, forks, &cfg, &state_path).await;
    pool.close_all().await;
    let round = round.map_err(|e| {
        eprintln!("error: {e}");
        Fail(exit::FAILED)
    })?;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&round).unwrap_or_else(|_| "{}".into())
        );
    } else {
        print!("{}", render(&round, cfg.channels.len(), out));
    }
    let bad = round.failed_deliveries() > 0
        || matches!(round.deadman, Some(Err(_)))
        || round.firing().any(|a| !round.is_silenced(a));
    Ok(if bad { exit::FAILED } else { exit::OK })
}

/// The summary (pure); `channels`: how many channels the alerts file configures.
pub fn render(r: &Round, channels: usize, out: Output) -> String {
    let header = ["STATE", "RULE", "HOST", "NODE", "SINCE", "VALUE"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let node = |n: &Option<String>| n.clone().unwrap_or_else(|| "-".into());
    for a in &r.active {
        let silenced = r.is_silenced(a);
        let (word, colour) = match (a.phase, silenced) {
            (_, true) => ("silenced", "90"),
            (nodeherd_core::alerts::engine::Phase::Firing, _) => ("FIRING", "31"),
            (nodeherd_core::alerts::engine::Phase::Pending, _) => ("pending", "33"),
        };
        rows.push(vec![
            out.paint(word, colour),
            a.rule.clone(),
            a.host.clone(),
            node(&a.node),
            super::status::ago(r.at, a.since),
            a.value.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    for n in r
        .notifications
        .iter()
        .filter(|n| n.kind == nodeherd_core::alerts::NotificationKind::Resolved)
    {
        rows.push(vec![
            out.paint("resolved", "32"),
            n.rule.clone(),
            n.host.clone(),
            node(&n.node),
            super::status::ago(r.at, n.since),
            n.value.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut s = if rows.is_empty() {
        format!("no alerts on {} nodes\n", r.nodes)
    } else {
        table::render(&header, &rows)
    };
    for n in &r.notifications {
        s.push_str(&sent_line(r, n, channels, out));
    }
    for d in r.deliveries.iter().filter(|d| d.error.is_some()) {
        s.push_str(&format!(
            "{} {}\n",
            out.paint("delivery failed:", "31"),
            d.error.as_deref().unwrap_or("")
        ));
    }
    match &r.deadman {
        Some(Ok(())) => s.push_str("dead-man ping sent\n"),
        Some(Err(e)) => s.push_str(&format!(
            "{} {e}\n",
            out.paint("dead-man ping failed:", "31")
        )),
        None => {}
    }
    s
}

/// What became of one notification: sent to which channels, or why it went nowhere.
fn sent_line(r: &Round, n: &Notification, channels: usize, out: Output) -> String {
    let title = table::clip(&nodeherd_core::alerts::channels::title(n), 120);
    let to: Vec<&str> = r
        .deliveries
        .iter()
        .filter(|d| {
            d.error.is_none()
                && d.kind == n.kind
                && d.rule == n.rule
                && d.host == n.host
                && d.node == n.node
        })
        .map(|d| d.channel.as_str())
        .collect();
    let tried = r
        .deliveries
        .iter()
        .any(|d| d.kind == n.kind && d.rule == n.rule && d.host == n.host && d.node == n.node);
    if !to.is_empty() {
        format!("sent to {}: {title}\n", to.join(", "))
    } else if channels == 0 {
        format!(
            "{} {title}\n",
            out.paint("not sent (no channel configured):", "33")
        )
    } else if tried {
        // Failed everywhere: the failures follow as "delivery failed:" lines.
        format!("{} {title}\n", out.paint("not sent:", "31"))
    } else {
        format!(
            "{} {title}\n",
            out.paint("not sent (no channel takes its severity):", "33")
        )
    }
}

/// `alerts silence RULE[/HOST[/NODE]]`: RULE must be a rule of the alerts file (or `*`).
pub fn silence(
    spec: &str,
    duration: Duration,
    file: Option<&Path>,
    out: Output,
) -> Result<i32, Fail> {
    let matcher = alerts::parse_silence(spec).map_err(fail)?;
    if let Some(rule) = &matcher.rule {
        let cfg = load_config(file, out)?;
        if !cfg.rules.iter().any(|r| &r.name == rule) {
            let names: Vec<&str> = cfg.rules.iter().map(|r| r.name.as_str()).collect();
            let (path, _) = config_path(file);
            let from = if cfg.default_rules {
                "the built-in rules".to_string()
            } else {
                path.display().to_string()
            };
            eprintln!(
                "error: no alert rule \"{rule}\" in {from}\nhelp: rules: {} (or * for every rule)",
                names.join(", ")
            );
            return Err(Fail(exit::FAILED));
        }
    }
    let until =
        Utc::now() + chrono::Duration::from_std(duration).map_err(|_| fail("--for is too long"))?;
    let state_path = alerts::state_file().map_err(fail)?;
    alerts::add_silence(&state_path, matcher.clone(), until).map_err(|e| {
        eprintln!("error: {e}");
        Fail(exit::FAILED)
    })?;
    if out.json {
        println!(
            "{}",
            serde_json::json!({ "matcher": matcher, "until": until })
        );
    } else {
        println!(
            "silenced {} until {}",
            spec,
            until.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::alerts::{NotificationKind, Severity};
    use nodeherd_transport::notify::Delivery;

    fn round(deliveries: Vec<Delivery>) -> Round {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        Round {
            at,
            notifications: vec![Notification {
                kind: NotificationKind::Resolved,
                rule: "unit-not-active".into(),
                severity: Severity::Page,
                pages: true,
                host: "h1".into(),
                node: Some("bn".into()),
                value: None,
                text: String::new(),
                labels: std::collections::BTreeMap::new(),
                since: at,
                at,
            }],
            deliveries,
            active: vec![],
            silences: vec![],
            deadman: None,
            nodes: 1,
        }
    }

    fn delivery(channel: &str, error: Option<&str>) -> Delivery {
        Delivery {
            channel: channel.into(),
            rule: "unit-not-active".into(),
            host: "h1".into(),
            node: Some("bn".into()),
            kind: NotificationKind::Resolved,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn a_notification_is_called_sent_only_when_a_channel_took_it() {
        let out = Output {
            json: false,
            color: false,
            quiet: false,
        };
        let none = render(&round(vec![]), 0, out);
        assert!(
            none.contains("not sent (no channel configured): [RESOLVED]"),
            "{none}"
        );
        assert!(!none.contains("sent ["), "{none}");
        let filtered = render(&round(vec![]), 2, out);
        assert!(
            filtered.contains("not sent (no channel takes its severity)"),
            "{filtered}"
        );
        let sent = render(
            &round(vec![delivery("slack", None), delivery("ntfy", Some("503"))]),
            2,
            out,
        );
        assert!(sent.contains("sent to slack: [RESOLVED]"), "{sent}");
        assert!(sent.contains("delivery failed: 503"), "{sent}");
        let failed = render(&round(vec![delivery("ntfy", Some("503"))]), 1, out);
        assert!(failed.contains("not sent: [RESOLVED]"), "{failed}");
    }
}
