//! Gathering facts for a plan, and applying it: version switches through the upgrade engine
//! (canary, batches, health gate, host-side guard), starts and stops through `lifecycle`,
//! then every changed node is re-read and re-planned to verify it.
//!
//! Owns: gathering, the plan over what was gathered, the order of an apply's phases and their
//! results, the verification pass, the apply's journal line. May not touch: how an install, a
//! rewrite or a switch is done ([`changes`] hands them to the upgrade engine) or any output format.

use crate::lifecycle;
use crate::status;
use crate::upgrade::engine::{self, NodePlan, Options, Target};
pub use changes::restart_after_rewrite;
use changes::{install, rewrite_units, switch_versions};
use nodeherd_core::facts::systemd::Action;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::plan::apply::{self, Change, Facts, NodeInput, Plan, Planned};
use nodeherd_core::plan::chain::ChainFacts;
use nodeherd_core::plan::desired::{DesiredState, VersionWant};
use nodeherd_core::plan::unitfile;
use nodeherd_core::playbook::Playbook;
use nodeherd_core::releases::version::normalize_tag;
use nodeherd_transport::ssh::Pool;

mod changes;
use semver::Version;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Everything gathered before planning.
pub struct Gathered {
    pub nodes: Vec<NodeRef>,
    pub facts: Vec<Facts>,
    /// For nodes whose version follows the upgrade policy: the engine's view (allowed version, why).
    pub policy: BTreeMap<NodeRef, NodePlan>,
    pub targets: BTreeMap<NodeRef, Target>,
    /// The unit file each node's complete `[unit]` renders to (nodes without one are absent).
    pub unit_wants: BTreeMap<NodeRef, String>,
    /// Cosmos nodes declared `chain_upgrades = true`: their chain's pending upgrade and stand.
    pub chain: BTreeMap<NodeRef, ChainFacts>,
}

/// The unit file text the playbook wants for `r`: None without a complete, writable `[unit]`.
/// The same text `install` writes, so a freshly provisioned node plans no rewrite.
pub fn unit_want(inv: &Inventory, desired: &DesiredState, r: NodeRef) -> Option<String> {
    let def = desired.unit_for(inv, r);
    let (host, node) = inv.node(r);
    if def.is_empty()
        || unitfile::check_complete(&def).is_some()
        || !unitfile::valid_unit_name(&node.unit)
    {
        return None;
    }
    Some(unitfile::render(
        &format!("{}/{}", host.name, node.name),
        &node.install_dir.display().to_string(),
        &def,
    ))
}

fn key(inv: &Inventory, r: NodeRef) -> String {
    let (h, n) = inv.node(r);
    format!("{}/{}", h.name, n.name)
}

/// Read unit states and versions of `nodes`, and (for version-managed nodes) their feeds.
pub async fn gather(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    forks: usize,
    pb: &Playbook,
    desired: &DesiredState,
    opts: &Options,
) -> Gathered {
    let unit_wants: BTreeMap<NodeRef, String> = nodes
        .iter()
        .filter_map(|r| unit_want(inv, desired, *r).map(|t| (*r, t)))
        .collect();
    let with_file: BTreeSet<NodeRef> = unit_wants.keys().copied().collect();
    let rows = status::gather_with_unit_files(pool, inv, nodes, forks, &with_file).await;
    let mut facts: Vec<Facts> = rows
        .iter()
        .map(|r| Facts {
            unit: r.unit_state.clone(),
            version: r.version.as_deref().and_then(normalize_tag),
            error: if r.unit_state.is_none() {
                r.error.clone()
            } else {
                None
            },
            unit_file: r.unit_file.clone(),
        })
        .collect();
    let mut targets = BTreeMap::new();
    let mut with_policy = Vec::new();
    for r in nodes {
        if desired.for_node(inv, *r).version != VersionWant::Unmanaged {
            let t = Target::new(inv, *r, pb);
            if matches!(desired.for_node(inv, *r).version, VersionWant::Policy) {
                with_policy.push((*r, t.clone()));
            }
            targets.insert(*r, t);
        }
    }
    refuse_in_flight(pool, nodes, &targets, &mut facts).await;
    let mut policy = BTreeMap::new();
    if !with_policy.is_empty() {
        let ts: Vec<Target> = with_policy.iter().map(|(_, t)| t.clone()).collect();
        let plans = engine::plan_all(pool, &ts, None, opts).await;
        for ((r, _), p) in with_policy.into_iter().zip(plans) {
            policy.insert(r, p);
        }
    }
    let chained: Vec<NodeRef> = nodes
        .iter()
        .copied()
        .filter(|r| desired.for_node(inv, *r).chain_upgrades)
        .collect();
    let chain = if chained.is_empty() {
        BTreeMap::new()
    } else {
        crate::cosmos::stand::gather(pool, inv, &chained, forks).await
    };
    Gathered {
        nodes: nodes.to_vec(),
        facts,
        policy,
        targets,
        unit_wants,
        chain,
    }
}

