//! Backups before a switch, against a real lab host running a real Lodestar beacon node (lab
//! "nhbak", 10.224.0.0/24, one host): an upgrade with `backup = "copy"` saves the data dir while
//! the unit is stopped, and a rollback restores it (a file changed after the switch is back as
//! it was, a marker written after the switch is gone); `backup = "snapshot"` on the lab's ext4
//! falls back to a plain copy and says so, pruning to `backup_keep`; a backup target too small
//! (a real 2 MiB tmpfs mounted on `<install_dir>/backups` inside the host) refuses the upgrade
//! with both numbers and nothing changed. And a `nodeherd restart` by the real binary is journaled
//! on the host and shown by `nodeherd history`. Needs root: without it, says so and skips.
//!
//! Run: `cargo test --test backup_lab` (as root); a name filter runs only matching scenarios.

use nodeherd_core::inventory::{Backup, Inventory};
use nodeherd_core::journal;
use nodeherd_core::playbook::Playbook;
use nodeherd_core::selector::Selector;
use nodeherd_engine::upgrade::engine::{self, Options, Status, Target};
use nodeherd_lab::LabConfig;
use nodeherd_transport::ssh::{Command, ConnectOptions, Pool, Session};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/feed.rs"]
mod feed;
#[path = "support/labsuite.rs"]
mod labsuite;

const NODE: &str = "nhbak-1/lodestar-bn";
const DIR: &str = "/opt/nodeherd/lodestar-bn";
const DATA: &str = "/var/lib/lodestar-bn";
/// A file of ours at the top of the data dir (Lodestar's `--reset` clears only its databases).
const ORIGIN: &str = "/var/lib/lodestar-bn/nodeherd-test-origin";
const MARKER: &str = "/var/lib/lodestar-bn/nodeherd-test-marker";

struct Ctx {
    inv: Inventory,
    inventory: PathBuf,
    dir: PathBuf,
    feed_base: String,
    rt: tokio::runtime::Runtime,
}

