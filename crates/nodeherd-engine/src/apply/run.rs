//! Gathering facts for a plan, and applying it: version switches through the upgrade engine
//! (canary, batches, health gate, host-side guard), starts and stops through `ops::lifecycle`,
//! then every changed node is re-read and re-planned to verify it.

use nodeherd_core::plan::desired::{DesiredState, VersionWant};
use nodeherd_core::plan::apply::{self, Change, Facts, NodeInput, Plan};
use nodeherd_core::plan::unitfile;
use nodeherd_core::inventory::{Inventory, NodeRef};
use crate::lifecycle;
use crate::status;
use nodeherd_core::playbook::Playbook;
use nodeherd_core::releases::version::normalize_tag;
use nodeherd_transport::ssh::Pool;
use nodeherd_core::facts::systemd::Action;
use crate::upgrade::engine::{self, NodePlan, Options, Target};
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
    let facts: Vec<Facts> = rows
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
    let mut policy = BTreeMap::new();
    if !with_policy.is_empty() {
        let ts: Vec<Target> = with_policy.iter().map(|(_, t)| t.clone()).collect();
        let plans = engine::plan_all(pool, &ts, None, opts).await;
        for ((r, _), p) in with_policy.into_iter().zip(plans) {
            policy.insert(r, p);
        }
    }
    Gathered {
        nodes: nodes.to_vec(),
        facts,
        policy,
        targets,
        unit_wants,
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
    // Say why a policy-managed node has no allowed version (feed unreachable, too young ...).
    for noop in p.noops.iter_mut() {
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
    // 0. Installs (provisioning) through the upgrade engine's staging path.
    let inst: Vec<usize> = (0..plan.changes.len())
        .filter(|i| matches!(plan.changes[*i].change, Change::Install { .. }))
        .collect();
    if !inst.is_empty() {
        let outs = install(pool, inv, plan, refs, &inst, g, desired, opts).await;
        for (i, o) in inst.iter().zip(outs) {
            let c = &plan.changes[*i];
            results.push(ChangeResult {
                host: c.host.clone(),
                node: c.node.clone(),
                change: c.change.clone(),
                ok: !o.failed() && !matches!(o.status, engine::Status::Skipped),
                verified: false,
                detail: o.detail,
            });
        }
    }
    // 0b. Unit files rewritten (before switches and starts, which then use the new file).
    let rw: Vec<usize> = (0..plan.changes.len())
        .filter(|i| matches!(plan.changes[*i].change, Change::RewriteUnit { .. }))
        .collect();
    let mut restarted: BTreeSet<NodeRef> = BTreeSet::new();
    if !rw.is_empty() {
        let outs = rewrite_units(pool, inv, plan, refs, &rw, g, pb, opts).await;
        for (i, (ok, did_restart, detail)) in rw.iter().zip(outs) {
            let c = &plan.changes[*i];
            if did_restart {
                restarted.insert(refs[*i]);
            }
            results.push(ChangeResult {
                host: c.host.clone(),
                node: c.node.clone(),
                change: c.change.clone(),
                ok,
                verified: false,
                detail,
            });
        }
    }
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
            let ok = !o.failed() && !matches!(o.status, engine::Status::Skipped);
            results.push(ChangeResult {
                host: c.host.clone(),
                node: c.node.clone(),
                change: c.change.clone(),
                ok,
                verified: false,
                detail: format!(
                    "{}: {}",
                    serde_json::to_value(o.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    o.detail
                ),
            });
        }
    }
    // 2. Starts and stops, hosts in parallel.
    for (want, action) in [(Change::Start, Action::Start), (Change::Stop, Action::Stop)] {
        let idx: Vec<usize> = (0..plan.changes.len())
            .filter(|i| plan.changes[*i].change == want)
            .collect();
        if idx.is_empty() {
            continue;
        }
        let nodes: Vec<NodeRef> = idx.iter().map(|i| refs[*i]).collect();
        let outs = lifecycle::act(pool, inv, &nodes, action, forks).await;
        for (i, o) in idx.iter().zip(outs) {
            let c = &plan.changes[*i];
            results.push(ChangeResult {
                host: c.host.clone(),
                node: c.node.clone(),
                change: c.change.clone(),
                ok: o.ok,
                verified: false,
                detail: o.error.unwrap_or_else(|| {
                    format!("{} ok in {:.1}s", action.verb(), o.took.as_secs_f64())
                }),
            });
        }
    }
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
                        && !f.unit.as_ref().is_some_and(|u| u.is_active())
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
    results
}

