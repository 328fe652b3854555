//! `metrics`: scrape every selected node's metrics page and Beacon API, and its host's facts, through the
//! host's one pooled SSH session (direct-tcpip forwards to 127.0.0.1; no port is ever opened).
//!
//! Owns: [`gather`] (typed [`Snapshot`] with an error per node/host, never failing the whole run),
//! [`MetricsStore`] (a bounded [`Series`] per (host, node, signal) for charts, plus CPU/network rates from
//! consecutive host samples), and the Beacon API answer parsers. May not touch: output formats (front ends
//! render a [`Snapshot`]), what the metrics mean (the pure tables in `nodeherd_core::metrics`).
//! The Beacon API parsers are in `beacon`, execution clients' JSON-RPC reads in `rpc`, the store
//! in `store`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod beacon;
mod rpc;
mod store;

pub use beacon::{parse_version, semver_of};
pub use nodeherd_core::health::answers::{Syncing, parse_syncing};
pub use store::{MetricsStore, SeriesKey, SeriesKind};

use crate::fleet;
use nodeherd_core::facts::host::{self, HostFacts, NetRates};
use nodeherd_core::inventory::{Inventory, Node, NodeRef};
use nodeherd_core::metrics::page::{self, Sample};
use nodeherd_core::metrics::{Signal, clients};
use nodeherd_transport::http;
use nodeherd_transport::ssh::{Command, Pool, Session, SshError};

/// Largest time one HTTP request through a forward may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong reading one node (messages are sanitized; they never carry secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
pub enum NodeProblem {
    /// SSH to the host failed.
    Unreachable(String),
    /// The forward to the port was refused: nothing listens there (node down or wrong port).
    PortClosed(String),
    /// The port answered, but not with a usable metrics page (HTTP error, not Prometheus text, timeout).
    BadPage(String),
}

impl std::fmt::Display for NodeProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeProblem::Unreachable(m) => write!(f, "unreachable: {m}"),
            NodeProblem::PortClosed(m) => write!(f, "port closed: {m}"),
            NodeProblem::BadPage(m) => write!(f, "bad answer: {m}"),
        }
    }
}

/// What the Beacon node API said (`/eth/v1/node/health|syncing|version`); each part is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BeaconInfo {
    /// HTTP status of `/eth/v1/node/health`: 200 ready, 206 syncing, 503 not initialized.
    pub health: Option<u16>,
    pub head_slot: Option<u64>,
    pub sync_distance: Option<u64>,
    pub is_syncing: Option<bool>,
    pub is_optimistic: Option<bool>,
    /// `Lodestar/v1.5.1/2115aa7`.
    pub version: Option<String>,
    /// Why part of the API could not be read.
    pub error: Option<String>,
}

impl BeaconInfo {
    /// `ready`, `syncing`, `not-ready` or `-`.
    pub fn health_word(&self) -> &'static str {
        match self.health {
            Some(200) => "ready",
            Some(206) => "syncing",
            Some(_) => "not-ready",
            None => "-",
        }
    }
}

/// One node's scrape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    pub host: String,
    pub node: String,
    pub client: String,
    /// What the client table names, read from the metrics page. `None`: not scraped or failed.
    pub sample: Option<SampleOut>,
    pub beacon: Option<BeaconInfo>,
    pub problem: Option<NodeProblem>,
    /// Wall time of the metrics GET through the tunnel, ms.
    pub scrape_ms: Option<f64>,
    /// Size of the metrics page, bytes.
    pub page_bytes: Option<usize>,
    pub at: DateTime<Utc>,
}

/// A [`Sample`] in a serialisable shape (signal names as keys).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SampleOut {
    pub values: BTreeMap<String, f64>,
    pub version: Option<String>,
    #[serde(skip)]
    pub raw: Sample,
}

impl SampleOut {
    pub fn from_sample(s: Sample) -> Self {
        SampleOut {
            values: s
                .values
                .iter()
                .map(|(k, v)| (k.name().to_string(), *v))
                .collect(),
            version: s.version.clone(),
            raw: s,
        }
    }
    pub fn get(&self, s: Signal) -> Option<f64> {
        self.raw.get(s)
    }
}

