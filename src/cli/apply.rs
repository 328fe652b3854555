//! `nodeherd plan` and `nodeherd apply` (also `nodeherd --apply`): the fleet as declared state.
//!
//! plan: connect, gather facts, print every change with its reason and every no-op with why.
//! apply: the same plan under a local lock, then run it, verify, notify, journal and summarise.
//! Exit codes: 0 done / no changes, 10 changes pending (`plan --detailed-exitcode`),
//! 1 a host or change failed, 2 usage or configuration, 3 another apply holds the lock.

use super::confirm::{self, Request};
use super::context::{self, Fail};
use super::{Output, exit, table};
use nodeherd_core::inventory::Inventory;
use nodeherd_core::plan::apply::Plan;
use nodeherd_engine::apply::lock::{self, ApplyLock, LockError};
use nodeherd_engine::apply::run::{self, ChangeResult};
use nodeherd_engine::site::{self, Site, SiteError};
use nodeherd_engine::upgrade::engine::Options;
use std::path::{Path, PathBuf};

/// The playbook used when `-p` is not given.
pub const DEFAULT_PLAYBOOK: &str = "playbooks/site.toml";

pub struct Args<'a> {
    pub inventory: &'a Path,
    pub selector: Option<&'a str>,
    pub limit: Option<&'a str>,
    pub playbook: Option<&'a Path>,
    pub forks: usize,
    pub yes: bool,
    pub out: Output,
    /// Alerts file to evaluate and notify after an apply (default playbooks/alerts.toml when present).
    pub alerts: Option<&'a Path>,
}

struct Loaded {
    inv: Inventory,
    site: Site,
    nodes: Vec<nodeherd_core::inventory::NodeRef>,
}

fn load(a: &Args<'_>) -> Result<Loaded, Fail> {
    let path: PathBuf = match a.playbook {
        Some(p) => p.to_path_buf(),
        None => super::context::playbook_default(DEFAULT_PLAYBOOK),
    };
    if !path.exists() {
        eprintln!(
            "error: playbook {} not found\nhelp: pass one with -p (e.g. -p playbooks/lab.toml for the local lab)",
            path.display()
        );
        return Err(Fail(exit::USAGE));
    }
    let inv = context::load_inventory(a.inventory, a.out.color)?;
    let site = site::load(&path, &inv).map_err(|e| match e {
        SiteError::Playbook(e) => super::targets::playbook_problem(&e, a.out.color),
        SiteError::Read { .. } => {
            eprintln!("error: {e}");
            Fail(exit::USAGE)
        }
        SiteError::Desired(e) => {
            let handler = miette::GraphicalReportHandler::new_themed(if a.out.color {
                miette::GraphicalTheme::unicode()
            } else {
                miette::GraphicalTheme::unicode_nocolor()
            });
            let mut s = String::new();
            let _ = handler.render_report(&mut s, &e);
            eprintln!("{s}");
            Fail(exit::USAGE)
        }
    })?;
    let nodes = context::select(&inv, a.selector, a.limit)?;
    Ok(Loaded { inv, site, nodes })
}

fn print_plan(p: &Plan, out: Output) {
    if !p.changes.is_empty() {
        let rows: Vec<Vec<String>> = p
            .changes
            .iter()
            .map(|c| {
                vec![
                    format!("{}/{}", c.host, c.node),
                    out.paint(&c.change.describe(), "33"),
                    // Never cut (a unit rewrite's reason carries the differing line).
                    c.reason.clone(),
                ]
            })
            .collect();
        print!("{}", table::render(&["NODE", "CHANGE", "REASON"], &rows));
    }
    for n in &p.noops {
        println!("{}/{}: no change: {}", n.host, n.node, n.why);
    }
    for u in &p.unknown {
        println!(
            "{}/{}: {}: {}",
            u.host,
            u.node,
            out.paint("cannot plan", "31"),
            &u.error
        );
    }
    println!(
        "plan: {} change(s), {} node(s) unchanged, {} node(s) could not be read",
        p.changes.len(),
        p.noops.len(),
        p.unknown.len()
    );
}

/// `nodeherd plan`.
pub async fn plan(a: Args<'_>, detailed_exitcode: bool) -> Result<i32, Fail> {
    let l = load(&a)?;
    let pool = context::pool();
    let opts = Options::default();
    let p = site::plan(&pool, &l.inv, &l.nodes, a.forks, &l.site, &opts)
        .await
        .plan;
    pool.close_all().await;
    if a.out.json {
        println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
    } else {
        print_plan(&p, a.out);
    }
    Ok(if !p.unknown.is_empty() {
        exit::FAILED
    } else if detailed_exitcode && !p.changes.is_empty() {
        exit::CHANGES
    } else {
        exit::OK
    })
}

fn json_line(v: serde_json::Value) {
    println!("{v}");
}

