//! Unit tests of loading and precedence (fixtures and snapshots live in tests/inventory.rs).

use std::path::PathBuf;
use std::time::Duration;

use crate::inventory::*;
use crate::remote::HostKeyPolicy;

fn load(files: &[(&str, &str)]) -> Result<Inventory, InventoryError> {
    Inventory::from_sources(
        files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect(),
    )
}

fn ok(files: &[(&str, &str)]) -> Inventory {
    match load(files) {
        Ok(i) => i,
        Err(e) => panic!("{}", render(&e, false)),
    }
}

fn one(text: &str) -> Inventory {
    ok(&[("/etc/nodeherd/hosts.toml", text)])
}

fn kinds(text: &str) -> Vec<ProblemKind> {
    match load(&[("/etc/nodeherd/hosts.toml", text)]) {
        Ok(_) => panic!("must fail:\n{text}"),
        Err(e) => e.problems.iter().map(|p| p.kind).collect(),
    }
}

fn messages(text: &str) -> Vec<String> {
    match load(&[("/etc/nodeherd/hosts.toml", text)]) {
        Ok(_) => panic!("must fail:\n{text}"),
        Err(e) => e.problems.iter().map(|p| p.message.clone()).collect(),
    }
}

#[test]
fn built_in_defaults() {
    let inv = one(
        "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.lodestar-bn]\nclient = \"lodestar\"\n",
    );
    let h = &inv.hosts[0];
    assert_eq!(h.target.user, "root");
    assert_eq!(h.target.port, 22);
    assert_eq!(h.target.host_key_policy, HostKeyPolicy::Strict);
    assert!(!h.target.become_root);
    assert!(h.target.jump.is_none());
    assert_eq!(h.target.connect_timeout, Duration::from_secs(10));
    assert_eq!(h.target.command_timeout, Duration::from_secs(60));
    let n = &h.nodes[0];
    assert_eq!(n.unit, "lodestar-bn.service");
    assert_eq!(n.install_dir, PathBuf::from("/opt/nodeherd/lodestar-bn"));
    assert_eq!(n.role, Role::Beacon);
    assert_eq!(n.network, None);
}

