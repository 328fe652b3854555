//! `nodeherd metrics [SELECTOR] [--json | --prometheus | --serve ADDR]`: a snapshot of every selected node's
//! metrics and its host's facts, as a table, JSON, Prometheus text, or served over HTTP for a Prometheus.

use super::context::{self, Fail};
use super::{Output, exit, serve, table};
use nodeherd_core::inventory::{Inventory, NodeRef};
use nodeherd_core::metrics::Signal;
use nodeherd_engine::metrics::{self, GatherOptions, MetricsStore, Snapshot};
use nodeherd_transport::ssh::Pool;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How the snapshot is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Prometheus,
}

/// How long a one-shot run waits between two reads of a host's counters (for CPU% and network rates).
pub const ONE_SHOT_RATE_WINDOW: Duration = Duration::from_millis(500);

pub async fn run(
    inventory: &Path,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    format: Format,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let nodes = context::select(&inv, selector, limit)?;
    let pool = context::pool();
    let opts = GatherOptions {
        forks,
        rate_window: Some(ONE_SHOT_RATE_WINDOW),
        beacon_api: true,
    };
    let snap = metrics::gather(&pool, &inv, &nodes, &opts, None).await;
    pool.close_all().await;
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&snap).unwrap_or_else(|_| "{}".into())
        ),
        Format::Prometheus => print!("{}", snap.prometheus()),
        Format::Table => print!("{}", render(&snap, out)),
    }
    let failed = snap.nodes.iter().any(|n| n.problem.is_some())
        || snap.hosts.iter().any(|h| h.error.is_some());
    Ok(if failed { exit::FAILED } else { exit::OK })
}

fn f0(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.0}"))
}

