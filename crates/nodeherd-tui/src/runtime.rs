//! The runtime: terminal guard, input and signal tasks, workers, and the one event loop.
//!
//! Owns: the terminal (raw mode, alternate screen, restore on every exit path), the tasks that
//! feed [`Msg`]s into the one channel (input, signals, status poller, log follow, actions), and the
//! loop that drains the channel, reduces with [`update`], performs [`Effect`]s and draws at most
//! ~60 times a second when something changed. Input never waits on the network: workers only
//! send messages. May not touch: state transitions (that is the reducer) or how screens look.
//! [`event_loop`] is generic over the backend so tests drive it with `TestBackend`.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::feed::{self, AlertWatch};
use crate::msg::{Effect, Msg, PlanInputs};
use crate::state::{App, HistoryData, HostKeyAsk, NodeKeys};
use crate::update::update;
use crate::views;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::keys::Secret;
use nodeherd_engine::apply::lock::ApplyLock;
use nodeherd_engine::apply::run;
use nodeherd_engine::keys::files::{FileError, OpenError, open_keystore};
use nodeherd_engine::keys::{ImportError, ImportFiles, RemoveNodeError};
use nodeherd_engine::metrics::{GatherOptions, MetricsStore};
use nodeherd_engine::site::{Site, SitePlan};
use nodeherd_engine::upgrade::engine::{
    Event, Options as UpgradeOptions, Outcome, Status, Target, plan_all, rollback_node, upgrade_one,
};
use nodeherd_transport::ssh::{Pool, UnknownKey, UnknownKeyHandler};

/// Shortest time between two frames (~60 fps).
pub const MIN_FRAME: Duration = Duration::from_millis(16);

/// Errors that end the TUI.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("the terminal failed: {0}")]
    Terminal(String),
    #[error("nodeherd tui needs a terminal (stdin and stdout must be a TTY)")]
    NotATerminal,
}

/// Knobs of the workers.
#[derive(Debug, Clone)]
pub struct Config {
    /// Time between two status polls.
    pub poll_every: Duration,
    /// Hosts polled at once.
    pub forks: usize,
    /// Past journal lines fetched when the detail screen opens.
    pub log_lines: usize,
    /// Scrape metrics and evaluate alerts every poll (off: only systemd status).
    pub metrics: bool,
    /// The alerts file (rules); `None`: the built-in rules. Channels in it are ignored.
    pub alerts_file: Option<PathBuf>,
    /// The saved alert state, read once for silences and pending alerts; never written.
    pub alerts_state: Option<PathBuf>,
    /// The upgrade playbook for the releases screen; `None`: default policy.
    pub playbook: Option<PathBuf>,
    /// The playbook with the declared state for the plan screen; `None`: no plan.
    pub site_playbook: Option<PathBuf>,
    /// Silences asked for in this session, taken up by the poller's alert engine.
    pub silences: SilenceQueue,
}

/// Silences waiting for the poller (`:silence`).
pub type SilenceQueue =
    Arc<std::sync::Mutex<Vec<(nodeherd_core::alerts::engine::SilenceMatcher, DateTime<Utc>)>>>;

impl Default for Config {
    fn default() -> Self {
        Config {
            poll_every: Duration::from_secs(5),
            forks: nodeherd_engine::fleet::DEFAULT_FORKS,
            log_lines: 200,
            metrics: true,
            alerts_file: None,
            alerts_state: None,
            playbook: None,
            site_playbook: None,
            silences: SilenceQueue::default(),
        }
    }
}

/// What the workers act on: injected, so tests bring their own pool and inventory.
#[derive(Clone)]
pub struct World {
    pub pool: Arc<Pool>,
    pub inv: Arc<Inventory>,
    /// The nodes of this session (the selector's result).
    pub nodes: Vec<NodeRef>,
    pub config: Config,
}

/// Called after every drawn frame (tests watch the screen through it).
pub type DrawHook<'a> = Box<dyn FnMut(&App, &Buffer) + Send + 'a>;
/// Suspends the process with the terminal restored; returns once resumed (real terminals only).
pub type SuspendHook<'a, B> = Box<dyn FnMut(&mut Terminal<B>) -> io::Result<()> + 'a>;

/// Optional behaviour around the loop.
pub struct Hooks<'a, B: Backend> {
    pub on_draw: Option<DrawHook<'a>>,
    pub suspend: Option<SuspendHook<'a, B>>,
}

impl<B: Backend> Default for Hooks<'_, B> {
    fn default() -> Self {
        Hooks {
            on_draw: None,
            suspend: None,
        }
    }
}

