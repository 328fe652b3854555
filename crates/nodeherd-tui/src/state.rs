//! The one owner of TUI state: [`App`].
//!
//! Owns: everything the screens show (rows, selection, filter, dialogs, log buffer, alerts, flash).
//! Only the reducer (`update`) mutates it; views read it. May not touch: I/O, clocks, the terminal.
//! Data from other engines (metrics, alerts, releases) plugs into the optional fields of
//! [`NodeRow`]; a view renders `-` for whatever is absent. The parts live in submodules: `rows`
//! (fleet rows, alerts), `keys`, `loaded` (what workers load on demand, and [`PlanInputs`]),
//! `dialog`, `log`; this module keeps the screens, the prompt, the flash line and [`App`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

mod dialog;
mod keys;
mod loaded;
mod log;
mod rows;

pub use dialog::{Dialog, HostKeyAsk, UpgradeAsk};
pub use keys::{CosmosKey, ImportAsk, KeyEntry, MoveAsk, NodeKeys, short_pubkey};
pub use loaded::{Fetched, HistoryData, PlanInputs, PlanView, ReleaseRow, WorkerError};
pub use log::LogView;
pub use rows::{AlertRow, AlertState, Health, NodeMetrics, NodeRow};

use crate::keymap::{Context, Keymap};
use nodeherd_core::inventory::{Inventory, NodeRef};

/// How many journal lines the detail screen keeps.
pub const LOG_CAP: usize = 2000;

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Fleet,
    Detail,
    Alerts,
    Releases,
    Keys,
    Plan,
    History,
    Cosmos,
    Help,
}

impl Screen {
    pub fn context(self) -> Context {
        match self {
            Screen::Fleet => Context::Fleet,
            Screen::Detail => Context::Detail,
            Screen::Alerts => Context::Alerts,
            Screen::Releases => Context::Releases,
            Screen::Keys => Context::Keys,
            Screen::Plan => Context::Plan,
            Screen::History => Context::History,
            Screen::Cosmos => Context::Cosmos,
            Screen::Help => Context::Help,
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Screen::Fleet => "fleet",
            Screen::Detail => "node",
            Screen::Alerts => "alerts",
            Screen::Releases => "releases",
            Screen::Keys => "keys",
            Screen::Plan => "plan",
            Screen::History => "history",
            Screen::Cosmos => "cosmos",
            Screen::Help => "help",
        }
    }
}

/// A one-line text input at the bottom (`/` filter, `:` command, `/` log search).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Filter(String),
    Command(String),
    Search(String),
}

/// Fleet sort columns, cycled with `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Host,
    State,
    Client,
    Lag,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Host => SortKey::State,
            SortKey::State => SortKey::Client,
            SortKey::Client => SortKey::Lag,
            SortKey::Lag => SortKey::Host,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Host => "host",
            SortKey::State => "state",
            SortKey::Client => "client",
            SortKey::Lag => "lag",
        }
    }
}

/// A message on the flash line, until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
    pub until: DateTime<Utc>,
}

