//! The upgrade engine: plans a run from feeds, policy and the hosts' layouts, then upgrades or
//! rolls back nodes one guarded switch at a time (canary, batches, stop rule).
//!
//! Owns: the order of steps for one node (lock, inspect, preconditions, stage, safe window,
//! guarded switch, health gate, confirm or abort, verify, prune, journal) and the fleet run.
//! May not touch: the terminal; it reports through [`Outcome`]s and optional [`Event`]s.

use crate::upgrade::artifact::{self, Artifact};
use crate::upgrade::duty;
use crate::upgrade::health;
use nodeherd_core::facts::layout::{self, Layout, SwitchSpec};
use nodeherd_core::journal::{self, Entry};
use crate::upgrade::lock;
use nodeherd_core::plan::upgrade::Step;
use crate::upgrade::rollout;
use nodeherd_core::inventory::{ClientKind, Inventory, NodeRef, Role};
use nodeherd_core::playbook::{Playbook, UpgradeSettings};
use nodeherd_core::releases::feed::Release;
use crate::feeds as fetch;
use nodeherd_core::releases::policy;
use nodeherd_transport::ssh::{Pool, Session};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
// tokio's clock: the real one in production, a paused one in tests (sleeps and deadlines alike)
use tokio::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

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
    /// Feeds and artifacts (default: online, through the caches).
    pub releases: Arc<dyn fetch::ReleaseSource>,
    /// The wall clock plans read (default: the system's).
    pub clock: Arc<dyn fetch::Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            who: journal::who(),
            force_unhealthy: false,
            wait_lock: Duration::ZERO,
            artifact_cache: artifact::default_cache_dir(),
            feed_cache: fetch::default_cache_dir(),
            events: None,
            releases: Arc::new(fetch::Online::default()),
            clock: Arc::new(fetch::SystemClock),
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
            Status::RolledBack | Status::Failed | Status::Refused
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
            .or_else(|| fetch::builtin_feed(self.node.client.as_str()))
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
    let rest = node.rest_port.or_else(|| {
        host.nodes
            .iter()
            .filter(|n| n.role == Role::Beacon || n.role == Role::Consensus)
            .find_map(|n| n.rest_port)
    })?;
    Some(duty::Source::BeaconApi {
        rest_port: rest,
        keymanager_port: vc.keymanager_port?,
        token_file: vc.keymanager_token_file.as_ref()?.display().to_string(),
    })
}

fn emit(opts: &Options, key: &str, e: Event) {
    if let Some(tx) = &opts.events {
        let _ = tx.send((key.to_string(), e));
    }
    tracing::info!(node = key, event = ?e, "upgrade progress");
}

async fn inspect(session: &Session, t: &Target) -> Result<Layout, String> {
    let o = session
        .exec(&layout::inspect_command(&t.install_dir(), &t.node.name))
        .await
        .map_err(|e| short(&e))?;
    if !o.success() {
        return Err(format!(
            "cannot read {}: {}",
            t.install_dir(),
            nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
        ));
    }
    Ok(layout::parse_inspect(&o.stdout_str()))
}