/// Whether the rewrite of change `i` restarts its unit: only a unit that was running, and not
/// when the plan also stops it or switches its version (the switch restarts it anyway; a start
/// after the rewrite uses the new file). Pure.
pub fn restart_after_rewrite(plan: &Plan, i: usize, was_running: bool) -> bool {
    let c = &plan.changes[i];
    was_running
        && !plan.changes.iter().any(|o| {
            o.host == c.host
                && o.node == c.node
                && matches!(o.change, Change::Stop | Change::SwitchVersion { .. })
        })
}

/// Rewrite the unit files of the `idx` changes: canary first, then batches of `serial` (the
/// playbook's upgrade settings), stop past `max_fail_percent`. Each: write through
/// [`nodeherd_core::facts::layout::rewrite_unit_command`], then restart if [`restart_after_rewrite`].
/// Returns (ok, restarted, detail) per change.
#[allow(clippy::too_many_arguments)]
async fn rewrite_units(
    pool: &Pool,
    inv: &Inventory,
    plan: &Plan,
    refs: &[NodeRef],
    idx: &[usize],
    g: &Gathered,
    pb: &Playbook,
    opts: &Options,
) -> Vec<(bool, bool, String)> {
    let Some(first) = idx.first() else {
        return vec![];
    };
    let s = pb.settings_for(inv, refs[*first]);
    let keys: Vec<String> = idx.iter().map(|i| key(inv, refs[*i])).collect();
    let done = crate::upgrade::rollout::in_batches(
        &keys,
        &s,
        |j| {
            let i = idx[j];
            let r = refs[i];
            let pos = g.nodes.iter().position(|n| *n == r);
            let was_running = pos
                .and_then(|p| g.facts[p].unit.as_ref())
                .is_some_and(|u| u.is_active() || u.active_state == "activating");
            let restart = restart_after_rewrite(plan, i, was_running);
            let text = g.unit_wants.get(&r).cloned();
            async move {
                let Some(text) = text else {
                    return (false, false, "no [unit] to render".to_string());
                };
                rewrite_one(pool, inv, r, &text, restart, opts).await
            }
        },
        |o| !o.0,
        |_| (false, false, crate::upgrade::rollout::NOT_ATTEMPTED.into()),
    )
    .await;
    let mut out: Vec<Option<(bool, bool, String)>> = vec![None; idx.len()];
    for (j, o) in done {
        out[j] = Some(o);
    }
    out.into_iter()
        .map(|o| o.unwrap_or((false, false, "not planned in any batch".into())))
        .collect()
}

