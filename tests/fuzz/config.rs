//! Fuzz targets for what an operator writes: the inventory (TOML and the ssh_config below it),
//! selectors, playbooks (upgrade policy and declared state) and the alerts file.

use super::harness::{Target, text};
use super::tree::Shape;
use nodeherd_core::alerts::channels::parse_config;
use nodeherd_core::alerts::{Engine, default_rules, parse_rules};
use nodeherd_core::inventory::sshconfig::{Files, SshConfig, Tokens, eval};
use nodeherd_core::inventory::{Inventory, render};
use nodeherd_core::plan::desired::DesiredState;
use nodeherd_core::playbook::{Playbook, parse_duration};
use nodeherd_core::selector::Selector;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TOML_WORDS: &[&str] = &[
    "[defaults]",
    "[hosts.",
    "[groups.",
    "[hosts.bn-1.nodes.",
    "[[",
    "]]",
    "address = ",
    "port = ",
    "user = ",
    "jump = ",
    "become = true",
    "known_hosts = \"accept-new\"",
    "known_hosts_file = ",
    "identity_files = [",
    "hosts = [",
    "children = [",
    "client = \"lodestar\"",
    "client = \"generic\"",
    "unit = ",
    "install_dir = ",
    "rest_port = ",
    "metrics_port = ",
    "rpc_port = ",
    "platform = \"linux/aarch64\"",
    "probe = { http = ",
    "backup = \"snapshot\"",
    "'''",
    "\"\"\"",
    "\\u",
    "\\",
    "#",
    "= {",
    "inf",
    "nan",
    "1979-05-27T07:32:00Z",
];

fn production() -> &'static Inventory {
    static INV: OnceLock<Inventory> = OnceLock::new();
    INV.get_or_init(|| {
        let path = super::harness::root().join("inventory/examples/production.toml");
        let text = std::fs::read_to_string(&path).expect("read the example inventory");
        Inventory::from_sources(vec![(path, text)]).expect("the example inventory is valid")
    })
}

fn inventory(bytes: &[u8]) {
    let src = text(bytes);
    match Inventory::from_sources(vec![(PathBuf::from("fuzz/inventory.toml"), src)]) {
        Ok(inv) => {
            for s in ["all", "*", "all,!bn-*", "*/*"] {
                let sel = Selector::parse(s).expect("a fixed selector parses");
                let _ = sel.select_hosts(&inv);
                let _ = sel.select_nodes(&inv);
            }
            for r in inv.node_refs() {
                let (h, n) = inv.node(r);
                let _ = inv.find_node(&format!("{}/{}", h.name, n.name));
            }
        }
        Err(e) => {
            for p in &e.problems {
                let _ = p.to_string();
            }
        }
    }
}

pub static INVENTORY: Target = Target {
    name: "inventory",
    corpus: &["inventory/examples", "tests/fixtures/inventory"],
    dict: TOML_WORDS,
    cases: 3000,
    max_len: 128 << 10,
    shape: Shape::Toml,
    seeds: None,
    run: inventory,
};

fn inventory_report(bytes: &[u8]) {
    let src = text(bytes);
    if let Err(e) = Inventory::from_sources(vec![(PathBuf::from("fuzz/inventory.toml"), src)]) {
        let _ = render(&e, false);
        let _ = render(&e, true);
    }
}

/// `nodeherd check`'s report of a broken inventory (miette's graphical handler).
pub static INVENTORY_REPORT: Target = Target {
    name: "inventory_report",
    corpus: &["inventory/examples", "tests/fixtures/inventory"],
    dict: TOML_WORDS,
    cases: 300,
    max_len: 128 << 10,
    shape: Shape::Toml,
    seeds: None,
    run: inventory_report,
};

/// The fuzzed text is `~/.ssh/config`; its `Include config.d/*` finds the fixture's other file.
struct FuzzFiles {
    config: String,
}

const SSH_HOME: &str = "/home/fuzz";

