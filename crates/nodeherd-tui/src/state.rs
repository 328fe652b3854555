//! The one owner of TUI state: [`App`].
//!
//! Owns: everything the screens show (rows, selection, filter, dialogs, log buffer, alerts, flash).
//! Only the reducer (`update`) mutates it; views read it. May not touch: I/O, clocks, the terminal.
//! Data from other engines (metrics, alerts, releases) plugs into the optional fields of
//! [`NodeRow`]; a view renders `-` for whatever is absent.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::keymap::{Action, Context, Keymap};
use crate::msg::PlanInputs;
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::metrics::series::Series;
use nodeherd_engine::status::NodeStatus;
use nodeherd_core::plan::apply::{Plan, Planned};
use nodeherd_engine::apply::run::ChangeResult;
use nodeherd_core::facts::systemd::JournalLine;
use nodeherd_core::journal::Entry;

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

/// The health class of a row, for the pulse counts and colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Down,
    Unreachable,
    Syncing,
    Unknown,
    Ok,
}

/// Optional numbers from the metrics engine; `None` renders as `-`.
#[derive(Debug, Clone, Default)]
pub struct NodeMetrics {
    pub head_slot: Option<u64>,
    pub sync_distance: Option<u64>,
    pub peers: Option<u32>,
    pub cpu_pct: Option<f64>,
    pub mem_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    /// Sparklines for the detail screen: (label, series), in display order.
    pub series: Vec<(String, Series)>,
}

/// One node of the fleet table.
#[derive(Debug, Clone)]
pub struct NodeRow {
    pub r: NodeRef,
    pub host: String,
    pub address: String,
    pub node: String,
    pub client: String,
    pub role: String,
    pub network: Option<String>,
    pub unit: String,
    /// None until the first poll answered.
    pub status: Option<NodeStatus>,
    pub metrics: NodeMetrics,
    /// Firing alerts of this node.
    pub alerts: usize,
    /// A newer allowed version, when the releases engine says so.
    pub upgrade: Option<String>,
}

impl NodeRow {
    pub fn health(&self) -> Health {
        match &self.status {
            None => Health::Unknown,
            Some(s) if s.unit_state.is_none() => Health::Unreachable,
            Some(s) if !s.is_ok() => Health::Down,
            Some(_) if self.metrics.sync_distance.is_some_and(|d| d > 2) => Health::Syncing,
            Some(_) => Health::Ok,
        }
    }
    pub fn state_word(&self) -> String {
        match &self.status {
            None => "…".into(),
            Some(s) => s.state_word(),
        }
    }
    pub fn pid(&self) -> Option<u32> {
        self.status
            .as_ref()
            .and_then(|s| s.unit_state.as_ref())
            .and_then(|u| u.main_pid)
    }
    /// Text the `/` filter matches against.
    pub fn matches(&self, needle: &str) -> bool {
        if needle.is_empty() {
            return true;
        }
        let n = needle.to_lowercase();
        [
            self.host.as_str(),
            self.node.as_str(),
            self.client.as_str(),
            self.network.as_deref().unwrap_or(""),
            &self.state_word(),
        ]
        .iter()
        .any(|f| f.to_lowercase().contains(&n))
    }
}

/// Alert states as the alerts screen shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Firing,
    Pending,
    Silenced,
    Resolved,
}

