//! The chain upgrade of Cosmos nodes at the plan's halt height: stage the plan's binary ahead of
//! time (verified, for the host's platform) and, once a node has halted for the plan, switch
//! `current` to it through the guarded switch and wait for blocks past the height. Hosts that
//! run Cosmovisor get the binary staged in `cosmovisor/upgrades/<name>/bin/` and switch on their
//! own. Run it as often as you like (from cron): each run does what the node's stand allows.
//!
//! Owns: the order (plan, head, halt facts, refusals, stage, switch, blocks past H) and its
//! outcomes and journal lines. May not touch: the guarded switch and the staging of the
//! nodeherd layout (used through `crate::upgrade::engine::{stage_release, switch_node}`), the
//! parsers (`nodeherd_core::cosmos`).

use super::{read_head, read_plan};
use crate::upgrade::artifact::{self, Artifact};
use crate::upgrade::engine::{self as up, Options, Status, Target};
use nodeherd_core::cosmos::chain::{self, HaltFacts, Head, Stand};
use nodeherd_core::cosmos::plan::{self, PlanBinary, UpgradePlan};
use nodeherd_core::cosmos::watch::short_sha;
use nodeherd_core::journal::{self, Entry};
use nodeherd_core::releases::assets::{ArchiveKind, Checksum, Pick, Signature};
use nodeherd_transport::ssh::{Pool, Session};
use serde::Serialize;
use std::time::Duration;
use tokio::time::Instant;

/// What a run did to one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Did {
    /// No plan pending on the node's chain.
    NoPlan,
    /// The binary was staged now (before the height).
    Staged,
    /// Already staged; waiting for the height.
    Waiting,
    /// Halted and switched; blocks past the height seen.
    Switched,
    /// Cosmovisor switches this host: staged for it, nothing else done.
    LeftToCosmovisor,
    /// At or past the height without halting for the plan: reported, not forced.
    NotHalted,
    /// Refused before changing anything (bad plan info, platform, height passed, lock).
    Refused,
    /// Something failed; the detail says what and what state the node is in.
    Failed,
}

impl Did {
    pub fn failed(self) -> bool {
        matches!(self, Did::NotHalted | Did::Refused | Did::Failed)
    }
}

/// One node's result.
#[derive(Debug, Clone, Serialize)]
pub struct ChainOutcome {
    pub node: String,
    pub plan: Option<String>,
    pub height: Option<u64>,
    pub did: Did,
    pub detail: String,
}

/// Run the chain upgrade step on every target (each a `client = "cosmos"` node), `forks` hosts
/// at once, the nodes of one host in turn.
pub async fn run(
    pool: &Pool,
    targets: &[Target],
    forks: usize,
    opts: &Options,
) -> Vec<ChainOutcome> {
    let mut by_host: Vec<(String, Vec<&Target>)> = Vec::new();
    for t in targets {
        match by_host.iter_mut().find(|(h, _)| *h == t.host.name) {
            Some((_, v)) => v.push(t),
            None => by_host.push((t.host.name.clone(), vec![t])),
        }
    }
    let done = crate::fleet::run_all(by_host, forks, |(_, ts)| async move {
        let mut out = Vec::new();
        for t in ts {
            out.push(run_node(pool, t, opts).await);
        }
        out
    })
    .await;
    done.into_iter().flat_map(|(_, v)| v).collect()
}

fn outcome(
    t: &Target,
    p: Option<&UpgradePlan>,
    did: Did,
    detail: impl Into<String>,
) -> ChainOutcome {
    ChainOutcome {
        node: t.key.clone(),
        plan: p.map(|p| p.name.clone()),
        height: p.map(|p| p.height),
        did,
        detail: detail.into(),
    }
}