/// All TUI state.
#[derive(Debug)]
pub struct App {
    pub keymap: Keymap,
    pub readonly: bool,
    pub screen: Screen,
    /// Where `esc` goes back to from help / alerts / detail.
    pub back: Vec<Screen>,
    pub rows: Vec<NodeRow>,
    /// Indices into `rows` after filter and sort: what the fleet table shows.
    pub view: Vec<usize>,
    /// Index into `view`.
    pub selected: usize,
    pub marked: BTreeSet<NodeRef>,
    pub filter: String,
    pub sort: SortKey,
    pub prompt: Option<Prompt>,
    pub dialog: Option<Dialog>,
    /// Host-key questions waiting behind the open dialog.
    pub pending_keys: VecDeque<(HostKeyAsk, oneshot::Sender<bool>)>,
    /// The node of the detail screen.
    pub detail: Option<NodeRef>,
    pub log: LogView,
    pub alerts: Vec<AlertRow>,
    pub alerts_selected: usize,
    pub releases: Fetched<Vec<ReleaseRow>>,
    pub releases_selected: usize,
    pub keys: Fetched<Vec<NodeKeys>>,
    /// Index into [`App::key_entries`].
    pub keys_selected: usize,
    /// Pubkeys with a remove (or a move) in flight.
    pub keys_removing: BTreeSet<String>,
    /// An `:import` / `:move` check is running in a worker.
    pub keys_checking: bool,
    pub plan: PlanView,
    pub history: Fetched<HistoryData>,
    pub history_selected: usize,
    /// What the Cosmos screen shows: each Cosmos node's chain, staged binary, peers and
    /// validator standing (read by its own worker, every `Config::cosmos_every`).
    pub cosmos: Fetched<Vec<nodeherd_engine::cosmos::watch::NodeWatch>>,
    /// The Cosmos screen's first line shown.
    pub cosmos_scroll: usize,
    /// Live progress of engine runs (apply, upgrade, rollback) per `host/node`: the last event.
    pub progress: BTreeMap<String, String>,
    /// `host/node` keys with an upgrade or rollback in flight.
    pub upgrading: BTreeSet<String>,
    /// What an upgrade or rollback in flight waits for, per `host/node`: the engine's last
    /// quiet-window countdown or health-gate step.
    pub waits: BTreeMap<String, nodeherd_engine::upgrade::progress::Step>,
    /// Of `upgrading`, the keys whose switch started (too late to cancel).
    pub switching: BTreeSet<String>,
    /// A quit was refused once because switches are in flight: the next one leaves them to the
    /// hosts' guards.
    pub quit_armed: bool,
    /// Quit without waiting for the switches in flight (the hosts' guards finish them).
    pub leave_switches: bool,
    pub help_scroll: usize,
    pub flash: Option<Flash>,
    /// Nodes with an action in flight.
    pub busy: BTreeSet<NodeRef>,
    pub last_poll: Option<DateTime<Utc>>,
    pub polling: bool,
    /// How many table rows fit (set by the runtime from the terminal size; for paging).
    pub page: usize,
    pub quit: bool,
    /// Something changed since the last draw.
    pub dirty: bool,
    index: HashMap<(String, String), usize>,
}

impl App {
    /// One row per node of the session (`nodes`, in inventory order); nothing polled yet.
    pub fn new(inv: &Inventory, nodes: &[NodeRef], readonly: bool) -> App {
        let mut rows = Vec::new();
        for &r in nodes {
            let (host, node) = inv.node(r);
            rows.push(NodeRow {
                r,
                host: host.name.clone(),
                address: host.target.address.clone(),
                node: node.name.clone(),
                client: node.client.to_string(),
                role: node.role.to_string(),
                network: node.network.clone(),
                unit: node.unit.clone(),
                status: None,
                metrics: NodeMetrics::default(),
                alerts: 0,
                upgrade: None,
            });
        }
        App::from_rows(rows, readonly)
    }

