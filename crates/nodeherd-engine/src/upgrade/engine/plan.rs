//! Planning: feeds (fetched once per source), the hosts' running versions, and one plan line per
//! node (policy, explicit `--to`, maintenance windows).
//!
//! Owns: those reads and the plan lines' texts. May not touch: anything that changes a host.

use super::steps::inspect;
use super::{BTreeMap, HostError, Layout, Options, Pool, Release, Serialize, Step, Target, policy};
use crate::feeds::FetchError;

/// A node's plan line for `releases` and `upgrade`.
#[derive(Debug, Clone, Serialize)]
pub struct NodePlan {
    pub step: Step,
    pub running: Option<String>,
    pub allowed: Option<String>,
    pub next: Option<(String, String)>,
    pub why: Vec<String>,
    /// The host's `previous` release (what a rollback without `--to` goes back to).
    #[serde(default)]
    pub previous: Option<String>,
    /// How the node's health is gated (its probe, from `nodeherd_core::health`).
    pub gate: String,
    #[serde(skip)]
    pub release: Option<Release>,
    /// The release the node would install once allowed: the target, else the newest allowed
    /// one (what `releases` reports the asset of).
    #[serde(skip)]
    pub candidate: Option<Release>,
    /// What an upgrade backs up first (nodes with `backup` and a `data_dir`, planned to switch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<super::BackupPlan>,
    /// Why what was asked for cannot be done (feed unavailable, host unreachable, `--to` version
    /// not in the feed): the command exits 1 with it. `None` when the plan is a real answer,
    /// "nothing to do" included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Feeds by source, fetched once each.
pub async fn fetch_feeds(
    targets: &[Target],
    opts: &Options,
) -> BTreeMap<String, Result<Vec<Release>, FetchError>> {
    let mut out = BTreeMap::new();
    for t in targets {
        let Some(src) = t.feed() else { continue };
        if out.contains_key(&src) {
            continue;
        }
        let r = opts.releases.releases(&src, &opts.feed_cache).await;
        out.insert(src, r);
    }
    out
}

fn describe_skip(v: &semver::Version, s: &policy::Skip) -> String {
    match s {
        policy::Skip::Draft => format!("{v}: draft"),
        policy::Skip::Prerelease => format!("{v}: pre-release (channel stable)"),
        policy::Skip::OutsidePin { pin } => format!("{v}: outside pin {pin}"),
        policy::Skip::NoPublishDate => format!("{v}: no publish date"),
        policy::Skip::TooYoung { eligible_at } => {
            format!(
                "{v}: too young, eligible at {}",
                eligible_at.format("%Y-%m-%d %H:%M UTC")
            )
        }
        policy::Skip::NotNewer => format!("{v}: not newer"),
    }
}

/// The plan's line on how `t` is gated: its probe, and the settle time when it waits for one.
pub fn gate_text(t: &Target) -> String {
    let probe = nodeherd_core::health::probe_for(&t.node);
    if probe.settles() {
        format!("{probe}; settle {}s", t.settings.settle.as_secs())
    } else {
        probe.to_string()
    }
}

/// Plan one node (pure, given its running version and feed).
pub fn plan_node(
    t: &Target,
    running: Option<&str>,
    releases: &[Release],
    to: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> NodePlan {
    let run_v = running.and_then(|r| semver::Version::parse(r).ok());
    let v = policy::evaluate(releases, run_v.as_ref(), &t.settings.policy, &t.key, now);
    let mut why: Vec<String> = v.skipped.iter().map(|(v, s)| describe_skip(v, s)).collect();
    let pick = |ver: &str| {
        releases
            .iter()
            .find(|r| r.version.to_string() == ver)
            .cloned()
    };
    let mut problem = None;
    let (target, reason, release) = if let Some(want) = to {
        match pick(want) {
            Some(r) if Some(want) == running => (None, format!("already on {want}"), Some(r)),
            Some(r) => (
                Some(want.to_string()),
                format!("--to {want} (explicit; policy delay not applied)"),
                Some(r),
            ),
            None => {
                problem = Some(format!("{want} is not in the feed"));
                (None, format!("{want} is not in the feed"), None)
            }
        }
    } else if !nodeherd_core::playbook::window_allowed(&t.settings.windows, now) {
        why.push("outside every maintenance window".into());
        (None, "outside the maintenance windows".into(), None)
    } else if v.upgrade {
        let a = v
            .allowed
            .as_ref()
            .map(std::string::ToString::to_string)
            .unwrap_or_default();
        (Some(a.clone()), "newest allowed release".into(), pick(&a))
    } else {
        let reason = match (&v.allowed, running) {
            (_, None) => "running version unknown".to_string(),
            (Some(a), Some(r)) if a.to_string() == r => "up to date for its policy".to_string(),
            _ => "no allowed release newer than the running one".to_string(),
        };
        (None, reason, None)
    };
    let candidate = release
        .clone()
        .or_else(|| v.allowed.as_ref().and_then(|a| pick(&a.to_string())));
    NodePlan {
        step: Step {
            node: t.key.clone(),
            from: running.map(str::to_string),
            to: target,
            reason,
        },
        running: running.map(str::to_string),
        allowed: v.allowed.map(|a| a.to_string()),
        next: v
            .next
            .map(|(nv, at)| (nv.to_string(), at.format("%Y-%m-%d %H:%M UTC").to_string())),
        why,
        previous: None,
        gate: gate_text(t),
        release,
        candidate,
        backup: None,
        problem,
    }
}

/// Why a target's running version could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunningError {
    #[error("{0}")]
    Ssh(#[from] nodeherd_transport::ssh::SshError),
    #[error("{0}")]
    Host(#[from] HostError),
}

/// Read the running versions (from the hosts' `current` links) of every target.
pub async fn running_versions(
    pool: &Pool,
    targets: &[Target],
) -> Vec<Result<Layout, RunningError>> {
    let items: Vec<usize> = (0..targets.len()).collect();
    let res = crate::fleet::run_all(items, 10, |i| {
        let t = &targets[i];
        async move {
            let s = pool.session(&t.host.target).await?;
            Ok(inspect(&s, t).await?)
        }
    })
    .await;
    res.into_iter().map(|(_, r)| r).collect()
}

/// A switch not yet confirmed or rolled back is on the node: its `current` is not a settled
/// version, so nothing is planned and the command fails naming it (never "nothing to do").
fn in_flight(p: &mut NodePlan, node: &str, l: &Layout) {
    p.step.to = None;
    p.step.reason = in_flight_reason(node, l);
    p.problem = Some(p.step.reason.clone());
}

/// The refusal text for a node with a switch in flight.
pub fn in_flight_reason(node: &str, l: &Layout) -> String {
    let next = if l.switch_running() {
        "wait for its guard to confirm or roll back, then run again"
    } else {
        "`nodeherd rollback` of the node has the host roll it back"
    };
    format!(
        "{node}: a switch is in flight: {}; {next}",
        l.in_flight_text()
    )
}

/// Plan every target.
pub async fn plan_all(
    pool: &Pool,
    targets: &[Target],
    to: Option<&str>,
    opts: &Options,
) -> Vec<NodePlan> {
    let feeds = fetch_feeds(targets, opts).await;
    let layouts = running_versions(pool, targets).await;
    let now = opts.clock.now();
    let mut plans: Vec<NodePlan> = targets
        .iter()
        .zip(layouts)
        .map(|(t, l)| {
            let running = l.as_ref().ok().and_then(|l| l.current.clone());
            let previous = l.as_ref().ok().and_then(|l| l.previous.clone());
            let releases = match t.feed().and_then(|f| feeds.get(&f)) {
                Some(Ok(r)) => r.clone(),
                Some(Err(e)) => {
                    let mut p = plan_node(t, running.as_deref(), &[], None, now);
                    let problem = format!("feed unavailable: {e}");
                    // The feed's error is the only why: no policy was evaluated.
                    p.why = vec![problem.clone()];
                    p.step.reason.clone_from(&problem);
                    p.problem = Some(problem);
                    p.previous = previous;
                    return p;
                }
                None => vec![],
            };
            let mut p = plan_node(t, running.as_deref(), &releases, to, now);
            p.previous = previous;
            match l {
                Err(e) => {
                    p.step.to = None;
                    p.step.reason = format!("host unreachable: {e}");
                    p.problem = Some(p.step.reason.clone());
                }
                Ok(l) if l.in_flight() => in_flight(&mut p, &t.key, &l),
                Ok(_) => {}
            }
            p
        })
        .collect();
    for (t, p) in targets.iter().zip(plans.iter_mut()) {
        if p.step.to.is_some() {
            p.backup = super::plan_backup(pool, t).await;
        }
    }
    plans
}