#[test]
fn defaults_apply_to_every_host_of_the_file() {
    let inv = one(r#"
[defaults]
user = "ops"
port = 2222
become = true
known_hosts = "accept-new"
known_hosts_file = "known_hosts"
identity_files = ["keys/id", "/abs/id"]
connect_timeout = "3s"
command_timeout = "2m"
[hosts.a]
address = "10.0.0.1"
"#);
    let t = &inv.hosts[0].target;
    assert_eq!(
        (t.user.as_str(), t.port, t.become_root),
        ("ops", 2222, true)
    );
    assert_eq!(t.host_key_policy, HostKeyPolicy::AcceptNew);
    // The inventory's known_hosts file comes first, relative to the file's directory.
    assert_eq!(
        t.known_hosts_files[0],
        PathBuf::from("/etc/nodeherd/known_hosts")
    );
    if dirs::home_dir().is_some() {
        assert_eq!(t.known_hosts_files.len(), 2);
        assert!(t.known_hosts_files[1].ends_with(".ssh/known_hosts"));
    }
    assert_eq!(
        t.identity_files,
        vec![
            PathBuf::from("/etc/nodeherd/keys/id"),
            PathBuf::from("/abs/id")
        ]
    );
    assert_eq!(t.connect_timeout, Duration::from_secs(3));
    assert_eq!(t.command_timeout, Duration::from_secs(120));
}

#[test]
fn defaults_are_per_file() {
    let inv = ok(&[
        (
            "/inv/a.toml",
            "[defaults]\nuser = \"ops\"\n[hosts.a]\naddress = \"10.0.0.1\"\n",
        ),
        ("/inv/b.toml", "[hosts.b]\naddress = \"10.0.0.2\"\n"),
    ]);
    assert_eq!(inv.host("a").unwrap().target.user, "ops");
    assert_eq!(inv.host("b").unwrap().target.user, "root");
}

#[test]
fn group_overrides_defaults_and_host_overrides_group() {
    let inv = one(r#"
[defaults]
user = "ops"
port = 22
[groups.g]
hosts = ["a", "b"]
user = "deploy"
port = 2200
[hosts.a]
address = "10.0.0.1"
[hosts.b]
address = "10.0.0.2"
user = "admin"
[hosts.c]
address = "10.0.0.3"
"#);
    assert_eq!(inv.host("a").unwrap().target.user, "deploy");
    assert_eq!(inv.host("a").unwrap().target.port, 2200);
    assert_eq!(inv.host("b").unwrap().target.user, "admin");
    assert_eq!(inv.host("b").unwrap().target.port, 2200);
    assert_eq!(inv.host("c").unwrap().target.user, "ops");
}

#[test]
fn groups_named_by_the_host_count_too() {
    let inv = one(r#"
[groups.g]
become = true
[hosts.a]
address = "10.0.0.1"
groups = ["g"]
"#);
    let a = inv.host("a").unwrap();
    assert!(a.target.become_root);
    assert_eq!(a.groups, vec!["g"]);
    assert_eq!(inv.groups["g"].hosts, vec!["a"]);
}

#[test]
fn parent_groups_apply_and_the_nearer_group_wins() {
    let inv = one(r#"
[groups.mainnet]
children = ["canary"]
user = "ops"
port = 2222
network = "mainnet"
[groups.canary]
hosts = ["c"]
user = "canary"
[hosts.c]
address = "10.0.0.3"
[hosts.c.nodes.n]
client = "generic"
"#);
    let c = inv.host("c").unwrap();
    assert_eq!(
        c.groups,
        vec!["mainnet", "canary"],
        "all groups incl. parents, in definition order"
    );
    assert_eq!(
        c.target.user, "canary",
        "the child group is nearer than its parent"
    );
    assert_eq!(
        c.target.port, 2222,
        "the parent's value applies where the child is silent"
    );
    assert_eq!(c.nodes[0].network.as_deref(), Some("mainnet"));
    assert_eq!(inv.groups["mainnet"].hosts, vec!["c"]);
}

#[test]
fn two_unrelated_groups_disagreeing_is_an_error_naming_both() {
    let text = r#"
[groups.a]
hosts = ["h"]
port = 1
[groups.b]
hosts = ["h"]
port = 2
[hosts.h]
address = "10.0.0.1"
"#;
    assert_eq!(kinds(text), vec![ProblemKind::Conflict]);
    let m = &messages(text)[0];
    assert!(
        m.contains("\"a\"") && m.contains("\"b\"") && m.contains("port"),
        "{m}"
    );
    // The same value in both groups is fine; so is the host settling it.
    one(&text.replace("port = 2", "port = 1"));
    one(&text.replace("address = \"10.0.0.1\"", "address = \"10.0.0.1\"\nport = 3"));
}

#[test]
fn node_network_precedence() {
    let inv = one(r#"
[groups.g]
hosts = ["h"]
network = "holesky"
[hosts.h]
address = "10.0.0.1"
[hosts.h.nodes.a]
client = "lodestar"
[hosts.h.nodes.b]
client = "geth"
network = "sepolia"
"#);
    let h = inv.host("h").unwrap();
    assert_eq!(h.nodes[0].network.as_deref(), Some("holesky"));
    assert_eq!(h.nodes[1].network.as_deref(), Some("sepolia"));
    assert_eq!(h.nodes[1].role, Role::Execution);
}

#[test]
fn roles_default_by_client() {
    for (client, role) in [
        ("lodestar", Role::Beacon),
        ("prysm", Role::Beacon),
        ("reth", Role::Execution),
        ("cosmos", Role::Consensus),
        ("nwaku", Role::Other),
        ("substrate", Role::Other),
        ("generic", Role::Other),
    ] {
        let inv = one(&format!(
            "[hosts.h]\naddress = \"10.0.0.1\"\n[hosts.h.nodes.n]\nclient = \"{client}\"\n"
        ));
        assert_eq!(inv.hosts[0].nodes[0].role, role, "{client}");
    }
}

#[test]
fn jump_chains_and_outside_jumps() {
    let inv = one(r#"
[defaults]
user = "ops"
jump = "inner"
[hosts.outer]
address = "198.51.100.1"
jump = ""
[hosts.inner]
address = "10.0.0.1"
jump = "outer"
[hosts.a]
address = "10.0.1.1"
[hosts.b]
address = "10.0.1.2"
jump = "admin@gw.example.org:2222"
"#);
    let a = inv.host("a").unwrap();
    let chain: Vec<&str> = jump_chain(&a.target)
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(chain, vec!["outer", "inner"], "first hop first");
    assert!(
        inv.host("outer").unwrap().target.jump.is_none(),
        "\"\" overrides the inherited jump"
    );
    let b = inv.host("b").unwrap().target.jump.as_deref().unwrap();
    assert_eq!(
        (b.user.as_str(), b.address.as_str(), b.port),
        ("admin", "gw.example.org", 2222)
    );
    // An inherited jump naming the host itself is ignored (inner's own jump is explicit).
    let inv = one(
        "[defaults]\njump = \"bastion\"\n[hosts.bastion]\naddress = \"198.51.100.1\"\n[hosts.x]\naddress = \"10.0.0.9\"\n",
    );
    assert!(inv.host("bastion").unwrap().target.jump.is_none());
    assert_eq!(
        inv.host("x")
            .unwrap()
            .target
            .jump
            .as_deref()
            .unwrap()
            .address,
        "198.51.100.1"
    );
}

#[test]
fn explicit_self_jump_is_a_cycle() {
    assert_eq!(
        kinds("[hosts.a]\naddress = \"10.0.0.1\"\njump = \"a\"\n"),
        vec![ProblemKind::Cycle]
    );
}

#[test]
fn jump_cycle_is_reported_once() {
    let m = messages(
        "[hosts.a]\naddress = \"1.1.1.1\"\njump = \"b\"\n[hosts.b]\naddress = \"1.1.1.2\"\njump = \"a\"\n",
    );
    assert_eq!(m, vec!["jump hosts form a cycle: a -> b -> a"]);
}

#[test]
fn one_bad_entry_does_not_hide_the_others() {
    let k = kinds(
        r#"
[hosts.a]
address = "10.0.0.1"
[hosts.a.nodes.x]
client = "nope"
[hosts.a.nodes.y]
client = "geth"
unit = "a b"
[hosts.b]
port = 0
[groups.g]
hosts = ["zz"]
colour = "red"
"#,
    );
    use ProblemKind::*;
    assert_eq!(
        k,
        vec![
            InvalidValue,
            InvalidValue,
            MissingField,
            InvalidValue,
            UnknownReference,
            UnknownField
        ]
    );
}

#[test]
fn a_syntax_error_stops_only_its_file() {
    let e = load(&[
        ("/inv/a.toml", "[hosts.a\naddress = 1\n"),
        (
            "/inv/b.toml",
            "[hosts.b]\naddress = \"10.0.0.2\"\nflavour = 1\n",
        ),
    ])
    .unwrap_err();
    let k: Vec<ProblemKind> = e.problems.iter().map(|p| p.kind).collect();
    assert_eq!(k, vec![ProblemKind::Syntax, ProblemKind::UnknownField]);
    assert_eq!(e.problems[0].file_name(), Some("/inv/a.toml"));
    assert_eq!(e.problems[1].file_name(), Some("/inv/b.toml"));
}

#[test]
fn duplicate_group_across_files_and_unknown_members() {
    let e = load(&[
        ("/inv/a.toml", "[groups.g]\nhosts = []\n"),
        ("/inv/b.toml", "[groups.g]\nchildren = [\"nope\"]\n"),
    ])
    .unwrap_err();
    let k: Vec<ProblemKind> = e.problems.iter().map(|p| p.kind).collect();
    assert_eq!(k, vec![ProblemKind::Duplicate]);
}

#[test]
fn zero_nodes_and_empty_inventory_are_fine() {
    let inv = one("[hosts.a]\naddress = \"10.0.0.1\"\n");
    assert!(inv.hosts[0].nodes.is_empty());
    assert!(one("").hosts.is_empty());
}

#[test]
fn hostile_values_are_refused() {
    use ProblemKind::*;
    assert_eq!(
        kinds("[hosts.a]\naddress = \"-oProxyCommand=sh\"\n"),
        vec![InvalidValue]
    );
    assert_eq!(
        kinds("[hosts.a]\naddress = \"10.0.0.1\"\nuser = \"root;id\"\n"),
        vec![InvalidValue]
    );
    assert_eq!(
        kinds("[hosts.\"a b\"]\naddress = \"10.0.0.1\"\n"),
        vec![InvalidValue]
    );
    let node = |field: &str, value: &str| {
        kinds(&format!(
            "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nclient = \"geth\"\n{field} = {value}\n"
        ))
    };
    assert_eq!(node("unit", "\"geth`id`\""), vec![InvalidValue]);
    assert_eq!(node("install_dir", "\"/opt/x\\n\""), vec![InvalidValue]);
    assert_eq!(node("data_dir", "\"/\""), vec![InvalidValue]);
    assert_eq!(
        node("keymanager_token_file", "\"token.txt\""),
        vec![InvalidValue]
    );
    assert_eq!(node("release_feed", "\"ftp://x\""), vec![InvalidValue]);
    assert_eq!(node("rest_port", "-1"), vec![InvalidValue]);
    assert_eq!(node("network", "\"main net\""), vec![InvalidValue]);
    assert_eq!(node("role", "1"), vec![WrongType]);
    assert_eq!(
        kinds("[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nrole = \"beacon\"\n"),
        vec![MissingField]
    );
}

#[test]
fn unknown_fields_everywhere() {
    use ProblemKind::*;
    assert_eq!(kinds("[hostz.a]\n"), vec![UnknownField]);
    assert_eq!(
        kinds("[defaults]\nnetwork = \"mainnet\"\n"),
        vec![UnknownField]
    );
    assert_eq!(kinds("[groups.g]\nadress = \"x\"\n"), vec![UnknownField]);
    assert_eq!(
        kinds(
            "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nclient = \"geth\"\nmetric_port = 1\n"
        ),
        vec![UnknownField]
    );
}

#[test]
fn node_lookup_and_serialization() {
    let inv = one(
        "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nclient = \"teku\"\nmetrics_port = 8008\n",
    );
    let r = inv.find_node("a/n").unwrap();
    assert_eq!(r, NodeRef { host: 0, node: 0 });
    let json = serde_json::to_value(&inv.hosts[0]).unwrap();
    assert_eq!(json["target"]["address"], "10.0.0.1");
    assert_eq!(json["target"]["host_key_policy"], "strict");
    assert_eq!(json["nodes"][0]["client"], "teku");
    assert_eq!(json["nodes"][0]["metrics_port"], 8008);
}

#[test]
fn client_kinds_round_trip() {
    for c in ClientKind::ALL {
        assert_eq!(ClientKind::from_name(c.as_str()), Some(c));
        assert_eq!(c.to_string(), c.as_str());
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        assert!(!(c.is_consensus() && c.is_execution()));
    }
    assert!(ClientKind::Lodestar.is_consensus());
    assert!(ClientKind::Besu.is_execution());
}

#[test]
fn control_characters_in_values_never_reach_the_terminal() {
    let e = load(&[(
        "/inv/h.toml",
        "[hosts.\"a\\u001b[2J\"]\naddress = \"10.0.0.1\"\nuser = \"x\\u001b]0;pwned\\u0007\"\n",
    )])
    .unwrap_err();
    assert_eq!(e.problems.len(), 2);
    for p in &e.problems {
        assert!(!p.message.chars().any(char::is_control), "{:?}", p.message);
        assert!(p.message.contains("\\u{1b}"), "{:?}", p.message);
    }
}

#[test]
fn probes_backups_rpc_ports_and_platforms() {
    let inv = one(r#"
[hosts.a]
address = "10.0.0.1"
platform = "linux/aarch64"
[hosts.a.nodes.el]
client = "geth"
rpc_port = 8545
backup = "snapshot"
backup_keep = 3
[hosts.a.nodes.app]
client = "generic"
probe = { http = "http://127.0.0.1:8080/health", status = 204 }
[hosts.a.nodes.cmd]
client = "generic"
probe = { command = "test -e /run/app.ok" }
[hosts.b]
address = "10.0.0.2"
[hosts.b.nodes.bn]
client = "lodestar"
"#);
    let a = &inv.hosts[0];
    assert_eq!(a.platform.as_ref().unwrap().os_arch(), "linux/aarch64");
    assert!(inv.hosts[1].platform.is_none());
    let by = |n: &str| a.nodes.iter().find(|x| x.name == n).unwrap().clone();
    assert_eq!(by("el").rpc_port, Some(8545));
    assert_eq!(by("el").backup, Backup::Snapshot);
    assert_eq!(by("el").backup_keep, 3);
    assert_eq!(
        by("app").probe,
        Some(DeclaredProbe::Http {
            port: 8080,
            path: "/health".into(),
            status: 204
        })
    );
    assert_eq!(
        by("cmd").probe,
        Some(DeclaredProbe::Command {
            command: "test -e /run/app.ok".into(),
            status: 0
        })
    );
    let bn = &inv.hosts[1].nodes[0];
    assert_eq!(
        (bn.backup, bn.backup_keep, bn.probe.clone()),
        (Backup::None, 2, None)
    );
}

#[test]
fn bad_probes_backups_and_platforms_name_the_line() {
    use ProblemKind::*;
    let node = |field: &str, value: &str| {
        kinds(&format!(
            "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nclient = \"generic\"\n{field} = {value}\n"
        ))
    };
    assert_eq!(
        node("probe", "{ http = \"http://10.0.0.9:80/\" }"),
        vec![InvalidValue]
    );
    assert_eq!(
        node("probe", "{ http = \"https://127.0.0.1/\" }"),
        vec![InvalidValue]
    );
    assert_eq!(node("probe", "{ status = 200 }"), vec![InvalidValue]);
    assert_eq!(
        node(
            "probe",
            "{ http = \"http://127.0.0.1:1/\", command = \"true\" }"
        ),
        vec![InvalidValue]
    );
    assert_eq!(
        node("probe", "{ http = \"http://127.0.0.1:1/\", status = 700 }"),
        vec![InvalidValue]
    );
    assert_eq!(
        node("probe", "{ url = \"http://127.0.0.1:1/\" }"),
        vec![UnknownField]
    );
    assert_eq!(node("probe", "\"http://127.0.0.1:1/\""), vec![WrongType]);
    assert_eq!(node("backup", "\"zfs\""), vec![InvalidValue]);
    assert_eq!(node("backup_keep", "0"), vec![InvalidValue]);
    assert_eq!(node("rpc_port", "70000"), vec![InvalidValue]);
    assert_eq!(node("api_port", "0"), vec![InvalidValue]);
    assert_eq!(node("daemon", "\"../gaiad\""), vec![InvalidValue]);
    assert_eq!(node("daemon", "7"), vec![WrongType]);
    let e = load(&[(
        "/etc/nodeherd/hosts.toml",
        "[hosts.a]\naddress = \"10.0.0.1\"\nplatform = \"linux\"\n",
    )])
    .unwrap_err();
    assert_eq!(e.problems.len(), 1);
    let shown = render(&e, false);
    assert!(shown.contains("hosts.toml:3"), "{shown}");
    assert!(shown.contains("linux/x86_64"), "{shown}");
    let m = messages(
        "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.n]\nclient = \"generic\"\nprobe = { http = \"http://node.example:80/\" }\n",
    );
    assert!(m[0].contains("loopback"), "{m:?}");
}

#[test]
fn cosmos_nodes_name_their_rest_api_and_daemon() {
    let inv = load(&[(
        "/t/h.toml",
        "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.gaia]\nclient = \"cosmos\"\nrpc_port = 26657\napi_port = 1317\ndaemon = \"gaiad\"\ndata_dir = \"/var/lib/gaia\"\n",
    )])
    .unwrap();
    let n = &inv.hosts[0].nodes[0];
    assert_eq!(n.api_port, Some(1317));
    assert_eq!(n.daemon.as_deref(), Some("gaiad"));
    // the REST API shares the one-port-per-node check
    let e = load(&[(
        "/t/h.toml",
        "[hosts.a]\naddress = \"10.0.0.1\"\n[hosts.a.nodes.gaia]\nclient = \"cosmos\"\nrpc_port = 1317\napi_port = 1317\n",
    )])
    .unwrap_err();
    assert!(!e.problems.is_empty());
}