    /// State from prepared rows (tests, benchmarks).
    pub fn from_rows(rows: Vec<NodeRow>, readonly: bool) -> App {
        let index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.host.clone(), r.node.clone()), i))
            .collect();
        let mut app = App {
            keymap: Keymap::new(readonly),
            readonly,
            screen: Screen::Fleet,
            back: Vec::new(),
            rows,
            view: Vec::new(),
            selected: 0,
            marked: BTreeSet::new(),
            filter: String::new(),
            sort: SortKey::Host,
            prompt: None,
            dialog: None,
            pending_keys: VecDeque::new(),
            detail: None,
            log: LogView::default(),
            alerts: Vec::new(),
            alerts_selected: 0,
            releases: Fetched::default(),
            releases_selected: 0,
            keys: Fetched::default(),
            keys_selected: 0,
            keys_removing: BTreeSet::new(),
            keys_checking: false,
            plan: PlanView::default(),
            history: Fetched::default(),
            history_selected: 0,
            cosmos: Fetched::default(),
            cosmos_scroll: 0,
            progress: BTreeMap::new(),
            upgrading: BTreeSet::new(),
            waits: BTreeMap::new(),
            switching: BTreeSet::new(),
            quit_armed: false,
            leave_switches: false,
            help_scroll: 0,
            flash: None,
            busy: BTreeSet::new(),
            last_poll: None,
            polling: false,
            page: 10,
            quit: false,
            dirty: true,
            index,
        };
        app.refresh_view();
        app
    }

    /// The row of a (host, node) name pair.
    pub fn row_index(&self, host: &str, node: &str) -> Option<usize> {
        self.index
            .get(&(host.to_string(), node.to_string()))
            .copied()
    }

    pub fn row_of(&self, r: NodeRef) -> Option<&NodeRow> {
        self.rows.iter().find(|row| row.r == r)
    }

    pub fn row_of_mut(&mut self, r: NodeRef) -> Option<&mut NodeRow> {
        self.rows.iter_mut().find(|row| row.r == r)
    }

    /// The row under the cursor in the fleet table.
    pub fn selected_row(&self) -> Option<&NodeRow> {
        self.view.get(self.selected).and_then(|i| self.rows.get(*i))
    }

    /// Recompute `view` from filter and sort, keeping the selected node selected when it stays.
    pub fn refresh_view(&mut self) {
        let keep = self.selected_row().map(|r| r.r);
        let mut view: Vec<usize> = (0..self.rows.len())
            .filter(|i| self.rows[*i].matches(&self.filter))
            .collect();
        let rows = &self.rows;
        match self.sort {
            SortKey::Host => {}
            SortKey::State => view.sort_by_key(|i| rows[*i].health()),
            SortKey::Client => view.sort_by(|a, b| rows[*a].client.cmp(&rows[*b].client)),
            SortKey::Lag => {
                view.sort_by_key(|i| {
                    std::cmp::Reverse(rows[*i].metrics.sync_distance.unwrap_or(0))
                });
            }
        }
        self.view = view;
        self.selected = keep
            .and_then(|k| self.view.iter().position(|i| self.rows[*i].r == k))
            .unwrap_or(self.selected)
            .min(self.view.len().saturating_sub(1));
    }

    /// Fleet pulse: (ok, syncing, down incl. unreachable, alerting).
    pub fn pulse(&self) -> (usize, usize, usize, usize) {
        let mut p = (0, 0, 0, 0);
        for r in &self.rows {
            match r.health() {
                Health::Ok => p.0 += 1,
                Health::Syncing => p.1 += 1,
                Health::Down | Health::Unreachable => p.2 += 1,
                Health::Unknown => {}
            }
            if r.alerts > 0 {
                p.3 += 1;
            }
        }
        p
    }

    /// Every listed key, node by node (what the keys screen's cursor moves over).
    pub fn key_entries(&self) -> Vec<&KeyEntry> {
        self.keys
            .data
            .iter()
            .flatten()
            .filter_map(|n| n.keys.as_ref().ok())
            .flatten()
            .collect()
    }

    pub fn selected_key(&self) -> Option<&KeyEntry> {
        self.key_entries().get(self.keys_selected).copied()
    }

    /// The Keymanager nodes the keys screen lists (what `:import` and `:move` may name; CometBFT
    /// nodes are listed for their consensus key only).
    pub fn listed_key_nodes(&self) -> Vec<crate::keycmd::Listed<'_>> {
        self.keys
            .data
            .iter()
            .flatten()
            .filter(|n| !n.cosmos)
            .map(|n| crate::keycmd::Listed {
                r: n.r,
                name: format!("{}/{}", n.host, n.node),
                pubkeys: n
                    .keys
                    .as_ref()
                    .map(|k| k.iter().map(|e| e.pubkey.as_str()).collect())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The keymap context of what has the keyboard now.
    pub fn context(&self) -> Context {
        self.screen.context()
    }
}
