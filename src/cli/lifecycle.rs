//! `nodeherd start|stop|restart SELECTOR`: act in parallel, confirm when disruptive, report per node.

use super::confirm::{self, Request};
use super::context::{self, Fail};
use super::{Output, exit, table};
use nodeherd_core::facts::systemd::Action;
use nodeherd_engine::lifecycle;
use std::path::Path;

#[allow(clippy::too_many_arguments)]
pub async fn run(
    inventory: &Path,
    action: Action,
    selector: &str,
    limit: Option<&str>,
    forks: usize,
    yes: bool,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let nodes = context::select(&inv, Some(selector), limit)?;
    if action.is_disruptive() {
        let labels: Vec<String> = nodes
            .iter()
            .map(|r| nodeherd_engine::record::node_key(&inv, *r))
            .collect();
        let what = format!("{} {} node(s)", action.verb(), nodes.len());
        confirm::require(&Request::new(what, labels), yes)?;
    }
    let pool = context::pool();
    let results = lifecycle::act(&pool, &inv, &nodes, action, forks).await;
    pool.close_all().await;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&results).unwrap_or_else(|_| "[]".into())
        );
    } else {
        let body: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                vec![
                    r.host.clone(),
                    r.node.clone(),
                    r.unit.clone(),
                    if r.ok {
                        out.paint("ok", "32")
                    } else {
                        out.paint("FAILED", "31")
                    },
                    r.after.as_ref().map_or_else(
                        || "-".into(),
                        |u| format!("{}/{}", u.active_state, u.sub_state),
                    ),
                    format!("{:.1}s", r.took.as_secs_f64()),
                    r.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        print!(
            "{}",
            table::render(
                &["HOST", "NODE", "UNIT", "RESULT", "NOW", "TOOK", "ERROR"],
                &body
            )
        );
        let failed = results.iter().filter(|r| !r.ok).count();
        println!(
            "{}: {} ok, {} failed",
            action.verb(),
            results.len() - failed,
            failed
        );
    }
    Ok(if results.iter().all(|r| r.ok) {
        exit::OK
    } else {
        exit::FAILED
    })
}