impl Files for FuzzFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        if path == Path::new(SSH_HOME).join(".ssh/config") {
            Ok(self.config.clone())
        } else if path.starts_with(Path::new(SSH_HOME).join(".ssh/config.d")) {
            std::fs::read_to_string(
                super::harness::root().join("tests/fixtures/ssh_config/config.d/archive"),
            )
        } else {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        if dir == Path::new(SSH_HOME).join(".ssh/config.d") {
            Ok(vec![dir.join("archive")])
        } else {
            Err(std::io::ErrorKind::NotFound.into())
        }
    }
}

const ALIAS_INVENTORY: &str = r#"
[hosts.bn-1]
[hosts.bastion]
[hosts.db-2]
[hosts.db-2.nodes.geth]
client = "geth"
unit = "geth.service"
"#;

fn ssh_config(bytes: &[u8]) {
    let home = PathBuf::from(SSH_HOME);
    let files = FuzzFiles {
        config: text(bytes),
    };
    let roots = vec![(home.join(".ssh/config"), home.join(".ssh"))];
    let cfg = SshConfig::read(&roots, &files, "fuzz", &home);
    for alias in ["bn-1", "bastion", "db-2", "", "*", "x.example.org"] {
        let s = cfg.settings(alias);
        for v in s.values.values() {
            let t = Tokens {
                alias,
                hostname: "h",
                port: 22,
                remote_user: "u",
                local_user: "fuzz",
                home: &home,
            };
            let _ = eval::expand(v.first(), &t);
            let _ = cfg.place(v.file, v.line);
        }
    }
    let _ = Inventory::from_sources_with_ssh(
        vec![(
            PathBuf::from("fuzz/inventory.toml"),
            ALIAS_INVENTORY.to_string(),
        )],
        &cfg,
    );
}

pub static SSH_CONFIG: Target = Target {
    name: "ssh_config",
    corpus: &[
        "tests/fixtures/ssh_config/config",
        "tests/fixtures/ssh_config/bad.config",
    ],
    dict: &[
        "Host ",
        "Match ",
        "host ",
        "originalhost ",
        "exec ",
        "all",
        "Include ",
        "Include config\n",
        "Include ~/.ssh/config.d/* config\n",
        "HostName ",
        "Port ",
        "User ",
        "ProxyJump ",
        "IdentityFile ",
        "StrictHostKeyChecking ",
        "UserKnownHostsFile ",
        "=",
        "\"",
        "%h",
        "%%",
        "%",
        "~/",
        "!",
        "*",
        "?",
        ",",
        "[",
    ],
    cases: 1500,
    max_len: 32 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: ssh_config,
};

/// Selectors: parse; a parsed selector's text parses to the same selector (round trip); selecting
/// on a real inventory returns.
fn selector(bytes: &[u8]) {
    let s = text(bytes);
    if let Ok(sel) = Selector::parse(&s) {
        let shown = sel.to_string();
        let again = Selector::parse(&shown).unwrap_or_else(|e| {
            panic!("{shown:?}, the display of a parsed selector, does not parse: {e}")
        });
        assert_eq!(again, sel, "selector display round trip of {s:?}");
        let inv = production();
        let _ = sel.select_hosts(inv);
        let _ = sel.select_nodes(inv);
    }
    let _ = production().find_node(&s);
}

pub static SELECTOR: Target = Target {
    name: "selector",
    corpus: &[],
    dict: &[
        "all",
        "bn-1",
        "bn-*",
        "mainnet",
        "beacon",
        "!",
        "&",
        ",",
        ":",
        "/",
        "*",
        "?",
        "[a-z]",
        "[!0-9]",
        "[",
        "]",
        "-",
        "lodestar-*",
        "bastion",
        "**",
        "\\",
    ],
    cases: 2000,
    max_len: 16 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: selector,
};

fn playbook(bytes: &[u8]) {
    let src = text(bytes);
    let inv = production();
    if let Ok(pb) = Playbook::parse("fuzz/playbook.toml", &src) {
        for r in inv.node_refs() {
            let _ = pb.settings_for(inv, r);
        }
    }
    if let Ok(d) = DesiredState::parse(&[("fuzz/playbook.toml".into(), src.clone())], inv) {
        for r in inv.node_refs() {
            let _ = d.for_node(inv, r);
            let _ = d.unit_for(inv, r);
        }
    }
    for word in src.split(['"', '\'', ' ', '\n']).take(200) {
        let _ = parse_duration(word);
    }
}

