//! The upgrade engine: plans a run from feeds, policy and the hosts' layouts, then upgrades or
//! rolls back nodes one guarded switch at a time (canary, batches, stop rule).
//!
//! Owns: the types every part shares ([`Options`], [`Target`], [`Outcome`], [`Event`]) and the
//! parts: [`steps`] (lock, inspect, stage, journal: what every action does), [`settle`] (confirm or
//! abort, and the real outcome after a lost link), [`prepare`] (platform, asset
//! choice and verified artifact before anything changes), [`node`] (one node's
//! upgrade or rollback: preconditions, guarded switch, gate, confirm or abort), [`install`] (a
//! first install), [`plan`] (feeds, running versions and plan lines), [`fleet`] (the rollout and
//! the history), [`backup`] (the data dir's backup before a switch, its restore on a rollback),
//! [`stage`] (a release staged ahead of its switch: a chain upgrade's binary).
//! May not touch: the terminal; it reports through [`Outcome`]s, optional [`Event`]s and the
//! injected progress [`Reporter`] (its steps: `crate::upgrade::progress`).

mod backup;
mod data_plan;
mod fleet;
mod install;
mod node;
mod plan;
mod prepare;
mod settle;
mod stage;
mod steps;

pub use backup::{BackupPlan, plan_backup};
pub use fleet::{
    history, history_of, rollback_all, rollback_one, run_upgrades, upgrade_one, upgrade_to,
};
pub use install::{InstallSpec, install_node, install_one};
pub use node::{rollback_node, switch_node, upgrade_node};
pub use plan::{
    NodePlan, fetch_feeds, gate_text, in_flight_reason, plan_all, plan_node, running_versions,
};
pub use prepare::{AssetChoice, choose_assets, component_of};
pub use stage::stage_release;

/// How many times the console reconnects after losing the link at a confirm or an abort.
pub use settle::RECONNECT_TRIES;

use crate::feeds;
use crate::upgrade::artifact::{self, Artifact};
use crate::upgrade::duty;
use crate::upgrade::health;
use crate::upgrade::lock;
use crate::upgrade::progress::{self, Reporter};
use crate::upgrade::rollout;
use nodeherd_core::facts::layout::{self, Layout, SwitchSpec};
use nodeherd_core::inventory::{ClientKind, Inventory, NodeRef, Role};
use nodeherd_core::journal::{self, Entry};
use nodeherd_core::plan::upgrade::Step;
use nodeherd_core::playbook::{Playbook, UpgradeSettings};
use nodeherd_core::releases::feed::Release;
use nodeherd_core::releases::policy;
use nodeherd_transport::ssh::{Pool, Session};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
// tokio's clock: the real one in production, a paused one in tests (sleeps and deadlines alike)
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// Progress of one node, for front ends and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    Locked,
    Uploading,
    Staged,
    WaitingForQuiet,
    Switching,
    Switched,
    GatePassed,
    Confirmed,
    RollingBack,
    RolledBack,
}

/// Run options (from the command line).
#[derive(Debug, Clone)]
pub struct Options {
    pub who: String,
    pub force_unhealthy: bool,
    /// Wait this long for another console's lock (zero: refuse at once).
    pub wait_lock: Duration,
    pub artifact_cache: PathBuf,
    pub feed_cache: PathBuf,
    pub events: Option<UnboundedSender<(String, Event)>>,
    /// Where step-by-step progress goes (default: nowhere).
    pub progress: Reporter,
    /// Feeds and artifacts (default: online, through the caches).
    pub releases: Arc<dyn feeds::ReleaseSource>,
    /// The wall clock plans read (default: the system's).
    pub clock: Arc<dyn feeds::Clock>,
    /// Each host's platform, probed once per run.
    pub platforms: Arc<crate::upgrade::platform::Platforms>,
    /// Cancels the run's actions that have not started switching yet (the quiet-window wait
    /// ends at once; a node already switching goes on to its gate and confirm or rollback).
    pub cancel: tokio_util::sync::CancellationToken,
    /// How a node's host is connected again after the link dropped at a confirmation or an
    /// abort (default: a fresh SSH connection to the same target).
    pub reconnect: Reconnect,
}

