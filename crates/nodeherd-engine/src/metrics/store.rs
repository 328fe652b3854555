//! Series for charts: a bounded [`Series`] per (host, node, signal), fed by snapshots.
//!
//! Owns: [`MetricsStore`] (recording snapshots, CPU/network rates from consecutive host
//! samples), [`SeriesKey`], [`SeriesKind`]. May not touch: scraping (the parent module) or what
//! the metrics mean (`nodeherd_core::metrics`).

use std::collections::HashMap;

use serde::Serialize;

use super::Snapshot;
use nodeherd_core::facts::host::HostFacts;
use nodeherd_core::metrics::Signal;
use nodeherd_core::metrics::series::Series;

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// A signal of a node's metrics page.
    Node(Signal),
    /// Sync distance (Beacon API, else wall - head).
    SyncDistance,
    /// Metrics GET round trip through the tunnel, ms.
    ScrapeMs,
    HostCpuPercent,
    HostMemPercent,
    HostDiskPercent,
    HostLoad1,
    HostNetRxBytesPerSec,
    HostNetTxBytesPerSec,
}

/// Key of one series: host-level kinds have `node: None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SeriesKey {
    pub host: String,
    pub node: Option<String>,
    pub kind: SeriesKind,
}

impl SeriesKey {
    pub fn node(host: &str, node: &str, kind: SeriesKind) -> Self {
        SeriesKey {
            host: host.into(),
            node: Some(node.into()),
            kind,
        }
    }
    pub fn host(host: &str, kind: SeriesKind) -> Self {
        SeriesKey {
            host: host.into(),
            node: None,
            kind,
        }
    }
}

/// Bounded history of every gathered value, for charts and rates (the TUI keeps one and calls
/// [`MetricsStore::record`] after each [`gather`]). Memory: `cap` points x 16 bytes per series.
#[derive(Debug, Clone)]
pub struct MetricsStore {
    cap: usize,
    series: HashMap<SeriesKey, Series>,
    last_facts: HashMap<String, HostFacts>,
    last: Option<Snapshot>,
}

impl MetricsStore {
    /// Keep `cap` points per series (e.g. 360 = 30 minutes at a 5 s poll).
    pub fn new(cap: usize) -> Self {
        MetricsStore {
            cap: cap.max(1),
            series: HashMap::new(),
            last_facts: HashMap::new(),
            last: None,
        }
    }

    /// The host's previous facts (for CPU and network rates).
    pub fn last_facts(&self, host: &str) -> Option<&HostFacts> {
        self.last_facts.get(host)
    }

    /// The latest snapshot recorded.
    pub fn latest(&self) -> Option<&Snapshot> {
        self.last.as_ref()
    }

    /// One series, if anything was recorded for it.
    pub fn series(&self, key: &SeriesKey) -> Option<&Series> {
        self.series.get(key)
    }

    /// Shorthand for a node signal's series.
    pub fn node_series(&self, host: &str, node: &str, signal: Signal) -> Option<&Series> {
        self.series
            .get(&SeriesKey::node(host, node, SeriesKind::Node(signal)))
    }

    /// Every key with data, sorted.
    pub fn keys(&self) -> Vec<&SeriesKey> {
        let mut k: Vec<_> = self.series.keys().collect();
        k.sort();
        k
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    fn push(&mut self, key: SeriesKey, t_ms: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let cap = self.cap;
        self.series
            .entry(key)
            .or_insert_with(|| Series::new(cap))
            .push(t_ms, v);
    }

    /// Add a snapshot's values to the series (timestamps from each row's `at`).
    pub fn record(&mut self, snap: &Snapshot) {
        for n in &snap.nodes {
            let t = n.at.timestamp_millis();
            if let Some(s) = &n.sample {
                for (sig, v) in &s.raw.values {
                    self.push(
                        SeriesKey::node(&n.host, &n.node, SeriesKind::Node(*sig)),
                        t,
                        *v,
                    );
                }
            }
            if let Some(d) = n.sync_distance() {
                self.push(
                    SeriesKey::node(&n.host, &n.node, SeriesKind::SyncDistance),
                    t,
                    d,
                );
            }
            if let Some(ms) = n.scrape_ms.filter(|_| n.problem.is_none()) {
                self.push(
                    SeriesKey::node(&n.host, &n.node, SeriesKind::ScrapeMs),
                    t,
                    ms,
                );
            }
        }
        for h in &snap.hosts {
            let t = h.at.timestamp_millis();
            let hk = |k| SeriesKey::host(&h.host, k);
            let vals = [
                (SeriesKind::HostCpuPercent, h.cpu_percent),
                (SeriesKind::HostMemPercent, h.mem_percent()),
                (SeriesKind::HostDiskPercent, h.disk_percent()),
                (
                    SeriesKind::HostLoad1,
                    h.facts.as_ref().and_then(|f| f.load1),
                ),
                (
                    SeriesKind::HostNetRxBytesPerSec,
                    h.net.as_ref().map(|n| n.rx_bytes_per_sec),
                ),
                (
                    SeriesKind::HostNetTxBytesPerSec,
                    h.net.as_ref().map(|n| n.tx_bytes_per_sec),
                ),
            ];
            for (k, v) in vals {
                if let Some(v) = v {
                    self.push(hk(k), t, v);
                }
            }
            if let Some(f) = &h.facts {
                self.last_facts.insert(h.host.clone(), f.clone());
            }
        }
        self.last = Some(snap.clone());
    }
}
