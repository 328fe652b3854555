//! Fleet runs: the planned upgrades in rollout order (canary, batches, stop rule), one node's
//! artifact-then-upgrade, and the merged history of the journals.
//!
//! Owns: connecting per node and the artifact step before it. May not touch: one node's steps
//! (that is [`super::node`]) or the rollout order itself ([`crate::upgrade::rollout`]).

use super::*;

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

/// Download/verify the artifact, connect, upgrade.
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
        return fail(Status::Refused, "no release to install".into());
    };
    let art = match opts.releases.artifact(rel, &opts.artifact_cache).await {
        Ok(a) => a,
        Err(e) => {
            let o = fail(Status::Refused, e.to_string());
            journal::append_local(&entry(
                t,
                opts,
                "",
                "upgrade",
                o.from.as_deref().unwrap_or(""),
                o.to.as_deref().unwrap_or(""),
                "refused",
                &o.detail,
            ));
            return o;
        }
    };
    let session = match pool.session(&t.host.target).await {
        Ok(s) => s,
        Err(e) => return fail(Status::Failed, e.to_string()),
    };
    upgrade_node(&session, t, rel, &art, opts).await
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
