//! `nodeherd doctor` against real hosts (lab "nhdoc", 10.229.0.0/24, two hosts, no Lodestar):
//! each host runs a small node, `api`, whose two declared ports (rest 7071, metrics 7072) are
//! real listeners (`systemd-socket-activate` units), and whose release feed is served by host 1
//! (a socket-activated shell script on port 8089, read by doctor from the console).
//! `nhdoc-1` is reached as root, `nhdoc-2` as the lab's `ops` user with `become = true`.
//! Healthy, the real binary exits 0 and every check passes, in text and `--json`; the connect
//! check names the key file used and the lab known_hosts line of each host. Then `nhdoc-2` is
//! broken on purpose (the `ops` sudoers file removed, the metrics listener stopped): doctor
//! exits 1 and names exactly those two problems, each with its fix, and `--json` says the same.
//! Last the feed server stops: with no cached copy both nodes' `feed` checks fail (exit 1); with
//! a cached copy they pass and say how old it is (exit 0). Needs root: without it, says so and
//! skips.
//!
//! Run: `cargo test --test doctor_lab` (as root); a name filter runs only matching scenarios.

use nodeherd_lab::{LabConfig, naming};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "support/labsuite.rs"]
mod labsuite;

const REST: u16 = 7071;
const METRICS: u16 = 7072;
const SUDOERS: &str = "/etc/sudoers.d/nodeherd-ops";
const FEED_PORT: u16 = 8089;
const FEED: &str = r#"[{"tag_name":"v1.5.1","published_at":"2023-02-01T10:00:00Z","assets":[]},{"tag_name":"v1.4.2","published_at":"2023-01-10T10:00:00Z","assets":[]}]"#;

