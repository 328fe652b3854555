//! Provisioning against a real lab (lab "nhprov", 10.222.0.0/24, 2 hosts, no Lodestar running
//! anywhere): a release feed served from 127.0.0.1 with the real Lodestar 1.4.2/1.5.1 artifacts
//! (built from /var/lib/nodeherd/lab/lodestar/<v>/ and cached, as tests/upgrade.rs does), an
//! inventory + playbook declaring a Lodestar beacon node on the fresh host 2; `nodeherd apply
//! --yes` installs it, it answers Lodestar/v1.5.1 on its REST API, a second apply does nothing,
//! and an apply of a playbook without the node deletes nothing.
//!
//! The hosts get the machine's `node` binary and the Lodestar dists mounted (the lab's
//! `lodestar = true` with `lodestar_hosts = 0`): nothing runs them, no unit exists, no
//! `/opt/nodeherd/lodestar-bn` exists; everything the node runs comes from the uploaded artifact.
//!
//! Needs root: without it, says so and skips. `NODEHERD_TEST_KEEP_LAB=1` leaves the lab up.

use nodeherd_core::inventory::Inventory;
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::Instant;

#[path = "support/feed.rs"]
mod feed;
#[path = "support/labsuite.rs"]
mod labsuite;

const HOST: &str = "nhprov-2";
const NODE: &str = "nhprov-2/lodestar-bn";

