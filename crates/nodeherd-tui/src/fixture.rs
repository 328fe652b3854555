//! Fixed, synthetic TUI states for snapshots, tests and the render benchmark.
//!
//! Owns: sample data only (no I/O, a fixed clock). May not touch: anything outside the TUI state.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::state::{AlertRow, AlertState, App, NodeMetrics, NodeRow};
use nodeherd_core::inventory::NodeRef;
use nodeherd_core::metrics::series::Series;
use nodeherd_engine::status::NodeStatus;
use nodeherd_core::facts::systemd::{JournalLine, UnitState};

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
        error: error
            .map(str::to_string)
            .or_else(|| u.as_ref().and_then(|u| u.problem())),
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

/// The plan rows of the releases screen: one upgrade ready, one in its delay, one up to date,
/// one whose host did not answer.
pub fn release_rows() -> Vec<crate::state::ReleaseRow> {
    use crate::state::ReleaseRow;
    let later = |h: i64| {
        (now() + Duration::hours(h))
            .format("%Y-%m-%d %H:%M UTC")
            .to_string()
    };
    vec![
        ReleaseRow {
            host: "eth-a1".into(),
            node: "lodestar-bn".into(),
            running: Some("1.5.1".into()),
            allowed: Some("1.6.0".into()),
            previous: Some("1.5.0".into()),
            to: Some("1.6.0".into()),
            next: Some(("1.7.0".into(), later(51))),
            reason: "newest allowed release".into(),
            why: vec![
                format!("1.7.0: too young, eligible at {}", later(51)),
                "1.7.0-rc.1: pre-release (channel stable)".into(),
            ],
            notes: vec![
                "1.6.0: the notes mention \"hard fork\"".into(),
                "Mandatory release for the Fusaka hard fork on all networks".into(),
            ],
        },
        ReleaseRow {
            host: "eth-a1".into(),
            node: "lodestar-vc".into(),
            running: Some("1.5.1".into()),
            allowed: Some("1.5.1".into()),
            previous: None,
            to: None,
            next: Some(("1.6.0".into(), later(5))),
            reason: "up to date for its policy".into(),
            why: vec![format!("1.6.0: too young, eligible at {}", later(5))],
            notes: Vec::new(),
        },
        ReleaseRow {
            host: "eth-a2".into(),
            node: "geth".into(),
            running: Some("1.14.11".into()),
            allowed: Some("1.14.11".into()),
            previous: Some("1.14.10".into()),
            to: None,
            next: None,
            reason: "up to date for its policy".into(),
            why: Vec::new(),
            notes: Vec::new(),
        },
        ReleaseRow {
            host: "cosmos-1".into(),
            node: "gaiad".into(),
            running: None,
            allowed: Some("19.2.0".into()),
            previous: None,
            to: None,
            next: None,
            reason: "host unreachable: connect to 10.213.0.9:22: \u{1b}[31mtimed out\u{1b}[0m"
                .into(),
            why: Vec::new(),
            notes: Vec::new(),
        },
    ]
}

/// The releases screen with a loaded plan (the second row selected).
pub fn releases() -> App {
    let mut app = fleet(false);
    app.screen = crate::state::Screen::Releases;
    app.back = vec![crate::state::Screen::Fleet];
    app.releases.data = Some(release_rows());
    app.releases.at = Some(now() - Duration::seconds(12));
    app.releases_selected = 0;
    app
}

/// Interop pubkeys 0-2 (EIP-2333 test keys), as a keymanager lists them.
pub const PUBKEYS: [&str; 3] = [
    "0xa99a76ed7796f7be22d5b7e85deeb7c5677e88e511e0b337618f8c4eb61349b4bf2d153f649f7b53359fe8b94a38e44c",
    "0xb89bebc699769726a318c8e9971bd3171297c61aea4a6578a7a4f94b547dcba5bac16a89108b6b6a1fe3695d1a874a0b",
    "0xa3a32b0f8b4ddb83f1a0a853d81dd725dfe577d4f4c3db8ece52ce2b026eca84815c1a7e8e92a4de3d755733bf7e4a9b",
];

/// The keys of two validator nodes: eth-a1/lodestar-vc holds three (one read-only, one remote),
/// lab-1/demo-2 could not be asked.
pub fn node_keys() -> Vec<crate::state::NodeKeys> {
    use crate::state::{KeyEntry, NodeKeys};
    let vc = NodeRef { host: 0, node: 1 };
    let key = |i: usize, readonly: bool, remote: bool| KeyEntry {
        r: vc,
        host: "eth-a1".into(),
        node: "lodestar-vc".into(),
        pubkey: PUBKEYS[i].into(),
        readonly: Some(readonly),
        remote,
        derivation_path: (!remote).then(|| format!("m/12381/3600/{i}/0/0")),
        cosmos: None,
    };
    vec![
        NodeKeys {
            r: vc,
            host: "eth-a1".into(),
            node: "lodestar-vc".into(),
            keys: Ok(vec![
                key(0, false, false),
                key(1, true, false),
                key(2, false, true),
            ]),
            cosmos: false,
        },
        NodeKeys {
            r: NodeRef { host: 3, node: 1 },
            host: "lab-1".into(),
            node: "demo-2".into(),
            keys: Err("lab-1/demo-2: keymanager API: connection refused (127.0.0.1:5062)".into()),
            cosmos: false,
        },
    ]
}