impl AlertState {
    pub fn label(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Pending => "pending",
            AlertState::Silenced => "silenced",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert row (the alerts engine's output is mapped onto this plain shape).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub state: AlertState,
    pub severity: String,
    pub rule: String,
    pub host: String,
    pub node: String,
    pub since: DateTime<Utc>,
    pub summary: String,
}

/// Data a worker fetches on demand: the last answer (kept while a reload runs), whether a load
/// is running, and the error of the last load. Views render all three states.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub data: Option<T>,
    pub loading: bool,
    pub error: Option<String>,
    /// When `data` arrived.
    pub at: Option<DateTime<Utc>>,
}

impl<T> Default for Fetched<T> {
    fn default() -> Self {
        Fetched {
            data: None,
            loading: false,
            error: None,
            at: None,
        }
    }
}

impl<T> Fetched<T> {
    /// A load begins; false when one is already running (do not start another).
    pub fn start(&mut self) -> bool {
        if self.loading {
            return false;
        }
        self.loading = true;
        true
    }
    /// A load ended.
    pub fn finish(&mut self, r: Result<T, String>, now: DateTime<Utc>) {
        self.loading = false;
        match r {
            Ok(d) => {
                self.data = Some(d);
                self.error = None;
                self.at = Some(now);
            }
            Err(e) => self.error = Some(e),
        }
    }
}

/// One node of the releases screen (from the upgrade engine's plan).
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseRow {
    pub host: String,
    pub node: String,
    pub running: Option<String>,
    /// Newest version the node's policy allows now.
    pub allowed: Option<String>,
    /// The host's `previous` release: what a rollback goes back to (None: nothing to roll back to).
    pub previous: Option<String>,
    /// What an upgrade would install now (None: nothing to do, see `reason`).
    pub to: Option<String>,
    /// Next version that becomes eligible, and when (`%Y-%m-%d %H:%M UTC`).
    pub next: Option<(String, String)>,
    pub reason: String,
    /// Versions skipped and why.
    pub why: Vec<String>,
    /// An excerpt of the notes of the release an upgrade would install: an urgency line when the
    /// notes carry one ("hard fork", "security"...), then their first lines.
    pub notes: Vec<String>,
}

/// One validator key held by a node (from the Keymanager API).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    /// `0x` + 96 hex digits.
    pub pubkey: String,
    pub readonly: Option<bool>,
    /// A remote-signer key rather than a local keystore.
    pub remote: bool,
    pub derivation_path: Option<String>,
    /// A CometBFT consensus key (base64 `pubkey`, read from the node's home): listed and checked
    /// for double signing, never imported, moved or removed from here.
    pub cosmos: Option<CosmosKey>,
}

/// What the keys screen shows of a CometBFT consensus key.
#[derive(Debug, Clone, PartialEq)]
pub struct CosmosKey {
    /// Upper-case hex consensus address.
    pub address: String,
    /// The last signed height/round/step (`None`: the state file could not be read).
    pub last_signed: Option<(u64, i64, i64)>,
}

/// One validator node of the keys screen: its keys, or why they could not be listed.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeKeys {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    pub keys: Result<Vec<KeyEntry>, String>,
    /// A CometBFT node (its consensus key) rather than a Keymanager API.
    pub cosmos: bool,
}

/// An import the keys screen asks about, checked by a worker first (files read, every other
/// validator node asked by the double-sign guard) so the dialog shows what will happen.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportAsk {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    pub files: Vec<std::path::PathBuf>,
    /// One per file, in order.
    pub pubkeys: Vec<String>,
    pub password_file: std::path::PathBuf,
    pub slashing: Option<std::path::PathBuf>,
    /// How many other validator nodes the guard asked (none of them has the keys).
    pub guard_asked: usize,
}

/// A move the keys screen asks about, checked by a worker first (the keystore opens with the
/// password to exactly this key).
#[derive(Debug, Clone, PartialEq)]
pub struct MoveAsk {
    pub pubkey: String,
    pub from: NodeRef,
    /// `host/node`.
    pub from_label: String,
    pub to: NodeRef,
    pub to_label: String,
    pub keystore: std::path::PathBuf,
    pub password_file: std::path::PathBuf,
}

/// `0xa1b2c3…d4e5`: a pubkey short enough for a table cell.
pub fn short_pubkey(p: &str) -> String {
    let n = p.chars().count();
    if n <= 16 {
        return p.to_string();
    }
    let head: String = p.chars().take(8).collect();
    let tail: String = p.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

/// A message on the flash line, until `until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
    pub until: DateTime<Utc>,
}

/// An unknown host key, as the prompt shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKeyAsk {
    pub host: String,
    pub address: String,
    pub port: u16,
    pub key_type: String,
    pub fingerprint: String,
}