/// A host-key handler for [`nodeherd_transport::ssh::ConnectOptions`] that asks the TUI: the question goes
/// into the channel with a reply sender; no answer (UI gone) means refuse.
pub fn host_key_handler(tx: mpsc::UnboundedSender<Msg>) -> UnknownKeyHandler {
    Arc::new(move |k: UnknownKey| {
        let tx = tx.clone();
        async move {
            let (reply, answer) = oneshot::channel();
            let ask = HostKeyAsk {
                host: k.host,
                address: k.address,
                port: k.port,
                key_type: k.key_type,
                fingerprint: k.fingerprint,
            };
            if tx.send(Msg::HostKeyQuestion { ask, reply }).is_err() {
                return false;
            }
            answer.await.unwrap_or(false)
        }
        .boxed()
    })
}

/// The tasks the loop started; all are stopped when it ends.
struct Workers {
    poll_now: Arc<Notify>,
    poller: Option<JoinHandle<()>>,
    logs: Option<JoinHandle<()>>,
    actions: Vec<JoinHandle<()>>,
    /// On-demand loaders (releases plan, keys).
    loaders: Vec<JoinHandle<()>>,
    /// Key removals, imports and moves: NEVER aborted (a removal cut between DELETE and saving
    /// its slashing data would lose that data; a move cut half-way leaves the key on no node);
    /// the loop waits for them before it returns.
    removals: Vec<JoinHandle<()>>,
    /// Applies, upgrades and rollbacks: never aborted either (a switch cut in the middle leaves
    /// the host's guard to clean up); the loop waits for them before it returns.
    engines: Vec<JoinHandle<()>>,
}

impl Workers {
    fn stop_all(&mut self) {
        if let Some(p) = self.poller.take() {
            p.abort();
        }
        if let Some(l) = self.logs.take() {
            l.abort();
        }
        for a in self.actions.drain(..).chain(self.loaders.drain(..)) {
            a.abort();
        }
    }
}

/// The rules and saved state the TUI's private alert engine starts from (problems are flashed and
/// the built-in rules / an empty state are used instead).
fn alert_watch(config: &Config, tx: &mpsc::UnboundedSender<Msg>) -> AlertWatch {
    let notice = |text: String| {
        tracing::warn!("{text}");
        let _ = tx.send(Msg::Notice { text, error: true });
    };
    let rules = match &config.alerts_file {
        Some(p) => match nodeherd_engine::alerts::load_config(p, false) {
            Ok(c) => c.rules,
            Err(e) => {
                notice(format!("alerts: {e}; using the built-in rules"));
                nodeherd_core::alerts::default_rules()
            }
        },
        None => nodeherd_core::alerts::default_rules(),
    };
    let state = match &config.alerts_state {
        Some(p) => nodeherd_engine::alerts::load_state(p).unwrap_or_else(|e| {
            notice(format!("alerts: {e}"));
            Default::default()
        }),
        None => Default::default(),
    };
    AlertWatch::new(rules, state)
}

/// Every poll: systemd status (sent as soon as it is in), and, concurrently, metrics through the
/// same pool; then one `Msg::Metrics` per node and the alert list. Alerts are evaluated by the
/// TUI's own engine and never delivered (see [`AlertWatch`]).
fn spawn_poller(world: &World, tx: mpsc::UnboundedSender<Msg>, now: Arc<Notify>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let cfg = &world.config;
        // 30 minutes of history at the default 5 s poll
        let mut store = MetricsStore::new(360);
        let mut watch = cfg.metrics.then(|| alert_watch(cfg, &tx));
        let opts = GatherOptions {
            forks: cfg.forks,
            rate_window: None,
            beacon_api: true,
        };
        loop {
            if tx.send(Msg::PollStarted).is_err() {
                return;
            }
            let status = async {
                let batch = nodeherd_engine::status::gather(
                    &world.pool,
                    &world.inv,
                    &world.nodes,
                    cfg.forks,
                )
                .await;
                let _ = tx.send(Msg::StatusBatch(batch.clone()));
                batch
            };
            if cfg.metrics {
                let scrape = nodeherd_engine::metrics::gather(
                    &world.pool,
                    &world.inv,
                    &world.nodes,
                    &opts,
                    Some(&store),
                );
                let (statuses, snap) = tokio::join!(status, scrape);
                store.record(&snap);
                for (host, node, metrics) in feed::node_metrics(&snap, &store) {
                    if tx
                        .send(Msg::Metrics {
                            host,
                            node,
                            metrics,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
                if let Some(w) = watch.as_mut() {
                    let asked: Vec<_> = match cfg.silences.lock() {
                        Ok(mut q) => q.drain(..).collect(),
                        Err(_) => Vec::new(),
                    };
                    for (m, until) in asked {
                        w.silence(m, until);
                    }
                    let obs = nodeherd_engine::alerts::observations(&statuses, &snap);
                    if tx.send(Msg::Alerts(w.observe(Utc::now(), &obs))).is_err() {
                        return;
                    }
                }
            } else {
                status.await;
            }
            if tx.is_closed() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(cfg.poll_every) => {}
                _ = now.notified() => {}
            }
        }
    })
}

