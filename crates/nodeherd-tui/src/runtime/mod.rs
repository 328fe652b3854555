//! The runtime: terminal guard, input and signal tasks, workers, and the one event loop.
//!
//! Owns: the terminal ([`terminal`]: raw mode, alternate screen, restore on every exit path), the
//! tasks that feed [`Msg`]s into the one channel (input, signals, and the [`workers`]: status
//! poller, log follow, actions, key and engine use cases), and the loop ([`event_loop`]) that
//! drains the channel, reduces with [`crate::update::update`], performs
//! [`crate::msg::Effect`]s and draws at most ~60 times a second when something changed. Input
//! never waits on the network: workers only send messages. This file holds the session's
//! configuration, the [`World`] the workers act on, and [`run_terminal`]. May not touch: state
//! transitions (that is the reducer) or how screens look. [`event_loop()`] is generic over the
//! backend so tests drive it with `TestBackend`.

pub mod cadence;
mod event_loop;
mod terminal;
mod workers;

pub use event_loop::{draw, event_loop};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub use terminal::{TerminalGuard, suspend_real};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::buffer::Buffer;
use tokio::sync::{mpsc, oneshot};

use crate::msg::Msg;
use crate::state::{App, HostKeyAsk};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_transport::ssh::{Pool, UnknownKey, UnknownKeyHandler};
use terminal::{spawn_input, spawn_signals};

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
    /// Time between two status polls (the shortest: see `poll_budget`).
    pub poll_every: Duration,
    /// The share of one core the polls may cost (0.02 = 2 %); a poll that cost more makes the
    /// next one wait longer than `poll_every` ([`cadence`]). 0: no budget.
    pub poll_budget: f64,
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
    /// Time between two reads of the Cosmos watch (plans, proposals, signing), once the Cosmos
    /// screen was opened.
    pub cosmos_every: Duration,
}

/// Silences waiting for the poller (`:silence`).
pub type SilenceQueue =
    Arc<std::sync::Mutex<Vec<(nodeherd_core::alerts::engine::SilenceMatcher, DateTime<Utc>)>>>;

impl Default for Config {
    fn default() -> Self {
        Config {
            poll_every: Duration::from_secs(5),
            poll_budget: 0.02,
            forks: nodeherd_engine::fleet::DEFAULT_FORKS,
            log_lines: 200,
            metrics: true,
            alerts_file: None,
            alerts_state: None,
            playbook: None,
            site_playbook: None,
            silences: SilenceQueue::default(),
            cosmos_every: Duration::from_secs(30),
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
