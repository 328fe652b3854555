//! `nodeherd upgrade|rollback|history`: plan first, confirm, run, summary table (`releases` is
//! [`super::releases`]).
//!
//! Owns: argument handling and printing for the upgrade commands; the work is in
//! `nodeherd_engine::upgrade::engine`. May not touch: SSH or the hosts directly.

use super::confirm::{self, Request};
use super::context::{self, Fail};
use super::targets::{Common, print_json, targets};
use super::{Output, exit, table};
use nodeherd_engine::upgrade::engine::{self, NodePlan, Options, Outcome, Status};
use std::time::Duration;

fn plan_table(plans: &[NodePlan]) -> String {
    let rows: Vec<Vec<String>> = plans
        .iter()
        .map(|p| {
            vec![
                p.step.node.clone(),
                p.running.clone().unwrap_or("?".into()),
                p.step.to.as_deref().map_or("-".into(), |to| {
                    match confirm::direction(p.running.as_deref(), to) {
                        "downgrade" => format!("{to} (downgrade)"),
                        _ => to.to_string(),
                    }
                }),
                p.step.reason.clone(),
                p.gate.clone(),
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

/// The confirmation of an upgrade: every node that switches, each downgrade named.
fn upgrade_request(plans: &[NodePlan]) -> Request {
    let moving: Vec<&NodePlan> = plans.iter().filter(|p| p.step.to.is_some()).collect();
    let mut req = Request::new(
        format!("upgrade {} node(s)", moving.len()),
        moving.iter().map(|p| p.step.node.clone()).collect(),
    );
    for p in moving {
        let to = p.step.to.as_deref().unwrap_or("?");
        let from = p.running.as_deref();
        if confirm::direction(from, to) == "downgrade" {
            req = req.note(format!(
                "downgrade {} {} -> {to}",
                p.step.node,
                from.unwrap_or("?")
            ));
        }
    }
    req
}

/// The plan's problems (what was asked for and cannot be done), printed; true when any.
fn report_problems(plans: &[NodePlan]) -> bool {
    let mut any = false;
    for p in plans {
        if let Some(why) = &p.problem {
            eprintln!("error: {}: {why}", p.step.node);
            any = true;
        }
    }
    any
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
                    Status::Unknown => out.paint("UNKNOWN", "31"),
                };
                vec![
                    o.node.clone(),
                    o.action.clone(),
                    o.from.clone().unwrap_or("?".into()),
                    o.to.clone().unwrap_or("-".into()),
                    st,
                    format!("{:.0}s", o.took.as_secs_f64()),
                    o.detail.clone(),
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
    let (_, _, ts) = targets(&c)?;
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
    let problems = report_problems(&plans);
    let work = plans.iter().filter(|p| p.step.to.is_some()).count();
    if work == 0 {
        if c.out.json {
            print_json(&Vec::<Outcome>::new());
        } else if problems {
            eprintln!("nothing was upgraded");
        } else {
            eprintln!("nothing to upgrade");
        }
        pool.close_all().await;
        return Ok(if problems { exit::FAILED } else { exit::OK });
    }
    if let Err(f) = confirm::require(&upgrade_request(&plans), c.yes) {
        pool.close_all().await;
        return Err(f);
    }
    let shown = super::progress::Display::start(c.out);
    let opts = Options {
        progress: shown.reporter(),
        ..opts
    };
    let results = engine::run_upgrades(&pool, &ts, &plans, &opts).await;
    shown.finish();
    pool.close_all().await;
    let code = summary(c.out, &results);
    Ok(if problems { exit::FAILED } else { code })
}

/// `nodeherd rollback SELECTOR [--to VERSION]`: one node after the other.
pub async fn rollback(
    c: Common<'_>,
    to: Option<&str>,
    wait_lock: Option<Duration>,
) -> Result<i32, Fail> {
    let (_, _, ts) = targets(&c)?;
    let what = match to {
        Some(v) => format!("roll {} node(s) back to {v}", ts.len()),
        None => format!("roll {} node(s) back to their previous release", ts.len()),
    };
    confirm::require(
        &Request::new(what, ts.iter().map(|t| t.key.clone()).collect()),
        c.yes,
    )?;
    let shown = super::progress::Display::start(c.out);
    let opts = Options {
        wait_lock: wait_lock.unwrap_or(Duration::ZERO),
        progress: shown.reporter(),
        ..Options::default()
    };
    let pool = context::pool();
    let results = engine::rollback_all(&pool, &ts, to, &opts).await;
    shown.finish();
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
                    e.detail.clone(),
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