fn spawn_logs(world: &World, node: NodeRef, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let (ltx, mut lrx) = mpsc::channel(256);
        let forward = {
            let tx = tx.clone();
            async move {
                while let Some(line) = lrx.recv().await {
                    if tx.send(Msg::LogLine { node, line }).is_err() {
                        return;
                    }
                }
            }
        };
        let follow = nodeherd_engine::logs::follow(
            &world.pool,
            &world.inv,
            node,
            world.config.log_lines,
            ltx,
        );
        let (res, ()) = tokio::join!(follow, forward);
        let error = res
            .err()
            .map(|e| nodeherd_core::facts::systemd::sanitize(&e.to_string()));
        let _ = tx.send(Msg::LogEnded { node, error });
    })
}

/// Plan releases for the session's nodes that follow a feed (feeds fetched through the feed
/// cache, running versions read over SSH) and send the rows.
fn spawn_releases(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let r = async {
            let pb = match &world.config.playbook {
                Some(p) => nodeherd_core::playbook::Playbook::load(p).map_err(|e| e.to_string())?,
                None => nodeherd_core::playbook::Playbook::default(),
            };
            let targets: Vec<Target> = world
                .nodes
                .iter()
                .map(|r| Target::new(&world.inv, *r, &pb))
                .filter(|t| t.feed().is_some())
                .collect();
            let plans = plan_all(&world.pool, &targets, None, &UpgradeOptions::default()).await;
            Ok(feed::release_rows(&targets, &plans))
        }
        .await
        .map_err(|e: String| nodeherd_core::facts::systemd::sanitize(&e));
        let _ = tx.send(Msg::Releases(r));
    })
}

/// List the keys of every key source of the session (at most `forks` nodes of each kind at once,
/// one error per node).
fn spawn_keys(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let fleet = nodeherd_engine::keys::list_fleet(
            &world.pool,
            &world.inv,
            &world.nodes,
            world.config.forks,
            false,
        )
        .await;
        let sanitize =
            |e: &dyn std::fmt::Display| nodeherd_core::facts::systemd::sanitize(&e.to_string());
        let entry = |r: NodeRef, keys, cosmos| {
            let (h, n) = world.inv.node(r);
            NodeKeys {
                r,
                host: h.name.clone(),
                node: n.name.clone(),
                keys,
                cosmos,
            }
        };
        let mut lists: Vec<NodeKeys> = fleet
            .validators
            .into_iter()
            .map(|(r, res)| {
                let (h, n) = world.inv.node(r);
                let keys = res
                    .map(|rows| feed::key_entries(r, &h.name, &n.name, rows))
                    .map_err(|e| sanitize(&e));
                entry(r, keys, false)
            })
            .collect();
        // CometBFT consensus keys: the public half only (see nodeherd_engine::keys::consensus)
        lists.extend(fleet.consensus.into_iter().map(|(r, res)| {
            let (h, n) = world.inv.node(r);
            let keys = res
                .map(|row| vec![feed::cosmos_entry(r, &h.name, &n.name, row)])
                .map_err(|e| sanitize(&e));
            entry(r, keys, true)
        }));
        let _ = tx.send(Msg::Keys(lists));
    })
}

/// Remove one key with `nodeherd_engine::keys::remove` (slashing data saved to the console state dir and the
/// host before anything else; nothing is removed when that cannot be done) and report.
fn spawn_remove_key(
    world: &World,
    r: NodeRef,
    pubkey: String,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let label = nodeherd_engine::keys::label(&world.inv, r);
        let short = crate::state::short_pubkey(&pubkey);
        tracing::info!(node = %label, pubkey = %pubkey, "tui key remove");
        let fail = |e: String| (false, format!("remove {short} from {label}: {e}"));
        let (ok, text) = async {
            let Some(dir) = nodeherd_engine::keys::console_state_dir() else {
                return fail(
                    "no state directory (set HOME or XDG_STATE_HOME); nothing removed".into(),
                );
            };
            let removed = nodeherd_engine::keys::remove_from_node(
                &world.pool,
                &world.inv,
                r,
                std::slice::from_ref(&pubkey),
                &dir,
            )
            .await;
            match removed {
                Ok(o) => {
                    if !o.saved() {
                        // the only copy may be this one: keep it in the log file
                        tracing::error!(
                            node = %label,
                            slashing_protection = %o.slashing_protection,
                            "slashing protection data was not saved everywhere"
                        );
                    }
                    feed::remove_summary(&o)
                }
                Err(e @ (RemoveNodeError::Connect(_) | RemoveNodeError::Session(_))) => {
                    fail(format!("{e}; nothing removed"))
                }
                Err(e @ RemoveNodeError::Remove(_)) => fail(e.to_string()),
            }
        }
        .await;
        let _ = tx.send(Msg::KeyRemoved {
            pubkey,
            ok,
            text: nodeherd_core::facts::systemd::sanitize(&text),
        });
    })
}