/// A version-managed node with a switch in flight (its guard waits for a confirmation, or it
/// was interrupted) is not a settled state to plan from: its facts become unknown, naming the
/// switch, so `apply` changes nothing there and exits 1.
async fn refuse_in_flight(
    pool: &Pool,
    nodes: &[NodeRef],
    targets: &BTreeMap<NodeRef, Target>,
    facts: &mut [Facts],
) {
    let (refs, ts): (Vec<NodeRef>, Vec<Target>) =
        targets.iter().map(|(r, t)| (*r, t.clone())).unzip();
    let layouts = engine::running_versions(pool, &ts).await;
    for ((r, t), l) in refs.iter().zip(&ts).zip(layouts) {
        let Ok(l) = l else { continue };
        if !l.in_flight() {
            continue;
        }
        if let Some(i) = nodes.iter().position(|n| n == r) {
            facts[i].unit = None;
            facts[i].error = Some(engine::in_flight_reason(&t.key, &l));
        }
    }
}

/// The plan (pure over what was gathered), with the node behind every change.
pub fn make_plan(inv: &Inventory, g: &Gathered, desired: &DesiredState) -> (Plan, Vec<NodeRef>) {
    let keys: Vec<String> = g.nodes.iter().map(|r| key(inv, *r)).collect();
    let desireds: Vec<_> = g.nodes.iter().map(|r| desired.for_node(inv, *r)).collect();
    let allowed: Vec<Option<Version>> = g
        .nodes
        .iter()
        .map(|r| {
            g.policy
                .get(r)
                .and_then(|p| p.allowed.as_deref())
                .and_then(normalize_tag)
        })
        .collect();
    let inputs: Vec<NodeInput<'_>> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (host, node) = keys[i].split_once('/').unwrap_or((&keys[i], ""));
            NodeInput {
                host,
                node,
                desired: &desireds[i],
                facts: &g.facts[i],
                policy_allowed: allowed[i].as_ref(),
                unit_want: g.unit_wants.get(r).map(String::as_str),
            }
        })
        .collect();
    let mut p = apply::plan(&inputs);
    // The chain upgrade step of the Cosmos nodes declared `chain_upgrades = true`.
    for (i, r) in g.nodes.iter().enumerate() {
        let (host, node) = keys[i].split_once('/').unwrap_or((&keys[i], ""));
        nodeherd_core::plan::chain::plan_node(&mut p, host, node, &desireds[i], g.chain.get(r));
    }
    // Say why a policy-managed node has no allowed version (feed unreachable, too young ...).
    for noop in &mut p.noops {
        if let Some((_, pl)) = g
            .policy
            .iter()
            .find(|(r, _)| key(inv, **r) == format!("{}/{}", noop.host, noop.node))
        {
            if pl.allowed.is_none() {
                noop.why.push_str(&format!(" ({})", pl.step.reason));
            }
        }
    }
    let refs = p
        .changes
        .iter()
        .map(|c| {
            let k = format!("{}/{}", c.host, c.node);
            g.nodes[keys.iter().position(|x| *x == k).unwrap_or(0)]
        })
        .collect();
    (p, refs)
}

/// How one change ended.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    pub host: String,
    pub node: String,
    pub change: Change,
    pub ok: bool,
    /// Re-read after the change: the node now matches its declared state.
    pub verified: bool,
    pub detail: String,
}

impl ChangeResult {
    /// The result of one planned change, before verification (which re-reads the node later).
    fn unverified(c: &Planned, ok: bool, detail: String) -> Self {
        ChangeResult {
            host: c.host.clone(),
            node: c.node.clone(),
            change: c.change.clone(),
            ok,
            verified: false,
            detail,
        }
    }
}

/// The indexes of the plan's changes that `which` picks, in plan order.
fn changes_where(plan: &Plan, which: impl Fn(&Change) -> bool) -> Vec<usize> {
    (0..plan.changes.len())
        .filter(|i| which(&plan.changes[*i].change))
        .collect()
}

/// An engine outcome that did what was asked (not failed, not skipped).
fn engine_ok(o: &engine::Outcome) -> bool {
    !o.failed() && !matches!(o.status, engine::Status::Skipped)
}