impl NodeMetrics {
    pub fn get(&self, s: Signal) -> Option<f64> {
        self.sample.as_ref().and_then(|x| x.get(s))
    }
    /// Head slot, block or height: whichever the client has.
    pub fn head(&self) -> Option<f64> {
        self.get(Signal::HeadSlot)
            .or_else(|| self.get(Signal::HeadBlock))
            .or_else(|| self.get(Signal::Height))
    }
    /// Sync distance: from the Beacon API when it answered, else wall - head from the page.
    pub fn sync_distance(&self) -> Option<f64> {
        self.beacon
            .as_ref()
            .and_then(|b| b.sync_distance)
            .map(|d| d as f64)
            .or_else(|| self.sample.as_ref().and_then(|s| s.raw.sync_distance()))
    }
    /// The version: Beacon API first, then the page's version label.
    pub fn version(&self) -> Option<&str> {
        self.beacon
            .as_ref()
            .and_then(|b| b.version.as_deref())
            .or_else(|| self.sample.as_ref().and_then(|s| s.version.as_deref()))
    }
}

/// One host's facts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostMetrics {
    pub host: String,
    pub facts: Option<HostFacts>,
    /// CPU busy percent over the interval since the previous sample (None on the first).
    pub cpu_percent: Option<f64>,
    pub net: Option<NetRates>,
    /// Host clock minus local clock, ms (midpoint of the exec).
    pub clock_offset_ms: Option<f64>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

impl HostMetrics {
    pub fn mem_percent(&self) -> Option<f64> {
        self.facts.as_ref().and_then(HostFacts::mem_used_percent)
    }
    pub fn disk_percent(&self) -> Option<f64> {
        self.facts.as_ref().and_then(HostFacts::disk_used_percent)
    }
}

/// Everything one gather saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub nodes: Vec<NodeMetrics>,
    pub hosts: Vec<HostMetrics>,
}

impl Snapshot {
    pub fn host(&self, name: &str) -> Option<&HostMetrics> {
        self.hosts.iter().find(|h| h.host == name)
    }

    /// Prometheus text of this snapshot (see `nodeherd_core::metrics::expose`).
    pub fn prometheus(&self) -> String {
        use nodeherd_core::metrics::expose::{HostSample, NodeSample, render};
        let nodes: Vec<NodeSample<'_>> = self
            .nodes
            .iter()
            .filter_map(|n| {
                n.sample.as_ref().map(|s| NodeSample {
                    host: &n.host,
                    node: &n.node,
                    client: &n.client,
                    sample: &s.raw,
                })
            })
            .collect();
        let hosts: Vec<HostSample<'_>> = self
            .hosts
            .iter()
            .filter_map(|h| {
                h.facts.as_ref().map(|f| HostSample {
                    host: &h.host,
                    facts: f,
                })
            })
            .collect();
        let mut out = render(&nodes, &hosts);
        // Reachability, so a scraper can alert on nodeherd's own view.
        out.push_str("# HELP nodeherd_node_up 1 when the node's metrics page was read.\n");
        out.push_str("# TYPE nodeherd_node_up gauge\n");
        for n in &self.nodes {
            out.push_str(&format!(
                "nodeherd_node_up{{host=\"{}\",node=\"{}\",client=\"{}\"}} {}\n",
                nodeherd_core::metrics::expose::escape_label_value(&n.host),
                nodeherd_core::metrics::expose::escape_label_value(&n.node),
                nodeherd_core::metrics::expose::escape_label_value(&n.client),
                u8::from(n.sample.is_some())
            ));
        }
        out
    }
}

/// How a gather runs.
#[derive(Debug, Clone)]
pub struct GatherOptions {
    /// Hosts worked on at once.
    pub forks: usize,
    /// When a host has no earlier CPU sample (a one-shot run), read the host facts twice this far apart so
    /// CPU% and network rates are known. `None`: one read, rates only from the store's previous sample.
    pub rate_window: Option<Duration>,
    /// Ask the client APIs besides the metrics page: the Beacon node API of clients that have
    /// one, and the JSON-RPC of execution clients with an `rpc_port` (head, peers, version).
    pub beacon_api: bool,
}

impl Default for GatherOptions {
    fn default() -> Self {
        GatherOptions {
            forks: fleet::DEFAULT_FORKS,
            rate_window: None,
            beacon_api: true,
        }
    }
}