/// Why an `:import` was refused before anything was sent.
#[derive(Debug, thiserror::Error)]
enum ImportCheckError {
    #[error("{0}")]
    Files(#[from] FileError),
    #[error(
        "import refused by the double-sign guard: {0} (nodeherd keys import --i-understand-double-signing-risk is the only override)"
    )]
    Guard(String),
}

/// Read and check what an `:import` names: keystores (their pubkeys), the password file, the
/// slashing file; then the double-sign guard over every other validator node of the inventory.
async fn read_and_guard(
    world: &World,
    c: &crate::keycmd::ImportCmd,
) -> Result<(crate::state::ImportAsk, ImportFiles, Secret<String>), ImportCheckError> {
    let mut material = nodeherd_engine::keys::read_import_files(
        &c.files,
        Some(&c.password_file),
        c.slashing.as_deref(),
    )?;
    let password = material
        .password
        .take()
        .unwrap_or_else(|| Secret::new(String::new()));
    let pubkeys = material.pubkeys();
    let problems =
        nodeherd_engine::keys::double_sign_guard(&world.inv, &world.pool, &pubkeys, &[c.node])
            .await;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        return Err(ImportCheckError::Guard(list.join("; ")));
    }
    let guard_asked = nodeherd_engine::keys::keymanager_nodes(&world.inv)
        .into_iter()
        .filter(|r| *r != c.node)
        .count();
    let (h, n) = world.inv.node(c.node);
    let ask = crate::state::ImportAsk {
        r: c.node,
        host: h.name.clone(),
        node: n.name.clone(),
        files: c.files.clone(),
        pubkeys,
        password_file: c.password_file.clone(),
        slashing: c.slashing.clone(),
        guard_asked,
    };
    Ok((ask, material, password))
}

/// A confirmed import: everything is read and checked again (the files and the fleet may have
/// changed while the dialog was open), then `POST /eth/v1/keystores` with what was read.
async fn run_import(world: &World, ask: &crate::state::ImportAsk) -> (bool, String) {
    let at = format!("{}/{}", ask.host, ask.node);
    let again = crate::keycmd::ImportCmd {
        node: ask.r,
        files: ask.files.clone(),
        password_file: ask.password_file.clone(),
        slashing: ask.slashing.clone(),
    };
    let (checked, material, password) = match read_and_guard(world, &again).await {
        Ok(x) => x,
        Err(e) => return (false, format!("nothing imported into {at}: {e}")),
    };
    if checked.pubkeys != ask.pubkeys {
        return (
            false,
            format!("nothing imported into {at}: the keystore files changed since the dialog"),
        );
    }
    let imported = nodeherd_engine::keys::import_into(
        &world.pool,
        &world.inv,
        ask.r,
        &material.keystores,
        &password,
        material.slashing.as_deref(),
    )
    .await;
    match imported {
        Ok(results) => feed::import_summary(&at, &ask.pubkeys, &results),
        Err(e @ ImportError::Connect(_)) => (false, format!("nothing imported into {at}: {e}")),
        Err(e @ ImportError::Import(_)) => (false, format!("import into {at} failed: {e}")),
    }
}

/// Check a `:move`: the keystore must open with the password to exactly the key (one KDF run,
/// off the async workers).
async fn check_move(
    world: &World,
    c: &crate::keycmd::MoveCmd,
) -> Result<crate::state::MoveAsk, OpenError> {
    open_keystore(&c.keystore, &c.password_file, &c.pubkey).await?;
    Ok(crate::state::MoveAsk {
        pubkey: c.pubkey.clone(),
        from: c.from,
        from_label: nodeherd_engine::keys::label(&world.inv, c.from),
        to: c.to,
        to_label: nodeherd_engine::keys::label(&world.inv, c.to),
        keystore: c.keystore.clone(),
        password_file: c.password_file.clone(),
    })
}

/// A confirmed move, through the same engine as `nodeherd keys move`.
async fn run_move(world: &World, ask: &crate::state::MoveAsk) -> (bool, String) {
    let short = crate::state::short_pubkey(&ask.pubkey);
    let Some(dir) = nodeherd_engine::keys::console_state_dir() else {
        return (
            false,
            format!(
                "move of {short}: no state directory (set HOME or XDG_STATE_HOME); nothing changed"
            ),
        );
    };
    let (text, pw) = match open_keystore(&ask.keystore, &ask.password_file, &ask.pubkey).await {
        Ok(x) => x,
        Err(e) => return (false, format!("move of {short}: {e}; nothing changed")),
    };
    let report = nodeherd_engine::keys::move_key(
        &world.inv,
        &world.pool,
        &ask.pubkey,
        ask.from,
        ask.to,
        &text,
        &pw,
        &dir,
        false,
    )
    .await;
    for step in &report.steps {
        tracing::info!(pubkey = %ask.pubkey, step = %step, "tui key move");
    }
    feed::move_summary(&report, &ask.pubkey, &ask.from_label, &ask.to_label)
}