/// One node: read, decide, act.
pub async fn run_node(pool: &Pool, t: &Target, opts: &Options) -> ChainOutcome {
    let session = match pool.session(&t.host.target).await {
        Ok(s) => s,
        Err(e) => return outcome(t, None, Did::Failed, first_line(&e.to_string())),
    };
    let Some(daemon) = t.node.daemon.clone() else {
        return outcome(
            t,
            None,
            Did::Refused,
            "no `daemon` in the inventory (the program name, e.g. gaiad): nothing to stage",
        );
    };
    let Some(home) = t.node.data_dir.as_ref().map(|d| d.display().to_string()) else {
        return outcome(
            t,
            None,
            Did::Refused,
            "no data_dir in the inventory (the node's home, holding config/ and data/)",
        );
    };
    // A halted node's REST API is down with it: then the plan is the one its upgrade module
    // wrote to upgrade-info.json when it halted.
    let (plan, facts) = match read_plan(&session, &t.node).await {
        Ok(Some(p)) => match halt_facts(&session, t, &home, &p.name, &daemon).await {
            Ok(f) => (p, f),
            Err(e) => return outcome(t, Some(&p), Did::Failed, e),
        },
        Ok(None) => return outcome(t, None, Did::NoPlan, "no upgrade plan pending"),
        Err(api) => {
            let f = match halt_facts(&session, t, &home, "", &daemon).await {
                Ok(f) => f,
                Err(e) => return outcome(t, None, Did::Failed, e),
            };
            let Some(p) = f.upgrade_info.clone() else {
                return outcome(t, None, Did::Failed, format!("cannot read the plan: {api}"));
            };
            match halt_facts(&session, t, &home, &p.name, &daemon).await {
                Ok(f) => (p, f),
                Err(e) => return outcome(t, Some(&p), Did::Failed, e),
            }
        }
    };
    let head = read_head(&session, &t.node).await.ok();
    let stand = chain::decide(&plan, head.as_ref(), &facts);
    if let (Stand::NotHalted { why }, Some(h)) = (&stand, &head) {
        if let Err(e) = plan::check_height(&plan, h.height) {
            return outcome(
                t,
                Some(&plan),
                Did::NotHalted,
                format!("{e}: {why}; not forced, nothing changed"),
            );
        }
    }
    let platform = match opts.platforms.resolve(&session, &t.host).await {
        Ok(p) => p.platform,
        Err(e) => return outcome(t, Some(&plan), Did::Refused, e.to_string()),
    };
    let bin = match plan::binary_for(&plan, &platform) {
        Ok(b) => b,
        Err(e) => {
            return outcome(
                t,
                Some(&plan),
                Did::Refused,
                format!("{e}; nothing changed"),
            );
        }
    };
    let s = &session;
    if facts.cosmovisor {
        return cosmovisor(s, t, opts, &plan, &bin, &home, &daemon, &facts).await;
    }
    let staged = match ensure_staged(s, t, opts, &plan, &bin, &daemon).await {
        Ok(d) => d,
        Err(o) => return o,
    };
    match stand {
        Stand::Halted { why } => switch(s, t, opts, &plan, &bin.sha256, &why).await,
        Stand::Before { blocks } => outcome(
            t,
            Some(&plan),
            staged,
            format!(
                "{} at height {}, {blocks} blocks to go; not switched before it",
                stage_words(staged, &plan),
                plan.height
            ),
        ),
        Stand::NotHalted { why } => outcome(
            t,
            Some(&plan),
            staged,
            format!(
                "{}; {why}; waiting for the halt",
                stage_words(staged, &plan)
            ),
        ),
    }
}

async fn halt_facts(
    session: &Session,
    t: &Target,
    home: &str,
    name: &str,
    daemon: &str,
) -> Result<HaltFacts, String> {
    session
        .exec(&chain::halt_facts_command(
            home,
            &t.node.unit,
            name,
            daemon,
            &t.node.install_dir.display().to_string(),
        ))
        .await
        .map(|o| chain::parse_halt_facts(&o.stdout_str()))
        .map_err(|e| first_line(&e.to_string()))
}