/// Scrape `nodes` (grouped by host, one SSH session each). Never fails as a whole.
/// With a `store`, host rates come from its previous samples and the store is not changed (call
/// [`MetricsStore::record`] afterwards).
pub async fn gather(
    pool: &Pool,
    inv: &Inventory,
    nodes: &[NodeRef],
    opts: &GatherOptions,
    store: Option<&MetricsStore>,
) -> Snapshot {
    let groups = crate::fleet::by_host(nodes);
    let per_host = fleet::run_all(groups, opts.forks, |(h, refs)| async move {
        let prev = store.and_then(|s| s.last_facts(&inv.hosts[h].name));
        gather_host(pool, inv, h, &refs, opts, prev).await
    })
    .await;
    let mut snap = Snapshot::default();
    for (_, (host, nodes)) in per_host {
        snap.hosts.push(host);
        snap.nodes.extend(nodes);
    }
    snap
}

async fn gather_host(
    pool: &Pool,
    inv: &Inventory,
    h: usize,
    refs: &[NodeRef],
    opts: &GatherOptions,
    prev: Option<&HostFacts>,
) -> (HostMetrics, Vec<NodeMetrics>) {
    let host = &inv.hosts[h];
    let now = Utc::now();
    let session = match pool.session(&host.target).await {
        Ok(s) => s,
        Err(e) => {
            let msg = nodeherd_core::text::sanitize(&e.to_string());
            let hm = HostMetrics {
                host: host.name.clone(),
                facts: None,
                cpu_percent: None,
                net: None,
                clock_offset_ms: None,
                error: Some(msg.clone()),
                at: now,
            };
            let nodes = refs
                .iter()
                .map(|r| blank_node(&host.name, &host.nodes[r.node], now))
                .map(|mut n| {
                    n.problem = Some(NodeProblem::Unreachable(msg.clone()));
                    n
                })
                .collect();
            return (hm, nodes);
        }
    };
    let data_dir = refs
        .iter()
        .find_map(|r| host.nodes[r.node].data_dir.as_ref())
        .map_or_else(|| "/".into(), |p| p.display().to_string());
    let facts_fut = host_facts(&session, &host.name, &data_dir, opts.rate_window, prev);
    let nodes_fut = futures::future::join_all(refs.iter().map(|r| {
        let node = &host.nodes[r.node];
        scrape_node(&session, &host.name, node, opts.beacon_api)
    }));
    let (hm, nodes) = tokio::join!(facts_fut, nodes_fut);
    (hm, nodes)
}

fn blank_node(host: &str, node: &Node, at: DateTime<Utc>) -> NodeMetrics {
    NodeMetrics {
        host: host.to_string(),
        node: node.name.clone(),
        client: node.client.as_str().to_string(),
        sample: None,
        beacon: None,
        problem: None,
        scrape_ms: None,
        page_bytes: None,
        at,
    }
}

/// The host command as an argv (same script as `nodeherd_core::facts::host::host_command`, quoted by `Command`).
pub fn host_facts_command(data_dir: &str) -> Command {
    Command::new("sh")
        .arg("-c")
        .arg(host::HOST_SCRIPT)
        .arg("nodeherd-host")
        .arg(data_dir)
        .become_root(false)
}