/// Gather facts and plan the site playbook; the inputs travel with the plan so an apply runs
/// exactly what was shown and confirmed.
fn spawn_plan(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let r = async {
            let Some(path) = world.config.site_playbook.clone() else {
                return Err("no playbook".to_string());
            };
            let site = nodeherd_engine::site::load(&path, &world.inv).map_err(|e| e.one_line())?;
            let opts = UpgradeOptions::default();
            let SitePlan {
                plan,
                refs,
                gathered,
            } = nodeherd_engine::site::plan(
                &world.pool,
                &world.inv,
                &world.nodes,
                world.config.forks,
                &site,
                &opts,
            )
            .await;
            let Site { playbook, desired } = site;
            let inputs = PlanInputs {
                plan: plan.clone(),
                refs,
                gathered,
                desired,
                playbook,
            };
            Ok((plan, Arc::new(inputs)))
        }
        .await
        .map_err(|e| nodeherd_core::facts::systemd::sanitize(&e));
        let _ = tx.send(Msg::Plan(r));
    })
}

/// Upgrade-engine options whose progress events become `Msg::Progress`; the returned future
/// forwards them until every sender (inside the options) is dropped.
fn progress_options(
    tx: &mpsc::UnboundedSender<Msg>,
) -> (
    UpgradeOptions,
    impl std::future::Future<Output = ()> + use<>,
) {
    let (etx, mut erx) = mpsc::unbounded_channel::<(String, Event)>();
    let opts = UpgradeOptions {
        events: Some(etx),
        ..UpgradeOptions::default()
    };
    let tx = tx.clone();
    let forward = async move {
        while let Some((key, event)) = erx.recv().await {
            let _ = tx.send(Msg::Progress { key, event });
        }
    };
    (opts, forward)
}

/// Apply a confirmed plan under the console's apply lock, forwarding progress; journal it.
fn spawn_apply(
    world: &World,
    inputs: Arc<PlanInputs>,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let lock = match ApplyLock::acquire(&nodeherd_engine::apply::lock::default_path()) {
            Ok(l) => l,
            Err(e) => {
                let _ = tx.send(Msg::Applied(Err(nodeherd_core::facts::systemd::sanitize(
                    &e.to_string(),
                ))));
                return;
            }
        };
        tracing::info!(changes = inputs.plan.changes.len(), "tui apply");
        let (opts, forward) = progress_options(&tx);
        let who = opts.who.clone();
        let work = async {
            let opts = opts;
            let i = &inputs;
            run::apply(
                &world.pool,
                &world.inv,
                &i.plan,
                &i.refs,
                &i.gathered,
                &i.desired,
                &i.playbook,
                world.config.forks,
                &opts,
            )
            .await
        };
        let (results, ()) = tokio::join!(work, forward);
        nodeherd_engine::apply::run::journal_apply(&results, &who, " (tui)");
        drop(lock);
        let _ = tx.send(Msg::Applied(Ok(results)));
    })
}

/// Upgrade one node to `to` (`Some`) or roll it back to its previous version (`None`) through
/// the upgrade engine, forwarding progress; the outcome goes back as `Msg::UpgradeDone`.
fn spawn_upgrade(
    world: &World,
    r: NodeRef,
    to: Option<String>,
    rollback: bool,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let pb = match &world.config.playbook {
            Some(p) => nodeherd_core::playbook::Playbook::load(p).unwrap_or_default(),
            None => nodeherd_core::playbook::Playbook::default(),
        };
        let t = Target::new(&world.inv, r, &pb);
        let key = t.key.clone();
        tracing::info!(node = %key, rollback, "tui upgrade/rollback");
        let (opts, forward) = progress_options(&tx);
        let fail = |detail: String| Outcome {
            node: key.clone(),
            action: if rollback { "rollback" } else { "upgrade" }.into(),
            from: None,
            to: to.clone(),
            status: Status::Failed,
            detail: nodeherd_core::facts::systemd::sanitize(&detail),
            logs: vec![],
            took: Duration::ZERO,
        };
        let work = async {
            let opts = opts;
            match &to {
                Some(v) if !rollback => {
                    let plans =
                        plan_all(&world.pool, std::slice::from_ref(&t), Some(v), &opts).await;
                    match plans.into_iter().next() {
                        Some(p) if p.step.to.is_some() => {
                            upgrade_one(&world.pool, &t, &p, &opts).await
                        }
                        Some(p) => Outcome {
                            status: Status::Refused,
                            ..fail(p.step.reason)
                        },
                        None => fail("no plan".into()),
                    }
                }
                _ => match world.pool.session(&t.host.target).await {
                    Ok(s) => rollback_node(&s, &t, to.as_deref(), &opts).await,
                    Err(e) => fail(e.to_string()),
                },
            }
        };
        let (outcome, ()) = tokio::join!(work, forward);
        let _ = tx.send(Msg::UpgradeDone {
            key,
            rollback,
            outcome,
        });
    })
}

