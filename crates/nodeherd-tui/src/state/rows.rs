//! The fleet table's rows and the alert list.
//!
//! Owns: [`NodeRow`] (status, metrics, alerts and upgrade target of one node) with its health
//! class and filter match, [`NodeMetrics`], [`AlertRow`]. May not touch: I/O, clocks, how rows
//! are sorted or drawn.

use chrono::{DateTime, Utc};

use nodeherd_core::inventory::NodeRef;
use nodeherd_core::metrics::series::Series;
use nodeherd_engine::status::NodeStatus;

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