async fn rewrite_one(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    text: &str,
    restart: bool,
    opts: &Options,
) -> (bool, bool, String) {
    let (host, node) = inv.node(r);
    let cmd = nodeherd_core::facts::layout::rewrite_unit_command(&node.unit, unitfile::MARKER, text.len());
    let session = match pool.session(&host.target).await {
        Ok(s) => s,
        Err(e) => {
            return (false, false, nodeherd_core::facts::systemd::sanitize(&e.to_string()));
        }
    };
    // Under the node's host lock, like installs and switches (no upgrade restarts it meanwhile).
    let _guard = match crate::upgrade::lock::acquire_waiting(
        &session,
        &node.install_dir.display().to_string(),
        &key(inv, r),
        &opts.who,
        "rewrite unit",
        opts.wait_lock,
    )
    .await
    {
        Ok(g) => g,
        Err(e) => {
            return (
                false,
                false,
                format!(
                    "not rewritten: {}",
                    nodeherd_core::facts::systemd::sanitize(&e.to_string())
                ),
            );
        }
    };
    let written = session.exec_with_stdin(&cmd, text.as_bytes()).await;
    match written {
        Ok(o) if o.success() => {}
        Ok(o) => {
            let e = nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim());
            return (
                false,
                false,
                format!("writing the unit failed: {e}; the old file is left in place"),
            );
        }
        Err(e) => {
            return (
                false,
                false,
                format!(
                    "writing the unit failed: {}",
                    nodeherd_core::facts::systemd::sanitize(&e.to_string())
                ),
            );
        }
    }
    let path = unitfile::unit_path(&node.unit);
    if !restart {
        return (
            true,
            false,
            format!("rewrote {path}, daemon-reload; not restarted"),
        );
    }
    let o = lifecycle::act(pool, inv, &[r], Action::Restart, 1).await;
    match o.into_iter().next() {
        Some(a) if a.ok => (
            true,
            true,
            format!(
                "rewrote {path}, daemon-reload, restarted in {:.1}s",
                a.took.as_secs_f64()
            ),
        ),
        Some(a) => (
            false,
            true,
            format!(
                "rewrote {path}, daemon-reload, but the restart failed: {}",
                a.error.unwrap_or_default()
            ),
        ),
        None => (
            false,
            false,
            format!("rewrote {path}, but no restart outcome"),
        ),
    }
}

/// Install the `idx` changes of `plan`: the feeds of their nodes once each, then every node in
/// parallel (each on its own host lock); the unit text is rendered from the playbook's `[unit]`.
#[allow(clippy::too_many_arguments)]
async fn install(
    pool: &Pool,
    inv: &Inventory,
    plan: &Plan,
    refs: &[NodeRef],
    idx: &[usize],
    g: &Gathered,
    desired: &DesiredState,
    opts: &Options,
) -> Vec<engine::Outcome> {
    let targets: Vec<Option<Target>> = idx
        .iter()
        .map(|i| g.targets.get(&refs[*i]).cloned())
        .collect();
    let known: Vec<Target> = targets.iter().flatten().cloned().collect();
    let feeds = engine::fetch_feeds(&known, opts).await;
    let futs = idx.iter().zip(&targets).map(|(i, t)| {
        let c = &plan.changes[*i];
        let r = refs[*i];
        let feeds = &feeds;
        async move {
            let Change::Install { version } = &c.change else {
                return refused_outcome(c, "not an install");
            };
            let Some(t) = t else {
                return refused_outcome(c, "the node has no managed version");
            };
            let releases = match t.feed().and_then(|f| feeds.get(&f)) {
                Some(Ok(r)) => r.clone(),
                Some(Err(e)) => return refused_outcome(c, &format!("feed unavailable: {e}")),
                None => return refused_outcome(c, "the node has no release feed"),
            };
            let def = desired.unit_for(inv, r);
            let text = unitfile::render(&t.key, &t.node.install_dir.display().to_string(), &def);
            let spec = engine::InstallSpec {
                version,
                unit_text: &text,
                marker: unitfile::MARKER,
                start: desired.for_node(inv, r).running != Some(false),
            };
            engine::install_one(pool, t, &releases, &spec, opts).await
        }
    });
    futures::future::join_all(futs).await
}

fn refused_outcome(c: &nodeherd_core::plan::apply::Planned, why: &str) -> engine::Outcome {
    engine::Outcome {
        node: format!("{}/{}", c.host, c.node),
        action: "install".into(),
        from: None,
        to: None,
        status: engine::Status::Refused,
        detail: why.into(),
        logs: vec![],
        took: std::time::Duration::ZERO,
    }
}