/// Read the upgrade journals of the session's hosts and the console's own, merged.
fn spawn_history(world: &World, tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        let mut hosts: Vec<usize> = world.nodes.iter().map(|r| r.host).collect();
        hosts.sort_unstable();
        hosts.dedup();
        let keys: Vec<String> = world
            .nodes
            .iter()
            .map(|r| {
                let (h, n) = world.inv.node(*r);
                format!("{}/{}", h.name, n.name)
            })
            .collect();
        let (mut entries, errors) =
            nodeherd_engine::upgrade::engine::history(&world.pool, &world.inv, &hosts, &[]).await;
        // this session's nodes, and fleet-wide entries (`apply` on `*`)
        entries.retain(|e| e.node == "*" || keys.contains(&e.node));
        let errors = errors
            .iter()
            .map(|e| nodeherd_core::facts::systemd::sanitize(e))
            .collect();
        let _ = tx.send(Msg::History(Ok(HistoryData { entries, errors })));
    })
}

fn spawn_action(
    world: &World,
    action: nodeherd_core::facts::systemd::Action,
    nodes: Vec<NodeRef>,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    let world = world.clone();
    tokio::spawn(async move {
        tracing::info!(action = action.verb(), nodes = nodes.len(), "tui action");
        let outcomes = nodeherd_engine::lifecycle::act(
            &world.pool,
            &world.inv,
            &nodes,
            action,
            world.config.forks,
        )
        .await;
        let _ = tx.send(Msg::ActionDone { action, outcomes });
    })
}

/// Drive the app until it quits: drain messages, reduce, perform effects, draw when dirty.
/// `rx` is fed by the workers started here and by whatever the caller spawned on `tx`
/// (terminal input, signals; tests inject key messages directly).
pub async fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    world: &World,
    tx: mpsc::UnboundedSender<Msg>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    hooks: &mut Hooks<'_, B>,
) -> Result<(), TuiError> {
    let term_err = |e: B::Error| TuiError::Terminal(e.to_string());
    let poll_now = Arc::new(Notify::new());
    let mut workers = Workers {
        poll_now: poll_now.clone(),
        poller: Some(spawn_poller(world, tx.clone(), poll_now)),
        logs: None,
        actions: Vec::new(),
        loaders: Vec::new(),
        removals: Vec::new(),
        engines: Vec::new(),
    };
    app.page = views::page_rows(terminal.size().map_err(term_err)?.height);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_draw: Option<Instant> = None;
    let result = loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = tick.tick() => Some(Msg::Tick),
        };
        let Some(first) = first else {
            break Ok(());
        };
        let mut pending = vec![first];
        loop {
            for msg in pending.drain(..) {
                if let Msg::Resize(_, h) = msg {
                    app.page = views::page_rows(h);
                }
                let fx = update(app, msg, Utc::now());
                perform(fx, terminal, app, world, &tx, &mut workers, hooks)?;
            }
            while let Ok(m) = rx.try_recv() {
                pending.push(m);
            }
            if pending.is_empty() {
                break;
            }
        }
        if app.quit {
            break Ok(());
        }
        if app.dirty {
            // at most one frame per MIN_FRAME; messages arriving meanwhile join this frame
            if let Some(t) = last_draw {
                let wait = MIN_FRAME.saturating_sub(t.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                    while let Ok(m) = rx.try_recv() {
                        let fx = update(app, m, Utc::now());
                        perform(fx, terminal, app, world, &tx, &mut workers, hooks)?;
                    }
                    if app.quit {
                        break Ok(());
                    }
                }
            }
            draw(terminal, app, Utc::now(), hooks)?;
            last_draw = Some(Instant::now());
        }
    };
    workers.stop_all();
    for h in workers.removals.drain(..).chain(workers.engines.drain(..)) {
        if !h.is_finished() {
            tracing::info!("waiting for a key removal / apply / upgrade to finish before quitting");
        }
        let _ = h.await;
    }
    result
}