/// Why a host's facts could not be read (the text is what [`HostMetrics::error`] records).
#[derive(Debug, thiserror::Error)]
enum FactsError {
    /// The command did not run (the SSH error, sanitized).
    #[error("{0}")]
    Exec(String),
    #[error(transparent)]
    Parse(#[from] host::HostParseError),
}

async fn read_facts(session: &Session, data_dir: &str) -> Result<(HostFacts, f64), FactsError> {
    let sent = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let out = session
        .exec(&host_facts_command(data_dir))
        .await
        .map_err(|e| FactsError::Exec(nodeherd_core::text::sanitize(&e.to_string())))?;
    let recv = Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let facts = host::parse_host(&out.stdout_str())?;
    let offset = facts
        .time_ns
        .map_or(f64::NAN, |t| host::clock_offset_ms(t, sent, recv));
    Ok((facts, offset))
}

async fn host_facts(
    session: &Session,
    name: &str,
    data_dir: &str,
    window: Option<Duration>,
    prev: Option<&HostFacts>,
) -> HostMetrics {
    let at = Utc::now();
    let mut hm = HostMetrics {
        host: name.to_string(),
        facts: None,
        cpu_percent: None,
        net: None,
        clock_offset_ms: None,
        error: None,
        at,
    };
    let first = match read_facts(session, data_dir).await {
        Ok(f) => f,
        Err(e) => {
            hm.error = Some(e.to_string());
            return hm;
        }
    };
    let (base, (facts, offset)) = match (prev, window) {
        (Some(p), _) => (Some(p.clone()), first),
        (None, Some(w)) => {
            tokio::time::sleep(w).await;
            match read_facts(session, data_dir).await {
                Ok(second) => (Some(first.0), second),
                Err(_) => (None, first),
            }
        }
        (None, None) => (None, first),
    };
    if let Some(b) = &base {
        let (cpu, net) = host::host_rates(b, &facts);
        hm.cpu_percent = cpu;
        hm.net = net;
    }
    hm.clock_offset_ms = offset.is_finite().then_some(offset);
    hm.facts = Some(facts);
    hm
}

/// GET `path` on the host's `127.0.0.1:port` through the session, bounded by [`HTTP_TIMEOUT`].
pub async fn get_through(
    session: &Session,
    port: u16,
    path: &str,
) -> Result<http::Response, NodeProblem> {
    let stream = session
        .forward(port)
        .await
        .map_err(|e| forward_problem(&e, port))?;
    match tokio::time::timeout(HTTP_TIMEOUT, http::get(stream, path, &[])).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(NodeProblem::BadPage(format!(
            "127.0.0.1:{port}{path}: {}",
            nodeherd_core::text::sanitize(&e.to_string())
        ))),
        Err(_) => Err(NodeProblem::BadPage(format!(
            "127.0.0.1:{port}{path}: no answer within {}s",
            HTTP_TIMEOUT.as_secs()
        ))),
    }
}

fn forward_problem(e: &SshError, port: u16) -> NodeProblem {
    let msg = nodeherd_core::text::sanitize(&e.to_string());
    match e {
        // A refused direct-tcpip open means nothing listens; a dead session is "unreachable".
        SshError::Channel { message, .. } if message.contains(&format!("127.0.0.1:{port}")) => {
            NodeProblem::PortClosed(msg)
        }
        _ => NodeProblem::Unreachable(msg),
    }
}

/// The metrics-table name of an inventory client kind (the inventory says `cosmos`, its metrics are
/// CometBFT's).
pub fn metrics_kind(kind: nodeherd_core::inventory::ClientKind) -> &'static str {
    match kind {
        nodeherd_core::inventory::ClientKind::Cosmos => "cometbft",
        other => other.as_str(),
    }
}

/// Scrape one node: its metrics page and, with `beacon_api` (client APIs), the Beacon API's
/// health/syncing/version or an execution client's JSON-RPC head/peers/version.
pub async fn scrape_node(
    session: &Session,
    host: &str,
    node: &Node,
    beacon_api: bool,
) -> NodeMetrics {
    let mut nm = blank_node(host, node, Utc::now());
    let table = clients::for_client(metrics_kind(node.client));
    let metrics_fut = async {
        let port = node.metrics_port?;
        let t = Instant::now();
        let r = get_through(session, port, "/metrics").await;
        Some((r, t.elapsed()))
    };
    let beacon_fut = async {
        match (beacon_api && table.beacon_api, node.rest_port) {
            (true, Some(port)) => Some(beacon::beacon_info(session, port).await),
            _ => None,
        }
    };
    let rpc_fut = async {
        let specs = rpc::specs_for(node, table);
        match (beacon_api && !specs.is_empty(), node.rpc_port) {
            (true, Some(port)) => Some(rpc::ask(session, port, specs).await),
            _ => None,
        }
    };
    let (m, b, r) = tokio::join!(metrics_fut, beacon_fut, rpc_fut);
    nm.beacon = b;
    if let Some((r, took)) = m {
        nm.scrape_ms = Some(took.as_secs_f64() * 1000.0);
        match r.and_then(|resp| page_from(&resp)) {
            Ok(text) => {
                nm.page_bytes = Some(text.len());
                nm.sample = Some(SampleOut::from_sample(page::extract(&text, table)));
            }
            Err(p) => nm.problem = Some(p),
        }
    }
    if let Some(answers) = r {
        rpc::merge(&mut nm, answers);
    }
    nm
}