/// Switch each target to its version: a release already on the host is switched to directly
/// (the guarded switch of `rollback`), any other comes from the node's feed (download, verify,
/// upload, guarded switch). Canary first, then batches; the run stops past max_fail_percent.
async fn switch_versions(
    pool: &Pool,
    targets: &[Target],
    versions: &[(Option<String>, String)],
    opts: &Options,
) -> Vec<engine::Outcome> {
    let layouts = engine::running_versions(pool, targets).await;
    let needs_feed: Vec<Target> = targets
        .iter()
        .zip(&layouts)
        .zip(versions)
        .filter(|((_, l), (_, to))| !l.as_ref().is_ok_and(|l| l.has(to)))
        .map(|((t, _), _)| t.clone())
        .collect();
    let feeds = if needs_feed.is_empty() {
        BTreeMap::new()
    } else {
        engine::fetch_feeds(&needs_feed, opts).await
    };
    let s = targets[0].settings.clone();
    let keys: Vec<String> = targets.iter().map(|t| t.key.clone()).collect();
    let outcome = |j: usize, status: engine::Status, detail: String| engine::Outcome {
        node: targets[j].key.clone(),
        action: "switch".into(),
        from: versions[j].0.clone(),
        to: Some(versions[j].1.clone()),
        status,
        detail,
        logs: vec![],
        took: std::time::Duration::ZERO,
    };
    let done = crate::upgrade::rollout::in_batches(
        &keys,
        &s,
        |j| {
            let (t, (from, to), layout) = (&targets[j], &versions[j], &layouts[j]);
            let feeds = &feeds;
            let outcome = &outcome;
            async move {
                let present = layout.as_ref().is_ok_and(|l| l.has(to));
                if present {
                    match pool.session(&t.host.target).await {
                        Ok(session) => engine::rollback_node(&session, t, Some(to), opts).await,
                        Err(e) => outcome(j, engine::Status::Failed, e.to_string()),
                    }
                } else {
                    let releases = t
                        .feed()
                        .and_then(|f| feeds.get(&f))
                        .and_then(|r| r.as_ref().ok())
                        .cloned()
                        .unwrap_or_default();
                    let p = engine::plan_node(
                        t,
                        from.as_deref(),
                        &releases,
                        Some(to),
                        chrono::Utc::now(),
                    );
                    engine::upgrade_one(pool, t, &p, opts).await
                }
            }
        },
        engine::Outcome::failed,
        |j| {
            outcome(
                j,
                engine::Status::Skipped,
                crate::upgrade::rollout::NOT_ATTEMPTED.into(),
            )
        },
    )
    .await;
    let mut out: Vec<Option<engine::Outcome>> = (0..targets.len()).map(|_| None).collect();
    for (j, o) in done {
        out[j] = Some(o);
    }
    out.into_iter()
        .enumerate()
        .map(|(j, o)| {
            o.unwrap_or_else(|| {
                outcome(
                    j,
                    engine::Status::Skipped,
                    "not planned in any batch".into(),
                )
            })
        })
        .collect()
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
mod tests {
    use super::*;
    use nodeherd_core::plan::apply::Planned;

    fn ch(node: &str, change: Change) -> Planned {
        Planned {
            host: "h".into(),
            node: node.into(),
            change,
            reason: String::new(),
        }
    }

    #[test]
    fn rewrite_restarts_only_running_units_not_stopped_or_switched() {
        let rw = || Change::RewriteUnit {
            diff_summary: "x".into(),
        };
        let p = Plan {
            changes: vec![
                ch("a", rw()),
                ch("b", rw()),
                ch("b", Change::Stop),
                ch("c", rw()),
                ch(
                    "c",
                    Change::SwitchVersion {
                        from: None,
                        to: "1.5.1".into(),
                    },
                ),
                ch("d", rw()),
                ch("d", Change::Start),
            ],
            ..Default::default()
        };
        assert!(restart_after_rewrite(&p, 0, true));
        assert!(
            !restart_after_rewrite(&p, 0, false),
            "stopped stays stopped"
        );
        assert!(!restart_after_rewrite(&p, 1, true), "the stop follows");
        assert!(
            !restart_after_rewrite(&p, 3, true),
            "the switch restarts it"
        );
        assert!(
            !restart_after_rewrite(&p, 5, false),
            "the start uses the new file"
        );
    }
}
