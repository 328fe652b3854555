//! Integration tests against a real local lab: network namespaces, systemd as PID 1, OpenSSH,
//! and a real Lodestar. One lab ("nhtest", 10.214.0.0/24) serves every scenario and is torn
//! down at the end, whatever happened. Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test lab` (as root). `NODEHERD_TEST_KEEP_LAB=1` leaves the lab up to look at.
#![allow(clippy::unwrap_used)] // a test or bench: a panic is a failure with its location

use nodeherd_core::inventory::Inventory;
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool, Session};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

#[path = "support/comet_key.rs"]
mod comet_key;
#[path = "support/labsuite.rs"]
mod labsuite;
use comet_key::comet_key;

struct Ctx {
    inventory: PathBuf,
    dir: PathBuf,
    rt: tokio::runtime::Runtime,
}

fn main() {
    let Some(mut suite) = labsuite::start("lab", |dir| LabConfig {
        name: "nhtest".into(),
        hosts: 3,
        subnet: 214,
        lodestar: true,
        lodestar_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let ctx = Ctx {
        inventory: suite.report.inventory.clone(),
        dir: suite.dir.clone(),
        rt: labsuite::runtime(),
    };
    suite.run("status_reads_every_node_on_every_host", || {
        status_reads_every_node_on_every_host(&ctx);
    });
    suite.run("stop_start_restart_real_units", || {
        stop_start_restart_real_units(&ctx);
    });
    suite.run("logs_tail_and_follow", || logs_tail_and_follow(&ctx));
    suite.run("lodestar_is_real_and_restartable", || {
        lodestar_is_real_and_restartable(&ctx);
    });
    suite.run("hostile_argument_arrives_as_one_literal", || {
        hostile_argument_arrives_as_one_literal(&ctx);
    });
    suite.run("changed_host_key_is_refused_with_file_and_line", || {
        changed_host_key_is_refused_with_file_and_line(&ctx);
    });
    suite.run("unknown_host_key_is_refused_under_strict", || {
        unknown_host_key_is_refused_under_strict(&ctx);
    });
    suite.run("unreachable_host_does_not_stall_the_others", || {
        unreachable_host_does_not_stall_the_others(&ctx);
    });
    suite.run("non_root_user_with_become", || {
        non_root_user_with_become(&ctx);
    });
    suite.run("jump_host_chain", || jump_host_chain(&ctx));
    suite.run("disruptive_action_needs_yes_without_tty", || {
        disruptive_action_needs_yes_without_tty(&ctx);
    });
    suite.run("apply_repairs_drift_and_is_idempotent", || {
        apply_repairs_drift_and_is_idempotent(&ctx);
    });
    suite.run("apply_lock_contention_exits_3", || {
        apply_lock_contention_exits_3(&ctx);
    });
    suite.run("unit_file_drift_is_planned_rewritten_and_restarted", || {
        for f in unit_file_drift_is_planned_rewritten_and_restarted(&ctx) {
            println!("figure: {f}");
        }
    });
    suite.run("cosmos_keys_listed_and_double_sign_risk_flagged", || {
        cosmos_keys_listed_and_double_sign_risk_flagged(&ctx);
    });
    suite.finish();
}

// ---------- helpers ----------

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nodeherd"))
}

/// Run the real binary without a terminal; returns (exit code, stdout, stderr).
fn nodeherd(inv: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Proc::new(bin())
        .arg("-i")
        .arg(inv)
        .args(args)
        .stdin(std::process::Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .expect("run nodeherd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn status_json(inv: &Path, selector: &str) -> Vec<Value> {
    let (code, out, err) = nodeherd(inv, &["status", selector, "--json"]);
    assert!(code == 0 || code == 1, "status exit {code}: {err}");
    serde_json::from_str::<Vec<Value>>(&out)
        .unwrap_or_else(|e| panic!("status --json not JSON ({e}): {out}"))
}

fn row<'a>(rows: &'a [Value], host: &str, node: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["host"] == host && r["node"] == node)
        .unwrap_or_else(|| panic!("no row {host}/{node} in {rows:?}"))
}

fn active(r: &Value) -> &str {
    r["unit_state"]["active_state"].as_str().unwrap_or("?")
}

fn load(inv: &Path) -> Inventory {
    Inventory::load(inv)
        .unwrap_or_else(|e| panic!("{}", nodeherd_core::inventory::render(&e, false)))
}

/// Write a variant of the lab inventory (text replaced) next to the original and return its path.
fn variant(ctx: &Ctx, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(&ctx.inventory).expect("read lab inventory");
    let p = ctx.dir.join(name);
    std::fs::write(&p, edit(text)).expect("write variant");
    p
}

fn session(ctx: &Ctx, host: &str) -> Session {
    let inv = load(&ctx.inventory);
    let h = inv.host(host).expect("host").target.clone();
    ctx.rt
        .block_on(Session::connect(&h, &ConnectOptions::default()))
        .expect("connect")
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

// ---------- scenarios ----------

fn status_reads_every_node_on_every_host(ctx: &Ctx) {
    let rows = status_json(&ctx.inventory, "all");
    for h in ["nhtest-1", "nhtest-2", "nhtest-3"] {
        let r = row(&rows, h, "demo");
        assert_eq!(active(r), "active", "{r}");
        assert!(r["unit_state"]["main_pid"].as_u64().unwrap_or(0) > 1, "{r}");
        assert!(r["error"].is_null(), "{r}");
    }
    let bn = row(&rows, "nhtest-1", "lodestar-bn");
    assert_eq!(bn["version"], "1.5.1", "{bn}");
    // Plain output too: a header and one line per node.
    let (code, out, _) = nodeherd(&ctx.inventory, &["status"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("HOST"), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" demo ")).count(),
        3,
        "{out}"
    );
}

fn stop_start_restart_real_units(ctx: &Ctx) {
    let inv = &ctx.inventory;
    let (code, out, err) = nodeherd(inv, &["stop", "all/demo", "--yes"]);
    assert_eq!(code, 0, "stop: {out}{err}");
    let rows = status_json(inv, "all/demo");
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| active(r) == "inactive"), "{rows:?}");
    let (code, out, err) = nodeherd(inv, &["start", "all/demo"]);
    assert_eq!(code, 0, "start: {out}{err}");
    let before = status_json(inv, "all/demo");
    assert!(before.iter().all(|r| active(r) == "active"), "{before:?}");
    let (code, out, err) = nodeherd(inv, &["restart", "lab/demo", "--yes", "--json"]);
    assert_eq!(code, 0, "restart: {out}{err}");
    let results: Vec<Value> = serde_json::from_str(&out).expect("restart --json");
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r["ok"] == true), "{results:?}");
    let after = status_json(inv, "all/demo");
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(
            b["unit_state"]["main_pid"], a["unit_state"]["main_pid"],
            "restart must change the PID: {a}"
        );
    }
    // The restart is journaled on each host itself, and `history` shows it with the new PID.
    let (ok, host_journal) = sh(ctx, "nhtest-2", "cat /var/log/nodeherd/journal.jsonl");
    assert!(ok, "{host_journal}");
    let pid = after
        .iter()
        .find(|r| r["host"] == "nhtest-2")
        .map(|r| r["unit_state"]["main_pid"].to_string())
        .unwrap_or_default();
    let restarted = host_journal
        .lines()
        .rev()
        .find(|l| l.contains(r#""action":"restart""#) && l.contains(r#""node":"nhtest-2/demo""#));
    assert!(
        restarted.is_some_and(
            |l| l.contains(r#""result":"ok""#) && l.contains(&format!("main PID {pid}"))
        ),
        "no restart line with main PID {pid} in nhtest-2's journal:\n{host_journal}"
    );
    let (code, out, err) = nodeherd(inv, &["history", "nhtest-2/demo", "--json"]);
    assert_eq!(code, 0, "history: {out}{err}");
    let entries: Vec<Value> = serde_json::from_str(&out).expect("history --json");
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in ["stop", "start", "restart"] {
        assert!(
            actions.contains(&a),
            "{a} missing from history: {actions:?}"
        );
    }
}

fn logs_tail_and_follow(ctx: &Ctx) {
    let (code, out, err) = nodeherd(&ctx.inventory, &["logs", "nhtest-2/demo", "-n", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().count() >= 1 && out.lines().count() <= 5,
        "{out}"
    );
    assert!(out.contains("demo"), "{out}");
    // Follow: new lines arrive while we listen.
    let inv = load(&ctx.inventory);
    let r = inv.find_node("nhtest-2/demo").expect("node");
    let pool = Pool::new(ConnectOptions::default());
    let got = ctx.rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let follow = nodeherd_engine::logs::follow(&pool, &inv, r, 0, tx);
        let collect = async {
            let mut n = 0;
            let t = Instant::now();
            while let Ok(Some(_line)) =
                tokio::time::timeout(Duration::from_secs(15), rx.recv()).await
            {
                n += 1;
                if n >= 2 {
                    break;
                }
            }
            (n, t.elapsed())
        };
        tokio::select! {
            r = follow => panic!("follow ended early: {r:?}"),
            got = collect => got,
        }
    });
    assert!(got.0 >= 2, "followed {} new lines in {:?}", got.0, got.1);
}

fn lodestar_is_real_and_restartable(ctx: &Ctx) {
    let s = session(ctx, "nhtest-1");
    let version = || {
        ctx.rt
            .block_on(
                s.exec(
                    &Command::new("curl")
                        .arg("-sf")
                        .arg("http://127.0.0.1:9596/eth/v1/node/version"),
                ),
            )
            .map(|o| o.stdout_str().to_string())
            .unwrap_or_default()
    };
    wait_for("lodestar REST to answer", Duration::from_secs(120), || {
        version().contains("Lodestar/v1.5.1")
    });
    let (code, out, err) = nodeherd(
        &ctx.inventory,
        &["restart", "nhtest-1/lodestar-bn", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    wait_for(
        "lodestar REST back after restart",
        Duration::from_secs(120),
        || version().contains("Lodestar/v1.5.1"),
    );
}

fn hostile_argument_arrives_as_one_literal(ctx: &Ctx) {
    let s = session(ctx, "nhtest-3");
    let hostile =
        "a b'c\"d $(touch /tmp/pwned) `id` ; rm -rf /nonexistent && echo x | y > z\nnew\\line * ?";
    let out = ctx
        .rt
        .block_on(
            s.exec(
                &Command::new("printf")
                    .arg("%s\\0")
                    .arg(hostile)
                    .arg("second"),
            ),
        )
        .expect("exec");
    assert_eq!(out.stdout, format!("{hostile}\0second\0").into_bytes());
    let check = ctx
        .rt
        .block_on(s.exec(&Command::new("test").arg("-e").arg("/tmp/pwned")))
        .expect("exec");
    assert_ne!(
        check.exit_status,
        Some(0),
        "the hostile string ran a command on the host"
    );
}

fn changed_host_key_is_refused_with_file_and_line(ctx: &Ctx) {
    // Give nhtest-2 the key of nhtest-1 in a copy of the known_hosts file.
    let inv = load(&ctx.inventory);
    let kh_path = inv.host("nhtest-1").unwrap().target.known_hosts_files[0].clone();
    let kh = std::fs::read_to_string(&kh_path).expect("known_hosts");
    let key1 = kh
        .lines()
        .find(|l| l.starts_with("10.214.0.11 "))
        .expect("key of host 1")
        .to_string();
    let wrong: String = kh
        .lines()
        .map(|l| {
            if l.starts_with("10.214.0.12 ") {
                key1.replacen("10.214.0.11", "10.214.0.12", 1)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let bad_kh = ctx.dir.join("wrong_known_hosts");
    std::fs::write(&bad_kh, wrong + "\n").unwrap();
    let line = std::fs::read_to_string(&bad_kh)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("10.214.0.12 "))
        .unwrap()
        + 1;
    let p = variant(ctx, "wrongkey.toml", |t| {
        t.replace(
            &kh_path.display().to_string(),
            &bad_kh.display().to_string(),
        )
    });
    let rows = status_json(&p, "all/demo");
    let r2 = row(&rows, "nhtest-2", "demo");
    let err = r2["error"].as_str().unwrap_or("");
    assert!(r2["unit_state"].is_null(), "{r2}");
    assert!(err.to_lowercase().contains("changed"), "{err}");
    assert!(
        err.contains(&format!("{}:{line}", bad_kh.display())),
        "must name file:line: {err}"
    );
    assert!(err.contains("SHA256:"), "must show the fingerprint: {err}");
    assert_eq!(active(row(&rows, "nhtest-1", "demo")), "active");
    assert_eq!(active(row(&rows, "nhtest-3", "demo")), "active");
}

fn unknown_host_key_is_refused_under_strict(ctx: &Ctx) {
    let empty = ctx.dir.join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let inv = load(&ctx.inventory);
    let kh_path = inv.host("nhtest-1").unwrap().target.known_hosts_files[0].clone();
    let p = variant(ctx, "unknown.toml", |t| {
        t.replace(&kh_path.display().to_string(), &empty.display().to_string())
    });
    // HOME is pointed away so ~/.ssh/known_hosts cannot know the lab.
    let out = Proc::new(bin())
        .args(["-i"])
        .arg(&p)
        .args(["status", "nhtest-1", "--json"])
        .env("HOME", &ctx.dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let err = rows[0]["error"].as_str().unwrap_or("");
    assert!(
        err.contains("unknown") || err.contains("not known"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1));
}

fn unreachable_host_does_not_stall_the_others(ctx: &Ctx) {
    let p = variant(ctx, "unreachable.toml", |t| {
        format!(
            "{t}\n[hosts.ghost]\naddress = \"10.214.0.99\"\nconnect_timeout = \"3s\"\n\n[hosts.ghost.nodes.demo]\nclient = \"generic\"\nunit = \"nodeherd-demo.service\"\n"
        )
    });
    let t = Instant::now();
    let rows = status_json(&p, "all/demo");
    let took = t.elapsed();
    let ghost = row(&rows, "ghost", "demo");
    assert!(ghost["unit_state"].is_null());
    assert!(!ghost["error"].as_str().unwrap_or("").is_empty(), "{ghost}");
    for h in ["nhtest-1", "nhtest-2", "nhtest-3"] {
        assert_eq!(active(row(&rows, h, "demo")), "active");
    }
    assert!(
        took < Duration::from_secs(8),
        "a dead host stalled the run: {took:?}"
    );
}

fn non_root_user_with_become(ctx: &Ctx) {
    let p = variant(ctx, "become.toml", |t| {
        t.replacen("user = \"root\"", "user = \"ops\"\nbecome = true", 1)
    });
    let (code, out, err) = nodeherd(&p, &["restart", "nhtest-3/demo", "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = nodeherd(&p, &["logs", "nhtest-3/demo", "-n", "3"]);
    assert_eq!(code, 0, "{out}{err}");
    // Without become, the same user may not restart units.
    let p2 = variant(ctx, "nobecome.toml", |t| {
        t.replacen("user = \"root\"", "user = \"ops\"", 1)
    });
    let (code, out, _) = nodeherd(&p2, &["restart", "nhtest-3/demo", "--yes"]);
    assert_eq!(code, 1, "{out}");
}

fn jump_host_chain(ctx: &Ctx) {
    // nhtest-3 reached through nhtest-2, itself reached through nhtest-1.
    let p = variant(ctx, "jump.toml", |t| {
        t.replacen(
            "address = \"10.214.0.13\"",
            "address = \"10.214.0.13\"\njump = \"nhtest-2\"",
            1,
        )
        .replacen(
            "address = \"10.214.0.12\"",
            "address = \"10.214.0.12\"\njump = \"nhtest-1\"",
            1,
        )
    });
    let inv = load(&p);
    let t = &inv.host("nhtest-3").unwrap().target;
    assert_eq!(t.jump.as_ref().map(|j| j.name.as_str()), Some("nhtest-2"));
    let rows = status_json(&p, "nhtest-3/demo");
    assert_eq!(active(&rows[0]), "active", "{:?}", rows[0]);
    let s = ctx
        .rt
        .block_on(Session::connect(t, &ConnectOptions::default()))
        .expect("connect via jumps");
    let out = ctx
        .rt
        .block_on(s.exec(&Command::new("hostname")))
        .expect("exec");
    assert_eq!(out.stdout_str().trim(), "nhtest-3");
}

fn disruptive_action_needs_yes_without_tty(ctx: &Ctx) {
    let (code, _, err) = nodeherd(&ctx.inventory, &["stop", "all/demo"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");
    let rows = status_json(&ctx.inventory, "all/demo");
    assert!(
        rows.iter().all(|r| active(r) == "active"),
        "nothing may have been stopped: {rows:?}"
    );
}

/// A playbook for the test lab: every node running, the beacon node pinned to 1.5.1.
fn playbook(ctx: &Ctx) -> PathBuf {
    let p = ctx.dir.join("site.toml");
    std::fs::write(
        &p,
        "[upgrade]\ndelay = \"0s\"\nhealth_timeout = \"240s\"\nconfirm_timeout = \"300s\"\nmin_quiet = \"0s\"\n\n\
         [state]\nrunning = true\n\n[nodes.\"nhtest-1/lodestar-bn\".state]\nversion = \"1.5.1\"\n",
    )
    .unwrap();
    p
}

/// Run the binary without a terminal with its own state dir (journal, alerts state, apply lock).
fn nodeherd_state(ctx: &Ctx, args: &[&str]) -> (i32, String, String) {
    let out = Proc::new(bin())
        .arg("-i")
        .arg(&ctx.inventory)
        .args(args)
        .current_dir(&ctx.dir)
        .env("XDG_STATE_HOME", ctx.dir.join("state"))
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

fn apply_repairs_drift_and_is_idempotent(ctx: &Ctx) {
    let pb = playbook(ctx);
    let pbs = pb.display().to_string();
    // Drift made by hand: a unit stopped, and the beacon node switched to another version.
    let s2 = session(ctx, "nhtest-2");
    ctx.rt
        .block_on(
            s2.exec(
                &Command::new("systemctl")
                    .arg("stop")
                    .arg("nodeherd-demo.service"),
            ),
        )
        .expect("stop");
    let s1 = session(ctx, "nhtest-1");
    let by_hand = "cd /opt/nodeherd/lodestar-bn && ln -sfn /opt/lodestar-dist/1.4.2 releases/1.4.2 \
                   && ln -sfn releases/1.4.2 current && systemctl restart lodestar-bn";
    let o = ctx
        .rt
        .block_on(s1.exec(&Command::new("sh").arg("-c").arg(by_hand)))
        .expect("switch by hand");
    assert!(o.success(), "{o:?}");
    // plan: both changes, each with its reason; exit 10 with --detailed-exitcode.
    let (code, out, err) = nodeherd_state(ctx, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 10, "{out}{err}");
    assert!(
        out.contains("nhtest-2/demo") && out.contains("declared running, unit is inactive"),
        "{out}"
    );
    assert!(out.contains("switch version 1.4.2 -> 1.5.1"), "{out}");
    assert!(
        out.contains("nhtest-3/demo: no change: running as declared"),
        "{out}"
    );
    // apply without a terminal needs --yes and changes nothing.
    let (code, _, err) = nodeherd_state(ctx, &["apply", "-p", &pbs]);
    assert_eq!(code, 2, "{err}");
    // apply --json: JSON lines, every change verified.
    let (code, out, err) = nodeherd_state(ctx, &["apply", "-p", &pbs, "--yes", "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let results: Vec<&Value> = lines.iter().filter(|l| l["event"] == "result").collect();
    assert_eq!(results.len(), 2, "{out}");
    assert!(
        results.iter().all(|r| r["result"]["verified"] == true),
        "{out}"
    );
    let summary = lines.last().expect("summary");
    assert_eq!(
        (summary["event"].as_str(), summary["failed"].as_u64()),
        (Some("summary"), Some(0)),
        "{out}"
    );
    let rows = status_json(&ctx.inventory, "all");
    assert_eq!(active(row(&rows, "nhtest-2", "demo")), "active");
    assert_eq!(row(&rows, "nhtest-1", "lodestar-bn")["version"], "1.5.1");
    // Idempotence: a second apply plans and does nothing.
    let (code, out, err) = nodeherd_state(ctx, &["apply", "-p", &pbs, "--yes"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("apply: 0 change(s)"), "{out}");
    let (code, _, _) = nodeherd_state(ctx, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 0);
}

fn apply_lock_contention_exits_3(ctx: &Ctx) {
    let pb = playbook(ctx);
    let lock_path = ctx.dir.join("state").join("nodeherd").join("apply.lock");
    let held = nodeherd_engine::apply::lock::ApplyLock::acquire(&lock_path).expect("hold the lock");
    let (code, out, err) =
        nodeherd_state(ctx, &["apply", "-p", &pb.display().to_string(), "--yes"]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("another `nodeherd apply` is running")
            && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert!(
        out.is_empty(),
        "nothing may have been planned or done: {out}"
    );
    drop(held);
}

// ---------- unit-file drift ----------

const DEMO_FILE: &str = "/etc/systemd/system/nodeherd-demo.service";

/// Run `script` with `sh -c` on `host`; (success, stdout).
fn sh(ctx: &Ctx, host: &str, script: &str) -> (bool, String) {
    let s = session(ctx, host);
    let o = ctx
        .rt
        .block_on(s.exec(&Command::new("sh").arg("-c").arg(script)))
        .expect("exec");
    (o.success(), o.stdout_str().into_owned())
}

fn main_pid(ctx: &Ctx, host: &str) -> String {
    let (ok, out) = sh(
        ctx,
        host,
        "systemctl show --property=MainPID --value nodeherd-demo.service",
    );
    assert!(ok, "{out}");
    out.trim().to_string()
}

/// nhtest-3's demo unit is replaced by the one the playbook's `[unit]` renders (the crate's
/// own renderer, marker included) as if nodeherd had provisioned it; nhtest-2's stays the lab's
/// hand-written unit (no marker) under a `[unit]` too. An edit by hand on nhtest-3 is planned
/// (exit 10, the differing line named), rewritten and restarted by apply, then a no-op;
/// nhtest-2's file is reported and left byte-identical. Restores the lab's unit at the end.
fn unit_file_drift_is_planned_rewritten_and_restarted(ctx: &Ctx) -> Vec<String> {
    use nodeherd_core::plan::{desired::DesiredState, unitfile};
    use nodeherd_engine::apply::run;
    let mut figures = Vec::new();
    let pb_text = "[state]\nrunning = true\n\n\
         [nodes.\"nhtest-3/demo\".unit]\ndescription = \"nodeherd lab demo (unit owned by the playbook)\"\n\
         exec_start = \"/usr/local/bin/nodeherd-demo\"\nenvironment = [\"DEMO_MODE=steady\"]\n\n\
         [nodes.\"nhtest-2/demo\".unit]\nexec_start = \"/usr/local/bin/nodeherd-demo\"\n";
    let pb = ctx.dir.join("unitdrift.toml");
    std::fs::write(&pb, pb_text).expect("write playbook");
    let pbs = pb.display().to_string();
    let inv = load(&ctx.inventory);
    let desired = DesiredState::parse(&[("unitdrift.toml".into(), pb_text.into())], &inv)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let r3 = inv.find_node("nhtest-3/demo").expect("node");
    let want = run::unit_want(&inv, &desired, r3).expect("a complete [unit]");
    assert!(want.starts_with(unitfile::MARKER), "{want}");
    // "Provisioned": the rendered unit in place, running.
    let s3 = session(ctx, "nhtest-3");
    let put = Command::new("sh")
        .arg("-c")
        .arg("cat > \"$1\" && chmod 0644 \"$1\" && systemctl daemon-reload && systemctl restart nodeherd-demo.service")
        .arg("nodeherd-test")
        .arg(DEMO_FILE);
    let o = ctx
        .rt
        .block_on(s3.exec_with_stdin(&put, want.as_bytes()))
        .expect("exec");
    assert!(o.success(), "{o:?}");
    let theirs_before = sh(ctx, "nhtest-2", &format!("cat {DEMO_FILE}")).1;
    assert!(!theirs_before.starts_with(unitfile::MARKER));

    // The fact on real output: the batched status script of nhtest-3, parsed.
    let pool = Pool::new(ConnectOptions::default());
    let h3 = inv.host("nhtest-3").expect("host");
    let script = nodeherd_engine::status::status_script_with_files(
        &["nodeherd-demo.service"],
        &["/opt/nodeherd/demo".into()],
        &[DEMO_FILE.into(), "/etc/systemd/system/nope.service".into()],
    );
    let captured = ctx.rt.block_on(async {
        let s = pool.session(&h3.target).await.expect("ssh");
        s.exec(&Command::new("sh").arg("-c").arg(&script))
            .await
            .expect("exec")
            .stdout_str()
            .into_owned()
    });
    println!("--- captured status output (nhtest-3) ---\n{captured}--- end ---");
    assert_eq!(
        nodeherd_engine::status::parse_unit_files(&captured, 2),
        vec![
            Some(unitfile::HostUnitFile::Text(want.clone())),
            Some(unitfile::HostUnitFile::Absent)
        ],
        "{captured}"
    );
    // Added gather time: the batched read with and without the unit files (3 hosts, 2 files).
    let all = inv.node_refs();
    let files: std::collections::BTreeSet<_> = [r3, inv.find_node("nhtest-2/demo").expect("n2")]
        .into_iter()
        .collect();
    let (mut plain, mut with) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        let t = Instant::now();
        ctx.rt
            .block_on(nodeherd_engine::status::gather(&pool, &inv, &all, 8));
        plain.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        let rows = ctx
            .rt
            .block_on(nodeherd_engine::status::gather_with_unit_files(
                &pool, &inv, &all, 8, &files,
            ));
        with.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(rows.iter().filter(|r| r.unit_file.is_some()).count() == 2);
    }
    plain.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    figures.push(format!(
        "status gather of 3 hosts, median of 7 (warm pool): {:.1} ms; with 2 unit files in the same exec: {:.1} ms",
        plain[3], with[3]
    ));
    ctx.rt.block_on(pool.close_all());

    // In state: exit 0; nhtest-2's file is reported as not nodeherd's.
    let (code, out, err) = nodeherd_state(ctx, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("nhtest-3/demo: no change: running as declared; version not managed; unit file matches the playbook"),
        "{out}"
    );
    assert!(
        out.contains("nhtest-2/demo: no change: running as declared; version not managed; unit file not managed by nodeherd (no marker); add the marker or remove the [unit] section to silence"),
        "{out}"
    );

    // Edited by hand: an Environment= line added, a flag changed on the other host's file.
    let (ok, _) = sh(
        ctx,
        "nhtest-3",
        &format!(
            "sed -i 's/^\\[Service\\]$/[Service]\\nEnvironment=DEMO_DEBUG=1/' {DEMO_FILE} && systemctl daemon-reload"
        ),
    );
    assert!(ok);
    let (ok, _) = sh(
        ctx,
        "nhtest-2",
        &format!("sed -i 's/^RestartSec=1$/RestartSec=2/' {DEMO_FILE} && systemctl daemon-reload"),
    );
    assert!(ok);
    let theirs_before = sh(ctx, "nhtest-2", &format!("cat {DEMO_FILE}")).1;
    let pid_before = main_pid(ctx, "nhtest-3");
    let (code, out, err) = nodeherd_state(ctx, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 10, "{out}{err}");
    // The row and the lines under it (a long REASON goes whole under its row, wrapped at spaces).
    let mut rest = out.lines().skip_while(|l| !l.starts_with("nhtest-3/demo"));
    let first = rest.next().unwrap_or_else(|| panic!("{out}"));
    let line = std::iter::once(first)
        .chain(rest.take_while(|l| l.starts_with("    ")))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    println!("plan: {line}");
    assert!(
        line.contains("rewrite unit")
            && line.contains("host has an extra line 9: \"Environment=DEMO_DEBUG=1\"")
            && line.contains("restarts the running unit"),
        "{out}"
    );
    assert!(
        !out.contains("nhtest-2/demo  "),
        "never a change for nhtest-2: {out}"
    );
    let (code, out, err) = nodeherd_state(ctx, &["plan", "-p", &pbs, "--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let c = &v["changes"][0];
    assert_eq!(
        (c["node"].as_str(), c["change"]["kind"].as_str()),
        (Some("demo"), Some("rewrite-unit")),
        "{out}"
    );
    assert_eq!(
        c["change"]["diff_summary"], "host has an extra line 9: \"Environment=DEMO_DEBUG=1\"",
        "{out}"
    );

    // apply: rewritten, restarted (new MainPID), verified.
    let t = Instant::now();
    let (code, out, err) = nodeherd_state(ctx, &["apply", "-p", &pbs, "--yes", "--json"]);
    figures.push(format!(
        "apply of one unit rewrite (plan, write, daemon-reload, restart, verify): {:.1}s",
        t.elapsed().as_secs_f64()
    ));
    assert_eq!(code, 0, "{out}{err}");
    let result = out
        .lines()
        .find(|l| l.contains("\"event\":\"result\""))
        .unwrap_or_else(|| panic!("{out}"));
    println!("apply: {result}");
    let r: Value = serde_json::from_str(result).expect("json");
    assert_eq!(r["result"]["change"]["kind"], "rewrite-unit", "{out}");
    assert_eq!(r["result"]["verified"], true, "{out}");
    assert!(
        r["result"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("restarted")),
        "{out}"
    );
    let pid_after = main_pid(ctx, "nhtest-3");
    println!("MainPID {pid_before} -> {pid_after}");
    assert_ne!(pid_before, pid_after);
    assert_ne!(pid_after, "0");
    let (_, now) = sh(
        ctx,
        "nhtest-3",
        &format!(
            "stat -c %a {DEMO_FILE}; cat {DEMO_FILE}; ls /etc/systemd/system/ | grep -c nodeherd-tmp || true"
        ),
    );
    assert_eq!(now, format!("644\n{want}0\n"));
    assert_eq!(
        sh(ctx, "nhtest-2", &format!("cat {DEMO_FILE}")).1,
        theirs_before,
        "a file without the marker is never touched"
    );
    // Idempotent.
    let (code, out, err) = nodeherd_state(ctx, &["plan", "-p", &pbs, "--detailed-exitcode"]);
    assert_eq!(code, 0, "{out}{err}");

    // Restore the lab's units.
    for h in ["nhtest-2", "nhtest-3"] {
        let s = session(ctx, h);
        let put = Command::new("sh")
            .arg("-c")
            .arg("cat > \"$1\" && systemctl daemon-reload && systemctl restart nodeherd-demo.service")
            .arg("nodeherd-test")
            .arg(DEMO_FILE);
        let o = ctx
            .rt
            .block_on(s.exec_with_stdin(&put, nodeherd_lab::units::demo_unit().as_bytes()))
            .expect("exec");
        assert!(o.success(), "{o:?}");
    }
    figures
}

// ---------- Cosmos / CometBFT consensus keys ----------

/// The CometBFT home the cosmos scenario writes on each host.
const GAIA_HOME: &str = "/var/lib/nodeherd-test/gaia";

/// Write `text` to `path` on `host` (0600, directories made), as root.
fn put_file(ctx: &Ctx, host: &str, path: &str, text: &str) {
    let s = session(ctx, host);
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("umask 077 && mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"")
        .arg("nodeherd-test")
        .arg(path);
    let o = ctx
        .rt
        .block_on(s.exec_with_stdin(&cmd, text.as_bytes()))
        .expect("exec");
    assert!(o.success(), "writing {host}:{path}: {o:?}");
}

fn cosmos_inventory(ctx: &Ctx, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    variant(ctx, name, |t| {
        let mut t = edit(t);
        for h in ["nhtest-1", "nhtest-2", "nhtest-3"] {
            t.push_str(&format!(
                "\n[hosts.{h}.nodes.gaia]\nclient = \"cosmos\"\nunit = \"gaiad.service\"\ndata_dir = \"{GAIA_HOME}\"\n"
            ));
        }
        t
    })
}

fn cosmos_keys_listed_and_double_sign_risk_flagged(ctx: &Ctx) {
    // The generation path reproduces CometBFT's documented example pair (seed || pub).
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let doc = b64
            .decode("9giFjwnmAKCAI95l4Q32kXsau+itGrbsvz84CTLxGnJSPENCBVOUck5ntrGkyX+JzMwgleJCkXEIWPAoa/NioQ==")
            .expect("doc key");
        let seed: [u8; 32] = doc[..32].try_into().expect("32");
        let k = comet_key(seed);
        assert_eq!(k.pub_b64, "UjxDQgVTlHJOZ7axpMl/iczMIJXiQpFxCFjwKGvzYqE=");
        assert_eq!(k.address, "E74FBE24164CFC4F88E311C3AC92E63D0DC310D8");
    }
    let shared = comet_key(*b"nodeherd lab cosmos shared key!!");
    let other = comet_key(*b"nodeherd lab cosmos other key...");
    let states = [
        (
            "nhtest-1",
            &shared,
            "{\n  \"height\": \"1204\",\n  \"round\": 0,\n  \"step\": 3\n}",
        ),
        (
            "nhtest-2",
            &shared,
            "{\n  \"height\": \"1203\",\n  \"round\": 1,\n  \"step\": 2\n}",
        ),
        (
            "nhtest-3",
            &other,
            "{\n  \"height\": \"0\",\n  \"round\": 0,\n  \"step\": 0\n}",
        ),
    ];
    for (h, k, st) in &states {
        put_file(
            ctx,
            h,
            &format!("{GAIA_HOME}/config/priv_validator_key.json"),
            &k.file(),
        );
        put_file(
            ctx,
            h,
            &format!("{GAIA_HOME}/data/priv_validator_state.json"),
            st,
        );
    }
    let secrets: Vec<String> = [&shared, &other]
        .iter()
        .flat_map(|k| k.secret_forms())
        .collect();
    let no_secret = |what: &str, text: &str| {
        for s in &secrets {
            assert!(
                !text.contains(s.as_str()),
                "{what} holds private key material"
            );
        }
    };
    let inv = cosmos_inventory(ctx, "cosmos.toml", |t| t);

    // Plain output: three rows, the risk line naming exactly hosts 1 and 2, exit 1.
    let (code, out, err) = nodeherd(&inv, &["keys", "list", "all/gaia"]);
    println!("--- keys list all/gaia (exit {code})\n{out}{err}---");
    no_secret("stdout", &out);
    no_secret("stderr", &err);
    assert_eq!(code, 1, "{out}{err}");
    for (h, k, _) in &states {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{h}/gaia ")))
            .unwrap_or_else(|| panic!("no row for {h}/gaia: {out}"));
        assert!(
            line.contains(&k.address) && line.contains(&k.pub_b64),
            "{line}"
        );
    }
    let h1: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("nhtest-1/gaia "))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(h1.get(4..), Some(&["1204", "0", "3"][..]), "{out}");
    let risk: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("DOUBLE-SIGN RISK"))
        .collect();
    assert_eq!(risk.len(), 1, "{err}");
    assert!(
        risk[0].contains(&shared.address)
            && risk[0].ends_with("is on 2 nodes: nhtest-1/gaia, nhtest-2/gaia"),
        "{}",
        risk[0]
    );
    assert!(!err.contains("nhtest-3/gaia"), "{err}");

    // JSON: the same facts, and the risk as a field.
    let (code, out, err) = nodeherd(&inv, &["keys", "list", "all/gaia", "--json"]);
    no_secret("json stdout", &out);
    no_secret("json stderr", &err);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = v["consensus_keys"].as_array().expect("consensus_keys");
    assert_eq!(rows.len(), 3, "{out}");
    for (h, k, st) in &states {
        let r = rows
            .iter()
            .find(|r| r["node"] == format!("{h}/gaia"))
            .unwrap_or_else(|| panic!("{h}: {out}"));
        assert_eq!(r["address"], k.address.as_str());
        assert_eq!(r["pubkey"], k.pub_b64.as_str());
        assert_eq!(r["address_verified"], true);
        let want: Value = serde_json::from_str(st).expect("state");
        assert_eq!(
            r["state"]["height"].as_u64().map(|x| x.to_string()),
            want["height"].as_str().map(str::to_string),
            "{r}"
        );
        assert_eq!(r["state"]["round"], want["round"], "{r}");
        assert_eq!(r["state"]["step"], want["step"], "{r}");
    }
    let risks = v["double_sign_risks"].as_array().expect("risks");
    assert_eq!(risks.len(), 1, "{out}");
    assert_eq!(risks[0]["chain"], "cosmos");
    assert_eq!(risks[0]["pubkey"], shared.pub_b64.as_str());
    assert_eq!(
        risks[0]["nodes"],
        serde_json::json!(["nhtest-1/gaia", "nhtest-2/gaia"])
    );
    assert!(
        v["errors"].as_array().is_some_and(std::vec::Vec::is_empty),
        "{out}"
    );

    // A non-root user reads the 0600 root files only through `become`.
    let become_inv = cosmos_inventory(ctx, "cosmos-become.toml", |t| {
        t.replacen("user = \"root\"", "user = \"ops\"\nbecome = true", 1)
    });
    let (code, out, err) = nodeherd(&become_inv, &["keys", "list", "all/gaia"]);
    no_secret("become output", &format!("{out}{err}"));
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        out.lines().filter(|l| l.contains("/gaia ")).count(),
        3,
        "{out}{err}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("DOUBLE-SIGN RISK"))
            .count(),
        1,
        "{err}"
    );
    let plain_inv = cosmos_inventory(ctx, "cosmos-nobecome.toml", |t| {
        t.replacen("user = \"root\"", "user = \"ops\"", 1)
    });
    let (code, out, err) = nodeherd(&plain_inv, &["keys", "list", "all/gaia"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("/gaia: cannot read") && l.contains("priv_validator_key.json"))
            .count(),
        3,
        "{err}"
    );
    assert!(!err.contains("DOUBLE-SIGN RISK"), "{err}");

    // One key per node again: no risk, exit 0.
    let third = comet_key(*b"nodeherd lab cosmos third key...");
    put_file(
        ctx,
        "nhtest-2",
        &format!("{GAIA_HOME}/config/priv_validator_key.json"),
        &third.file(),
    );
    let (code, out, err) = nodeherd(&inv, &["keys", "list", "all/gaia"]);
    println!("--- after giving nhtest-2 its own key (exit {code})\n{out}{err}---");
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("DOUBLE-SIGN RISK"), "{err}");
    assert!(out.contains(&third.address), "{out}");
    no_secret("stdout", &out);
    assert!(!out.contains(&third.priv_b64) && !err.contains(&third.priv_b64));
}