fn stage_words(d: Did, p: &UpgradePlan) -> String {
    match d {
        Did::Staged => format!("staged `{}` now", p.name),
        _ => format!("`{}` staged", p.name),
    }
}

fn first_line(s: &str) -> String {
    nodeherd_core::text::sanitize(s.lines().next().unwrap_or(""))
}

/// The verified download of the plan's binary on the console.
async fn fetch(bin: &PlanBinary, daemon: &str, opts: &Options) -> Result<Artifact, String> {
    let binary = match bin.kind {
        ArchiveKind::Bare => daemon.to_string(),
        _ => format!("bin/{daemon}"),
    };
    let pick = Pick {
        asset: if bin.asset.is_empty() {
            daemon.to_string()
        } else {
            bin.asset.clone()
        },
        url: bin.url.clone(),
        kind: bin.kind,
        binary_path: Some(binary),
        checksum: Checksum::ForgeDigest {
            sha256: bin.sha256.clone(),
        },
        signature: Signature::NonePublished,
        why: format!("the upgrade plan's binary for {}", bin.key),
        notes: vec![],
        rejected: vec![],
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    artifact::fetch(&client, &pick, &opts.artifact_cache)
        .await
        .map_err(|e| e.to_string())
}

/// Stage the plan's binary as `releases/<name>/` unless it is there: `Staged` or `Waiting`.
async fn ensure_staged(
    session: &Session,
    t: &Target,
    opts: &Options,
    plan: &UpgradePlan,
    bin: &PlanBinary,
    daemon: &str,
) -> Result<Did, ChainOutcome> {
    let art = fetch(bin, daemon, opts)
        .await
        .map_err(|e| outcome(t, Some(plan), Did::Refused, format!("{e}; nothing changed")))?;
    let note = format!(
        "{} at height {}, sha256 {} verified",
        plan.name,
        plan.height,
        short_sha(&bin.sha256)
    );
    let o = up::stage_release(session, t, &plan.name, &art, opts, &note).await;
    match o.status {
        Status::Ok => Ok(Did::Staged),
        Status::Unchanged => Ok(Did::Waiting),
        Status::Refused => Err(outcome(t, Some(plan), Did::Refused, o.detail)),
        _ => Err(outcome(t, Some(plan), Did::Failed, o.detail)),
    }
}

/// Switch a halted node to the staged release, then wait for a block past the plan's height.
async fn switch(
    session: &Session,
    t: &Target,
    opts: &Options,
    plan: &UpgradePlan,
    sha256: &str,
    why: &str,
) -> ChainOutcome {
    let o = up::switch_node(session, t, &plan.name, opts).await;
    match o.status {
        Status::Ok => {}
        Status::Unchanged => {}
        _ => {
            return outcome(
                t,
                Some(plan),
                if o.status == Status::Refused {
                    Did::Refused
                } else {
                    Did::Failed
                },
                format!(
                    "{why}; the switch to `{}` did not pass: {}",
                    plan.name, o.detail
                ),
            );
        }
    }
    let limit = t.settings.health_timeout.max(Duration::from_secs(60));
    let start = Instant::now();
    let past = loop {
        match read_head(session, &t.node).await {
            Ok(h) if h.height > plan.height => break Some(h),
            _ if start.elapsed() > limit => break None,
            _ => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    };
    let at = format!(
        "{} at height {}, sha256 {}",
        plan.name,
        plan.height,
        short_sha(sha256)
    );
    let (did, detail, line) = match past {
        Some(Head { height, .. }) => (
            Did::Switched,
            format!(
                "{why}; switched to `{}` and restarted; block {height} is past the plan's height {}",
                plan.name, plan.height
            ),
            format!("{at}: block {height} past it"),
        ),
        None => (
            Did::Failed,
            format!(
                "{why}; switched to `{}`, but no block past height {} within {}s",
                plan.name,
                plan.height,
                limit.as_secs()
            ),
            format!("{at}: no block past it within {}s", limit.as_secs()),
        ),
    };
    journal_line(session, t, opts, plan, "chain-upgrade", did, &line).await;
    outcome(t, Some(plan), did, detail)
}

#[allow(clippy::too_many_arguments)]
async fn journal_line(
    session: &Session,
    t: &Target,
    opts: &Options,
    plan: &UpgradePlan,
    action: &str,
    did: Did,
    detail: &str,
) {
    let e = Entry {
        time: journal::now(),
        who: opts.who.clone(),
        action: action.into(),
        node: t.key.clone(),
        from: String::new(),
        to: plan.name.clone(),
        result: if did.failed() {
            "failed".into()
        } else {
            "ok".into()
        },
        detail: nodeherd_core::text::sanitize(detail),
        run: String::new(),
    };
    if let Err(err) = crate::record::record(Some(session), &e).await {
        tracing::warn!(node = %t.key, "journal: {err}");
    }
}

/// A Cosmovisor host: stage into `cosmovisor/upgrades/<name>/bin/<daemon>` (verified) unless
/// there, and leave the switch to Cosmovisor.
#[allow(clippy::too_many_arguments)]
async fn cosmovisor(
    session: &Session,
    t: &Target,
    opts: &Options,
    plan: &UpgradePlan,
    bin: &PlanBinary,
    home: &str,
    daemon: &str,
    facts: &HaltFacts,
) -> ChainOutcome {
    let place = format!("{home}/cosmovisor/upgrades/{}/bin/{daemon}", plan.name);
    if let Some(have) = &facts.cosmovisor_staged {
        if have != &bin.sha256 && bin.kind == ArchiveKind::Bare {
            return outcome(
                t,
                Some(plan),
                Did::Refused,
                format!(
                    "{place} is already there with sha256 {have}, not the plan's {}; left as it is",
                    bin.sha256
                ),
            );
        }
        return outcome(
            t,
            Some(plan),
            Did::LeftToCosmovisor,
            format!(
                "`{}` staged for Cosmovisor at {place}; Cosmovisor switches at the halt",
                plan.name
            ),
        );
    }
    let art = match fetch(bin, daemon, opts).await {
        Ok(a) => a,
        Err(e) => return outcome(t, Some(plan), Did::Refused, format!("{e}; nothing changed")),
    };
    let cmd = match chain::cosmovisor_stage_command(home, &plan.name, daemon, &art.sha256, art.kind)
    {
        Ok(c) => c,
        Err(e) => return outcome(t, Some(plan), Did::Refused, e),
    };
    let file = match tokio::fs::File::open(&art.path).await {
        Ok(f) => f,
        Err(e) => {
            return outcome(
                t,
                Some(plan),
                Did::Failed,
                format!("{}: {e}", art.path.display()),
            );
        }
    };
    let at = format!(
        "{} at height {}, sha256 {} for Cosmovisor",
        plan.name,
        plan.height,
        short_sha(&art.sha256)
    );
    let (did, detail) = match session.exec_with_stdin_file(&cmd, file).await {
        Ok(o) if o.success() => (
            Did::LeftToCosmovisor,
            format!(
                "staged `{}` for Cosmovisor at {place} (sha256 {} verified on the host); Cosmovisor switches at the halt",
                plan.name, art.sha256
            ),
        ),
        Ok(o) => (
            Did::Failed,
            format!(
                "staging for Cosmovisor failed: {}",
                first_line(String::from_utf8_lossy(&o.stderr).trim())
            ),
        ),
        Err(e) => (Did::Failed, first_line(&e.to_string())),
    };
    let line = if did.failed() {
        format!("{at}: {detail}")
    } else {
        at
    };
    journal_line(session, t, opts, plan, "stage", did, &line).await;
    outcome(t, Some(plan), did, detail)
}