/// Apply `plan`: version switches first (canary, batches, max_fail_percent from the playbook),
/// then starts and stops; then re-gather and re-plan the changed nodes to verify them.
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    pool: &Pool,
    inv: &Inventory,
    plan: &Plan,
    refs: &[NodeRef],
    g: &Gathered,
    desired: &DesiredState,
    pb: &Playbook,
    forks: usize,
    opts: &Options,
) -> Vec<ChangeResult> {
    let mut results: Vec<ChangeResult> = Vec::new();
    let cx = Run {
        pool,
        inv,
        plan,
        refs,
        g,
        desired,
        pb,
        forks,
        opts,
    };
    run_installs(&cx, &mut results).await;
    let restarted = run_rewrites(&cx, &mut results).await;
    run_switches(&cx, &mut results).await;
    run_chain_upgrades(&cx, &mut results).await;
    run_starts_and_stops(&cx, &mut results).await;
    verify(&cx, &restarted, &mut results).await;
    results
}

/// Everything the phases of [`apply`] read.
struct Run<'a> {
    pool: &'a Pool,
    inv: &'a Inventory,
    plan: &'a Plan,
    refs: &'a [NodeRef],
    g: &'a Gathered,
    desired: &'a DesiredState,
    pb: &'a Playbook,
    forks: usize,
    opts: &'a Options,
}

/// 0. Installs (provisioning) through the upgrade engine's staging path.
async fn run_installs(cx: &Run<'_>, results: &mut Vec<ChangeResult>) {
    let Run {
        pool,
        inv,
        plan,
        refs,
        g,
        desired,
        opts,
        ..
    } = *cx;
    // 0. Installs (provisioning) through the upgrade engine's staging path.
    let inst = changes_where(plan, |c| matches!(c, Change::Install { .. }));
    if !inst.is_empty() {
        let outs = install(pool, inv, plan, refs, &inst, g, desired, opts).await;
        for (i, o) in inst.iter().zip(outs) {
            let c = &plan.changes[*i];
            results.push(ChangeResult::unverified(c, engine_ok(&o), o.detail));
        }
    }
}

/// 0b. Unit files rewritten (before switches and starts, which then use the new file); returns
/// the nodes restarted.
async fn run_rewrites(cx: &Run<'_>, results: &mut Vec<ChangeResult>) -> BTreeSet<NodeRef> {
    let Run {
        pool,
        inv,
        plan,
        refs,
        g,
        pb,
        opts,
        ..
    } = *cx;
    // 0b. Unit files rewritten (before switches and starts, which then use the new file).
    let rw = changes_where(plan, |c| matches!(c, Change::RewriteUnit { .. }));
    let mut restarted: BTreeSet<NodeRef> = BTreeSet::new();
    if !rw.is_empty() {
        let outs = rewrite_units(pool, inv, plan, refs, &rw, g, pb, opts).await;
        for (i, (ok, did_restart, detail)) in rw.iter().zip(outs) {
            let c = &plan.changes[*i];
            if did_restart {
                restarted.insert(refs[*i]);
            }
            results.push(ChangeResult::unverified(c, ok, detail));
        }
    }
    restarted
}

