//! Fleet runs: the planned upgrades in rollout order (canary, batches, stop rule), one node's
//! artifact-then-upgrade, and the merged history of the journals.
//!
//! Owns: connecting per node and the artifact step before it. May not touch: one node's steps
//! (that is [`super::node`]) or the rollout order itself ([`crate::upgrade::rollout`]).

use super::{
    Duration, Entry, Instant, Inventory, NodePlan, NodeRef, Options, Outcome, Pool, Status, Target,
    entry, finished, journal, layout, plan_all, rollback_node, rollout, short, upgrade_node,
};
use nodeherd_core::text::sanitize;

/// Run the planned upgrades: canary first, then batches; stop past `max_fail_percent`.
/// The first target's settings decide canary/serial/max_fail_percent.
pub async fn run_upgrades(
    pool: &Pool,
    targets: &[Target],
    plans: &[NodePlan],
    opts: &Options,
) -> Vec<Outcome> {
    let work: Vec<usize> = (0..targets.len())
        .filter(|i| plans[*i].step.to.is_some())
        .collect();
    let Some(first) = work.first() else {
        return vec![];
    };
    let s = targets[*first].settings.clone();
    let keys: Vec<String> = work.iter().map(|i| targets[*i].key.clone()).collect();
    rollout::in_batches(
        &keys,
        &s,
        &opts.progress,
        |j| upgrade_one(pool, &targets[work[j]], &plans[work[j]], opts),
        Outcome::failed,
        |j| {
            let i = work[j];
            Outcome {
                node: targets[i].key.clone(),
                action: "upgrade".into(),
                from: plans[i].step.from.clone(),
                to: plans[i].step.to.clone(),
                status: Status::Skipped,
                detail: rollout::NOT_ATTEMPTED.into(),
                logs: vec![],
                took: Duration::ZERO,
            }
        },
    )
    .await
    .into_iter()
    .map(|(_, o)| o)
    .collect()
}

/// Connect, choose the asset for the host's platform, download/verify it, upgrade.
pub async fn upgrade_one(pool: &Pool, t: &Target, p: &NodePlan, opts: &Options) -> Outcome {
    let start = Instant::now();
    let fail = |status: Status, detail: String| Outcome {
        node: t.key.clone(),
        action: "upgrade".into(),
        from: p.step.from.clone(),
        to: p.step.to.clone(),
        status,
        detail,
        logs: vec![],
        took: start.elapsed(),
    };
    let Some(rel) = &p.release else {
        return finished(opts, fail(Status::Refused, "no release to install".into()));
    };
    let prepared = match super::prepare::prepare(pool, t, rel, opts).await {
        Ok(p) => p,
        Err((status, detail)) => {
            let o = fail(status, detail);
            journal::append_local(&entry(
                t,
                opts,
                "",
                "upgrade",
                o.from.as_deref().unwrap_or(""),
                o.to.as_deref().unwrap_or(""),
                if status == Status::Refused {
                    "refused"
                } else {
                    "failed"
                },
                &o.detail,
            ));
            return finished(opts, o);
        }
    };
    upgrade_node(&prepared.session, t, rel, &prepared.art, opts).await
}

/// Read and merge host and local journals for `keys` (`host/node`; empty = all).
pub async fn history(
    pool: &Pool,
    inv: &Inventory,
    hosts: &[usize],
    keys: &[String],
) -> (Vec<Entry>, Vec<String>) {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    let res = crate::fleet::run_all(hosts.to_vec(), 10, |h| {
        let target = inv.hosts[h].target.clone();
        async move {
            let s = pool.session(&target).await.map_err(|e| e.to_string())?;
            let o = s
                .exec(&layout::journal_read_command())
                .await
                .map_err(|e| short(&e))?;
            Ok::<_, String>(o.stdout_str().into_owned())
        }
    })
    .await;
    for (h, r) in res {
        match r {
            Ok(text) => all.extend(journal::parse(&text).0),
            Err(e) => errors.push(format!("{}: {e}", inv.hosts[h].name)),
        }
    }
    if let Ok(text) = std::fs::read_to_string(journal::local_path()) {
        all.extend(journal::parse(&text).0);
    }
    all.retain(|e| keys.is_empty() || keys.contains(&e.node));
    (journal::merge(all), errors)
}

/// The history of a selection, as both front ends show it: the journals of the selected nodes'
/// hosts and the console's own, merged; the selected nodes' entries and fleet-wide runs (`apply`
/// on `*`). Host errors are sanitized (they carry server text).
pub async fn history_of(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
) -> (Vec<Entry>, Vec<String>) {
    let mut hosts: Vec<usize> = nodes.iter().map(|r| r.host).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let keys: Vec<String> = nodes
        .iter()
        .map(|r| {
            let (h, n) = inv.node(*r);
            format!("{}/{}", h.name, n.name)
        })
        .collect();
    let (mut entries, errors) = history(pool, inv, &hosts, &[]).await;
    entries.retain(|e| e.node == "*" || keys.contains(&e.node));
    let errors = errors.iter().map(|e| sanitize(e)).collect();
    (entries, errors)
}

/// A failed outcome for a node the engine could not start on (no session, no plan).
fn not_started(t: &Target, action: &str, to: Option<&str>, detail: &str) -> Outcome {
    Outcome {
        node: t.key.clone(),
        action: action.into(),
        from: None,
        to: to.map(str::to_string),
        status: Status::Failed,
        detail: sanitize(detail),
        logs: vec![],
        took: Duration::ZERO,
    }
}

/// Roll one node back (to `to`, or to the host's `previous`): connect, then [`rollback_node`]. A
/// host that cannot be reached is a failed outcome naming why.
pub async fn rollback_one(pool: &Pool, t: &Target, to: Option<&str>, opts: &Options) -> Outcome {
    match pool.session(&t.host.target).await {
        Ok(s) => rollback_node(&s, t, to, opts).await,
        Err(e) => finished(opts, not_started(t, "rollback", to, &e.to_string())),
    }
}

/// Roll the targets back one after another, stopping at the first failure.
pub async fn rollback_all(
    pool: &Pool,
    targets: &[Target],
    to: Option<&str>,
    opts: &Options,
) -> Vec<Outcome> {
    let mut results = Vec::new();
    for t in targets {
        let o = rollback_one(pool, t, to, opts).await;
        let stop = o.failed();
        results.push(o);
        if stop {
            break;
        }
    }
    results
}

/// Upgrade one node to exactly `to`: plan it, then run it. A plan without a target version is
/// refused with the planner's reason; nothing is changed on the host then.
pub async fn upgrade_to(pool: &Pool, t: &Target, to: &str, opts: &Options) -> Outcome {
    let plans = plan_all(pool, std::slice::from_ref(t), Some(to), opts).await;
    match plans.into_iter().next() {
        Some(p) if p.step.to.is_some() => upgrade_one(pool, t, &p, opts).await,
        Some(p) => Outcome {
            status: Status::Refused,
            ..not_started(t, "upgrade", Some(to), &p.step.reason)
        },
        None => not_started(t, "upgrade", Some(to), "no plan"),
    }
}