/// [`node_keys`] plus two CometBFT validators holding the same consensus key (a double-sign
/// risk) and a third one whose state file could not be read.
pub fn node_keys_with_cosmos() -> Vec<crate::state::NodeKeys> {
    use crate::state::{CosmosKey, KeyEntry, NodeKeys};
    let gaia = |host: usize, name: &str, pubkey: &str, address: &str, signed| {
        let r = NodeRef { host, node: 0 };
        NodeKeys {
            r,
            host: name.into(),
            node: "gaiad".into(),
            keys: Ok(vec![KeyEntry {
                r,
                host: name.into(),
                node: "gaiad".into(),
                pubkey: pubkey.into(),
                readonly: Some(true),
                remote: false,
                derivation_path: None,
                cosmos: Some(CosmosKey {
                    address: address.into(),
                    last_signed: signed,
                }),
            }]),
            cosmos: true,
        }
    };
    let shared = "GclWl4hUHXpG0Vcx8w4GsvkDiFx9Bkqgh0z83jglMmU=";
    let mut v = node_keys();
    v.push(gaia(
        4,
        "cosmos-1",
        shared,
        "43F8D04714E674064F1F2A687844C7671915599D",
        Some((1204, 0, 3)),
    ));
    v.push(gaia(
        5,
        "cosmos-2",
        shared,
        "43F8D04714E674064F1F2A687844C7671915599D",
        Some((1203, 1, 2)),
    ));
    v.push(gaia(
        6,
        "cosmos-3",
        "EMTKXmA09DIKMy+wj+HWyyf21R7o0PYgy5tr/4+2ehw=",
        "E0E0A2DD55F125D49781671A99DFC3E674379402",
        None,
    ));
    v
}

/// The keys screen with [`node_keys`] listed.
pub fn keys(readonly: bool) -> App {
    let mut app = fleet(readonly);
    app.screen = crate::state::Screen::Keys;
    app.back = vec![crate::state::Screen::Fleet];
    app.keys.data = Some(node_keys());
    app.keys.at = Some(now() - Duration::seconds(4));
    app
}

/// An import into lab-1/demo-2 of two keystores, as the check worker hands it to the dialog.
pub fn import_ask() -> crate::state::ImportAsk {
    crate::state::ImportAsk {
        r: NodeRef { host: 3, node: 1 },
        host: "lab-1".into(),
        node: "demo-2".into(),
        files: vec![
            "keys/keystore-m_12381_3600_0_0_0-1763700000.json".into(),
            "keys/keystore-m_12381_3600_1_0_0-1763700000.json".into(),
        ],
        pubkeys: vec![PUBKEYS[0].into(), PUBKEYS[1].into()],
        password_file: "keys/password.txt".into(),
        slashing: Some("keys/slashing-protection.json".into()),
        guard_asked: 1,
    }
}

/// A move of the first key from eth-a1/lodestar-vc to lab-1/demo-2, as checked.
pub fn move_ask() -> crate::state::MoveAsk {
    crate::state::MoveAsk {
        pubkey: PUBKEYS[0].into(),
        from: NodeRef { host: 0, node: 1 },
        from_label: "eth-a1/lodestar-vc".into(),
        to: NodeRef { host: 3, node: 1 },
        to_label: "lab-1/demo-2".into(),
        keystore: "keys/keystore-m_12381_3600_0_0_0-1763700000.json".into(),
        password_file: "keys/password.txt".into(),
    }
}

/// A plan over the fleet fixture: a version switch, a start and a stop, two no-ops, one unknown.
pub fn plan() -> nodeherd_core::plan::apply::Plan {
    use nodeherd_core::plan::apply::{Change, NoOp, Plan, Planned, Unknown};
    let ch = |host: &str, node: &str, change: Change, reason: &str| Planned {
        host: host.into(),
        node: node.into(),
        change,
        reason: reason.into(),
    };
    let noop = |host: &str, node: &str, why: &str| NoOp {
        host: host.into(),
        node: node.into(),
        why: why.into(),
    };
    Plan {
        changes: vec![
            ch(
                "eth-a1",
                "lodestar-bn",
                Change::SwitchVersion {
                    from: Some("1.4.2".into()),
                    to: "1.5.1".into(),
                },
                "version = \"policy\": newest allowed release",
            ),
            ch(
                "eth-a2",
                "geth",
                Change::Start,
                "desired running, unit inactive/dead",
            ),
            ch(
                "lab-1",
                "demo-2",
                Change::Stop,
                "desired stopped, unit active/running",
            ),
        ],
        noops: vec![
            noop("eth-a1", "lodestar-vc", "running 1.5.1 as declared"),
            noop("lab-1", "demo", "version unmanaged; running as declared"),
        ],
        unknown: vec![Unknown {
            host: "cosmos-1".into(),
            node: "gaiad".into(),
            error: "ssh: connect to 10.213.0.40:22: connection refused".into(),
        }],
    }
}

