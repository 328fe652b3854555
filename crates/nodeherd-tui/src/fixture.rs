//! Fixed, synthetic TUI states for snapshots, tests and the render benchmark.
//!
//! Owns: sample data only (no I/O, a fixed clock): the fleet, detail and alerts here, the keys
//! screen in `keys`, releases/plan/history in `plans`, the Cosmos screen in `cosmos`. May not
//! touch: anything outside the TUI state.

mod cosmos;
mod keys;
mod plans;

pub use cosmos::*;
pub use keys::*;
pub use plans::*;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::state::{AlertRow, AlertState, App, NodeMetrics, NodeRow};
use nodeherd_core::facts::systemd::{JournalLine, UnitState};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::metrics::series::Series;
use nodeherd_engine::status::NodeStatus;

/// The fixed "now" of every fixture.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A unit in `active/sub` with a pid, entered `ago` seconds before [`now`].
pub fn unit(id: &str, active: &str, sub: &str, pid: Option<u32>, ago: i64) -> UnitState {
    let t = now() - Duration::seconds(ago);
    UnitState {
        id: id.into(),
        load_state: "loaded".into(),
        active_state: active.into(),
        sub_state: sub.into(),
        main_pid: pid,
        active_since: (active == "active").then_some(t),
        inactive_since: (active != "active").then_some(t),
        exec_main_status: if active == "failed" { Some(1) } else { Some(0) },
        result: if active == "failed" {
            "exit-code".into()
        } else {
            "success".into()
        },
        restarts: Some(0),
        unit_file_state: "enabled".into(),
        description: String::new(),
    }
}

/// A row as the inventory would give it, not polled yet.
pub fn row(
    h: usize,
    n: usize,
    host: &str,
    node: &str,
    client: &str,
    network: Option<&str>,
) -> NodeRow {
    NodeRow {
        r: NodeRef { host: h, node: n },
        host: host.into(),
        address: format!("10.213.0.{}", 11 + h),
        node: node.into(),
        client: client.into(),
        role: if client == "generic" {
            "other"
        } else {
            "beacon"
        }
        .into(),
        network: network.map(str::to_string),
        unit: format!("{node}.service"),
        status: None,
        metrics: NodeMetrics::default(),
        alerts: 0,
        upgrade: None,
    }
}

/// The status a poll would report for `r` with unit state `u` (None = host unreachable).
pub fn status(
    r: &NodeRow,
    u: Option<UnitState>,
    version: Option<&str>,
    error: Option<&str>,
) -> NodeStatus {
    NodeStatus {
        host: r.host.clone(),
        node: r.node.clone(),
        client: r.client.clone(),
        unit: r.unit.clone(),
        error: error.map(str::to_string).or_else(|| {
            u.as_ref()
                .and_then(nodeherd_core::facts::systemd::UnitState::problem)
        }),
        unit_state: u,
        version: version.map(str::to_string),
        unit_file: None,
        last_log: None,
        checked_at: now() - Duration::seconds(3),
    }
}

fn series(len: usize, f: impl Fn(usize) -> f64) -> Series {
    let mut s = Series::new(120);
    let t0 = now().timestamp_millis() - (len as i64) * 6000;
    for i in 0..len {
        s.push(t0 + (i as i64) * 6000, f(i));
    }
    s
}

/// A healthy fleet of 6 nodes on 4 hosts, one with metrics, an upgrade and an alert.
pub fn fleet(readonly: bool) -> App {
    let mut rows = vec![
        row(0, 0, "eth-a1", "lodestar-bn", "lodestar", Some("holesky")),
        row(0, 1, "eth-a1", "lodestar-vc", "lodestar", Some("holesky")),
        row(1, 0, "eth-a2", "geth", "geth", Some("holesky")),
        row(2, 0, "cosmos-1", "gaiad", "cosmos", Some("hub-4")),
        row(3, 0, "lab-1", "demo", "generic", None),
        row(3, 1, "lab-1", "demo-2", "generic", None),
    ];
    let pids = [812, 813, 2201, 990, 455, 456];
    for (i, r) in rows.iter_mut().enumerate() {
        let u = unit(
            &r.unit,
            "active",
            "running",
            Some(pids[i]),
            300 + 60 * i as i64,
        );
        r.status = Some(status(
            r,
            Some(u),
            Some(["1.5.1", "1.5.1", "1.14.11", "v19.0.0", "", ""][i]).filter(|v| !v.is_empty()),
            None,
        ));
    }
    rows[0].metrics = NodeMetrics {
        head_slot: Some(81_234),
        sync_distance: Some(0),
        peers: Some(42),
        cpu_pct: Some(12.0),
        mem_pct: Some(41.5),
        disk_pct: Some(63.0),
        series: vec![
            ("head slot".into(), series(40, |i| 81_194.0 + i as f64)),
            ("peers".into(), series(40, |i| 38.0 + (i % 5) as f64)),
            ("cpu %".into(), series(40, |i| 8.0 + ((i * 7) % 9) as f64)),
            ("mem %".into(), series(40, |i| 40.0 + (i as f64) * 0.04)),
        ],
    };
    rows[1].metrics.peers = Some(42);
    rows[2].metrics = NodeMetrics {
        sync_distance: Some(128),
        peers: Some(17),
        cpu_pct: Some(71.0),
        mem_pct: Some(80.2),
        disk_pct: Some(91.0),
        ..NodeMetrics::default()
    };
    rows[2].alerts = 1;
    rows[0].upgrade = Some("1.6.0".into());
    let mut app = App::from_rows(rows, readonly);
    app.last_poll = Some(now() - Duration::seconds(3));
    app.refresh_view();
    app
}