fn main() {
    let Some(mut suite) = labsuite::start("doctor_lab", |dir| LabConfig {
        name: "nhdoc".into(),
        hosts: 2,
        subnet: 229,
        lodestar: false,
        lodestar_hosts: 0,
        feed: false,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let cfg = suite.cfg.clone();
    let inv = suite.dir.join("doctor.toml");
    let state = suite.dir.join("state");
    let ready = suite.always("setup_listeners_and_inventory", || {
        for i in 1..=2 {
            start_listeners(&cfg, i);
        }
        start_feed(&cfg);
        std::fs::write(&inv, inventory(&cfg)).expect("write inventory");
    });
    if ready {
        suite.run("healthy_lab_every_check_passes_exit_0", || {
            let (code, text) = doctor(&inv, &state, &[]);
            assert_eq!(code, 0, "{text}");
            assert!(!text.contains("FAIL"), "{text}");
            assert!(text.contains("2 hosts, every check passed"), "{text}");
            let (code, json) = doctor(&inv, &state, &["--json"]);
            assert_eq!(code, 0, "{json}");
            let reports = parse(&json);
            assert_eq!(reports.len(), 2, "{json}");
            for r in &reports {
                let names = check_names(r);
                assert!(failures(r).is_empty(), "{r:#}");
                for want in ["connect", "systemd", "tools", "clock", "port"] {
                    assert!(names.contains(&want.to_string()), "{want} missing: {r:#}");
                }
            }
            // become = true on nhdoc-2: its sudo was checked and passed
            assert!(check_names(&reports[1]).contains(&"sudo".to_string()));
            // how each connected: the lab key, and the lab known_hosts line of its address
            let key = naming::client_key(&cfg.state_dir);
            for (i, r) in reports.iter().enumerate() {
                let line = known_hosts_line(&cfg, i + 1);
                assert_eq!(r["known_hosts"], line, "{r:#}");
                let auth = r["auth"].as_str().unwrap_or("");
                assert!(
                    auth.starts_with(&format!("key file {} (ssh-ed25519 SHA256:", key.display())),
                    "{r:#}"
                );
                assert!(
                    text.contains(&format!("matched {line}; auth: key file {}", key.display())),
                    "{text}"
                );
                let feed = r["checks"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["name"] == "feed"))
                    .cloned()
                    .unwrap_or_default();
                assert!(
                    feed["detail"]
                        .as_str()
                        .unwrap_or("")
                        .contains("answers: 2 releases"),
                    "{r:#}"
                );
            }
        });
        suite.run(
            "broken_host_names_exactly_sudo_and_the_closed_port_exit_1",
            || {
                ssh(
                    &cfg,
                    2,
                    &format!(
                        "mv {SUDOERS} /root/ops-sudoers && systemctl stop nhdoc-metrics.service"
                    ),
                );
                let (code, text) = doctor(&inv, &state, &[]);
                assert_eq!(code, 1, "{text}");
                let fails: Vec<&str> = text.lines().filter(|l| l.contains("FAIL")).collect();
                assert_eq!(fails.len(), 2, "{text}");
                assert!(fails[0].contains("sudo"), "{text}");
                assert!(
                    fails[1].contains("port api") && fails[1].contains("metrics_port 7072"),
                    "{text}"
                );
                assert_eq!(text.matches("fix: ").count(), 2, "{text}");
                assert!(text.contains("1 with failed checks: nhdoc-2"), "{text}");

                let (code, json) = doctor(&inv, &state, &["--json"]);
                assert_eq!(code, 1, "{json}");
                let reports = parse(&json);
                assert!(failures(&reports[0]).is_empty(), "{:#}", reports[0]);
                let bad = failures(&reports[1]);
                let what: Vec<(String, Option<String>)> = bad
                    .iter()
                    .map(|c| {
                        (
                            c["name"].as_str().unwrap_or("").to_string(),
                            c["node"].as_str().map(String::from),
                        )
                    })
                    .collect();
                assert_eq!(
                    what,
                    [
                        ("sudo".to_string(), None),
                        ("port".to_string(), Some("api".to_string()))
                    ],
                    "{json}"
                );
                assert!(
                    bad[0]["detail"].as_str().unwrap_or("").contains("password"),
                    "{json}"
                );
                assert!(
                    bad[0]["fix"].as_str().unwrap_or("").contains("NOPASSWD"),
                    "{json}"
                );
                assert!(
                    bad[1]["detail"].as_str().unwrap_or("").contains("7072"),
                    "{json}"
                );
                assert!(
                    bad[1]["fix"]
                        .as_str()
                        .unwrap_or("")
                        .contains("nodeherd start nhdoc-2/api"),
                    "{json}"
                );
                // without sudo the probe still ran, as ops: its checks passed on the broken host too
                let names = check_names(&reports[1]);
                for want in ["systemd", "tools", "clock"] {
                    assert!(names.contains(&want.to_string()), "{want} missing: {json}");
                }
                ssh(
                    &cfg,
                    2,
                    &format!(
                        "mv /root/ops-sudoers {SUDOERS} && systemctl start nhdoc-metrics.service"
                    ),
                );
            },
        );
        suite.run(
            "feed_down_fails_without_a_cached_copy_passes_with_one",
            || {
                ssh(&cfg, 1, "systemctl stop nhdoc-feed.socket");
                let (code, json) = doctor(&inv, &state, &["--json"]);
                assert_eq!(code, 1, "{json}");
                let reports = parse(&json);
                for r in &reports {
                    let bad = failures(r);
                    assert_eq!(bad.len(), 1, "{r:#}");
                    assert_eq!(bad[0]["name"], "feed", "{r:#}");
                    assert_eq!(bad[0]["node"], "api", "{r:#}");
                    assert!(
                        bad[0]["detail"]
                            .as_str()
                            .unwrap_or("")
                            .contains("no cached copy"),
                        "{r:#}"
                    );
                    assert!(
                        bad[0]["fix"]
                            .as_str()
                            .unwrap_or("")
                            .contains("release_feed"),
                        "{r:#}"
                    );
                }
                // a copy in the console's feed cache (as `releases` or `upgrade` leave it)
                let copy = nodeherd_engine::feeds::cache_file(
                    &state.join("cache/nodeherd/feeds"),
                    &feed_url(&cfg),
                );
                std::fs::create_dir_all(copy.parent().expect("dir")).expect("cache dir");
                std::fs::write(&copy, FEED).expect("cached feed");
                let (code, text) = doctor(&inv, &state, &[]);
                assert_eq!(code, 0, "{text}");
                assert_eq!(text.matches("the cached copy, ").count(), 2, "{text}");
                ssh(&cfg, 1, "systemctl start nhdoc-feed.socket");
            },
        );
    }
    suite.finish();
}

/// Two listener units on host `i`: the node's REST and metrics ports on 127.0.0.1.
fn start_listeners(cfg: &LabConfig, i: usize) {
    let mut script = String::from("set -e\n");
    for (unit, port) in [("nhdoc-api", REST), ("nhdoc-metrics", METRICS)] {
        script.push_str(&format!(
            "cat > /etc/systemd/system/{unit}.service <<'EOF'\n[Unit]\nDescription=doctor lab listener {port}\n[Service]\nExecStart=/usr/bin/systemd-socket-activate --listen=127.0.0.1:{port} --accept --inetd /bin/echo ok\n[Install]\nWantedBy=multi-user.target\nEOF\n"
        ));
    }
    script.push_str(
        "systemctl daemon-reload\nsystemctl start nhdoc-api.service nhdoc-metrics.service\n",
    );
    // both answer before doctor runs
    script.push_str(&format!(
        "for p in {REST} {METRICS}; do for t in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done; done\n"
    ));
    ssh(cfg, i, &script);
    let up = ssh(
        cfg,
        i,
        &format!("bash -c 'exec 3<>/dev/tcp/127.0.0.1/{METRICS}' && echo open"),
    );
    assert_eq!(up, "open", "listener on host {i}");
}

/// Host 1 serves the release feed [`FEED`] on all addresses, port [`FEED_PORT`], from a shell
/// script run per connection by a socket unit (no HTTP server in the lab's base).
fn start_feed(cfg: &LabConfig) {
    let script = format!(
        "set -e\ncat > /srv/nhdoc-feed.json <<'EOF'\n{FEED}\nEOF\n\
cat > /usr/local/bin/nhdoc-feed <<'EOF'\n#!/bin/sh\n\
while IFS= read -r l; do case \"$l\" in ''|\"$(printf '\\r')\") break;; esac; done\n\
body=$(cat /srv/nhdoc-feed.json)\n\
printf 'HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' \"${{#body}}\" \"$body\"\nEOF\n\
chmod 755 /usr/local/bin/nhdoc-feed\n\
cat > /etc/systemd/system/nhdoc-feed.socket <<'EOF'\n[Socket]\nListenStream={FEED_PORT}\nAccept=yes\nEOF\n\
cat > /etc/systemd/system/nhdoc-feed@.service <<'EOF'\n[Service]\nExecStart=/usr/local/bin/nhdoc-feed\nStandardInput=socket\nStandardOutput=socket\nEOF\n\
systemctl daemon-reload\nsystemctl start nhdoc-feed.socket\n"
    );
    ssh(cfg, 1, &script);
    let o = Command::new("curl")
        .args(["-sf", "--max-time", "5"])
        .arg(feed_url(cfg))
        .output()
        .expect("run curl");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        FEED,
        "feed served"
    );
}

