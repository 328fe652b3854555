//! The lab's own release feed, as the README tells a newcomer to use it (lab "nhfeed",
//! 10.230.0.0/24, one host with Lodestar): `lab up` with the feed serves Lodestar 1.4.2 and 1.5.1
//! (real tarballs of the cached installs, sha256 digests in the feed) from host 1 and names the
//! feed in the inventory it writes; the real binary's `releases` reads it; `upgrade --to 1.4.2`
//! (a downgrade) and `upgrade --to 1.5.1` with that inventory and `playbooks/lab.toml` switch the
//! real beacon node, health-gated (its `/eth/v1/node/version` and the host's `current` link are
//! checked after each); `lab down` takes the feed server and its directory away. Needs root:
//! without it, says so and skips.
//!
//! Run: `cargo test --test lab_feed` (as root); a name filter runs only matching scenarios.

use nodeherd_lab::{self as lab, LabConfig, feed, naming};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "support/labsuite.rs"]
mod labsuite;

const NODE: &str = "nhfeed-1/lodestar-bn";
const PLAYBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks/lab.toml");

fn main() {
    let t = Instant::now();
    let Some(mut suite) = labsuite::start("lab_feed", |dir| LabConfig {
        name: "nhfeed".into(),
        hosts: 1,
        subnet: 230,
        lodestar: true,
        lodestar_hosts: 1,
        feed: true,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    println!("lab up with the feed: {:.1}s", t.elapsed().as_secs_f64());
    let cfg = suite.cfg.clone();
    let inv = suite.report.inventory.clone();
    let state = suite.dir.join("state");
    suite.run("inventory_names_the_lab_feed", || {
        inventory_names_the_feed(&inv);
    });
    suite.run("feed_serves_both_versions_with_digests", || {
        feed_serves_both_versions(&cfg);
    });
    suite.run("releases_reads_the_lab_feed", || {
        let out = nodeherd(&inv, &state, &["releases", NODE, "-p", PLAYBOOK]);
        let asset = feed::lodestar_asset("1.5.1", feed::lab_cpu());
        assert!(out.contains(&asset), "{out}");
        assert!(out.contains("1.5.1"), "{out}");
    });
    suite.run("downgrade_to_1_4_2_from_the_feed", || {
        switch_to(&cfg, &inv, &state, "1.4.2", "440c59f");
        // The feed's 1.5.1 is now the newer release `releases` offers.
        let out = nodeherd(&inv, &state, &["releases", NODE, "-p", PLAYBOOK]);
        let row = out.lines().find(|l| l.starts_with(NODE)).unwrap_or("");
        assert!(row.contains("1.4.2") && row.contains("1.5.1"), "{out}");
    });
    suite.run("upgrade_back_to_1_5_1_from_the_feed", || {
        switch_to(&cfg, &inv, &state, "1.5.1", "2115aa7");
    });
    suite.run("lab_down_removes_the_feed_server", || {
        let t = Instant::now();
        lab::down(&cfg).expect("lab down");
        println!("  lab down: {:.1}s", t.elapsed().as_secs_f64());
        let (ok, _) = curl(&feed::feed_url(cfg.subnet));
        assert!(!ok, "the feed still answers after lab down");
        assert!(!feed::feed_dir(&cfg).exists(), "feed dir left behind");
    });
    suite.finish();
}

/// Run the real binary with the lab's inventory; panics (with its output) unless it exits 0.
fn nodeherd(inventory: &Path, state: &Path, args: &[&str]) -> String {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .arg("-i")
        .arg(inventory)
        .args(args)
        .env("NODEHERD_STATE_DIR", state)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run nodeherd");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    println!(
        "  nodeherd {}: {:.1}s",
        args.join(" "),
        t.elapsed().as_secs_f64()
    );
    assert!(
        o.status.success(),
        "nodeherd {args:?} exited {:?}:\n{out}{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// GET `url` from the machine: (2xx, body).
fn curl(url: &str) -> (bool, String) {
    let o = Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .expect("run curl");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn ssh(cfg: &LabConfig, command: &str) -> String {
    let o = labsuite::root_ssh(cfg, 1, command);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn inventory_names_the_feed(inventory: &Path) {
    let inv = nodeherd_core::inventory::Inventory::load(inventory).expect("lab inventory");
    let bn = inv
        .host("nhfeed-1")
        .and_then(|h| h.nodes.iter().find(|n| n.name == "lodestar-bn"))
        .expect("nhfeed-1/lodestar-bn in the inventory");
    assert_eq!(
        bn.release_feed.as_deref(),
        Some("http://10.230.0.11:8089/lodestar.json")
    );
}

fn feed_serves_both_versions(cfg: &LabConfig) {
    let (ok, body) = curl(&feed::feed_url(cfg.subnet));
    assert!(ok, "feed not served: {body}");
    let (rels, _) = nodeherd_core::releases::feed::parse(&body).expect("a release feed");
    let versions: Vec<String> = rels.iter().map(|r| r.version.to_string()).collect();
    assert_eq!(versions, ["1.5.1", "1.4.2"], "{body}");
    for r in &rels {
        let a = &r.feed.assets[0];
        let cached = feed::artifacts_dir(&cfg.state_dir).join(&a.name);
        let o = Command::new("curl")
            .args(["-sf", "--max-time", "60", "-o", "/dev/stdout"])
            .arg(&a.browser_download_url)
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|c| {
                Command::new("sha256sum")
                    .stdin(c.stdout.expect("curl stdout"))
                    .output()
            })
            .expect("download and hash");
        let served = String::from_utf8_lossy(&o.stdout);
        let served = served.split_whitespace().next().unwrap_or("");
        assert_eq!(Some(served.to_string()), a.sha256(), "{}", a.name);
        assert!(cached.exists(), "{} not in the artifact cache", a.name);
    }
    let (ok, _) = curl(&format!(
        "http://{}:{}/%2e%2e/%2e%2e/etc/passwd",
        naming::host_address(cfg.subnet, 1),
        feed::PORT
    ));
    assert!(!ok, "the feed server left its directory");
}

/// `upgrade NODE --to V --yes` through the real binary, then the node's answers on the host.
fn switch_to(cfg: &LabConfig, inventory: &Path, state: &Path, v: &str, commit: &str) {
    // Back to back with the previous switch: the lock is released before a command returns
    // (issue #15 item 3; this test used to wait for the host's `lock.holder` to go first).
    let out = nodeherd(
        inventory,
        state,
        &["upgrade", NODE, "--to", v, "--yes", "-p", PLAYBOOK],
    );
    assert!(out.contains(v), "{out}");
    let version = ssh(
        cfg,
        "curl -s --max-time 5 http://127.0.0.1:9596/eth/v1/node/version",
    );
    assert!(
        version.contains(&format!("Lodestar/v{v}/{commit}")),
        "{version}"
    );
    let current = ssh(cfg, "readlink /opt/nodeherd/lodestar-bn/current");
    assert_eq!(current, format!("releases/{v}"));
}