/// Draw one frame and show it to the draw hook.
pub fn draw<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    now: DateTime<Utc>,
    hooks: &mut Hooks<'_, B>,
) -> Result<(), TuiError> {
    let frame = terminal
        .draw(|f| views::draw(f, app, now))
        .map_err(|e| TuiError::Terminal(e.to_string()))?;
    if let Some(h) = hooks.on_draw.as_mut() {
        h(app, frame.buffer);
    }
    app.dirty = false;
    Ok(())
}

fn perform<B: Backend>(
    fx: Vec<Effect>,
    terminal: &mut Terminal<B>,
    app: &mut App,
    world: &World,
    tx: &mpsc::UnboundedSender<Msg>,
    workers: &mut Workers,
    hooks: &mut Hooks<'_, B>,
) -> Result<(), TuiError> {
    for e in fx {
        match e {
            Effect::Act { action, nodes } => {
                workers.actions.retain(|h| !h.is_finished());
                workers
                    .actions
                    .push(spawn_action(world, action, nodes, tx.clone()));
            }
            Effect::FollowLogs(node) => {
                if let Some(old) = workers.logs.take() {
                    old.abort();
                }
                workers.logs = Some(spawn_logs(world, node, tx.clone()));
            }
            Effect::StopLogs => {
                if let Some(old) = workers.logs.take() {
                    old.abort();
                }
            }
            Effect::LoadReleases => {
                workers.loaders.retain(|h| !h.is_finished());
                workers.loaders.push(spawn_releases(world, tx.clone()));
            }
            Effect::LoadKeys => {
                workers.loaders.retain(|h| !h.is_finished());
                workers.loaders.push(spawn_keys(world, tx.clone()));
            }
            Effect::RemoveKey { node, pubkey } => {
                workers.removals.retain(|h| !h.is_finished());
                workers
                    .removals
                    .push(spawn_remove_key(world, node, pubkey, tx.clone()));
            }
            Effect::CheckImport(c) => {
                let (world, tx) = (world.clone(), tx.clone());
                workers.loaders.retain(|h| !h.is_finished());
                workers.loaders.push(tokio::spawn(async move {
                    let r = read_and_guard(&world, &c).await.map(|(ask, _, _)| ask);
                    let _ =
                        tx.send(Msg::ImportChecked(r.map_err(|e| {
                            nodeherd_core::facts::systemd::sanitize(&e.to_string())
                        })));
                }));
            }
            Effect::CheckMove(c) => {
                let (world, tx) = (world.clone(), tx.clone());
                workers.loaders.retain(|h| !h.is_finished());
                workers.loaders.push(tokio::spawn(async move {
                    let r = check_move(&world, &c).await;
                    let _ =
                        tx.send(Msg::MoveChecked(r.map_err(|e| {
                            nodeherd_core::facts::systemd::sanitize(&e.to_string())
                        })));
                }));
            }
            Effect::ImportKeys(ask) => {
                let (world, tx) = (world.clone(), tx.clone());
                workers.removals.retain(|h| !h.is_finished());
                workers.removals.push(tokio::spawn(async move {
                    tracing::info!(node = %format!("{}/{}", ask.host, ask.node), keys = ?ask.pubkeys, "tui key import");
                    let (ok, text) = run_import(&world, &ask).await;
                    let _ = tx.send(Msg::KeysImported { ok, text: nodeherd_core::facts::systemd::sanitize(&text) });
                }));
            }
            Effect::MoveKey(ask) => {
                let (world, tx) = (world.clone(), tx.clone());
                workers.removals.retain(|h| !h.is_finished());
                workers.removals.push(tokio::spawn(async move {
                    let (ok, text) = run_move(&world, &ask).await;
                    let _ = tx.send(Msg::KeyMoved {
                        pubkey: ask.pubkey.clone(),
                        ok,
                        text: nodeherd_core::facts::systemd::sanitize(&text),
                    });
                }));
            }
            Effect::LoadPlan => {
                workers.loaders.retain(|h| !h.is_finished());
                workers.loaders.push(spawn_plan(world, tx.clone()));
            }
            Effect::Silence { spec, until } => {
                let Ok(matcher) = nodeherd_engine::alerts::parse_silence(&spec) else {
                    continue;
                };
                if let Ok(mut q) = world.config.silences.lock() {
                    q.push((matcher.clone(), until));
                }
                let note = match &world.config.alerts_state {
                    Some(path) => {
                        match nodeherd_engine::alerts::add_silence(path, matcher, until) {
                            Ok(()) => Msg::Notice {
                                text: format!("silenced {spec} (saved in {})", path.display()),
                                error: false,
                            },
                            Err(e) => Msg::Notice {
                                text: format!("silenced {spec} in this session only: {e}"),
                                error: true,
                            },
                        }
                    }
                    None => Msg::Notice {
                        text: format!("silenced {spec} in this session"),
                        error: false,
                    },
                };
                let _ = tx.send(note);
                workers.poll_now.notify_one();
            }
            Effect::LoadHistory => {
                workers.loaders.retain(|h| !h.is_finished());
                workers.loaders.push(spawn_history(world, tx.clone()));
            }
            Effect::Apply(inputs) => {
                workers.engines.retain(|h| !h.is_finished());
                workers.engines.push(spawn_apply(world, inputs, tx.clone()));
            }
            Effect::Upgrade { node, to } => {
                workers.engines.retain(|h| !h.is_finished());
                workers
                    .engines
                    .push(spawn_upgrade(world, node, Some(to), false, tx.clone()));
            }
            Effect::Rollback { node, to } => {
                workers.engines.retain(|h| !h.is_finished());
                workers
                    .engines
                    .push(spawn_upgrade(world, node, to, true, tx.clone()));
            }
            Effect::PollNow => workers.poll_now.notify_one(),
            Effect::AnswerHostKey { reply, accept } => {
                let _ = reply.send(accept);
            }
            Effect::Suspend => {
                if let Some(s) = hooks.suspend.as_mut() {
                    s(terminal).map_err(|e| TuiError::Terminal(e.to_string()))?;
                    // Not `terminal.clear()`: it asks the terminal for the cursor position, and
                    // that answer is eaten by the input task. A blank frame makes ratatui's
                    // buffers match the fresh screen, so the next draw repaints every cell.
                    terminal
                        .draw(|f| f.render_widget(ratatui::widgets::Clear, f.area()))
                        .map_err(|e| TuiError::Terminal(e.to_string()))?;
                    app.dirty = true;
                }
            }
            Effect::Quit => app.quit = true,
        }
    }
    Ok(())
}