/// The inputs an apply of `p` would run with (nothing gathered: tests only check the flow).
pub fn plan_inputs(p: &nodeherd_core::plan::apply::Plan) -> std::sync::Arc<crate::msg::PlanInputs> {
    std::sync::Arc::new(crate::msg::PlanInputs {
        plan: p.clone(),
        refs: Vec::new(),
        gathered: nodeherd_engine::apply::run::Gathered {
            nodes: Vec::new(),
            facts: Vec::new(),
            policy: Default::default(),
            targets: Default::default(),
            unit_wants: Default::default(),
        },
        desired: Default::default(),
        playbook: Default::default(),
    })
}

/// The plan screen with [`plan`] loaded (first change selected).
pub fn plan_screen(readonly: bool) -> App {
    let mut app = fleet(readonly);
    app.screen = crate::state::Screen::Plan;
    app.back = vec![crate::state::Screen::Fleet];
    app.plan.playbook = Some("playbooks/site.toml".into());
    let p = plan();
    app.plan.inputs = Some(plan_inputs(&p));
    app.plan.plan.data = Some(p);
    app.plan.plan.at = Some(now() - Duration::seconds(4));
    app
}

/// The plan screen while an apply runs: live progress on the switch and the start.
pub fn plan_running() -> App {
    let mut app = plan_screen(false);
    app.plan.applying = true;
    app.progress
        .insert("eth-a1/lodestar-bn".into(), "gate passed".into());
    app.progress.insert("eth-a2/geth".into(), "queued".into());
    app.progress.insert("lab-1/demo-2".into(), "queued".into());
    app
}

/// The plan screen after an apply: the switch verified, the start failed, the stop verified.
pub fn plan_summary() -> App {
    use nodeherd_engine::apply::run::ChangeResult;
    let mut app = plan_screen(false);
    let results = plan()
        .changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| ChangeResult {
            host: c.host,
            node: c.node,
            change: c.change,
            ok: i != 1,
            verified: i != 1,
            detail: if i == 1 {
                "start: unit entered failed/failed (exit code 1)".into()
            } else {
                "ok".into()
            },
        })
        .collect();
    app.plan.results = Some(results);
    app.plan.inputs = None;
    app
}

/// Journal entries of three upgrades/rollbacks and one apply (oldest first, as merged).
pub fn history_entries() -> Vec<nodeherd_core::journal::Entry> {
    let e =
        |time: &str, action: &str, node: &str, from: &str, to: &str, result: &str, detail: &str| {
            nodeherd_core::journal::Entry {
                time: time.into(),
                who: "ops@console".into(),
                action: action.into(),
                node: node.into(),
                from: from.into(),
                to: to.into(),
                result: result.into(),
                detail: detail.into(),
                run: String::new(),
            }
        };
    vec![
        e(
            "2025-12-30T09:12:00Z",
            "upgrade",
            "eth-a2/geth",
            "1.14.10",
            "1.14.11",
            "ok",
            "gate passed in 41s",
        ),
        e(
            "2025-12-31T17:02:10Z",
            "upgrade",
            "eth-a1/lodestar-bn",
            "1.5.0",
            "1.5.1",
            "rolled-back (health gate failed)",
            "peers 0 after 120s",
        ),
        e(
            "2025-12-31T17:20:00Z",
            "rollback",
            "lab-1/demo",
            "2.0.0",
            "1.9.0",
            "ok",
            "",
        ),
        e(
            "2026-01-01T11:40:00Z",
            "apply",
            "*",
            "",
            "",
            "ok",
            "2 change(s), 2 verified",
        ),
    ]
}

/// The history screen, loaded, with one host whose journal could not be read.
pub fn history() -> App {
    let mut app = fleet(false);
    app.screen = crate::state::Screen::History;
    app.back = vec![crate::state::Screen::Fleet];
    app.history.data = Some(crate::state::HistoryData {
        entries: history_entries(),
        errors: vec!["cosmos-1: ssh: connection refused".into()],
    });
    app.history.at = Some(now() - Duration::seconds(2));
    app
}
