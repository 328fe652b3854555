//! The one event loop: drain the channel, reduce with [`crate::update::update`], perform the
//! effects, draw at most once per [`MIN_FRAME`] when something changed.
//!
//! Owns: the workers' handles (which are aborted at the end and which are awaited) and the frame
//! pacing. May not touch: state transitions (the reducer's) or how screens look (the views').

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use nodeherd_core::inventory::NodeRef;

use crate::msg::{Effect, Msg};
use crate::state::{App, WorkerError};
use crate::update::update;
use crate::views;

use super::workers::{
    check_move, read_and_guard, run_import, run_move, spawn_action, spawn_apply, spawn_cosmos,
    spawn_history, spawn_keys, spawn_logs, spawn_plan, spawn_poller, spawn_releases,
    spawn_remove_key, spawn_upgrade,
};
use crate::runtime::{Hooks, MIN_FRAME, TuiError, World};

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
    /// The cancel of each upgrade or rollback in flight, by `host/node`.
    cancels: HashMap<String, CancellationToken>,
    /// The Cosmos watch (started by the first `LoadCosmos`) and its read-now signal.
    cosmos: Option<(JoinHandle<()>, Arc<Notify>)>,
}

impl Workers {
    fn stop_all(&mut self) {
        if let Some(p) = self.poller.take() {
            p.abort();
        }
        if let Some(l) = self.logs.take() {
            l.abort();
        }
        if let Some((c, _)) = self.cosmos.take() {
            c.abort();
        }
        for a in self.actions.drain(..).chain(self.loaders.drain(..)) {
            a.abort();
        }
    }
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
        cancels: HashMap::new(),
        cosmos: None,
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
    if app.leave_switches {
        // asked twice: the switches in flight are left to the hosts' guards (they roll back
        // unless confirmed); the engines' tasks end with the runtime
        tracing::info!("quitting with switches in flight: left to the hosts' guards");
        workers.engines.clear();
    }
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

/// Perform the reducer's effects: the loop's own (poll now, host-key answers, suspend, quit)
/// here, the rest by starting workers ([`start`]).
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
            other => start(other, world, tx, workers),
        }
    }
    Ok(())
}

/// Start the worker an effect asks for (workers only send messages back).
fn start(e: Effect, world: &World, tx: &mpsc::UnboundedSender<Msg>, workers: &mut Workers) {
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
                let _ = tx.send(Msg::ImportChecked(r.map_err(|e| {
                    WorkerError(nodeherd_core::facts::systemd::sanitize(&e.to_string()))
                })));
            }));
        }
        Effect::CheckMove(c) => {
            let (world, tx) = (world.clone(), tx.clone());
            workers.loaders.retain(|h| !h.is_finished());
            workers.loaders.push(tokio::spawn(async move {
                let r = check_move(&world, &c).await;
                let _ = tx.send(Msg::MoveChecked(r.map_err(|e| {
                    WorkerError(nodeherd_core::facts::systemd::sanitize(&e.to_string()))
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
        Effect::Silence { spec, until } => silence(world, tx, workers, spec, until),
        Effect::LoadCosmos => match &workers.cosmos {
            Some((h, now)) if !h.is_finished() => now.notify_one(),
            _ => {
                let now = Arc::new(Notify::new());
                workers.cosmos = Some((spawn_cosmos(world, tx.clone(), now.clone()), now));
            }
        },
        Effect::LoadHistory => {
            workers.loaders.retain(|h| !h.is_finished());
            workers.loaders.push(spawn_history(world, tx.clone()));
        }
        Effect::Apply(inputs) => {
            workers.engines.retain(|h| !h.is_finished());
            workers.engines.push(spawn_apply(world, inputs, tx.clone()));
        }
        Effect::Upgrade { node, to } => upgrade(world, tx, workers, node, Some(to), false),
        Effect::Rollback { node, to } => upgrade(world, tx, workers, node, to, true),
        Effect::CancelUpgrade { key } => {
            if let Some(c) = workers.cancels.get(&key) {
                c.cancel();
            }
        }
        // performed by the loop itself
        Effect::PollNow | Effect::AnswerHostKey { .. } | Effect::Suspend | Effect::Quit => {}
    }
}

/// Start an upgrade (`to`) or rollback of `node` with its own cancel.
fn upgrade(
    world: &World,
    tx: &mpsc::UnboundedSender<Msg>,
    workers: &mut Workers,
    node: NodeRef,
    to: Option<String>,
    rollback: bool,
) {
    workers.engines.retain(|h| !h.is_finished());
    workers.cancels.retain(|_, c| !c.is_cancelled());
    let cancel = CancellationToken::new();
    let (h, n) = world.inv.node(node);
    workers
        .cancels
        .insert(format!("{}/{}", h.name, n.name), cancel.clone());
    workers
        .engines
        .push(spawn_upgrade(world, node, to, rollback, cancel, tx.clone()));
}

/// `:silence`: the poller's engine takes it up at once; saved in the alert state when there is one.
fn silence(
    world: &World,
    tx: &mpsc::UnboundedSender<Msg>,
    workers: &mut Workers,
    spec: String,
    until: DateTime<Utc>,
) {
    let Ok(matcher) = nodeherd_engine::alerts::parse_silence(&spec) else {
        return;
    };
    if let Ok(mut q) = world.config.silences.lock() {
        q.push((matcher.clone(), until));
    }
    let note = match &world.config.alerts_state {
        Some(path) => match nodeherd_engine::alerts::add_silence(path, matcher, until) {
            Ok(()) => Msg::Notice {
                text: format!("silenced {spec} (saved in {})", path.display()),
                error: false,
            },
            Err(e) => Msg::Notice {
                text: format!("silenced {spec} in this session only: {e}"),
                error: true,
            },
        },
        None => Msg::Notice {
            text: format!("silenced {spec} in this session"),
            error: false,
        },
    };
    let _ = tx.send(note);
    workers.poll_now.notify_one();
}