fn feed_url(cfg: &LabConfig) -> String {
    format!(
        "http://{}:{FEED_PORT}/lodestar.json",
        naming::host_address(cfg.subnet, 1)
    )
}

/// `file:line` of host `i`'s entry in the lab's known_hosts.
fn known_hosts_line(cfg: &LabConfig, i: usize) -> String {
    let file = naming::known_hosts_path(cfg);
    let text = std::fs::read_to_string(&file).expect("lab known_hosts");
    let addr = naming::host_address(cfg.subnet, i);
    let n = text
        .lines()
        .position(|l| l.split_whitespace().next() == Some(addr.as_str()))
        .expect("host in the lab known_hosts");
    format!("{}:{}", file.display(), n + 1)
}

/// The test's inventory: the lab's key and known_hosts; nhdoc-1 as root, nhdoc-2 as ops with
/// become; the `api` node with its two ports and the feed of host 1 on each.
fn inventory(cfg: &LabConfig) -> String {
    let mut t = format!(
        "[defaults]\nuser = \"root\"\nidentity_files = [\"{}\"]\nknown_hosts_file = \"{}\"\nknown_hosts = \"strict\"\n",
        naming::client_key(&cfg.state_dir).display(),
        naming::known_hosts_path(cfg).display()
    );
    for i in 1..=2 {
        let name = naming::host_name(&cfg.name, i);
        t.push_str(&format!(
            "\n[hosts.{name}]\naddress = \"{}\"\n",
            naming::host_address(cfg.subnet, i)
        ));
        if i == 2 {
            t.push_str("user = \"ops\"\nbecome = true\n");
        }
        t.push_str(&format!(
            "\n[hosts.{name}.nodes.api]\nclient = \"generic\"\nunit = \"nhdoc-api.service\"\nrest_port = {REST}\nmetrics_port = {METRICS}\nrelease_feed = \"{}\"\n",
            feed_url(cfg)
        ));
    }
    t
}

/// The real binary's `doctor`: (exit code, stdout).
fn doctor(inventory: &Path, state: &Path, args: &[&str]) -> (i32, String) {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("-i")
        .arg(inventory)
        .arg("doctor")
        .args(args)
        .env("NODEHERD_STATE_DIR", state)
        // the console's feed cache, away from the machine's
        .env("XDG_CACHE_HOME", state.join("cache"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run nodeherd");
    println!(
        "  nodeherd doctor {}: {:.1}s",
        args.join(" "),
        t.elapsed().as_secs_f64()
    );
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    (o.status.code().unwrap_or(-1), format!("{out}{err}"))
}

fn parse(json: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(json).expect("doctor --json is JSON");
    v.as_array().expect("an array of host reports").clone()
}

fn check_names(report: &serde_json::Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| c["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn failures(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["checks"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter(|c| c["outcome"] == "fail")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Run `script` as root on host `i`; panics unless it exits 0; its trimmed stdout.
fn ssh(cfg: &LabConfig, i: usize, script: &str) -> String {
    let o = labsuite::root_ssh(cfg, i, script);
    assert!(
        o.status.success(),
        "ssh host {i} exited {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}