/// `nodeherd apply` / `nodeherd --apply`.
pub async fn apply(a: Args<'_>) -> Result<i32, Fail> {
    let l = load(&a)?;
    let _lock = match ApplyLock::acquire(&lock::default_path()) {
        Ok(l) => l,
        Err(LockError::Held { path, holder }) => {
            eprintln!(
                "error: another `nodeherd apply` is running ({holder})\nhelp: wait for it to finish; the lock ({}) is released when that process ends",
                path.display()
            );
            return Ok(exit::LOCKED);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(Fail(exit::FAILED));
        }
    };
    let pool = context::pool();
    let opts = Options::default();
    let site::SitePlan {
        plan: p,
        refs,
        gathered: g,
    } = site::plan(&pool, &l.inv, &l.nodes, a.forks, &l.site, &opts).await;
    if a.out.json {
        json_line(serde_json::json!({"event": "plan", "plan": p}));
    } else {
        print_plan(&p, a.out);
    }
    let mut results: Vec<ChangeResult> = Vec::new();
    if !p.changes.is_empty() {
        if let Err(f) = confirm::require(&apply_request(&p.changes), a.yes) {
            pool.close_all().await;
            return Err(f);
        }
        let shown = super::progress::Display::start(a.out);
        let opts = Options {
            progress: shown.reporter(),
            ..opts.clone()
        };
        results = run::apply(
            &pool,
            &l.inv,
            &p,
            &refs,
            &g,
            &l.site.desired,
            &l.site.playbook,
            a.forks,
            &opts,
        )
        .await;
        shown.finish();
        for r in &results {
            if a.out.json {
                json_line(serde_json::json!({"event": "result", "result": r}));
            }
        }
        run::journal_apply(&results, &opts.who, "");
    }
    let alert_note = alerts_note(&a, &pool, &l).await;
    pool.close_all().await;
    let failed = results.iter().filter(|r| !r.verified).count();
    print_summary(&a, &results, failed, p.unknown.len(), alert_note.as_deref());
    Ok(if failed > 0 || !p.unknown.is_empty() {
        exit::FAILED
    } else {
        exit::OK
    })
}

/// After an apply: evaluate the alerts and notify through the configured channels (a cron run's
/// report); `None` when there is no alerts file.
async fn alerts_note(
    a: &Args<'_>,
    pool: &nodeherd_transport::ssh::Pool,
    l: &Loaded,
) -> Option<String> {
    // Alerts: evaluate and notify through the configured channels (a cron run's report).
    let alerts_path = a.alerts.map_or_else(
        || super::context::playbook_default("playbooks/alerts.toml"),
        Path::to_path_buf,
    );
    if alerts_path.exists() {
        match (
            nodeherd_engine::alerts::load_config(&alerts_path, a.alerts.is_some()),
            nodeherd_engine::alerts::state_file(),
        ) {
            (Ok(cfg), Ok(state)) => {
                match nodeherd_engine::alerts::run(pool, &l.inv, &l.nodes, a.forks, &cfg, &state)
                    .await
                {
                    Ok(round) => {
                        return Some(format!(
                            "alerts: {} firing, {} notification(s) sent",
                            round.firing().count(),
                            round.notifications.len()
                        ));
                    }
                    Err(e) => return Some(format!("alerts: not evaluated: {e}")),
                }
            }
            (Err(e), _) | (_, Err(e)) => return Some(format!("alerts: not evaluated: {e}")),
        }
    }
    None
}

/// The apply's results and one summary line (JSON: one summary event).
fn print_summary(
    a: &Args<'_>,
    results: &[ChangeResult],
    failed: usize,
    unknown: usize,
    alert_note: Option<&str>,
) {
    if a.out.json {
        json_line(serde_json::json!({
            "event": "summary",
            "changes": results.len(),
            "verified": results.len() - failed,
            "failed": failed,
            "unknown": unknown,
            "alerts": alert_note,
        }));
    } else {
        if !results.is_empty() {
            let rows: Vec<Vec<String>> = results
                .iter()
                .map(|r| {
                    vec![
                        format!("{}/{}", r.host, r.node),
                        r.change.describe(),
                        if r.verified {
                            a.out.paint("verified", "32")
                        } else {
                            a.out.paint("FAILED", "31")
                        },
                        r.detail.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                table::render(&["NODE", "CHANGE", "RESULT", "DETAIL"], &rows)
            );
        }
        println!(
            "apply: {} change(s), {} verified, {} failed, {} node(s) unreadable",
            results.len(),
            results.len() - failed,
            failed,
            unknown
        );
        if let Some(n) = alert_note {
            println!("{n}");
        }
    }
}

/// The confirmation of an apply: every node with a change, each downgrade named.
fn apply_request(changes: &[nodeherd_core::plan::apply::Planned]) -> Request {
    let mut nodes: Vec<String> = changes
        .iter()
        .map(|c| format!("{}/{}", c.host, c.node))
        .collect();
    nodes.dedup();
    let mut req = Request::new(format!("apply {} change(s)", changes.len()), nodes);
    req.hint = Some("cron: `nodeherd --apply --yes`".into());
    for c in changes {
        if let nodeherd_core::plan::apply::Change::SwitchVersion { from, to } = &c.change {
            if confirm::direction(from.as_deref(), to) == "downgrade" {
                req = req.note(format!(
                    "downgrade {}/{} {} -> {to}",
                    c.host,
                    c.node,
                    from.as_deref().unwrap_or("?")
                ));
            }
        }
    }
    req
}