/// Wait while a guard of an earlier run still runs (it may be rolling back).
async fn wait_guard(session: &Session, t: &Target, limit: Duration) -> Result<Layout, String> {
    let start = Instant::now();
    loop {
        let l = inspect(session, t).await?;
        if !l.switch_running() {
            return Ok(l);
        }
        if start.elapsed() > limit {
            return Err(format!(
                "a guarded switch of an earlier run ({}) is still running on the host after {}s",
                layout::switch_unit(&t.node.name),
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
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

struct Ctx<'a> {
    session: &'a Session,
    t: &'a Target,
    opts: &'a Options,
    action: &'static str,
    start: Instant,
    /// Journal id shared by every line this action writes (console and host).
    run: String,
}

impl<'a> Ctx<'a> {
    fn new(session: &'a Session, t: &'a Target, opts: &'a Options, action: &'static str) -> Self {
        Ctx {
            session,
            t,
            opts,
            action,
            start: Instant::now(),
            run: token(),
        }
    }

    /// Take the node's host lock for `what` (waiting up to `wait_lock`). A refusal is journaled
    /// and comes back as the outcome to return.
    async fn lock(&self, what: &str, to: Option<&str>) -> Result<lock::LockGuard, Outcome> {
        let dir = self.t.install_dir();
        match lock::acquire_waiting(
            self.session,
            &dir,
            &self.t.key,
            &self.opts.who,
            what,
            self.opts.wait_lock,
        )
        .await
        {
            Ok(g) => {
                emit(self.opts, &self.t.key, Event::Locked);
                Ok(g)
            }
            Err(e) => {
                let o = self.outcome(None, to, Status::Refused, e.to_string(), vec![]);
                self.journal(&o, false).await;
                Err(o)
            }
        }
    }

    fn outcome(
        &self,
        from: Option<&str>,
        to: Option<&str>,
        status: Status,
        detail: String,
        logs: Vec<String>,
    ) -> Outcome {
        Outcome {
            node: self.t.key.clone(),
            action: self.action.into(),
            from: from.map(str::to_string),
            to: to.map(str::to_string),
            status,
            detail,
            logs,
            took: self.start.elapsed(),
        }
    }

    /// Journal an outcome decided on the console (locally always; on the host when `host`).
    async fn journal(&self, o: &Outcome, host_too: bool) {
        let result = match o.status {
            Status::Ok => "ok",
            Status::Unchanged => "unchanged",
            Status::RolledBack => "rolled-back (health gate failed)",
            Status::Refused => "refused",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        };
        let e = entry(
            self.t,
            self.opts,
            &self.run,
            self.action,
            o.from.as_deref().unwrap_or(""),
            o.to.as_deref().unwrap_or(""),
            result,
            &o.detail,
        );
        journal::append_local(&e);
        if host_too {
            let _ = self
                .session
                .exec(&layout::journal_append_command(&e.line()))
                .await;
        }
    }
}

/// Upgrade one node to `release` (artifact already verified on the console).
pub async fn upgrade_node(
    session: &Session,
    t: &Target,
    release: &Release,
    art: &Artifact,
    opts: &Options,
) -> Outcome {
    let to = release.version.to_string();
    let cx = Ctx::new(session, t, opts, "upgrade");
    upgrade_inner(&cx, &to, art).await
}

async fn upgrade_inner(cx: &Ctx<'_>, to: &str, art: &Artifact) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let dir = t.install_dir();
    let _guard = match cx.lock(&format!("upgrade to {to}"), Some(to)).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    let limit = t.settings.confirm_timeout + Duration::from_secs(90);
    let layout = match wait_guard(session, t, limit).await {
        Ok(l) => l,
        Err(e) => {
            let o = cx.outcome(None, Some(to), Status::Failed, e, vec![]);
            cx.journal(&o, false).await;
            return o;
        }
    };
    let Some(from) = layout.current.clone() else {
        let o = cx.outcome(
            None,
            Some(to),
            Status::Refused,
            format!("{dir} has no `current` link: not a nodeherd-managed install"),
            vec![],
        );
        cx.journal(&o, false).await;
        return o;
    };
    if from == to {
        return cx.outcome(
            Some(&from),
            Some(to),
            Status::Unchanged,
            format!("already on {to}"),
            vec![],
        );
    }
    let Some(rest_port) = t.node.rest_port else {
        let o = cx.outcome(
            Some(&from),
            Some(to),
            Status::Refused,
            "the node has no rest_port: no health gate possible".into(),
            vec![],
        );
        cx.journal(&o, false).await;
        return o;
    };
    if !opts.force_unhealthy {
        if let Err(f) = health::gate(
            session,
            &t.node.unit,
            rest_port,
            None,
            t.settings.accept_syncing,
            Duration::from_secs(90),
        )
        .await
        {
            let o = cx.outcome(
                Some(&from),
                Some(to),
                Status::Refused,
                format!("the node is not healthy before the upgrade ({}); use --force-unhealthy to upgrade anyway", f.reason),
                vec![],
            );
            cx.journal(&o, true).await;
            return o;
        }
    }
    if !layout.has(to) {
        emit(opts, &t.key, Event::Uploading);
        if let Err(e) = stage(session, &dir, to, art).await {
            let o = cx.outcome(Some(&from), Some(to), Status::Failed, e, vec![]);
            cx.journal(&o, true).await;
            return o;
        }
    }
    emit(opts, &t.key, Event::Staged);
    switch_and_gate(cx, &layout, &from, to).await
}

async fn stage(session: &Session, dir: &str, to: &str, art: &Artifact) -> Result<(), String> {
    // streamed from the verified file in the cache: never the whole artifact in memory
    let file = tokio::fs::File::open(&art.path)
        .await
        .map_err(|e| format!("cannot read {}: {e}", art.path.display()))?;
    let o = session
        .exec_with_stdin_file(&layout::receive_command(dir, &art.sha256), file)
        .await
        .map_err(|e| format!("upload failed: {}", short(&e)))?;
    if !o.success() {
        return Err(format!(
            "upload failed: {}",
            nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
        ));
    }
    let o = session
        .exec_with_timeout(
            &layout::stage_command(dir, &art.sha256, to),
            Duration::from_secs(600),
        )
        .await
        .map_err(|e| format!("staging failed: {}", short(&e)))?;
    if !o.success() {
        return Err(format!(
            "staging failed, nothing switched: {}",
            nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
        ));
    }
    Ok(())
}

fn token() -> String {
    use rand::Rng;
    let b: [u8; 8] = rand::thread_rng().r#gen();
    artifact::hex(&b)
}

async fn switch_state(
    session: &Session,
    dir: &str,
    tok: &str,
    node: &str,
) -> Result<(String, String), String> {
    let o = session
        .exec(&layout::switch_state_command(dir, tok, node))
        .await
        .map_err(|e| short(&e))?;
    Ok(layout::parse_switch_state(&o.stdout_str()))
}

async fn wait_state(
    session: &Session,
    dir: &str,
    tok: &str,
    node: &str,
    want: &[&str],
    limit: Duration,
) -> Result<String, String> {
    let start = Instant::now();
    loop {
        let (st, unit) = switch_state(session, dir, tok, node).await?;
        if want.contains(&st.as_str()) {
            return Ok(st);
        }
        if start.elapsed() > limit {
            return Err(format!(
                "the host's guard is in state `{st}` (unit {unit}) after {}s",
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Send `signal` (`confirm` / `abort`) to the host's guard of this switch, then wait until it
/// reports `state`.
async fn signal_and_wait(
    session: &Session,
    dir: &str,
    tok: &str,
    node: &str,
    (signal, state): (&str, &str),
    limit: Duration,
) -> Result<String, String> {
    session
        .exec(&layout::signal_command(dir, signal, tok))
        .await
        .map_err(|e| short(&e))?;
    wait_state(session, dir, tok, node, &[state], limit).await
}

/// The guarded switch from `from` to `to`, the health gate, then confirm or abort.
async fn switch_and_gate(cx: &Ctx<'_>, layout: &Layout, from: &str, to: &str) -> Outcome {
    let (session, t, opts) = (cx.session, cx.t, cx.opts);
    let dir = t.install_dir();
    let rest_port = t.node.rest_port.unwrap_or(0);
    if let Some(src) = &t.duty {
        emit(opts, &t.key, Event::WaitingForQuiet);
        if let Err(report) =
            duty::wait_quiet(session, src, t.settings.min_quiet, t.settings.max_wait).await
        {
            let o = cx.outcome(Some(from), Some(to), Status::Refused, report, vec![]);
            cx.journal(&o, true).await;
            return o;
        }
    }
    let tok = token();
    let confirm_secs = t
        .settings
        .confirm_timeout
        .max(t.settings.health_timeout + Duration::from_secs(30))
        .as_secs();
    let mk = |result: &str, detail: &str| {
        journal::tail_json(&entry(
            t, opts, &cx.run, cx.action, from, to, result, detail,
        ))
    };
    let spec = SwitchSpec {
        install_dir: &dir,
        unit: &t.node.unit,
        node: &t.node.name,
        new: to,
        old: from,
        prev_before: layout.previous.as_deref().filter(|p| *p != to),
        confirm_secs,
        token: &tok,
        journal_ok: mk("ok", "health gate passed and confirmed"),
        journal_no_confirm: mk(
            "rolled-back (no confirmation)",
            &format!("no confirmation from the console within {confirm_secs}s"),
        ),
        journal_gate_failed: mk(
            "rolled-back (health gate failed)",
            "the console's health gate failed",
        ),
    };
    emit(opts, &t.key, Event::Switching);
    let lost = |step: &str, e: String| {
        cx.outcome(
            Some(from),
            Some(to),
            Status::Failed,
            format!(
                "connection lost {step} ({e}); the host's guard switches back to {from} by itself within {confirm_secs}s unless confirmed; run again to complete"
            ),
            vec![],
        )
    };
    match session.exec(&layout::switch_command(&spec)).await {
        Ok(o) if o.success() => {}
        Ok(o) => {
            let o = cx.outcome(
                Some(from),
                Some(to),
                Status::Failed,
                format!(
                    "cannot start the guarded switch: {}",
                    nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
                ),
                vec![],
            );
            cx.journal(&o, true).await;
            return o;
        }
        Err(e) => {
            let o = lost("while starting the switch", e.to_string());
            cx.journal(&o, false).await;
            return o;
        }
    }
    if let Err(e) = wait_state(
        session,
        &dir,
        &tok,
        &t.node.name,
        &["switched", "confirmed"],
        Duration::from_secs(120),
    )
    .await
    {
        let o = lost("after starting the switch", e);
        cx.journal(&o, false).await;
        return o;
    }
    emit(opts, &t.key, Event::Switched);
    let gate = health::gate(
        session,
        &t.node.unit,
        rest_port,
        Some(to),
        t.settings.accept_syncing,
        t.settings.health_timeout,
    )
    .await;
    match gate {
        Ok(_) => {
            emit(opts, &t.key, Event::GatePassed);
            let confirmed = signal_and_wait(
                session,
                &dir,
                &tok,
                &t.node.name,
                ("confirm", "confirmed"),
                Duration::from_secs(60),
            )
            .await;
            if let Err(e) = confirmed {
                let o = lost("while confirming", e);
                cx.journal(&o, false).await;
                return o;
            }
            emit(opts, &t.key, Event::Confirmed);
            // Prune old releases (never current/previous); best effort.
            if let Ok(l) = inspect(session, t).await {
                let rm = layout::prune_list(
                    &l.releases,
                    l.current.as_deref(),
                    l.previous.as_deref(),
                    t.settings.keep,
                );
                let _ = session.exec(&layout::prune_command(&dir, &rm)).await;
            }
            let o = cx.outcome(
                Some(from),
                Some(to),
                Status::Ok,
                "healthy and confirmed".into(),
                vec![],
            );
            // The host journal line was written by the guard itself.
            cx.journal(&o, false).await;
            o
        }
        Err(f) => {
            let logs = journal_tail(session, &t.node.unit).await;
            emit(opts, &t.key, Event::RollingBack);
            let back = signal_and_wait(
                session,
                &dir,
                &tok,
                &t.node.name,
                ("abort", "rolled-back"),
                Duration::from_secs(120),
            )
            .await;
            if let Err(e) = back {
                let o = lost("while rolling back", e);
                cx.journal(&o, false).await;
                return o;
            }
            emit(opts, &t.key, Event::RolledBack);
            let verify = health::gate(
                session,
                &t.node.unit,
                rest_port,
                Some(from),
                t.settings.accept_syncing,
                t.settings.health_timeout,
            )
            .await;
            let detail = match verify {
                Ok(_) => format!(
                    "{to} failed the health gate ({}); rolled back, {from} is healthy again",
                    f.reason
                ),
                Err(v) => format!(
                    "{to} failed the health gate ({}); rolled back to {from}, but {from} is NOT healthy: {}",
                    f.reason, v.reason
                ),
            };
            let status = Status::RolledBack;
            let o = cx.outcome(Some(from), Some(to), status, detail, logs);
            cx.journal(&o, false).await;
            o
        }
    }
}

/// Roll one node back to `to` (default: `previous`), through the same guarded switch.
pub async fn rollback_node(
    session: &Session,
    t: &Target,
    to: Option<&str>,
    opts: &Options,
) -> Outcome {
    let cx = Ctx::new(session, t, opts, "rollback");
    let dir = t.install_dir();
    let _guard = match cx.lock("rollback", to).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    let layout = match wait_guard(
        session,
        t,
        t.settings.confirm_timeout + Duration::from_secs(90),
    )
    .await
    {
        Ok(l) => l,
        Err(e) => return cx.outcome(None, to, Status::Failed, e, vec![]),
    };
    let Some(from) = layout.current.clone() else {
        return cx.outcome(
            None,
            to,
            Status::Refused,
            format!("{dir} has no `current` link"),
            vec![],
        );
    };
    let target = match to.map(str::to_string).or(layout.previous.clone()) {
        Some(v) => v,
        None => {
            let o = cx.outcome(
                Some(&from),
                None,
                Status::Refused,
                "no `previous` release recorded; pass --to VERSION".into(),
                vec![],
            );
            cx.journal(&o, false).await;
            return o;
        }
    };
    if target == from {
        return cx.outcome(
            Some(&from),
            Some(&target),
            Status::Unchanged,
            format!("already on {from}"),
            vec![],
        );
    }
    if !layout.has(&target) {
        let o = cx.outcome(
            Some(&from),
            Some(&target),
            Status::Refused,
            format!(
                "release {target} is not on the host (present: {})",
                layout.releases.join(", ")
            ),
            vec![],
        );
        cx.journal(&o, false).await;
        return o;
    }
    if t.node.rest_port.is_none() {
        return cx.outcome(
            Some(&from),
            Some(&target),
            Status::Refused,
            "the node has no rest_port: no health gate possible".into(),
            vec![],
        );
    }
    switch_and_gate(&cx, &layout, &from, &target).await
}

// ------------------------------------------------------------------------------------------
// Provisioning: a first install on a host that does not run the node yet

/// What a first install writes besides the release (built and validated by the caller).
#[derive(Debug, Clone)]
pub struct InstallSpec<'a> {
    pub version: &'a str,
    /// The unit file text (travels as stdin, never through a shell).
    pub unit_text: &'a str,
    /// The first line a file must have to be replaced (one nodeherd wrote).
    pub marker: &'a str,
    /// Enable and start it (false: declared stopped; the unit is written but not enabled).
    pub start: bool,
}

async fn journal_tail(session: &Session, unit: &str) -> Vec<String> {
    session
        .exec(&nodeherd_core::facts::systemd::journal_command(unit, 15, false))
        .await
        .map(|o| {
            o.stdout_str()
                .lines()
                .map(|l| nodeherd_core::facts::systemd::sanitize(&nodeherd_core::facts::systemd::parse_journal_line(l).message))
                .collect()
        })
        .unwrap_or_default()
}

/// Install a node whose unit does not exist yet: under the node's host lock, stage the release
/// (upload, verify the digest on the host, unpack into `releases/<v>/`) unless already there,
/// point `current` at it, write the unit file, `daemon-reload`, `enable --now`, then the health
/// gate (or, without a rest_port, the unit staying active). Journals locally and on the host.
/// Never deletes anything: on failure the staged release and the unit stay for inspection.
pub async fn install_node(
    session: &Session,
    t: &Target,
    spec: &InstallSpec<'_>,
    art: &Artifact,
    opts: &Options,
) -> Outcome {
    let cx = Ctx::new(session, t, opts, "install");
    let to = spec.version;
    let dir = t.install_dir();
    let _guard = match cx.lock(&format!("install {to}"), Some(to)).await {
        Ok(g) => g,
        Err(o) => return o,
    };
    let layout = match wait_guard(session, t, t.settings.confirm_timeout).await {
        Ok(l) => l,
        Err(e) => {
            let o = cx.outcome(None, Some(to), Status::Failed, e, vec![]);
            cx.journal(&o, false).await;
            return o;
        }
    };
    let fail = |detail: String, logs: Vec<String>| {
        cx.outcome(
            layout.current.as_deref(),
            Some(to),
            Status::Failed,
            detail,
            logs,
        )
    };
    if !layout.has(to) {
        emit(opts, &t.key, Event::Uploading);
        if let Err(e) = stage(session, &dir, to, art).await {
            let o = fail(e, vec![]);
            cx.journal(&o, true).await;
            return o;
        }
    }
    emit(opts, &t.key, Event::Staged);
    let stderr = |o: &nodeherd_transport::ssh::Output| {
        nodeherd_core::facts::systemd::sanitize(String::from_utf8_lossy(&o.stderr).trim())
    };
    let steps: [(&str, nodeherd_core::remote::Command, Option<&[u8]>); 2] = [
        (
            "pointing current",
            layout::point_current_command(&dir, to),
            None,
        ),
        (
            "writing the unit",
            layout::write_unit_command(&t.node.unit, spec.marker, spec.unit_text.len()),
            Some(spec.unit_text.as_bytes()),
        ),
    ];
    for (what, cmd, stdin) in steps {
        let r = match stdin {
            Some(b) => session.exec_with_stdin(&cmd, b).await,
            None => session.exec(&cmd).await,
        };
        let err = match r {
            Ok(o) if o.success() => None,
            Ok(o) => Some(stderr(&o)),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = err {
            let o = fail(format!("{what} failed: {e}"), vec![]);
            cx.journal(&o, true).await;
            return o;
        }
    }
    if !spec.start {
        let o = cx.outcome(
            None,
            Some(to),
            Status::Ok,
            format!("installed {to}; unit written, not enabled (declared stopped)"),
            vec![],
        );
        cx.journal(&o, true).await;
        return o;
    }
    emit(opts, &t.key, Event::Switching);
    let enable = nodeherd_core::remote::Command::new("systemctl")
        .arg("enable")
        .arg("--now")
        .arg(&t.node.unit);
    match session
        .exec_with_timeout(&enable, Duration::from_secs(120))
        .await
    {
        Ok(o) if o.success() => {}
        Ok(o) => {
            let logs = journal_tail(session, &t.node.unit).await;
            let o = fail(
                format!("systemctl enable --now failed: {}", stderr(&o)),
                logs,
            );
            cx.journal(&o, true).await;
            return o;
        }
        Err(e) => {
            let o = fail(format!("systemctl enable --now: {e}"), vec![]);
            cx.journal(&o, false).await;
            return o;
        }
    }
    emit(opts, &t.key, Event::Switched);
    let gate = match t.node.rest_port {
        Some(port) => health::gate(
            session,
            &t.node.unit,
            port,
            Some(to),
            t.settings.accept_syncing,
            t.settings.health_timeout,
        )
        .await
        .map_err(|f| f.reason),
        None => stays_active(session, &t.node.unit, Duration::from_secs(20)).await,
    };
    let o = match gate {
        Ok(took) => {
            emit(opts, &t.key, Event::GatePassed);
            cx.outcome(
                None,
                Some(to),
                Status::Ok,
                format!(
                    "installed {to}, enabled and started; healthy after {:.0}s",
                    took.as_secs_f64()
                ),
                vec![],
            )
        }
        Err(reason) => {
            let logs = journal_tail(session, &t.node.unit).await;
            fail(
                format!("installed {to} and started, but {reason}; left in place for inspection"),
                logs,
            )
        }
    };
    cx.journal(&o, true).await;
    o
}

/// Without a Beacon API: the unit must be active at the end of `window` (and at every poll).
async fn stays_active(session: &Session, unit: &str, window: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    loop {
        let o = session
            .exec(&nodeherd_core::facts::systemd::show_command(&[unit]))
            .await
            .map_err(|e| e.to_string())?;
        let st = nodeherd_core::facts::systemd::parse_show(&o.stdout_str());
        let active = st.first().is_some_and(|u| u.is_active());
        if !active && start.elapsed() > Duration::from_secs(5) {
            return Err(format!(
                "the unit is not active ({})",
                st.first()
                    .map(|u| format!("{}/{}", u.active_state, u.sub_state))
                    .unwrap_or_default()
            ));
        }
        if start.elapsed() >= window {
            return Ok(start.elapsed());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Download/verify the artifact of `version` from the node's feed, connect, install.
pub async fn install_one(
    pool: &Pool,
    t: &Target,
    releases: &[Release],
    spec: &InstallSpec<'_>,
    opts: &Options,
) -> Outcome {
    let start = Instant::now();
    let fail = |status: Status, detail: String| Outcome {
        node: t.key.clone(),
        action: "install".into(),
        from: None,
        to: Some(spec.version.to_string()),
        status,
        detail,
        logs: vec![],
        took: start.elapsed(),
    };
    let Some(rel) = releases
        .iter()
        .find(|r| r.version.to_string() == spec.version)
    else {
        return fail(
            Status::Refused,
            format!(
                "{} is not in the node's release feed ({})",
                spec.version,
                t.feed().unwrap_or_else(|| "no feed".into())
            ),
        );
    };
    let art = match opts.releases.artifact(rel, &opts.artifact_cache).await {
        Ok(a) => a,
        Err(e) => {
            let o = fail(Status::Refused, e.to_string());
            journal::append_local(&entry(
                t,
                opts,
                "",
                "install",
                "",
                spec.version,
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
    install_node(&session, t, spec, &art, opts).await
}

// ------------------------------------------------------------------------------------------
// Planning and fleet runs

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
    #[serde(skip)]
    pub release: Option<Release>,
}

/// Feeds by source, fetched once each.
pub async fn fetch_feeds(
    targets: &[Target],
    opts: &Options,
) -> BTreeMap<String, Result<Vec<Release>, String>> {
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
    let (target, reason, release) = if let Some(want) = to {
        match pick(want) {
            Some(r) if Some(want) == running => (None, format!("already on {want}"), Some(r)),
            Some(r) => (
                Some(want.to_string()),
                format!("--to {want} (explicit; policy delay not applied)"),
                Some(r),
            ),
            None => (None, format!("{want} is not in the feed"), None),
        }
    } else if !nodeherd_core::playbook::window_allowed(&t.settings.windows, now) {
        why.push("outside every maintenance window".into());
        (None, "outside the maintenance windows".into(), None)
    } else if v.upgrade {
        let a = v
            .allowed
            .as_ref()
            .map(|a| a.to_string())
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
        release,
    }
}

/// Read the running versions (from the hosts' `current` links) of every target.
pub async fn running_versions(pool: &Pool, targets: &[Target]) -> Vec<Result<Layout, String>> {
    let items: Vec<usize> = (0..targets.len()).collect();
    let res = crate::fleet::run_all(items, 10, |i| {
        let t = &targets[i];
        async move {
            let s = pool
                .session(&t.host.target)
                .await
                .map_err(|e| e.to_string())?;
            inspect(&s, t).await
        }
    })
    .await;
    res.into_iter().map(|(_, r)| r).collect()
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
    targets
        .iter()
        .zip(layouts)
        .map(|(t, l)| {
            let running = l.as_ref().ok().and_then(|l| l.current.clone());
            let previous = l.as_ref().ok().and_then(|l| l.previous.clone());
            let releases = match t.feed().and_then(|f| feeds.get(&f)) {
                Some(Ok(r)) => r.clone(),
                Some(Err(e)) => {
                    let mut p = plan_node(t, running.as_deref(), &[], None, now);
                    p.step.reason = format!("feed unavailable: {e}");
                    p.previous = previous;
                    return p;
                }
                None => vec![],
            };
            let mut p = plan_node(t, running.as_deref(), &releases, to, now);
            p.previous = previous;
            if let Err(e) = l {
                p.step.to = None;
                p.step.reason = format!("host unreachable: {e}");
            }
            p
        })
        .collect()
}

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

/// An SSH error in one line, without the (long) remote script it was running.
fn short(e: &nodeherd_transport::ssh::SshError) -> String {
    use nodeherd_transport::ssh::SshError;
    match e {
        SshError::Timeout { host, after, .. } => {
            format!("{host}: no answer within {}s", after.as_secs())
        }
        SshError::Disconnected { host } => format!("{host}: connection lost"),
        other => other.to_string().lines().next().unwrap_or("").to_string(),
    }
}
