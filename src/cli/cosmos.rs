//! `nodeherd cosmos plan [SELECTOR]` and `nodeherd cosmos upgrade [SELECTOR]`: the pending chain
//! upgrade of each Cosmos node ("upgrade `v19` at height H, in ~T"), and the chain upgrade step
//! (stage the plan's binary ahead, switch a node that halted for the plan, report one that did
//! not), meant to run from cron with `--yes`.
//!
//! Owns: those arguments, the confirmation and the printing. May not touch: SSH or the hosts
//! directly (it calls `nodeherd_engine::cosmos`).

use super::confirm::{self, Request};
use super::context::{self, Fail};
use super::targets::{Common, print_json, targets};
use super::{exit, table};
use nodeherd_core::inventory::ClientKind;
use nodeherd_engine::cosmos::{self, upgrade as chain};
use nodeherd_engine::upgrade::engine::Options;
use std::time::Duration;

/// `cosmos plan`: per Cosmos node its height, block time and pending plan with the time left.
pub async fn plan(c: Common<'_>, forks: usize) -> Result<i32, Fail> {
    let inv = context::load_inventory(c.inventory, c.out.color)?;
    let nodes = context::select(&inv, c.selector, c.limit)?;
    let pool = context::pool();
    let views = cosmos::views(&pool, &inv, &nodes, forks).await;
    pool.close_all().await;
    if c.out.json {
        print_json(&views);
    } else {
        let rows: Vec<Vec<String>> = views
            .iter()
            .map(|v| {
                vec![
                    v.node.clone(),
                    v.head.as_ref().map_or("?".into(), |h| h.height.to_string()),
                    v.block_time
                        .map_or("?".into(), |d| format!("{:.1}s", d.as_secs_f64())),
                    v.plan_line().unwrap_or_else(|| {
                        if v.errors.is_empty() {
                            "no upgrade pending".into()
                        } else {
                            "?".into()
                        }
                    }),
                    v.errors.join("; "),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(&["NODE", "HEIGHT", "BLOCK TIME", "PLAN", "ERROR"], &rows)
        );
    }
    Ok(if views.iter().any(|v| !v.errors.is_empty()) {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// `cosmos upgrade`: the chain upgrade step on every selected Cosmos node.
pub async fn upgrade(
    c: Common<'_>,
    forks: usize,
    wait_lock: Option<Duration>,
) -> Result<i32, Fail> {
    let (_, _, ts) = targets(&c)?;
    let ts: Vec<_> = ts
        .into_iter()
        .filter(|t| t.node.client == ClientKind::Cosmos)
        .collect();
    if ts.is_empty() {
        eprintln!("no cosmos node selected");
        return Ok(exit::OK);
    }
    let req = Request::new(
        format!(
            "stage the pending chain upgrade on {} cosmos node(s) and switch those halted for it",
            ts.len()
        ),
        ts.iter().map(|t| t.key.clone()).collect(),
    )
    .note("a node is switched only once it halted at the plan's height; never before");
    confirm::require(&req, c.yes)?;
    let opts = Options {
        wait_lock: wait_lock.unwrap_or(Duration::ZERO),
        ..Options::default()
    };
    let pool = context::pool();
    let done = chain::run(&pool, &ts, forks, &opts).await;
    pool.close_all().await;
    if c.out.json {
        print_json(&done);
    } else {
        let rows: Vec<Vec<String>> = done
            .iter()
            .map(|o| {
                vec![
                    o.node.clone(),
                    o.plan.clone().unwrap_or("-".into()),
                    o.height.map_or("-".into(), |h| h.to_string()),
                    serde_json::to_value(o.did)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    o.detail.clone(),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(&["NODE", "PLAN", "HEIGHT", "RESULT", "DETAIL"], &rows)
        );
    }
    Ok(if done.iter().any(|o| o.did.failed()) {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// The lines `status` and `releases` print under their tables for the selected Cosmos nodes
/// with a pending chain upgrade (`nhval-1/gaia: upgrade `v19` at height H, in ~T`); empty (and no
/// round trip) when no Cosmos node is selected.
pub async fn plan_lines(
    pool: &nodeherd_transport::ssh::Pool,
    inv: &nodeherd_core::inventory::Inventory,
    nodes: &[nodeherd_core::inventory::NodeRef],
    forks: usize,
) -> String {
    if cosmos::cosmos_nodes(inv, nodes).is_empty() {
        return String::new();
    }
    cosmos::views(pool, inv, nodes, forks)
        .await
        .iter()
        .filter_map(|v| Some(format!("{}: {}\n", v.node, v.plan_line()?)))
        .collect()
}