/// The fleet with an unreachable host (both its nodes) and a failed unit with its last log line.
pub fn fleet_with_problems() -> App {
    let mut app = fleet(false);
    let unreachable = "cannot connect to eth-a1 (10.213.0.11:22): connection timed out after 10s";
    for i in 0..2 {
        let r = app.rows[i].clone();
        app.rows[i].status = Some(status(&r, None, None, Some(unreachable)));
        app.rows[i].metrics = NodeMetrics::default();
    }
    let r = app.rows[4].clone();
    let mut st = status(
        &r,
        Some(unit(&r.unit, "failed", "failed", None, 95)),
        None,
        None,
    );
    st.last_log = Some("demo.service: Main process exited, code=exited, status=1/FAILURE".into());
    app.rows[4].status = Some(st);
    app.refresh_view();
    app
}

/// No nodes at all.
pub fn empty() -> App {
    App::from_rows(Vec::new(), false)
}

/// Journal lines for the detail screen; one carries raw escape sequences (a title change, a
/// screen clear and colours) that must never reach the terminal.
pub fn journal() -> Vec<JournalLine> {
    let t0 = now() - Duration::seconds(60);
    let msgs = [
        "info: Synced - slot: 81230 - head: 0x6f1c…a2 - finalized: 0x11e0…9c:2538",
        "info: Synced - slot: 81231 - head: 0x0a9d…41 - finalized: 0x11e0…9c:2538",
        "warn: Peer disconnected peer=16Uiu2HAm… reason=goodbye",
        "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31merror\u{1b}[0m: injected \u{1b}[1mescape\u{1b}[0m sequences stripped",
        "info: Synced - slot: 81232 - head: 0x77b3…0e - finalized: 0x11e0…9c:2538",
        "info: a very long line that goes on and on to show what wrapping does with it when w is pressed in the detail view of a node",
        "info: Synced - slot: 81233 - head: 0x5c2a…d7 - finalized: 0x11e0…9c:2538",
        "error: Error on submitting attestation err=timeout",
        "info: Synced - slot: 81234 - head: 0x9e41…63 - finalized: 0x11e0…9c:2539",
    ];
    msgs.iter()
        .enumerate()
        .map(|(i, m)| JournalLine {
            time: Some(t0 + Duration::seconds(6 * i as i64)),
            host: "eth-a1".into(),
            ident: "lodestar[812]".into(),
            message: (*m).into(),
        })
        .collect()
}

/// The detail screen of eth-a1/lodestar-bn with its journal.
pub fn detail() -> App {
    let mut app = fleet(false);
    let r = app.rows[0].r;
    app.screen = crate::state::Screen::Detail;
    app.back = vec![crate::state::Screen::Fleet];
    app.detail = Some(r);
    app.log.node = Some(r);
    for l in journal() {
        app.log.push(l);
    }
    app
}

/// Alerts in every state.
pub fn alerts() -> Vec<AlertRow> {
    let at = |s: i64| now() - Duration::seconds(s);
    vec![
        AlertRow {
            state: AlertState::Firing,
            severity: "crit".into(),
            rule: "node_down".into(),
            host: "lab-1".into(),
            node: "demo".into(),
            since: at(95),
            summary: "unit failed: last run ended: exit-code (status 1)".into(),
        },
        AlertRow {
            state: AlertState::Firing,
            severity: "warn".into(),
            rule: "disk_full".into(),
            host: "eth-a2".into(),
            node: "geth".into(),
            since: at(3600),
            summary: "disk 91% used on /".into(),
        },
        AlertRow {
            state: AlertState::Pending,
            severity: "warn".into(),
            rule: "sync_lag".into(),
            host: "eth-a2".into(),
            node: "geth".into(),
            since: at(40),
            summary: "128 slots behind for 40s (fires after 5m)".into(),
        },
        AlertRow {
            state: AlertState::Silenced,
            severity: "info".into(),
            rule: "low_peers".into(),
            host: "cosmos-1".into(),
            node: "gaiad".into(),
            since: at(7200),
            summary: "silenced for 2h by operator".into(),
        },
        AlertRow {
            state: AlertState::Resolved,
            severity: "crit".into(),
            rule: "node_down".into(),
            host: "eth-a1".into(),
            node: "lodestar-vc".into(),
            since: at(86_400 * 2),
            summary: "resolved after 4m".into(),
        },
    ]
}

/// `n` nodes of synthetic state with every column filled (the render benchmark).
pub fn synthetic(n: usize) -> App {
    let clients = ["lodestar", "geth", "lighthouse", "nimbus", "reth", "cosmos"];
    let rows: Vec<NodeRow> = (0..n)
        .map(|i| {
            let h = i / 4;
            let mut r = row(
                h,
                i % 4,
                &format!("host-{h:04}"),
                &format!("node-{}", i % 4),
                clients[i % clients.len()],
                Some("mainnet"),
            );
            let state = if i % 17 == 0 {
                unit(&r.unit, "failed", "failed", None, 60)
            } else {
                unit(&r.unit, "active", "running", Some(1000 + i as u32), 600)
            };
            r.status = Some(status(&r, Some(state), Some("1.5.1"), None));
            r.metrics = NodeMetrics {
                head_slot: Some(9_000_000 + i as u64),
                sync_distance: Some((i % 7) as u64),
                peers: Some((i % 80) as u32),
                cpu_pct: Some((i % 100) as f64),
                mem_pct: Some(((i * 3) % 100) as f64),
                disk_pct: Some(((i * 7) % 100) as f64),
                series: vec![("head slot".into(), series(60, |k| (9_000_000 + k) as f64))],
            };
            r.alerts = usize::from(i % 13 == 0);
            r.upgrade = (i % 5 == 0).then(|| "1.6.0".to_string());
            r
        })
        .collect();
    let mut app = App::from_rows(rows, false);
    app.last_poll = Some(now());
    app
}