/// Restores the terminal when dropped (normal exit, error, or unwinding panic; ratatui's panic
/// hook restores before the panic message is printed).
pub struct TerminalGuard {
    pub terminal: ratatui::DefaultTerminal,
}

impl TerminalGuard {
    pub fn new() -> Result<TerminalGuard, TuiError> {
        let terminal = ratatui::try_init().map_err(|e| TuiError::Terminal(e.to_string()))?;
        Ok(TerminalGuard { terminal })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Ctrl-Z: restore the terminal, stop the process, and take the terminal back on `fg`.
pub fn suspend_real<B: Backend>(_t: &mut Terminal<B>) -> io::Result<()> {
    use crossterm::execute;
    use crossterm::terminal::{EnterAlternateScreen, enable_raw_mode};
    ratatui::restore();
    // SAFETY: raise has no memory-safety preconditions; SIGSTOP stops us until SIGCONT.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        crossterm::terminal::Clear(crossterm::terminal::ClearType::All)
    )?;
    Ok(())
}

/// Terminal input in ONE task (crossterm's `EventStream`), as messages.
fn spawn_input(tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        use crossterm::event::{Event, EventStream};
        let mut events = EventStream::new();
        while let Some(ev) = events.next().await {
            let msg = match ev {
                Ok(Event::Key(k)) => Msg::Key(k),
                Ok(Event::Resize(w, h)) => Msg::Resize(w, h),
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!("terminal input failed: {e}");
                    Msg::Terminate
                }
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    })
}

/// SIGTERM/SIGINT/SIGHUP end the TUI cleanly; SIGTSTP (e.g. `kill -TSTP`) suspends it.
fn spawn_signals(tx: mpsc::UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut tstp)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::from_raw(libc::SIGTSTP)),
        ) else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        loop {
            let msg = tokio::select! {
                _ = term.recv() => Msg::Terminate,
                _ = int.recv() => Msg::Terminate,
                _ = hup.recv() => Msg::Terminate,
                _ = tstp.recv() => Msg::SuspendRequested,
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    })
}

/// Run the TUI on the real terminal until the user quits.
pub async fn run_terminal(
    mut app: App,
    inv: Arc<Inventory>,
    nodes: Vec<NodeRef>,
    config: Config,
    mut connect: nodeherd_transport::ssh::ConnectOptions,
) -> Result<(), TuiError> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(TuiError::NotATerminal);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    connect.on_unknown_key = Some(host_key_handler(tx.clone()));
    let world = World {
        pool: Arc::new(Pool::new(connect)),
        inv,
        nodes,
        config,
    };
    let mut guard = TerminalGuard::new()?;
    let input = spawn_input(tx.clone());
    let signals = spawn_signals(tx.clone());
    let mut hooks = Hooks {
        on_draw: None,
        suspend: Some(Box::new(suspend_real)),
    };
    let res = event_loop(&mut guard.terminal, &mut app, &world, tx, rx, &mut hooks).await;
    input.abort();
    signals.abort();
    drop(guard);
    world.pool.close_all().await;
    res
}
