//! Tests of the probe table, the parsers (on captured real answers where a real client ran
//! here; on the documented answer shapes where none could) and the gate.

use std::time::Duration;

use super::answers::*;
use super::*;
use crate::inventory::{Backup, ClientKind, DeclaredProbe, Node, Role};

fn fixture(rel: &str) -> String {
    let p = format!("{}/../../tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn node(client: ClientKind, role: Role) -> Node {
    Node {
        name: "n".into(),
        client,
        role,
        unit: "n.service".into(),
        network: None,
        install_dir: "/opt/nodeherd/n".into(),
        data_dir: None,
        rest_port: None,
        metrics_port: None,
        keymanager_port: None,
        keymanager_token_file: None,
        release_feed: None,
        rpc_port: None,
        api_port: None,
        daemon: None,
        valoper: None,
        keystore_dir: None,
        probe: None,
        backup: Backup::None,
        backup_keep: 2,
    }
}

#[test]
fn the_table_gives_every_kind_its_probe() {
    let mut bn = node(ClientKind::Lodestar, Role::Beacon);
    bn.rest_port = Some(9596);
    assert_eq!(
        probe_for(&bn),
        Probe::Api {
            api: Api::BeaconApi,
            port: 9596
        }
    );
    let mut vc = node(ClientKind::Lodestar, Role::Validator);
    vc.metrics_port = Some(5064);
    vc.keymanager_port = Some(5062);
    vc.rest_port = Some(9596); // the beacon node it talks to: not its own health
    assert_eq!(
        probe_for(&vc),
        Probe::Validator {
            metrics_port: Some(5064),
            keymanager_port: Some(5062)
        }
    );
    let mut el = node(ClientKind::Ethereumjs, Role::Execution);
    el.rpc_port = Some(8545);
    assert_eq!(
        probe_for(&el),
        Probe::Api {
            api: Api::EthJsonRpc,
            port: 8545
        }
    );
    let mut cosmos = node(ClientKind::Cosmos, Role::Consensus);
    cosmos.rpc_port = Some(26657);
    assert_eq!(
        probe_for(&cosmos),
        Probe::Api {
            api: Api::CometBft,
            port: 26657
        }
    );
    let mut sub = node(ClientKind::Substrate, Role::Other);
    sub.rpc_port = Some(9944);
    assert_eq!(
        probe_for(&sub),
        Probe::Api {
            api: Api::Substrate,
            port: 9944
        }
    );
    let mut waku = node(ClientKind::Nwaku, Role::Other);
    waku.rest_port = Some(8645);
    assert_eq!(
        probe_for(&waku),
        Probe::Api {
            api: Api::Nwaku,
            port: 8645
        }
    );
    assert!(probe_for(&waku).settles());
    // nothing to probe: gated on the unit, and the plan says why
    let generic = node(ClientKind::Generic, Role::Other);
    let Probe::UnitOnly { why } = probe_for(&generic) else {
        panic!()
    };
    assert!(why.contains("declare probe"), "{why}");
    let geth = node(ClientKind::Geth, Role::Execution);
    let Probe::UnitOnly { why } = probe_for(&geth) else {
        panic!()
    };
    assert!(why.contains("rpc_port"), "{why}");
    // a declared probe wins over the client's own
    let mut declared = bn.clone();
    let d = DeclaredProbe::Http {
        port: 8080,
        path: "/ok".into(),
        status: 200,
    };
    declared.probe = Some(d.clone());
    assert_eq!(probe_for(&declared), Probe::Declared(d));
}

#[test]
fn probes_describe_themselves() {
    let p = Probe::Api {
        api: Api::EthJsonRpc,
        port: 8545,
    };
    assert_eq!(
        p.to_string(),
        "JSON-RPC on 127.0.0.1:8545 (web3_clientVersion, eth_syncing false, eth_blockNumber advancing)"
    );
    let u = probe_for(&node(ClientKind::Generic, Role::Other)).to_string();
    assert!(
        u.starts_with("unit settled without a restart only ("),
        "{u}"
    );
}

#[test]
fn execution_answers_captured_from_ethereumjs() {
    let v = rpc_string(&fixture("ethereumjs/0.10.5/web3_clientVersion.json")).unwrap();
    assert_eq!(v, "EthereumJS/0.10.5/linux/node20.20.2");
    assert!(version_matches(&v, "0.10.5"));
    assert!(!version_matches(&v, "0.10.4"));
    assert_eq!(
        eth_syncing(&fixture("ethereumjs/0.10.5/eth_syncing.json")),
        Some(false)
    );
    assert_eq!(
        rpc_quantity(&fixture("ethereumjs/0.10.5/eth_blockNumber.json")),
        Some(3)
    );
    assert_eq!(
        rpc_quantity(&fixture("ethereumjs/0.10.5/net_peerCount.json")),
        Some(0)
    );
    let v4 = rpc_string(&fixture("ethereumjs/0.10.4/web3_clientVersion.json")).unwrap();
    assert!(version_matches(&v4, "0.10.4"), "{v4}");
    // an error answer is quoted, not taken as a value
    let e = rpc_result(
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"method not found"}}"#,
    );
    assert_eq!(e.unwrap_err(), "error method not found");
    assert_eq!(
        eth_syncing(
            r#"{"jsonrpc":"2.0","id":1,"result":{"startingBlock":"0x0","currentBlock":"0x1","highestBlock":"0x9"}}"#
        ),
        Some(true)
    );
    assert!(version_matches(
        "Geth/v1.14.0-stable-abcdef12/linux-amd64/go1.22.2",
        "1.14.0"
    ));
    assert!(version_matches(
        "Geth/v1.14.0-stable-abcdef12/linux-amd64/go1.22.2",
        "v1.14.0"
    ));
}