fn main() {
    let Some(mut suite) = labsuite::start("provision", |dir| LabConfig {
        name: "nhprov".into(),
        hosts: 2,
        subnet: 222,
        // The node binary is mounted, but no host runs Lodestar: host 2 is a fresh host.
        lodestar: true,
        lodestar_hosts: 0,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let rt = labsuite::runtime();
    let (dir, inv) = (suite.dir.clone(), suite.report.inventory.clone());
    suite.run("provision_a_fresh_host", || {
        for f in provision_a_fresh_host(&rt, &dir, &inv) {
            println!("figure: {f}");
        }
    });
    suite.finish();
}

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nodeherd"))
}

/// Run the real binary without a terminal, state and caches inside `dir`.
fn nodeherd(dir: &Path, inv: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Proc::new(bin())
        .arg("-i")
        .arg(inv)
        .args(args)
        .current_dir(dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("NODEHERD_STATE_DIR", dir.join("state"))
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nodeherd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Serve `/feed/main.json` (GitHub-shaped: 1.5.1 published 30 days ago, 1.4.2 60 days ago)
/// and `/assets/<file>` on 127.0.0.1; returns the base URL.
async fn serve(dir: PathBuf, arts: Vec<(String, PathBuf, String)>) -> String {
    let (listener, base) = feed::bind().await;
    let releases: Vec<Value> = arts
        .iter()
        .rev()
        .map(|(v, _, sha)| {
            let asset = feed::lodestar_asset(v, feed::lab_cpu());
            feed::release_json(
                &base,
                &format!("v{v}"),
                if v == "1.5.1" { 30 } else { 60 },
                &asset,
                sha,
            )
        })
        .collect();
    let mut files: Vec<(String, PathBuf)> = arts
        .iter()
        .map(|(v, f, _)| (feed::lodestar_asset(v, feed::lab_cpu()), f.clone()))
        .collect();
    files.push(feed::feed_file(&dir, "main", &releases));
    feed::spawn_file_server(listener, files);
    base
}

/// The lab's stop command for Lodestar 1.4.2/1.5.1 (a second TERM ends a hanging shutdown).
const EXEC_STOP: &str = r#"/bin/sh -c 'p="$MAINPID"; [ -n "$p" ] && [ "$p" != 0 ] || exit 0; kill -TERM "$p" 2>/dev/null; for i in 1 2 3 4 5 6; do kill -0 "$p" 2>/dev/null || exit 0; sleep 0.5; done; kill -TERM "$p" 2>/dev/null; exit 0'"#;

fn playbook(feed_base: &str) -> String {
    let exec_start = "/usr/local/bin/node {current}/node_modules/@chainsafe/lodestar/lib/index.js dev --genesisValidators 8 --startValidators 0..7 --reset --dataDir /var/lib/lodestar-bn --rest --rest.address 127.0.0.1 --rest.port 9596 --rest.namespace '*' --listenAddress 127.0.0.1 --port 9000 --enr.ip 127.0.0.1 --logFile none";
    format!(
        r#"[upgrade]
release_feed = "{feed_base}/feed/main.json"
delay = "7d"
canary = 1
serial = 1
health_timeout = "150s"
confirm_timeout = "180s"
min_quiet = "0s"
keep = 3

[state]
running = true

[nodes."{NODE}".state]
present = true
version = "policy"

[groups.lab.unit]
environment = ["LODESTAR_PRESET=minimal", "NODE_OPTIONS=--require={{current}}/polyfill.cjs"]
success_exit_status = "1"
timeout_stop_sec = 30

[nodes."{NODE}".unit]
description = "Lodestar beacon node (dev chain, provisioned by nodeherd)"
exec_start = {exec_start:?}
exec_stop = {exec_stop}
"#,
        exec_stop = toml_literal(EXEC_STOP),
    )
}

/// A TOML literal string (no escapes inside).
fn toml_literal(s: &str) -> String {
    assert!(!s.contains("'''"));
    format!("'''{s}'''")
}

fn provision_a_fresh_host(rt: &tokio::runtime::Runtime, dir: &Path, lab_inv: &Path) -> Vec<String> {
    let mut figures = Vec::new();
    let base = rt.block_on(serve(dir.to_path_buf(), feed::lodestar_artifacts()));
    // The lab's inventory plus the node to provision (host 2 does not run it).
    let mut inv_text = std::fs::read_to_string(lab_inv).expect("lab inventory");
    inv_text.push_str(
        "\n[hosts.nhprov-2.nodes.lodestar-bn]\nclient = \"lodestar\"\nrole = \"beacon\"\nunit = \"lodestar-bn.service\"\nnetwork = \"dev\"\ninstall_dir = \"/opt/nodeherd/lodestar-bn\"\nrest_port = 9596\n",
    );
    let inv_path = dir.join("inventory.toml");
    std::fs::write(&inv_path, &inv_text).expect("write inventory");
    let pb_path = dir.join("provision.toml");
    std::fs::write(&pb_path, playbook(&base)).expect("write playbook");
    let pbs = pb_path.display().to_string();

    // A playbook declaring the node present without a unit is refused with a precise error.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        format!("[nodes.\"{NODE}\".state]\npresent = true\nversion = \"1.5.1\"\n"),
    )
    .expect("write");
    let (code, _, err) = nodeherd(dir, &inv_path, &["plan", "-p", &bad.display().to_string()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no exec_start"), "{err}");

    // plan: the install, with its reason; exit 10 with --detailed-exitcode.
    let (code, out, err) = nodeherd(dir, &inv_path, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 10, "{out}{err}");
    assert!(out.contains("install 1.5.1"), "{out}");
    assert!(out.contains("does not exist"), "{out}");
    assert!(
        out.contains("nhprov-1/demo: no change: running as declared"),
        "{out}"
    );

    // apply --yes --json: installs, comes up healthy, verified by re-planning.
    let t = Instant::now();
    let (code, out, err) = nodeherd(dir, &inv_path, &["apply", "-p", &pbs, "--yes", "--json"]);
    let took = t.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let results: Vec<&Value> = lines.iter().filter(|l| l["event"] == "result").collect();
    assert_eq!(results.len(), 1, "{out}");
    let r = &results[0]["result"];
    assert_eq!(r["change"]["kind"], "install", "{out}");
    assert_eq!(r["change"]["version"], "1.5.1", "{out}");
    assert_eq!(r["verified"], true, "{out}");
    figures.push(format!(
        "provisioning apply (plan, download, upload, unpack, unit, start, health gate, verify): {:.1}s",
        took.as_secs_f64()
    ));

    // On the host: REST answers Lodestar/v1.5.1 (curl on the host, over ssh), the unit is ours
    // and enabled, `current` points at the staged release.
    let inv = Inventory::load(&inv_path).expect("inventory");
    let host = inv.host(HOST).expect("host").clone();
    let pool = Pool::new(ConnectOptions::default());
    let sh = |script: &str| -> String {
        rt.block_on(async {
            let s = pool.session(&host.target).await.expect("ssh");
            let o = s
                .exec(&Command::new("sh").arg("-c").arg(script))
                .await
                .expect("exec");
            o.stdout_str().into_owned()
        })
    };
    let version = sh("curl -s --max-time 5 http://127.0.0.1:9596/eth/v1/node/version");
    assert!(version.contains("Lodestar/v1.5.1"), "{version}");
    let facts = sh(
        "head -n 1 /etc/systemd/system/lodestar-bn.service; systemctl is-enabled lodestar-bn.service; readlink /opt/nodeherd/lodestar-bn/current; ls /opt/nodeherd/lodestar-bn/releases; tail -n 1 /var/log/nodeherd/journal.jsonl",
    );
    assert!(
        facts.starts_with(nodeherd_core::plan::unitfile::MARKER),
        "{facts}"
    );
    assert!(
        facts.contains("\nenabled\nreleases/1.5.1\n1.5.1\n"),
        "{facts}"
    );
    assert!(
        facts.contains("\"action\":\"install\"") && facts.contains("\"result\":\"ok\""),
        "{facts}"
    );

    // Idempotence: a second apply plans and does nothing; plan exits 0.
    let t = Instant::now();
    let (code, out, err) = nodeherd(dir, &inv_path, &["apply", "-p", &pbs, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("apply: 0 change(s)"), "{out}");
    assert!(
        out.contains(&format!(
            "{NODE}: no change: running as declared; runs 1.5.1"
        )),
        "{out}"
    );
    // The unit file nodeherd wrote was read back and matches what the playbook renders.
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("{NODE}: no change:"))
                && l.ends_with("unit file matches the playbook")),
        "{out}"
    );
    figures.push(format!(
        "second (no-op) apply on 2 hosts: {:.1}s",
        t.elapsed().as_secs_f64()
    ));
    let (code, out, err) = nodeherd(dir, &inv_path, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");

    // Removing the node from the playbook deletes nothing: no change planned, unit, release and
    // REST answer still there after an apply.
    let gone = dir.join("gone.toml");
    std::fs::write(&gone, "[state]\nrunning = true\n").expect("write");
    let (code, out, err) = nodeherd(
        dir,
        &inv_path,
        &["apply", "-p", &gone.display().to_string(), "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("apply: 0 change(s)"), "{out}");
    let after = sh(
        "systemctl is-active lodestar-bn.service; ls /opt/nodeherd/lodestar-bn/releases; curl -s --max-time 5 http://127.0.0.1:9596/eth/v1/node/version",
    );
    assert!(
        after.starts_with("active\n1.5.1\n") && after.contains("Lodestar/v1.5.1"),
        "{after}"
    );
    rt.block_on(pool.close_all());
    figures
}