fn f1(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// The metrics table (pure).
pub fn render(snap: &Snapshot, out: Output) -> String {
    let header = [
        "HOST", "NODE", "CLIENT", "HEAD", "WALL", "DIST", "PEERS", "FINAL", "HEALTH", "VERSION",
        "CPU%", "MEM%", "DISK%", "LOAD", "PROBLEM",
    ];
    let body: Vec<Vec<String>> = snap
        .nodes
        .iter()
        .map(|n| {
            let h = snap.host(&n.host);
            let health = n
                .beacon
                .as_ref()
                .map_or("-", nodeherd_engine::metrics::BeaconInfo::health_word);
            let colour = match health {
                "ready" => "32",
                "syncing" => "33",
                "-" => "0",
                _ => "31",
            };
            let problem = n
                .problem
                .as_ref()
                .map(std::string::ToString::to_string)
                .or_else(|| h.and_then(|h| h.error.clone()))
                .or_else(|| n.beacon.as_ref().and_then(|b| b.error.clone()))
                .unwrap_or_default();
            let wall = n
                .get(Signal::WallSlot)
                .or_else(|| n.get(Signal::HighestBlock));
            vec![
                n.host.clone(),
                n.node.clone(),
                n.client.clone(),
                f0(n.head()),
                f0(wall),
                f0(n.sync_distance()),
                f0(n.get(Signal::Peers)),
                f0(n.get(Signal::FinalizedEpoch)
                    .or_else(|| n.get(Signal::FinalizedHeight))),
                out.paint(health, colour),
                n.version()
                    .map_or_else(|| "-".into(), |v| table::clip(v, 28)),
                f1(h.and_then(|h| h.cpu_percent)),
                f1(h.and_then(nodeherd_engine::metrics::HostMetrics::mem_percent)),
                f1(h.and_then(nodeherd_engine::metrics::HostMetrics::disk_percent)),
                h.and_then(|h| h.facts.as_ref().and_then(|f| f.load1))
                    .map_or_else(|| "-".into(), |l| format!("{l:.2}")),
                problem,
            ]
        })
        .collect();
    let ok = snap.nodes.iter().filter(|n| n.problem.is_none()).count();
    let mut s = table::render(&header, &body);
    s.push_str(&format!(
        "{} nodes: {} read, {} with problems\n",
        snap.nodes.len(),
        ok,
        snap.nodes.len() - ok
    ));
    s
}

// ---------------------------------------------------------------------------------------------
// --serve

struct Cache {
    text: String,
    at: Option<Instant>,
}

struct Server {
    inv: Inventory,
    nodes: Vec<NodeRef>,
    pool: Pool,
    opts: GatherOptions,
    min_interval: Duration,
    cache: Mutex<Cache>,
    store: Mutex<MetricsStore>,
}

impl serve::Page for Server {
    /// The page: re-gathered at most once per `min_interval`; concurrent scrapes share one gather.
    async fn page(&self) -> String {
        let mut cache = self.cache.lock().await;
        if cache.at.is_some_and(|t| t.elapsed() < self.min_interval) {
            return cache.text.clone();
        }
        let snap = {
            let store = self.store.lock().await;
            metrics::gather(&self.pool, &self.inv, &self.nodes, &self.opts, Some(&store)).await
        };
        self.store.lock().await.record(&snap);
        cache.text = snap.prometheus();
        cache.at = Some(Instant::now());
        cache.text.clone()
    }
}

/// Serve `GET /metrics` on `addr` until Ctrl-C (the HTTP side is `cli::serve`).
pub async fn serve(
    inventory: &Path,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    addr: &str,
    min_interval: Duration,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let nodes = context::select(&inv, selector, limit)?;
    let addr: SocketAddr = addr.parse().map_err(|e| {
        eprintln!("error: --serve {addr:?}: {e} (write e.g. 127.0.0.1:9464)");
        Fail(exit::USAGE)
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("error: cannot listen on {addr}: {e}");
        Fail(exit::FAILED)
    })?;
    eprintln!(
        "serving http://{}/metrics for {} nodes (re-gathered at most every {}s); Ctrl-C stops",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        nodes.len(),
        min_interval.as_secs_f64()
    );
    let server = Arc::new(Server {
        inv,
        nodes,
        pool: context::pool(),
        opts: GatherOptions {
            forks,
            rate_window: None,
            beacon_api: true,
        },
        min_interval,
        cache: Mutex::new(Cache {
            text: String::new(),
            at: None,
        }),
        store: Mutex::new(MetricsStore::new(2)),
    });
    serve::serve_on(listener, server.clone(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    server.pool.close_all().await;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nodeherd_core::metrics::page::Sample;
    use nodeherd_engine::metrics::{BeaconInfo, NodeMetrics, NodeProblem, SampleOut};

    #[test]
    fn table_shows_values_and_problems() {
        let mut s = Sample::default();
        s.values.insert(Signal::HeadSlot, 120.0);
        s.values.insert(Signal::WallSlot, 121.0);
        s.values.insert(Signal::Peers, 0.0);
        let at = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let ok = NodeMetrics {
            host: "h1".into(),
            node: "bn".into(),
            client: "lodestar".into(),
            sample: Some(SampleOut::from_sample(s)),
            beacon: Some(BeaconInfo {
                health: Some(200),
                sync_distance: Some(0),
                version: Some("Lodestar/v1.5.1/2115aa7".into()),
                ..Default::default()
            }),
            problem: None,
            scrape_ms: Some(3.0),
            page_bytes: Some(10),
            at,
        };
        let mut bad = ok.clone();
        bad.node = "vc".into();
        bad.sample = None;
        bad.beacon = None;
        bad.problem = Some(NodeProblem::PortClosed("nothing on 5064".into()));
        let snap = Snapshot {
            nodes: vec![ok, bad],
            hosts: vec![],
        };
        let t = render(
            &snap,
            Output {
                json: false,
                color: false,
                quiet: false,
            },
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[1].contains("120") && lines[1].contains("ready"),
            "{t}"
        );
        assert!(lines[1].contains("Lodestar/v1.5.1/2115aa7"), "{t}");
        // the Beacon API's distance (0) wins over wall - head (1)
        let cols: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cols[5], "0", "{t}");
        assert!(lines[2].contains("port closed: nothing on 5064"), "{t}");
        assert!(t.ends_with("2 nodes: 1 read, 1 with problems\n"));
    }
}
