//! `nodeherd upgrade|rollback|history`: plan first, confirm, run, summary table (`releases` is
//! [`super::releases`]).
//!
//! Owns: argument handling and printing for the upgrade commands; the work is in
//! `nodeherd_engine::upgrade::engine`. May not touch: SSH or the hosts directly.

use super::confirm::{Decision, confirm};
use super::context::{self, Fail};
use super::{Output, exit, table};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::playbook::Playbook;
use nodeherd_engine::upgrade::engine::{self, NodePlan, Options, Outcome, Status, Target};
use std::path::Path;
use std::time::Duration;

/// Shared arguments of the upgrade commands.
#[derive(Debug, Clone)]
pub struct Common<'a> {
    pub inventory: &'a Path,
    pub selector: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub playbook: Option<&'a Path>,
    pub yes: bool,
    pub out: Output,
}

/// The default playbook when `-p` is not given (if it exists).
pub const DEFAULT_PLAYBOOK: &str = "playbooks/upgrade-policy.toml";

pub(crate) fn load_playbook(p: Option<&Path>, color: bool) -> Result<Playbook, Fail> {
    let path = match p {
        Some(p) => p.to_path_buf(),
        None => super::context::playbook_default(DEFAULT_PLAYBOOK),
    };
    if p.is_none() && !path.exists() {
        return Ok(Playbook::default());
    }
    Playbook::load(&path).map_err(|e| playbook_problem(&e, color))
}

/// Print a playbook's problem as a report (exit 2).
pub(crate) fn playbook_problem(e: &nodeherd_core::playbook::PlaybookError, color: bool) -> Fail {
    let handler = if color {
        miette::GraphicalReportHandler::new()
    } else {
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
    };
    let mut s = String::new();
    let _ = handler.render_report(&mut s, e);
    eprintln!("{s}");
    Fail(exit::USAGE)
}

pub(crate) fn targets(c: &Common<'_>) -> Result<(Inventory, Vec<NodeRef>, Vec<Target>), Fail> {
    let inv = context::load_inventory(c.inventory, c.out.color)?;
    let pb = load_playbook(c.playbook, c.out.color)?;
    let nodes = context::select(&inv, c.selector, c.limit)?;
    // Every node can be gated: the probe table says how (a node with nothing to probe is
    // gated on its unit staying up, and the plan says so).
    let ts = nodes.iter().map(|r| Target::new(&inv, *r, &pb)).collect();
    Ok((inv, nodes, ts))
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
    );
}

fn plan_table(plans: &[NodePlan]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|p| {
            vec![
                p.step.node.clone(),
                p.running.clone().unwrap_or("?".into()),
                p.step.to.clone().unwrap_or("-".into()),
                table::clip(&p.step.reason, 60),
                table::clip(&p.gate, 70),
            ]
        })
        .collect();
    let mut out = table::render(&["NODE", "RUNNING", "TO", "WHY", "GATE"], &rows);
    // What each switch backs up first, and the space it needs (nodes with `backup`).
    for p in plans {
        if let Some(b) = &p.backup {
            out.push_str(&format!("backup {}: {}\n", p.step.node, b.describe()));
        }
    }
    out
}

fn ask(c: &Common<'_>, what: &str, hosts: &[String]) -> Result<bool, Fail> {
    match confirm(what, hosts, c.yes) {
        Decision::Go => Ok(true),
        Decision::Declined => {
            eprintln!("nothing done");
            Ok(false)
        }
        Decision::NeedYes => {
            eprintln!(
                "error: refusing to {what} without a terminal to confirm\nhelp: add --yes to confirm non-interactively"
            );
            Err(Fail(exit::USAGE))
        }
    }
}

fn summary(out: Output, results: &[Outcome]) -> i32 {
    if out.json {
        print_json(&results);
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|o| {
                let st = match o.status {
                    Status::Ok => out.paint("ok", "32"),
                    Status::Unchanged => "unchanged".into(),
                    Status::RolledBack => out.paint("ROLLED BACK", "33"),
                    Status::Refused => out.paint("REFUSED", "33"),
                    Status::Failed => out.paint("FAILED", "31"),
                    Status::Skipped => "skipped".into(),
                };
                vec![
                    o.node.clone(),
                    o.action.clone(),
                    o.from.clone().unwrap_or("?".into()),
                    o.to.clone().unwrap_or("-".into()),
                    st,
                    format!("{:.0}s", o.took.as_secs_f64()),
                    table::clip(&o.detail, 100),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                &["NODE", "ACTION", "FROM", "TO", "RESULT", "TOOK", "DETAIL"],
                &rows
            )
        );
        for o in results.iter().filter(|o| !o.logs.is_empty()) {
            println!(
                "last log lines of {} on {}:",
                o.node,
                o.to.as_deref().unwrap_or("?")
            );
            for l in &o.logs {
                println!("  {l}");
            }
        }
    }
    if results
        .iter()
        .any(nodeherd_engine::upgrade::engine::Outcome::failed)
    {
        exit::FAILED
    } else {
        exit::OK
    }
}

