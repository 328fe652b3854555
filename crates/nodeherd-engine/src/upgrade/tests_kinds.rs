//! The upgrade engine on every node kind (not only beacon nodes), through the scripted fake host
//! on tokio's paused clock: an execution client gated on JSON-RPC, a validator client on its
//! metrics and keymanager, a generic node on its unit settling or on a declared probe. Each
//! passes on a good release and is rolled back, quoting the node, on a broken one.

use std::path::PathBuf;

use nodeherd_core::inventory::{Inventory, NodeRef};

use super::tests::{
    INSPECT, NEW, OLD, SWITCH, assert_untouched, host, playbook, signalled, upgrade,
};
use crate::testing::{FakeRemote, HttpReply, Match, Reply};
use crate::upgrade::engine::{Status, Target, gate_text};

/// A target for one node written as inventory TOML lines, with `settle = "10s"`.
fn target(node: &str) -> Target {
    let text = format!(
        "[defaults]\nuser = \"root\"\n[hosts.h1]\naddress = \"192.0.2.1\"\n[hosts.h1.nodes.bn]\nunit = \"lodestar-bn.service\"\ninstall_dir = \"/opt/nh/bn\"\n{node}"
    );
    let inv = Inventory::from_sources(vec![(PathBuf::from("/t/hosts.toml"), text)])
        .unwrap_or_else(|e| panic!("{e:?}"));
    let pb = playbook("[upgrade]\nsettle = \"10s\"\nhealth_timeout = \"60s\"\n");
    Target::new(&inv, NodeRef { host: 0, node: 0 }, &pb)
}

fn on_new(h: &[String]) -> bool {
    h.iter().any(|l| l.contains(SWITCH)) && !signalled(h, "abort")
}

/// The unit as `systemctl show` tells it: steady on the old version; on the new one, steady
/// or (when `crash`) restarting again and again.
fn unit(f: &FakeRemote, crash: bool) {
    f.on_with(Match::contains("systemctl show"), move |_, h| {
        let n = h.iter().filter(|l| l.contains("systemctl show")).count();
        if on_new(h) && crash {
            Reply::ok(format!(
                "Id=lodestar-bn.service\nActiveState=activating\nSubState=auto-restart\nMainPID=0\nNRestarts={n}\n"
            ))
        } else {
            let pid = if on_new(h) { 200 } else { 100 };
            Reply::ok(format!(
                "Id=lodestar-bn.service\nActiveState=active\nSubState=running\nMainPID={pid}\nNRestarts=0\n"
            ))
        }
    });
}

fn rpc(result: &str) -> HttpReply {
    HttpReply::Answer(
        200,
        format!(r#"{{"jsonrpc":"2.0","id":1,"result":{result}}}"#),
    )
}

/// An execution client on JSON-RPC port 8545; the new version answers `new_version` (or is
/// stuck at one block when `stuck`).
fn execution_host(new_version: &'static str, stuck: bool) -> FakeRemote {
    let f = host("h1", super::tests::Node::default());
    unit(&f, false);
    f.rpc_with(8545, "eth_syncing", |_, _| rpc("false"));
    f.rpc_with(8545, "net_peerCount", |_, _| rpc("\"0x0\""));
    f.rpc_with(8545, "web3_clientVersion", move |_, h| {
        let v = if on_new(h) { new_version } else { OLD };
        rpc(&format!("\"EthereumJS/{v}/linux/node20.20.2\""))
    });
    f.rpc_with(8545, "eth_blockNumber", move |i, h| {
        let b = if stuck && on_new(h) { 7 } else { 7 + i };
        rpc(&format!("\"0x{b:x}\""))
    });
    f
}

const EL: &str = "client = \"ethereumjs\"\nrpc_port = 8545\n";

#[tokio::test(start_paused = true)]
async fn an_execution_client_is_gated_on_json_rpc() {
    let t = target(EL);
    assert_eq!(
        gate_text(&t),
        "JSON-RPC on 127.0.0.1:8545 (web3_clientVersion, eth_syncing false, eth_blockNumber advancing)"
    );
    let f = execution_host(NEW, false);
    let o = upgrade(&f, &t).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert!(
        f.ran("web3_clientVersion") == 0,
        "JSON-RPC goes over a forward, not a command"
    );
}

#[tokio::test(start_paused = true)]
async fn an_execution_client_that_stops_advancing_is_rolled_back() {
    let f = execution_host(NEW, true);
    let o = upgrade(&f, &target(EL)).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail
            .contains("the block number did not advance (stuck at 7)"),
        "{}",
        o.detail
    );
    assert!(
        o.detail.contains(&format!("{OLD} is healthy again")),
        "{}",
        o.detail
    );
}

#[tokio::test(start_paused = true)]
async fn an_execution_client_on_the_wrong_version_is_rolled_back() {
    let f = execution_host("9.9.9", false);
    let o = upgrade(&f, &target(EL)).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail.contains("reports version \"EthereumJS/9.9.9"),
        "{}",
        o.detail
    );
}

const GENERIC: &str = "client = \"generic\"\n";

#[tokio::test(start_paused = true)]
async fn a_generic_node_with_nothing_to_probe_is_gated_on_its_unit() {
    let t = target(GENERIC);
    assert!(
        gate_text(&t).starts_with("unit settled without a restart only"),
        "{}",
        gate_text(&t)
    );
    assert!(gate_text(&t).ends_with("settle 10s"), "{}", gate_text(&t));
    let f = host("h1", super::tests::Node::default());
    unit(&f, false);
    let o = upgrade(&f, &t).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert!(signalled(&f.lines(), "confirm"));
}