/// The text of a metrics answer, or why it is not one.
pub fn page_from(resp: &http::Response) -> Result<String, NodeProblem> {
    if resp.status != 200 {
        return Err(NodeProblem::BadPage(format!(
            "/metrics answered HTTP {}",
            resp.status
        )));
    }
    let text = String::from_utf8(resp.body.clone())
        .map_err(|_| NodeProblem::BadPage("/metrics page is not UTF-8".into()))?;
    let looks_prom = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .is_some_and(|l| {
            l.starts_with('#')
                || l.split_whitespace()
                    .nth(1)
                    .is_some_and(|v| v.parse::<f64>().is_ok())
                || l.contains('{')
        });
    if !looks_prom {
        return Err(NodeProblem::BadPage(
            "/metrics page is not Prometheus text".into(),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beacon_answers_from_a_real_lodestar() {
        let s = parse_syncing(br#"{"data":{"head_slot":"4","sync_distance":"0","is_syncing":false,"is_optimistic":false}}"#).unwrap();
        assert_eq!(
            s,
            Syncing {
                head_slot: Some(4),
                sync_distance: Some(0),
                is_syncing: Some(false),
                is_optimistic: Some(false)
            }
        );
        assert_eq!(
            parse_version(br#"{"data":{"version":"Lodestar/v1.5.1/2115aa7"}}"#).as_deref(),
            Some("Lodestar/v1.5.1/2115aa7")
        );
        assert_eq!(parse_syncing(b"not json"), None);
        assert_eq!(parse_version(br#"{"data":{}}"#), None);
        assert_eq!(
            semver_of("Lodestar/v1.5.1/2115aa7").as_deref(),
            Some("1.5.1")
        );
        assert_eq!(semver_of("v1.5.1/2115aa7").as_deref(), Some("1.5.1"));
        assert_eq!(semver_of("nothing"), None);
    }

    fn resp(status: u16, body: &str) -> http::Response {
        http::Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn every_inventory_kind_has_its_table() {
        use nodeherd_core::inventory::ClientKind;
        for k in ClientKind::ALL {
            let t = clients::for_client(metrics_kind(k));
            assert_eq!(
                t.kind,
                metrics_kind(k),
                "{k:?} falls back to the generic table"
            );
        }
    }

    #[test]
    fn page_checks() {
        let real = std::fs::read_to_string(concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/tests/fixtures/metrics/lodestar-1.5.1-bn-metrics.prom"
        ))
        .unwrap();
        assert!(page_from(&resp(200, &real)).is_ok());
        assert!(matches!(
            page_from(&resp(404, "Not Found")),
            Err(NodeProblem::BadPage(_))
        ));
        assert!(matches!(
            page_from(&resp(200, "<html>hello</html>")),
            Err(NodeProblem::BadPage(_))
        ));
    }

    fn node_row(host: &str, head: f64, at_ms: i64) -> NodeMetrics {
        let mut s = Sample::default();
        s.values.insert(Signal::HeadSlot, head);
        s.values.insert(Signal::WallSlot, head + 3.0);
        NodeMetrics {
            host: host.into(),
            node: "bn".into(),
            client: "lodestar".into(),
            sample: Some(SampleOut::from_sample(s)),
            beacon: None,
            problem: None,
            scrape_ms: Some(5.0),
            page_bytes: Some(100),
            at: DateTime::from_timestamp_millis(at_ms).unwrap(),
        }
    }

    #[test]
    fn store_keeps_bounded_series_per_node_and_signal() {
        let mut store = MetricsStore::new(3);
        for i in 0..5 {
            let snap = Snapshot {
                nodes: vec![node_row("h1", 10.0 + i as f64, 1_000 * i)],
                hosts: vec![],
            };
            store.record(&snap);
        }
        let s = store.node_series("h1", "bn", Signal::HeadSlot).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.last(), Some((4_000, 14.0)));
        let d = store
            .series(&SeriesKey::node("h1", "bn", SeriesKind::SyncDistance))
            .unwrap();
        assert_eq!(d.last(), Some((4_000, 3.0)));
        assert!(store.node_series("h2", "bn", Signal::HeadSlot).is_none());
        assert_eq!(store.latest().map(|s| s.nodes.len()), Some(1));
    }

    #[test]
    fn json_shape_names_signals() {
        let row = node_row("h1", 7.0, 0);
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["sample"]["values"]["head_slot"], 7.0);
        assert_eq!(row.sync_distance(), Some(3.0));
        let p = serde_json::to_value(NodeProblem::PortClosed("x".into())).unwrap();
        assert_eq!(p["kind"], "port_closed");
    }
}