const PLAYBOOK_WORDS: &[&str] = &[
    "[upgrade]",
    "[groups.mainnet.upgrade]",
    "[hosts.bn-1.upgrade]",
    "[nodes.",
    "[[window]]",
    "delay = \"14d\"",
    "channel = \"stable\"",
    "canary = ",
    "batch = ",
    "max_fail_percent = ",
    "days = [\"mon\"]",
    "start = \"25:61\"",
    "timeout = \"1h\"",
    "pin = \"1.5.1\"",
    "version = ",
    "state = \"running\"",
    "install = ",
    "ExecStart",
    "99999999999d",
    "1ns",
    "-5s",
];

pub static PLAYBOOK: Target = Target {
    name: "playbook",
    corpus: &[
        "playbooks/lab.toml",
        "playbooks/upgrade-policy.toml",
        "playbooks/testnet-lodestar.toml",
    ],
    dict: PLAYBOOK_WORDS,
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Toml,
    seeds: None,
    run: playbook,
};

fn playbook_report(bytes: &[u8]) {
    let src = text(bytes);
    if let Err(e) = Playbook::parse("fuzz/playbook.toml", &src) {
        let mut out = String::new();
        let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::none())
            .with_width(100);
        let _ = handler.render_report(&mut out, &e);
    }
}

/// `plan -p`'s report of a broken playbook (miette's graphical handler, as the CLI renders it).
pub static PLAYBOOK_REPORT: Target = Target {
    name: "playbook_report",
    corpus: &["playbooks/lab.toml", "playbooks/upgrade-policy.toml"],
    dict: PLAYBOOK_WORDS,
    cases: 300,
    max_len: 128 << 10,
    shape: Shape::Toml,
    seeds: None,
    run: playbook_report,
};

fn alerts(bytes: &[u8]) {
    let src = text(bytes);
    // The engine's state file (written by nodeherd, read back on the next run; may be damaged).
    if let Ok(e) = Engine::from_json(default_rules(), &src) {
        let json = e.state_json().expect("a read state serializes");
        let again = Engine::from_json(default_rules(), &json).expect("a written state reads back");
        assert_eq!(
            again.state_json().expect("serializes"),
            json,
            "alert state round trip"
        );
    }
    let _ = parse_rules(&src);
    if let Ok(cfg) = parse_config(&src) {
        for c in &cfg.channels {
            let _ = c.label();
            let _ = c.type_name();
        }
    }
}

/// An alert state file as the engine writes it: one firing alert, one silence, one node's memory.
fn alert_state_seeds() -> Vec<Vec<u8>> {
    let state = r#"{"active":{"sync_distance|bn-1|lodestar-bn":{"rule":"sync_distance","host":"bn-1","node":"lodestar-bn","phase":"firing","since":"2026-01-01T00:00:00Z","value":"64","notified":true}},"silences":[{"matcher":{"rule":"peers_low","host":null,"node":null},"until":"2026-01-02T00:00:00Z"}],"memory":{"bn-1|lodestar-bn":{"head":123456.0,"misses":2.0,"misses_rose_at":"2026-01-01T00:05:00Z"}}}"#;
    let e = Engine::from_json(default_rules(), state).expect("the seed state reads");
    vec![e.state_json().expect("serializes").into_bytes()]
}

pub static ALERTS: Target = Target {
    name: "alerts",
    corpus: &["playbooks/alerts.toml"],
    dict: &[
        "[[rule]]",
        "[[channel]]",
        "[deadman]",
        "name = ",
        "when = ",
        "for = \"5m\"",
        "severity = \"critical\"",
        "message = \"{host} {node} {value} {rule}\"",
        "{",
        "}",
        "{{",
        "type = \"webhook\"",
        "type = \"email\"",
        "type = \"telegram\"",
        "url = ",
        "url_env = ",
        "sync_distance > ",
        "peers < ",
        "disk_used_percent >= ",
        "<",
        ">",
        "==",
    ],
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Toml,
    seeds: Some(alert_state_seeds),
    run: alerts,
};
