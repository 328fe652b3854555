//! `nodeherd status [SELECTOR]`: every node of the selected hosts, one line each (or JSON).

use super::context::{self, Fail};
use super::{Output, exit, table};
use chrono::{DateTime, Utc};
use nodeherd_engine::status::{self, NodeStatus};
use std::path::Path;

pub async fn run(
    inventory: &Path,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let nodes = context::select(&inv, selector, limit)?;
    let pool = context::pool();
    let rows = status::gather(&pool, &inv, &nodes, forks).await;
    let chain = if out.json {
        String::new()
    } else {
        super::cosmos::plan_lines(&pool, &inv, &nodes, forks).await
    };
    pool.close_all().await;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
    } else {
        print!("{}", render(&rows, Utc::now(), out));
        print!("{chain}");
    }
    let unreachable = rows.iter().any(|r| r.unit_state.is_none());
    Ok(if unreachable { exit::FAILED } else { exit::OK })
}

/// The status table (pure; `now` is passed for the "since" column).
pub fn render(rows: &[NodeStatus], now: DateTime<Utc>, out: Output) -> String {
    let header = [
        "HOST", "NODE", "CLIENT", "UNIT", "STATE", "PID", "SINCE", "VERSION", "PROBLEM",
    ];
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let state = r.state_word();
            let colour = match &r.unit_state {
                Some(u) if u.is_active() => "32",
                Some(u) if u.active_state == "activating" || u.active_state == "deactivating" => {
                    "33"
                }
                _ => "31",
            };
            let u = r.unit_state.as_ref();
            let since = u
                .and_then(|u| {
                    if u.is_active() {
                        u.active_since
                    } else {
                        u.inactive_since
                    }
                })
                .map_or_else(|| "-".into(), |t| ago(now, t));
            let problem = r
                .error
                .clone()
                .or_else(|| r.last_log.clone())
                .unwrap_or_default();
            vec![
                r.host.clone(),
                r.node.clone(),
                r.client.clone(),
                r.unit.clone(),
                out.paint(&state, colour),
                u.and_then(|u| u.main_pid)
                    .map_or_else(|| "-".into(), |p| p.to_string()),
                since,
                r.version.clone().unwrap_or_else(|| "-".into()),
                problem,
            ]
        })
        .collect();
    let ok = rows.iter().filter(|r| r.is_ok()).count();
    let mut s = table::render(&header, &body);
    s.push_str(&format!(
        "{} nodes: {} active, {} not active or unreachable\n",
        rows.len(),
        ok,
        rows.len() - ok
    ));
    s
}

/// "5s", "3m", "2h", "4d" ago.
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