fn main() {
    let Some(mut suite) = labsuite::start("backup_lab", |dir| LabConfig {
        name: "nhbak".into(),
        hosts: 1,
        subnet: 224,
        lodestar: true,
        lodestar_hosts: 1,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    // SAFETY: single-threaded here; the console's journal goes to the suite's directory.
    unsafe { std::env::set_var("NODEHERD_STATE_DIR", suite.dir.join("state")) };
    let rt = labsuite::runtime();
    let feed_base = rt.block_on(serve(suite.dir.clone()));
    let ctx = Ctx {
        inv: Inventory::load(&suite.report.inventory).expect("lab inventory"),
        inventory: suite.report.inventory.clone(),
        dir: suite.dir.clone(),
        feed_base,
        rt,
    };
    suite.run("setup_on_1_4_2", || reset_to_1_4_2(&ctx));
    suite.run(
        "too_small_backup_target_refuses_with_nothing_changed",
        || {
            too_small_backup_target_refuses(&ctx);
        },
    );
    suite.run("copy_then_rollback_restores_the_data_dir", || {
        copy_then_rollback_restores(&ctx);
    });
    suite.run("snapshot_on_ext4_falls_back_to_a_copy_and_prunes", || {
        snapshot_falls_back_and_prunes(&ctx);
    });
    suite.run(
        "a_restart_by_the_cli_is_journaled_on_the_host_and_in_history",
        || {
            restart_is_in_history(&ctx);
        },
    );
    suite.finish();
}

async fn serve(dir: PathBuf) -> String {
    let arts = feed::lodestar_artifacts();
    let (listener, base) = feed::bind().await;
    let mut files: Vec<(String, PathBuf)> = arts
        .iter()
        .map(|(v, f, _)| (feed::lodestar_asset(v, feed::lab_cpu()), f.clone()))
        .collect();
    let rels: Vec<serde_json::Value> = arts
        .iter()
        .map(|(v, _, sha)| {
            feed::release_json(
                &base,
                &format!("v{v}"),
                30,
                &feed::lodestar_asset(v, feed::lab_cpu()),
                sha,
            )
        })
        .collect();
    files.push(feed::feed_file(&dir, "main", &rels));
    feed::spawn_file_server(listener, files);
    base
}

fn target(ctx: &Ctx, mode: Backup, keep: usize) -> Target {
    let text = format!(
        "[upgrade]\nrelease_feed = \"{}/feed/main.json\"\ndelay = \"7d\"\nhealth_timeout = \"100s\"\nconfirm_timeout = \"130s\"\nmin_quiet = \"0s\"\nkeep = 3\n",
        ctx.feed_base
    );
    let p = ctx.dir.join("playbook.toml");
    std::fs::write(&p, text).expect("write playbook");
    let pb = Playbook::load(&p).expect("playbook");
    let r = Selector::parse(NODE)
        .and_then(|s| s.select_nodes(&ctx.inv))
        .expect("select")[0];
    let mut t = Target::new(&ctx.inv, r, &pb);
    t.node.backup = mode;
    t.node.backup_keep = keep;
    t.node.data_dir = Some(DATA.into());
    t.host.target.command_timeout = Duration::from_secs(60);
    t
}

fn options(ctx: &Ctx) -> Options {
    Options {
        who: "tester@console".into(),
        wait_lock: Duration::from_secs(60),
        artifact_cache: ctx.dir.join("artifacts"),
        feed_cache: ctx.dir.join("feeds"),
        ..Options::default()
    }
}

async fn session(t: &Target) -> Session {
    Pool::new(ConnectOptions::default())
        .session(&t.host.target)
        .await
        .expect("ssh")
}

/// Run `script` on the host; (success, stdout + stderr).
fn sh(ctx: &Ctx, t: &Target, script: &str) -> (bool, String) {
    ctx.rt.block_on(async {
        let s = session(t).await;
        let o = s
            .exec_with_timeout(
                &Command::new("sh").arg("-c").arg(script),
                Duration::from_secs(180),
            )
            .await
            .expect("exec");
        (
            o.success(),
            format!("{}{}", o.stdout_str(), String::from_utf8_lossy(&o.stderr)),
        )
    })
}

fn read(ctx: &Ctx, t: &Target, script: &str) -> String {
    let (ok, out) = sh(ctx, t, script);
    assert!(ok, "{script}: {out}");
    out.trim().to_string()
}

fn host_journal(ctx: &Ctx, t: &Target) -> Vec<journal::Entry> {
    journal::parse(&read(
        ctx,
        t,
        "cat /var/log/nodeherd/journal.jsonl 2>/dev/null; true",
    ))
    .0
}

fn healthy_on(ctx: &Ctx, t: &Target, version: &str) {
    let r = ctx.rt.block_on(async {
        let s = session(t).await;
        let spec = nodeherd_engine::upgrade::health::GateSpec {
            want: Some(version),
            accept_syncing: false,
            settle: Duration::ZERO,
            timeout: Duration::from_secs(150),
        };
        nodeherd_engine::upgrade::health::gate(&s, &t.node, spec).await
    });
    if let Err(f) = r {
        panic!("not healthy on {version}: {}", f.reason);
    }
}

fn upgrade(ctx: &Ctx, t: &Target) -> (engine::NodePlan, engine::Outcome) {
    ctx.rt.block_on(async {
        let pool = Pool::new(ConnectOptions::default());
        let ts = vec![t.clone()];
        let opts = options(ctx);
        let plans = engine::plan_all(&pool, &ts, Some("1.5.1"), &opts).await;
        let out = engine::run_upgrades(&pool, &ts, &plans, &opts).await;
        pool.close_all().await;
        (plans[0].clone(), out[0].clone())
    })
}

fn rollback(ctx: &Ctx, t: &Target) -> engine::Outcome {
    ctx.rt.block_on(async {
        let s = session(t).await;
        engine::rollback_node(&s, t, None, &options(ctx)).await
    })
}

/// The node on 1.4.2 from the lab's read-only install, no backups, an empty journal, our file.
fn reset_to_1_4_2(ctx: &Ctx) {
    let t = target(ctx, Backup::None, 2);
    // The lab's dev chain restarts afresh on every start: the VC follows the BN (as in upgrade.rs).
    read(
        ctx,
        &t,
        r#"mkdir -p /etc/systemd/system/lodestar-vc.service.d /etc/systemd/system/lodestar-bn.service.d
printf '[Service]\nExecStartPre=/bin/sh -c "find /var/lib/lodestar-vc/validator-db -mindepth 1 ! -name api-token.txt -delete"\n' > /etc/systemd/system/lodestar-vc.service.d/nodeherd-test.conf
printf '[Service]\nExecStartPost=/bin/systemctl --no-block restart lodestar-vc.service\n' > /etc/systemd/system/lodestar-bn.service.d/nodeherd-test.conf
systemctl daemon-reload"#,
    );
    read(
        ctx,
        &t,
        &format!(
            "umount {DIR}/backups 2>/dev/null; mkdir -p {DATA} && cd {DIR} && rm -rf releases/1.5.1 backups .nodeherd previous && ln -sfn /opt/lodestar-dist/1.4.2 releases/1.4.2 && ln -sfn releases/1.4.2 current && rm -f /var/log/nodeherd/journal.jsonl {MARKER} && echo before > {ORIGIN} && systemctl restart lodestar-bn"
        ),
    );
    healthy_on(ctx, &t, "1.4.2");
}

fn too_small_backup_target_refuses(ctx: &Ctx) {
    let t = target(ctx, Backup::Copy, 2);
    // A real, small filesystem as the backup target (root in the host may mount a tmpfs).
    read(
        ctx,
        &t,
        &format!("mkdir -p {DIR}/backups && mount -t tmpfs -o size=2m nhbak-small {DIR}/backups"),
    );
    let pid = read(ctx, &t, "systemctl show -p MainPID --value lodestar-bn");
    let started = Instant::now();
    let (plan, o) = upgrade(ctx, &t);
    let took = started.elapsed();
    let _ = sh(
        ctx,
        &t,
        &format!("umount {DIR}/backups && rmdir {DIR}/backups"),
    );
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail
            .starts_with("backup does not fit: the data dir /var/lib/lodestar-bn holds ")
            && o.detail
                .contains(" free on /opt/nodeherd/lodestar-bn/backups but only ")
            && o.detail.ends_with("is free; nothing changed"),
        "{}",
        o.detail
    );
    let b = plan.backup.expect("the plan names the backup");
    assert!(b.problem.is_some() && b.free_kib <= 2048, "{b:?}");
    // Nothing changed: same process, still 1.4.2, 1.5.1 not even uploaded.
    assert_eq!(
        read(ctx, &t, "systemctl show -p MainPID --value lodestar-bn"),
        pid
    );
    assert_eq!(
        read(ctx, &t, &format!("readlink {DIR}/current")),
        "releases/1.4.2"
    );
    assert_eq!(read(ctx, &t, &format!("ls {DIR}/releases")), "1.4.2");
    let j = host_journal(ctx, &t);
    assert!(
        j.iter().any(|e| e.action == "upgrade"
            && e.result == "refused"
            && e.detail.starts_with("backup does not fit")),
        "{j:?}"
    );
    println!(
        "figure: refusal for lack of space in {:.1}s: {}",
        took.as_secs_f64(),
        o.detail
    );
}

fn copy_then_rollback_restores(ctx: &Ctx) {
    let t = target(ctx, Backup::Copy, 2);
    let started = Instant::now();
    let (plan, o) = upgrade(ctx, &t);
    let took = started.elapsed();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let b = plan.backup.expect("the plan names the backup");
    assert!(
        b.describe().starts_with("copy of /var/lib/lodestar-bn ("),
        "{}",
        b.describe()
    );
    healthy_on(ctx, &t, "1.5.1");
    let name = read(ctx, &t, &format!("ls {DIR}/backups"));
    assert!(name.starts_with("1.4.2-") && !name.contains('\n'), "{name}");
    assert_eq!(
        read(
            ctx,
            &t,
            &format!("cat {DIR}/backups/{name}/nodeherd-test-origin")
        ),
        "before"
    );
    let j = host_journal(ctx, &t);
    let line = j
        .iter()
        .find(|e| e.action == "backup")
        .expect("backup line");
    assert_eq!(
        (line.result.as_str(), line.who.as_str()),
        ("ok", "tester@console")
    );
    assert!(
        line.detail
            .contains(" KiB) -> /opt/nodeherd/lodestar-bn/backups/1.4.2-")
            && line.detail.contains(": copy in "),
        "{}",
        line.detail
    );
    // The new version's run changes the data.
    read(
        ctx,
        &t,
        &format!("echo after > {ORIGIN} && echo new > {MARKER}"),
    );
    let started_rb = Instant::now();
    let o = rollback(ctx, &t);
    let took_rb = started_rb.elapsed();
    assert_eq!(o.status, Status::Ok, "{o:?}");
    assert_eq!(
        read(ctx, &t, &format!("readlink {DIR}/current")),
        "releases/1.4.2"
    );
    assert_eq!(
        read(ctx, &t, &format!("cat {ORIGIN}")),
        "before",
        "restored"
    );
    let (gone, _) = sh(ctx, &t, &format!("test ! -e {MARKER}"));
    assert!(gone, "the marker written after the switch is gone");
    healthy_on(ctx, &t, "1.4.2");
    let j = host_journal(ctx, &t);
    let r = j
        .iter()
        .find(|e| e.action == "restore")
        .expect("restore line");
    assert_eq!(r.result, "ok", "{r:?}");
    assert!(
        r.detail.contains(&format!("from {DIR}/backups/{name} in ")),
        "{}",
        r.detail
    );
    println!(
        "figure: upgrade with a copy backup {:.1}s, rollback with restore {:.1}s; {}",
        took.as_secs_f64(),
        took_rb.as_secs_f64(),
        line.detail
    );
}

fn snapshot_falls_back_and_prunes(ctx: &Ctx) {
    let t = target(ctx, Backup::Snapshot, 1);
    let before = read(ctx, &t, &format!("ls {DIR}/backups"));
    let (plan, o) = upgrade(ctx, &t);
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let b = plan.backup.expect("backup planned");
    assert_eq!(b.method, "full copy (no copy-on-write on this filesystem)");
    let after = read(ctx, &t, &format!("ls {DIR}/backups"));
    assert!(
        !after.contains('\n') && after != before,
        "keep 1: {before} -> {after}"
    );
    let j = host_journal(ctx, &t);
    let line = j
        .iter()
        .rev()
        .find(|e| e.action == "backup")
        .expect("backup line");
    assert!(
        line.detail
            .contains(": plain copy (no copy-on-write here) in "),
        "{}",
        line.detail
    );
    // leave the node where the suite found it
    assert_eq!(rollback(ctx, &t).status, Status::Ok);
}

fn restart_is_in_history(ctx: &Ctx) {
    let inventory = &ctx.inventory;
    let t = target(ctx, Backup::None, 2);
    let bin = env!("CARGO_BIN_EXE_nodeherd");
    let run = |args: &[&str]| {
        let o = std::process::Command::new(bin)
            .arg("-i")
            .arg(inventory)
            .args(args)
            .env("NODEHERD_STATE_DIR", ctx.dir.join("cli-state"))
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run nodeherd");
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{args:?}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    };
    run(&["restart", "nhbak-1/demo", "--yes"]);
    let pid = read(
        ctx,
        &t,
        "systemctl show -p MainPID --value nodeherd-demo.service",
    );
    let j = host_journal(ctx, &t);
    let line = j
        .iter()
        .rev()
        .find(|e| e.action == "restart" && e.node == "nhbak-1/demo")
        .unwrap_or_else(|| panic!("no restart line on the host: {j:?}"));
    assert_eq!(line.result, "ok");
    assert!(
        line.detail
            .ends_with(&format!("is active/running, main PID {pid}")),
        "{}",
        line.detail
    );
    let hist: Vec<serde_json::Value> =
        serde_json::from_str(&run(&["history", "nhbak-1/demo", "--json"])).expect("history json");
    assert!(
        hist.iter()
            .any(|e| e["action"] == "restart" && e["result"] == "ok"),
        "{hist:?}"
    );
    // shown once although the console journaled it too (one run id)
    assert_eq!(
        hist.iter().filter(|e| e["action"] == "restart").count(),
        1,
        "{hist:?}"
    );
    let table = run(&["history", "nhbak-1/demo"]);
    assert!(
        table
            .lines()
            .any(|l| l.contains(" restart ") && l.contains(" ok ")),
        "{table}"
    );
}