#[tokio::test(start_paused = true)]
async fn a_generic_node_that_crash_loops_is_rolled_back() {
    let f = host("h1", super::tests::Node::default());
    unit(&f, true);
    let o = upgrade(&f, &target(GENERIC)).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail.contains("the unit is not active (auto-restart)"),
        "{}",
        o.detail
    );
    assert!(signalled(&f.lines(), "abort"));
    assert!(!signalled(&f.lines(), "confirm"));
}

#[tokio::test(start_paused = true)]
async fn a_declared_probe_quotes_the_node_when_it_fails() {
    let f = host("h1", super::tests::Node::default());
    unit(&f, false);
    f.http_with(8080, "/healthz", |_, h| {
        if on_new(h) {
            HttpReply::Answer(503, "db migration failed".into())
        } else {
            HttpReply::Answer(200, "ok".into())
        }
    });
    let t = target("client = \"generic\"\nprobe = { http = \"http://127.0.0.1:8080/healthz\" }\n");
    let o = upgrade(&f, &t).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail.contains("the declared probe says the node is not healthy: GET /healthz answered 503: db migration failed"),
        "{}",
        o.detail
    );
}

#[tokio::test(start_paused = true)]
async fn a_declared_command_probe_runs_on_the_host() {
    let f = host("h1", super::tests::Node::default());
    unit(&f, false);
    f.on_with(Match::contains("/usr/local/bin/node-ok"), |_, h| {
        if on_new(h) {
            Reply::ok("fine\n")
        } else {
            Reply::fail(1, "not yet")
        }
    });
    let t =
        target("client = \"generic\"\nprobe = { command = \"/usr/local/bin/node-ok --strict\" }\n");
    // before the switch the probe fails: refused, nothing changed
    let o = upgrade(&f, &t).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail
            .contains("`/usr/local/bin/node-ok --strict` exited 1: not yet"),
        "{}",
        o.detail
    );
    assert_untouched(&f);
    // the command went through the shell quoted as one argument
    assert!(
        f.lines()
            .iter()
            .any(|l| l.contains("sh -c '/usr/local/bin/node-ok --strict'")),
        "{:#?}",
        f.lines()
    );
}

/// A validator client: metrics (with the version) and keymanager (401 without the token).
fn validator_host(new_version: &'static str) -> FakeRemote {
    let f = host("h1", super::tests::Node::default());
    unit(&f, false);
    f.http_with(5064, "/metrics", move |_, h| {
        let v = if on_new(h) { new_version } else { OLD };
        HttpReply::Answer(200, format!("# TYPE lodestar_version gauge\nlodestar_version{{version=\"v{v}/2115aa7\",network=\"dev\"}} 1\nvc_validators 8\n"))
    });
    f.http(
        5062,
        "/eth/v1/keystores",
        401,
        "{\"message\":\"unauthorized\"}",
    );
    f
}

const VC: &str =
    "client = \"lodestar\"\nrole = \"validator\"\nmetrics_port = 5064\nkeymanager_port = 5062\n";

#[tokio::test(start_paused = true)]
async fn a_validator_client_is_gated_on_its_metrics_and_keymanager() {
    let t = target(VC);
    assert_eq!(
        gate_text(&t),
        "validator client: unit settled without a restart, metrics on 127.0.0.1:5064 answering (version when published), keymanager on 127.0.0.1:5062 answering; settle 10s"
    );
    let o = upgrade(&validator_host(NEW), &t).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let f = validator_host("1.0.0");
    let o = upgrade(&f, &t).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    assert!(
        o.detail
            .contains("reports version \"v1.0.0/2115aa7\", not 1.5.1"),
        "{}",
        o.detail
    );
}

#[tokio::test(start_paused = true)]
async fn a_node_without_its_api_port_is_gated_on_its_unit_and_says_why() {
    let t = target("client = \"geth\"\n");
    assert!(
        gate_text(&t).contains("the node has no rpc_port for JSON-RPC"),
        "{}",
        gate_text(&t)
    );
    let f = host("h1", super::tests::Node::default());
    unit(&f, false);
    f.on(
        Match::contains(INSPECT),
        Reply::ok(format!(
            "current=releases/{OLD}\nprevious=\nrelease={OLD}\nswitch=inactive\n"
        )),
    );
    let o = upgrade(&f, &t).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn the_guard_is_told_the_previous_release_to_restore() {
    let f = host("h1", super::tests::Node::default());
    unit(&f, true);
    f.on(
        Match::contains(INSPECT),
        Reply::ok(format!(
            "current=releases/{OLD}\nprevious=releases/1.0.0\nrelease=1.0.0\nrelease={OLD}\nswitch=inactive\n"
        )),
    );
    let o = upgrade(&f, &target(GENERIC)).await;
    assert_eq!(o.status, Status::RolledBack, "{o:?}");
    let sw = f.lines().into_iter().find(|l| l.contains(SWITCH)).unwrap();
    // the previous release (1.0.0; the switch is 1.4.2 -> 1.5.1) is one of the guard's arguments
    assert!(
        sw.contains(" 1.0.0 ") || sw.trim_end().ends_with(" 1.0.0"),
        "{sw}"
    );
}