/// `nodeherd upgrade SELECTOR [--to VERSION]`.
pub async fn upgrade(
    c: Common<'_>,
    to: Option<&str>,
    force_unhealthy: bool,
    wait_lock: Option<Duration>,
) -> Result<i32, Fail> {
    let (inv, nodes, ts) = targets(&c)?;
    let opts = Options {
        force_unhealthy,
        wait_lock: wait_lock.unwrap_or(Duration::ZERO),
        ..Options::default()
    };
    let pool = context::pool();
    let plans = engine::plan_all(&pool, &ts, to, &opts).await;
    let assets = engine::choose_assets(&pool, &ts, &plans, &opts).await;
    if !c.out.json {
        eprint!("{}", plan_table(&plans));
        eprint!("{}", super::releases::asset_lines(&assets));
    }
    let bad = super::releases::unusable(&plans, &assets);
    if !bad.is_empty() {
        for a in bad {
            eprintln!(
                "error: {}: {}",
                a.node,
                a.refused.as_deref().unwrap_or("no usable asset")
            );
        }
        eprintln!("nothing was done on any host");
        pool.close_all().await;
        return Err(Fail(exit::USAGE));
    }
    let work = plans.iter().filter(|p| p.step.to.is_some()).count();
    if work == 0 {
        if c.out.json {
            print_json(&Vec::<Outcome>::new());
        } else {
            eprintln!("nothing to upgrade");
        }
        pool.close_all().await;
        return Ok(exit::OK);
    }
    let hosts = nodeherd_engine::fleet::host_names(&inv, &nodes);
    if !ask(&c, &format!("upgrade {work} node(s)"), &hosts)? {
        pool.close_all().await;
        return Ok(exit::OK);
    }
    let results = engine::run_upgrades(&pool, &ts, &plans, &opts).await;
    pool.close_all().await;
    Ok(summary(c.out, &results))
}

/// `nodeherd rollback SELECTOR [--to VERSION]`: one node after the other.
pub async fn rollback(
    c: Common<'_>,
    to: Option<&str>,
    wait_lock: Option<Duration>,
) -> Result<i32, Fail> {
    let (inv, nodes, ts) = targets(&c)?;
    let hosts = nodeherd_engine::fleet::host_names(&inv, &nodes);
    let what = match to {
        Some(v) => format!("roll {} node(s) back to {v}", ts.len()),
        None => format!("roll {} node(s) back to their previous release", ts.len()),
    };
    if !ask(&c, &what, &hosts)? {
        return Ok(exit::OK);
    }
    let opts = Options {
        wait_lock: wait_lock.unwrap_or(Duration::ZERO),
        ..Options::default()
    };
    let pool = context::pool();
    let results = engine::rollback_all(&pool, &ts, to, &opts).await;
    pool.close_all().await;
    Ok(summary(c.out, &results))
}

/// `nodeherd history [SELECTOR]`.
pub async fn history(c: Common<'_>) -> Result<i32, Fail> {
    let inv = context::load_inventory(c.inventory, c.out.color)?;
    let nodes = context::select(&inv, c.selector, c.limit)?;
    let pool = context::pool();
    let (entries, errors) = engine::history_of(&pool, &inv, &nodes).await;
    pool.close_all().await;
    for e in &errors {
        eprintln!("warning: cannot read the host journal of {e}; showing the local journal only");
    }
    if c.out.json {
        print_json(&entries);
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| {
                vec![
                    e.time.clone(),
                    e.who.clone(),
                    e.action.clone(),
                    e.node.clone(),
                    e.from.clone(),
                    e.to.clone(),
                    e.result.clone(),
                    table::clip(&e.detail, 80),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                &[
                    "TIME", "WHO", "ACTION", "NODE", "FROM", "TO", "RESULT", "DETAIL"
                ],
                &rows
            )
        );
    }
    Ok(if errors.is_empty() {
        exit::OK
    } else {
        exit::FAILED
    })
}