/// One upgrade or rollback the releases screen asks about.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeAsk {
    pub r: NodeRef,
    pub host: String,
    pub node: String,
    pub rollback: bool,
    /// The running version.
    pub from: Option<String>,
    /// The version to install (None for a rollback: the node's `previous`).
    pub to: Option<String>,
}

/// The plan/apply screen: the playbook, the loaded plan (with the engine inputs an apply
/// needs), live progress per `host/node` while it applies, and the results at the end.
#[derive(Debug, Default)]
pub struct PlanView {
    /// The playbook path (None: no playbook, the screen says so).
    pub playbook: Option<String>,
    pub plan: Fetched<Plan>,
    /// What the planner saw (an apply runs exactly the plan that was confirmed).
    pub inputs: Option<Arc<PlanInputs>>,
    pub selected: usize,
    /// An apply is running.
    pub applying: bool,
    /// The results of the last apply (summary).
    pub results: Option<Vec<ChangeResult>>,
}

/// The merged upgrade journal (host journals + the console's own), newest last.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistoryData {
    pub entries: Vec<Entry>,
    /// Hosts whose journal could not be read.
    pub errors: Vec<String>,
}

/// Modal dialogs; while one is open, keys go to it only.
#[derive(Debug)]
pub enum Dialog {
    /// A dangerous action waiting for `y`.
    Confirm { action: Action, nodes: Vec<NodeRef> },
    /// Removing one validator key, waiting for `y`.
    RemoveKey { key: KeyEntry },
    /// Importing keystores into one node (already checked), waiting for `y`.
    ImportKeys(ImportAsk),
    /// Moving one key between nodes (already checked), waiting for `y`.
    MoveKey(MoveAsk),
    /// Applying the loaded plan, waiting for `y`: every change is listed by host and node.
    Apply { changes: Vec<Planned> },
    /// Upgrading (or rolling back) one node from the releases screen, waiting for `y`.
    Upgrade(UpgradeAsk),
    /// An SSH connection waiting for a human's trust decision.
    HostKey {
        ask: HostKeyAsk,
        reply: Option<oneshot::Sender<bool>>,
    },
}

/// The live log of the node shown in detail.
#[derive(Debug, Clone, Default)]
pub struct LogView {
    pub node: Option<NodeRef>,
    /// Oldest first; each line with its sequence number.
    pub lines: VecDeque<(u64, JournalLine)>,
    pub next_seq: u64,
    /// When paused, only lines with seq below this are shown.
    pub paused_at: Option<u64>,
    pub wrap: bool,
    /// Lines scrolled up from the end.
    pub scroll: usize,
    /// Only lines containing this (case-insensitive) are shown, with matches highlighted.
    pub search: Option<String>,
    /// Following, ended, or the error that ended it.
    pub ended: Option<String>,
}

impl LogView {
    pub fn push(&mut self, line: JournalLine) {
        if self.lines.len() == LOG_CAP {
            self.lines.pop_front();
        }
        self.lines.push_back((self.next_seq, line));
        self.next_seq += 1;
    }
    /// The lines the view shows: up to the pause point, matching the search.
    pub fn visible(&self) -> impl Iterator<Item = &JournalLine> {
        let end = self.paused_at.unwrap_or(u64::MAX);
        let needle = self.search.as_ref().map(|s| s.to_lowercase());
        self.lines
            .iter()
            .filter(move |(seq, l)| {
                *seq < end
                    && needle
                        .as_ref()
                        .is_none_or(|n| l.message.to_lowercase().contains(n))
            })
            .map(|(_, l)| l)
    }
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
    /// Live progress of engine runs (apply, upgrade, rollback) per `host/node`: the last event.
    pub progress: BTreeMap<String, String>,
    /// `host/node` keys with an upgrade or rollback in flight.
    pub upgrading: BTreeSet<String>,
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
            progress: BTreeMap::new(),
            upgrading: BTreeSet::new(),
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
                view.sort_by_key(|i| std::cmp::Reverse(rows[*i].metrics.sync_distance.unwrap_or(0)))
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
