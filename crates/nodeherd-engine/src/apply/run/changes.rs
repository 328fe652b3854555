//! The changes of an apply that go through the upgrade engine's machinery: unit rewrites (with
//! the rollout order and a restart when it was running), installs, and version switches.
//!
//! Owns: turning plan changes into engine calls and their outcomes, and the journal line of a
//! unit rewrite (on the node's host, through [`crate::record`]). May not touch: the plan
//! itself, starts/stops (that is [`crate::lifecycle`]), or the verification pass ([`super`]).

use super::{
    Action, BTreeMap, Change, DesiredState, Gathered, Inventory, NodeRef, Options, Plan, Playbook,
    Pool, Target, engine, key, lifecycle, unitfile,
};

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
pub(super) async fn rewrite_units(
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
        &opts.progress,
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

/// Rewrite one node's unit (then restart it when asked), and journal the rewrite on its host.
async fn rewrite_one(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    text: &str,
    restart: bool,
    opts: &Options,
) -> (bool, bool, String) {
    let node = key(inv, r);
    opts.progress
        .node(&node, crate::upgrade::progress::Step::RewritingUnit);
    let done = rewrite_inner(pool, inv, r, text, restart, opts).await;
    let result = if done.0 { "ok" } else { "failed" };
    opts.progress.finished(&node, result, !done.0, &done.2);
    let line = nodeherd_core::journal::Entry::now(
        &opts.who,
        nodeherd_core::journal::action::UNIT_REWRITE,
        &node,
        result,
        &done.2,
    );
    let _ = crate::record::record_on(pool, inv, r, &line).await;
    done
}

async fn rewrite_inner(
    pool: &Pool,
    inv: &Inventory,
    r: NodeRef,
    text: &str,
    restart: bool,
    opts: &Options,
) -> (bool, bool, String) {
    let (host, node) = inv.node(r);
    let cmd = nodeherd_core::facts::layout::rewrite_unit_command(
        &node.unit,
        unitfile::MARKER,
        text.len(),
    );
    let session = match pool.session(&host.target).await {
        Ok(s) => s,
        Err(e) => {
            return (
                false,
                false,
                nodeherd_core::facts::systemd::sanitize(&e.to_string()),
            );
        }
    };
    // Under the node's host lock, like installs and switches (no upgrade restarts it meanwhile).
    let guard = match crate::upgrade::lock::acquire_waiting(
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
    crate::upgrade::lock::held(guard, async {
        let written = session.exec_with_stdin(&cmd, text.as_bytes()).await;
        match written {
            Ok(o) if o.success() => {}
            Ok(o) => {
                let e = nodeherd_core::facts::systemd::sanitize(
                    String::from_utf8_lossy(&o.stderr).trim(),
                );
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
        let o = lifecycle::act_as(pool, inv, &[r], Action::Restart, 1, &opts.who).await;
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
    })
    .await
}

/// Install the `idx` changes of `plan`: the feeds of their nodes once each, then every node in
/// parallel (each on its own host lock); the unit text is rendered from the playbook's `[unit]`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn install(
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
pub(super) async fn switch_versions(
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
        &opts.progress,
        |j| {
            let (t, (from, to), layout) = (&targets[j], &versions[j], &layouts[j]);
            let feeds = &feeds;
            let outcome = &outcome;
            async move {
                let present = layout.as_ref().is_ok_and(|l| l.has(to));
                if present {
                    match pool.session(&t.host.target).await {
                        Ok(session) => engine::switch_node(&session, t, to, opts).await,
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

/// Whether a chain upgrade step ended as planned: a stage staged (or found it staged), a switch
/// switched; Cosmovisor's host staged for it. Pure.
pub(super) fn chain_step_done(c: &Change, did: crate::cosmos::upgrade::Did) -> bool {
    use crate::cosmos::upgrade::Did;
    use nodeherd_core::plan::apply::ChainStep;
    match c {
        Change::ChainUpgrade {
            step: ChainStep::Stage,
            ..
        } => matches!(did, Did::Staged | Did::Waiting | Did::LeftToCosmovisor),
        Change::ChainUpgrade {
            step: ChainStep::Switch,
            ..
        } => did == Did::Switched,
        _ => false,
    }
}