#[test]
fn beacon_and_validator_answers_captured_from_lodestar() {
    let v = beacon_version(r#"{"data":{"version":"Lodestar/v1.5.1/2115aa7"}}"#).unwrap();
    assert!(version_matches(&v, "1.5.1"));
    assert!(!version_matches(&v, "1.5.10"));
    let s = r#"{"data":{"head_slot":"2","sync_distance":"0","is_syncing":false,"is_optimistic":false}}"#;
    assert_eq!(
        (beacon_head_slot(s), beacon_syncing(s)),
        (Some(2), Some(false))
    );
    let vc = fixture("metrics/lodestar-1.5.1-vc-metrics.prom");
    assert_eq!(metrics_version(&vc).as_deref(), Some("v1.5.1/2115aa7"));
    assert!(metrics_alive(&vc));
    assert!(!metrics_alive("# HELP x\n# TYPE x gauge\n"));
    assert_eq!(
        metrics_version("nodejs_version_info{version=\"v20.20.2\"} 1\n"),
        None
    );
}

#[test]
fn cometbft_substrate_and_nwaku_answers_of_the_documented_shape() {
    // Shape of CometBFT's RPC reference (GET /status); no CometBFT binary runs here (#13).
    let st = comet_status(r#"{"jsonrpc":"2.0","id":-1,"result":{"node_info":{"version":"0.38.12","network":"cosmoshub-4"},"sync_info":{"latest_block_height":"21800123","catching_up":false}}}"#).unwrap();
    assert_eq!(
        st,
        answers::CometStatus {
            version: Some("0.38.12".into()),
            height: Some(21_800_123),
            catching_up: Some(false)
        }
    );
    assert!(comet_status(r#"{"result":{}}"#).is_none());
    // Substrate RPC reference: system_health, chain_getHeader.
    assert_eq!(
        substrate_health(
            r#"{"jsonrpc":"2.0","id":1,"result":{"peers":12,"isSyncing":false,"shouldHavePeers":true}}"#
        ),
        Some((false, 12))
    );
    assert_eq!(
        substrate_best(
            r#"{"jsonrpc":"2.0","id":1,"result":{"number":"0x1a2b","parentHash":"0x00"}}"#
        ),
        Some(0x1a2b)
    );
    assert_eq!(
        nwaku_ready(r#"{"nodeHealth":"Ready","protocolsHealth":[]}"#),
        Some(true)
    );
    assert_eq!(nwaku_ready(r#"{"nodeHealth":"Initializing"}"#), Some(false));
    assert_eq!(nwaku_ready("Node is healthy"), None);
}

fn good(progress: u64, version: &str) -> Reading {
    Reading {
        unit_active: true,
        unit_state: "running".into(),
        main_pid: Some(100),
        restarts: Some(0),
        check: Some(Check::Healthy),
        version: Some(version.into()),
        progress: Some(progress),
        ..Reading::default()
    }
}

const S: Duration = Duration::from_secs(1);

#[test]
fn a_progress_gate_needs_the_version_and_an_advance() {
    let p = Probe::Api {
        api: Api::EthJsonRpc,
        port: 8545,
    };
    let mut g = Gate::new(p.clone(), Some("0.10.5"), false, 30 * S);
    assert!(!g.observe(good(3, "EthereumJS/0.10.5/linux/node20"), S));
    assert!(!g.observe(good(3, "EthereumJS/0.10.5/linux/node20"), 3 * S));
    assert_eq!(g.reason(), "the block number did not advance (stuck at 3)");
    assert!(g.observe(good(4, "EthereumJS/0.10.5/linux/node20"), 5 * S));
    // old version answering: never passes, and says so
    let mut g = Gate::new(p.clone(), Some("0.10.5"), false, 30 * S);
    for i in 0..5 {
        assert!(!g.observe(
            good(i, "EthereumJS/0.10.4/linux/node20"),
            Duration::from_secs(i)
        ));
    }
    assert_eq!(
        g.reason(),
        "the node reports version \"EthereumJS/0.10.4/linux/node20\", not 0.10.5"
    );
    // syncing: refused unless accepted, with the node's answer quoted
    let mut g = Gate::new(p, None, false, 30 * S);
    let mut r = good(1, "x");
    r.check = Some(Check::Syncing);
    r.said = Some("eth_syncing: {currentBlock 0x1}".into());
    assert!(!g.observe(r.clone(), S));
    assert!(
        g.reason()
            .starts_with("JSON-RPC says the node is syncing: eth_syncing"),
        "{}",
        g.reason()
    );
    let mut g = Gate::new(
        Probe::Api {
            api: Api::EthJsonRpc,
            port: 1,
        },
        None,
        true,
        30 * S,
    );
    assert!(!g.observe(r.clone(), S));
    r.progress = Some(2);
    assert!(g.observe(r, 2 * S));
}

#[test]
fn a_settle_gate_needs_the_unit_up_without_a_restart() {
    let p = Probe::UnitOnly {
        why: "nothing".into(),
    };
    let mut g = Gate::new(p, Some("1.2.0"), false, 10 * S);
    let mut r = good(0, "");
    r.check = None;
    r.version = None;
    assert!(!g.observe(r.clone(), Duration::ZERO));
    assert!(!g.observe(r.clone(), 5 * S));
    assert_eq!(
        g.reason(),
        "the unit was up 5s without a restart, 10s needed"
    );
    // a restart (new PID, counter up) starts the clock again and is named
    let mut again = r.clone();
    again.main_pid = Some(200);
    again.restarts = Some(1);
    assert!(!g.observe(again.clone(), 8 * S));
    assert!(!g.observe(again.clone(), 15 * S));
    assert_eq!(g.reason(), "the unit restarted (NRestarts 0 -> 1)");
    assert!(g.observe(again, 18 * S));
    // down: named with systemd's sub state
    let mut g = Gate::new(Probe::UnitOnly { why: String::new() }, None, false, 10 * S);
    let mut down = r;
    down.unit_active = false;
    down.unit_state = "auto-restart".into();
    assert!(!g.observe(down, S));
    assert_eq!(g.reason(), "the unit is not active (auto-restart)");
}

#[test]
fn a_declared_probe_must_pass_all_along() {
    let d = DeclaredProbe::Http {
        port: 8080,
        path: "/health".into(),
        status: 200,
    };
    let mut g = Gate::new(Probe::Declared(d), None, false, 4 * S);
    let mut r = good(0, "");
    r.check = Some(Check::Healthy);
    assert!(!g.observe(r.clone(), Duration::ZERO));
    let mut bad = r.clone();
    bad.check = Some(Check::Unhealthy);
    bad.said = Some("GET /health answered 503: down".into());
    assert!(!g.observe(bad, 2 * S));
    assert_eq!(
        g.reason(),
        "the declared probe says the node is not healthy: GET /health answered 503: down"
    );
    assert!(!g.observe(r.clone(), 3 * S));
    assert!(!g.observe(r.clone(), 5 * S));
    assert!(g.observe(r, 7 * S));
    // no answer at all
    let mut g = Gate::new(
        Probe::Api {
            api: Api::BeaconApi,
            port: 9596,
        },
        None,
        false,
        S,
    );
    let mut r = good(1, "v");
    r.error = Some("/eth/v1/node/health: no answer within 10s".into());
    assert!(!g.observe(r, S));
    assert_eq!(
        g.reason(),
        "the Beacon API is not answering (/eth/v1/node/health: no answer within 10s)"
    );
}

#[test]
fn a_crash_loop_is_hopeless_at_once() {
    let mut g = Gate::new(Probe::UnitOnly { why: String::new() }, None, false, 10 * S);
    let mut r = good(0, "");
    r.unit_active = false;
    r.unit_state = "auto-restart".into();
    r.restarts = Some(0);
    assert!(!g.observe(r.clone(), S));
    assert!(!g.hopeless());
    r.restarts = Some(1);
    g.observe(r.clone(), 3 * S);
    assert!(!g.hopeless());
    r.restarts = Some(2);
    g.observe(r.clone(), 5 * S);
    assert!(g.hopeless());
    assert_eq!(
        g.reason(),
        "the unit is not active (auto-restart), restarted 2 times (crash loop)"
    );
    // up again after restarts: not hopeless (it may settle)
    r.unit_active = true;
    g.observe(r, 7 * S);
    assert!(!g.hopeless());
}

#[test]
fn cosmos_upgrade_names_match_app_versions() {
    use answers::{abci_version, upgrade_name_matches};
    assert!(upgrade_name_matches("v19.0.0", "v19"));
    assert!(upgrade_name_matches("19.1.0-rc0", "v19"));
    assert!(upgrade_name_matches("v19.0.0", "v19.0.0"));
    assert!(!upgrade_name_matches("v18.1.0", "v19"));
    assert!(!upgrade_name_matches("v190.0.0", "v19"));
    // a name that is no version: nothing to compare
    assert!(upgrade_name_matches("v4.2.0", "Greenhouse"));
    // ABCI info's shape (CometBFT RPC reference, GET /abci_info)
    let body = r#"{"jsonrpc":"2.0","id":-1,"result":{"response":{"data":"GaiaApp","version":"v19.0.0","last_block_height":"20739799","last_block_app_hash":"YWJj"}}}"#;
    assert_eq!(abci_version(body).as_deref(), Some("v19.0.0"));
    assert_eq!(abci_version(r#"{"result":{"response":{}}}"#), None);
}