/// Connects to a host again (see [`Options::reconnect`]); tests hand out fakes.
#[derive(Clone)]
pub struct Reconnect(
    pub  Arc<
        dyn Fn(
                nodeherd_core::remote::Target,
            ) -> futures::future::BoxFuture<
                'static,
                Result<Session, nodeherd_transport::ssh::SshError>,
            > + Send
            + Sync,
    >,
);

impl std::fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reconnect")
    }
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect(Arc::new(|t| {
            Box::pin(async move {
                nodeherd_transport::ssh::connect(
                    &t,
                    &nodeherd_transport::ssh::ConnectOptions::default(),
                )
                .await
            })
        }))
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            who: journal::who(),
            force_unhealthy: false,
            wait_lock: Duration::ZERO,
            artifact_cache: artifact::default_cache_dir(),
            feed_cache: feeds::default_cache_dir(),
            events: None,
            progress: Reporter::default(),
            releases: Arc::new(feeds::Online::default()),
            clock: Arc::new(feeds::SystemClock),
            platforms: Arc::default(),
            cancel: tokio_util::sync::CancellationToken::new(),
            reconnect: Reconnect::default(),
        }
    }
}

/// How one node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Switched and confirmed healthy.
    Ok,
    /// Nothing to do.
    Unchanged,
    /// The new version failed its gate; the node runs the old version again.
    RolledBack,
    /// Refused before changing anything (lock, precondition, safe window, artifact).
    Refused,
    /// Failed; see detail (the host's guard keeps the node on a healthy version).
    Failed,
    /// Not attempted because the run stopped.
    Skipped,
    /// The link dropped at the confirmation or the abort and the host's guard could not be
    /// asked afterwards: the detail says how to find out.
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub node: String,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub status: Status,
    pub detail: String,
    /// The new version's last journal lines when it failed (sanitized).
    pub logs: Vec<String>,
    #[serde(with = "secs")]
    pub took: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_secs_f64() * 10.0).round() / 10.0)
    }
}

impl Outcome {
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            Status::RolledBack | Status::Failed | Status::Refused | Status::Unknown
        )
    }
}

/// One node with everything the engine needs.
#[derive(Debug, Clone)]
pub struct Target {
    pub key: String,
    pub node_ref: NodeRef,
    pub host: nodeherd_core::inventory::Host,
    pub node: nodeherd_core::inventory::Node,
    pub settings: UpgradeSettings,
    pub duty: Option<duty::Source>,
}

impl Target {
    pub fn new(inv: &Inventory, r: NodeRef, pb: &Playbook) -> Target {
        let host = inv.hosts[r.host].clone();
        let node = host.nodes[r.node].clone();
        let settings = pb.settings_for(inv, r);
        let duty = duty_source(&host, &node, &settings);
        Target {
            key: format!("{}/{}", host.name, node.name),
            node_ref: r,
            host,
            node,
            settings,
            duty,
        }
    }
    fn install_dir(&self) -> String {
        self.node.install_dir.display().to_string()
    }
    /// The feed this node follows.
    pub fn feed(&self) -> Option<String> {
        self.settings
            .release_feed
            .clone()
            .or_else(|| self.node.release_feed.clone())
            .or_else(|| feeds::builtin_feed(self.node.client.as_str()))
    }
}

/// Validator-carrying nodes (a validator, or a beacon node on a host that runs one) get a duty
/// source; others (or `min_quiet = 0`) none.
fn duty_source(
    host: &nodeherd_core::inventory::Host,
    node: &nodeherd_core::inventory::Node,
    s: &UpgradeSettings,
) -> Option<duty::Source> {
    if s.min_quiet.is_zero() {
        return None;
    }
    let vc = if node.role == Role::Validator {
        Some(node)
    } else if node.role == Role::Beacon {
        host.nodes.iter().find(|n| n.role == Role::Validator)
    } else {
        None
    }?;
    if node.client == ClientKind::Nimbus {
        if let Some(p) = node.metrics_port {
            return Some(duty::Source::Nimbus { metrics_port: p });
        }
    }
    let rest = host.beacon_api_port(node)?;
    Some(duty::Source::BeaconApi {
        rest_port: rest,
        keymanager_port: vc.keymanager_port?,
        token_file: vc.keymanager_token_file.as_ref()?.display().to_string(),
    })
}

