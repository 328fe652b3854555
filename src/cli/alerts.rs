//! `nodeherd alerts [SELECTOR]`: one evaluation round (gather, evaluate, notify, save state) and a summary of
//! firing / pending / resolved / silenced alerts; `nodeherd alerts silence RULE[/HOST[/NODE]] --for 2h`.

use super::context::{self, Fail};
use super::{Output, exit, table};
use chrono::Utc;
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

pub async fn run(
    inventory: &Path,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    file: Option<&Path>,
    out: Output,
) -> Result<i32, Fail> {
    let (path, explicit) = config_path(file);
    let cfg = alerts::load_config(&path, explicit).map_err(fail)?;
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
        print!("{}", render(&round, out));
    }
    let bad = round.failed_deliveries() > 0
        || matches!(round.deadman, Some(Err(_)))
        || round.firing().any(|a| !round.is_silenced(a));
    Ok(if bad { exit::FAILED } else { exit::OK })
}

/// The summary (pure).
pub fn render(r: &Round, out: Output) -> String {
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
        s.push_str(&format!(
            "sent {}\n",
            table::clip(&nodeherd_core::alerts::channels::title(n), 120)
        ));
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

pub fn silence(spec: &str, duration: Duration, out: Output) -> Result<i32, Fail> {
    let matcher = alerts::parse_silence(spec).map_err(fail)?;
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