/// 1. Version switches through the upgrade engine.
async fn run_switches(cx: &Run<'_>, results: &mut Vec<ChangeResult>) {
    let Run {
        pool,
        plan,
        refs,
        g,
        opts,
        ..
    } = *cx;
    // 1. Version switches through the upgrade engine.
    let mut sw_targets = Vec::new();
    let mut sw_idx = Vec::new();
    let mut sw_versions = Vec::new();
    for (i, c) in plan.changes.iter().enumerate() {
        if let Change::SwitchVersion { from, to } = &c.change {
            if let Some(t) = g.targets.get(&refs[i]) {
                sw_targets.push(t.clone());
                sw_idx.push(i);
                sw_versions.push((from.clone(), to.clone()));
            }
        }
    }
    if !sw_targets.is_empty() {
        let outcomes = switch_versions(pool, &sw_targets, &sw_versions, opts).await;
        for (k, i) in sw_idx.iter().enumerate() {
            let c = &plan.changes[*i];
            let o = &outcomes[k];
            results.push(ChangeResult::unverified(
                c,
                engine_ok(o),
                format!(
                    "{}: {}",
                    serde_json::to_value(o.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    o.detail
                ),
            ));
        }
    }
}

/// 1b. Chain upgrade steps of Cosmos nodes (stage, switch at the halt): the same engine code as
/// `nodeherd cosmos upgrade`, each under its host lock; a step that did something other than
/// what was planned (the node moved on meanwhile) is said so and counts as failed.
async fn run_chain_upgrades(cx: &Run<'_>, results: &mut Vec<ChangeResult>) {
    let idx = changes_where(cx.plan, |c| matches!(c, Change::ChainUpgrade { .. }));
    if idx.is_empty() {
        return;
    }
    let ts: Vec<Target> = idx
        .iter()
        .map(|i| Target::new(cx.inv, cx.refs[*i], cx.pb))
        .collect();
    let outs = crate::cosmos::upgrade::run(cx.pool, &ts, cx.forks, cx.opts).await;
    for (i, o) in idx.iter().zip(outs) {
        let c = &cx.plan.changes[*i];
        let ok = changes::chain_step_done(&c.change, o.did);
        let did = serde_json::to_value(o.did)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        results.push(ChangeResult::unverified(
            c,
            ok,
            format!("{did}: {}", o.detail),
        ));
    }
}

/// 2. Starts and stops, hosts in parallel.
async fn run_starts_and_stops(cx: &Run<'_>, results: &mut Vec<ChangeResult>) {
    let Run {
        pool,
        inv,
        plan,
        refs,
        forks,
        opts,
        ..
    } = *cx;
    // 2. Starts and stops, hosts in parallel (each journaled on its host by `lifecycle`).
    for (want, action) in [(Change::Start, Action::Start), (Change::Stop, Action::Stop)] {
        let idx = changes_where(plan, |c| *c == want);
        if idx.is_empty() {
            continue;
        }
        let nodes: Vec<NodeRef> = idx.iter().map(|i| refs[*i]).collect();
        let outs = lifecycle::act_as(pool, inv, &nodes, action, forks, &opts.who).await;
        for (i, o) in idx.iter().zip(outs) {
            let c = &plan.changes[*i];
            results.push(ChangeResult::unverified(
                c,
                o.ok,
                o.error.unwrap_or_else(|| {
                    format!("{} ok in {:.1}s", action.verb(), o.took.as_secs_f64())
                }),
            ));
        }
    }
}

/// 3. Verify: re-read the changed nodes and plan them again; no change left means verified.
async fn verify(cx: &Run<'_>, restarted: &BTreeSet<NodeRef>, results: &mut [ChangeResult]) {
    let Run {
        pool,
        inv,
        refs,
        desired,
        pb,
        forks,
        opts,
        ..
    } = *cx;
    // 3. Verify: re-read the changed nodes and plan them again; no change left means verified.
    let changed: Vec<NodeRef> = {
        let mut v: Vec<NodeRef> = refs.to_vec();
        v.sort();
        v.dedup();
        v
    };
    if !changed.is_empty() {
        let again = gather(pool, inv, &changed, forks, pb, desired, opts).await;
        let (replan, _) = make_plan(inv, &again, desired);
        for r in results.iter_mut() {
            let still = replan
                .changes
                .iter()
                .any(|c| c.host == r.host && c.node == r.node)
                || replan
                    .unknown
                    .iter()
                    .any(|u| u.host == r.host && u.node == r.node);
            // A restarted unit must be active again.
            let down = matches!(r.change, Change::RewriteUnit { .. })
                && again.nodes.iter().zip(&again.facts).any(|(n, f)| {
                    restarted.contains(n)
                        && key(inv, *n) == format!("{}/{}", r.host, r.node)
                        && !f
                            .unit
                            .as_ref()
                            .is_some_and(nodeherd_core::facts::systemd::UnitState::is_active)
                });
            r.verified = r.ok && !still && !down;
            if r.ok && still {
                r.detail
                    .push_str("; but the node still differs from its declared state");
            }
            if r.ok && down {
                r.detail
                    .push_str("; but the unit is not active after the restart");
            }
        }
    }
}

/// Record an apply in the console's journal (one line for the whole run; the upgrade engine
/// journals each version switch itself, on the host and locally).
pub fn journal_apply(results: &[ChangeResult], who: &str, via: &str) {
    let verified = results.iter().filter(|r| r.verified).count();
    nodeherd_core::journal::append_local(&nodeherd_core::journal::Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        who: who.to_string(),
        action: "apply".into(),
        node: "*".into(),
        from: String::new(),
        to: String::new(),
        result: if verified == results.len() {
            "ok".into()
        } else {
            "failed".into()
        },
        detail: format!("{} change(s), {verified} verified{via}", results.len()),
        run: String::new(),
    });
}

#[cfg(test)]
mod tests;