/// The coarse per-node event older listeners (the TUI's rows) receive for `step`, if any.
fn event_of(step: &progress::Step) -> Option<Event> {
    use progress::Step;
    Some(match step {
        Step::Locked => Event::Locked,
        Step::Uploading { sent: 0, .. } => Event::Uploading,
        Step::Staged => Event::Staged,
        Step::WaitingForQuiet => Event::WaitingForQuiet,
        Step::Switching => Event::Switching,
        Step::Switched => Event::Switched,
        Step::GatePassed => Event::GatePassed,
        Step::Confirmed => Event::Confirmed,
        Step::RollingBack { .. } => Event::RollingBack,
        Step::RolledBack => Event::RolledBack,
        _ => return None,
    })
}

/// Report `step` of node `key`: to the progress reporter, and as an [`Event`] to `events`.
fn emit(opts: &Options, key: &str, step: progress::Step) {
    if let Some(e) = event_of(&step) {
        if let Some(tx) = &opts.events {
            let _ = tx.send((key.to_string(), e));
        }
        tracing::info!(node = key, event = ?e, "upgrade progress");
    }
    opts.progress.node(key, step);
}

/// Report that `o`'s node is done, then hand `o` back.
fn finished(opts: &Options, o: Outcome) -> Outcome {
    let result = serde_json::to_value(o.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    opts.progress
        .finished(&o.node, &result, o.failed(), &o.detail);
    o
}

#[allow(clippy::too_many_arguments)]
fn entry(
    t: &Target,
    opts: &Options,
    run: &str,
    action: &str,
    from: &str,
    to: &str,
    result: &str,
    detail: &str,
) -> Entry {
    Entry {
        time: journal::now(),
        who: opts.who.clone(),
        action: action.into(),
        node: t.key.clone(),
        from: from.into(),
        to: to.into(),
        result: result.into(),
        detail: nodeherd_core::facts::systemd::sanitize(detail),
        run: run.into(),
    }
}

/// What went wrong on a node's host during an action; the Display is the text users see (in the
/// outcome's detail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The link failed (one line, without the remote script).
    #[error("{0}")]
    Link(String),
    #[error("cannot read {dir}: {stderr}")]
    Unreadable { dir: String, stderr: String },
    #[error(
        "a guarded switch is still in flight on the host after {secs}s ({what}; guard unit {unit})"
    )]
    GuardStillRunning {
        unit: String,
        what: String,
        secs: u64,
    },
    #[error("cannot roll back an interrupted switch ({what}): {stderr}")]
    Recovery { what: String, stderr: String },
    #[error("the host's guard is in state `{state}` (unit {unit}) after {secs}s")]
    GuardState {
        state: String,
        unit: String,
        secs: u64,
    },
    #[error("cannot read {path}: {message}")]
    Artifact { path: String, message: String },
    #[error("upload failed: {0}")]
    Upload(String),
    #[error("staging failed: {0}")]
    StagingLink(String),
    #[error("staging failed, nothing switched: {0}")]
    Staging(String),
    /// A step of a first install (pointing `current`, writing the unit).
    #[error("{what} failed: {detail}")]
    Step { what: &'static str, detail: String },
    #[error("the unit is not active ({0})")]
    NotActive(String),
}

fn link(e: nodeherd_transport::ssh::SshError) -> HostError {
    HostError::Link(short(&e))
}

fn stderr_of(o: &nodeherd_transport::ssh::Output) -> String {
    nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
}

/// An SSH error in one line, without the (long) remote script it was running.
fn short(e: &nodeherd_transport::ssh::SshError) -> String {
    use nodeherd_transport::ssh::SshError;
    match e {
        SshError::Timeout { host, after, .. } => {
            format!("{host}: no answer within {}s", after.as_secs())
        }
        SshError::Stalled { host, after, .. } => {
            format!("{host}: no progress for {}s", after.as_secs())
        }
        SshError::Disconnected { host } => format!("{host}: connection lost"),
        other => other.to_string().lines().next().unwrap_or("").to_string(),
    }
}
